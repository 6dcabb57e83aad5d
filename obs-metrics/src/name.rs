//! Metric and label name rules: the Prometheus data model charset plus the naming
//! conventions `promtool check metrics` lints (base units, `_total` only on counters,
//! snake_case, no unit abbreviations, no type in the name).
//!
//! See <https://prometheus.io/docs/concepts/data_model/> and
//! <https://prometheus.io/docs/practices/naming/>.

use crate::{MetricKind, MetricsError, OtelNames};

/// The unit of a metric, always a base unit as Prometheus naming requires.
///
/// The unit is the last word of the metric name (`_seconds`, `_bytes`…). It is inferred
/// from the name when not given, and a given unit must match the name's suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unit {
    /// Seconds (`_seconds`; UCUM `s`).
    Seconds,
    /// Bytes (`_bytes`; UCUM `By`).
    Bytes,
    /// A ratio between 0 and 1 (`_ratio`; UCUM `1`).
    Ratio,
    /// Meters (`_meters`; UCUM `m`).
    Meters,
    /// Volts (`_volts`; UCUM `V`).
    Volts,
    /// Amperes (`_amperes`; UCUM `A`).
    Amperes,
    /// Joules (`_joules`; UCUM `J`).
    Joules,
    /// Grams (`_grams`; UCUM `g`).
    Grams,
    /// Degrees Celsius (`_celsius`; UCUM `Cel`).
    Celsius,
}

impl Unit {
    const ALL: [Unit; 9] = [
        Unit::Seconds,
        Unit::Bytes,
        Unit::Ratio,
        Unit::Meters,
        Unit::Volts,
        Unit::Amperes,
        Unit::Joules,
        Unit::Grams,
        Unit::Celsius,
    ];

    /// The name suffix and OpenMetrics `# UNIT` value, e.g. `seconds`.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Bytes => "bytes",
            Unit::Ratio => "ratio",
            Unit::Meters => "meters",
            Unit::Volts => "volts",
            Unit::Amperes => "amperes",
            Unit::Joules => "joules",
            Unit::Grams => "grams",
            Unit::Celsius => "celsius",
        }
    }

    /// The UCUM code OTLP carries in `Metric.unit`, e.g. `s` or `By`.
    pub fn ucum(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Bytes => "By",
            Unit::Ratio => "1",
            Unit::Meters => "m",
            Unit::Volts => "V",
            Unit::Amperes => "A",
            Unit::Joules => "J",
            Unit::Grams => "g",
            Unit::Celsius => "Cel",
        }
    }

    fn from_word(word: &str) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.as_str() == word)
    }
}

// promtool's `lintUnitAbbreviations` list.
const ABBREVIATIONS: [&str; 14] = [
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];
// promtool's `unitPrefixes`: a prefixed base unit is not a base unit.
const PREFIXES: [&str; 18] = [
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
];
// promtool's `units` map without its base units: each word and the base unit to use.
const NON_BASE_UNITS: [(&str, &str); 14] = [
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
];
const BASE_WORDS: [&str; 11] = [
    "seconds", "bytes", "meters", "metres", "volts", "amperes", "joules", "grams", "celsius",
    "kelvin", "ratio",
];

