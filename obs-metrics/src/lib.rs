//! The metrics pillar of `obs`: counters, gauges and histograms that Prometheus scrapes
//! and OTLP receives, with exemplars linking measurements to traces and a cardinality
//! limit per family.
//!
//! Register once (names are checked against the Prometheus conventions here, never at
//! scrape time), keep the handle, update it with one atomic operation. A measurement made
//! inside a sampled span carries that span's `trace_id` and `span_id` as its exemplar,
//! with no code at the call site.
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
//! ```

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
pub use exemplar::Exemplar;
pub use family::{DEFAULT_CARDINALITY_LIMIT, DynFamily, Family, LabelSet, MAX_DYN_LABELS};
pub use instrument::{
    Counter, DEFAULT_BUCKETS, Gauge, Histogram, Instrument, exponential_buckets, linear_buckets,
};
pub use name::Unit;
#[doc(hidden)]
pub use number::AtomicF64;
pub use number::{CounterNumber, GaugeNumber};
pub use registry::{Collector, MetricBuilder, Registry, global};
#[cfg(feature = "server")]
pub use server::{METRICS_PATH, serve, serve_addr};
pub use service::MetricsService;
pub use snapshot::{HistogramValue, MetricFamilySnapshot, MetricKind, PointSnapshot, PointValue};

/// Derive for typed label sets (`#[derive(EncodeLabelSet)]`), from prometheus-client.
pub use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
