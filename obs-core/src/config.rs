//! Configuration from the OpenTelemetry SDK environment variables, overridden by
//! [`Builder`](crate::Builder).
//!
//! Spec: <https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/>
//! and the OTLP exporter configuration
//! (<https://opentelemetry.io/docs/specs/otel/protocol/exporter/>). An unparsable value warns
//! once on stderr, naming the variable and the value, and the default is used, as the spec
//! says; a bad value given to the [`Builder`](crate::Builder) is an
//! [`InitError`](crate::InitError) instead.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use obs_metrics::ExemplarFilter;
use obs_trace::{AttributeLimits, Propagators, RpcConventions, Sampler, SpanLimits};
use tracing_subscriber::filter::Targets;

/// OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (`grpc`), default port 4317.
    Grpc,
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`), default port 4318. The spec's default.
    HttpProtobuf,
}

impl Protocol {
    /// Case-insensitive, as the spec says enum values should be.
    fn parse(s: &str) -> Option<Protocol> {
        match s.trim().to_ascii_lowercase().as_str() {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            _ => None,
        }
    }

    fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://localhost:4317",
            Protocol::HttpProtobuf => "http://localhost:4318",
        }
    }
}

/// Payload compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// No compression (the spec's default).
    None,
    /// gzip.
    Gzip,
}

/// The aggregation temporality of pushed counters and histograms
/// (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`, from the OTLP exporter spec's
/// "Additional Environment Variable Configuration",
/// <https://opentelemetry.io/docs/specs/otel/metrics/sdk_exporters/otlp/>).
///
/// Only the metrics push follows it: `/metrics` stays cumulative, as Prometheus expects.
/// Gauges have no temporality, and up-down counters stay cumulative under every preference,
/// as the spec's table says. A *delta* point is the change since the previous export,
/// starting at that export's time (see the OTLP metrics data model, "Temporality"); a
/// series the application recorded nothing into since is left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TemporalityPreference {
    /// `cumulative`, the default: each point is the total since the series started.
    #[default]
    Cumulative,
    /// `delta`: counters and histograms are delta, the asynchronous counters too (those a
    /// [`Collector`](obs_metrics::Collector) reads at collection: `process.cpu.time`,
    /// `tokio_runtime_*_total`, obs's own pipeline counters), which are pushed every time,
    /// unchanged ones too.
    Delta,
    /// `lowmemory`: counters and histograms the application records into are delta;
    /// asynchronous counters stay cumulative (delta would make obs keep their previous
    /// values, which the preference exists to avoid).
    LowMemory,
}

impl TemporalityPreference {
    /// Case-insensitive, as the spec says enum values should be.
    fn parse(s: &str) -> Option<TemporalityPreference> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cumulative" => Some(TemporalityPreference::Cumulative),
            "delta" => Some(TemporalityPreference::Delta),
            "lowmemory" => Some(TemporalityPreference::LowMemory),
            _ => None,
        }
    }
}

/// Where one signal goes (`OTEL_{TRACES,METRICS,LOGS}_EXPORTER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExporterKind {
    /// OTLP to the configured endpoint (default).
    Otlp,
    /// OTLP/JSON lines on stdout, for debugging (`console`, or `otlp/stdout`: the same
    /// lines are the OTLP File exporter's format).
    Console,
    /// Not exported.
    None,
}

/// The three OpenTelemetry signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// All three, in shutdown order (traces first: their export may log).
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

    /// `traces`, `metrics` or `logs`, as in variable names, URL paths and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// What the signal's items are called in messages: `spans`, `log records`, `metric
    /// points`.
    pub(crate) fn items(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric points",
            Signal::Logs => "log records",
        }
    }

    fn upper(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
            Signal::Logs => "LOGS",
        }
    }
}

/// The resolved OTLP settings of one signal.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpSettings {
    /// Full URL: for HTTP, the base endpoint with `/v1/{signal}` appended, or the
    /// per-signal endpoint as given (the root path `/` if it has none, as the spec says);
    /// for gRPC, the server's URL (a path in it is not used: the calls go to the collector's
    /// service paths, `/opentelemetry.proto.collector.*`; from a variable, it is warned
    /// about). A port that is not a number from 0 to 65535 is refused. Credentials in it
    /// (`http://user:password@host`) are sent as HTTP Basic authorization, unless `headers`
    /// has an `Authorization`, and are withheld from warnings and errors. A gRPC endpoint
    /// variable given as `host:port` gets `https://`, or `http://` under
    /// `OTEL_EXPORTER_OTLP_INSECURE=true`, as the OTLP exporter spec says.
    pub endpoint: String,
    /// Transport.
    pub protocol: Protocol,
    /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`), e.g. an API key; each a valid
    /// HTTP header name and value, none of those obs sets for the body (`Content-Type`,
    /// `Content-Length`, `Content-Encoding`, `Transfer-Encoding`). Over gRPC a name ending
    /// in `-bin` is binary metadata: the value's bytes go base64-encoded, as gRPC clients
    /// send any value under such a name.
    pub headers: Vec<(String, String)>,
    /// Per-export timeout, retries included. Default 10 s. Zero means no limit (the spec's
    /// Timeout type): a retryable failure is retried until it succeeds, and only shutdown's
    /// own deadline ends the wait.
    pub timeout: Duration,
    /// Payload compression. Default none.
    pub compression: Compression,
    /// The largest request sent, in bytes of encoded protobuf before compression. A larger
    /// batch is cut into several requests (each keeping its resource and scopes); a single
    /// span, log record or metric point larger than this is dropped and counted
    /// (`obs_telemetry_dropped_total{reason="too_large"}`). Default
    /// [`OtlpSettings::DEFAULT_MAX_REQUEST_BYTES`].
    pub max_request_bytes: usize,
    /// TLS for an `https://` endpoint (feature `tls`); unused for `http://`.
    pub tls: TlsFiles,
}

/// The PEM files of TLS to an `https://` endpoint (obs-core's `tls` feature), read when
/// [`init`](crate::init) runs. The spec's "Certificate File", "Client Certificate File" and
/// "Client key file"; an `http://` endpoint ignores them, as the spec says they "should only
/// be used for a secure connection".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificates that verify the receiver (`OTEL_EXPORTER_OTLP_CERTIFICATE`), in
    /// place of the system's trusted roots, which verify it when this is unset.
    pub certificate: Option<PathBuf>,
    /// The client certificate (chain) for mutual TLS
    /// (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`); set together with `client_key`.
    pub client_certificate: Option<PathBuf>,
    /// The client certificate's private key (`OTEL_EXPORTER_OTLP_CLIENT_KEY`): PKCS#8, PKCS#1
    /// or SEC1.
    pub client_key: Option<PathBuf>,
}

impl OtlpSettings {
    /// 4 MiB: the largest message a gRPC server takes by default (grpc-go's and tonic's,
    /// so the OpenTelemetry Collector's and rotel's), which refuses a whole request over it.
    /// The limit applies to the message after decompression, so it holds with gzip too.
    pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
}

/// Batch processor settings (`OTEL_BSP_*` for spans, `OTEL_BLRP_*` for logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchSettings {
    /// Delay between two consecutive exports when the batch is not full. Zero exports
    /// whatever is queued at once (the worker still sleeps while the queue is empty).
    pub schedule_delay: Duration,
    /// Longest time one export may take; zero means no limit.
    pub export_timeout: Duration,
    /// Items queued before new ones are dropped (and counted); at most
    /// [`BatchSettings::MAX_QUEUE_SIZE`].
    pub max_queue_size: usize,
    /// Most items in one export request; at most `max_queue_size`.
    pub max_export_batch_size: usize,
}

impl BatchSettings {
    /// The largest `max_queue_size`: 2^20 items, 512 times the spec's default. The queue's
    /// slots are allocated when `init` starts it (at most 256 bytes each on 64-bit targets:
    /// 248 per span, 192 per log record), so this bounds that allocation at 256 MiB; a
    /// larger value, such as `2147483647` meant as "unbounded", asked for hundreds of GiB
    /// and aborted the process.
    pub const MAX_QUEUE_SIZE: usize = 1 << 20;

    /// Spec defaults for spans: 5000 ms, 30000 ms, 2048, 512.
    pub const SPANS: BatchSettings = BatchSettings {
        schedule_delay: Duration::from_millis(5000),
        export_timeout: Duration::from_millis(30000),
        max_queue_size: 2048,
        max_export_batch_size: 512,
    };
    /// Spec defaults for log records: 1000 ms, 30000 ms, 2048, 512.
    pub const LOGS: BatchSettings = BatchSettings {
        schedule_delay: Duration::from_millis(1000),
        export_timeout: Duration::from_millis(30000),
        max_queue_size: 2048,
        max_export_batch_size: 512,
    };
}

