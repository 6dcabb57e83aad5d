//! [`Builder`]: settings in code, which win over the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use obs_trace::{AttributeLimits, Propagators, RpcConventions, Sampler, SpanLimits};

use crate::config::{
    BatchSettings, Compression, Config, ExporterKind, NOT_GRPC_METADATA, Protocol, SetInCode,
    Signal, TemporalityPreference, check_header, root_path_warning, shown_url, signal_path_warning,
    signal_url, validate_endpoint,
};
use crate::telemetry::JsonWriter;
use crate::{InitError, Telemetry};

/// Settings given in code. Each one wins over its environment variable; an invalid one makes
/// [`Builder::init`] return [`InitError::InvalidSetting`] naming it. An OTLP setting for all
/// signals ([`Builder::otlp_endpoint`], [`Builder::protocol`], [`Builder::otlp_timeout`],
/// [`Builder::compression`], the TLS files) wins over the per-signal variables
/// (`OTEL_EXPORTER_OTLP_TRACES_*`, ...) too; [`Builder::otlp_signal_endpoint`],
/// [`Builder::otlp_signal_header`], [`Builder::otlp_signal_timeout`] and
/// [`Builder::otlp_signal_compression`] set one signal's, and win over both.
///
/// ```
/// let builder = obs_core::builder()
///     .service_name("orders")
///     .protocol(obs_core::Protocol::Grpc)
///     .otlp_endpoint("http://127.0.0.1:4317");
/// let config = builder.config().unwrap();
/// assert_eq!(config.traces_otlp.endpoint, "http://127.0.0.1:4317");
/// assert_eq!(config.service_name.as_deref(), Some("orders"));
/// ```
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct Builder {
    service_name: Option<String>,
    service_version: Option<String>,
    resource_attributes: Vec<(String, String)>,
    endpoint: Option<String>,
    signal_endpoints: Vec<(Signal, String)>,
    protocol: Option<Protocol>,
    headers: Vec<(String, String)>,
    signal_headers: Vec<(Signal, String, String)>,
    timeout: Option<Duration>,
    signal_timeouts: Vec<(Signal, Duration)>,
    compression: Option<Compression>,
    signal_compressions: Vec<(Signal, Compression)>,
    max_request_bytes: Option<usize>,
    tls_certificate: Option<PathBuf>,
    tls_identity: Option<(PathBuf, PathBuf)>,
    exporters: Vec<(Signal, ExporterKind)>,
    sampler: Option<Sampler>,
    propagators: Option<Propagators>,
    diagnostics: Option<obs_trace::diagnostics::Level>,
    rpc_conventions: Option<RpcConventions>,
    span_batch: Option<BatchSettings>,
    log_batch: Option<BatchSettings>,
    span_limits: Option<SpanLimits>,
    log_limits: Option<AttributeLimits>,
    metric_export_interval: Option<Duration>,
    metric_export_timeout: Option<Duration>,
    exemplar_filter: Option<obs_metrics::ExemplarFilter>,
    metrics_temporality: Option<TemporalityPreference>,
    log_filter: Option<String>,
    traces_filter: Option<String>,
    json_logs: Option<bool>,
    json_writer: Option<JsonWriter>,
    json_field_names: Option<obs_log::FieldNames>,
    json_span_fields: Option<obs_log::SpanFields>,
    json_file_line: Option<bool>,
    redaction: Option<obs_log::Redaction>,
    unsampled_spans: Option<obs_trace::UnsampledSpans>,
    tail_sampling: Option<obs_trace::TailSampling>,
    metrics_addr: Option<SocketAddr>,
    shutdown_timeout: Option<Duration>,
    max_queue_bytes: Option<usize>,
    sdk_disabled: Option<bool>,
    process_metrics: Option<bool>,
    span_events: Option<bool>,
    runtime_metrics: Option<bool>,
}

