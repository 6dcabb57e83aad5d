//! `obs_core::shutdown_signal` completes on `SIGTERM` and `SIGINT` instead of letting their
//! default action end the process before telemetry is flushed. Each signal is sent to a child
//! process of this test binary, which must then go on and exit normally.

#[path = "support/child.rs"]
pub mod child;

use std::time::Duration;

use child::{in_child, scenario};

#[test]
fn sigterm_and_sigint_complete_the_shutdown_signal_instead_of_ending_the_process() {
    if let Some(signal) = scenario() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let stop = obs_core::shutdown_signal();
            let sent = std::process::Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(std::process::id().to_string())
                .status()
                .expect("kill");
            assert!(sent.success());
            tokio::time::timeout(Duration::from_secs(10), stop)
                .await
                .expect("the signal completes the future");
        });
        println!("stopped by SIG{signal}, flushing");
        return;
    }
    for signal in ["TERM", "INT"] {
        let out = in_child(
            "sigterm_and_sigint_complete_the_shutdown_signal_instead_of_ending_the_process",
            signal,
            &[],
        );
        assert!(
            out.contains(&format!("stopped by SIG{signal}, flushing")),
            "{out}"
        );
    }
}
