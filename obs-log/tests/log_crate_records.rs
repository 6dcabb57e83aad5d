//! A `log` crate record (through `tracing-log`'s `LogTracer`) is written with its own
//! target and location, like an event: not as the fixed `log` callsite with its metadata in
//! `log.*` fields.

mod common;

use common::{captured, objects};
use obs_log::JsonLayer;
use tracing_subscriber::prelude::*;

#[test]
fn a_log_record_has_its_own_target_and_no_log_fields() {
    tracing_log::LogTracer::init().expect("the only logger in this test process");
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(
        JsonLayer::new()
            .with_writer(out.clone())
            .with_file_line(true),
    );
    tracing::subscriber::with_default(subscriber, || {
        tracing_log::log::warn!(target: "legacy::db", "slow query took {} ms", 42);
    });
    let objects = objects(&out);
    assert_eq!(objects.len(), 1);
    let line = &objects[0];
    assert_eq!(line["target"], "legacy::db");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["message"], "slow query took 42 ms");
    let keys: Vec<&String> = line.keys().collect();
    assert!(!keys.iter().any(|k| k.starts_with("log.")), "{keys:?}");
    let file = line
        .get("file")
        .and_then(|f| f.as_str())
        .unwrap_or_default();
    assert!(file.ends_with("log_crate_records.rs"), "{line:?}");
}
