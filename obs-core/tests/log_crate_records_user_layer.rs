//! `log` crate records reach the application's own layer (`Builder::init_with`) at the
//! levels that layer wants, as `tracing` events do: `RUST_LOG` filters only obs's own log
//! layers, and must not cap what the `log` crate lets through for everyone.

use std::sync::{Arc, Mutex};

use obs_core::tracing_subscriber::Layer;
use obs_core::tracing_subscriber::filter::LevelFilter;
use obs_core::tracing_subscriber::layer::Context;
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_log::log;

/// The level and message target of each event the application's layer saw with one of
/// this test's targets.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl<S: Subscriber> Layer<S> for Seen {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // A `log` record's own target is in its fields.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        if meta.target().starts_with("legacy") || meta.target() == module_path!() {
            self.0
                .lock()
                .unwrap()
                .push((*meta.level(), meta.target().to_owned()));
        }
    }
}

#[test]
fn log_records_below_rust_log_reach_an_application_layer_that_wants_them() {
    let seen = Seen::default();
    let telemetry = obs_core::builder()
        .service_name("log-user-layer")
        .sdk_disabled(true)
        .json_logs(false)
        .process_metrics(false)
        .runtime_metrics(false)
        .log_filter("info")
        .init_with(seen.clone().with_filter(LevelFilter::DEBUG))
        .expect("init");

    // Below obs's `info` log filter, within the application's `debug`.
    tracing::debug!("tracing debug");
    log::debug!(target: "legacy::db", "log debug");
    // Below the application's filter too: nobody wants these.
    tracing::trace!("tracing trace");
    log::trace!(target: "legacy::db", "log trace");
    telemetry.shutdown_blocking().expect("shutdown");

    assert_eq!(
        *seen.0.lock().unwrap(),
        [
            (tracing::Level::DEBUG, module_path!().to_owned()),
            (tracing::Level::DEBUG, "legacy::db".to_owned()),
        ]
    );
}
