//! The metrics pillar of `obs`: counters, gauges and histograms that Prometheus scrapes
//! and OTLP receives, with exemplars linking measurements to traces and a cardinality
//! limit per family.
//!
//! Register once (names are checked against the Prometheus conventions here, never at
//! scrape time), keep the handle, update it with one atomic operation (two for a
//! histogram: its bucket and its sum; the count is the buckets' total). A measurement made
//! inside a sampled span carries that span's `trace_id` and `span_id` as its exemplar,
//! with no code at the call site; [`set_exemplar_filter`] changes which measurements do
//! (`OTEL_METRICS_EXEMPLAR_FILTER`).
//!
//! - Instruments: [`Counter`] (`u64`, `f64`), [`Gauge`] (`i64`, `f64`),
//!   [`UpDownCounter`] (a gauge to Prometheus, a non-monotonic sum over OTLP),
//!   [`Registry::gauge_fn`] (read at collection), [`Histogram`] (explicit buckets,
//!   [`DEFAULT_BUCKETS`] by default).
//! - Labels: [`Family`] with a `#[derive(EncodeLabelSet)]` struct (the derive expands to
//!   `::prometheus_client` paths, so a crate using it also depends on
//!   `prometheus-client = "0.26"`), or [`DynFamily`] with `&[(&str, &str)]`. Each family
//!   holds at most its cardinality limit of series ([`DEFAULT_CARDINALITY_LIMIT`]); more
//!   label sets share one `otel_metric_overflow="true"` series.
//! - Exposition: [`MetricsService`] (a tower service) and [`text`] print OpenMetrics or
//!   Prometheus text 0.0.4 by `Accept`, with the process's resource as one `target_info`
//!   once [`Registry::set_target_info`] is given it (`obs_core::init` does, on the global
//!   registry); [`Registry::collect`] gives the same state as plain data for OTLP, which
//!   carries the resource itself and so has no `target_info`.
//! - Extras: [`Registry::register_process_metrics`]; with feature `tokio`,
//!   `Registry::register_tokio_metrics`; with feature `server`, `serve` and `serve_addr`
//!   (a standalone `/metrics` listener).
//!
//! ```
//! use obs_metrics::{Counter, EncodeLabelSet, Family, Histogram, Registry};
//!
//! #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
//! struct Route {
//!     http_route: &'static str,
//! }
//!
//! let registry = Registry::new();
//! let jobs = registry.counter("jobs_processed", "Jobs processed.").unwrap();
//! let duration: Family<Route, Histogram> = registry
//!     .family("http_server_request_duration_seconds", "Duration of HTTP server requests.")
//!     .unwrap();
//!
//! jobs.inc();
//! duration.get(&Route { http_route: "/users/{id}" }).observe(0.042);
//!
//! let families = registry.collect();
//! assert_eq!(families[0].name, "jobs_processed");
//! assert_eq!(families[1].points[0].labels, [("http_route".to_owned(), "/users/{id}".to_owned())]);
//!
//! // What a Prometheus scrape without `Accept: application/openmetrics-text` gets:
//! let text = registry.encode(obs_metrics::text::Format::Prometheus);
//! assert!(text.starts_with(concat!(
//!     "# HELP jobs_processed_total Jobs processed.\n",
//!     "# TYPE jobs_processed_total counter\n",
//!     "jobs_processed_total 1\n",
//!     "# HELP http_server_request_duration_seconds Duration of HTTP server requests.\n",
//!     "# TYPE http_server_request_duration_seconds histogram\n",
//!     "http_server_request_duration_seconds_bucket{http_route=\"/users/{id}\",le=\"0.005\"} 0\n",
//! )));
//! ```

