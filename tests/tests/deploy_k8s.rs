//! `deploy/k8s`: renders the kustomization with `kubectl kustomize` (no cluster needed) and
//! checks the rendered objects against each other and the service contract: container
//! ports, probes, Service selectors and target ports, ServiceMonitor selectors and port
//! names, the collector endpoint the services export to, and the dashboard ConfigMap; then
//! runs the rendered probes against the real services. The README's Helm installs pin
//! their chart versions.

use std::collections::BTreeMap;
use std::time::Duration;

use obs_tests::deploy::{
    ADDR_ENV, MESH, METRICS_ADDR_ENV, METRICS_PORT, Mesh, MeshService, Protocol, SHUTDOWN_GRACE,
    collector_routes, deploy_path, host_port, http_request, run, runtime_and_receiver, tool,
};
use serde_json::Value;

/// The objects `kubectl kustomize deploy/k8s` renders.
fn rendered() -> Vec<Value> {
    let output = run(
        tool("kubectl").arg("kustomize").arg(deploy_path("k8s")),
        Duration::from_secs(60),
    );
    let text = String::from_utf8_lossy(&output.stdout);
    // kustomize separates documents with a bare `---` line.
    text.split("\n---\n")
        .map(|document| {
            serde_norway::from_str::<Value>(document)
                .unwrap_or_else(|e| panic!("rendered YAML: {e}\n{document}"))
        })
        .filter(|object| !object.is_null())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

/// Whether every `key: value` of `selector` is among `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| &labels[k] == v))
}

/// The port number a probe or Service `targetPort` names (a number or a container port name).
fn resolve_port(port: &Value, container: &Value) -> u64 {
    match port {
        Value::Number(n) => n.as_u64().unwrap_or_default(),
        Value::String(name) => container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name.as_str())
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("no container port named {name}")),
        other => panic!("not a port: {other}"),
    }
}

/// The container's environment as the kubelet builds it: `envFrom` ConfigMaps first, then
/// `env` (which wins).
fn container_env(container: &Value, objects: &[Value]) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for source in container["envFrom"].as_array().into_iter().flatten() {
        let name = source["configMapRef"]["name"]
            .as_str()
            .expect("only configMapRef envFrom is used");
        let data = find(objects, "ConfigMap", name)["data"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (key, value) in data {
            env.insert(key, value.as_str().unwrap_or_default().to_owned());
        }
    }
    for variable in container["env"].as_array().into_iter().flatten() {
        if let Some(value) = variable["value"].as_str() {
            env.insert(
                variable["name"].as_str().unwrap_or_default().to_owned(),
                value.to_owned(),
            );
        }
    }
    env
}