/// Everything `init` needs, resolved from the environment and the builder.
#[derive(Clone, Debug)]
pub struct Config {
    /// `OTEL_SDK_DISABLED`: no exporter runs, the Prometheus one of
    /// `OTEL_METRICS_EXPORTER=prometheus` neither (`OBS_METRICS_ADDR`, obs's own listener,
    /// still serves `/metrics`); ids are still made and propagated.
    pub sdk_disabled: bool,
    /// `service.name` set in code (the builder's `service_name`, else its `service.name`
    /// resource attribute), else `OTEL_SERVICE_NAME`. Wins over `resource_attributes`.
    pub service_name: Option<String>,
    /// `service.version`.
    pub service_version: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES` and builder attributes, in order (later wins, even with an
    /// empty value, as the resource spec's Merge says).
    pub resource_attributes: Vec<(String, String)>,
    /// Exporter per signal.
    pub traces_exporter: ExporterKind,
    /// Exporter per signal.
    pub metrics_exporter: ExporterKind,
    /// Exporter per signal.
    pub logs_exporter: ExporterKind,
    /// OTLP settings per signal.
    pub traces_otlp: OtlpSettings,
    /// OTLP settings per signal.
    pub metrics_otlp: OtlpSettings,
    /// OTLP settings per signal.
    pub logs_otlp: OtlpSettings,
    /// `OTEL_TRACES_SAMPLER` (+ `_ARG`); `parentbased_always_on` by default. A Jaeger remote
    /// sampler's strategy is polled by `init` (see [`Sampler::from_spec_name`]).
    pub sampler: Sampler,
    /// `OTEL_PROPAGATORS`: which formats (W3C Trace Context and Baggage, B3) every obs
    /// middleware reads and writes ([`obs_trace::Propagators`], set process-wide by `init`).
    /// The two W3C ones by default.
    pub propagators: Propagators,
    /// `OTEL_SEMCONV_STABILITY_OPT_IN`'s `rpc` (the stable RPC conventions) or `rpc/dup`
    /// (both): what obs-tonic's layers emit ([`obs_trace::RpcConventions`], set
    /// process-wide by `init`, read by each layer when it is built). The old ones by
    /// default.
    pub rpc_conventions: RpcConventions,
    /// `OTEL_BSP_*`.
    pub span_batch: BatchSettings,
    /// `OTEL_BLRP_*`.
    pub log_batch: BatchSettings,
    /// `OTEL_SPAN_*_LIMIT`, `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT` and the general
    /// `OTEL_ATTRIBUTE_*_LIMIT`: kept by the span layer as spans record
    /// ([`SpanLayer::with_limits`](obs_trace::SpanLayer::with_limits)), and applied again
    /// when spans are converted for export.
    pub span_limits: SpanLimits,
    /// `OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT` and `OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT`,
    /// else the general `OTEL_ATTRIBUTE_*_LIMIT`: applied as log records are made
    /// ([`OtlpLogLayer::with_limits`](obs_log::OtlpLogLayer::with_limits)), before they are
    /// queued, and again when they are converted for export.
    pub log_limits: AttributeLimits,
    /// `OTEL_METRIC_EXPORT_INTERVAL`, default 60 s; more than zero.
    pub metric_export_interval: Duration,
    /// `OTEL_METRIC_EXPORT_TIMEOUT`, default 30 s; zero means no limit.
    pub metric_export_timeout: Duration,
    /// `OTEL_METRICS_EXEMPLAR_FILTER` (`always_on`, `always_off`, `trace_based`): which
    /// measurements become exemplars, process-wide. Default `trace_based`, as the spec says.
    pub exemplar_filter: ExemplarFilter,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (`cumulative`, `delta`,
    /// `lowmemory`), default cumulative: the temporality of pushed metrics.
    pub metrics_temporality: TemporalityPreference,
    /// `RUST_LOG`: which events become log lines and OTLP log records. Default `info`. A bad
    /// directive is left out with a warning and the others kept, as
    /// `EnvFilter::from_env` does.
    pub log_filter: String,
    /// `OBS_TRACES_FILTER`: which `tracing` spans become OpenTelemetry spans, as
    /// `target=level` directives (`RUST_LOG` syntax without span and field directives).
    /// Default `info`, independent of `RUST_LOG`, so quieting logs never loses a trace. A bad
    /// directive is left out with a warning, as in `RUST_LOG`.
    pub traces_filter: String,
    /// `OBS_LOG_FORMAT`: `json` (default) writes JSON lines (to stdout, or the writer of
    /// [`Builder::json_writer`](crate::Builder::json_writer)); `none` writes none.
    pub json_logs: bool,
    /// The key names of the JSON lines (a schema: obs's default, ECS, the OTel log data
    /// model, Loki). Default [`obs_log::FieldNames::default`].
    pub json_field_names: obs_log::FieldNames,
    /// Where the JSON lines put the fields of the spans around an event. Default
    /// [`obs_log::SpanFields::default`].
    pub json_span_fields: obs_log::SpanFields,
    /// Whether the JSON lines carry each event's source `file` and `line`. Default `false`.
    pub json_file_line: bool,
    /// The fields whose values JSON lines, OTLP log records and exported spans show as
    /// `[REDACTED]` ([`Builder::redaction`](crate::Builder::redaction)). Default
    /// [`obs_log::Redaction::default`].
    pub redaction: obs_log::Redaction,
    /// `OBS_UNSAMPLED_SPANS`: `skip` creates no span inside an unsampled trace but the
    /// SERVER and CLIENT ones; `keep` creates them. Unset (`None`): `keep` when JSON log
    /// lines are written (they show every span's fields), the application adds a layer, or
    /// OTLP log records are filtered by `RUST_LOG` span directives (`[request]=debug`),
    /// `skip` otherwise. See [`obs_trace::UnsampledSpans`].
    pub unsampled_spans: Option<obs_trace::UnsampledSpans>,
    /// `OBS_TAIL_SAMPLING_LATENCY_MS` (and `OBS_TAIL_SAMPLING_RATIO`, the baseline keep
    /// ratio): tail sampling, off by default. When set, the spans of each local trace wait
    /// until its root ends and are exported only if one failed, the root took at least
    /// that long, or the trace id falls in the ratio. See [`obs_trace::TailSamplingSink`].
    pub tail_sampling: Option<obs_trace::TailSampling>,
    /// `OBS_SPAN_EVENTS`: whether `tracing` events inside a sampled span are also recorded
    /// as its span events (those `OBS_TRACES_FILTER` lets through). Default `false`: events
    /// are log records already.
    pub span_events: bool,
    /// `OBS_METRICS_ADDR`: where a standalone `/metrics` listener runs (`127.0.0.1:9464`, or a
    /// host name with a port, `localhost:9464`, resolved by `init`); off by default. With
    /// `OTEL_METRICS_EXPORTER=prometheus` (and no metrics exporter chosen in code) and no
    /// `OBS_METRICS_ADDR`, `OTEL_EXPORTER_PROMETHEUS_HOST`:`OTEL_EXPORTER_PROMETHEUS_PORT`
    /// (`localhost:9464`).
    pub metrics_addr: Option<SocketAddr>,
    /// How long `shutdown` waits for all three signals together. Default 5 s.
    pub shutdown_timeout: Duration,
    /// The most bytes the large spans and log records (over 4 KiB each) in the span queue,
    /// and in the log record queue, may hold, beside their `max_queue_size` in items: one
    /// that would take its queue past this is dropped and counted as on a full queue.
    /// Default [`Config::DEFAULT_MAX_QUEUE_BYTES`].
    pub max_queue_bytes: usize,
    /// `OBS_PROCESS_METRICS`: `process_*` metrics (CPU, memory, file descriptors, threads)
    /// from `/proc`. Default `true`.
    pub process_metrics: bool,
    /// `OBS_RUNTIME_METRICS`: `tokio_runtime_*` metrics of the runtime `init` is called in.
    /// Default `true`.
    pub runtime_metrics: bool,
    /// `OTEL_LOG_LEVEL`, the level of the SDK's internal logger: which of obs's own
    /// diagnostics reach stderr ([`obs_trace::diagnostics::Level`], set process-wide by
    /// `init`). Default `info`, which shows errors and warnings.
    pub diagnostics: obs_trace::diagnostics::Level,
    /// Problems found in the environment, each warned once by `init`.
    pub warnings: Vec<String>,
}

/// The general `OTEL_EXPORTER_OTLP_*` values that are set and valid.
struct OtlpGeneral {
    protocol: Option<Protocol>,
    endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_INSECURE`, if set.
    insecure: Option<bool>,
    headers: Option<Vec<(String, String)>>,
    timeout: Option<Duration>,
    compression: Option<Compression>,
    tls: TlsFiles,
}

/// Builder settings that variables depend on: the protocol (the default endpoints follow
/// it), whether the SDK is disabled and the metrics exporter (the Prometheus exporter's
/// listener follows both), and which signals' exporters and endpoints are set, and whether
/// the `/metrics` address is (their variables are then not read).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SetInCode {
    pub(crate) protocol: Option<Protocol>,
    pub(crate) sdk_disabled: Option<bool>,
    /// Each signal's exporter chosen in code, indexed by `Signal as usize`.
    pub(crate) exporters: [Option<ExporterKind>; 3],
    /// Whether each signal's endpoint is set in code, indexed by `Signal as usize`.
    pub(crate) endpoints: [bool; 3],
    /// Whether the `/metrics` address is set in code.
    pub(crate) metrics_addr: bool,
}

impl SetInCode {
    /// Whether `signal`'s endpoint is set in code.
    fn endpoint(&self, signal: Signal) -> bool {
        self.endpoints[signal as usize]
    }
}

/// What replaces a bad value with no more general variable behind it.
const DEFAULT: &str = "the default";

