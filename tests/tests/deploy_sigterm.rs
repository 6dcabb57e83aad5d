//! What the deployments' grace periods rely on: a mesh service stopped with `SIGTERM` (as
//! `docker stop` and the kubelet stop it) exits cleanly within [`SHUTDOWN_GRACE`] and has
//! flushed its traces, logs and metrics by then, even though none was due for export yet.

use std::collections::BTreeSet;

use obs_tests::deploy::{MESH, Mesh, SHUTDOWN_GRACE, runtime_and_receiver};

#[test]
fn sigterm_flushes_every_signal_of_every_service_within_the_grace_period() {
    // The receiver runs on the runtime: keep both alive to the end of the test.
    let (_runtime, receiver) = runtime_and_receiver();
    // Nothing is exported on schedule during the test: only the shutdown flush sends.
    let mut mesh = Mesh::start_with_env(
        &receiver.grpc_endpoint(),
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "600000"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "600000"),
        ],
    );
    mesh.send_traffic(5);
    assert!(
        receiver.spans().is_empty(),
        "spans were exported before shutdown; the test would prove nothing"
    );

    // Callers first, as a rolling stop would go; each must be done within the grace period.
    for service in MESH.iter().rev() {
        let status = mesh.terminate(service.name, SHUTDOWN_GRACE);
        assert!(
            status.is_some_and(|s| s.success()),
            "{} did not exit cleanly within {SHUTDOWN_GRACE:?} of SIGTERM: {status:?}\n{}",
            service.name,
            mesh.logs()
        );
    }

    let services =
        |names: Vec<Option<String>>| -> BTreeSet<String> { names.into_iter().flatten().collect() };
    let expected: BTreeSet<String> = MESH.iter().map(|s| s.name.to_owned()).collect();
    let with_spans = services(
        receiver
            .spans()
            .iter()
            .map(|s| s.service_name().map(str::to_owned))
            .collect(),
    );
    let with_logs = services(
        receiver
            .logs()
            .iter()
            .map(|l| l.service_name().map(str::to_owned))
            .collect(),
    );
    let with_metrics = services(
        receiver
            .metrics()
            .iter()
            .map(|m| m.service_name().map(str::to_owned))
            .collect(),
    );
    assert_eq!(with_spans, expected, "services whose spans were flushed");
    assert_eq!(with_logs, expected, "services whose logs were flushed");
    assert_eq!(
        with_metrics, expected,
        "services whose metrics were flushed"
    );
}
