//! The JSON lines `init` writes take their schema and redaction from the builder
//! (`json_field_names`, `json_span_fields`, `json_file_line`, `redaction`): `init` is once per process and
//! writes to stdout, so the case runs in a child process whose stdout the test reads.

#[path = "support/child.rs"]
pub mod child;

use obs_core::log::{FieldNames, Redaction, SpanFields};

const TEST: &str = "init_writes_json_lines_in_the_configured_schema_and_redaction";

#[test]
fn init_writes_json_lines_in_the_configured_schema_and_redaction() {
    if child::scenario().is_some() {
        let telemetry = obs_core::builder()
            .service_name("json-format")
            .sdk_disabled(true)
            .json_field_names(FieldNames::ecs())
            .json_span_fields(SpanFields::Flatten)
            .json_file_line(true)
            .redaction(Redaction::new(["card"]))
            .init()
            .expect("init");
        tracing::info_span!("checkout", order = 7).in_scope(|| {
            tracing::info!(card = "4111 1111", password = "shown", "paid");
        });
        telemetry.shutdown_blocking().expect("shutdown");
        return;
    }
    let stdout = child::in_child(
        TEST,
        "json-format",
        &[
            ("RUST_LOG", "info".to_owned()),
            ("OBS_LOG_FORMAT", "json".to_owned()),
        ],
    );
    // The test harness prints on stdout too, on the same line as the child's first output.
    let line = stdout
        .lines()
        .find_map(|l| {
            l.find("{\"")
                .filter(|_| l.contains("\"paid\""))
                .map(|at| &l[at..])
        })
        .unwrap_or_else(|| panic!("no JSON line in {stdout}"));
    let json: serde_json::Value = serde_json::from_str(line).expect("one JSON object");
    // ECS names.
    assert!(json.get("@timestamp").is_some(), "{line}");
    assert_eq!(json["service.name"], "json-format", "{line}");
    assert_eq!(json["log.level"], "INFO", "{line}");
    assert_eq!(json["ecs.version"], FieldNames::ECS_VERSION, "{line}");
    // The builder's list replaces the default one.
    assert_eq!(json["card"], "[REDACTED]", "{line}");
    assert_eq!(json["password"], "shown", "{line}");
    // Span fields flattened into the line.
    assert_eq!(json["order"], 7, "{line}");
    // The event's source, under ECS's names.
    assert_eq!(
        json["log.origin.file.name"], "obs-core/tests/lifecycle_json_format.rs",
        "{line}"
    );
    assert!(json["log.origin.file.line"].is_u64(), "{line}");
}