/// Where a listener for `host` (a name, or an IP address, an IPv6 one bracketed or not) and
/// `port` binds: an IPv4 address of the name if it has one, as `localhost` is where scrapers
/// usually look; `None` if it does not resolve.
fn resolve_listen_addr(host: &str, port: u16) -> Option<SocketAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let resolved: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(bare, port))
        .map(Iterator::collect)
        .unwrap_or_default();
    resolved
        .iter()
        .find(|a| a.is_ipv4())
        .or(resolved.first())
        .copied()
}

/// Reads `name`; empty counts as unset, per the spec.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Checks one directive of the traces filter (`OBS_TRACES_FILTER`,
/// [`Builder::traces_filter`](crate::Builder::traces_filter)): `target=level`, as `Targets`
/// parses it. `RUST_LOG`'s span (`[span]`) and field (`{field}`) directives are refused by
/// name: `Targets` reads most of them as a target no span has, which would match nothing,
/// silently. (No Rust module path holds a `[` or a `{`.)
pub(crate) fn check_traces_directive(directive: &str) -> Result<(), String> {
    if directive.contains(['[', '{']) {
        return Err(
            "span and field directives ([span], {field}) are for the log filter; \
                    spans are traced by target and level"
                .to_owned(),
        );
    }
    directive
        .parse::<Targets>()
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The directives of a comma-separated list (split as `EnvFilter` and `Targets` split
/// it) that `check` accepts, in order, and those it rejects, with why.
pub(crate) fn split_directives(
    list: &str,
    check: impl Fn(&str) -> Result<(), String>,
) -> (Vec<&str>, Vec<(&str, String)>) {
    let mut kept = Vec::new();
    let mut bad = Vec::new();
    for directive in list.split(',') {
        match check(directive) {
            Ok(()) => kept.push(directive),
            Err(e) => bad.push((directive, e)),
        }
    }
    (kept, bad)
}

struct EnvReader<'a> {
    get: Lookup<'a>,
    warnings: Vec<String>,
    in_code: SetInCode,
    /// `OTEL_METRICS_EXPORTER=prometheus`: metrics are scraped, not pushed.
    prometheus: bool,
}

impl EnvReader<'_> {
    fn var(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn warn(&mut self, name: &str, value: &str, why: &str) {
        self.warn_using(name, value, why, DEFAULT);
    }

    /// Like [`EnvReader::warn`], for a value replaced by `using` rather than the default.
    fn warn_using(&mut self, name: &str, value: &str, why: &str, using: &str) {
        let warning = format!("obs: ignoring {name}={value:?}: {why}; using {using}");
        // A general variable's value is checked again for each signal that uses it.
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    /// A duration in milliseconds: a non-negative integer; `None` if unset or unparsable
    /// (warned about as replaced by `using`).
    fn millis_opt(&mut self, name: &str, using: &str) -> Option<Duration> {
        let v = self.var(name)?;
        match v.parse::<u64>() {
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => {
                self.warn_using(name, &v, "not a whole number of milliseconds", using);
                None
            }
        }
    }

    /// Like [`EnvReader::millis_opt`], with `default` when unset or unparsable.
    fn millis(&mut self, name: &str, default: Duration) -> Duration {
        self.millis_opt(name, DEFAULT).unwrap_or(default)
    }

    /// Like [`EnvReader::millis`] for a period, which zero cannot be (it would never end).
    fn period(&mut self, name: &str, default: Duration) -> Duration {
        match self.millis_opt(name, DEFAULT) {
            Some(d) if d.is_zero() => {
                let v = self.var(name).unwrap_or_default();
                self.warn(name, &v, "a period must be more than zero");
                default
            }
            d => d.unwrap_or(default),
        }
    }

    fn tail_sampling(&mut self) -> Option<obs_trace::TailSampling> {
        const LATENCY: &str = "OBS_TAIL_SAMPLING_LATENCY_MS";
        const RATIO: &str = "OBS_TAIL_SAMPLING_RATIO";
        let ratio = self.var(RATIO);
        let Some(latency) = self.var(LATENCY) else {
            if let Some(v) = ratio {
                self.warn(RATIO, &v, "ignored without OBS_TAIL_SAMPLING_LATENCY_MS");
            }
            return None;
        };
        let Ok(ms) = latency.parse::<u64>() else {
            self.warn(LATENCY, &latency, "not a whole number of milliseconds");
            return None;
        };
        let policy = obs_trace::TailSampling::new(Duration::from_millis(ms));
        Some(match ratio {
            None => policy,
            Some(v) => match v.parse::<f64>() {
                Ok(x) if (0.0..=1.0).contains(&x) => policy.with_keep_ratio(x),
                _ => {
                    self.warn(RATIO, &v, "not a number from 0 to 1");
                    policy
                }
            },
        })
    }

    /// `OTEL_PROPAGATORS`: which of W3C Trace Context (`tracecontext`), W3C Baggage
    /// (`baggage`) and B3 (`b3`: single header, `b3multi`: `X-B3-*` headers) are
    /// propagated, or `none`. Where `tracecontext` stands against `b3`/`b3multi` decides
    /// which wins when both come ([`Propagators::trace_context_last`]). The other formats
    /// the spec names (`jaeger`, `xray`, `ottrace`) are not implemented: they are warned
    /// about, and a list with nothing else in it is ignored (the default used), as an enum
    /// value not recognized is.
    fn propagators(&mut self) -> Propagators {
        const NAME: &str = "OTEL_PROPAGATORS";
        let Some(v) = self.var(NAME) else {
            return Propagators::W3C;
        };
        let mut chosen = Propagators::NONE;
        let (mut none, mut unsupported) = (false, Vec::new());
        for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.to_ascii_lowercase().as_str() {
                "tracecontext" => {
                    chosen.trace_context = true;
                    chosen.trace_context_last = true;
                }
                "baggage" => chosen.baggage = true,
                "b3" => {
                    chosen.b3 = true;
                    chosen.trace_context_last = false;
                }
                "b3multi" => {
                    chosen.b3_multi = true;
                    chosen.trace_context_last = false;
                }
                "none" => none = true,
                _ => unsupported.push(item),
            }
        }
        // The order only matters between the two; without both, one value for equality.
        chosen.trace_context_last &= chosen.b3 || chosen.b3_multi;
        let mut why = Vec::new();
        if !unsupported.is_empty() {
            why.push(format!("{} not supported", unsupported.join(", ")));
        }
        if none && chosen != Propagators::NONE {
            why.push("none listed with other propagators".to_owned());
        }
        if chosen == Propagators::NONE && !none {
            chosen = Propagators::W3C;
        }
        if !why.is_empty() {
            self.warn_using(NAME, &v, &why.join("; "), &propagator_names(chosen));
        }
        chosen
    }

    /// `OTEL_LOG_LEVEL`. The spec gives its type (an enum, so case-insensitive) and default
    /// (`info`) but no values; these are the ones the SDKs accept (JavaScript's `none` ...
    /// `all`, the syslog-like names of the others). obs reports nothing below a warning, so
    /// every level from `warn` up shows the same.
    fn diagnostics(&mut self) -> obs_trace::diagnostics::Level {
        use obs_trace::diagnostics::Level;
        const NAME: &str = "OTEL_LOG_LEVEL";
        let Some(v) = self.var(NAME) else {
            return Level::default();
        };
        match v.to_ascii_lowercase().as_str() {
            "none" | "off" => Level::Off,
            "fatal" | "critical" | "error" => Level::Error,
            "warn" | "warning" | "info" | "debug" | "trace" | "verbose" | "all" => Level::Warn,
            _ => {
                self.warn_using(
                    NAME,
                    &v,
                    "not one of none, error, warn, info, debug, trace, verbose, all",
                    "info",
                );
                Level::default()
            }
        }
    }

    /// `OTEL_SEMCONV_STABILITY_OPT_IN`: a comma-separated list of categories, each opting in
    /// to a stable version of a group of semantic conventions. The RPC conventions
    /// (docs/rpc/README.md) define `rpc` (the stable conventions only) and `rpc/dup` (old
    /// and stable), "`rpc/dup` has higher precedence than `rpc` in case both values are
    /// present"; neither leaves the old ones. `http` and `http/dup` are the HTTP
    /// conventions' values, taken silently: obs-tower emits only the stable HTTP
    /// conventions, as it always has. Other values are warned about and ignored.
    fn rpc_conventions(&mut self) -> RpcConventions {
        const NAME: &str = "OTEL_SEMCONV_STABILITY_OPT_IN";
        let Some(v) = self.var(NAME) else {
            return RpcConventions::Old;
        };
        let (mut stable, mut dup, mut unknown) = (false, false, Vec::new());
        for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.to_ascii_lowercase().as_str() {
                "rpc" => stable = true,
                "rpc/dup" => dup = true,
                "http" | "http/dup" => {}
                _ => unknown.push(item),
            }
        }
        let chosen = match (dup, stable) {
            (true, _) => RpcConventions::Both,
            (false, true) => RpcConventions::Stable,
            (false, false) => RpcConventions::Old,
        };
        if !unknown.is_empty() {
            let why = format!(
                "{} not known to obs (it knows rpc, rpc/dup, http, http/dup)",
                unknown.join(", ")
            );
            let using = match chosen {
                RpcConventions::Old => "the old RPC conventions",
                RpcConventions::Stable => "rpc",
                RpcConventions::Both => "rpc/dup",
            };
            self.warn_using(NAME, &v, &why, using);
        }
        chosen
    }

    /// `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION` (OTLP exporter spec):
    /// obs's histograms have explicit buckets, the spec's default
    /// `explicit_bucket_histogram`, and no exponential ones, so any other value is warned
    /// about rather than silently ignored.
    fn histogram_aggregation(&mut self) {
        const NAME: &str = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION";
        let Some(v) = self.var(NAME) else { return };
        let why = match v.to_ascii_lowercase().as_str() {
            "explicit_bucket_histogram" => return,
            "base2_exponential_bucket_histogram" => "exponential histograms are not supported",
            _ => "not one of explicit_bucket_histogram, base2_exponential_bucket_histogram",
        };
        self.warn_using(NAME, &v, why, "explicit_bucket_histogram");
    }

    /// The variables of the SDK environment-variable spec that obs does not implement, each
    /// warned about when set: ignored silently, each would leave the user believing it in
    /// force. `OTEL_CONFIG_FILE` most of all, since the spec has its file take precedence
    /// over every other variable ("Declarative configuration"); obs reads the variables.
    fn unsupported(&mut self) {
        const ENV: &str = "the environment variables and the builder's settings";
        const UNSUPPORTED: [(&str, &str, &str); 5] = [
            (
                "OTEL_CONFIG_FILE",
                "declarative configuration files are not supported",
                ENV,
            ),
            (
                "OTEL_EXPERIMENTAL_CONFIG_FILE",
                "declarative configuration files are not supported",
                ENV,
            ),
            (
                "OTEL_ENTITIES",
                "entities are not supported (their attributes can go in \
                 OTEL_RESOURCE_ATTRIBUTES)",
                "no entities",
            ),
            // The spec's obsolete names of the per-signal `_INSECURE` variables.
            (
                "OTEL_EXPORTER_OTLP_SPAN_INSECURE",
                "an obsolete name, not supported",
                "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
            ),
            (
                "OTEL_EXPORTER_OTLP_METRIC_INSECURE",
                "an obsolete name, not supported",
                "OTEL_EXPORTER_OTLP_METRICS_INSECURE",
            ),
        ];
        for (name, why, using) in UNSUPPORTED {
            if let Some(v) = self.var(name) {
                self.warn_using(name, &v, why, using);
            }
        }
    }

    /// A limit: a non-negative integer (zero allowed: nothing kept); `None` if unset or
    /// unparsable.
    fn limit(&mut self, name: &str) -> Option<usize> {
        let v = self.var(name)?;
        match v.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.warn(name, &v, "not a non-negative whole number");
                None
            }
        }
    }

    /// The span and log record limits: each model-specific variable that is set and valid,
    /// else the general one, else the spec's default.
    fn limits(&mut self) -> (SpanLimits, AttributeLimits) {
        let count = self.limit("OTEL_ATTRIBUTE_COUNT_LIMIT");
        let value_length = self.limit("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT");
        let mut attributes = |prefix: &str| AttributeLimits {
            count: self
                .limit(&format!("OTEL_{prefix}_ATTRIBUTE_COUNT_LIMIT"))
                .or(count)
                .unwrap_or(AttributeLimits::DEFAULT.count),
            value_length: self
                .limit(&format!("OTEL_{prefix}_ATTRIBUTE_VALUE_LENGTH_LIMIT"))
                .or(value_length),
        };
        let spans = attributes("SPAN");
        let logs = attributes("LOGRECORD");
        let spans = SpanLimits {
            attributes: spans,
            event_count: self
                .limit("OTEL_SPAN_EVENT_COUNT_LIMIT")
                .unwrap_or(SpanLimits::DEFAULT.event_count),
            event_attribute_count: self
                .limit("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT")
                .or(count)
                .unwrap_or(SpanLimits::DEFAULT.event_attribute_count),
            link_count: self
                .limit("OTEL_SPAN_LINK_COUNT_LIMIT")
                .unwrap_or(SpanLimits::DEFAULT.link_count),
            link_attribute_count: self
                .limit("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT")
                .or(count)
                .unwrap_or(SpanLimits::DEFAULT.link_attribute_count),
        };
        (spans, logs)
    }

    fn positive(&mut self, name: &str, default: usize) -> usize {
        match self.var(name) {
            None => default,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    self.warn(name, &v, "not a positive whole number");
                    default
                }
            },
        }
    }

    /// A directive list, each directive checked by `check` (which says what is wrong with
    /// one); `info` when unset. A bad directive is left out with a warning naming it, and
    /// the others are kept, as `EnvFilter::parse_lossy` does (which `EnvFilter::from_env`
    /// uses): `RUST_LOG=info,my_crate=debug,bad=[[[` keeps `my_crate=debug`. `info` when
    /// none is good.
    fn directives(
        &mut self,
        name: &str,
        what: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> String {
        let Some(v) = self.var(name) else {
            return "info".to_owned();
        };
        let (kept, bad) = split_directives(&v, check);
        if bad.is_empty() {
            return v;
        }
        let using = if kept.iter().all(|d| d.trim().is_empty()) {
            "info".to_owned()
        } else {
            kept.join(",")
        };
        for (directive, e) in bad {
            let warning = format!(
                "obs: ignoring the directive {directive:?} of {name}: not {what} ({e}); \
                 using {name}={using:?}"
            );
            if !self.warnings.contains(&warning) {
                self.warnings.push(warning);
            }
        }
        using
    }

    /// `true` or `false`, case-insensitive.
    fn boolean(&mut self, name: &str, default: bool) -> bool {
        match self.var(name) {
            None => default,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                self.warn(name, &v, "not a boolean (true, false)");
                default
            }
        }
    }

    fn exporter(&mut self, signal: Signal) -> ExporterKind {
        // An exporter chosen in code makes the variable irrelevant (for metrics, the
        // Prometheus listener it may ask for included): not read, so not warned about.
        if let Some(kind) = self.in_code.exporters[signal as usize] {
            return kind;
        }
        let name = format!("OTEL_{}_EXPORTER", signal.upper());
        let Some(v) = self.var(&name) else {
            return ExporterKind::Otlp;
        };
        let supported = if signal == Signal::Metrics {
            "otlp, prometheus, console, otlp/stdout, none"
        } else {
            "otlp, console, otlp/stdout, none"
        };
        // The value is a comma-separated list; obs runs one exporter per signal, so the first
        // known value wins and the others are reported, once the one in use is known (a
        // repeat of it is no other one).
        let mut chosen: Option<(ExporterKind, String)> = None;
        let mut left_out = Vec::new();
        for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let lower = item.to_ascii_lowercase();
            let kind = match lower.as_str() {
                "otlp" => Some(ExporterKind::Otlp),
                // `otlp/stdout` (the spec's in-development OTLP File exporter to stdout) is
                // what `console` prints: OTLP/JSON lines, one request per batch.
                "console" | "logging" | "otlp/stdout" => Some(ExporterKind::Console),
                "none" => Some(ExporterKind::None),
                // The spec's pull exporter: nothing pushed, `/metrics` served
                // (`OTEL_EXPORTER_PROMETHEUS_HOST`/`_PORT`).
                "prometheus" if signal == Signal::Metrics => Some(ExporterKind::None),
                _ => None,
            };
            match (kind, &chosen) {
                (Some(k), None) => {
                    self.prometheus = lower == "prometheus";
                    chosen = Some((k, lower));
                }
                (Some(_), Some((_, first))) if *first == lower => {}
                (Some(_), Some(_)) => {
                    left_out.push((item, "only one exporter per signal is supported".to_owned()))
                }
                (None, _) => {
                    left_out.push((item, format!("not a supported exporter ({supported})")))
                }
            }
        }
        // The spec keeps `logging` "for backwards compatibility" only: it works, and says so.
        if chosen.as_ref().is_some_and(|(_, first)| first == "logging") {
            self.warnings.push(format!(
                "obs: {name}=logging is the spec's deprecated name of console, which it \
                 prints to; set console instead"
            ));
        }
        let using = chosen.as_ref().map_or(DEFAULT, |(_, first)| first.as_str());
        for (item, why) in left_out {
            self.warn_using(&name, item, &why, using);
        }
        chosen.map_or(ExporterKind::Otlp, |(kind, _)| kind)
    }

    /// Where the Prometheus exporter serves `/metrics`: `OTEL_EXPORTER_PROMETHEUS_HOST`
    /// (default `localhost`) and `OTEL_EXPORTER_PROMETHEUS_PORT` (default 9464), as the SDK
    /// environment-variable spec names them. A host name is resolved once, here; an IPv4
    /// address is preferred, as `localhost` is where scrapers usually look.
    fn prometheus_addr(&mut self) -> Option<SocketAddr> {
        const HOST: &str = "OTEL_EXPORTER_PROMETHEUS_HOST";
        const PORT: &str = "OTEL_EXPORTER_PROMETHEUS_PORT";
        let port = match self.var(PORT) {
            None => 9464,
            Some(v) => v.parse::<u16>().unwrap_or_else(|_| {
                self.warn_using(PORT, &v, "not a port number", "9464");
                9464
            }),
        };
        let host = self.var(HOST).unwrap_or_else(|| "localhost".to_owned());
        let addr = resolve_listen_addr(&host, port);
        if addr.is_none() {
            self.warn_using(HOST, &host, "not a host name or address", "localhost");
            return Some(SocketAddr::from(([127, 0, 0, 1], port)));
        }
        addr
    }

    /// `OBS_METRICS_ADDR`: a socket address (`127.0.0.1:9464`, `[::1]:9464`) or, like
    /// `OTEL_EXPORTER_PROMETHEUS_HOST`, a host name with a port (`localhost:9464`), resolved
    /// once, here. `None` (warned about: no listener runs) if it is neither.
    fn metrics_addr(&mut self, value: &str) -> Option<SocketAddr> {
        if let Ok(addr) = value.parse::<SocketAddr>() {
            return Some(addr);
        }
        let addr = value
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
            .filter(|(host, _)| !host.is_empty())
            .and_then(|(host, port)| resolve_listen_addr(host, port));
        if addr.is_none() {
            self.warn_using(
                "OBS_METRICS_ADDR",
                value,
                "not an address like 127.0.0.1:9464 or localhost:9464",
                "no /metrics listener",
            );
        }
        addr
    }

    /// `None` if unset or not supported (warned about as replaced by `using`).
    fn protocol(&mut self, name: &str, using: &str) -> Option<Protocol> {
        let v = self.var(name)?;
        match Protocol::parse(&v) {
            Some(p) => Some(p),
            None => {
                // A spec value that obs does not implement, said as such: the generic
                // message read as if the value were misspelt.
                let why = if v.eq_ignore_ascii_case("http/json") {
                    "OTLP/JSON (http/json) is not supported; obs sends grpc or http/protobuf"
                } else {
                    "not a supported protocol (grpc, http/protobuf)"
                };
                self.warn_using(name, &v, why, using);
                None
            }
        }
    }

    /// `None` if unset or not supported (warned about as replaced by `using`).
    fn compression(&mut self, name: &str, using: &str) -> Option<Compression> {
        let v = self.var(name)?;
        match v.to_ascii_lowercase().as_str() {
            "gzip" => Some(Compression::Gzip),
            "none" => Some(Compression::None),
            _ => {
                self.warn_using(name, &v, "not a supported compression (gzip, none)", using);
                None
            }
        }
    }

    /// Request headers. A bad member (malformed, or not a valid HTTP header) is skipped with
    /// a warning that withholds its value, and the others are kept, as other SDKs do: one
    /// typo must not drop an API key. `None`, so the general variable or the default
    /// applies, when no member is good.
    fn headers(&mut self, name: &str) -> Option<Vec<(String, String)>> {
        let v = self.var(name)?;
        let mut headers = Vec::new();
        for (place, (member, pair)) in members(&v).enumerate() {
            let checked = pair.and_then(|(k, val)| check_header(&k, &val).map(|()| (k, val)));
            match checked {
                Ok(header) => headers.push(header),
                Err(why) => {
                    // Named by place and key only: header values are credentials, and this
                    // goes to stderr, so into the logs. A member with no `=` may be a key
                    // pasted alone, so none of it is shown.
                    let shown = match member.split_once('=') {
                        Some((key, _)) => format!("key {:?}, value withheld", key.trim()),
                        None => "no '=', withheld".to_owned(),
                    };
                    self.warnings.push(format!(
                        "obs: ignoring member {} of {name} ({shown}): {why}",
                        place + 1
                    ));
                }
            }
        }
        (!headers.is_empty()).then_some(headers)
    }

    /// `None` if unset or neither a usable URL nor a scheme-less `host:port` (warned about
    /// as replaced by `using`). A `host:port` is kept as written: whether it can be used
    /// depends on the signal's protocol ([`EnvReader::with_scheme`]).
    fn endpoint(&mut self, name: &str, using: &str) -> Option<String> {
        let v = self.var(name)?;
        if is_host_port(&v) {
            return Some(v);
        }
        match validate_endpoint(&v) {
            Ok(()) => Some(v),
            Err(why) => {
                self.warn_using(name, &shown_url(&v), &why, using);
                None
            }
        }
    }

    /// The endpoint `v` read from `name`, with a scheme. The OTLP exporter spec has the gRPC
    /// endpoint take "any form allowed by the underlying gRPC client" (gRPC's `host:port`,
    /// as Go's and Python's exporters do) and the `insecure` option apply only to such a
    /// scheme-less one: `http://` if `insecure`, else `https://`. OTLP/HTTP "always uses the
    /// scheme provided", so there a `host:port` is warned about as replaced by `using`.
    fn with_scheme(
        &mut self,
        name: &str,
        v: String,
        protocol: Protocol,
        insecure: (bool, &str),
        using: &str,
    ) -> Option<String> {
        if !is_host_port(&v) {
            return Some(v);
        }
        let (insecure, insecure_name) = insecure;
        if protocol != Protocol::Grpc {
            self.warn_using(
                name,
                &v,
                "over http/protobuf the URL must start with http:// or https:// (only \
                 OTLP/gRPC takes a host:port)",
                using,
            );
            return None;
        }
        let url = format!("{}://{v}", if insecure { "http" } else { "https" });
        match validate_endpoint(&url) {
            Ok(()) => Some(url),
            Err(why) => {
                let why = format!(
                    "without a scheme, OTLP/gRPC connects over TLS unless {insecure_name}=true, \
                     and {why}"
                );
                self.warn_using(name, &v, &why, using);
                None
            }
        }
    }

    /// The general `OTEL_EXPORTER_OTLP_*` variables, read once for all three signals so that
    /// a bad value is warned about once, not once per signal.
    fn otlp_general(&mut self) -> OtlpGeneral {
        OtlpGeneral {
            // A protocol set in code makes the variables irrelevant.
            protocol: match self.in_code.protocol {
                Some(_) => None,
                None => self.protocol("OTEL_EXPORTER_OTLP_PROTOCOL", DEFAULT),
            },
            // Nor is it read when code sets every signal's endpoint.
            endpoint: if self.in_code.endpoints.iter().all(|&set| set) {
                None
            } else {
                self.endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", DEFAULT)
            },
            insecure: self.insecure("OTEL_EXPORTER_OTLP_INSECURE"),
            headers: self.headers("OTEL_EXPORTER_OTLP_HEADERS"),
            timeout: self.millis_opt("OTEL_EXPORTER_OTLP_TIMEOUT", DEFAULT),
            compression: self.compression("OTEL_EXPORTER_OTLP_COMPRESSION", DEFAULT),
            tls: TlsFiles {
                certificate: self.path("OTEL_EXPORTER_OTLP_CERTIFICATE"),
                client_certificate: self.path("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
                client_key: self.path("OTEL_EXPORTER_OTLP_CLIENT_KEY"),
            },
        }
    }

    /// An `_INSECURE` variable: `true` or `false` if set (a value that is neither is
    /// warned about and read as `false`, the spec's rule for booleans).
    fn insecure(&mut self, name: &str) -> Option<bool> {
        self.var(name)?;
        Some(self.boolean(name, false))
    }

    fn path(&mut self, name: &str) -> Option<PathBuf> {
        self.var(name).map(PathBuf::from)
    }

    /// The TLS files of `signal`, each per-signal variable winning over the general one. With
    /// the `tls` feature they are read and checked now, so that a bad one is warned about (and
    /// left out: a bad per-signal certificate for the general one, else the system's roots
    /// verify the receiver; no client certificate is sent) rather than failing `init`;
    /// without it no endpoint uses them.
    fn tls(&mut self, s: &str, general: &TlsFiles) -> TlsFiles {
        // The per-signal variable and the general one, in that order, each if set.
        let mut candidates = |var: &str, general: &Option<PathBuf>| {
            let name = format!("OTEL_EXPORTER_OTLP_{s}_{var}");
            let per_signal = self.path(&name).map(|p| (name, p));
            let general = general
                .clone()
                .map(|p| (format!("OTEL_EXPORTER_OTLP_{var}"), p));
            [per_signal, general]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
        };
        let certificates = candidates("CERTIFICATE", &general.certificate);
        let client_certificate = candidates("CLIENT_CERTIFICATE", &general.client_certificate)
            .into_iter()
            .next();
        let client_key = candidates("CLIENT_KEY", &general.client_key)
            .into_iter()
            .next();
        let files = TlsFiles {
            certificate: certificates.first().map(|(_, p)| p.clone()),
            client_certificate: client_certificate.as_ref().map(|(_, p)| p.clone()),
            client_key: client_key.as_ref().map(|(_, p)| p.clone()),
        };
        #[cfg(feature = "tls")]
        {
            use crate::export::tls::TlsMaterial;
            let mut files = files;
            // A bad per-signal certificate is as if unset, as any bad per-signal value: the
            // general one is used, else the system's roots.
            files.certificate = None;
            for (i, (name, path)) in certificates.iter().enumerate() {
                let one = TlsFiles {
                    certificate: Some(path.clone()),
                    ..TlsFiles::default()
                };
                match TlsMaterial::check_certificate(&one) {
                    Ok(()) => {
                        files.certificate = Some(path.clone());
                        break;
                    }
                    Err(why) => {
                        let using = certificates
                            .get(i + 1)
                            .map_or("the system's roots", |(general, _)| general.as_str());
                        self.warn_using(name, &path.display().to_string(), &why, using);
                    }
                }
            }
            if let Err(why) = TlsMaterial::check_identity(&files) {
                let (name, p) = client_certificate.or(client_key).unwrap_or_default();
                self.warn_using(
                    &name,
                    &p.display().to_string(),
                    &why,
                    "no client certificate",
                );
                files.client_certificate = None;
                files.client_key = None;
            }
            files
        }
        #[cfg(not(feature = "tls"))]
        files
    }

    /// The settings of `signal`: each per-signal variable that is set and valid, else the
    /// general one from `general`, else the default.
    fn otlp(&mut self, signal: Signal, general: &OtlpGeneral) -> OtlpSettings {
        let s = signal.upper();
        // What replaces a bad per-signal value, for its warning.
        let instead = |general_set: bool, option: &str| {
            if general_set {
                format!("OTEL_EXPORTER_OTLP_{option}")
            } else {
                DEFAULT.to_owned()
            }
        };
        let protocol = match self.in_code.protocol {
            Some(p) => p,
            None => self
                .protocol(
                    &format!("OTEL_EXPORTER_OTLP_{s}_PROTOCOL"),
                    &instead(general.protocol.is_some(), "PROTOCOL"),
                )
                .or(general.protocol)
                .unwrap_or(Protocol::HttpProtobuf),
        };
        // A per-signal endpoint is used as is; the base one gets `/v1/{signal}` appended for
        // HTTP (spec: "Endpoint URLs for OTLP/HTTP").
        let per_signal = format!("OTEL_EXPORTER_OTLP_{s}_ENDPOINT");
        let per_signal_insecure = format!("OTEL_EXPORTER_OTLP_{s}_INSECURE");
        let insecure = match self.insecure(&per_signal_insecure) {
            Some(insecure) => (insecure, per_signal_insecure.as_str()),
            None => (
                general.insecure.unwrap_or(false),
                "OTEL_EXPORTER_OTLP_INSECURE",
            ),
        };
        // An endpoint set in code replaces the variables: they are not read, so that no
        // warning describes where telemetry would go by them.
        let (endpoint, from) = if self.in_code.endpoint(signal) {
            (
                signal_url(protocol.default_endpoint(), protocol, signal),
                None,
            )
        } else {
            let general_endpoint = general.endpoint.clone().and_then(|e| {
                self.with_scheme(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    e,
                    protocol,
                    insecure,
                    DEFAULT,
                )
            });
            let using = instead(general_endpoint.is_some(), "ENDPOINT");
            match self
                .endpoint(&per_signal, &using)
                .and_then(|e| self.with_scheme(&per_signal, e, protocol, insecure, &using))
            {
                Some(e) => {
                    if let Some(warning) = root_path_warning(
                        &e,
                        protocol,
                        signal,
                        &per_signal,
                        "OTEL_EXPORTER_OTLP_ENDPOINT",
                    ) {
                        self.warnings.push(warning);
                    }
                    (e, Some(per_signal.as_str()))
                }
                None => {
                    let base = general_endpoint
                        .as_deref()
                        .unwrap_or_else(|| protocol.default_endpoint());
                    let from = general_endpoint
                        .as_ref()
                        .map(|_| "OTEL_EXPORTER_OTLP_ENDPOINT");
                    if let Some(set) = &general_endpoint
                        && let Some(warning) = signal_path_warning(set, protocol, |copied| {
                            (
                                format!("OTEL_EXPORTER_OTLP_ENDPOINT={:?}", shown_url(set)),
                                format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", copied.upper()),
                            )
                        })
                        && !self.warnings.contains(&warning)
                    {
                        // Once for all signals.
                        self.warnings.push(warning);
                    }
                    (signal_url(base, protocol, signal), from)
                }
            }
        };
        // A gRPC call goes to its service's path, whatever the endpoint's (tonic keeps only
        // its scheme and authority): said rather than dropped silently.
        if let Some(name) = from
            && protocol == Protocol::Grpc
            && let Ok(uri) = endpoint.parse::<http::Uri>()
            && !matches!(uri.path(), "" | "/")
        {
            let warning = format!(
                "obs: the path {:?} of {name}={:?} is not used: OTLP/gRPC calls go to the \
                 collector's service paths (/opentelemetry.proto.collector.*)",
                uri.path(),
                shown_url(&endpoint)
            );
            if !self.warnings.contains(&warning) {
                self.warnings.push(warning);
            }
        }
        let mut headers = self
            .headers(&format!("OTEL_EXPORTER_OTLP_{s}_HEADERS"))
            .or_else(|| general.headers.clone())
            .unwrap_or_default();
        if protocol == Protocol::Grpc {
            headers.retain(|(k, v)| {
                let metadata = crate::export::transport::grpc_metadata(k, v.as_bytes()).is_some();
                if !metadata {
                    let warning = format!(
                        "obs: leaving header {k:?} out of OTLP/gRPC exports: {NOT_GRPC_METADATA}"
                    );
                    if !self.warnings.contains(&warning) {
                        self.warnings.push(warning);
                    }
                }
                metadata
            });
        }
        let timeout = self
            .millis_opt(
                &format!("OTEL_EXPORTER_OTLP_{s}_TIMEOUT"),
                &instead(general.timeout.is_some(), "TIMEOUT"),
            )
            .or(general.timeout)
            .unwrap_or(Duration::from_secs(10));
        let compression = self
            .compression(
                &format!("OTEL_EXPORTER_OTLP_{s}_COMPRESSION"),
                &instead(general.compression.is_some(), "COMPRESSION"),
            )
            .or(general.compression)
            .unwrap_or(Compression::None);
        let tls = self.tls(s, &general.tls);
        OtlpSettings {
            endpoint,
            protocol,
            headers,
            timeout,
            compression,
            max_request_bytes: OtlpSettings::DEFAULT_MAX_REQUEST_BYTES,
            tls,
        }
    }

    fn batch(&mut self, prefix: &str, defaults: BatchSettings) -> BatchSettings {
        let queue_var = format!("{prefix}_MAX_QUEUE_SIZE");
        let mut max_queue_size = self.positive(&queue_var, defaults.max_queue_size);
        if max_queue_size > BatchSettings::MAX_QUEUE_SIZE {
            self.warn_using(
                &queue_var,
                &max_queue_size.to_string(),
                "more than obs's maximum queue size",
                &BatchSettings::MAX_QUEUE_SIZE.to_string(),
            );
            max_queue_size = BatchSettings::MAX_QUEUE_SIZE;
        }
        let batch_var = format!("{prefix}_MAX_EXPORT_BATCH_SIZE");
        let mut max_export_batch_size = self.positive(&batch_var, defaults.max_export_batch_size);
        if max_export_batch_size > max_queue_size {
            // Spec: "Must be less than or equal to OTEL_BSP_MAX_QUEUE_SIZE". Only a value that
            // was set (and not already warned about) is: the default shrinks with the queue.
            let set = self.var(&batch_var).and_then(|v| v.parse::<usize>().ok());
            if set == Some(max_export_batch_size) {
                self.warn_using(
                    &batch_var,
                    &max_export_batch_size.to_string(),
                    "larger than the queue",
                    "the queue size",
                );
            }
            max_export_batch_size = max_queue_size;
        }
        BatchSettings {
            schedule_delay: self
                .millis(&format!("{prefix}_SCHEDULE_DELAY"), defaults.schedule_delay),
            export_timeout: self
                .millis(&format!("{prefix}_EXPORT_TIMEOUT"), defaults.export_timeout),
            max_queue_size,
            max_export_batch_size,
        }
    }
}