fn invalid(name: &str, reason: impl Into<String>) -> MetricsError {
    MetricsError::InvalidName {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// A validated name: `name` is what the exposition prints before any type suffix
/// (`_total` for counters is added by the encoders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidName {
    pub(crate) name: String,
    pub(crate) unit: Option<Unit>,
}

/// `name` in lower case with every character other than an ASCII letter or digit replaced
/// by `_`: the valid name closest to an OpenTelemetry one (`http.server.request.duration`).
pub(crate) fn underscored(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The Prometheus name of OpenTelemetry instrument `name` with `unit`, as the OpenTelemetry
/// compatibility spec translates it ("Prometheus and OpenMetrics Compatibility", Metric
/// Metadata: invalid characters become `_`, "multiple consecutive `_` characters MUST be
/// replaced with a single `_`", and the unit is a suffix "unless the metric name already
/// contains the unit", before any type suffix), in lower case: what a name outside the
/// charset suggests writing instead.
fn translated(name: &str, kind: MetricKind, unit: Option<Unit>) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    for c in underscored(name).chars() {
        push_squeezed(&mut out, c);
    }
    if let Some(unit) = unit.map(Unit::as_str) {
        let total = kind == MetricKind::Counter && out.ends_with("_total");
        if total {
            out.truncate(out.len() - "_total".len());
        }
        if !out.ends_with(&format!("_{unit}")) {
            out.push('_');
            out.push_str(unit);
        }
        if total {
            out.push_str("_total");
        }
    }
    out
}

/// Pushes `c` onto `out`, unless both are `_`: the compatibility spec's "multiple
/// consecutive `_` characters MUST be replaced with a single `_`".
fn push_squeezed(out: &mut String, c: char) {
    if c != '_' || !out.ends_with('_') {
        out.push(c);
    }
}

/// The Prometheus label name of OpenTelemetry attribute `key`, as the compatibility spec
/// translates it ("Prometheus and OpenMetrics Compatibility", Metric Attributes: characters
/// outside `[a-zA-Z0-9_]` become `_`, consecutive `_` one `_`), case kept
/// (`service.name` -> `service_name`). A name that would start with a digit (no label name
/// may) or with `_` (OpenMetrics 1.0 reserves those; the squeeze already keeps it off the
/// `__` Prometheus reserves) gets the prefix the collector's Prometheus exporters give it,
/// `key_` (`1st.zone` -> `key_1st_zone`, `_tier` -> `key_tier`). `None` for an empty key,
/// which the OpenTelemetry common spec forbids.
pub(crate) fn attribute_label(key: &str) -> Option<String> {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        push_squeezed(&mut out, if c.is_ascii_alphanumeric() { c } else { '_' });
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') {
        out.insert_str(0, "key");
    }
    (!out.is_empty()).then_some(out)
}

/// Checks `name` for a metric of `kind`. Counters may be given with or without `_total`.
pub(crate) fn validate_metric_name(
    name: &str,
    kind: MetricKind,
    unit: Option<Unit>,
) -> Result<ValidName, MetricsError> {
    if !metric_charset_ok(name) {
        const CHARSET: &str = "must match [a-zA-Z_:][a-zA-Z0-9_:]*";
        // An OpenTelemetry name (`http.server.request.duration`) or another separator:
        // say what to write when its translation is a valid name.
        let suggestion = translated(name, kind, unit);
        let reason = if metric_charset_ok(&suggestion)
            && validate_metric_name(&suggestion, kind, unit).is_ok()
        {
            format!("{CHARSET}: write {suggestion:?}")
        } else {
            CHARSET.to_owned()
        };
        return Err(invalid(name, reason));
    }
    let bytes = name.as_bytes();
    if name.contains(':') {
        return Err(invalid(name, "colons are reserved for recording rules"));
    }
    if bytes.iter().any(u8::is_ascii_uppercase) {
        return Err(invalid(
            name,
            "use snake_case (lower case words joined by _)",
        ));
    }
    // OpenMetrics 1.0 (MetricFamily, Name): "MetricFamily names beginning with underscores
    // are RESERVED and MUST NOT be used" (Prometheus itself reserves `__`).
    if name.starts_with('_') {
        return Err(invalid(
            name,
            "names starting with _ are reserved (OpenMetrics; Prometheus reserves __)",
        ));
    }
    let base = match (kind, name.strip_suffix("_total")) {
        (MetricKind::Counter, Some(base)) => base,
        (MetricKind::Counter, None) => name,
        (_, Some(_)) => {
            return Err(invalid(name, "the _total suffix is reserved for counters"));
        }
        (_, None) => name,
    };
    if base.is_empty() || base.ends_with('_') {
        return Err(invalid(name, "must not be empty or end with _"));
    }
    // The OpenTelemetry compatibility spec: "There MUST be at most one `target_info`
    // metric exposed on an SDK Prometheus endpoint", and OpenMetrics names its family
    // `target`, so a family of either name would clash with it in one format or the other.
    if base == "target" || base == "target_info" {
        return Err(invalid(
            name,
            "reserved for target_info, the info metric of the process's resource \
             (Registry::set_target_info; its OpenMetrics family is `target`)",
        ));
    }
    for reserved in ["_bucket", "_count", "_sum", "_created", "_info", "_total"] {
        if base.ends_with(reserved) {
            return Err(invalid(
                name,
                format!("the {reserved} suffix is reserved for the samples of another type"),
            ));
        }
    }
    // promtool (`lintMetricTypeInName`, `lintUnitAbbreviations`) looks for `_word_` or a
    // `_word` suffix, so a first word (`ms_sql_queries`, `b_tree_pages`) is neither.
    let later_words = || base.split('_').skip(1);
    let type_word = kind.as_str();
    if later_words().any(|w| w == type_word) {
        return Err(invalid(
            name,
            format!("should not include its type {type_word:?}"),
        ));
    }
    if let Some(word) = later_words().find(|w| ABBREVIATIONS.contains(w)) {
        return Err(invalid(
            name,
            format!("abbreviated unit {word:?}: use a base unit word (_seconds, _bytes)"),
        ));
    }
    // promtool's `lintMetricUnits`: any word, prefixed or not, that is a unit but no base
    // unit.
    for word in base.split('_') {
        let unprefixed = PREFIXES
            .iter()
            .find_map(|prefix| word.strip_prefix(prefix))
            .unwrap_or(word);
        let base_unit = NON_BASE_UNITS
            .iter()
            .find(|(unit, _)| *unit == unprefixed || *unit == word)
            .map(|(_, base)| *base)
            .or_else(|| {
                (unprefixed != word && BASE_WORDS.contains(&unprefixed)).then_some(unprefixed)
            });
        if let Some(base_unit) = base_unit {
            return Err(invalid(
                name,
                format!("non-base unit {word:?}: use _{base_unit}"),
            ));
        }
    }
    // OpenMetrics 1.0 (MetricFamily, Unit): a unit "MUST be a suffix of the MetricFamily
    // name separated by an underscore", so a name that is only a unit word (`seconds`,
    // `ratio`) has none: its `# UNIT` line would make the parsers reject the exposition.
    let suffix_unit = base
        .rsplit_once('_')
        .and_then(|(_, word)| Unit::from_word(word));
    let unit = match (unit, suffix_unit) {
        (Some(u), Some(s)) if u == s => Some(u),
        (Some(u), _) => {
            let unit = u.as_str();
            let ending = if kind == MetricKind::Counter {
                format!("_{unit} or _{unit}_total")
            } else {
                format!("_{unit}")
            };
            return Err(invalid(
                name,
                format!("has unit {u:?}, so it must end with {ending}"),
            ));
        }
        (None, s) => s,
    };
    Ok(ValidName {
        name: base.to_owned(),
        unit,
    })
}

