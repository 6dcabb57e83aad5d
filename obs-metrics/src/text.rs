//! The two text expositions, printed from a [`collect`](crate::Registry::collect)
//! snapshot: OpenMetrics 1.0 (with exemplars and `# UNIT`) and the Prometheus text format
//! 0.0.4 (what `promtool check metrics` and older scrapers read).
//!
//! Specs: <https://github.com/prometheus/OpenMetrics/blob/v1.0.0/specification/OpenMetrics.md>
//! and <https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>.

use std::fmt::Write;

use crate::{Exemplar, HistogramValue, MetricFamilySnapshot, MetricKind, PointValue, Registry};

/// `Content-Type` of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `Content-Type` of the OpenMetrics text for a scraper that asks for version 0.0.1 rather
/// than 1.0.0 (Prometheus' `OpenMetricsText0.0.1` scrape protocol): the same text, the
/// pre-1.0 version number that Prometheus parses alike and its Go client answers with.
pub const OPENMETRICS_0_0_1_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=0.0.1; charset=utf-8";

/// `Content-Type` of the Prometheus text format 0.0.4.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// OpenMetrics 1.0 text: exemplars, `# UNIT`, `# EOF`.
    OpenMetrics,
    /// Prometheus text 0.0.4: no exemplars, no units.
    Prometheus,
}

impl Format {
    /// The `Content-Type` of this format (OpenMetrics as version 1.0.0), which
    /// [`negotiate`](Self::negotiate) answers with unless the client prefers OpenMetrics 0.0.1.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
        }
    }

    /// The format an `Accept` header value asks for (RFC 9110 §12.5.1 media ranges with
    /// q-values, the most specific range that matches a format giving its q-value).
    /// OpenMetrics when `application/openmetrics-text` (versions 1.0.0 or 0.0.1, or none) is
    /// named with a q-value above zero and at least that of `text/plain`, or when only a
    /// wildcard (`*/*`, `application/*`) reaches it and `text/plain` is less welcome;
    /// Prometheus text otherwise, so `*/*` clients such as curl get the classic format.
    pub fn from_accept(accept: &str) -> Format {
        Format::negotiate(accept).0
    }

    /// The format an `Accept` header value asks for (as [`from_accept`](Self::from_accept)),
    /// and the `Content-Type` to answer with: OpenMetrics as version 0.0.1 when the client
    /// welcomes that version more than 1.0.0 (it asked for 0.0.1 only, say), since
    /// Prometheus' scrape negotiation says the answer's `Content-Type` "SHOULD" match "one
    /// of the accepted formats"
    /// (<https://prometheus.io/docs/instrumenting/content_negotiation/>). The text is the
    /// same: Prometheus reads both versions with one parser, and its Go client writes both
    /// alike.
    pub fn negotiate(accept: &str) -> (Format, &'static str) {
        // The q-value of each OpenMetrics version, named exactly or by
        // `application/openmetrics-text` with no version (the most specific range decides).
        let mut v1 = None::<f32>;
        let mut v0_0_1 = None::<f32>;
        let mut unversioned = None::<f32>;
        // The q-value of each format per specificity: [exact type, `type/*`, `*/*`].
        let mut openmetrics = [None::<f32>; 3];
        let mut text = [None::<f32>; 3];
        let raise = |slot: &mut Option<f32>, q: f32| *slot = Some(slot.map_or(q, |s| s.max(q)));
        for range in accept.split(',') {
            let mut params = range.split(';');
            let media = params.next().unwrap_or_default().trim();
            let mut q = 1.0f32;
            let mut version = None;
            let mut valid = true;
            for param in params {
                let Some((key, value)) = param.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                if key.trim().eq_ignore_ascii_case("q") {
                    match value.parse::<f32>() {
                        Ok(v) if (0.0..=1.0).contains(&v) => q = v,
                        _ => valid = false,
                    }
                } else if key.trim().eq_ignore_ascii_case("version") {
                    version = Some(value);
                }
            }
            if !valid {
                continue;
            }
            if media.eq_ignore_ascii_case("application/openmetrics-text") {
                match version {
                    None => raise(&mut unversioned, q),
                    Some("1.0.0") => raise(&mut v1, q),
                    Some("0.0.1") => raise(&mut v0_0_1, q),
                    Some(_) => {}
                }
            } else if media.eq_ignore_ascii_case("application/*") {
                raise(&mut openmetrics[1], q);
            } else if media.eq_ignore_ascii_case("text/plain") {
                raise(&mut text[0], q);
            } else if media.eq_ignore_ascii_case("text/*") {
                raise(&mut text[1], q);
            } else if media == "*/*" {
                raise(&mut openmetrics[2], q);
                raise(&mut text[2], q);
            }
        }
        // 1.0.0 unless 0.0.1 is welcome and more so.
        let (v1, v0_0_1) = (v1.or(unversioned), v0_0_1.or(unversioned));
        let (named, content_type) = match (v1, v0_0_1) {
            (v1, Some(old)) if v1.is_none_or(|v1| old > v1) => {
                (Some(old), OPENMETRICS_0_0_1_CONTENT_TYPE)
            }
            (v1, _) => (v1, OPENMETRICS_CONTENT_TYPE),
        };
        openmetrics[0] = named;
        let most_specific = |qs: [Option<f32>; 3]| qs.into_iter().flatten().next().unwrap_or(0.0);
        let (om, plain) = (most_specific(openmetrics), most_specific(text));
        if om > 0.0 && (om > plain || (named.is_some() && om >= plain)) {
            (Format::OpenMetrics, content_type)
        } else {
            (Format::Prometheus, PROMETHEUS_CONTENT_TYPE)
        }
    }
}