/// `base` with `/v1/{signal}` appended to its path for HTTP (before any query string, and
/// without the fragment, which the spec lets an exporter ignore and which would take the
/// signal's path in); `base` as is for gRPC.
pub(crate) fn signal_url(base: &str, protocol: Protocol, signal: Signal) -> String {
    match protocol {
        Protocol::Grpc => base.to_owned(),
        Protocol::HttpProtobuf => {
            let base = base.split_once('#').map_or(base, |(before, _)| before);
            // The scheme and authority hold no `?`, so the first one starts the query.
            let (path, query) = match base.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (base, None),
            };
            let mut url = format!("{}/v1/{}", path.trim_end_matches('/'), signal.as_str());
            if let Some(query) = query {
                url.push('?');
                url.push_str(query);
            }
            url
        }
    }
}

/// A warning for a base endpoint `set` (named by `names`: the setting, and where a signal's
/// full URL goes instead) whose path ends with a signal's OTLP/HTTP path: over
/// http/protobuf the spec appends `/v1/{signal}` to it, which is right, but rarely what was
/// meant (a per-signal example's URL, copied).
pub(crate) fn signal_path_warning(
    set: &str,
    protocol: Protocol,
    names: impl FnOnce(Signal) -> (String, String),
) -> Option<String> {
    if protocol != Protocol::HttpProtobuf {
        return None;
    }
    let copied = signal_path_at_end(set)?;
    let (setting, per_signal) = names(copied);
    Some(format!(
        "obs: {setting} ends with /v1/{}; over http/protobuf it is a base URL each signal's \
         path is appended to ({} to {}): a full URL for one signal goes in {per_signal}",
        copied.as_str(),
        copied.as_str(),
        signal_url(&shown_url(set), protocol, copied),
    ))
}