//! # In a library
//!
//! A library registers its metrics once (a `LazyLock`) in [`global()`], the registry that
//! `obs_core::init` serves on `/metrics` and pushes over OTLP, and keeps the handles.
//! Measurements made before `init` are kept and exported once it runs. A second
//! registration of a name with the same type, help, unit, buckets, labels and OpenTelemetry
//! names returns the first one's metric; anything else is a [`MetricsError::Conflict`],
//! which a library that must not panic turns into no metric. That includes the names obs
//! registers itself: `target_info` is reserved, and a name `obs-tower`'s or `obs-tonic`'s
//! layer registers (`http_server_request_duration_seconds`, ...) registered first by a
//! library disables that layer's metrics (reported on stderr). A name a collector of
//! obs's uses (`process_*`, `obs_telemetry_*`) is the library's: the collector's family
//! is left out (reported once). Give the families the library's crate name as their
//! [scope](MetricBuilder::otel_scope), the scope of its spans, else OTLP receives them
//! under `obs-metrics`; a metric of the semantic conventions also takes its
//! [OpenTelemetry name](MetricBuilder::otel_name) and
//! [attribute keys](MetricBuilder::otel_attributes).
//!
//! The global registry is one per copy of this crate in a build: depend on the release the
//! application's `obs-core` uses (`obs-metrics = "0.1"`). Cargo builds a library that asks
//! for another, semver-incompatible, release (`0.2`) as a second crate, whose registry
//! nobody serves or pushes: its metrics go nowhere, with no error
//! (`cargo tree -d -i obs-metrics` lists the releases in a build).
//!
//! ```
//! use std::sync::LazyLock;
//!
//! use obs_metrics::{DynFamily, Histogram, OtelAttribute, Unit};
//!
//! static ATTRIBUTES: [OtelAttribute; 1] =
//!     [OtelAttribute::string("db_system_name", "db.system.name")];
//!
//! // `None` if another crate registered the name otherwise.
//! static DURATION: LazyLock<Option<DynFamily<Histogram>>> = LazyLock::new(|| {
//!     obs_metrics::global()
//!         .metric("db_client_operation_duration_seconds", "Duration of database client operations.")
//!         .unit(Unit::Seconds)
//!         .otel_name("db.client.operation.duration")
//!         .otel_attributes(&ATTRIBUTES)
//!         .otel_scope(env!("CARGO_CRATE_NAME"))
//!         .dyn_family(&["db_system_name"])
//!         .inspect_err(|e| tracing::error!("database client metrics disabled: {e}"))
//!         .ok()
//! });
//!
//! pub fn query() {
//!     if let Some(duration) = &*DURATION {
//!         duration.get(&[("db_system_name", "postgresql")]).observe(0.004);
//!     }
//! }
//! # query();
//! # assert!(obs_metrics::global().collect().iter().any(|f| f.otel.name == Some("db.client.operation.duration")));
//! ```

// On docs.rs (`--cfg docsrs`, see Cargo.toml), each feature-gated item says which feature
// enables it.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod exemplar;
mod family;
mod hash;
mod instrument;
mod name;
mod number;
mod process;
mod registry;
#[cfg(feature = "server")]
mod server;
mod service;
mod snapshot;
pub mod text;

pub use error::MetricsError;
pub use exemplar::{Exemplar, ExemplarFilter, exemplar_filter, set_exemplar_filter};
pub use family::{
    DEFAULT_CARDINALITY_LIMIT, DynFamily, Family, LabelSet, MAX_CARDINALITY_LIMIT, MAX_DYN_LABELS,
    OVERFLOW_LABEL,
};
pub use instrument::{
    Counter, DEFAULT_BUCKETS, Gauge, Histogram, Instrument, UpDownCounter, exponential_buckets,
    linear_buckets,
};
pub use name::Unit;
#[doc(hidden)]
pub use number::AtomicF64;
pub use number::{CounterNumber, GaugeNumber};
pub use registry::{Collector, MetricBuilder, Registry, global};
#[cfg(feature = "server")]
pub use server::{METRICS_PATH, serve, serve_addr};
pub use service::MetricsService;
pub use snapshot::{
    HistogramValue, MetricFamilySnapshot, MetricKind, OtelAttribute, OtelNames, PointSnapshot,
    PointValue,
};

/// This crate's version: the OTLP instrumentation scope `obs-metrics`, under which
/// `obs-core` exports the registry, is exported with it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The OTLP instrumentation scope of the families that name none
/// ([`OtelNames::scope`] `None`): `obs-core` pushes them under this crate's name.
pub const SCOPE: &str = "obs-metrics";

/// Derive for typed label sets (`#[derive(EncodeLabelSet)]`), from prometheus-client. Its
/// expansion names `::prometheus_client`, which only a crate's own dependency provides: a
/// crate deriving it adds `prometheus-client = "0.26"` (the release obs uses), or else the
/// build fails with "could not find `prometheus_client` in the list of imported crates".
/// [`DynFamily`] takes `&[(&str, &str)]` labels and needs no dependency.
pub use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
