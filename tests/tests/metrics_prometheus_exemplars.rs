//! A real Prometheus scrapes an `obs-metrics` endpoint (OpenMetrics, negotiated by its
//! `Accept` header): the target is up with no scrape errors, the values match, and
//! `/api/v1/query_exemplars` returns the trace id of the span that made the observation.

use std::time::Duration;

use obs_metrics::{EncodeLabelSet, Family, Histogram, Registry};
use obs_tests::prometheus::Prometheus;
use obs_trace::{Sampler, SpanExt, SpanLayer};
use tracing_subscriber::prelude::*;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    http_request_method: &'static str,
    http_route: &'static str,
    http_response_status_code: u16,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_values_and_exemplars_with_the_span_trace_id() {
    let registry = Registry::new();
    let duration: Family<HttpLabels, Histogram> = registry
        .family(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
        )
        .unwrap();
    let jobs = registry
        .counter("jobs_processed", "Jobs processed.")
        .unwrap();
    registry.register_process_metrics();

    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sampler(Sampler::AlwaysOn));
    let trace_id = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("GET /users/{id}", "otel.kind" = "server");
        let _entered = span.enter();
        duration
            .get(&HttpLabels {
                http_request_method: "GET",
                http_route: "/users/{id}",
                http_response_status_code: 200,
            })
            .observe(0.042);
        jobs.inc_by(3);
        span.span_context().unwrap().trace_id.to_string()
    });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let server = tokio::spawn(obs_metrics::serve(listener, registry));

    tokio::task::spawn_blocking(move || {
        let prometheus = Prometheus::start(target);
        let wait = Duration::from_secs(30);

        let up = prometheus.wait_for(wait, |p| p.query_value("up").filter(|v| *v == 1.0));
        assert_eq!(up, Some(1.0), "target not up:\n{}", prometheus.log());
        assert_eq!(prometheus.targets().unwrap().len(), 1);

        let count = prometheus.wait_for(wait, |p| {
            p.query_value(
                r#"http_server_request_duration_seconds_count{http_route="/users/{id}",http_request_method="GET",http_response_status_code="200"}"#,
            )
        });
        assert_eq!(count, Some(1.0));
        let bucket = prometheus
            .query_value(r#"http_server_request_duration_seconds_bucket{le="0.05"}"#);
        assert_eq!(bucket, Some(1.0));
        assert_eq!(prometheus.query_value("jobs_processed_total"), Some(3.0));
        assert!(prometheus.query_value("process_resident_memory_bytes").unwrap() > 0.0);

        let exemplar_trace_ids = |p: &Prometheus, query: &str| {
            let series = p.query_exemplars(query)?;
            let ids: Vec<String> = series
                .iter()
                .flat_map(|s| s["exemplars"].as_array().cloned().unwrap_or_default())
                .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_owned))
                .collect();
            (!ids.is_empty()).then_some(ids)
        };
        let histogram_ids = prometheus
            .wait_for(wait, |p| {
                exemplar_trace_ids(p, "http_server_request_duration_seconds_bucket")
            })
            .unwrap_or_else(|| panic!("no histogram exemplar:\n{}", prometheus.log()));
        assert!(histogram_ids.iter().all(|id| *id == trace_id), "{histogram_ids:?}");
        let counter_ids = prometheus
            .wait_for(wait, |p| exemplar_trace_ids(p, "jobs_processed_total"))
            .expect("no counter exemplar");
        assert_eq!(counter_ids[0], trace_id);
        prometheus.assert_scraped_cleanly();
    })
    .await
    .unwrap();
    server.abort();
}