/// A warning for a per-signal endpoint `set` (named by `setting`) with no path over
/// http/protobuf: the spec has it used as is, its root path `/` included ("Endpoint URLs
/// for OTLP/HTTP"), so it is, but no OTLP receiver serves `/`, and every export would fail
/// with a bare 404 (a base URL, copied into the per-signal variable). `base` names where a
/// base URL goes.
pub(crate) fn root_path_warning(
    set: &str,
    protocol: Protocol,
    signal: Signal,
    setting: &str,
    base: &str,
) -> Option<String> {
    if protocol != Protocol::HttpProtobuf {
        return None;
    }
    let uri: http::Uri = set.parse().ok()?;
    if !matches!(uri.path(), "" | "/") {
        return None;
    }
    let shown = shown_url(set);
    Some(format!(
        "obs: {setting}={shown:?} has no path; over http/protobuf a per-signal endpoint is \
         used as is, so {signal} go to its root path, where OTLP receivers serve nothing: give \
         the full URL ({}) or set the base URL in {} instead",
        signal_url(&shown, protocol, signal),
        base,
        signal = signal.as_str(),
    ))
}

/// The signal whose OTLP/HTTP path (`/v1/traces`, ...) ends `endpoint`'s path, if one does.
fn signal_path_at_end(endpoint: &str) -> Option<Signal> {
    let uri: http::Uri = endpoint.parse().ok()?;
    let path = uri.path().trim_end_matches('/');
    Signal::ALL.into_iter().find(|signal| {
        path.strip_suffix(signal.as_str())
            .is_some_and(|rest| rest.ends_with("/v1/"))
    })
}

