//! `init`, the [`Telemetry`] guard, and their errors.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use obs_metrics::{OtelAttribute, OtelNames};
use obs_trace::{SpanData, SpanLayer, SpanSink, TailSamplingSink};
use tracing_log::AsLog;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Registry};

use crate::config::{Config, ExporterKind, Signal};
use crate::export::batch::{BatchQueue, Budget, Control, Controlled, Destination, SignalStats};
use crate::export::metrics::{MetricsConverter, PeriodicMetrics};
use crate::export::transport::OtlpClient;
use crate::export::{convert, weight};
use crate::resource::ResourceAttributes;

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Why `init` could not start telemetry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitError {
    /// `init` already succeeded in this process. Telemetry starts once per process: the
    /// global `tracing` subscriber can't be replaced, so this holds after the first guard
    /// has shut down too (a failed `init` can be retried).
    AlreadyInitialized,
    /// Another global `tracing` subscriber was installed before `init` (by
    /// `tracing_subscriber::fmt().init()`, say): remove that call. `init` installs the
    /// subscriber that writes the JSON log lines and feeds the span and log exporters, which
    /// no other subscriber can reach.
    SubscriberAlreadySet,
    /// A builder setting is invalid.
    InvalidSetting {
        /// The builder method.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A background thread or the export runtime could not start, or the `/metrics`
    /// listener (`OBS_METRICS_ADDR`, [`Builder::metrics_addr`](crate::Builder::metrics_addr),
    /// the Prometheus exporter's host and port) could not bind its address: a port another
    /// process holds is an error, not a service without `/metrics`.
    Start(String),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::AlreadyInitialized => {
                f.write_str("obs is already initialized in this process")
            }
            InitError::SubscriberAlreadySet => f.write_str(
                "a global tracing subscriber was already installed before obs_core::init \
                 (tracing_subscriber::fmt().init(), say): remove that call, since obs_core::init \
                 installs the subscriber that writes JSON logs and exports spans and log records; \
                 add your own layers to it with obs_core::builder().init_with(layer)",
            ),
            InitError::InvalidSetting {
                setting,
                value,
                reason,
            } => {
                write!(f, "invalid obs setting {setting} = {value:?}: {reason}")
            }
            InitError::Start(e) => write!(f, "obs could not start its export pipeline: {e}"),
        }
    }
}

impl std::error::Error for InitError {}

/// What one signal could not deliver at a flush or at shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalFailure {
    /// The signal.
    pub signal: Signal,
    /// What went wrong (the last export error, the receiver's reason for rejecting items,
    /// items too large to send, or the flush that timed out).
    pub error: String,
    /// Items (spans, log records, data points) that were not delivered by that flush or
    /// shutdown.
    pub unsent: u64,
}

/// The JSON log lines (to stdout, or [`Builder::json_writer`](crate::Builder::json_writer)'s
/// writer) a flush or shutdown did not write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonLinesFailure {
    /// What went wrong.
    pub error: String,
    /// Lines dropped during the flush or shutdown (the writer failed, the buffer was full,
    /// or, at shutdown, they were still buffered when time was up: all of them counted in
    /// `obs_log_dropped_total`), plus those still waiting or being written when it
    /// returned (after a shutdown, written only if the writer takes them before the process
    /// ends).
    pub unsent: u64,
}

/// Every signal that failed to flush, at [`Telemetry::force_flush`] or at shutdown, and
/// the JSON log lines if some were not written; the others were flushed anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownError {
    /// One entry per failed signal.
    pub failures: Vec<SignalFailure>,
    /// The JSON log lines, if some were not written.
    pub json_lines: Option<JsonLinesFailure>,
}

impl ShutdownError {
    /// `Err` if anything failed.
    fn check(
        failures: Vec<SignalFailure>,
        json_lines: Option<JsonLinesFailure>,
    ) -> Result<(), ShutdownError> {
        if failures.is_empty() && json_lines.is_none() {
            Ok(())
        } else {
            Err(ShutdownError {
                failures,
                json_lines,
            })
        }
    }
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neutral: `force_flush` returns this error too.
        f.write_str("obs could not deliver all telemetry:")?;
        for x in &self.failures {
            write!(
                f,
                " [{}: {} unsent: {}]",
                x.signal.as_str(),
                x.unsent,
                x.error
            )?;
        }
        if let Some(x) = &self.json_lines {
            write!(f, " [json log lines: {} unsent: {}]", x.unsent, x.error)?;
        }
        Ok(())
    }
}

impl std::error::Error for ShutdownError {}

/// Counters of one signal's pipeline. Non-exhaustive: later versions may count more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignalCounts {
    /// The signal.
    pub signal: Signal,
    /// Items the receiver accepted.
    pub exported: u64,
    /// Items dropped because the queue was full: its count of items, or its byte budget
    /// ([`Builder::max_queue_bytes`](crate::Builder::max_queue_bytes)).
    pub dropped_queue_full: u64,
    /// Items dropped because an export failed or the receiver rejected them.
    pub dropped_export_failed: u64,
    /// Items dropped because each alone is larger than the largest request the receiver
    /// takes ([`OtlpSettings::max_request_bytes`](crate::OtlpSettings::max_request_bytes)).
    pub dropped_too_large: u64,
}

