//! A real Prometheus scrapes a registry a careless user filled, in both text formats: typed
//! label names that repeat once flattened or renamed, label sets that are one series to
//! Prometheus, and a collector whose families no exposition can show. Each of these used to
//! make Prometheus mark the target down (the whole scrape lost) or keep one of two samples;
//! now both targets are up without errors and the values are whole.

use std::time::Duration;

use obs_metrics::Registry;
use obs_tests::prometheus::{Prometheus, serve_text_format};

// The misused registry of obs-metrics' exposition tests.
#[path = "../../obs-metrics/tests/support/misuse.rs"]
mod misuse;

fn misused_registry() -> Registry {
    let registry = Registry::new();
    misuse::add_misuse(&registry);
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
    let (text_addr, text_server) = serve_text_format(registry).await;

    tokio::task::spawn_blocking(move || {
        let prometheus =
            Prometheus::start_jobs(&[("openmetrics", openmetrics_addr), ("text", text_addr)]);
        let wait = Duration::from_secs(30);
        let scraped = prometheus.wait_for(wait, |p| {
            let targets = p.targets()?;
            let done = targets.len() == 2 && targets.iter().all(|t| t["health"] != "unknown");
            done.then_some(targets)
        });
        scraped.unwrap_or_else(|| panic!("no scrape:\n{}", prometheus.log()));
        prometheus.assert_scraped_cleanly();
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