impl Registry {
    /// The whole registry in `format`: its `target_info`, if
    /// [`set_target_info`](Registry::set_target_info) gave it one, then every family
    /// [`collect`](Registry::collect) returns.
    pub fn encode(&self, format: Format) -> String {
        let families = self.collect();
        let mut out = String::new();
        encode_target_info(&self.target_info(), format, &mut out);
        encode(&families, format, &mut out);
        out
    }
}

/// The `HELP` of `target_info`, as Prometheus' Go and OpenTelemetry's exporters write it.
const TARGET_INFO_HELP: &str = "Target metadata";

/// Prints `target_info` with `labels` (none: nothing printed). OpenMetrics 1.0 has an Info
/// type for it ("Supporting target metadata in both push-based and pull-based systems": a
/// family `target` whose one sample is `target_info`, value 1, no exemplar); the 0.0.4
/// format has none, and prints it as the gauge `target_info`, as OpenTelemetry's Go
/// exporter does (the compatibility spec: "a gauge-typed metric family named `target_info`
/// with a constant value of 1").
fn encode_target_info(labels: &[(String, String)], format: Format, out: &mut String) {
    if labels.is_empty() {
        return;
    }
    let (suffix, kind) = match format {
        Format::OpenMetrics => ("", "info"),
        Format::Prometheus => ("_info", "gauge"),
    };
    write_metadata("target", suffix, TARGET_INFO_HELP, kind, format, out);
    sample_start("target", "_info", labels, None, out);
    out.push_str("1\n");
}

