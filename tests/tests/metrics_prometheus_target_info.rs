//! The resource reaches a pull-only user: after `init`, a real Prometheus scraping the
//! global registry stores one `target_info{service_name=..., service_instance_id=...} 1`
//! per target, whether it reads OpenMetrics (the info family `target`, what `init`'s
//! listener answers Prometheus' `Accept` with) or the 0.0.4 text format (the gauge
//! `target_info`). The OTLP push of the same registry, through a real collector, carries
//! the resource on every export and no `target_info` metric.

use std::collections::BTreeMap;
use std::time::Duration;

use obs_core::testing::ReceiverConfig;
use obs_tests::prometheus::{Prometheus, serve_text_format};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_target_info_and_otlp_carries_none() {
    let (receiver, collector, builder) =
        obs_tests::pipeline::via_collector("target-info-test", ReceiverConfig::default()).await;
    let telemetry = builder
        .resource_attribute("deployment.environment.name", "staging \"eu\"")
        .metrics_addr("127.0.0.1:0".parse().unwrap())
        .metric_export_interval(Duration::from_millis(200))
        .init()
        .expect("init");
    let instance_id = telemetry
        .resource()
        .get("service.instance.id")
        .expect("a service.instance.id")
        .to_owned();
    obs_core::metrics::global()
        .counter("resource_probe", "Pushed beside the resource.")
        .unwrap()
        .inc();

    // OpenMetrics: `init`'s own listener, as Prometheus' `Accept` asks of it.
    let openmetrics_addr = telemetry.metrics_addr().expect("the /metrics listener");
    // The 0.0.4 text format, whatever the `Accept`.
    let (text_addr, text_server) = serve_text_format(obs_core::metrics::global().clone()).await;

    let scraped_instance_id = instance_id.clone();
    // The spec's translation of these keys: `.` becomes `_`.
    let mut expected_names: Vec<String> = telemetry
        .resource()
        .iter()
        .map(|(key, _)| key.replace('.', "_"))
        .chain(["__name__", "job", "instance"].map(str::to_owned))
        .collect();
    expected_names.sort_unstable();
    tokio::task::spawn_blocking(move || {
        let prometheus =
            Prometheus::start_jobs(&[("openmetrics", openmetrics_addr), ("text", text_addr)]);
        let wait = Duration::from_secs(30);
        for job in ["openmetrics", "text"] {
            let query = format!(r#"target_info{{job="{job}",service_name="target-info-test"}}"#);
            let series = prometheus
                .wait_for(wait, |p| p.query(&query).filter(|s| !s.is_empty()))
                .unwrap_or_else(|| {
                    panic!(
                        "no target_info for {job}: {:?}\n{}",
                        prometheus.targets(),
                        prometheus.log()
                    )
                });
            let [series] = series.as_slice() else {
                panic!("one target_info for {job}: {series:?}");
            };
            assert_eq!(series["value"][1], "1", "{series}");
            let labels: BTreeMap<&str, &str> = series["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
                .collect();
            assert_eq!(labels["__name__"], "target_info");
            assert_eq!(labels["job"], job);
            assert_eq!(labels["service_instance_id"], scraped_instance_id);
            assert_eq!(labels["deployment_environment_name"], "staging \"eu\"");
            assert_eq!(labels["telemetry_sdk_language"], "rust");
            // The resource's attributes, and Prometheus' own `job` and `instance`: nothing
            // else.
            let names: Vec<&str> = labels.keys().copied().collect();
            assert_eq!(names, expected_names, "{labels:?}");
            assert_eq!(
                prometheus.query_value(&format!(
                    r#"count({{job="{job}",__name__=~"target(_info)?"}})"#
                )),
                Some(1.0),
                "one target_info and no other family of its names"
            );
        }
        prometheus.assert_scraped_cleanly();
    })
    .await
    .unwrap();

    // What the push sent, the last of it included.
    telemetry.shutdown().await.expect("shutdown");
    let metrics = receiver
        .store()
        .wait_for_metrics(
            |m| m.iter().any(|p| p.name == "resource_probe"),
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let names: std::collections::BTreeSet<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert!(names.iter().all(|n| !n.starts_with("target")), "{names:?}");
    let probe = metrics.iter().find(|m| m.name == "resource_probe").unwrap();
    assert_eq!(probe.service_name(), Some("target-info-test"));
    assert_eq!(
        obs_core::testing::attribute_str(&probe.resource.attributes, "service.instance.id"),
        Some(instance_id.as_str()),
        "the resource travels with the export"
    );
    text_server.abort();
}
