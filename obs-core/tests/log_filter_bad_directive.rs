//! A bad `RUST_LOG` directive costs only itself: `init` keeps the others, for `tracing`
//! events and for `log` records alike, whose maximum level (`log::max_level`, above which
//! `log`'s macros skip a record for free) follows the directives kept. `init` is once per
//! process and writes to stdout, so the case runs in a child process whose stdout the test
//! reads.

#[path = "support/child.rs"]
pub mod child;

use tracing_log::log;

const TEST: &str = "a_bad_directive_leaves_the_others_in_force";

#[test]
fn a_bad_directive_leaves_the_others_in_force() {
    if child::scenario().is_some() {
        let telemetry = obs_core::builder()
            .service_name("lossy-filter")
            .sdk_disabled(true)
            .init()
            .expect("init");
        // `my_crate=debug` is in force for the `log` bridge too.
        assert!(
            log::max_level() >= log::LevelFilter::Debug,
            "{}",
            log::max_level()
        );
        tracing::debug!(target: "my_crate", "tracing debug kept");
        log::debug!(target: "my_crate::db", "log debug kept");
        tracing::debug!(target: "other", "tracing debug dropped");
        log::debug!(target: "other", "log debug dropped");
        tracing::info!(target: "other", "info kept");
        telemetry.shutdown_blocking().expect("shutdown");
        return;
    }
    let stdout = child::in_child(
        TEST,
        "lossy-filter",
        &[
            ("RUST_LOG", "info,my_crate=debug,bad=[[[".to_owned()),
            ("OBS_LOG_FORMAT", "json".to_owned()),
        ],
    );
    let mut messages: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.find("{\"").map(|at| &l[at..]))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|line| line["message"].as_str().map(str::to_owned))
        .collect();
    messages.sort();
    assert_eq!(
        messages,
        ["info kept", "log debug kept", "tracing debug kept"],
        "{stdout}"
    );
}