/// `url` as shown in warnings and errors: its userinfo (`user:password@`, credentials)
/// withheld as `***`, and so is every query value (`?api_key=***`: some receivers take their
/// key in the query), as header values are, since these go to stderr and so into the logs.
pub(crate) fn shown_url(url: &str) -> std::borrow::Cow<'_, str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.into();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let userinfo = authority.rfind('@');
    let query = tail.find('?').map(|q| q + 1);
    if userinfo.is_none() && query.is_none() {
        return url.into();
    }
    let mut shown = format!("{scheme}://");
    match userinfo {
        Some(at) => {
            shown.push_str("***");
            shown.push_str(&authority[at..]);
        }
        None => shown.push_str(authority),
    }
    let Some(query) = query else {
        shown.push_str(tail);
        return shown.into();
    };
    shown.push_str(&tail[..query]);
    let (query, fragment) =
        tail[query..].split_at(tail[query..].find('#').unwrap_or(tail.len() - query));
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            shown.push('&');
        }
        match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() => {
                shown.push_str(name);
                shown.push_str("=***");
            }
            _ => shown.push_str(pair),
        }
    }
    shown.push_str(fragment);
    shown.into()
}

/// Whether `v` is a scheme-less `host:port` (gRPC's target form), such as `collector:4317`
/// or `[::1]:4317`: a host and a numeric port, nothing else.
fn is_host_port(v: &str) -> bool {
    !v.contains("://")
        && v.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        })
        && !v.contains(['/', '?', '#', '@'])
        && validate_endpoint(&format!("http://{v}")).is_ok()
}