/// Whether `name` is in the Prometheus metric name charset.
fn metric_charset_ok(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_' || bytes[0] == b':')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b':')
}

/// Checks a label name: the Prometheus label charset, not reserved, snake_case.
pub(crate) fn validate_label_name(
    metric: &str,
    label: &str,
    kind: MetricKind,
) -> Result<(), MetricsError> {
    let err = |reason| MetricsError::InvalidLabelName {
        metric: metric.to_owned(),
        label: label.to_owned(),
        reason,
    };
    let bytes = label.as_bytes();
    let charset_ok = !bytes.is_empty()
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if !charset_ok {
        return Err(err("must match [a-zA-Z_][a-zA-Z0-9_]*"));
    }
    // OpenMetrics 1.0 (Label): "Label names beginning with underscores are RESERVED and
    // MUST NOT be used" (Prometheus itself reserves `__`).
    if label.starts_with('_') {
        return Err(err(
            "names starting with _ are reserved (OpenMetrics; Prometheus reserves __)",
        ));
    }
    if bytes.iter().any(u8::is_ascii_uppercase) {
        return Err(err("use snake_case"));
    }
    if label == crate::family::OVERFLOW_LABEL {
        return Err(err("reserved for the cardinality overflow series"));
    }
    if label == "le" {
        return Err(err(if kind == MetricKind::Histogram {
            "`le` is the histogram bucket label"
        } else {
            // promtool check metrics: "non-histogram metrics should not have "le" label".
            "`le` is reserved for histogram buckets"
        }));
    }
    if label == "quantile" {
        return Err(err("`quantile` is reserved for summaries"));
    }
    Ok(())
}