fn check_service(service: &MeshService, objects: &[Value], collector_service: &str) {
    let name = service.name;
    let deployment = find(objects, "Deployment", name);
    let pod = &deployment["spec"]["template"];
    let pod_labels = &pod["metadata"]["labels"];
    assert!(
        selects(&deployment["spec"]["selector"]["matchLabels"], pod_labels),
        "Deployment {name}'s selector does not match its pods"
    );
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap_or_default();
    assert!(
        grace >= SHUTDOWN_GRACE.as_secs(),
        "{name}: terminationGracePeriodSeconds {grace} is shorter than the {SHUTDOWN_GRACE:?} \
         deploy_sigterm shows a flush may take"
    );
    let containers = pod["spec"]["containers"].as_array().expect("containers");
    let [container] = containers.as_slice() else {
        panic!("{name} should have one container")
    };
    assert_eq!(container["command"], serde_json::json!([name]));
    let (port_name, probe_kind) = match service.protocol {
        Protocol::Http => ("http", "httpGet"),
        // The services serve grpc.health.v1, which the kubelet's gRPC probe calls.
        Protocol::Grpc => ("grpc", "grpc"),
    };
    assert_eq!(
        resolve_port(&Value::from(port_name), container),
        u64::from(service.port),
        "{name} container port {port_name}"
    );
    assert_eq!(
        resolve_port(&Value::from("metrics"), container),
        u64::from(METRICS_PORT),
        "{name} container port metrics"
    );

    let env = container_env(container, objects);
    let var = |key: &str| -> &str {
        env.get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{name}: {key} is not set"))
    };
    assert_eq!(var("OTEL_SERVICE_NAME"), name);
    assert_eq!(
        host_port(var(ADDR_ENV)).1,
        service.port,
        "{name} {ADDR_ENV}"
    );
    assert_eq!(host_port(var(METRICS_ADDR_ENV)).1, METRICS_PORT);
    assert_eq!(
        host_port(var("OTEL_EXPORTER_OTLP_ENDPOINT")),
        (
            collector_service.to_owned(),
            obs_tests::deploy::OTLP_GRPC_PORT
        ),
        "{name} must export to the operator's collector Service"
    );
    assert_eq!(var("OTEL_EXPORTER_OTLP_PROTOCOL"), "grpc");
    for (variable, callee) in service.peers {
        let (host, port) = host_port(var(variable));
        let callee_service = find(objects, "Service", &host);
        assert_eq!(host, *callee, "{name} {variable}");
        assert!(
            callee_service["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["port"] == port),
            "{name} {variable}: Service {host} has no port {port}"
        );
    }

    for probe in ["readinessProbe", "livenessProbe"] {
        let handler = &container[probe][probe_kind];
        assert!(handler.is_object(), "{name} {probe} must be {probe_kind}");
        assert_eq!(
            resolve_port(&handler["port"], container),
            u64::from(service.port),
            "{name} {probe} port"
        );
        if service.protocol == Protocol::Http {
            assert_eq!(handler["path"], "/healthz", "{name} {probe} path");
        }
    }

    let k8s_service = find(objects, "Service", name);
    let selector = &k8s_service["spec"]["selector"];
    assert!(
        selects(selector, pod_labels),
        "Service {name} does not select its pods"
    );
    for other in MESH.iter().filter(|s| s.name != name) {
        let other_pods =
            &find(objects, "Deployment", other.name)["spec"]["template"]["metadata"]["labels"];
        assert!(
            !selects(selector, other_pods),
            "Service {name} also selects {}'s pods",
            other.name
        );
    }
    let ports = k8s_service["spec"]["ports"].as_array().expect("ports");
    for (wanted_name, port) in [(port_name, service.port), ("metrics", METRICS_PORT)] {
        let found = ports
            .iter()
            .find(|p| p["name"] == wanted_name)
            .unwrap_or_else(|| panic!("Service {name} has no port {wanted_name}"));
        assert_eq!(found["port"], port, "Service {name} port {wanted_name}");
        assert_eq!(
            resolve_port(&found["targetPort"], container),
            u64::from(port),
            "Service {name} port {wanted_name} targets another container port"
        );
    }
}

#[test]
fn kustomization_renders_and_agrees_with_what_the_services_listen_on() {
    let objects = rendered();
    for object in objects.iter().filter(|o| o["kind"] != "Namespace") {
        assert_eq!(
            object["metadata"]["namespace"], "obs-mesh",
            "{} {} is outside the obs-mesh namespace",
            object["kind"], object["metadata"]["name"]
        );
    }

    // The OpenTelemetry Operator names the collector's Service `<name>-collector`.
    let collectors: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "OpenTelemetryCollector")
        .collect();
    let [collector] = collectors.as_slice() else {
        panic!(
            "one OpenTelemetryCollector expected, found {}",
            collectors.len()
        )
    };
    let collector_service = format!(
        "{}-collector",
        collector["metadata"]["name"]
            .as_str()
            .expect("collector name")
    );
    let routes = collector_routes(&collector["spec"]["config"]);
    assert_eq!(
        host_port(&routes.otlp_grpc_listen).1,
        obs_tests::deploy::OTLP_GRPC_PORT
    );

    for service in &MESH {
        check_service(service, &objects, &collector_service);
    }

    // The services' monitor selects exactly the five Services, on their metrics port, and
    // names the job after the service as compose does (the dashboard's `job`).
    let monitor = find(&objects, "ServiceMonitor", "obs-mesh");
    let selector = &monitor["spec"]["selector"]["matchLabels"];
    let job_label = monitor["spec"]["jobLabel"].as_str().expect("jobLabel");
    let endpoints = monitor["spec"]["endpoints"].as_array().expect("endpoints");
    for object in objects.iter().filter(|o| o["kind"] == "Service") {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let labels = &object["metadata"]["labels"];
        let is_mesh = MESH.iter().any(|s| s.name == name);
        assert_eq!(
            selects(selector, labels),
            is_mesh,
            "ServiceMonitor obs-mesh and Service {name}"
        );
        if is_mesh {
            assert_eq!(
                labels[job_label], name,
                "Service {name}'s {job_label} label"
            );
            for endpoint in endpoints {
                assert!(
                    object["spec"]["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["name"] == endpoint["port"]),
                    "Service {name} has no port {} to scrape",
                    endpoint["port"]
                );
            }
        }
    }

    // The collector's monitor selects the operator's base Service, on the port the operator
    // names after the prometheus exporter.
    let collector_monitor = find(&objects, "ServiceMonitor", "obs-collector");
    let collector_selector = &collector_monitor["spec"]["selector"]["matchLabels"];
    assert_eq!(
        collector_selector["app.kubernetes.io/name"],
        collector_service.as_str()
    );
    assert_eq!(
        collector_selector["operator.opentelemetry.io/collector-service-type"],
        "base"
    );
    assert_eq!(
        collector_monitor["spec"]["endpoints"][0]["port"],
        "prometheus"
    );
    assert_eq!(
        collector_monitor["spec"]["endpoints"][0]["honorLabels"],
        true
    );

    // The dashboard ConfigMap is the shared file, labelled for the Grafana sidecar.
    let dashboards: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap" && o["metadata"]["labels"]["grafana_dashboard"] == "1")
        .collect();
    let [dashboard] = dashboards.as_slice() else {
        panic!(
            "one ConfigMap labelled grafana_dashboard: \"1\" expected, found {}",
            dashboards.len()
        )
    };
    let shared = std::fs::read_to_string(deploy_path("grafana/dashboards/obs-mesh.json"))
        .expect("shared dashboard");
    assert_eq!(
        dashboard["data"]["obs-mesh.json"].as_str(),
        Some(shared.as_str()),
        "the dashboard ConfigMap must carry deploy/grafana/dashboards/obs-mesh.json unchanged"
    );
}

#[test]
fn kube_prometheus_stack_values_fit_the_manifests() {
    let path = deploy_path("k8s/helm/kube-prometheus-stack.yaml");
    let text = std::fs::read_to_string(&path).expect("values file");
    // Grafana expands ${VAR} from its environment in provisioned data sources.
    assert!(
        !text.replace("$${", "").contains("${"),
        "{} has a ${{...}} Grafana would replace",
        path.display()
    );
    let values: Value = serde_norway::from_str(&text).expect("values are YAML");
    let features = values["prometheus"]["prometheusSpec"]["enableFeatures"].to_string();
    assert!(
        features.contains("exemplar-storage"),
        "exemplar storage is off"
    );
    assert_eq!(
        values["prometheus"]["prometheusSpec"]["serviceMonitorSelectorNilUsesHelmValues"], false,
        "the mesh's ServiceMonitors carry no Helm release label"
    );

    let objects = rendered();
    let sidecar = &values["grafana"]["sidecar"]["dashboards"];
    let label = sidecar["label"].as_str().expect("sidecar label");
    assert!(
        objects
            .iter()
            .any(|o| o["kind"] == "ConfigMap"
                && o["metadata"]["labels"][label] == sidecar["labelValue"]),
        "no ConfigMap carries the sidecar's {label} label"
    );
    assert_eq!(
        sidecar["searchNamespace"], "ALL",
        "the dashboard lives in obs-mesh"
    );

    let sources = values["grafana"]["additionalDataSources"]
        .as_array()
        .expect("additionalDataSources");
    let uid = |kind: &str| -> Value {
        sources
            .iter()
            .find(|s| s["type"] == kind)
            .map(|s| s["uid"].clone())
            .unwrap_or_else(|| panic!("no {kind} data source"))
    };
    let datasources = &values["grafana"]["sidecar"]["datasources"];
    assert_eq!(
        datasources["exemplarTraceIdDestinations"]["datasourceUid"],
        uid("jaeger")
    );
    assert_eq!(
        datasources["exemplarTraceIdDestinations"]["traceIdLabelName"],
        "trace_id"
    );
    let loki = sources.iter().find(|s| s["type"] == "loki").expect("loki");
    let jaeger = sources
        .iter()
        .find(|s| s["type"] == "jaeger")
        .expect("jaeger");
    assert_eq!(
        loki["jsonData"]["derivedFields"][0]["datasourceUid"],
        uid("jaeger")
    );
    assert_eq!(
        jaeger["jsonData"]["tracesToLogsV2"]["datasourceUid"],
        uid("loki")
    );

    // Grafana reads Loki where the collector writes to it.
    let collector = objects
        .iter()
        .find(|o| o["kind"] == "OpenTelemetryCollector")
        .expect("collector");
    let logs_to = collector_routes(&collector["spec"]["config"]).logs_to;
    assert_eq!(
        logs_to.strip_suffix("/otlp"),
        loki["url"].as_str(),
        "Grafana's Loki is not the collector's"
    );
}

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    status: i32,
}

