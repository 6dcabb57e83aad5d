//! `obs-core`: one dependency and one call in `main` for traces, logs and metrics over one
//! OTLP pipeline, configured by the standard `OTEL_*` environment variables or a [`Builder`].
//!
//! ```no_run
//! # async fn serve() {}
//! use obs_core::tracing; // re-exported: no `tracing` dependency of your own needed
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let telemetry = obs_core::init()?; // everything from OTEL_* variables
//!     tracing::info!(order_id = 7, "started");
//!     serve().await;
//!     // Flushes traces, logs and metrics (also on drop). An error says what could not be
//!     // delivered (no collector listening, say): worth a line, not a failed exit.
//!     if let Err(e) = telemetry.shutdown().await {
//!         eprintln!("telemetry not fully delivered: {e}");
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Features (all off by default): `tower` and `axum` (HTTP middleware, `obs_core::tower`),
//! `reqwest` (also the `reqwest` client middleware, `obs_core::tower::reqwest`), `tonic`
//! (gRPC middleware, `obs_core::tonic`), `tls` (`https://` OTLP endpoints, see
//! [`TlsFiles`]) and `testing` (an in-memory OTLP receiver, `obs_core::testing`).
//!
//! # Coming from `tracing-opentelemetry`
//!
//! obs records spans with its own layer, not `tracing-opentelemetry` (which it re-exports,
//! as [`obs_core::tracing_opentelemetry`](tracing_opentelemetry), but does not use): on an
//! obs span, `tracing_opentelemetry::OpenTelemetrySpanExt` finds no layer of its own, so
//! `context()` is an empty context, `set_parent` returns `Err(LayerNotFound)`, and
//! `set_attribute`, `set_status`, `add_link` and `add_event` do nothing. Their counterparts
//! are [`trace::SpanExt`]'s: [`span_context`](trace::SpanExt::span_context) reads the
//! span's ids, and [`set_attribute`](trace::SpanExt::set_attribute),
//! [`set_status`](trace::SpanExt::set_status) and [`add_link`](trace::SpanExt::add_link)
//! do what theirs do (events are `tracing` events, span events with `OBS_SPAN_EVENTS`).
//! Make a span the child of a context from elsewhere (a message's `traceparent`) with
//! [`trace::span_with_remote_parent`] and [`trace::extract`]; code written for
//! `tracing-opentelemetry` that attaches the extracted context instead
//! (`let _guard = cx.attach();`) and then creates its span also works: as there, a span
//! created with no `tracing` span current takes the attached context as its parent. Code
//! that injects through OpenTelemetry's global propagator keeps working, since the
//! propagator `init` installs writes the current obs span when the context it is given
//! holds none; but neither `opentelemetry::Context::current()` nor `span.context()` ever
//! holds an obs span (obs does not attach one as a span is entered, which
//! `tracing-opentelemetry` does by default), so inject where the span is current
//! (`span.in_scope(|| ..)`: outside it, the current span's context goes out instead), and
//! read the current span's ids with [`trace::SpanExt::span_context`] on `Span::current()`.
//! For the same reason, drop your own `global::set_text_map_propagator(..)` call: a
//! propagator installed after `init` (`opentelemetry_sdk`'s `TraceContextPropagator`, which
//! injects nothing when called directly either) finds no span in the context it is given,
//! and injects none.
//!
//! The `otel.name`, `otel.kind`, `otel.status_code` and `otel.status_description` (or
//! `otel.status_message`) fields steer the span as there, set at creation or recorded later,
//! and an `Err` of `#[instrument(err)]` fails its span as there, at `ERROR` or any level
//! `OBS_TRACES_FILTER` lets through ([`trace::SpanLayer`]). What differs: events become
//! span events only with `OBS_SPAN_EVENTS` (or [`Builder::span_events`]); which spans, and
//! span events, are recorded is `OBS_TRACES_FILTER`'s to say (`info` and above by
//! default), not `RUST_LOG`'s, which filters the logs only; an Ok status stays Ok (Trace
//! API, Set Status), where an error with no message replaces it there; spans carry their
//! fields, not the attributes `tracing-opentelemetry` (0.34) adds of its own (`code.*`,
//! `thread.*`, `target`, `busy_ns`, `idle_ns`; `level` and `target` on events), each
//! span's crate being its instrumentation scope; and `opentelemetry::global::tracer(..)`
//! and `global::meter(..)` record nothing, as obs installs neither provider: make spans
//! with `tracing` and metrics with [`metrics`].
//! Take `opentelemetry` from [`obs_core::opentelemetry`](opentelemetry) (or the same
//! release, which Cargo unifies with it): a provider or propagator installed through another
//! `opentelemetry` release lives in that release's own `global`, which obs can neither use
//! nor see (`cargo tree -d -i opentelemetry` lists the releases in a build).
//!
//! ```
//! use obs_core::opentelemetry::{Context, global};
//! use obs_core::trace::SpanExt;
//! use obs_core::tracing;
//! use std::collections::HashMap;
//!
//! # fn main() -> Result<(), obs_core::InitError> {
//! let telemetry = obs_core::builder().sdk_disabled(true).json_logs(false).init()?;
//! let span = tracing::info_span!("checkout");
//! let _entered = span.enter();
//! let ids = span.span_context().expect("obs traces the span");
//!
//! let mut headers = HashMap::new();
//! global::get_text_map_propagator(|p| p.inject_context(&Context::new(), &mut headers));
//! let parent = format!("00-{}-{}-", ids.trace_id, ids.span_id);
//! assert!(headers["traceparent"].starts_with(&parent), "{headers:?}");
//!
//! // In place of `set_parent`: a span whose parent is a queue message's `traceparent`.
//! let mut message = obs_core::trace::http::HeaderMap::new();
//! message.insert("traceparent", headers["traceparent"].parse().unwrap());
//! let consume = obs_core::trace::span_with_remote_parent(obs_core::trace::extract(&message), || {
//!     tracing::info_span!("consume")
//! });
//! assert_eq!(consume.span_context().map(|c| c.trace_id), Some(ids.trace_id));
//! # drop(_entered);
//! # drop(telemetry);
//! # Ok(())
//! # }
//! ```

