//! A real Prometheus scrapes a registry a careless user filled, in both text formats: typed
//! label names that repeat once flattened or renamed, label sets that are one series to
//! Prometheus, and a collector whose families no exposition can show. Each of these used to make Prometheus
//! mark the target down (the whole scrape lost) or keep one of two samples; now both
//! targets are up without errors and the values are whole.

use std::time::Duration;

use axum::routing::get;
use http::header::CONTENT_TYPE;
use obs_metrics::text::{Format, PROMETHEUS_CONTENT_TYPE};
use obs_metrics::{
    Collector, Counter, EncodeLabelSet, Family, Histogram, MetricFamilySnapshot, MetricKind,
    PointSnapshot, PointValue, Registry,
};
use obs_tests::prometheus::Prometheus;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Method {
    method: &'static str,
}

/// `method` twice once flattened; `le` renamed onto the declared `label_le`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepeatedNames {
    #[prometheus(flatten)]
    request: Method,
    method: &'static str,
    le: &'static str,
    label_le: &'static str,
}

/// `None` and `Some("")` print the same labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OptionalRoute {
    http_route: Option<&'static str>,
}

/// Families with an invalid name and a repeated `le` label (both left out), and a valid one.
#[derive(Debug)]
struct CarelessCollector;

impl Collector for CarelessCollector {
    fn collect(&self, now: u64, out: &mut Vec<MetricFamilySnapshot>) {
        let family = |name: &str, kind, labels: &[(&str, &str)], value| MetricFamilySnapshot {
            name: name.to_owned(),
            help: "Collected.".to_owned(),
            unit: None,
            kind,
            asynchronous: true,
            points: vec![PointSnapshot {
                labels: labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                value,
                start_time_unix_nano: now,
                time_unix_nano: now,
                exemplars: Vec::new(),
            }],
        };
        let histogram = PointValue::Histogram(obs_metrics::HistogramValue {
            bounds: [1.0].into(),
            bucket_counts: vec![1, 0],
            sum: 0.5,
            count: 1,
            negative_count: 0,
        });
        out.extend([
            family("queue-depth", MetricKind::Gauge, &[], PointValue::I64(1)),
            family(
                "collected_wait_seconds",
                MetricKind::Histogram,
                &[("le", "x")],
                histogram,
            ),
            family("queue_depth", MetricKind::Gauge, &[], PointValue::I64(3)),
        ]);
    }
}

fn misused_registry() -> Registry {
    let registry = Registry::new();
    let repeated: Family<RepeatedNames, Histogram> = registry
        .family("misuse_wait_seconds", "Label names that repeat.")
        .unwrap();
    repeated
        .get(&RepeatedNames {
            request: Method { method: "GET" },
            method: "POST",
            le: "a",
            label_le: "b",
        })
        .observe(0.5);
    let routes: Family<OptionalRoute, Counter> = registry
        .family("misuse_requests", "Label sets that print alike.")
        .unwrap();
    routes.get(&OptionalRoute { http_route: None }).inc();
    routes
        .get(&OptionalRoute {
            http_route: Some(""),
        })
        .inc_by(3);
    // One series to Prometheus: pairs in another order, an extra label with an empty value.
    let jobs: Family<Vec<(&str, &str)>, Counter> = registry
        .family("misuse_jobs", "Label pairs that are one series.")
        .unwrap();
    jobs.get(&vec![("queue", "a"), ("outcome", "ok")]).inc();
    jobs.get(&vec![("outcome", "ok"), ("queue", "a")]).inc();
    jobs.get(&vec![("queue", "a"), ("shard", ""), ("outcome", "ok")])
        .inc();
    registry.register_collector(CarelessCollector);
    registry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_a_misused_registry_in_both_formats() {
    let registry = misused_registry();
    // OpenMetrics, as Prometheus's `Accept` asks of `serve`.
    let openmetrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let openmetrics_addr = openmetrics.local_addr().unwrap();
    let openmetrics_server = tokio::spawn(obs_metrics::serve(openmetrics, registry.clone()));
    // The 0.0.4 text format, whatever the `Accept`.
    let text = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let text_addr = text.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                (
                    [(CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
                    registry.encode(Format::Prometheus),
                )
            }
        }),
    );
    let text_server = tokio::spawn(async move { axum::serve(text, app).await });

    tokio::task::spawn_blocking(move || {
        let prometheus = Prometheus::start_with_config(&format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
             \x20 - job_name: openmetrics\n    static_configs:\n      - targets: ['{openmetrics_addr}']\n\
             \x20 - job_name: text\n    static_configs:\n      - targets: ['{text_addr}']\n"
        ));
        let wait = Duration::from_secs(30);
        let scraped = prometheus.wait_for(wait, |p| {
            let targets = p.targets()?;
            let done = targets.len() == 2 && targets.iter().all(|t| t["health"] != "unknown");
            done.then_some(targets)
        });
        let targets = scraped.unwrap_or_else(|| panic!("no scrape:\n{}", prometheus.log()));
        for target in &targets {
            assert_eq!(target["health"], "up", "{target}");
            assert_eq!(target["lastError"], "", "{target}");
        }
        for job in ["openmetrics", "text"] {
            let query = |q: &str| prometheus.query_value(&q.replace("JOB", job));
            let requests = prometheus.wait_for(wait, |_| {
                query(r#"misuse_requests_total{job="JOB"}"#)
            });
            assert_eq!(requests, Some(4.0));
            assert_eq!(
                query(
                    r#"misuse_wait_seconds_count{job="JOB",method="GET",label_method="POST",label_le="a",label_label_le="b"}"#
                ),
                Some(1.0)
            );
            assert_eq!(query(r#"queue_depth{job="JOB"}"#), Some(3.0));
            assert_eq!(
                query(r#"misuse_jobs_total{job="JOB",queue="a",outcome="ok"}"#),
                Some(3.0)
            );
            assert_eq!(query(r#"count({job="JOB",__name__=~"collected.*"})"#), None);
        }
    })
    .await
    .unwrap();
    openmetrics_server.abort();
    text_server.abort();
}