/// `HealthCheckResponse.ServingStatus.SERVING`.
const SERVING: i32 = 1;

/// What the kubelet's gRPC probe does: `grpc.health.v1.Health/Check` for `service`.
async fn grpc_health_check(addr: std::net::SocketAddr, service: &str) -> Result<i32, String> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| e.to_string())?;
    let response: tonic::Response<HealthCheckResponse> = grpc
        .unary(
            tonic::Request::new(HealthCheckRequest {
                service: service.to_owned(),
            }),
            http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.into_inner().status)
}

#[test]
fn the_rendered_probes_succeed_against_the_real_services() {
    let objects = rendered();
    let (runtime, receiver) = runtime_and_receiver();
    let mesh = Mesh::start(&receiver.grpc_endpoint());
    for service in MESH {
        let container = &find(&objects, "Deployment", service.name)["spec"]["template"]["spec"]["containers"]
            [0];
        // The probes target the service's port (deploy_k8s checks that); here they run
        // against where the loopback instance of the service listens.
        let addr = mesh.addr(service.name);
        for probe in ["readinessProbe", "livenessProbe"] {
            let probe_spec = &container[probe];
            if let Some(path) = probe_spec["httpGet"]["path"].as_str() {
                let answer = http_request(addr, "GET", path, None);
                assert!(
                    answer
                        .as_ref()
                        .is_some_and(|(status, _)| (200..400).contains(status)),
                    "{} {probe} GET {path}: {answer:?}",
                    service.name
                );
            } else if probe_spec["grpc"].is_object() {
                let health_service = probe_spec["grpc"]["service"].as_str().unwrap_or_default();
                let status = runtime.block_on(grpc_health_check(addr, health_service));
                assert_eq!(
                    status,
                    Ok(SERVING),
                    "{} {probe}: grpc.health.v1 Check({health_service:?})",
                    service.name
                );
            } else {
                panic!("{} {probe} is neither httpGet nor grpc", service.name);
            }
        }
    }
}

