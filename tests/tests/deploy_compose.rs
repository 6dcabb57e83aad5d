//! `deploy/compose`: the compose file as `docker-compose config` resolves it, the
//! Prometheus, collector and Grafana configurations, checked with the real tools where they
//! exist (`docker-compose`, `promtool`) and against each other and the service contract,
//! since no container engine runs here.

use std::time::Duration;

use obs_tests::deploy::{
    ADDR_ENV, MESH, METRICS_ADDR_ENV, METRICS_PORT, OTLP_GRPC_PORT, Protocol, SHUTDOWN_GRACE,
    collector_routes, deploy_path, host_port, mesh_service, order_body, run, tool,
};
use serde_json::Value;

fn yaml(text: &str, what: &str) -> Value {
    serde_norway::from_str(text).unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}"))
}

fn yaml_file(relative: &str) -> Value {
    let path = deploy_path(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    yaml(&text, relative)
}

/// The compose file as `docker-compose config` validates and resolves it (anchors merged,
/// paths absolute).
fn resolved_compose() -> Value {
    let output = run(
        tool("docker-compose")
            .arg("-f")
            .arg(deploy_path("compose/docker-compose.yml"))
            .arg("config"),
        Duration::from_secs(60),
    );
    yaml(
        &String::from_utf8_lossy(&output.stdout),
        "docker-compose config output",
    )
}

fn env<'a>(service: &'a Value, variable: &str) -> &'a str {
    service["environment"][variable]
        .as_str()
        .unwrap_or_else(|| panic!("{variable} is not set"))
}