/// Checks the OpenTelemetry names of metric `metric`: the instrument name syntax of the
/// metrics API spec ("Instrument name syntax": an ASCII letter, then up to 254 letters,
/// digits, `_`, `.`, `-` or `/`), and attribute keys that are non-empty, one per label
/// (the OTel common spec: "The attribute key MUST be a non-null and non-empty string").
pub(crate) fn validate_otel_names(
    metric: &str,
    unit: Option<Unit>,
    otel: &OtelNames,
) -> Result<(), MetricsError> {
    if let Some(otel_unit) = otel.unit {
        // The API spec's unit syntax: "ASCII string", "maximum length of 63 characters".
        // A family with a `Unit` has its UCUM code already: two units would disagree.
        let reason = if !otel_unit.is_ascii() || otel_unit.len() > 63 {
            Some("must be ASCII, at most 63 characters")
        } else if unit.is_some() {
            Some("is for a family without a unit suffix (its unit's UCUM code is sent)")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(invalid(
                metric,
                format!("the OpenTelemetry unit {otel_unit:?} of {metric} {reason}"),
            ));
        }
    }
    if let Some(name) = otel.name {
        let bytes = name.as_bytes();
        let valid = bytes.first().is_some_and(u8::is_ascii_alphabetic)
            && bytes.len() <= 255
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(b));
        if !valid {
            return Err(invalid(
                name,
                format!(
                    "the OpenTelemetry name of {metric} must match [A-Za-z][A-Za-z0-9_./-]* \
                     and have at most 255 characters"
                ),
            ));
        }
    }
    for (i, attribute) in otel.attributes.iter().enumerate() {
        let reason = if attribute.key.is_empty() {
            "its OpenTelemetry attribute key is empty"
        } else if otel.attributes[..i]
            .iter()
            .any(|a| a.label == attribute.label)
        {
            "given two OpenTelemetry attribute keys"
        } else {
            continue;
        };
        return Err(MetricsError::InvalidLabelName {
            metric: metric.to_owned(),
            label: attribute.label.to_owned(),
            reason,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str, kind: MetricKind) -> ValidName {
        validate_metric_name(name, kind, None).unwrap()
    }

    fn reason(name: &str, kind: MetricKind, unit: Option<Unit>) -> String {
        match validate_metric_name(name, kind, unit) {
            Err(MetricsError::InvalidName { reason, .. }) => reason,
            other => panic!("expected InvalidName for {name}, got {other:?}"),
        }
    }

    #[test]
    fn counters_accept_base_name_or_total() {
        assert_eq!(
            ok("http_requests", MetricKind::Counter).name,
            "http_requests"
        );
        assert_eq!(
            ok("http_requests_total", MetricKind::Counter).name,
            "http_requests"
        );
        let cpu = ok("process_cpu_seconds_total", MetricKind::Counter);
        assert_eq!(
            (cpu.name.as_str(), cpu.unit),
            ("process_cpu_seconds", Some(Unit::Seconds))
        );
    }

    #[test]
    fn units_are_inferred_and_checked() {
        let h = ok(
            "http_server_request_duration_seconds",
            MetricKind::Histogram,
        );
        assert_eq!(h.unit, Some(Unit::Seconds));
        assert_eq!(ok("queue_depth", MetricKind::Gauge).unit, None);
        assert!(
            reason(
                "request_duration",
                MetricKind::Histogram,
                Some(Unit::Seconds)
            )
            .contains("must end with _seconds")
        );
        assert!(
            reason("request_duration_milliseconds", MetricKind::Histogram, None)
                .contains("use _seconds")
        );
        // A counter's unit comes before `_total`: the error says so.
        assert!(
            reason("cpu_total", MetricKind::Counter, Some(Unit::Seconds))
                .contains("must end with _seconds or _seconds_total"),
        );
        assert!(reason("payload_kilobytes", MetricKind::Gauge, None).contains("use _bytes"));
        assert!(reason("latency_ms", MetricKind::Histogram, None).contains("abbreviated"));
        assert!(reason("uptime_hours", MetricKind::Gauge, None).contains("_seconds"));
    }

    /// promtool's `lintMetricUnits` flags every non-base unit word it knows (its `units`
    /// map), with or without a prefix, wherever it is in the name.
    #[test]
    fn every_non_base_unit_promtool_knows_is_rejected() {
        for (name, base) in [
            ("link_speed_bits", "bytes"),
            ("bits_received", "bytes"),
            ("uplink_kilobits", "bytes"),
            ("body_temperature_fahrenheit", "celsius"),
            ("oven_rankine", "celsius"),
            ("probe_kelvins", "kelvin"),
            ("cable_inches", "meters"),
            ("pitch_yards", "meters"),
            ("trip_miles", "meters"),
            ("meal_calories", "joules"),
            ("cargo_pounds", "grams"),
            ("dose_ounces", "grams"),
            ("uptime_kilominutes", "seconds"),
        ] {
            let reason = reason(name, MetricKind::Gauge, None);
            assert!(reason.contains(&format!("use _{base}")), "{name}: {reason}");
        }
    }

    /// promtool's `lintUnitAbbreviations` and `lintMetricTypeInName` look for `_word_` or
    /// a `_word` suffix: a name's first word is neither (`ms_sql`, a b-tree).
    #[test]
    fn a_first_word_is_no_abbreviated_unit_or_type() {
        for (name, kind) in [
            ("ms_sql_queries", MetricKind::Gauge),
            ("b_tree_pages", MetricKind::Gauge),
            ("gauge_readings", MetricKind::Gauge),
            ("counter_resets", MetricKind::Counter),
            ("histogram_merges", MetricKind::Histogram),
        ] {
            assert_eq!(ok(name, kind).name, name);
        }
        assert!(reason("queries_ms", MetricKind::Gauge, None).contains("abbreviated"));
        assert!(reason("pages_b_tree", MetricKind::Gauge, None).contains("abbreviated"));
        assert!(reason("readings_gauge", MetricKind::Gauge, None).contains("type"));
    }

    #[test]
    fn a_name_that_is_only_a_unit_word_has_no_unit() {
        for (name, kind) in [
            ("seconds", MetricKind::Counter),
            ("ratio", MetricKind::Gauge),
            ("bytes", MetricKind::Histogram),
        ] {
            assert_eq!(ok(name, kind).unit, None, "{name}");
        }
        assert!(reason("seconds", MetricKind::Gauge, Some(Unit::Seconds)).contains("_seconds"));
        // A word before the unit word is all OpenMetrics asks for; a bare underscore
        // would start a name OpenMetrics reserves.
        assert_eq!(ok("a_seconds", MetricKind::Gauge).unit, Some(Unit::Seconds));
        assert!(reason("_seconds", MetricKind::Gauge, None).contains("reserved"));
    }

    #[test]
    fn a_name_outside_the_charset_gets_a_suggestion() {
        // OpenTelemetry names (dots) and other separators: the error says what to write.
        for (name, kind, suggestion) in [
            (
                "http.server.request.duration",
                MetricKind::Histogram,
                "http_server_request_duration",
            ),
            ("jobs-processed", MetricKind::Counter, "jobs_processed"),
            ("queue depth", MetricKind::Gauge, "queue_depth"),
        ] {
            let reason = reason(name, kind, None);
            assert!(
                reason.contains(&format!("write {suggestion:?}")),
                "{name}: {reason}"
            );
        }
        // An OpenTelemetry name with its unit: the name the OpenTelemetry compatibility
        // spec translates them to, unit suffix included (before `_total`), and runs of
        // replaced characters as one `_`.
        for (name, kind, unit, suggestion) in [
            (
                "http.server.request.duration",
                MetricKind::Histogram,
                Unit::Seconds,
                "http_server_request_duration_seconds",
            ),
            (
                "http.server.request.body.size",
                MetricKind::Histogram,
                Unit::Bytes,
                "http_server_request_body_size_bytes",
            ),
            (
                "process.cpu.time",
                MetricKind::Counter,
                Unit::Seconds,
                "process_cpu_time_seconds",
            ),
            (
                "jobs.busy.total",
                MetricKind::Counter,
                Unit::Seconds,
                "jobs_busy_seconds_total",
            ),
            (
                "system.cpu.utilization",
                MetricKind::Gauge,
                Unit::Ratio,
                "system_cpu_utilization_ratio",
            ),
            (
                "queue.wait.seconds",
                MetricKind::Histogram,
                Unit::Seconds,
                "queue_wait_seconds",
            ),
        ] {
            let reason = reason(name, kind, Some(unit));
            assert!(
                reason.contains(&format!("write {suggestion:?}")),
                "{name}: {reason}"
            );
        }
        let runs = reason("app..queue - depth", MetricKind::Gauge, None);
        assert!(runs.contains("write \"app_queue_depth\""), "{runs}");
        // No suggestion when replacing characters does not give a valid name.
        assert!(!reason("9lives", MetricKind::Gauge, None).contains("write"));
        assert!(!reason("", MetricKind::Gauge, None).contains("write"));
    }

    #[test]
    fn charset_and_conventions() {
        assert!(reason("", MetricKind::Gauge, None).contains("[a-zA-Z_:]"));
        assert!(reason("9lives", MetricKind::Gauge, None).contains("[a-zA-Z_:]"));
        assert!(reason("a-b", MetricKind::Gauge, None).contains("[a-zA-Z_:]"));
        assert!(reason("job:rate5m", MetricKind::Gauge, None).contains("recording rules"));
        assert!(reason("httpRequests", MetricKind::Counter, None).contains("snake_case"));
        assert!(reason("queue_total", MetricKind::Gauge, None).contains("reserved for counters"));
        assert!(reason("latency_bucket", MetricKind::Histogram, None).contains("_bucket"));
        assert!(reason("errors_counter", MetricKind::Counter, None).contains("type"));
        assert!(reason("__private", MetricKind::Gauge, None).contains("reserved"));
        // OpenMetrics reserves a single leading underscore too.
        assert!(reason("_private", MetricKind::Gauge, None).contains("reserved"));
        assert!(reason("_jobs_total", MetricKind::Counter, None).contains("reserved"));
    }

    #[test]
    fn label_names() {
        let check = |l| validate_label_name("m", l, MetricKind::Histogram);
        assert!(check("http_route").is_ok());
        assert!(check("le").is_err());
        assert!(check("__name__").is_err());
        // OpenMetrics 1.0: "Label names beginning with underscores are RESERVED".
        assert!(check("_shard").is_err());
        assert!(check("Route").is_err());
        assert!(check("1st").is_err());
        assert!(check("otel_metric_overflow").is_err());
        // promtool: "non-histogram metrics should not have "le" label".
        for kind in [
            MetricKind::Counter,
            MetricKind::Gauge,
            MetricKind::UpDownCounter,
        ] {
            assert!(validate_label_name("m", "le", kind).is_err(), "{kind:?}");
        }
    }

    /// Without the reservation, a family named `target` printed a second `# TYPE target`
    /// beside the target info family in OpenMetrics, which the parsers reject.
    #[test]
    fn target_and_target_info_are_reserved_for_every_kind() {
        for kind in [
            MetricKind::Counter,
            MetricKind::Gauge,
            MetricKind::UpDownCounter,
            MetricKind::Histogram,
        ] {
            for name in ["target", "target_info"] {
                let reason = match validate_metric_name(name, kind, None) {
                    Err(MetricsError::InvalidName { reason, .. }) => reason,
                    other => panic!("{name} ({kind:?}): {other:?}"),
                };
                assert!(reason.contains("set_target_info"), "{name}: {reason}");
            }
        }
        // A counter's `_total` is no way around it; other names with the word are fine.
        assert!(validate_metric_name("target_total", MetricKind::Counter, None).is_err());
        assert!(validate_metric_name("target_info_total", MetricKind::Counter, None).is_err());
        assert!(validate_metric_name("target_hits", MetricKind::Counter, None).is_ok());
        assert!(validate_metric_name("scrape_target", MetricKind::Gauge, None).is_ok());
    }

    #[test]
    fn attribute_keys_become_label_names_as_the_compatibility_spec_says() {
        for (key, label) in [
            ("service.name", "service_name"),
            ("deployment.environment.name", "deployment_environment_name"),
            ("k8s.pod.uid", "k8s_pod_uid"),
            // Case is kept: label names may have capitals.
            ("Region", "Region"),
            // Runs of invalid characters and `_` become one `_`.
            ("a..b__c", "a_b_c"),
            // No label name starts with `_` (OpenMetrics reserves it, Prometheus `__`) or
            // a digit: `key_` before it, as the collector's Prometheus exporters write it.
            ("__name__", "key_name_"),
            ("_tier", "key_tier"),
            ("é", "key_"),
            ("1st.try", "key_1st_try"),
        ] {
            assert_eq!(attribute_label(key).as_deref(), Some(label), "{key}");
            assert!(
                validate_label_name("m", label, MetricKind::Gauge).is_ok()
                    || label.chars().any(|c| c.is_ascii_uppercase()),
                "{label} is a valid label name"
            );
        }
        assert_eq!(attribute_label(""), None);
    }
}