fn invalid(setting: &'static str, value: impl ToString, reason: impl ToString) -> InitError {
    InitError::InvalidSetting {
        setting,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Checks a filter given in code: unlike `RUST_LOG`, whose bad directives are left out
/// with a warning, a bad one here is an error, naming the first bad directive (the
/// parsers' own errors don't say which).
fn check_directives<E: std::fmt::Display>(
    setting: &'static str,
    filter: &str,
    check: impl Fn(&str) -> Result<(), E>,
) -> Result<(), InitError> {
    let (_, bad) = crate::config::split_directives(filter, |d| check(d).map_err(|e| e.to_string()));
    match bad.first() {
        None => Ok(()),
        Some((directive, e)) => Err(invalid(
            setting,
            filter,
            format!("the directive {directive:?} is invalid ({e})"),
        )),
    }
}

/// The value last set for `signal` in a list of per-signal settings: a later call wins.
fn last_for<T>(settings: &[(Signal, T)], signal: Signal) -> Option<&T> {
    settings
        .iter()
        .rev()
        .find(|(sig, _)| *sig == signal)
        .map(|(_, value)| value)
}

/// The longest duration a setting takes: what the `OTEL_*` millisecond variables can say
/// (2^64 - 1 ms, some 584 million years). A longer one, such as `Duration::MAX` meant as
/// "for ever", overflowed when added to the current time for a deadline or the next export,
/// a panic in the exporter or in shutdown.
const MAX_DURATION: Duration = Duration::from_millis(u64::MAX);

/// `duration`, if it is at most [`MAX_DURATION`].
fn checked(setting: &'static str, duration: Duration) -> Result<Duration, InitError> {
    if duration > MAX_DURATION {
        return Err(invalid(
            setting,
            format!("{duration:?}"),
            "longer than the most obs waits (u64::MAX milliseconds)",
        ));
    }
    Ok(duration)
}

impl Builder {
    /// `service.name`; wins over a `service.name` [`Builder::resource_attribute`] too.
    /// Defaults to `OTEL_SERVICE_NAME`, else `unknown_service:<binary>`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// `service.version`; wins over a `service.version` in `OTEL_RESOURCE_ATTRIBUTES`.
    /// Defaults to that, else none.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// Adds a resource attribute. It wins over `OTEL_RESOURCE_ATTRIBUTES`, even with an empty
    /// value, as the resource spec's Merge says; a non-empty `service.name` wins over
    /// `OTEL_SERVICE_NAME` too (an empty one names no service, so the variable's name, else
    /// `unknown_service:<binary>`, stays). An empty key makes `init` fail: an attribute key
    /// "MUST be a non-null and non-empty string" (the common spec).
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource_attributes.push((key.into(), value.into()));
        self
    }

    /// The base OTLP endpoint for all signals, like `OTEL_EXPORTER_OTLP_ENDPOINT`: for HTTP,
    /// `/v1/traces` etc. are appended. Defaults to that variable, else
    /// `http://localhost:4318` (HTTP) or `http://localhost:4317` (gRPC).
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The endpoint of one signal, used as is (like `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    pub fn otlp_signal_endpoint(mut self, signal: Signal, url: impl Into<String>) -> Self {
        self.signal_endpoints.push((signal, url.into()));
        self
    }

    /// The OTLP transport for all signals. Defaults to `OTEL_EXPORTER_OTLP_PROTOCOL`, else
    /// `http/protobuf`, as the spec says.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Adds a header to every export request (an API key, say). It replaces any header of the
    /// same name (compared case-insensitively) from `OTEL_EXPORTER_OTLP_*HEADERS`; calling this
    /// twice with one name sends both values. The headers of the body (`Content-Type`,
    /// `Content-Length`, `Content-Encoding`, `Transfer-Encoding`) are obs's and an error.
    pub fn otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds a header to one signal's export requests, like `OTEL_EXPORTER_OTLP_TRACES_HEADERS`
    /// (a backend that takes each signal under its own key or dataset, say). It replaces any
    /// header of the same name from the variables and from [`Builder::otlp_header`]; the rules
    /// of [`Builder::otlp_header`] apply.
    pub fn otlp_signal_header(
        mut self,
        signal: Signal,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.signal_headers
            .push((signal, name.into(), value.into()));
        self
    }

    /// The per-export timeout, retries included. Defaults to `OTEL_EXPORTER_OTLP_TIMEOUT`,
    /// else 10 s. Zero means no limit, as `OTEL_EXPORTER_OTLP_TIMEOUT=0` does (the spec's
    /// Timeout type), and as a zero [`BatchSettings::export_timeout`] does; shutdown still
    /// ends within its own timeout.
    pub fn otlp_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// One signal's per-export timeout, like `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`; wins over
    /// [`Builder::otlp_timeout`]. Zero means no limit.
    pub fn otlp_signal_timeout(mut self, signal: Signal, timeout: Duration) -> Self {
        self.signal_timeouts.push((signal, timeout));
        self
    }

    /// Payload compression. Defaults to `OTEL_EXPORTER_OTLP_COMPRESSION`, else none.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// One signal's payload compression, like `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`; wins
    /// over [`Builder::compression`].
    pub fn otlp_signal_compression(mut self, signal: Signal, compression: Compression) -> Self {
        self.signal_compressions.push((signal, compression));
        self
    }

    /// The largest OTLP request sent, in bytes of encoded protobuf before compression: larger
    /// batches are cut into several requests. Defaults to 4 MiB, what gRPC servers take by
    /// default; set it to what the receiver takes if that is less (a proxy's body limit).
    /// See [`OtlpSettings::max_request_bytes`](crate::OtlpSettings::max_request_bytes).
    /// Zero is an error.
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = Some(bytes);
        self
    }

    /// The PEM file of the CA certificates that verify an `https://` endpoint, for all
    /// signals, in place of the system's roots (like `OTEL_EXPORTER_OTLP_CERTIFICATE`). Needs
    /// the `tls` feature; a file that can't be read or holds no certificate is an error.
    pub fn otlp_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_certificate = Some(path.into());
        self
    }

    /// The client certificate (chain) and its private key, PEM files, that an `https://`
    /// endpoint asking for mutual TLS gets, for all signals (like
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `_CLIENT_KEY`). Needs the `tls` feature; files
    /// that can't be read or are not a certificate and its key are an error.
    pub fn otlp_client_identity(
        mut self,
        certificate: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.tls_identity = Some((certificate.into(), key.into()));
        self
    }

    /// The exporter of one signal. Defaults to `OTEL_{SIGNAL}_EXPORTER`, else OTLP. Replaces
    /// that variable, which is then not read: for metrics, a Prometheus exporter that
    /// variable names serves no `/metrics` (obs's own [`Builder::metrics_addr`] and
    /// `OBS_METRICS_ADDR` still do).
    pub fn exporter(mut self, signal: Signal, kind: ExporterKind) -> Self {
        self.exporters.push((signal, kind));
        self
    }

    /// The head sampler. Defaults to `OTEL_TRACES_SAMPLER` (and `OTEL_TRACES_SAMPLER_ARG`),
    /// else `parentbased_always_on`. With a [`Sampler::JaegerRemote`] (alone or as
    /// `ParentBased`'s root), `init` polls its endpoint for the service's strategy until
    /// shutdown:
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// use obs_core::trace::{JaegerRemoteConfig, JaegerRemoteSampler, Sampler};
    ///
    /// let remote = JaegerRemoteSampler::new(JaegerRemoteConfig {
    ///     endpoint: "http://jaeger-collector:14250".to_owned(),
    ///     polling_interval: Duration::from_secs(30),
    ///     initial_sampling_rate: 0.01,
    /// });
    /// let telemetry = obs_core::builder()
    ///     .service_name("checkout")
    ///     .sampler(Sampler::ParentBased(Box::new(Sampler::JaegerRemote(remote))))
    ///     .init();
    /// ```
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// Which formats (W3C Trace Context and Baggage, B3 single or multiple headers) every
    /// obs middleware, and the global OpenTelemetry propagator `init` installs, read from
    /// and write into headers, process-wide. Defaults to `OTEL_PROPAGATORS`, else the two
    /// W3C ones.
    ///
    /// ```
    /// use obs_core::trace::Propagators;
    /// // `tracecontext,baggage,b3`: B3's context wins when both come.
    /// let builder = obs_core::builder().propagators(Propagators {
    ///     b3: true,
    ///     ..Propagators::W3C
    /// });
    /// # let _ = builder;
    /// ```
    pub fn propagators(mut self, propagators: Propagators) -> Self {
        self.propagators = Some(propagators);
        self
    }

    /// Which of obs's own diagnostics (settings ignored, telemetry dropped, exports failed)
    /// reach stderr, process-wide. Defaults to `OTEL_LOG_LEVEL`, else errors and warnings.
    pub fn diagnostics(mut self, level: obs_trace::diagnostics::Level) -> Self {
        self.diagnostics = Some(level);
        self
    }

    /// Which RPC semantic conventions obs-tonic's gRPC layers emit, process-wide: the old
    /// ones, the stable ones, or both ([`RpcConventions`]; each layer reads it when it is
    /// built, so build them after `init`). Defaults to `OTEL_SEMCONV_STABILITY_OPT_IN`
    /// (`rpc`, `rpc/dup`), else the old ones.
    pub fn rpc_conventions(mut self, conventions: RpcConventions) -> Self {
        self.rpc_conventions = Some(conventions);
        self
    }

    /// Span batching. Defaults to the `OTEL_BSP_*` defaults. Zero sizes, a batch larger than
    /// the queue, or a queue above [`BatchSettings::MAX_QUEUE_SIZE`] are errors.
    pub fn span_batch(mut self, settings: BatchSettings) -> Self {
        self.span_batch = Some(settings);
        self
    }

    /// Log record batching. Defaults to the `OTEL_BLRP_*` defaults; checked as
    /// [`Builder::span_batch`] is.
    pub fn log_batch(mut self, settings: BatchSettings) -> Self {
        self.log_batch = Some(settings);
        self
    }

    /// Limits on span attributes and events, kept as spans record (what is over them is
    /// counted, not held) and at export. Defaults to the `OTEL_SPAN_*_LIMIT` variables, else
    /// the spec's defaults ([`SpanLimits::DEFAULT`]).
    pub fn span_limits(mut self, limits: SpanLimits) -> Self {
        self.span_limits = Some(limits);
        self
    }

    /// Limits on log record attributes, applied as records are made (what is over them is
    /// counted, not held) and at export.
    /// Defaults to the `OTEL_LOGRECORD_ATTRIBUTE_*_LIMIT` variables, else the spec's
    /// defaults ([`AttributeLimits::DEFAULT`]).
    pub fn log_limits(mut self, limits: AttributeLimits) -> Self {
        self.log_limits = Some(limits);
        self
    }

    /// How often metrics are pushed. Defaults to `OTEL_METRIC_EXPORT_INTERVAL`, else 60 s.
    pub fn metric_export_interval(mut self, interval: Duration) -> Self {
        self.metric_export_interval = Some(interval);
        self
    }

    /// The longest one metrics push may take, retries included: the code equivalent of
    /// `OTEL_METRIC_EXPORT_TIMEOUT`, which the spec requires every variable to have. Defaults
    /// to that variable, else 30 s. Zero means no limit, as the spec's Timeout type says;
    /// shutdown still ends within its own timeout.
    pub fn metric_export_timeout(mut self, timeout: Duration) -> Self {
        self.metric_export_timeout = Some(timeout);
        self
    }

    /// Which measurements become exemplars, for every counter and histogram of the process
    /// (OpenTelemetry Metrics SDK, ExemplarFilter). Defaults to
    /// `OTEL_METRICS_EXEMPLAR_FILTER`, else `TraceBased`: only measurements made inside a
    /// sampled span. See [`obs_metrics::ExemplarFilter`].
    pub fn exemplar_filter(mut self, filter: obs_metrics::ExemplarFilter) -> Self {
        self.exemplar_filter = Some(filter);
        self
    }

    /// The temporality of pushed counters and histograms: see [`TemporalityPreference`].
    /// Defaults to `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`, else cumulative.
    /// `/metrics` stays cumulative whatever this says.
    pub fn metrics_temporality(mut self, preference: TemporalityPreference) -> Self {
        self.metrics_temporality = Some(preference);
        self
    }

    /// The log filter, in `RUST_LOG` syntax. Defaults to `RUST_LOG`, else `info`. A bad
    /// directive here is an [`InitError::InvalidSetting`] naming it (in `RUST_LOG`, it is left
    /// out with a warning).
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.log_filter = Some(filter.into());
        self
    }

    /// Which spans are traced, as `target=level` directives (`RUST_LOG` syntax without span
    /// and field directives). Defaults to `OBS_TRACES_FILTER`, else `info`.
    pub fn traces_filter(mut self, filter: impl Into<String>) -> Self {
        self.traces_filter = Some(filter.into());
        self
    }

    /// Whether JSON log lines are written (to stdout, or [`Builder::json_writer`]'s writer).
    /// Defaults to `OBS_LOG_FORMAT` (`json` or `none`), else `true`.
    pub fn json_logs(mut self, on: bool) -> Self {
        self.json_logs = Some(on);
        self
    }

    /// Where the JSON log lines go instead of stdout: a file
    /// (`File::options().append(true).create(true).open(path)?`), a socket, any
    /// `io::Write`. As on stdout, the lines go through a bounded buffer to a thread of
    /// their own that writes and flushes them, so a slow disk never holds up the code that
    /// logs: the lines it can't take, or `writer` fails to write, are dropped and counted in
    /// `obs_log_dropped_total`; the [`Telemetry`] guard flushes them at shutdown and on drop.
    /// Whether lines are written at all is still [`Builder::json_logs`] (`OBS_LOG_FORMAT`).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let file = std::fs::File::options()
    ///     .append(true)
    ///     .create(true)
    ///     .open("/var/log/orders.jsonl")?;
    /// let telemetry = obs_core::builder().json_writer(file).init()?;
    /// # drop(telemetry);
    /// # Ok(())
    /// # }
    /// ```
    pub fn json_writer(mut self, writer: impl std::io::Write + Send + 'static) -> Self {
        self.json_writer = Some(JsonWriter::new(writer));
        self
    }

    /// The key names of the JSON lines: [`obs_log::FieldNames::ecs`] for Elasticsearch,
    /// [`otel`](obs_log::FieldNames::otel) or [`loki`](obs_log::FieldNames::loki), or
    /// names of your own. Defaults to [`obs_log::FieldNames::default`].
    pub fn json_field_names(mut self, names: obs_log::FieldNames) -> Self {
        self.json_field_names = Some(names);
        self
    }

    /// Where the JSON lines put the fields of the spans around an event. Defaults to
    /// [`obs_log::SpanFields::default`].
    pub fn json_span_fields(mut self, span_fields: obs_log::SpanFields) -> Self {
        self.json_span_fields = Some(span_fields);
        self
    }

    /// Whether the JSON lines carry each event's source `file` and `line` (under the
    /// [`FieldNames`](obs_log::FieldNames)' names for them). Defaults to `false`.
    pub fn json_file_line(mut self, on: bool) -> Self {
        self.json_file_line = Some(on);
        self
    }

    /// The fields whose values never leave the process: shown as `[REDACTED]` in the JSON
    /// lines and OTLP log records (the fields of events and of the spans around them) and in
    /// exported spans (span attributes, which are span fields, and the attributes of span
    /// events and links). One list, so a secret one output hides is hidden in all. Defaults to
    /// [`obs_log::Redaction::default`]; [`obs_log::Redaction::none`] turns it off.
    pub fn redaction(mut self, redaction: obs_log::Redaction) -> Self {
        self.redaction = Some(redaction);
        self
    }

    /// Whether spans inside unsampled traces are created for the log layers. Defaults to
    /// `OBS_UNSAMPLED_SPANS`, else `Keep` when JSON log lines are written (they show every
    /// span's fields), when [`init_with`](Self::init_with) adds a layer, or when OTLP log
    /// records are filtered by `RUST_LOG` span directives (`[request]=debug`, which need the
    /// span to exist), and `Skip` when not (see [`obs_trace::UnsampledSpans`]).
    pub fn unsampled_spans(mut self, unsampled_spans: obs_trace::UnsampledSpans) -> Self {
        self.unsampled_spans = Some(unsampled_spans);
        self
    }

    /// Tail sampling: exports only the local traces that failed, were slow, or fall in the
    /// policy's baseline ratio, decided when each trace's local root ends. Defaults to
    /// `OBS_TAIL_SAMPLING_LATENCY_MS` / `OBS_TAIL_SAMPLING_RATIO`, else off. It judges
    /// only the traces the head [`sampler`](Self::sampler) sampled (a caller's unsampled
    /// trace, under `parentbased_*`, never reaches it); with one that samples nothing
    /// (`always_off`) it keeps nothing, and `init` warns. Exemplars are taken as
    /// measurements are made, before their trace is decided, so those on `/metrics` and in
    /// the metrics export may name a trace tail sampling then drops. See
    /// [`obs_trace::TailSamplingSink`].
    pub fn tail_sampling(mut self, policy: obs_trace::TailSampling) -> Self {
        self.tail_sampling = Some(policy);
        self
    }

    /// Whether `tracing` events inside a sampled span are also recorded as its span events
    /// (with their fields as attributes): those the traces filter
    /// ([`traces_filter`](Self::traces_filter)) lets through, by target and level. Defaults
    /// to `OBS_SPAN_EVENTS`, else `false`: events are exported as log records already.
    pub fn span_events(mut self, on: bool) -> Self {
        self.span_events = Some(on);
        self
    }

    /// Serves `/metrics` on `addr` from `init`. Defaults to `OBS_METRICS_ADDR`, else off;
    /// replaces it and the Prometheus exporter's `OTEL_EXPORTER_PROMETHEUS_HOST`/`_PORT`,
    /// which are then not read.
    /// Like every exposition of the global registry after `init`, it shows the resource as
    /// one `target_info` (see [`obs_metrics::Registry::set_target_info`]).
    pub fn metrics_addr(mut self, addr: SocketAddr) -> Self {
        self.metrics_addr = Some(addr);
        self
    }

    /// How long shutdown may take for all signals together. Defaults to 5 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// The most bytes the large spans and log records (over 4 KiB each) in the span queue,
    /// and in the log record queue, may hold, beside the queue's item count
    /// ([`BatchSettings::max_queue_size`]), which bounds the small ones: one that would take
    /// its queue past it is dropped and counted as on a full queue. The spec bounds queues by
    /// count only, and a log message has no length limit; this bounds their memory. Defaults
    /// to [`Config::DEFAULT_MAX_QUEUE_BYTES`]. Zero is an error.
    pub fn max_queue_bytes(mut self, bytes: usize) -> Self {
        self.max_queue_bytes = Some(bytes);
        self
    }

    /// Whether `process_*` metrics are registered. Defaults to `OBS_PROCESS_METRICS`, else `true`.
    pub fn process_metrics(mut self, on: bool) -> Self {
        self.process_metrics = Some(on);
        self
    }

    /// Whether `tokio_runtime_*` metrics of the calling runtime are registered. Defaults to
    /// `OBS_RUNTIME_METRICS`, else `true`.
    pub fn runtime_metrics(mut self, on: bool) -> Self {
        self.runtime_metrics = Some(on);
        self
    }

    /// Turns every exporter off, like `OTEL_SDK_DISABLED=true` (the Prometheus exporter of
    /// `OTEL_METRICS_EXPORTER=prometheus` too; a [`Builder::metrics_addr`] or
    /// `OBS_METRICS_ADDR` still serves `/metrics`).
    pub fn sdk_disabled(mut self, disabled: bool) -> Self {
        self.sdk_disabled = Some(disabled);
        self
    }

    /// The configuration `init` would use: the environment, overridden by this builder.
    pub fn config(&self) -> Result<Config, InitError> {
        let (config, not_utf8) = crate::config::read_process_env(|get| self.config_with(get));
        let mut config = config?;
        config.warnings.extend(not_utf8);
        Ok(config)
    }

    /// Like [`Builder::config`], reading variables through `get` (a test's map, say).
    pub fn config_with(&self, get: &dyn Fn(&str) -> Option<String>) -> Result<Config, InitError> {
        let mut endpoints = [self.endpoint.is_some(); 3];
        for (signal, _) in &self.signal_endpoints {
            endpoints[*signal as usize] = true;
        }
        let mut exporters = [None; 3];
        for (signal, kind) in &self.exporters {
            exporters[*signal as usize] = Some(*kind);
        }
        let mut c = Config::from_lookup_with(
            get,
            SetInCode {
                protocol: self.protocol,
                sdk_disabled: self.sdk_disabled,
                exporters,
                endpoints,
                metrics_addr: self.metrics_addr.is_some(),
            },
        );
        if let Some(name) = &self.service_name {
            if name.trim().is_empty() {
                return Err(invalid("service_name", name, "must not be empty"));
            }
            c.service_name = Some(name.clone());
        }
        if let Some(v) = &self.service_version {
            c.service_version = Some(v.clone());
        }
        // The common spec: an attribute key "MUST be a non-null and non-empty string".
        if let Some((k, v)) = self.resource_attributes.iter().find(|(k, _)| k.is_empty()) {
            return Err(invalid(
                "resource_attribute",
                format!("{k}={v}"),
                "the key must not be empty",
            ));
        }
        c.resource_attributes
            .extend(self.resource_attributes.iter().cloned());
        // `OTEL_SERVICE_NAME` is applied after the resource attributes, so a `service.name`
        // attribute from code must replace it to win; an empty one specifies no name (the
        // resource falls back from an empty name too), so it keeps the variable's. The last
        // one counts, an empty one too: it takes back an earlier name.
        if self.service_name.is_none()
            && let Some((_, name)) = self
                .resource_attributes
                .iter()
                .rev()
                .find(|(k, _)| k == "service.name")
                .filter(|(_, v)| !v.is_empty())
        {
            c.service_name = Some(name.clone());
        }
        let header_settings = self
            .headers
            .iter()
            .map(|(k, v)| ("otlp_header", k, v))
            .chain(
                self.signal_headers
                    .iter()
                    .map(|(_, k, v)| ("otlp_signal_header", k, v)),
            );
        // Every timeout given is checked, also one that a signal's own replaces everywhere.
        let timeout_settings = self.timeout.map(|t| ("otlp_timeout", t)).into_iter().chain(
            self.signal_timeouts
                .iter()
                .map(|(_, t)| ("otlp_signal_timeout", *t)),
        );
        for (setting, t) in timeout_settings {
            checked(setting, t)?;
        }
        for (setting, k, v) in header_settings {
            // The value is withheld: it is usually a credential, and the error gets printed.
            check_header(k, v)
                .map_err(|why| invalid(setting, format!("{k}: (value withheld)"), why))?;
        }
        let mut endpoint_warning = None;
        // Pushed after the loop (`s` borrows the config).
        let mut signal_warnings = Vec::new();
        for signal in Signal::ALL {
            let s = c.otlp_mut(signal);
            if let Some(e) = &self.endpoint {
                validate_endpoint(e).map_err(|why| invalid("otlp_endpoint", shown_url(e), why))?;
                s.endpoint = signal_url(e, s.protocol, signal);
                if let Some(warning) = signal_path_warning(e, s.protocol, |copied| {
                    (
                        format!("Builder::otlp_endpoint({:?})", shown_url(e)),
                        format!("Builder::otlp_signal_endpoint(Signal::{copied:?}, ..)"),
                    )
                }) {
                    // Once for all signals, below (`s` borrows the config).
                    endpoint_warning = Some(warning);
                }
            }
            if let Some(e) = last_for(&self.signal_endpoints, signal) {
                validate_endpoint(e)
                    .map_err(|why| invalid("otlp_signal_endpoint", shown_url(e), why))?;
                s.endpoint = e.clone();
                let setting = format!("Builder::otlp_signal_endpoint(Signal::{signal:?}, ..)");
                if let Some(warning) =
                    root_path_warning(e, s.protocol, signal, &setting, "Builder::otlp_endpoint")
                {
                    signal_warnings.push(warning);
                }
            }
            let signal_headers: Vec<(String, String)> = self
                .signal_headers
                .iter()
                .filter(|(sig, _, _)| *sig == signal)
                .map(|(_, k, v)| (k.clone(), v.clone()))
                .collect();
            // Header names are case-insensitive; the builder's replace the environment's, and
            // one signal's replace those for all.
            for (setting, headers) in [
                ("otlp_header", &self.headers),
                ("otlp_signal_header", &signal_headers),
            ] {
                s.headers
                    .retain(|(k, _)| !headers.iter().any(|(b, _)| b.eq_ignore_ascii_case(k)));
                s.headers.extend(headers.iter().cloned());
                if s.protocol == Protocol::Grpc
                    && let Some((k, _)) = headers.iter().find(|(k, v)| {
                        crate::export::transport::grpc_metadata(k, v.as_bytes()).is_none()
                    })
                {
                    return Err(invalid(
                        setting,
                        format!("{k}: (value withheld)"),
                        NOT_GRPC_METADATA,
                    ));
                }
            }
            if let Some(t) = last_for(&self.signal_timeouts, signal)
                .copied()
                .or(self.timeout)
            {
                s.timeout = t;
            }
            if let Some(comp) = last_for(&self.signal_compressions, signal)
                .copied()
                .or(self.compression)
            {
                s.compression = comp;
            }
            if let Some(bytes) = self.max_request_bytes {
                if bytes == 0 {
                    return Err(invalid(
                        "max_request_bytes",
                        bytes,
                        "must be more than zero",
                    ));
                }
                s.max_request_bytes = bytes;
            }
            if let Some(path) = &self.tls_certificate {
                s.tls.certificate = Some(path.clone());
            }
            if let Some((cert, key)) = &self.tls_identity {
                s.tls.client_certificate = Some(cert.clone());
                s.tls.client_key = Some(key.clone());
            }
        }
        if let Some(warning) = endpoint_warning
            && !c.warnings.contains(&warning)
        {
            c.warnings.push(warning);
        }
        c.warnings.extend(signal_warnings);
        #[cfg(feature = "tls")]
        {
            use crate::config::TlsFiles;
            use crate::export::tls::TlsMaterial;
            if let Some(path) = &self.tls_certificate {
                let files = TlsFiles {
                    certificate: Some(path.clone()),
                    ..TlsFiles::default()
                };
                TlsMaterial::check_certificate(&files)
                    .map_err(|why| invalid("otlp_certificate", path.display(), why))?;
            }
            if let Some((cert, key)) = &self.tls_identity {
                let files = TlsFiles {
                    client_certificate: Some(cert.clone()),
                    client_key: Some(key.clone()),
                    ..TlsFiles::default()
                };
                TlsMaterial::check_identity(&files).map_err(|why| {
                    invalid(
                        "otlp_client_identity",
                        format!("{}, {}", cert.display(), key.display()),
                        why,
                    )
                })?;
            }
        }
        for (signal, kind) in &self.exporters {
            match signal {
                Signal::Traces => c.traces_exporter = *kind,
                Signal::Metrics => c.metrics_exporter = *kind,
                Signal::Logs => c.logs_exporter = *kind,
            }
        }
        if let Some(s) = &self.sampler {
            check_sampler(s)?;
            c.sampler = s.clone();
        }
        if let Some(p) = self.propagators {
            c.propagators = p;
        }
        if let Some(level) = self.diagnostics {
            c.diagnostics = level;
        }
        if let Some(conventions) = self.rpc_conventions {
            c.rpc_conventions = conventions;
        }
        for (setting, batch, target) in [
            ("span_batch", self.span_batch, &mut c.span_batch),
            ("log_batch", self.log_batch, &mut c.log_batch),
        ] {
            if let Some(b) = batch {
                if b.max_queue_size == 0 || b.max_export_batch_size == 0 {
                    return Err(invalid(
                        setting,
                        format!("{b:?}"),
                        "queue and batch sizes must be more than zero",
                    ));
                }
                if b.max_queue_size > BatchSettings::MAX_QUEUE_SIZE {
                    return Err(invalid(
                        setting,
                        format!("{b:?}"),
                        format!(
                            "max_queue_size exceeds the maximum of {}",
                            BatchSettings::MAX_QUEUE_SIZE
                        ),
                    ));
                }
                if b.max_export_batch_size > b.max_queue_size {
                    return Err(invalid(
                        setting,
                        format!("{b:?}"),
                        "max_export_batch_size exceeds max_queue_size",
                    ));
                }
                checked(setting, b.schedule_delay)?;
                checked(setting, b.export_timeout)?;
                *target = b;
            }
        }
        if let Some(limits) = self.span_limits {
            c.span_limits = limits;
        }
        if let Some(limits) = self.log_limits {
            c.log_limits = limits;
        }
        if let Some(i) = self.metric_export_interval {
            if i.is_zero() {
                return Err(invalid(
                    "metric_export_interval",
                    format!("{i:?}"),
                    "must be more than zero",
                ));
            }
            c.metric_export_interval = checked("metric_export_interval", i)?;
        }
        if let Some(t) = self.metric_export_timeout {
            c.metric_export_timeout = checked("metric_export_timeout", t)?;
        }
        if let Some(f) = self.exemplar_filter {
            c.exemplar_filter = f;
        }
        if let Some(t) = self.metrics_temporality {
            c.metrics_temporality = t;
        }
        if let Some(f) = &self.log_filter {
            check_directives("log_filter", f, |d| {
                tracing_subscriber::EnvFilter::try_new(d).map(drop)
            })?;
            c.log_filter = f.clone();
        }
        if let Some(f) = &self.traces_filter {
            check_directives("traces_filter", f, crate::config::check_traces_directive)?;
            c.traces_filter = f.clone();
        }
        if let Some(names) = &self.json_field_names {
            c.json_field_names = names.clone();
        }
        if let Some(span_fields) = self.json_span_fields {
            c.json_span_fields = span_fields;
        }
        if let Some(on) = self.json_file_line {
            c.json_file_line = on;
        }
        if let Some(redaction) = &self.redaction {
            c.redaction = redaction.clone();
        }
        if let Some(j) = self.json_logs {
            c.json_logs = j;
        }
        if let Some(u) = self.unsampled_spans {
            c.unsampled_spans = Some(u);
        }
        if let Some(t) = &self.tail_sampling {
            c.tail_sampling = Some(t.clone());
        }
        if let Some(a) = self.metrics_addr {
            c.metrics_addr = Some(a);
        }
        if let Some(t) = self.shutdown_timeout {
            c.shutdown_timeout = checked("shutdown_timeout", t)?;
        }
        if let Some(bytes) = self.max_queue_bytes {
            if bytes == 0 {
                return Err(invalid("max_queue_bytes", bytes, "must be more than zero"));
            }
            c.max_queue_bytes = bytes;
        }
        if let Some(on) = self.span_events {
            c.span_events = on;
        }
        if let Some(on) = self.process_metrics {
            c.process_metrics = on;
        }
        if let Some(on) = self.runtime_metrics {
            c.runtime_metrics = on;
        }
        // Only sampled spans reach the tail sampler: behind a head sampler that samples
        // nothing it keeps nothing, not even the failed traces it is there for.
        if c.tail_sampling.is_some() && samples_nothing(&c.sampler) {
            c.warnings.push(format!(
                "obs: tail sampling keeps nothing: the head sampler ({:?}) samples no trace, \
                 and only sampled spans reach tail sampling; use parentbased_always_on (the \
                 default) to let tail sampling decide",
                c.sampler
            ));
        }
        Ok(c)
    }

    /// Starts telemetry: see [`crate::init`].
    pub fn init(self) -> Result<Telemetry, InitError> {
        let config = self.config()?;
        crate::telemetry::start(config, self.json_writer, None)
    }

    /// [`init`](Self::init), with `layer`, a `tracing` layer of the application's, added to
    /// the subscriber `init` installs: a console format while developing, an error
    /// tracker, `tokio-console`. Several layers go in as one with `Layer::and_then`, or as
    /// a `Vec` of boxed layers. obs's spans, logs and metrics are unchanged, and `layer`
    /// sees every span and event (`RUST_LOG` filters only obs's own log layers).
    ///
    /// Give `layer` a filter of its own with `.with_filter(..)`. A filter added as a layer
    /// of its own (a `LevelFilter` or an `EnvFilter` in `layer`) filters every layer,
    /// obs's included: a span it disables is not exported, and an event it disables
    /// reaches no log. The trace context is not lost with them: the middleware keeps a
    /// caller's trace current through a request whose span was disabled, so the handler's
    /// logs and outgoing calls still carry it.
    ///
    /// ```
    /// use obs_core::tracing_subscriber::filter::LevelFilter;
    /// use obs_core::tracing_subscriber::Layer;
    /// # struct Console;
    /// # impl<S: obs_core::tracing::Subscriber> Layer<S> for Console {}
    /// # fn main() -> Result<(), obs_core::InitError> {
    /// // With `tracing-subscriber`'s `fmt` feature: `fmt::layer().pretty()`.
    /// let console = Console.with_filter(LevelFilter::DEBUG);
    /// let telemetry = obs_core::builder()
    ///     .sdk_disabled(true)
    ///     .json_logs(false)
    ///     .init_with(console)?;
    /// # drop(telemetry);
    /// # Ok(())
    /// # }
    /// ```
    pub fn init_with<L>(self, layer: L) -> Result<Telemetry, InitError>
    where
        L: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
    {
        let config = self.config()?;
        crate::telemetry::start(config, self.json_writer, Some(Box::new(layer)))
    }
}

/// Whether `s` samples no span whatever the parent (`always_off`, `traceidratio` of 0).
fn samples_nothing(s: &Sampler) -> bool {
    match s {
        Sampler::AlwaysOff => true,
        Sampler::TraceIdRatio(r) => *r <= 0.0,
        _ => false,
    }
}

fn check_sampler(s: &Sampler) -> Result<(), InitError> {
    match s {
        Sampler::TraceIdRatio(r) if !(0.0..=1.0).contains(r) => Err(invalid(
            "sampler",
            format!("{s:?}"),
            "the ratio must be within [0, 1]",
        )),
        Sampler::ParentBased(root) => check_sampler(root),
        _ => Ok(()),
    }
}
