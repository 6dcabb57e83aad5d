//! The text outputs pass the strict external checkers: `promtool check metrics` (Prometheus
//! text 0.0.4) and the `prometheus_client` Python package's OpenMetrics parser (OpenMetrics,
//! exemplars included). Both tools come from `scripts/install-test-deps.sh`; a missing
//! tool fails the test.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use obs_metrics::text::Format;
use obs_metrics::{Counter, EncodeLabelSet, Family, Histogram, Registry};
use obs_trace::{Sampler, SpanExt, SpanLayer};
use tracing_subscriber::prelude::*;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    http_request_method: &'static str,
    http_route: String,
    http_response_status_code: u16,
}

#[path = "support/misuse.rs"]
mod misuse;
use misuse::add_misuse;

/// A registry with every kind of metric, escapes, the overflow series, exemplars
/// recorded inside a sampled span, a `target_info` with attributes to translate and
/// values to escape, and the misuse of [`add_misuse`]; returns it with the span's trace id.
fn populated_registry() -> (Registry, String) {
    let registry = Registry::new();
    add_misuse(&registry);
    registry.set_target_info([
        ("service.name", "checkout \"eu\" \\ 1\nnext"),
        (
            "service.instance.id",
            "627cc493-f310-47de-96bd-71410b7dec09",
        ),
        ("k8s.pod.name", "café"),
        ("9.weird..key", "x"),
    ]);
    let requests = registry
        .metric(
            "http_server_requests",
            "Requests \"served\", by route.\nAll of them \\ really.",
        )
        .cardinality_limit(3)
        .dyn_family::<Counter>(&["http_route"])
        .unwrap();
    let duration: Family<HttpLabels, Histogram> = registry
        .family(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
        )
        .unwrap();
    let bytes = registry
        .metric("http_server_response_body_size_bytes", "Response sizes.")
        .counter_f64()
        .unwrap();
    let active = registry
        .gauge("http_server_active_requests", "Requests in flight.")
        .unwrap();
    registry
        .gauge_fn("app_build_ratio", "A callback gauge.", || 0.25)
        .unwrap();
    registry.register_process_metrics();
    // Histograms whose sum OpenMetrics can't show: negative values, negative thresholds.
    registry
        .metric("clock_skew_seconds", "Negative observations.")
        .buckets([0.001, 1.0, 1e6])
        .histogram()
        .unwrap()
        .observe(-3.0);
    let delta = registry
        .metric("balance_delta", "Negative thresholds.")
        .buckets([-10.0, 0.0, 1e-5, 10.0])
        .histogram()
        .unwrap();
    delta.observe(-5.0);
    delta.observe(20.0);

    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sampler(Sampler::AlwaysOn));
    let trace_id = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        for (i, route) in ["/a", "/b\"quoted\"", "/c\\d", "/e", "/f"]
            .iter()
            .enumerate()
        {
            requests.get(&[("http_route", route)]).inc();
            duration
                .get(&HttpLabels {
                    http_request_method: "GET",
                    http_route: (*route).to_owned(),
                    http_response_status_code: 200,
                })
                .observe(0.01 * (i as f64 + 1.0));
        }
        duration
            .get(&HttpLabels {
                http_request_method: "POST",
                http_route: "/a".to_owned(),
                http_response_status_code: 500,
            })
            .observe(42.0);
        bytes.inc_by(512.5);
        span.span_context().unwrap().trace_id.to_string()
    });
    active.inc();
    (registry, trace_id)
}

#[test]
fn promtool_check_metrics_reports_no_problem_on_prometheus_text() {
    let (registry, _) = populated_registry();
    let text = registry.encode(Format::Prometheus);
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: run scripts/install-test-deps.sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && report.trim().is_empty(),
        "promtool: {report}\n--- input ---\n{text}"
    );
}