/// A dedicated export runtime on its own thread, so exporting works whether or not (and
/// whichever) Tokio runtime the application runs, and dropping it never happens inside one.
struct ExportRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ExportRuntime {
    fn start() -> Result<ExportRuntime, InitError> {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("obs-export".to_owned())
            .spawn(move || {
                crate::export::mark_export_thread();
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("obs-export-worker")
                    // Its worker and its blocking threads (name resolution) alike.
                    .on_thread_start(crate::export::mark_export_thread)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = handle_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(rt.handle().clone()));
                rt.block_on(async {
                    let _ = stop_rx.await;
                });
                rt.shutdown_timeout(Duration::from_millis(200));
            })
            .map_err(|e| InitError::Start(e.to_string()))?;
        let handle = handle_rx
            .recv()
            .map_err(|e| InitError::Start(e.to_string()))?
            .map_err(InitError::Start)?;
        Ok(ExportRuntime {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Feeds finished spans and log records into their batch queues.
struct QueueSink<T>(Arc<BatchQueue<T>>);

impl<T> fmt::Debug for QueueSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Send + 'static> QueueSink<T> {
    /// Queues `item`, unless one of obs's export threads made it (see
    /// `mark_export_thread`): left out, as a filter leaves out, not dropped.
    #[inline]
    fn push(&self, item: T) {
        if !crate::export::on_export_thread() {
            self.0.push(item);
        }
    }
}

impl SpanSink for QueueSink<SpanData> {
    #[inline]
    fn on_end(&self, span: SpanData) {
        self.push(span);
    }
}

impl obs_log::LogSink for QueueSink<obs_log::LogRecord> {
    #[inline]
    fn emit(&self, record: obs_log::LogRecord) {
        self.push(record);
    }
}

/// The tail sampler, fed only the spans made on the application's threads.
///
/// Its decisions pass spans on from the thread that ends a span, and
/// [`QueueSink::push`] leaves out whatever arrives on one of obs's export threads: a span
/// of obs's own export (h2's, with `OBS_TRACES_FILTER=debug`) ending there could make room
/// by keeping an application trace, whose spans were then left out, lost and counted
/// nowhere. Such a span is left out here, before the sampler sees it.
#[derive(Debug)]
struct ApplicationSpans(Arc<TailSamplingSink>);

impl SpanSink for ApplicationSpans {
    #[inline]
    fn on_end(&self, span: SpanData) {
        if !crate::export::on_export_thread() {
            self.0.on_end(span);
        }
    }
}

struct Pipeline {
    runtime: ExportRuntime,
    traces: Option<Arc<BatchQueue<SpanData>>>,
    /// In front of `traces` when tail sampling is on: flushed first.
    tail: Option<Arc<TailSamplingSink>>,
    logs: Option<Arc<BatchQueue<obs_log::LogRecord>>>,
    metrics: Option<PeriodicMetrics>,
    json: Option<JsonLines>,
    stats: Vec<(Signal, Arc<SignalStats>)>,
}

/// The JSON lines' writer thread, flushed and stopped with the signals.
struct JsonLines {
    guard: obs_log::FlushGuard,
    /// The writer's drop count (`obs_log_dropped_total`).
    dropped: obs_log::DropCounter,
    /// The writer, as a failure names it: stdout, or the application's
    /// ([`Builder::json_writer`](crate::Builder::json_writer)), which a message blaming
    /// stdout would send the reader looking in the wrong place.
    writer: &'static str,
}

impl JsonLines {
    /// Waits until the lines written so far are written, up to `deadline`: the failure,
    /// if lines were dropped since the drop count read `dropped_before`, or are not
    /// written yet.
    fn flush(
        &self,
        deadline: Instant,
        timeout: Duration,
        dropped_before: u64,
    ) -> Option<JsonLinesFailure> {
        let unwritten = if self.guard.flush(until(deadline)) {
            0
        } else {
            self.guard.unwritten_lines()
        };
        failure(
            &self.dropped,
            self.writer,
            dropped_before,
            unwritten,
            timeout,
        )
    }

    /// Stops the writer thread, waiting for what is buffered until `deadline` at most: the
    /// failure, as for [`flush`](Self::flush), counting the lines it still buffered, now
    /// dropped, and those it was still writing, left behind.
    fn stop(
        self,
        deadline: Instant,
        timeout: Duration,
        dropped_before: u64,
    ) -> Option<JsonLinesFailure> {
        let writing = self.guard.stop(until(deadline));
        failure(&self.dropped, self.writer, dropped_before, writing, timeout)
    }
}

/// The failure of the JSON lines written to `writer`: those `dropped` counts since it read
/// `dropped_before`, and `unwritten` more, if any.
fn failure(
    dropped: &obs_log::DropCounter,
    writer: &str,
    dropped_before: u64,
    unwritten: u64,
    timeout: Duration,
) -> Option<JsonLinesFailure> {
    let dropped = dropped.get().saturating_sub(dropped_before);
    let unsent = dropped + unwritten;
    (unsent > 0).then(|| JsonLinesFailure {
        error: if unwritten > 0 {
            format!(
                "{writer} did not write them within {timeout:?}: {dropped} dropped, \
                 {unwritten} still waiting or being written"
            )
        } else {
            format!("{dropped} dropped: {writer} failed or the buffer was full")
        },
        unsent,
    })
}

/// The time left until `deadline`, at least 1 ms.
fn until(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

/// Exposes the pipeline's own counters in the metrics registry, so every drop is visible
/// where the application's metrics are (`obs_telemetry_dropped_total{signal, reason}`).
///
/// Over OTLP they are named in an `obs.` namespace (`obs.telemetry.dropped`, with
/// attributes `obs.signal` and `error.type`), not as the conventions' SDK self-observability
/// metrics (`otel.sdk.processor.span.processed`, `otel.sdk.exporter.span.exported`, ...,
/// otel/sdk-metrics.md): those are one metric per signal where these are one family with a
/// `signal` label (a name per family can't split it), they count successes and failures
/// together where these count drops and deliveries apart, and they describe an
/// OpenTelemetry SDK's components (`otel.component.type`), which obs is not. The reason of a
/// drop is `error.type`, as those metrics key theirs (`queue_full` is a value they name).
#[derive(Debug)]
struct PipelineCollector {
    stats: Vec<(Signal, Arc<SignalStats>)>,
    log_lines_dropped: Option<obs_log::DropCounter>,
    tail: Option<Arc<TailSamplingSink>>,
    start: u64,
}

/// The OpenTelemetry attributes of the pipeline counters' labels.
static PIPELINE_ATTRIBUTES: [OtelAttribute; 3] = [
    OtelAttribute::string("signal", "obs.signal"),
    OtelAttribute::string("reason", "error.type"),
    OtelAttribute::string("decision", "obs.tail_sampling.decision"),
];

/// The OpenTelemetry name and unit of a pipeline counter.
const fn pipeline_otel(name: &'static str, unit: &'static str) -> OtelNames {
    OtelNames {
        name: Some(name),
        attributes: &PIPELINE_ATTRIBUTES,
        unit: Some(unit),
        scope: None,
    }
}

impl obs_metrics::Collector for PipelineCollector {
    fn collect(&self, now: u64, out: &mut Vec<obs_metrics::MetricFamilySnapshot>) {
        use obs_metrics::{MetricFamilySnapshot, MetricKind, PointSnapshot, PointValue};
        let point = |labels: Vec<(String, String)>, v: u64| PointSnapshot {
            labels,
            value: PointValue::U64(v),
            start_time_unix_nano: self.start,
            time_unix_nano: now,
            exemplars: Vec::new(),
        };
        let mut dropped = Vec::new();
        let mut exported = Vec::new();
        for (signal, s) in &self.stats {
            let sig = || ("signal".to_owned(), signal.as_str().to_owned());
            for (reason, n) in [
                ("queue_full", s.dropped_queue_full.load(Ordering::Relaxed)),
                (
                    "export_failed",
                    s.dropped_export_failed.load(Ordering::Relaxed),
                ),
                ("too_large", s.dropped_too_large.load(Ordering::Relaxed)),
            ] {
                dropped.push(point(
                    vec![sig(), ("reason".to_owned(), reason.to_owned())],
                    n,
                ));
            }
            exported.push(point(vec![sig()], s.exported.load(Ordering::Relaxed)));
        }
        // Every family here is an asynchronous counter: obs reads its own counts.
        let counter = |name: &str,
                       help: &str,
                       (otel_name, unit): (&'static str, &'static str),
                       points: Vec<PointSnapshot>| MetricFamilySnapshot {
            name: name.to_owned(),
            help: help.to_owned(),
            unit: None,
            kind: MetricKind::Counter,
            otel: pipeline_otel(otel_name, unit),
            asynchronous: true,
            points,
        };
        out.push(counter(
            "obs_telemetry_dropped",
            "Spans, log records and metric points obs dropped instead of exporting.",
            ("obs.telemetry.dropped", "{item}"),
            dropped,
        ));
        if let Some(lines) = &self.log_lines_dropped {
            out.push(counter(
                "obs_log_dropped",
                "JSON log lines dropped: the writer's buffer was full or the writer failed.",
                ("obs.log.dropped", "{line}"),
                vec![point(Vec::new(), lines.get())],
            ));
        }
        if let Some(tail) = &self.tail {
            let counts = tail.counts();
            let decision = |d: &str| vec![("decision".to_owned(), d.to_owned())];
            out.push(counter(
                "obs_tail_sampling_traces",
                "Local traces tail sampling kept or dropped.",
                ("obs.tail_sampling.traces", "{trace}"),
                vec![
                    point(decision("kept"), counts.kept_traces),
                    point(decision("dropped"), counts.dropped_traces),
                ],
            ));
            out.push(counter(
                "obs_tail_sampling_dropped_spans",
                "Spans of the traces tail sampling dropped.",
                ("obs.tail_sampling.dropped_spans", "{span}"),
                vec![point(Vec::new(), counts.dropped_spans)],
            ));
        }
        let baggage = obs_trace::BaggageDrops::now();
        let reason = |r: &str| vec![("reason".to_owned(), r.to_owned())];
        out.push(counter(
            "obs_baggage_dropped",
            "W3C Baggage list-members dropped: invalid ones received, or over the limits \
             (64 members, 8192 bytes) received or sent.",
            ("obs.baggage.dropped", "{member}"),
            vec![
                point(reason("invalid"), baggage.invalid),
                point(reason("limit"), baggage.over_limit),
            ],
        ));
        out.push(counter(
            "obs_telemetry_exported",
            "Spans, log records and metric points the OTLP receiver accepted.",
            ("obs.telemetry.exported", "{item}"),
            exported,
        ));
    }
}

/// The running telemetry. Keep it alive for the life of the program; dropping it (or calling
/// [`Telemetry::shutdown`]) flushes traces, logs and metrics within the configured timeout.
/// Dropping it waits on the dropping thread; in async code, `shutdown().await` lets the
/// runtime run its other tasks meanwhile.
#[must_use = "dropping the guard shuts telemetry down"]
pub struct Telemetry {
    resource: ResourceAttributes,
    metrics_addr: Option<std::net::SocketAddr>,
    shutdown_timeout: Duration,
    pipeline: Option<Pipeline>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("service", &self.resource.service_name())
            .field("running", &self.pipeline.is_some())
            .finish()
    }
}

fn destination(config: &Config, signal: Signal) -> Result<Option<Destination>, InitError> {
    if config.sdk_disabled {
        return Ok(None);
    }
    Ok(match config.exporter(signal) {
        ExporterKind::None => None,
        ExporterKind::Console => Some(Destination::Console),
        ExporterKind::Otlp => Some(Destination::Otlp(Box::new(
            OtlpClient::new(config.otlp(signal)).map_err(|reason| InitError::InvalidSetting {
                setting: "otlp",
                value: crate::config::shown_url(&config.otlp(signal).endpoint).into_owned(),
                reason,
            })?,
        ))),
    })
}

/// Installs `base` with obs's layers on it as the global subscriber: spans, then the JSON
/// lines and the OTLP logs, each under the RUST_LOG filter. Stacked with `with`, not
/// `Layer::and_then`: a `None` log layer inside an `and_then` chain turns the whole
/// subscriber's level hint to `OFF` (found by `export_retry.rs`).
fn install<S>(
    base: S,
    span_layer: SpanLayer,
    json_layer: Option<obs_log::JsonLayer<obs_log::NonBlocking>>,
    log_layer: Option<obs_log::OtlpLogLayer>,
    log_filter: impl Fn() -> EnvFilter,
) -> Result<(), InitError>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
{
    let subscriber = base
        .with(span_layer)
        .with(json_layer.map(|l| l.with_filter(log_filter())))
        .with(log_layer.map(|l| l.with_filter(log_filter())));
    let dispatch = tracing::Dispatch::new(subscriber);
    // `Option` does not pass `on_register_dispatch` on: without this, the log layers would
    // not know their subscriber, and an event whose explicit `parent:` is a span RUST_LOG
    // disables for them would lose its trace (they read its context from the subscriber).
    if let Some(layer) = dispatch.downcast_ref::<obs_log::JsonLayer<obs_log::NonBlocking>>() {
        tracing_subscriber::Layer::<Registry>::on_register_dispatch(layer, &dispatch);
    }
    if let Some(layer) = dispatch.downcast_ref::<obs_log::OtlpLogLayer>() {
        tracing_subscriber::Layer::<Registry>::on_register_dispatch(layer, &dispatch);
    }
    tracing::dispatcher::set_global_default(dispatch).map_err(|_| InitError::SubscriberAlreadySet)
}

/// Whether a `RUST_LOG` filter has span directives (`[request]=debug`,
/// `my_crate[{user=ann}]=trace`), which let events through by the spans they are in: `[`
/// opens a directive's span part and appears nowhere else in the syntax.
fn has_span_directives(filter: &str) -> bool {
    filter.contains('[')
}

/// Which events are logged: `RUST_LOG` (checked when the configuration was read).
fn log_filter(config: &Config) -> EnvFilter {
    EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Starts the batch queue of `signal` if it has a destination.
fn start_queue<T: Send + 'static, R: crate::export::transport::OtlpRequest>(
    config: &Config,
    signal: Signal,
    (batch, weigh): (crate::config::BatchSettings, fn(&T) -> usize),
    runtime: &ExportRuntime,
    stats: &mut Vec<(Signal, Arc<SignalStats>)>,
    to_request: impl Fn(Vec<T>) -> R + Send + Sync + 'static,
) -> Result<Option<Arc<BatchQueue<T>>>, InitError> {
    // The gRPC channel is created lazily on the export runtime.
    let _enter = runtime.handle.enter();
    let Some(dest) = destination(config, signal)? else {
        return Ok(None);
    };
    let s = Arc::new(SignalStats::default());
    stats.push((signal, s.clone()));
    let queue = BatchQueue::start(
        signal,
        batch,
        runtime.handle.clone(),
        Arc::new(dest),
        s,
        Budget {
            max_bytes: config.max_queue_bytes,
            weigh,
        },
        to_request,
    )
    .map_err(|e| InitError::Start(e.to_string()))?;
    Ok(Some(Arc::new(queue)))
}

/// A `tracing` layer of the application's, added to the subscriber `init` installs
/// ([`Builder::init_with`](crate::Builder::init_with)).
pub(crate) type UserLayer = Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync>;

/// Where `init` writes the JSON lines instead of stdout ([`Builder::json_writer`](
/// crate::Builder::json_writer)). Shared, as a `Builder` is `Clone`: a clone kept to try
/// `init` again after one that failed still has it. Only the JSON lines' writer thread
/// writes through it, so its lock is never contended and the thread that logs never takes
/// it.
#[derive(Clone)]
pub(crate) struct JsonWriter(Arc<std::sync::Mutex<Box<dyn std::io::Write + Send>>>);

impl JsonWriter {
    pub(crate) fn new(writer: impl std::io::Write + Send + 'static) -> Self {
        JsonWriter(Arc::new(std::sync::Mutex::new(Box::new(writer))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn std::io::Write + Send>> {
        // A user's writer that panicked is caught by the writer thread, which carries on.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl fmt::Debug for JsonWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JsonWriter")
    }
}

impl std::io::Write for JsonWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.lock().write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.lock().flush()
    }
}

pub(crate) fn start(
    config: Config,
    json_writer: Option<JsonWriter>,
    user_layer: Option<UserLayer>,
) -> Result<Telemetry, InitError> {
    if INITIALIZED.swap(true, Ordering::SeqCst) {
        return Err(InitError::AlreadyInitialized);
    }
    let result = start_once(config, json_writer, user_layer);
    if result.is_err() {
        INITIALIZED.store(false, Ordering::SeqCst);
    }
    result
}

/// Whether someone installed an OpenTelemetry tracer provider globally before `init`: spans
/// made through it would bypass obs's pipeline (and belong to another trace tree), the
/// classic "two pipelines, parent lost" setup.
fn foreign_tracer_provider() -> bool {
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    let tracer = opentelemetry::global::tracer_provider().tracer("obs-init-probe");
    let mut probe = tracer.start_with_context("obs-init-probe", &opentelemetry::Context::new());
    let valid = probe.span_context().is_valid();
    probe.end();
    valid
}

fn start_once(
    config: Config,
    json_writer: Option<JsonWriter>,
    user_layer: Option<UserLayer>,
) -> Result<Telemetry, InitError> {
    // First, so that it filters the configuration's own warnings too.
    obs_trace::diagnostics::set_level(config.diagnostics);
    for w in &config.warnings {
        obs_trace::diagnostics::warn(format_args!("{w}"));
    }
    if foreign_tracer_provider() {
        obs_trace::diagnostics::error(format_args!(
            "obs: an OpenTelemetry tracer provider was installed with opentelemetry::global before \
             obs_core::init; spans made through it bypass obs's pipeline and its trace context. \
             Remove that setup and make spans with `tracing` (obs exports those); obs installs no \
             OpenTelemetry tracer provider, and obs_core::opentelemetry is there for its types \
             (the exact version obs is built with)."
        ));
    }
    let resource = ResourceAttributes::from_config(&config);
    let runtime = ExportRuntime::start()?;
    let proto_resource = resource.to_proto();
    let mut stats = Vec::new();

    let traces = start_queue(
        &config,
        Signal::Traces,
        (config.span_batch, weight::span_bytes),
        &runtime,
        &mut stats,
        {
            let (resource, limits) = (proto_resource.clone(), config.span_limits);
            let redaction = config.redaction.clone();
            move |spans| convert::traces_request(&resource, &limits, &redaction, spans)
        },
    )?;
    let logs = start_queue(
        &config,
        Signal::Logs,
        (config.log_batch, weight::log_record_bytes),
        &runtime,
        &mut stats,
        {
            let (resource, limits) = (proto_resource.clone(), config.log_limits);
            move |records| convert::logs_request(&resource, &limits, records)
        },
    )?;
    let metrics = {
        let _enter = runtime.handle.enter();
        match destination(&config, Signal::Metrics)? {
            None => None,
            Some(dest) => {
                let s = Arc::new(SignalStats::default());
                stats.push((Signal::Metrics, s.clone()));
                Some(PeriodicMetrics::start(
                    &runtime.handle,
                    obs_metrics::global().clone(),
                    MetricsConverter::new(proto_resource.clone(), config.metrics_temporality),
                    Arc::new(dest),
                    s,
                    config.metric_export_interval,
                    config.metric_export_timeout,
                ))
            }
        }
    };
    // JSON lines to stdout (or the builder's writer) through a bounded buffer: a slow
    // terminal, pipe or disk drops (and counts) lines instead of stalling requests.
    let (json_writer, json_flush) = if config.json_logs {
        let (started, name) = match json_writer {
            Some(w) => (obs_log::NonBlocking::new(w), "the json_writer"),
            None => (obs_log::NonBlocking::new(std::io::stdout()), "stdout"),
        };
        let (writer, guard) = started.map_err(|e| InitError::Start(e.to_string()))?;
        (Some(writer), Some((guard, name)))
    } else {
        (None, None)
    };
    let tail = traces
        .as_ref()
        .zip(config.tail_sampling.as_ref())
        .map(|(q, policy)| {
            Arc::new(TailSamplingSink::new(
                policy.clone(),
                Arc::new(QueueSink(q.clone())),
            ))
        });
    if let Some(tail) = &tail {
        // A trace whose local root never ends is decided at `max_wait` only when another
        // span ends; a quiet service would hold it until shutdown. Weak: the task ends with
        // the pipeline (the export runtime stops at shutdown anyway).
        let tail = Arc::downgrade(tail);
        runtime.handle.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(tail) = tail.upgrade() else { return };
                // The spans it passes on are the application's, not the export's own.
                crate::export::as_application(|| tail.decide_overdue());
            }
        });
    }
    let json_dropped = json_writer.as_ref().map(obs_log::NonBlocking::drop_counter);
    let pipeline_collector = PipelineCollector {
        stats: stats.clone(),
        log_lines_dropped: json_dropped.clone(),
        tail: tail.clone(),
        start: convert::unix_nanos(std::time::SystemTime::now()),
    };

