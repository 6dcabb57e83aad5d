//! The Grafana dashboard shared by compose and Kubernetes: well-formed, and every metric its
//! PromQL names is one the real mesh services expose on `/metrics` after some traffic.

use std::collections::{BTreeSet, HashSet};

use obs_tests::deploy::{
    MESH, Mesh, Protocol, dashboard, dashboard_queries, exposition_sample_names,
    promql_metric_names, runtime_and_receiver,
};

#[test]
fn dashboard_is_well_formed_and_every_panel_queries_the_chosen_prometheus() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "obs-mesh");
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(variables.contains(&"datasource") && variables.contains(&"service"));
    let mut ids = HashSet::new();
    let mut y_by_x = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel has no title");
        assert!(
            ids.insert(panel["id"].clone()),
            "panel id {} twice",
            panel["id"]
        );
        y_by_x.push((panel["gridPos"]["y"].clone(), panel["gridPos"]["x"].clone()));
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
        }
    }
    let positions: HashSet<_> = y_by_x.iter().collect();
    assert_eq!(
        positions.len(),
        y_by_x.len(),
        "two panels share a grid position"
    );
}

#[test]
fn dashboard_queries_name_only_metrics_the_running_services_expose() {
    let queries = dashboard_queries(&dashboard());
    // The receiver runs on the runtime: keep both alive to the end of the test.
    let (_runtime, receiver) = runtime_and_receiver();
    let mesh = Mesh::start(&receiver.grpc_endpoint());
    let statuses = mesh.send_traffic(10);
    // Rounds are (POST /orders, GET /reports/{i}): each route must work at least once.
    for (route, offset) in [("POST /orders", 0), ("GET /reports/{id}", 1)] {
        assert!(
            statuses
                .iter()
                .skip(offset)
                .step_by(2)
                .any(|s| (200..300).contains(s)),
            "{route} never succeeded: {statuses:?}\n{}",
            mesh.logs()
        );
    }

    let mut exposed = BTreeSet::new();
    for service in MESH {
        let names = exposition_sample_names(&mesh.scrape(service.name));
        // Every service shows up on the dashboard through its server metric.
        let server_metric = match service.protocol {
            Protocol::Http => "http_server_request_duration_seconds_count",
            Protocol::Grpc => "rpc_server_call_duration_seconds_count",
        };
        assert!(
            names.contains(server_metric),
            "{} exposes no {server_metric}: {names:?}",
            service.name
        );
        exposed.extend(names);
    }

    let mut missing = Vec::new();
    for query in &queries {
        let names = promql_metric_names(&query.expr);
        assert!(
            !names.is_empty(),
            "{}: {} names no metric",
            query.source,
            query.expr
        );
        missing.extend(
            names
                .into_iter()
                .filter(|name| !exposed.contains(name))
                .map(|name| format!("{}: {name}", query.source)),
        );
    }
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics no service exposes: {missing:#?}\nexposed: {exposed:#?}"
    );
}