/// The `helm install` commands of deploy/README.md, each joined from its `\`-continued lines.
fn readme_helm_installs() -> Vec<String> {
    let readme = std::fs::read_to_string(deploy_path("README.md")).expect("deploy/README.md");
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in readme.lines() {
        let line = line.trim();
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                if current.starts_with("helm install ") {
                    commands.push(current.clone());
                }
                current.clear();
            }
        }
    }
    commands
}

#[test]
fn the_readme_installs_pinned_chart_versions() {
    // An unpinned chart is whatever the repository serves that day: Jaeger's chart 4.x, say,
    // replaced the `jaeger-collector` and `jaeger-query` Services collector.yaml and the
    // Grafana values name with a single `jaeger` Service.
    let installs = readme_helm_installs();
    assert!(
        installs.len() >= 5,
        "cert-manager, the operator, kube-prometheus-stack, Loki and Jaeger: {installs:#?}"
    );
    for install in &installs {
        let args: Vec<&str> = install.split_whitespace().collect();
        let version = args
            .iter()
            .position(|a| *a == "--version")
            .and_then(|i| args.get(i + 1));
        assert!(
            version.is_some_and(|v| v.chars().any(|c| c.is_ascii_digit())),
            "`{install}` does not pin --version"
        );
    }

    // Kubernetes runs the Jaeger the compose stack runs.
    let compose: Value = serde_norway::from_str(
        &std::fs::read_to_string(deploy_path("compose/docker-compose.yml")).expect("compose"),
    )
    .expect("compose is YAML");
    let image = compose["services"]["jaeger"]["image"]
        .as_str()
        .expect("jaeger image");
    let (_, tag) = image
        .rsplit_once(':')
        .expect("the compose jaeger image is pinned");
    let jaeger = installs
        .iter()
        .find(|i| i.contains("jaegertracing/jaeger"))
        .expect("a Jaeger install");
    assert!(
        jaeger.contains(&format!("allInOne.image.tag={tag}")),
        "`{jaeger}` does not run Jaeger {tag} like the compose stack"
    );
}

#[test]
fn the_readme_loki_install_fits_a_laptop_cluster() {
    // Loki's chart 6 runs memcached caches by default; the chunk cache alone requests
    // 9.6 GiB of memory (allocatedMemory 8192 MiB × 1.2), so on a laptop's kind node its pod
    // stays Pending.
    let installs = readme_helm_installs();
    let loki = installs
        .iter()
        .find(|i| i.contains("grafana/loki"))
        .expect("a Loki install");
    for cache in ["chunksCache", "resultsCache"] {
        assert!(
            loki.contains(&format!("{cache}.enabled=false")),
            "`{loki}` leaves {cache} on"
        );
    }
}

#[test]
fn the_readme_helm_arguments_survive_zsh() {
    // zsh (macOS's shell) globs an unquoted `configs[0]` and, matching no file, refuses to
    // run the command ("no matches found"); bash passes it on. Quoted, both pass it as is.
    for install in readme_helm_installs() {
        for arg in install.split_whitespace() {
            assert!(
                !arg.contains(['[', '*', '?']) || arg.starts_with(['\'', '"']),
                "`{arg}` in `{install}` is a glob pattern to zsh: quote it"
            );
        }
    }
}
