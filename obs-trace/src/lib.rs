//! The tracing pillar of `obs`: W3C Trace Context and Baggage, head samplers, and a lean
//! `tracing` layer that gives every span an OpenTelemetry identity.
//!
//! A library that only emits telemetry needs nothing but `tracing`; middleware and
//! applications use this crate to propagate context, and `obs-core` wires [`SpanLayer`] to
//! the OTLP pipeline. Fields named as the semantic conventions name attributes
//! (`db.system.name`, `server.port`) are exported under those names, with their types, and
//! the `otel.*` fields of `tracing-opentelemetry` steer the span (see [`SpanLayer`]).
//! The current context lives in this crate: a library that reads it (to [`inject`] it into
//! a message, say) depends on the release the application's `obs-core` uses, since a
//! semver-incompatible one is a second crate whose context no span layer sets.
//!
//! ```
//! use obs_trace::{InMemorySpanSink, SpanExt, SpanLayer};
//! use std::sync::Arc;
//! use tracing_subscriber::prelude::*;
//!
//! let sink = InMemorySpanSink::new();
//! let subscriber = tracing_subscriber::registry()
//!     .with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
//! tracing::subscriber::with_default(subscriber, || {
//!     let parent = tracing::info_span!("report", "otel.kind" = "server");
//!     let _g = parent.enter();
//!     let trace_id = parent.span_context().unwrap().trace_id;
//!     // Anything that runs inside sees the current context without a span handle.
//!     assert_eq!(obs_trace::current_span_context().unwrap().trace_id, trace_id);
//!     tracing::info_span!("render").in_scope(|| {});
//! });
//! let spans = sink.spans();
//! assert_eq!(spans.len(), 2);
//! assert_eq!(spans[0].name, "render");
//! assert_eq!(spans[0].parent_span_id, spans[1].span_context.span_id);
//! assert_eq!(spans[0].span_context.trace_id, spans[1].span_context.trace_id);
//! ```
//!
//! W3C Baggage comes in and goes out with the trace context: obs's server middleware
//! extracts the caller's, its client middleware injects the baggage of the span the call is
//! made in. Code adds to it with [`SpanExt::set_baggage`] on the span it runs in (obs's
//! `Context::current_with_baggage(..).attach()`; OpenTelemetry's attached `Context` is read
//! only as the parent of a span created with no span current):
//! every call made in that span from then on, and every span created in it, carries it,
//! whether the trace is sampled or not.
//!
//! ```
//! use obs_trace::{BaggageError, SpanExt};
//!
//! /// In a handler: the services it calls from here on get `tenant.id`.
//! fn tag_tenant(tenant: &str) -> Result<(), BaggageError> {
//!     let span = tracing::Span::current();
//!     let mut baggage = span.baggage(); // the caller's, and what was set since
//!     baggage.insert("tenant.id", tenant)?;
//!     span.set_baggage(baggage);
//!     Ok(())
//! }
//! # tag_tenant("42").unwrap();
//! ```

mod active;
mod b3;
mod baggage;
mod clock;
mod context;
mod conventions;
mod data;
pub mod diagnostics;
mod exception;
mod ext;
mod format_panic;
mod ids;
mod intern;
mod jaeger_remote;
mod layer;
mod limits;
mod propagation;
mod sampler;
mod tail;
mod traceparent;
mod tracestate;
mod unsampled;

pub use active::{
    ActiveContext, ContextReader, EnteredContext, current, current_span_context, enter_context,
    with_current,
};
pub use baggage::{
    Baggage, BaggageDrops, BaggageEntry, BaggageError, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS,
};
pub use clock::{Stopwatch, unix_nanos_now};
pub use context::SpanContext;
pub use conventions::{RpcConventions, rpc_conventions, set_rpc_conventions};
pub use data::{InMemorySpanSink, SpanData, SpanEvent, SpanLink, SpanSink};
pub use exception::{ERROR_FIELD, EXCEPTION_MESSAGE, ErrorChain};
pub use ext::{SpanExt, span_context_of};
pub use format_panic::{FORMAT_PANICKED, catch_format_panic};
pub use ids::{SpanId, TraceFlags, TraceId};
pub use intern::{LastSeen, intern};
pub use jaeger_remote::{
    JaegerRemoteConfig, JaegerRemoteSampler, PerOperationStrategy, SamplingStrategy,
};
pub use layer::{RemoteParent, SpanLayer, SpanStart, span_with_remote_parent};
pub use limits::{AttributeLimits, SpanLimits};
pub use propagation::{
    BAGGAGE, Propagators, TRACEPARENT, TRACESTATE, W3CPropagator, extract, inject, inject_current,
    install_global_propagator, propagators, set_propagators,
};
pub use sampler::{Sampler, SamplerError};
pub use tail::{TailSampling, TailSamplingCounts, TailSamplingSink};
pub use traceparent::{
    TRACEPARENT_LEN, TraceParent, TraceParentError, format_traceparent, parse_traceparent,
};
pub use tracestate::{MAX_TRACESTATE_MEMBERS, TraceState, TraceStateError};
pub use unsampled::UnsampledSpans;

/// The `http` crate whose `HeaderMap` [`extract`], [`inject`] and [`inject_current`] take,
/// re-exported so that code carrying context in something other than an HTTP request (a
/// queue message's headers) needs no `http` dependency of its own.
pub use http;
/// The OpenTelemetry API this crate is built with, re-exported so versions can't skew.
pub use opentelemetry;
