//! The one error type of registration. Recording never fails.

use std::fmt;

/// Why a metric could not be registered.
///
/// Every check runs when the metric is registered, so a bad name never reaches a scrape.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsError {
    /// The metric name breaks the Prometheus charset or naming conventions; `reason` says
    /// which rule and what to write instead.
    InvalidName {
        /// The name as given.
        name: String,
        /// The rule it breaks.
        reason: String,
    },
    /// A label name breaks the Prometheus charset or is reserved.
    InvalidLabelName {
        /// The metric the label belongs to.
        metric: String,
        /// The label name as given.
        label: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// The help text is empty; `promtool check metrics` rejects metrics without help.
    EmptyHelp {
        /// The metric name.
        name: String,
    },
    /// The histogram buckets are not finite and strictly increasing.
    InvalidBuckets {
        /// The metric name.
        name: String,
    },
    /// The name is already registered with a different type, help, unit, buckets or
    /// label set. Register it once and share the handle, or pick another name.
    Conflict {
        /// The metric name.
        name: String,
        /// What is already registered.
        existing: String,
        /// What was asked for.
        requested: String,
    },
    /// Another metric of the registry is pushed over OTLP under the name (and scope) this
    /// one would be: an OTLP receiver would take the two for one metric and mix their
    /// points. Give one of them another [`otel_name`](crate::MetricBuilder::otel_name) or
    /// [`otel_scope`](crate::MetricBuilder::otel_scope).
    OtelNameTaken {
        /// The metric name.
        name: String,
        /// The OpenTelemetry instrument name it would be pushed under.
        otel_name: String,
        /// The metric already pushed under it.
        existing: String,
    },
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsError::InvalidName { name, reason } => {
                write!(f, "invalid metric name {name:?}: {reason}")
            }
            MetricsError::InvalidLabelName {
                metric,
                label,
                reason,
            } => write!(
                f,
                "invalid label name {label:?} on metric {metric:?}: {reason}"
            ),
            MetricsError::EmptyHelp { name } => {
                write!(f, "metric {name:?} needs a non-empty help text")
            }
            MetricsError::InvalidBuckets { name } => write!(
                f,
                "histogram {name:?} needs finite, strictly increasing bucket bounds"
            ),
            MetricsError::Conflict {
                name,
                existing,
                requested,
            } => write!(
                f,
                "metric {name:?} is already registered as {existing}, cannot register it as {requested}"
            ),
            MetricsError::OtelNameTaken {
                name,
                otel_name,
                existing,
            } => write!(
                f,
                "metric {name:?} would be pushed over OTLP as {otel_name:?}, the name metric \
                 {existing:?} is already pushed under in that scope"
            ),
        }
    }
}

impl std::error::Error for MetricsError {}

/// Writes one `obs-metrics: ` warning line through obs's diagnostics (stderr, at the level
/// `OTEL_LOG_LEVEL` sets).
pub(crate) fn warn(message: std::fmt::Arguments<'_>) {
    obs_trace::diagnostics::warn(format_args!("obs-metrics: {message}"));
}

/// Writes `message` to stderr the first time `key` is reported in this process: for
/// problems only seen while the application runs (a collector's clashing family, a typed
/// label renamed), which would otherwise repeat at every scrape or label set.
pub(crate) fn warn_once(key: String, message: impl FnOnce() -> String) {
    static REPORTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let Ok(mut reported) = REPORTED.lock() else {
        return;
    };
    if !reported.contains(&key) {
        warn(format_args!("{}", message()));
        reported.push(key);
    }
}