// On docs.rs (`--cfg docsrs`, see Cargo.toml), each feature-gated item says which feature
// enables it.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod config;
mod export;
mod jaeger_remote;
mod resource;
mod signal;
mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
/// The integration tests' bounded condition waits, for the unit tests too (`pub` there, for
/// the tests' support module).
#[cfg(test)]
#[allow(unreachable_pub)]
#[path = "../tests/support/wait.rs"]
mod wait;

pub use builder::Builder;
pub use config::{
    BatchSettings, Compression, Config, ExporterKind, OtlpSettings, Protocol, Signal,
    TemporalityPreference, TlsFiles,
};
pub use export::ExportError;
pub use obs_trace::{AttributeLimits, SpanLimits};
pub use resource::ResourceAttributes;
pub use signal::shutdown_signal;
pub use telemetry::{
    InitError, JsonLinesFailure, ShutdownError, SignalCounts, SignalFailure, Telemetry,
};

/// The logging pillar: JSON lines and OTLP log records.
pub use obs_log as log;
/// The metrics pillar: registries, instruments, `/metrics` (which, once `init` has run,
/// shows the resource as one `target_info`: [`metrics::Registry::set_target_info`]).
pub use obs_metrics as metrics;
/// gRPC middleware for tonic (feature `tonic`).
#[cfg(feature = "tonic")]
pub use obs_tonic as tonic;
/// HTTP middleware for tower, axum and hyper (feature `tower`; `axum` adds route templates,
/// `reqwest` the reqwest client middleware).
#[cfg(feature = "tower")]
pub use obs_tower as tower;
/// The tracing pillar: propagation, samplers, the span layer.
pub use obs_trace as trace;

