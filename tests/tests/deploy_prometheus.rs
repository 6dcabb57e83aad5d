//! Debian's Prometheus run with the compose stack's scrape configuration, its targets
//! pointed at the real mesh on loopback: every service is `up`, exemplars with trace ids
//! are stored, and every query of the shared dashboard evaluates.

use std::collections::BTreeSet;
use std::time::Duration;

use obs_tests::deploy::{
    MESH, Mesh, Protocol, dashboard, dashboard_queries, deploy_path, runtime_and_receiver,
};
use obs_tests::prometheus::Prometheus;
use serde_json::{Value, json};

/// The compose Prometheus configuration with the same jobs, each service's target replaced
/// by where the loopback mesh serves its `/metrics`, and a 1 s scrape interval. The
/// `otel-collector` job is left out: no collector with a prometheus exporter runs here.
fn loopback_config(mesh: &Mesh) -> String {
    let path = deploy_path("compose/prometheus.yml");
    let text = std::fs::read_to_string(&path).expect("compose prometheus.yml");
    let mut config: Value = serde_norway::from_str(&text).expect("prometheus.yml is YAML");
    config["global"]["scrape_interval"] = json!("1s");
    config["global"]["scrape_timeout"] = json!("1s");
    let jobs = config["scrape_configs"]
        .as_array_mut()
        .expect("scrape_configs");
    jobs.retain(|job| job["job_name"] != "otel-collector");
    for job in jobs.iter_mut() {
        let name = job["job_name"].as_str().unwrap_or_default().to_owned();
        assert!(
            MESH.iter().any(|s| s.name == name),
            "job {name} is neither a mesh service nor the collector"
        );
        job["static_configs"] = json!([{ "targets": [mesh.metrics_addr(&name).to_string()] }]);
    }
    serde_norway::to_string(&config).expect("config back to YAML")
}

fn is_trace_id(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn prometheus_with_the_compose_scrape_config_finds_every_service_up_with_exemplars() {
    // The receiver runs on the runtime: keep both alive to the end of the test.
    let (_runtime, receiver) = runtime_and_receiver();
    let mesh = Mesh::start(&receiver.grpc_endpoint());
    let prometheus = Prometheus::start_with_config(&loopback_config(&mesh));
    mesh.send_traffic(5);

    let services: BTreeSet<&str> = MESH.iter().map(|s| s.name).collect();
    let all_up = prometheus.wait_for(Duration::from_secs(30), |p| {
        let up: BTreeSet<String> = p
            .query("up == 1")?
            .iter()
            .filter_map(|series| series["metric"]["job"].as_str().map(str::to_owned))
            .collect();
        (up.iter().map(String::as_str).collect::<BTreeSet<_>>() == services).then_some(())
    });
    assert!(
        all_up.is_some(),
        "not every service is up: {:#?}\n{}",
        prometheus.targets(),
        prometheus.log()
    );

    // Traffic after the first scrapes, so counters increase between samples.
    mesh.send_traffic(5);
    for service in MESH {
        let metric = match service.protocol {
            Protocol::Http => "http_server_request_duration_seconds_bucket",
            Protocol::Grpc => "rpc_server_call_duration_seconds_bucket",
        };
        let selector = format!("{metric}{{job=\"{}\"}}", service.name);
        let exemplar = prometheus.wait_for(Duration::from_secs(30), |p| {
            p.query_exemplars(&selector)?
                .iter()
                .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
                .find(|e| is_trace_id(&e["labels"]["trace_id"]))
        });
        assert!(
            exemplar.is_some(),
            "no exemplar with a trace_id stored for {selector}\n{}",
            prometheus.log()
        );
    }

    // Every dashboard query evaluates, and has data unless it selects error statuses only
    // (there may have been none).
    for query in dashboard_queries(&dashboard()) {
        let promql = query
            .expr
            .replace("$__rate_interval", "30s")
            .replace("$service", ".+");
        let may_be_empty = promql.contains("status_code=~");
        let answered = prometheus.wait_for(Duration::from_secs(30), |p| {
            p.query(&promql)
                .filter(|result| may_be_empty || !result.is_empty())
        });
        assert!(
            answered.is_some(),
            "dashboard query of {:?} failed or stayed empty: {promql}",
            query.source
        );
    }
}
