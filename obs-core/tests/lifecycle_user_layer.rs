//! `Builder::init_with`: the application's own `tracing` layer joins the subscriber `init`
//! installs. It sees obs's spans and ids and the events `RUST_LOG` keeps from obs's own
//! log layers, while obs exports as before (its OTLP log records redacted as
//! `Builder::redaction` says).

use std::sync::{Arc, Mutex};

use obs_core::testing::proto::tonic::common::v1::any_value::Value::StringValue;
use obs_core::testing::{OtlpReceiver, ReceiverConfig};
use obs_core::trace::SpanExt;
use obs_core::tracing_subscriber::Layer;
use obs_core::tracing_subscriber::filter::LevelFilter;
use obs_core::tracing_subscriber::layer::Context;
use tracing::{Event, Subscriber};

/// What the application's layer saw of this test's events: each one's level, and the trace
/// id obs had current then.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<SeenEvent>>>);

/// An event's level, and the trace id obs had current then.
type SeenEvent = (tracing::Level, Option<String>);

impl<S: Subscriber> Layer<S> for Seen {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // This test's own events (the layer sees the libraries' too: hyper's, say).
        if event.metadata().target() != module_path!() {
            return;
        }
        let trace_id = obs_core::trace::current_span_context().map(|c| c.trace_id.to_string());
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), trace_id));
    }
}

#[test]
fn an_application_layer_sees_obs_spans_and_events_obs_logs_filter_out() {
    // Its own worker serves the receiver while this thread blocks in `shutdown_blocking`.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let receiver = runtime
        .block_on(OtlpReceiver::start(ReceiverConfig::default()))
        .expect("receiver");
    let seen = Seen::default();
    let telemetry = obs_core::builder()
        .service_name("user-layer")
        .otlp_endpoint(receiver.http_endpoint())
        .json_logs(false)
        .process_metrics(false)
        .runtime_metrics(false)
        .log_filter("info")
        // The OTLP records take the builder's redaction list.
        .redaction(obs_core::log::Redaction::new(["card"]))
        .init_with(seen.clone().with_filter(LevelFilter::DEBUG))
        .expect("init");

    let span = tracing::info_span!("checkout");
    let trace_id = span.span_context().expect("traced").trace_id.to_string();
    span.in_scope(|| {
        // Below obs's `info` log filter: only the application's layer wants it.
        tracing::debug!("cart loaded");
        tracing::info!(card = "4111 1111", "paid");
    });
    drop(span);
    // Below the application's own filter: nobody wants it.
    tracing::trace!("ignored");
    telemetry.shutdown_blocking().expect("shutdown");

    assert_eq!(
        *seen.0.lock().unwrap(),
        [
            (tracing::Level::DEBUG, Some(trace_id.clone())),
            (tracing::Level::INFO, Some(trace_id.clone())),
        ]
    );
    let store = receiver.store();
    let spans = store.spans();
    assert!(
        spans
            .iter()
            .any(|s| s.name() == "checkout" && s.trace_id_hex() == trace_id),
        "{spans:?}"
    );
    let records = store.logs();
    let bodies: Vec<_> = records.iter().map(|l| l.body_str()).collect();
    assert_eq!(bodies, [Some("paid")], "obs's logs keep RUST_LOG's filter");
    assert_eq!(
        records[0].attribute("card").and_then(|v| v.value.clone()),
        Some(StringValue("[REDACTED]".to_owned())),
        "the builder's redaction list"
    );
    runtime.block_on(receiver.shutdown());
}