    let metrics_addr = match config.metrics_addr {
        None => None,
        Some(addr) => {
            // Bound here, so a taken port is an error from `init`, not a silent no-op. Named
            // by address: it comes from `OBS_METRICS_ADDR`, `Builder::metrics_addr` or the
            // Prometheus exporter's `OTEL_EXPORTER_PROMETHEUS_HOST`/`_PORT`.
            let listener = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|e| {
                    InitError::Start(format!("could not serve /metrics on {addr}: {e}"))
                })?;
            let local = listener
                .local_addr()
                .map_err(|e| InitError::Start(e.to_string()))?;
            let _enter = runtime.handle.enter();
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| InitError::Start(e.to_string()))?;
            Some((listener, local))
        }
    };

    // A Jaeger remote sampler's strategy is polled on the export runtime, which stops with
    // the pipeline.
    crate::jaeger_remote::start(&runtime.handle, &config.sampler, resource.service_name());
    let mut span_layer = SpanLayer::new()
        .with_sampler(config.sampler.clone())
        .with_span_events(config.span_events)
        .with_limits(config.span_limits)
        .with_unsampled_spans(config.unsampled_spans.unwrap_or(
            if json_writer.is_some()
                || user_layer.is_some()
                || (logs.is_some() && has_span_directives(&config.log_filter))
            {
                // JSON log lines show the fields of every span around an event, the
                // application's own layer may want every span, and a `RUST_LOG` span
                // directive lets the OTLP log records of a span through only if it exists.
                obs_trace::UnsampledSpans::Keep
            } else {
                obs_trace::UnsampledSpans::Skip
            },
        ));
    if let Some(tail) = &tail {
        span_layer = span_layer.with_sink(Arc::new(ApplicationSpans(tail.clone())));
    } else if let Some(q) = &traces {
        span_layer = span_layer.with_sink(Arc::new(QueueSink(q.clone())));
    }
    // Filters were checked when the configuration was read.
    let traces_filter: Targets = config
        .traces_filter
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO));
    // Span events are the events the traces filter lets through, `log` records included.
    let span_events_level = config
        .span_events
        .then(|| tracing_subscriber::layer::Filter::<Registry>::max_level_hint(&traces_filter))
        .flatten();
    // Without a layer of the application's, the log layers are the only others, both under
    // the RUST_LOG filter (or none of them): an event callsite that filter rules out, and
    // the span layer doesn't need, is disabled for good instead of built and dropped by
    // each filter. The application's layer may want any event.
    let others_filter = (json_writer.is_some() || logs.is_some()).then(|| log_filter(&config));
    let any_event = user_layer.is_some();
    let span_layer = span_layer.with_other_layers_events(move |callsite| {
        any_event
            || others_filter.as_ref().is_some_and(|filter| {
                !<EnvFilter as tracing_subscriber::layer::Filter<Registry>>::callsite_enabled(
                    filter, callsite,
                )
                .is_never()
            })
    });
    let span_layer = span_layer.with_traces_filter(traces_filter);
    let json_layer = json_writer.map(|w| {
        obs_log::JsonLayer::new()
            .with_writer(w)
            .with_service_name(resource.service_name())
            .with_field_names(config.json_field_names.clone())
            .with_span_fields(config.json_span_fields)
            .with_file_line(config.json_file_line)
            .with_redaction(config.redaction.clone())
    });
    let log_layer = logs.clone().map(|q| {
        obs_log::OtlpLogLayer::new(QueueSink(q))
            .with_limits(config.log_limits)
            .with_redaction(config.redaction.clone())
    });
    // The application's layer sits on the registry, under obs's: its type names no obs
    // type, and a global filter in it (a `LevelFilter`, an `EnvFilter` added as a layer)
    // filters obs's layers too, as `tracing` users expect; the middleware still carries
    // the callers' traces through spans such a filter disables.
    let log_filters = || log_filter(&config);
    // The application's layer wants `log` records as its own filter lets them through (all,
    // if it says nothing): RUST_LOG must not cap them for it.
    let user_level = user_layer.as_ref().map(|layer| {
        tracing_subscriber::Layer::<Registry>::max_level_hint(&**layer)
            .unwrap_or(tracing::level_filters::LevelFilter::TRACE)
    });
    match user_layer {
        None => install(
            tracing_subscriber::registry(),
            span_layer,
            json_layer,
            log_layer,
            log_filters,
        ),
        Some(user_layer) => install(
            tracing_subscriber::registry().with(user_layer),
            span_layer,
            json_layer,
            log_layer,
            log_filters,
        ),
    }?;
    obs_trace::install_global_propagator();
    // `OTEL_SDK_DISABLED` has no effect on propagators, the spec says: set either way.
    obs_trace::set_propagators(config.propagators);
    obs_trace::set_rpc_conventions(config.rpc_conventions);
    // Libraries that log through the `log` crate: their records become `tracing` events,
    // at the levels any layer may want them (RUST_LOG's for the JSON lines and OTLP logs,
    // ERROR for the span layer, which fails a span on an ERROR event in it, the traces
    // filter's for span events, the application layer's), and reach those layers as
    // `tracing` events do. Above all of them, `log`'s macros skip them for free.
    let log_level = log_filter(&config)
        .max_level_hint()
        .map_or(tracing::level_filters::LevelFilter::TRACE, |level| {
            [
                Some(tracing::level_filters::LevelFilter::ERROR),
                span_events_level,
                user_level,
            ]
            .into_iter()
            .flatten()
            .fold(level, Ord::max)
        })
        .as_log();
    if let Err(e) = tracing_log::LogTracer::builder()
        .with_max_level(log_level)
        .init()
    {
        // Often tracing-log's own `LogTracer`, set up by code migrating to obs, which still
        // forwards to `tracing` and so to obs: say so, rather than only that records go
        // elsewhere.
        obs_trace::diagnostics::warn(format_args!(
            "obs: `log` records keep going to the logger installed before obs_core::init \
             ({e}); if that is `tracing_log::LogTracer`, they still reach obs, up to the level \
             it was given; any other logger, remove it to have them in obs"
        ));
    }
    // Collectors last, once nothing can fail: a failed `init` left a collector behind in
    // the global registry, and the next one added a second (two families of one name).
    // The exemplar filter and `target_info` too: a failed `init` leaves the process as it
    // found it.
    obs_metrics::set_exemplar_filter(config.exemplar_filter);
    let registry = obs_metrics::global();
    // The resource as `/metrics`' one `target_info`, as the OpenTelemetry compatibility spec
    // asks of a Prometheus pull exporter: a scrape carries no resource otherwise. The OTLP
    // push reads `collect`, which leaves it out (every export carries the resource).
    registry.set_target_info(resource.iter());
    registry.register_collector(pipeline_collector);
    if config.process_metrics {
        registry.register_process_metrics();
    }
    if config.runtime_metrics
        && let Ok(handle) = tokio::runtime::Handle::try_current()
    {
        registry.register_tokio_metrics(handle);
    }
    // Served only now, so that no scrape sees the registry without `target_info` and the
    // pipeline's own counters: a scraper that connected earlier waits in the backlog.
    let metrics_addr = metrics_addr.map(|(listener, local)| {
        runtime
            .handle
            .spawn(obs_metrics::serve(listener, registry.clone()));
        local
    });

    Ok(Telemetry {
        resource,
        metrics_addr,
        shutdown_timeout: config.shutdown_timeout,
        pipeline: Some(Pipeline {
            runtime,
            traces,
            tail,
            logs,
            metrics,
            json: json_flush
                .zip(json_dropped)
                .map(|((guard, writer), dropped)| JsonLines {
                    guard,
                    dropped,
                    writer,
                }),
            stats,
        }),
    })
}

