//! `init` puts its log layers under the RUST_LOG filter: an event whose explicit `parent:`
//! is a span that filter disables (`RUST_LOG=error`, an `info_span!`) still belongs to that
//! span's trace, on the wire as in the process, as an event inside it does.

use obs_core::trace::SpanExt;
use obs_core::{ExporterKind, Signal};

mod common;

#[test]
fn an_explicit_parent_ruled_out_by_rust_log_still_stamps_the_record() {
    let (runtime, receiver) = common::receiver();
    let telemetry = common::exporting_to(&receiver, "explicit-parent")
        .exporter(Signal::Metrics, ExporterKind::None)
        .log_filter("error")
        .init()
        .expect("init");

    let request = tracing::info_span!("request");
    let context = request.span_context().expect("traced");
    tracing::error!(parent: &request, "failed, outside its span");
    drop(request);
    telemetry.shutdown_blocking().expect("shutdown");

    let logs = common::logs_arrived(&runtime, &receiver, "the log record arrived");
    assert_eq!(logs.len(), 1, "{logs:#?}");
    assert_eq!(logs[0].trace_id_hex(), context.trace_id.to_string());
    assert_eq!(logs[0].span_id_hex(), context.span_id.to_string());
    assert_eq!(logs[0].record.flags, u32::from(context.flags.to_u8()));
}