/// Prints `families` in `format` to `out`. They are printed as they are: those
/// [`Registry::collect`] returns are valid in both formats (it checks a
/// [`Collector`](crate::Collector)'s families), while a hand-made snapshot that breaks the
/// rules `collect` checks (a name, a repeated series, buckets that don't match their
/// bounds) gives an exposition a scraper may reject. A registry's `target_info` is no
/// family of a snapshot: [`Registry::encode`] prints it.
pub fn encode(families: &[MetricFamilySnapshot], format: Format, out: &mut String) {
    for family in families {
        encode_family(family, format, out);
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
}

fn encode_family(family: &MetricFamilySnapshot, format: Format, out: &mut String) {
    let name = family.name.as_str();
    // Prometheus 0.0.4 names a counter family by its sample name; OpenMetrics by the
    // name without `_total`.
    let total = if family.kind == MetricKind::Counter && format == Format::Prometheus {
        "_total"
    } else {
        ""
    };
    write_metadata(name, total, &family.help, family.kind.as_str(), format, out);
    if let (Some(unit), Format::OpenMetrics) = (family.unit, format) {
        let _ = writeln!(out, "# UNIT {name} {}", unit.as_str());
    }
    for point in &family.points {
        match &point.value {
            PointValue::Histogram(h) => {
                encode_histogram(name, &point.labels, h, &point.exemplars, format, out);
            }
            value => {
                let suffix = if family.kind == MetricKind::Counter {
                    "_total"
                } else {
                    ""
                };
                sample_start(name, suffix, &point.labels, None, out);
                write_value(value, format, out);
                if format == Format::OpenMetrics && family.kind == MetricKind::Counter {
                    write_exemplar(point.exemplars.first(), out);
                }
                out.push('\n');
            }
        }
    }
}

/// The `# HELP` and `# TYPE` lines of the family `name` + `suffix` (0.0.4 names a family
/// by a sample name where OpenMetrics does not: `jobs_total`, `target_info`).
fn write_metadata(
    name: &str,
    suffix: &str,
    help: &str,
    kind: &str,
    format: Format,
    out: &mut String,
) {
    let _ = write!(out, "# HELP {name}{suffix} ");
    escape(help, format == Format::OpenMetrics, out);
    let _ = writeln!(out, "\n# TYPE {name}{suffix} {kind}");
}

fn encode_histogram(
    name: &str,
    labels: &[(String, String)],
    h: &HistogramValue,
    exemplars: &[Exemplar],
    format: Format,
    out: &mut String,
) {
    let mut cumulative = 0u64;
    for (i, count) in h.bucket_counts.iter().enumerate() {
        // Saturating: `encode` is public, and a hand-made snapshot may count past u64::MAX.
        cumulative = cumulative.saturating_add(*count);
        let mut le = String::new();
        match h.bounds.get(i) {
            Some(bound) => write_le(*bound, format, &mut le),
            None => le.push_str("+Inf"),
        }
        sample_start(name, "_bucket", labels, Some(&le), out);
        let _ = write!(out, "{cumulative}");
        if format == Format::OpenMetrics {
            let exemplar = exemplars
                .iter()
                .rev()
                .find(|e| HistogramValue::bucket_index(&h.bounds, e.value) == i);
            write_exemplar(exemplar, out);
        }
        out.push('\n');
    }
    // OpenMetrics 1.0, Histogram: a histogram with negative thresholds "MUST NOT contain a
    // sum value", and a sum is a counter-like sample that must not go down (so none once a
    // negative value was observed) or be NaN; `_count` appears "if and only if" `_sum` does. The 0.0.4 format has neither
    // rule, and Prometheus reads negative sums from it as they are.
    let sum_allowed = format == Format::Prometheus || h.counter_like_sum().is_some();
    if sum_allowed {
        sample_start(name, "_sum", labels, None, out);
        write_float(h.sum, format, out);
        out.push('\n');
        sample_start(name, "_count", labels, None, out);
        let _ = writeln!(out, "{}", h.count);
    }
}

fn sample_start(
    name: &str,
    suffix: &str,
    labels: &[(String, String)],
    le: Option<&str>,
    out: &mut String,
) {
    out.push_str(name);
    out.push_str(suffix);
    let pairs = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(le.map(|le| ("le", le)));
    write_labels(pairs, out);
    out.push(' ');
}

fn write_labels<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, out: &mut String) {
    let mut first = true;
    for (key, value) in pairs {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(key);
        out.push_str("=\"");
        escape_label_value(value, out);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
}

/// An exemplar, which only OpenMetrics carries.
fn write_exemplar(exemplar: Option<&Exemplar>, out: &mut String) {
    let Some(e) = exemplar else { return };
    let _ = write!(
        out,
        " # {{trace_id=\"{}\",span_id=\"{}\"}} ",
        e.trace_id, e.span_id
    );
    write_float(e.value, Format::OpenMetrics, out);
    let _ = write!(
        out,
        " {}.{:09}",
        e.time_unix_nano / 1_000_000_000,
        e.time_unix_nano % 1_000_000_000
    );
}

fn write_value(value: &PointValue, format: Format, out: &mut String) {
    match value {
        PointValue::U64(v) => {
            let _ = write!(out, "{v}");
        }
        PointValue::I64(v) => {
            let _ = write!(out, "{v}");
        }
        PointValue::F64(v) => write_float(*v, format, out),
        PointValue::Histogram(h) => write_float(h.sum, format, out),
    }
}

/// A float value (an `f64` instrument's, a histogram's sum, an exemplar's) in `format`:
/// as [`write_f64`], and in OpenMetrics marked as a float (see [`mark_float`]) when it is
/// whole, since OpenMetrics tells a float from an integer by its text.
fn write_float(v: f64, format: Format, out: &mut String) {
    let start = out.len();
    write_f64(v, out);
    if v.is_finite() {
        mark_float(start, format, out);
    }
}

/// In OpenMetrics, appends `.0` to the finite number written at `start..` if it has neither
/// a decimal point nor an exponent: OpenMetrics 1.0, Numbers: "Floating point numbers MUST
/// be represented either with a decimal point or using scientific notation" (`1.0`,
/// `100000.0`), while integers have none; parsers read `42` as an integer. Prometheus' Go
/// client writes its OpenMetrics floats so. The 0.0.4 format has no integers, and the Go
/// client writes `42` there.
fn mark_float(start: usize, format: Format, out: &mut String) {
    if format == Format::OpenMetrics && !out[start..].contains(['.', 'e']) {
        out.push_str(".0");
    }
}

/// Floats as both formats (and Go's `ParseFloat`) read them: `+Inf`, `-Inf`, `NaN`, plain
/// decimals in the usual range and exponent notation outside it.
fn write_f64(v: f64, out: &mut String) {
    let _ = if v.is_nan() {
        write!(out, "NaN")
    } else if v.is_infinite() {
        write!(out, "{}", if v > 0.0 { "+Inf" } else { "-Inf" })
    } else if v == 0.0 || (1e-6..1e21).contains(&v.abs()) {
        write!(out, "{v}")
    } else {
        write!(out, "{v:e}")
    };
}

/// A bucket threshold as Prometheus' own clients print it (Go's `%g`, shortest: exponent
/// notation from 1e+06 up and below 1e-04, with a sign and two digits); in OpenMetrics also
/// a Canonical Number ("MUST", OpenMetrics 1.0, Histogram), which gives an integral value a
/// `.0`: `1.0`, `100000.0`, `1e+06`, `1e-05`. Ingestors compare `le` as a string.
fn write_le(bound: f64, format: Format, out: &mut String) {
    let start = out.len();
    if bound.is_infinite() || bound.is_nan() {
        write_f64(bound, out);
        return;
    }
    let scientific = format!("{bound:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .and_then(|(m, e)| Some((m, e.parse::<i32>().ok()?)))
        .unwrap_or((scientific.as_str(), 0));
    let _ = if bound != 0.0 && !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        write!(out, "{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    } else {
        write!(out, "{bound}")
    };
    mark_float(start, format, out);
}

/// HELP text: both formats escape `\` and line feed; only OpenMetrics escapes `"` (the
/// 0.0.4 parser rejects `\"` in help).
fn escape(text: &str, quote: bool, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn escape_label_value(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Counter, Registry, Unit};
    use obs_trace::{SpanId, TraceId};
    use std::sync::Arc;

    #[test]
    fn accept_negotiation_follows_q_values() {
        let prometheus_2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::from_accept(prometheus_2), Format::OpenMetrics);
        assert_eq!(Format::from_accept("*/*"), Format::Prometheus);
        assert_eq!(Format::from_accept(""), Format::Prometheus);
        assert_eq!(
            Format::from_accept("text/plain;version=0.0.4"),
            Format::Prometheus
        );
        assert_eq!(
            Format::from_accept("application/openmetrics-text; q=0"),
            Format::Prometheus
        );
        assert_eq!(
            Format::from_accept("application/openmetrics-text;q=0.4, text/plain;q=0.9"),
            Format::Prometheus
        );
        assert_eq!(
            Format::from_accept("text/plain;q=0.2, APPLICATION/OpenMetrics-Text; Q=0.3"),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_accept("application/openmetrics-text;version=2.0.0"),
            Format::Prometheus
        );
        assert_eq!(
            Format::from_accept("application/openmetrics-text;q=abc"),
            Format::Prometheus
        );
        // The most specific range decides (RFC 9110 §12.5.1): a wildcard's q-value does not
        // override what `text/plain` itself was given.
        assert_eq!(
            Format::from_accept("*/*;q=0.9, text/plain;q=0.1, application/openmetrics-text;q=0.5"),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_accept("text/plain;q=0, */*"),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_accept("text/*;q=0.2, application/*;q=0.5"),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_accept("text/plain;q=0.5, text/*;q=1, */*"),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_accept("application/*, text/plain"),
            Format::Prometheus
        );
    }

    fn sample_registry() -> Registry {
        let r = Registry::new();
        r.counter("jobs", "Jobs \"done\"\\ here.\nSecond line.")
            .unwrap()
            .inc_by(7);
        r.metric("process_cpu_seconds", "CPU time.")
            .counter_f64()
            .unwrap()
            .inc_by(0.5);
        r.gauge("queue_depth", "Depth.").unwrap().set(-3);
        let h = r
            .metric("wait_seconds", "Wait.")
            .buckets([0.1, 1.0])
            .histogram()
            .unwrap();
        h.observe(0.05);
        h.observe(2.0);
        let f = r
            .dyn_family::<Counter>("calls", "Calls.", &["path"])
            .unwrap();
        f.get(&[("path", "a\"b\\c\nd")]).inc();
        r
    }

    #[test]
    fn prometheus_text() {
        let text = sample_registry().encode(Format::Prometheus);
        assert_eq!(
            text,
            "# HELP jobs_total Jobs \"done\"\\\\ here.\\nSecond line.\n\
             # TYPE jobs_total counter\n\
             jobs_total 7\n\
             # HELP process_cpu_seconds_total CPU time.\n\
             # TYPE process_cpu_seconds_total counter\n\
             process_cpu_seconds_total 0.5\n\
             # HELP queue_depth Depth.\n\
             # TYPE queue_depth gauge\n\
             queue_depth -3\n\
             # HELP wait_seconds Wait.\n\
             # TYPE wait_seconds histogram\n\
             wait_seconds_bucket{le=\"0.1\"} 1\n\
             wait_seconds_bucket{le=\"1\"} 1\n\
             wait_seconds_bucket{le=\"+Inf\"} 2\n\
             wait_seconds_sum 2.05\n\
             wait_seconds_count 2\n\
             # HELP calls_total Calls.\n\
             # TYPE calls_total counter\n\
             calls_total{path=\"a\\\"b\\\\c\\nd\"} 1\n"
        );
    }

    /// The resource as `target_info`, one sample with exactly its attributes as labels
    /// (translated and escaped) and value 1: an OpenMetrics Info family `target`, a 0.0.4
    /// gauge `target_info`; never a family of `collect` (what OTLP pushes).
    #[test]
    fn target_info_in_both_formats() {
        let r = sample_registry();
        r.set_target_info([
            ("service.name", "checkout \"eu\"\\1\nnext"),
            (
                "service.instance.id",
                "627cc493-f310-47de-96bd-71410b7dec09",
            ),
            ("1st.zone", "a"),
            ("deployment.environment.name", ""),
            // Two keys of one label name: values joined in the order of the keys.
            ("host_name", "second"),
            ("host.name", "first"),
        ]);
        let labels = "{deployment_environment_name=\"\",host_name=\"first;second\",key_1st_zone=\"a\",\
                      service_instance_id=\"627cc493-f310-47de-96bd-71410b7dec09\",\
                      service_name=\"checkout \\\"eu\\\"\\\\1\\nnext\"}";
        let openmetrics = r.encode(Format::OpenMetrics);
        assert!(
            openmetrics.starts_with(&format!(
                "# HELP target Target metadata\n# TYPE target info\ntarget_info{labels} 1\n\
                 # HELP jobs "
            )),
            "{openmetrics}"
        );
        assert_eq!(openmetrics.matches("target").count(), 3, "{openmetrics}");
        assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
        let text = r.encode(Format::Prometheus);
        assert!(
            text.starts_with(&format!(
                "# HELP target_info Target metadata\n# TYPE target_info gauge\n\
                 target_info{labels} 1\n# HELP jobs_total "
            )),
            "{text}"
        );
        assert_eq!(text.matches("target").count(), 3, "{text}");
        assert!(r.collect().iter().all(|f| !f.name.starts_with("target")));

        // Set again: replaced, never two; set to nothing: gone.
        r.set_target_info([("service.name", "billing")]);
        let text = r.encode(Format::Prometheus);
        assert_eq!(text.matches("# TYPE target_info").count(), 1, "{text}");
        assert!(
            text.contains("\ntarget_info{service_name=\"billing\"} 1\n"),
            "{text}"
        );
        r.set_target_info([]);
        assert_eq!(
            r.encode(Format::Prometheus),
            sample_registry().encode(Format::Prometheus)
        );
        // An empty key is no label.
        r.set_target_info([("", "x")]);
        assert!(!r.encode(Format::OpenMetrics).contains("target"));
    }

    #[test]
    fn a_registry_nobody_gives_a_resource_has_no_target_info() {
        for format in [Format::OpenMetrics, Format::Prometheus] {
            assert!(!sample_registry().encode(format).contains("target"));
        }
    }

    #[test]
    fn openmetrics_text_with_units_and_eof() {
        let text = sample_registry().encode(Format::OpenMetrics);
        assert!(text.starts_with(
            "# HELP jobs Jobs \\\"done\\\"\\\\ here.\\nSecond line.\n# TYPE jobs counter\njobs_total 7\n"
        ));
        assert!(text.contains(
            "# HELP process_cpu_seconds CPU time.\n# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n"
        ));
        assert!(text.ends_with("calls_total{path=\"a\\\"b\\\\c\\nd\"} 1\n# EOF\n"));
    }

    #[test]
    fn exemplars_go_on_their_bucket_and_counter_sample() {
        let e = |value| Exemplar {
            trace_id: TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c),
            span_id: SpanId::from_u64(0xb7ad6b7169203331),
            value,
            time_unix_nano: 1_700_000_000_250_000_000,
        };
        let families = vec![
            MetricFamilySnapshot {
                name: "jobs".to_owned(),
                help: "Jobs.".to_owned(),
                unit: None,
                kind: MetricKind::Counter,
                otel: Default::default(),
                asynchronous: false,
                points: vec![crate::PointSnapshot {
                    labels: vec![],
                    value: PointValue::U64(1),
                    start_time_unix_nano: 0,
                    time_unix_nano: 0,
                    exemplars: vec![e(1.0)],
                }],
            },
            MetricFamilySnapshot {
                name: "wait_seconds".to_owned(),
                help: "Wait.".to_owned(),
                unit: Some(Unit::Seconds),
                kind: MetricKind::Histogram,
                otel: Default::default(),
                asynchronous: false,
                points: vec![crate::PointSnapshot {
                    labels: vec![],
                    value: PointValue::Histogram(HistogramValue {
                        bounds: Arc::from([1.0]),
                        bucket_counts: vec![0, 1],
                        sum: -2.0,
                        count: 1,
                        negative_count: 1,
                    }),
                    start_time_unix_nano: 0,
                    time_unix_nano: 0,
                    exemplars: vec![e(2.0)],
                }],
            },
        ];
        let mut text = String::new();
        encode(&families, Format::OpenMetrics, &mut text);
        let ex = "# {trace_id=\"0af7651916cd43dd8448eb211c80319c\",span_id=\"b7ad6b7169203331\"}";
        assert!(text.contains(&format!("jobs_total 1 {ex} 1.0 1700000000.250000000\n")));
        assert!(text.contains("wait_seconds_bucket{le=\"1.0\"} 0\n"));
        assert!(text.contains(&format!(
            "wait_seconds_bucket{{le=\"+Inf\"}} 1 {ex} 2.0 1700000000.250000000\n"
        )));
        assert!(!text.contains("wait_seconds_sum"), "{text}");
        assert!(!text.contains("wait_seconds_count"), "{text}");
        let mut text = String::new();
        encode(&families, Format::Prometheus, &mut text);
        assert!(!text.contains("trace_id"), "{text}");
        assert!(text.contains("wait_seconds_sum -2\n"));
    }

    /// `encode` is public and takes any snapshot: bucket counts that add up past u64::MAX
    /// (which `Registry::collect` leaves out of a collector's families) must not panic.
    #[test]
    fn a_hand_made_snapshot_with_huge_bucket_counts_does_not_panic() {
        let families = [MetricFamilySnapshot {
            name: "wait_seconds".to_owned(),
            help: "Wait.".to_owned(),
            unit: None,
            kind: MetricKind::Histogram,
            otel: Default::default(),
            asynchronous: false,
            points: vec![crate::PointSnapshot {
                labels: vec![],
                value: PointValue::Histogram(HistogramValue {
                    bounds: Arc::from([1.0]),
                    bucket_counts: vec![u64::MAX, 1],
                    sum: 1.0,
                    count: u64::MAX,
                    negative_count: 0,
                }),
                start_time_unix_nano: 0,
                time_unix_nano: 0,
                exemplars: vec![],
            }],
        }];
        for format in [Format::Prometheus, Format::OpenMetrics] {
            let mut text = String::new();
            encode(&families, format, &mut text);
            assert!(
                text.contains(&format!(
                    "wait_seconds_bucket{{le=\"+Inf\"}} {}\n",
                    u64::MAX
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn floats() {
        let f = |v| {
            let mut s = String::new();
            write_f64(v, &mut s);
            s
        };
        assert_eq!(f(1.0), "1");
        assert_eq!(f(0.005), "0.005");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(1e-9), "1e-9");
        assert_eq!(f(1e300), "1e300");
        assert_eq!(f(-0.0), "-0");
    }

    #[test]
    fn bucket_thresholds_are_canonical_numbers_in_openmetrics() {
        let le = |v, format| {
            let mut s = String::new();
            write_le(v, format, &mut s);
            s
        };
        // The thresholds of OpenMetrics 1.0's own histogram example.
        for (v, canonical) in [
            (0.0, "0.0"),
            (1e-05, "1e-05"),
            (0.0001, "0.0001"),
            (0.1, "0.1"),
            (1.0, "1.0"),
            (10.0, "10.0"),
            (100000.0, "100000.0"),
            (1e+06, "1e+06"),
            (1e+23, "1e+23"),
            (1.1e+23, "1.1e+23"),
        ] {
            assert_eq!(le(v, Format::OpenMetrics), canonical);
        }
        // The 0.0.4 format as Prometheus' Go clients print it.
        for (v, text) in [
            (1.0, "1"),
            (0.005, "0.005"),
            (2.5e-7, "2.5e-07"),
            (-10.0, "-10"),
        ] {
            assert_eq!(le(v, Format::Prometheus), text);
        }
        assert_eq!(le(-1.5e7, Format::OpenMetrics), "-1.5e+07");
    }

    #[test]
    fn openmetrics_histograms_without_a_valid_sum_show_neither_sum_nor_count() {
        let registry = crate::Registry::new();
        let negative_values = registry.metric("skew_seconds", "h").histogram().unwrap();
        negative_values.observe(-3.0);
        let negative_bounds = registry
            .metric("delta", "h")
            .buckets([-10.0, 0.0, 10.0])
            .histogram()
            .unwrap();
        negative_bounds.observe(-5.0);
        negative_bounds.observe(20.0);
        let rebound = registry.metric("rebound_seconds", "h").histogram().unwrap();
        rebound.observe(-1.0);
        rebound.observe(5.0);
        let text = registry.encode(Format::OpenMetrics);
        for name in ["skew_seconds", "delta", "rebound_seconds"] {
            assert!(!text.contains(&format!("{name}_sum")), "{text}");
            assert!(!text.contains(&format!("{name}_count")), "{text}");
        }
        assert!(text.contains("delta_bucket{le=\"-10.0\"} 0\n"), "{text}");
        assert!(text.contains("delta_bucket{le=\"+Inf\"} 2\n"), "{text}");
        let text = registry.encode(Format::Prometheus);
        assert!(
            text.contains("skew_seconds_sum -3\nskew_seconds_count 1\n"),
            "{text}"
        );
        assert!(text.contains("delta_sum 15\ndelta_count 2\n"), "{text}");
    }
}
