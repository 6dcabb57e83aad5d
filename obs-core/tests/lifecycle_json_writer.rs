//! `Builder::json_writer`: the JSON lines `init` writes go to the application's writer (a
//! file here) instead of stdout, through the same bounded buffer, and the guard flushes them
//! (the writer's own buffer included) at shutdown.

use obs_core::trace::SpanExt;

#[test]
fn init_writes_the_json_lines_to_the_builders_writer() {
    let path = std::env::temp_dir().join(format!(
        "obs-lifecycle-json-writer-{}.jsonl",
        std::process::id()
    ));
    let file = std::fs::File::create(&path).expect("create the log file");
    let telemetry = obs_core::builder()
        .service_name("json-writer")
        .sdk_disabled(true)
        .log_filter("info")
        // Buffered: the line reaches the file only through the flush the writer thread
        // does after each batch it writes, which shutdown waits for.
        .json_writer(std::io::BufWriter::new(file))
        .init()
        .expect("init");
    let context = tracing::info_span!("checkout", order = 7).in_scope(|| {
        tracing::info!(card = "visa", "paid");
        tracing::Span::current().span_context()
    });
    let context = context.expect("the span has a context");
    telemetry.shutdown_blocking().expect("shutdown");

    let text = std::fs::read_to_string(&path).expect("read the log file");
    let _ = std::fs::remove_file(&path);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let json: serde_json::Value = serde_json::from_str(lines[0]).expect("one JSON object");
    assert_eq!(json["message"], "paid", "{text}");
    assert_eq!(json["service"], "json-writer", "{text}");
    assert_eq!(json["card"], "visa", "{text}");
    assert_eq!(json["spans"][0]["order"], 7, "{text}");
    assert_eq!(json["trace_id"], context.trace_id.to_string(), "{text}");
    assert_eq!(json["span_id"], context.span_id.to_string(), "{text}");
}