/// Runs `script` with the `prometheus_client` package's Python on `text` (its stdin) and
/// returns what it printed; fails the test if the script fails (the parser rejected `text`).
fn python(script: &str, text: &str) -> String {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run scripts/install-test-deps.sh",
                python.display()
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "parser rejected the output: {}\n--- input ---\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn python_openmetrics_parser_accepts_openmetrics_with_exemplars() {
    let (registry, trace_id) = populated_registry();
    let text = registry.encode(Format::OpenMetrics);
    // Parse strictly, then print what the parser saw: exemplar trace ids and totals.
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
# Not sys.stdin.read(): text mode would turn a carriage return into a line feed.
families = list(text_string_to_metric_families(sys.stdin.buffer.read().decode("utf-8")))
for f in families:
    for s in f.samples:
        if s.exemplar:
            print("exemplar", f.name, s.name, s.exemplar.labels["trace_id"], s.exemplar.labels["span_id"])
        if s.name == "misuse_requests_total":
            print("misuse_requests", s.labels, s.value)
        if s.name == "http_server_requests_total":
            print("requests", s.labels.get("http_route", s.labels.get("otel_metric_overflow")), s.value)
    if f.name == "target":
        print("target", f.type, [(s.name, sorted(s.labels.items()), s.value, s.exemplar) for s in f.samples])
print("families", len(families))
"#;
    let stdout = python(script, &text);
    let exemplar_lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("exemplar"))
        .collect();
    // Two counters (requests series, bytes) and histogram buckets carry exemplars.
    assert!(
        exemplar_lines
            .iter()
            .any(|l| l.contains("http_server_request_duration_seconds_bucket")),
        "{stdout}"
    );
    assert!(
        exemplar_lines
            .iter()
            .any(|l| l.contains("http_server_response_body_size_bytes_total")),
        "{stdout}"
    );
    assert!(
        exemplar_lines.iter().all(|l| l.contains(&trace_id)),
        "{stdout}"
    );
    // Three routes fit the limit of 3; the other two folded into the overflow series.
    assert!(stdout.contains("requests true 2\n"), "{stdout}");
    assert!(stdout.contains("requests /a 1\n"), "{stdout}");
    // The two label sets that print alike are one series.
    assert!(
        stdout.contains("misuse_requests {'http_route': ''} 4\n"),
        "{stdout}"
    );
    // The resource: one info family, its attributes the only labels, escapes undone.
    let target: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("target "))
        .collect();
    assert_eq!(
        target,
        [
            "target info [('target_info', [('k8s_pod_name', 'café'), ('key_9_weird_key', 'x'), \
             ('service_instance_id', '627cc493-f310-47de-96bd-71410b7dec09'), \
             ('service_name', 'checkout \"eu\" \\\\ 1\\nnext')], 1, None)]"
        ],
        "{stdout}"
    );
}

/// OpenMetrics 1.0 (Numbers): "Floating point numbers MUST be represented either with a
/// decimal point or using scientific notation", and integers without one. A float whose
/// value is whole (a gauge at 42.0, a histogram's sum, an exemplar's value) printed as `42`
/// is an integer to a reader: Python's parser gave it as an `int`.
#[test]
fn python_openmetrics_parser_reads_floats_as_floats_and_integers_as_integers() {
    let registry = Registry::new();
    registry
        .metric("load", "A float gauge.")
        .gauge_f64()
        .unwrap()
        .set(42.0);
    registry
        .gauge_fn("answer_ratio", "A callback gauge.", || 1.0)
        .unwrap();
    let spent = registry
        .metric("spent_seconds", "A float counter.")
        .counter_f64()
        .unwrap();
    let wait = registry
        .metric("wait_seconds", "A histogram.")
        .buckets([1.0, 10.0])
        .histogram()
        .unwrap();
    let jobs = registry.counter("jobs", "An integer counter.").unwrap();
    registry
        .gauge("depth", "An integer gauge.")
        .unwrap()
        .set(-3);
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sampler(Sampler::AlwaysOn));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        spent.inc_by(3.0);
        wait.observe(2.0);
        jobs.inc_by(5);
    });
    let text = registry.encode(Format::OpenMetrics);
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.buffer.read().decode("utf-8")):
    for s in f.samples:
        print(s.name, s.labels.get("le", ""), type(s.value).__name__, s.value)
        if s.exemplar:
            print("exemplar", s.name, type(s.exemplar.value).__name__, s.exemplar.value)
"#;
    let stdout = python(script, &text);
    for expected in [
        "load  float 42.0",
        "answer_ratio  float 1.0",
        "spent_seconds_total  float 3.0",
        "exemplar spent_seconds_total float 3.0",
        "wait_seconds_sum  float 2.0",
        "exemplar wait_seconds_bucket float 2.0",
        // Counts and integer instruments stay integers.
        "wait_seconds_bucket 10.0 int 1",
        "wait_seconds_count  int 1",
        "jobs_total  int 5",
        "depth  int -3",
    ] {
        assert!(
            stdout.lines().any(|line| line == expected),
            "{expected:?} not in:\n{stdout}\n--- input ---\n{text}"
        );
    }
}