impl Telemetry {
    /// The resource attached to everything this process exports.
    pub fn resource(&self) -> &ResourceAttributes {
        &self.resource
    }

    /// Where the standalone `/metrics` listener runs (`OBS_METRICS_ADDR`), with the port
    /// resolved when `:0` was asked for.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_addr
    }

    /// Exported and dropped counts per signal so far.
    pub fn counts(&self) -> Vec<SignalCounts> {
        self.pipeline
            .iter()
            .flat_map(|p| &p.stats)
            .map(|(signal, s)| SignalCounts {
                signal: *signal,
                exported: s.exported.load(Ordering::Relaxed),
                dropped_queue_full: s.dropped_queue_full.load(Ordering::Relaxed),
                dropped_export_failed: s.dropped_export_failed.load(Ordering::Relaxed),
                dropped_too_large: s.dropped_too_large.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Exports everything recorded so far, and writes the JSON lines, and waits for it, up
    /// to the shutdown timeout. With tail sampling, spans of traces not decided yet keep
    /// waiting for their decision.
    ///
    /// The wait blocks the calling thread. On a current-thread runtime (`#[tokio::test]`)
    /// that also runs the collector, the collector then can't take the flush, which fails
    /// after the full timeout: in async code, wait elsewhere, with `Telemetry` in an `Arc`
    /// and `tokio::task::spawn_blocking(move || telemetry.force_flush()).await`, or end with
    /// [`shutdown`](Self::shutdown)`.await`, which does.
    pub fn force_flush(&self) -> Result<(), ShutdownError> {
        let Some(p) = &self.pipeline else {
            return Ok(());
        };
        let timeout = self.shutdown_timeout;
        let deadline = Instant::now() + timeout;
        let json_dropped = p.json.as_ref().map_or(0, |j| j.dropped.get());
        let failures = flush_all(p, deadline, timeout, false);
        let json_lines = p
            .json
            .as_ref()
            .and_then(|j| j.flush(deadline, timeout, json_dropped));
        ShutdownError::check(failures, json_lines)
    }

    /// Flushes traces, logs and metrics and stops exporting. The signals flush at once,
    /// within the shutdown timeout, so one that fails or hangs costs the others nothing; an
    /// export that can't connect to its collector (none running) is given up at once rather
    /// than retried until the timeout;
    /// the error lists each failure and how much could not be sent (failed, still queued or
    /// still in export; all of them are counted in `obs_telemetry_dropped_total` by the time
    /// this returns), and the JSON log lines stdout (or the `json_writer`) did not take in time
    /// ([`ShutdownError::json_lines`]: those dropped, counted in `obs_log_dropped_total`,
    /// and those still being written). Safe to
    /// call from any thread or runtime: the waiting happens on a thread of its own, so the
    /// runtime that awaits this keeps running its other tasks meanwhile (requests still
    /// finishing, or a collector served on the same current-thread runtime, as in a
    /// `#[tokio::test]`). Spans and log records made afterwards (by code that is still
    /// running) are dropped and counted in `obs_telemetry_dropped_total`.
    pub async fn shutdown(self) -> Result<(), ShutdownError> {
        // In a slot, so that it can still be shut down here if no thread can be started.
        let slot = Arc::new(parking_lot::Mutex::new(Some(self)));
        let (done, result) = tokio::sync::oneshot::channel();
        let on_thread = slot.clone();
        let started = std::thread::Builder::new()
            .name("obs-shutdown".to_owned())
            .spawn(move || {
                if let Some(telemetry) = on_thread.lock().take() {
                    let _ = done.send(telemetry.shutdown_blocking());
                }
            });
        if started.is_ok()
            && let Ok(outcome) = result.await
        {
            return outcome;
        }
        // No thread could start: shut down here, blocking. (A thread that took the
        // telemetry and then died has left nothing to shut down.)
        let telemetry = slot.lock().take();
        telemetry.map_or(Ok(()), Telemetry::shutdown_blocking)
    }

    /// [`Telemetry::shutdown`] for code without an async context.
    pub fn shutdown_blocking(mut self) -> Result<(), ShutdownError> {
        self.shutdown_now()
    }

    fn shutdown_now(&mut self) -> Result<(), ShutdownError> {
        let Some(mut p) = self.pipeline.take() else {
            return Ok(());
        };
        let timeout = self.shutdown_timeout;
        let deadline = Instant::now() + timeout;
        let json_dropped = p.json.as_ref().map_or(0, |j| j.dropped.get());
        let failures = flush_all(&p, deadline, timeout, true);
        if let Some(json) = &p.json {
            json.guard.flush(until(deadline));
        }
        p.runtime.stop();
        // The exports the stop cut off are counted; the span and log workers then count what
        // they still held or had queued, on their own threads, in a moment (no I/O is left
        // to wait for).
        let grace = Duration::from_secs(1);
        if let Some(traces) = &p.traces {
            traces.wait_ended(grace);
        }
        if let Some(logs) = &p.logs {
            logs.wait_ended(grace);
        }
        // The JSON lines had their flush within the deadline: the writer stops without its
        // own wait (3 s by default), and one stuck writing to a stdout nobody reads is left
        // behind rather than hold shutdown past its deadline. What it lost or still holds
        // is reported with the signals.
        let json_lines = p
            .json
            .take()
            .and_then(|j| j.stop(deadline, timeout, json_dropped));
        ShutdownError::check(failures, json_lines)
    }
}

/// Flushes (or, with `stop`, shuts down) the signals' exporters, waiting until `deadline`
/// (`timeout` after the call started): the signals that failed.
fn flush_all(p: &Pipeline, deadline: Instant, timeout: Duration, stop: bool) -> Vec<SignalFailure> {
    let remaining = || until(deadline);
    if stop && let Some(tail) = &p.tail {
        // Ended spans still waiting for their trace's decision are decided now: at
        // shutdown there is no later, and spans that end from now on are decided at once
        // (kept ones reach the stopped queue, which counts them as dropped). A flush leaves
        // them waiting, since deciding a trace whose root is still running would drop it
        // before an error could keep it.
        tail.shutdown();
    }
    if stop {
        for (_, stats) in &p.stats {
            stats.retries.stop();
        }
    }
    // Every signal is asked at once and then awaited against the one deadline, so that an
    // unreachable collector for one signal can't use up the others' time.
    let make = if stop {
        Control::Shutdown
    } else {
        Control::Flush
    };
    let asked: Vec<_> = Signal::ALL
        .into_iter()
        .filter_map(|signal| {
            let (_, stats) = p.stats.iter().find(|(s, _)| *s == signal)?;
            let exporter: &dyn Controlled = match signal {
                Signal::Traces => p.traces.as_deref()?,
                Signal::Logs => p.logs.as_deref()?,
                Signal::Metrics => p.metrics.as_ref()?,
            };
            let undelivered_before = stats.undelivered();
            let answer = exporter.ask(make);
            Some((signal, stats, exporter, undelivered_before, answer))
        })
        .collect();
    let mut failures = Vec::new();
    for (signal, stats, exporter, undelivered_before, answer) in asked {
        let outcome = answer.and_then(|answer| {
            answer.recv_timeout(remaining()).map_err(|_| {
                let pending = exporter.pending();
                format!(
                    "not done within {timeout:?}: {} queued, {} in export{}",
                    pending.queued,
                    pending.in_flight,
                    stats.retrying_note()
                )
            })
        });
        let undelivered = stats.undelivered() - undelivered_before;
        match outcome {
            Err(error) => {
                // What is still queued or in export now is not delivered by this call (and,
                // at shutdown, never: it is counted as dropped when the exporter stops).
                let pending = exporter.pending();
                failures.push(SignalFailure {
                    signal,
                    error,
                    unsent: undelivered + pending.queued + pending.in_flight,
                });
            }
            Ok(()) if undelivered > 0 => failures.push(SignalFailure {
                signal,
                error: stats.last_error.lock().clone().unwrap_or_default(),
                unsent: undelivered,
            }),
            Ok(()) => {}
        }
    }
    failures
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_now() {
            obs_trace::diagnostics::error(format_args!("{e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use obs_trace::AttributeLimits;
    use tracing_subscriber::prelude::*;

    use super::*;
    use crate::config::{BatchSettings, Compression, OtlpSettings, Protocol};

    /// An OTLP/HTTP destination for `signal` where nothing listens: whatever is exported in
    /// the end fails, and is counted.
    fn unreachable(signal: Signal) -> Arc<Destination> {
        let endpoint = format!(
            "http://{}/v1/{}",
            crate::testing::NOTHING_LISTENS,
            signal.as_str()
        );
        let client = OtlpClient::new(&OtlpSettings {
            endpoint,
            protocol: Protocol::HttpProtobuf,
            headers: Vec::new(),
            timeout: Duration::from_secs(5),
            compression: Compression::None,
            max_request_bytes: OtlpSettings::DEFAULT_MAX_REQUEST_BYTES,
            tls: Default::default(),
        })
        .unwrap();
        Arc::new(Destination::Otlp(Box::new(client)))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Batching that exports nothing until shutdown.
    const HELD: BatchSettings = BatchSettings {
        schedule_delay: Duration::from_secs(3600),
        max_queue_size: 1024,
        max_export_batch_size: 1024,
        ..BatchSettings::SPANS
    };

    /// A writer whose first write waits until it is released (a stdout nobody reads),
    /// saying when it has started waiting.
    struct Stuck {
        started: std::sync::mpsc::Sender<()>,
        release: std::sync::mpsc::Receiver<()>,
    }

    impl std::io::Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.started.send(());
            let _ = self.release.recv();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Telemetry writing JSON lines to a [`Stuck`] writer, which holds the first of `lines`
    /// lines written before it returns (the others wait in the buffer), and exporting
    /// nothing else; the sender that releases the writer, and the writer's drop count.
    fn stuck_json_lines(
        lines: u64,
    ) -> (Telemetry, std::sync::mpsc::Sender<()>, obs_log::DropCounter) {
        use obs_log::LogWriter;
        let (started_tx, started) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel();
        let (writer, guard) = obs_log::NonBlocking::new(Stuck {
            started: started_tx,
            release: release_rx,
        })
        .unwrap();
        writer.write_line(b"{}\n");
        started
            .recv_timeout(Duration::from_secs(10))
            .expect("the writer thread took the first line");
        for _ in 1..lines {
            writer.write_line(b"{}\n");
        }
        let config = Config::from_lookup(&|_| None);
        let telemetry = Telemetry {
            resource: ResourceAttributes::from_config(&config),
            metrics_addr: None,
            shutdown_timeout: Duration::from_millis(200),
            pipeline: Some(Pipeline {
                runtime: ExportRuntime::start().unwrap(),
                traces: None,
                tail: None,
                logs: None,
                metrics: None,
                json: Some(JsonLines {
                    guard,
                    dropped: writer.drop_counter(),
                    writer: "stdout",
                }),
                stats: Vec::new(),
            }),
        };
        (telemetry, release, writer.drop_counter())
    }

    #[test]
    fn json_lines_a_stuck_writer_loses_at_shutdown_are_in_the_shutdown_error() {
        let (telemetry, release, dropped) = stuck_json_lines(10);
        let error = telemetry
            .shutdown_blocking()
            .expect_err("the JSON lines were not written");
        drop(release);
        assert!(error.failures.is_empty(), "{error}");
        let json = error.json_lines.as_ref().expect("the JSON lines' failure");
        // Nine dropped from the buffer (and counted), one left in the stuck write.
        assert_eq!(json.unsent, 10, "{error}");
        assert_eq!(dropped.get(), 9, "{error}");
        assert!(
            error.to_string().contains("json log lines: 10 unsent"),
            "{error}"
        );
    }

    #[test]
    fn json_lines_a_flush_could_not_write_are_in_its_error() {
        let (telemetry, release, dropped) = stuck_json_lines(10);
        let error = telemetry
            .force_flush()
            .expect_err("the JSON lines were not written");
        let json = error.json_lines.as_ref().expect("the JSON lines' failure");
        // Still waiting, not dropped.
        assert_eq!(json.unsent, 10, "{error}");
        assert_eq!(dropped.get(), 0, "{error}");
        // Once stdout takes them, a flush succeeds.
        drop(release);
        telemetry.force_flush().expect("every line written");
    }

    #[test]
    fn tail_sampling_on_an_export_thread_loses_no_application_span() {
        let runtime = runtime();
        let _enter = runtime.enter();
        let queue = Arc::new(
            BatchQueue::start(
                Signal::Traces,
                HELD,
                runtime.handle().clone(),
                unreachable(Signal::Traces),
                Arc::new(SignalStats::default()),
                Budget {
                    max_bytes: Config::DEFAULT_MAX_QUEUE_BYTES,
                    weigh: weight::span_bytes,
                },
                |spans| {
                    convert::traces_request(
                        &Default::default(),
                        &Default::default(),
                        &obs_log::Redaction::none(),
                        spans,
                    )
                },
            )
            .unwrap(),
        );
        // Room for one waiting span: a second one decides the first trace.
        let tail = Arc::new(TailSamplingSink::new(
            obs_trace::TailSampling::new(Duration::from_secs(3600)).with_max_buffered_spans(1),
            Arc::new(QueueSink(queue.clone())),
        ));
        let dispatch = tracing::Dispatch::new(
            tracing_subscriber::registry()
                .with(SpanLayer::new().with_sink(Arc::new(ApplicationSpans(tail.clone())))),
        );
        // An application request whose step failed, its root still running.
        let request = tracing::dispatcher::with_default(&dispatch, || {
            let request = tracing::info_span!("request");
            request.in_scope(|| {
                tracing::info_span!("step", otel.status_code = "error").in_scope(|| {});
            });
            request
        });
        // A span of obs's own export ends on an export thread, its connection's still open.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                crate::export::mark_export_thread();
                tracing::dispatcher::with_default(&dispatch, || {
                    tracing::info_span!("h2 connection").in_scope(|| {
                        tracing::info_span!("h2 frame").in_scope(|| {});
                    });
                });
            });
        });
        tail.shutdown();
        assert_eq!(queue.pending().queued, 1, "the failed step is queued");
        drop(request);
    }

    #[test]
    fn log_records_carrying_megabytes_keep_the_queue_within_its_byte_budget() {
        const BUDGET: usize = 8 * 1024 * 1024;
        const RECORDS: usize = 200;
        let runtime = runtime();
        let _enter = runtime.enter();
        let stats = Arc::new(SignalStats::default());
        let limits = AttributeLimits {
            value_length: Some(1024),
            ..AttributeLimits::DEFAULT
        };
        let queue = Arc::new(
            BatchQueue::start(
                Signal::Logs,
                // A queue that holds all of them by count, and is not exported meanwhile.
                HELD,
                runtime.handle().clone(),
                unreachable(Signal::Logs),
                stats.clone(),
                Budget {
                    max_bytes: BUDGET,
                    weigh: weight::log_record_bytes,
                },
                move |records| convert::logs_request(&Default::default(), &limits, records),
            )
            .unwrap(),
        );
        let layer = obs_log::OtlpLogLayer::new(QueueSink(queue.clone())).with_limits(limits);
        // Each record: a 1 MiB attribute, cut as it is made, and a 100 KiB message, which
        // no limit cuts.
        let attribute = "a".repeat(1 << 20);
        let message = "m".repeat(100 << 10);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for _ in 0..RECORDS {
                tracing::info!(attribute = attribute.as_str(), "{message}");
            }
        });
        let held = queue.queued_bytes();
        assert!(
            held <= BUDGET,
            "{held} bytes queued, the budget is {BUDGET}"
        );
        // The attribute was cut before it was queued: some 80 records fit, not 7.
        let queued = RECORDS as u64 - stats.dropped_queue_full.load(Ordering::Relaxed);
        assert!(queued >= 70, "{queued} queued");
        assert!(queued < RECORDS as u64, "all {RECORDS} queued");
        // Every record is queued or counted as dropped.
        assert_eq!(
            queue.pending().queued + stats.dropped_queue_full.load(Ordering::Relaxed),
            RECORDS as u64
        );
    }
}