#[test]
fn compose_file_is_valid_and_runs_each_service_as_the_contract_says() {
    let compose = resolved_compose();
    let services = &compose["services"];
    let collector = collector_routes(&yaml_file("compose/otel-collector.yaml"));
    let image = &services["gateway"]["image"];
    for service in MESH {
        let name = service.name;
        let spec = &services[name];
        assert!(spec.is_object(), "compose has no service {name}");
        assert_eq!(spec["command"], serde_json::json!([name]), "{name} command");
        assert_eq!(&spec["image"], image, "{name} runs another image");
        let context = spec["build"]["context"].as_str().expect("build context");
        let dockerfile = spec["build"]["dockerfile"].as_str().expect("dockerfile");
        assert!(
            std::path::Path::new(context).join(dockerfile).is_file(),
            "{name}: no {dockerfile} in the build context {context}"
        );
        assert!(
            std::path::Path::new(context).join("Cargo.toml").is_file(),
            "{name}: the build context {context} is not the workspace root"
        );
        assert_eq!(env(spec, "OTEL_SERVICE_NAME"), name);
        assert_eq!(
            host_port(env(spec, ADDR_ENV)).1,
            service.port,
            "{name} {ADDR_ENV}"
        );
        assert_eq!(host_port(env(spec, METRICS_ADDR_ENV)).1, METRICS_PORT);
        for (variable, callee) in service.peers {
            let (host, port) = host_port(env(spec, variable));
            assert_eq!(
                (host.as_str(), port),
                (*callee, mesh_service(callee).port),
                "{name} {variable}"
            );
        }
        let (collector_host, collector_port) = host_port(env(spec, "OTEL_EXPORTER_OTLP_ENDPOINT"));
        assert!(
            services[&collector_host].is_object(),
            "{name} exports to {collector_host}, not a compose service"
        );
        assert_eq!(
            (collector_port, env(spec, "OTEL_EXPORTER_OTLP_PROTOCOL")),
            (host_port(&collector.otlp_grpc_listen).1, "grpc"),
            "{name} must export OTLP/gRPC to the collector's gRPC receiver"
        );
        assert_eq!(collector_port, OTLP_GRPC_PORT);
        let grace = spec["stop_grace_period"]
            .as_str()
            .and_then(|g| g.strip_suffix('s'))
            .and_then(|g| g.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name}: stop_grace_period must be set in seconds"));
        assert!(
            grace >= SHUTDOWN_GRACE.as_secs(),
            "{name}: stop_grace_period {grace}s is shorter than the {SHUTDOWN_GRACE:?} \
             deploy_sigterm shows a flush may take"
        );
        let health = spec["healthcheck"]["test"].to_string();
        let probe = match service.protocol {
            Protocol::Http => format!(":{}/healthz", service.port),
            Protocol::Grpc => format!("/{}", service.port),
        };
        assert!(
            health.contains(&probe),
            "{name} health check {health} does not probe {probe}"
        );
    }
    // The load generator calls the gateway with the body the live tests prove it accepts.
    let loadgen = &services["loadgen"];
    let (host, port) = host_port(env(loadgen, "GATEWAY_URL"));
    assert_eq!(
        (host.as_str(), port),
        ("gateway", mesh_service("gateway").port)
    );
    let script = std::fs::read_to_string(deploy_path("compose/loadgen.sh")).expect("loadgen.sh");
    let body: Value = serde_json::from_str(&order_body(0)).expect("order body");
    for field in body.as_object().expect("order body object").keys() {
        assert!(
            script.contains(&format!("\\\"{field}\\\"")),
            "loadgen.sh does not send the order field {field:?}"
        );
    }
    assert!(script.contains("/orders") && script.contains("/reports/"));

    // The collector's backends are compose services.
    for backend in [&collector.traces_to, &collector.logs_to] {
        let host = host_port(backend).0;
        assert!(
            services[&host].is_object(),
            "the collector sends to {host}, not a compose service"
        );
    }
    let loki = yaml_file("compose/loki.yaml");
    assert_eq!(
        host_port(&collector.logs_to).1,
        loki["server"]["http_listen_port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_default(),
        "the collector's Loki port is not the one Loki listens on"
    );
    assert_eq!(
        services["loki"]["command"],
        serde_json::json!(["-config.file=/etc/loki/loki.yaml"])
    );
    let prometheus_flags = services["prometheus"]["command"].to_string();
    assert!(prometheus_flags.contains("--enable-feature=exemplar-storage"));
}

#[test]
fn prometheus_config_passes_promtool_and_scrapes_every_service_and_the_collector() {
    let path = deploy_path("compose/prometheus.yml");
    run(
        tool("promtool").arg("check").arg("config").arg(&path),
        Duration::from_secs(60),
    );
    let config = yaml_file("compose/prometheus.yml");
    let collector = collector_routes(&yaml_file("compose/otel-collector.yaml"));
    let jobs = config["scrape_configs"].as_array().expect("scrape_configs");
    let target_of = |job: &str| -> String {
        let found = jobs
            .iter()
            .find(|j| j["job_name"] == job)
            .unwrap_or_else(|| panic!("no scrape job {job}"));
        found["static_configs"][0]["targets"][0]
            .as_str()
            .unwrap_or_else(|| panic!("job {job} has no static target"))
            .to_owned()
    };
    for service in MESH {
        assert_eq!(
            target_of(service.name),
            format!("{}:{METRICS_PORT}", service.name),
            "job {} must scrape the service's {METRICS_ADDR_ENV}",
            service.name
        );
    }
    assert_eq!(
        target_of("otel-collector"),
        format!("otel-collector:{}", host_port(&collector.metrics_listen).1),
        "job otel-collector must scrape the collector's prometheus exporter"
    );
}

#[test]
fn grafana_provisioning_links_metrics_traces_and_logs() {
    let compose = resolved_compose();
    let services = &compose["services"];
    let path = deploy_path("compose/grafana/provisioning/datasources/datasources.yaml");
    let text = std::fs::read_to_string(&path).expect("datasources file");
    // Grafana expands $VAR and ${VAR} from its environment in provisioning files: Grafana's
    // own ${__...} variables must be written $${__...} to survive.
    let unescaped = text.replace("$${", "");
    assert!(
        !unescaped.contains("${"),
        "{} has a ${{...}} Grafana would replace from its environment",
        path.display()
    );
    let datasources = yaml(&text, "datasources.yaml")["datasources"]
        .as_array()
        .cloned()
        .expect("datasources");
    let by_type = |kind: &str| -> Value {
        datasources
            .iter()
            .find(|d| d["type"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} data source"))
    };
    let (prometheus, loki, jaeger) = (by_type("prometheus"), by_type("loki"), by_type("jaeger"));
    for (source, port) in [(&prometheus, 9090), (&loki, 3100), (&jaeger, 16686)] {
        let (host, url_port) = host_port(source["url"].as_str().expect("url"));
        assert!(
            services[&host].is_object(),
            "{host} is not a compose service"
        );
        assert_eq!(url_port, port, "{host}'s port");
    }
    assert_eq!(
        prometheus["jsonData"]["exemplarTraceIdDestinations"][0],
        serde_json::json!({"name": "trace_id", "datasourceUid": jaeger["uid"]}),
        "exemplars' trace_id must open Jaeger"
    );
    let derived = loki["jsonData"]["derivedFields"]
        .as_array()
        .expect("Loki derived fields");
    assert!(
        !derived.is_empty()
            && derived
                .iter()
                .all(|field| field["datasourceUid"] == jaeger["uid"]),
        "Loki's derived fields must link to Jaeger"
    );
    assert!(
        derived
            .iter()
            .any(|f| f["matcherType"] == "label" && f["matcherRegex"] == "trace_id"),
        "OTLP logs carry trace_id as structured metadata"
    );
    let to_logs = &jaeger["jsonData"]["tracesToLogsV2"];
    assert_eq!(to_logs["datasourceUid"], loki["uid"]);
    assert!(
        to_logs["query"]
            .as_str()
            .is_some_and(|q| q.contains("trace_id=\"$${__trace.traceId}\"")),
        "trace-to-logs must find the trace's records by trace_id"
    );

    // The dashboard provider reads the directory compose mounts deploy/grafana/dashboards on.
    let providers = yaml_file("compose/grafana/provisioning/dashboards/dashboards.yaml");
    let provider_path = providers["providers"][0]["options"]["path"]
        .as_str()
        .expect("provider path")
        .to_owned();
    let dashboards_dir = deploy_path("grafana/dashboards")
        .canonicalize()
        .expect("deploy/grafana/dashboards");
    let mounted = services["grafana"]["volumes"]
        .as_array()
        .expect("grafana volumes")
        .iter()
        .filter_map(Value::as_str)
        .any(|volume| {
            let mut parts = volume.split(':');
            let (source, target) = (parts.next(), parts.next());
            source.is_some_and(|s| std::path::Path::new(s) == dashboards_dir)
                && target == Some(provider_path.as_str())
        });
    assert!(
        mounted,
        "compose must mount {} on {provider_path}",
        dashboards_dir.display()
    );
}