/// The exact OpenTelemetry API obs is built with: use it instead of your own dependency so
/// versions cannot skew (its types, the global text-map propagator obs installs). Spans are
/// made with `tracing`: obs installs no OpenTelemetry tracer provider, so a tracer taken
/// from `opentelemetry::global` records nothing. Nor a meter provider: the instruments of a
/// meter from `opentelemetry::global::meter` (a library instrumented with the OpenTelemetry
/// metrics API) record nothing either; obs exports the metrics of [`metrics::global`].
pub use opentelemetry;
/// The OpenTelemetry SDK release that matches [`opentelemetry`], for code that runs an SDK
/// beside obs (a comparison, a foreign tracer provider). obs itself does not use it: its
/// spans, logs and metrics go through its own pipeline, which no SDK setting changes.
pub use opentelemetry_sdk;
/// `tracing`, re-exported so that its macros (`obs_core::tracing::info!`, `info_span!`)
/// need no dependency of their own. Not `#[instrument]`: its expansion names `::tracing`,
/// which only a crate's own dependency provides, so code using it adds `tracing = "0.1"`
/// (Cargo resolves it to this same `tracing`).
pub use tracing;
/// The `tracing-opentelemetry` release built for [`opentelemetry`] (default features off),
/// for code that runs its layer with an SDK tracer provider in a subscriber of its own, beside
/// obs: a gradual migration, a library's tests, a comparison. Taking it from here rather than
/// from a dependency of your own means its `opentelemetry` is obs's, so a context extracted
/// by obs's propagator is the type its `set_parent` takes.
///
/// obs does not use it: `init`'s subscriber records spans with [`trace::SpanLayer`], and on
/// those spans `OpenTelemetrySpanExt` finds no `tracing-opentelemetry` layer (its `context()`
/// is empty, its `set_parent` does nothing). See "Coming from `tracing-opentelemetry`" above
/// for the obs equivalents.
///
/// ```
/// use obs_core::opentelemetry::propagation::TextMapPropagator;
/// use obs_core::opentelemetry::trace::{TraceContextExt, TracerProvider};
/// use obs_core::opentelemetry_sdk::trace::SdkTracerProvider;
/// use obs_core::tracing_opentelemetry::OpenTelemetrySpanExt;
/// use obs_core::tracing_subscriber::layer::SubscriberExt;
/// use obs_core::tracing;
/// use std::collections::HashMap;
///
/// let provider = SdkTracerProvider::builder().build();
/// let subscriber = obs_core::tracing_subscriber::registry()
///     .with(obs_core::tracing_opentelemetry::layer().with_tracer(provider.tracer("legacy")));
/// tracing::subscriber::with_default(subscriber, || {
///     let headers = HashMap::from([(
///         "traceparent".to_owned(),
///         "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
///     )]);
///     // obs's propagator and tracing-opentelemetry share one `opentelemetry::Context`.
///     let parent = obs_core::trace::W3CPropagator.extract(&headers);
///     let span = tracing::info_span!("legacy work");
///     span.set_parent(parent).unwrap();
///     let trace_id = span.context().span().span_context().trace_id();
///     assert_eq!(trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
/// });
/// ```
pub use tracing_opentelemetry;
/// `tracing-subscriber`, re-exported for code that runs a subscriber of its own instead of
/// `init` (a test with [`trace::SpanLayer`] and an [`trace::InMemorySpanSink`], say); obs
/// turns on none of its formatting features (`fmt`, `json`). `init` installs the global
/// subscriber itself: one installed before it makes `init` fail with
/// [`InitError::SubscriberAlreadySet`].
pub use tracing_subscriber;

/// Starts telemetry from the `OTEL_*` environment: installs the global `tracing` subscriber
/// (spans, JSON logs, OTLP logs), the W3C propagator (the formats `OTEL_PROPAGATORS`
/// chooses), the RPC conventions gRPC layers built from then on emit
/// (`OTEL_SEMCONV_STABILITY_OPT_IN`, [`trace::RpcConventions`]), and the OTLP pipeline for
/// all three signals. Returns the guard that flushes
/// everything on shutdown or drop.
///
/// Never panics: a second call returns [`InitError::AlreadyInitialized`], also once the first
/// guard has shut down; it works inside or outside a Tokio runtime (exports run on a runtime
/// of their own). An `init` that fails leaves none of its threads behind.
///
/// Call it first in `main`: `tracing` spans and events made before it (a library's, from a
/// static initialised early, say) have no subscriber and are lost, counted nowhere, and a
/// span made then stays untraced. Metrics are not: the global registry exists from its
/// first use, so what is measured before `init` is served and pushed once it runs. After
/// the guard has shut down, spans and OTLP log records are dropped and counted, and metrics
/// keep counting with nothing left to export them.
pub fn init() -> Result<Telemetry, InitError> {
    builder().init()
}

/// A [`Builder`] for settings in code, which win over the environment.
pub fn builder() -> Builder {
    Builder::default()
}