/// An endpoint must be an `http://` URL with a host, or `https://` with the `tls` feature.
pub(crate) fn validate_endpoint(v: &str) -> Result<(), String> {
    let uri: http::Uri = v.parse().map_err(|e| format!("not a URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") if cfg!(feature = "tls") => {}
        Some("https") => {
            return Err("https endpoints need obs-core's `tls` feature".to_owned());
        }
        _ => return Err("the URL must start with http:// or https://".to_owned()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the URL has no host".to_owned());
    }
    // `http::Uri` takes any port text; the connectors read a bad one as none, port 80. An
    // empty port is the scheme's default (RFC 3986), as the OTLP exporter spec says.
    let host_port = uri.authority().map_or("", |a| {
        a.as_str()
            .rsplit_once('@')
            .map_or(a.as_str(), |(_, host_port)| host_port)
    });
    let port = host_port
        .rsplit_once(':')
        .map(|(_, port)| port)
        .filter(|port| !port.is_empty() && !port.ends_with(']'));
    if port.is_some() && uri.port_u16().is_none() {
        return Err("the port is not a number from 0 to 65535".to_owned());
    }
    Ok(())
}

/// Why a member of a `key=value` list is malformed: no key or no `=`.
const NOT_A_PAIR: &str = "not a key=value pair";
/// Why a member of a `key=value` list is malformed: a `%` that is not an escape (a literal
/// `%`, say, which reads as a well-formed pair, so "not a key=value pair" would mislead).
const BAD_ESCAPE: &str = "a `%` that does not start an escape of two hex digits giving UTF-8 \
     (write a literal `%` as `%25`)";

/// The members of a W3C-Baggage-like `key1=value1,key2=value2` list, as in
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`: each as written, with its key
/// and percent-decoded value, or why it is malformed.
fn members(v: &str) -> impl Iterator<Item = (&str, Result<(String, String), &'static str>)> {
    v.split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|member| {
            let pair = match member.split_once('=') {
                Some((k, val)) if !k.trim().is_empty() => percent_decode(val.trim())
                    .map(|val| (k.trim().to_owned(), val))
                    .ok_or(BAD_ESCAPE),
                _ => Err(NOT_A_PAIR),
            };
            (member, pair)
        })
}

/// The pairs of an `OTEL_RESOURCE_ATTRIBUTES` list, keys percent-decoded too: the resource
/// spec has `,` and `=` percent-encoded "in keys and values" (a header name is an HTTP token,
/// so `_HEADERS` keys are taken as written). Else which member is malformed and why: the
/// resource spec says to discard the whole value then; the warning names the member.
pub(crate) fn parse_key_values(v: &str) -> Result<Vec<(String, String)>, String> {
    members(v)
        .map(|(member, pair)| {
            let decoded = pair.and_then(|(key, value)| {
                percent_decode(&key)
                    .map(|key| (key, value))
                    .ok_or(BAD_ESCAPE)
            });
            decoded.map_err(|why| format!("member {member:?}: {why}"))
        })
        .collect()
}

/// Runs `read` with a lookup of the process environment, and returns what it made with a
/// warning for each variable it asked for whose value is not UTF-8: such a value reads as
/// unset, as `std::env::var` has it, and would otherwise be ignored silently.
pub(crate) fn read_process_env<T>(read: impl FnOnce(Lookup<'_>) -> T) -> (T, Vec<String>) {
    let not_utf8 = std::cell::RefCell::new(Vec::new());
    let get = |name: &str| match std::env::var(name) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            let warning = format!("obs: ignoring {name}: its value is not valid UTF-8");
            let mut warnings = not_utf8.borrow_mut();
            // A general variable is read again for each signal.
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
            None
        }
    };
    let made = read(&get);
    (made, not_utf8.into_inner())
}

/// Why a header valid in HTTP can't go over gRPC (its value withheld: usually a credential).
pub(crate) const NOT_GRPC_METADATA: &str = "its value (withheld) is not valid gRPC metadata, \
     which is visible ASCII and spaces only (no tab, no byte above 0x7F); a name ending in \
     `-bin` sends any bytes";

/// The headers that frame and encode the body of an export, which obs sets: one configured
/// would replace obs's (HTTP) or contradict the request (gRPC, where h2 refuses it) and break
/// every export.
const BODY_HEADERS: [http::HeaderName; 4] = [
    http::header::CONTENT_ENCODING,
    http::header::CONTENT_LENGTH,
    http::header::CONTENT_TYPE,
    http::header::TRANSFER_ENCODING,
];

/// Whether `name: value` can be sent as an HTTP header (and so as gRPC metadata), and is
/// not one obs sets for the body.
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), &'static str> {
    let name = http::HeaderName::try_from(name).map_err(|_| "not a valid HTTP header name")?;
    if BODY_HEADERS.contains(&name) {
        return Err(
            "obs sets it for the body it sends (gzip is OTEL_EXPORTER_OTLP_COMPRESSION, \
             Builder::compression)",
        );
    }
    http::HeaderValue::try_from(value).map_err(|_| "not a valid HTTP header value")?;
    Ok(())
}

/// `s` with its `%XX` escapes decoded; `None` if one is malformed or the result is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            // Two hex digits (RFC 3986 §2.1): `from_str_radix` alone would take `+1` too.
            let hex = b.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Config {
    /// The default [`Config::max_queue_bytes`]: 64 MiB per queue, some 30 times what a full
    /// queue of typical records (2,048 of about 1 KiB) holds, so it only ever stops records
    /// carrying megabytes each (a log message has no length limit).
    pub const DEFAULT_MAX_QUEUE_BYTES: usize = 64 * 1024 * 1024;

    /// Reads the process environment.
    pub fn from_env() -> Config {
        let (mut config, not_utf8) = read_process_env(Config::from_lookup);
        config.warnings.extend(not_utf8);
        config
    }

    /// Reads variables through `get` (a test's map, say) instead of the process environment.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Config {
        Config::from_lookup_with(get, SetInCode::default())
    }

    /// Like [`Config::from_lookup`], with the settings that other variables depend on fixed
    /// in code (the builder's), so that what follows from them follows the code.
    pub(crate) fn from_lookup_with(get: Lookup<'_>, in_code: SetInCode) -> Config {
        let mut r = EnvReader {
            get,
            warnings: Vec::new(),
            in_code,
            prometheus: false,
        };
        let sdk_disabled = match in_code.sdk_disabled {
            Some(disabled) => disabled,
            None => r.boolean("OTEL_SDK_DISABLED", false),
        };
        let resource_attributes = match r.var("OTEL_RESOURCE_ATTRIBUTES") {
            None => Vec::new(),
            Some(v) => parse_key_values(&v).unwrap_or_else(|why| {
                r.warn("OTEL_RESOURCE_ATTRIBUTES", &v, &why);
                Vec::new()
            }),
        };
        let service_name = r.var("OTEL_SERVICE_NAME");
        const SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
        let sampler = match r.var("OTEL_TRACES_SAMPLER") {
            None => {
                // "Only used if OTEL_TRACES_SAMPLER is set": said, since it reads as if used.
                if let Some(arg) = r.var(SAMPLER_ARG) {
                    r.warn_using(
                        SAMPLER_ARG,
                        &arg,
                        "OTEL_TRACES_SAMPLER is not set",
                        "parentbased_always_on",
                    );
                }
                Sampler::default()
            }
            Some(name) => {
                let arg = r.var(SAMPLER_ARG);
                match Sampler::from_spec_name_lenient(&name, arg.as_deref()) {
                    Ok((s, problems)) => {
                        // A Jaeger argument is a list: its bad parts are left at their
                        // defaults, each alone (as opentelemetry-java reads it), so a typo in
                        // one key does not send the poller to another endpoint.
                        for problem in problems {
                            r.warnings.push(format!(
                                "obs: OTEL_TRACES_SAMPLER_ARG: {problem}; using its default"
                            ));
                        }
                        // Only the ratio and Jaeger samplers take an argument; to the others
                        // it is unrecognized input, which the spec says "MUST be logged".
                        let ratio = |s: &Sampler| matches!(s, Sampler::TraceIdRatio(_));
                        let takes_arg = ratio(&s)
                            || matches!(&s, Sampler::ParentBased(root) if ratio(root))
                            || s.jaeger_remote().is_some();
                        if let Some(arg) = arg.as_deref().filter(|_| !takes_arg) {
                            let why = format!("{name} takes no argument");
                            r.warn_using(SAMPLER_ARG, arg, &why, &name);
                        }
                        s
                    }
                    // The name is known, so the argument is what is bad: the spec says to
                    // behave as if it were unset, i.e. that sampler with its default argument.
                    Err(e) => match Sampler::from_spec_name(&name, None) {
                        Ok(s) => {
                            r.warnings
                                .push(format!("obs: {e}; using {name} with its default"));
                            s
                        }
                        Err(e) => {
                            r.warnings
                                .push(format!("obs: {e}; using parentbased_always_on"));
                            Sampler::default()
                        }
                    },
                }
            }
        };
        let metrics_exporter = r.exporter(Signal::Metrics);
        // An address set in code replaces these variables: not read, so that no warning
        // says where `/metrics` would be served by them (nor is a host name resolved).
        let metrics_addr = if in_code.metrics_addr {
            None
        } else {
            match r.var("OBS_METRICS_ADDR") {
                // The Prometheus exporter is an SDK exporter: off with the SDK.
                None if r.prometheus && !sdk_disabled => r.prometheus_addr(),
                None => None,
                Some(v) => r.metrics_addr(&v),
            }
        };
        // Enum values are case-insensitive, like the spec's.
        let json_logs = match r.var("OBS_LOG_FORMAT") {
            None => true,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "json" => true,
                "none" => false,
                _ => {
                    r.warn("OBS_LOG_FORMAT", &v, "not a supported format (json, none)");
                    true
                }
            },
        };
        let unsampled_spans = match r.var("OBS_UNSAMPLED_SPANS") {
            None => None,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "skip" => Some(obs_trace::UnsampledSpans::Skip),
                "keep" => Some(obs_trace::UnsampledSpans::Keep),
                _ => {
                    r.warn("OBS_UNSAMPLED_SPANS", &v, "not one of skip, keep");
                    None
                }
            },
        };
        let exemplar_filter = match r.var("OTEL_METRICS_EXEMPLAR_FILTER") {
            None => ExemplarFilter::default(),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "always_on" => ExemplarFilter::AlwaysOn,
                "always_off" => ExemplarFilter::AlwaysOff,
                "trace_based" => ExemplarFilter::TraceBased,
                _ => {
                    r.warn(
                        "OTEL_METRICS_EXEMPLAR_FILTER",
                        &v,
                        "not one of always_on, always_off, trace_based",
                    );
                    ExemplarFilter::default()
                }
            },
        };
        const TEMPORALITY: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
        let metrics_temporality = match r.var(TEMPORALITY) {
            None => TemporalityPreference::default(),
            Some(v) => TemporalityPreference::parse(&v).unwrap_or_else(|| {
                r.warn(TEMPORALITY, &v, "not one of cumulative, delta, lowmemory");
                TemporalityPreference::default()
            }),
        };
        r.histogram_aggregation();
        r.unsupported();
        let tail_sampling = r.tail_sampling();
        let (span_limits, log_limits) = r.limits();
        let propagators = r.propagators();
        let rpc_conventions = r.rpc_conventions();
        let otlp = r.otlp_general();
        Config {
            sdk_disabled,
            service_name,
            service_version: None,
            resource_attributes,
            traces_exporter: r.exporter(Signal::Traces),
            metrics_exporter,
            logs_exporter: r.exporter(Signal::Logs),
            traces_otlp: r.otlp(Signal::Traces, &otlp),
            metrics_otlp: r.otlp(Signal::Metrics, &otlp),
            logs_otlp: r.otlp(Signal::Logs, &otlp),
            sampler,
            propagators,
            rpc_conventions,
            span_batch: r.batch("OTEL_BSP", BatchSettings::SPANS),
            log_batch: r.batch("OTEL_BLRP", BatchSettings::LOGS),
            span_limits,
            log_limits,
            metric_export_interval: r
                .period("OTEL_METRIC_EXPORT_INTERVAL", Duration::from_secs(60)),
            metric_export_timeout: r.millis("OTEL_METRIC_EXPORT_TIMEOUT", Duration::from_secs(30)),
            exemplar_filter,
            metrics_temporality,
            // A `tracing` filter, span and field directives included.
            log_filter: r.directives("RUST_LOG", "a filter", |v| {
                tracing_subscriber::EnvFilter::try_new(v)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }),
            // Spans are traced by target and level: `RUST_LOG` syntax without span and
            // field directives.
            traces_filter: r.directives(
                "OBS_TRACES_FILTER",
                "a target=level filter",
                check_traces_directive,
            ),
            json_logs,
            json_field_names: obs_log::FieldNames::default(),
            json_span_fields: obs_log::SpanFields::default(),
            json_file_line: false,
            redaction: obs_log::Redaction::default(),
            unsampled_spans,
            tail_sampling,
            span_events: r.boolean("OBS_SPAN_EVENTS", false),
            metrics_addr,
            shutdown_timeout: Duration::from_secs(5),
            max_queue_bytes: Config::DEFAULT_MAX_QUEUE_BYTES,
            process_metrics: r.boolean("OBS_PROCESS_METRICS", true),
            runtime_metrics: r.boolean("OBS_RUNTIME_METRICS", true),
            diagnostics: r.diagnostics(),
            warnings: r.warnings,
        }
    }

    /// The exporter chosen for `signal`.
    pub fn exporter(&self, signal: Signal) -> ExporterKind {
        match signal {
            Signal::Traces => self.traces_exporter,
            Signal::Metrics => self.metrics_exporter,
            Signal::Logs => self.logs_exporter,
        }
    }

    /// The OTLP settings of `signal`.
    pub fn otlp(&self, signal: Signal) -> &OtlpSettings {
        match signal {
            Signal::Traces => &self.traces_otlp,
            Signal::Metrics => &self.metrics_otlp,
            Signal::Logs => &self.logs_otlp,
        }
    }

    pub(crate) fn otlp_mut(&mut self, signal: Signal) -> &mut OtlpSettings {
        match signal {
            Signal::Traces => &mut self.traces_otlp,
            Signal::Metrics => &mut self.metrics_otlp,
            Signal::Logs => &mut self.logs_otlp,
        }
    }
}

/// `propagators` as an `OTEL_PROPAGATORS` value, for warnings: the formats in an order
/// that gives the same choice.
fn propagator_names(propagators: Propagators) -> String {
    let trace_context = [(propagators.trace_context, "tracecontext")];
    let rest = [
        (propagators.baggage, "baggage"),
        (propagators.b3, "b3"),
        (propagators.b3_multi, "b3multi"),
    ];
    let (first, last): (&[_], &[_]) = if propagators.trace_context_last {
        (&rest, &trace_context)
    } else {
        (&trace_context, &rest)
    };
    let names: Vec<&str> = first
        .iter()
        .chain(last)
        .filter_map(|&(chosen, name)| chosen.then_some(name))
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(",")
    }
}
