//! Golden tests of the JSON line: keys, order, types, presets and the span modes.

mod common;

use common::{PanicsWhenFormatted, RequestFailed, captured, lines, mask_timestamp, objects};
use obs_log::{FORMAT_PANICKED, FieldNames, JsonLayer, Redaction, SpanFields};
use obs_trace::{Sampler, SpanExt, SpanLayer};
use serde_json::json;
use tracing::field;
use tracing_subscriber::prelude::*;

/// Masks the timestamp and the ids of `span` (which must be the current span).
fn golden(line: &str, ts_key: &str, span: &tracing::Span) -> String {
    let ctx = span.span_context().expect("span has a context");
    mask_timestamp(line, ts_key)
        .replace(
            std::str::from_utf8(&ctx.trace_id.to_hex()).unwrap(),
            "<trace>",
        )
        .replace(
            std::str::from_utf8(&ctx.span_id.to_hex()).unwrap(),
            "<span>",
        )
}

#[test]
fn default_schema_with_nested_spans() {
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(SpanLayer::new()).with(
        JsonLayer::new()
            .with_writer(out.clone())
            .with_service_name("shop"),
    );
    let mut inner_span = tracing::Span::none();
    tracing::subscriber::with_default(subscriber, || {
        let _request = tracing::info_span!("request", method = "GET").entered();
        let login = tracing::info_span!("login", provider = "sso").entered();
        tracing::info!(target: "shop::auth", user = "ann", attempt = 2, ok = true, ratio = 0.5, "logged in");
        inner_span = login.exit();
    });
    let lines = lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(
        golden(&lines[0], "timestamp", &inner_span),
        r#"{"timestamp":"<ts>","level":"INFO","message":"logged in","target":"shop::auth","service":"shop","trace_id":"<trace>","span_id":"<span>","trace_flags":"03","user":"ann","attempt":2,"ok":true,"ratio":0.5,"spans":[{"name":"request","method":"GET"},{"name":"login","provider":"sso"}]}"#
    );
}

#[test]
fn outside_any_span_there_are_no_ids_and_no_spans() {
    let out = captured();
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(JsonLayer::new().with_writer(out.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::warn!(target: "t", "no span");
        tracing::error!(target: "t", code = 7);
    });
    let lines: Vec<String> = lines(&out)
        .iter()
        .map(|l| mask_timestamp(l, "timestamp"))
        .collect();
    assert_eq!(
        lines,
        [
            r#"{"timestamp":"<ts>","level":"WARN","message":"no span","target":"t"}"#,
            r#"{"timestamp":"<ts>","level":"ERROR","message":"","target":"t","code":7}"#,
        ]
    );
}

#[test]
fn flattened_span_fields_innermost_wins() {
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(SpanLayer::new()).with(
        JsonLayer::new()
            .with_writer(out.clone())
            .with_span_fields(SpanFields::Flatten),
    );
    let mut inner_span = tracing::Span::none();
    tracing::subscriber::with_default(subscriber, || {
        let _outer = tracing::info_span!("outer", a = 1, b = "outer").entered();
        let inner = tracing::info_span!("inner", b = "inner", c = 3).entered();
        tracing::info!(target: "t", c = "event", "hi");
        inner_span = inner.exit();
    });
    assert_eq!(
        golden(&lines(&out)[0], "timestamp", &inner_span),
        r#"{"timestamp":"<ts>","level":"INFO","message":"hi","target":"t","trace_id":"<trace>","span_id":"<span>","trace_flags":"03","c":"event","b":"inner","a":1}"#
    );
}

#[test]
fn fields_named_like_reserved_keys_never_overwrite_them() {
    let out = captured();
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(JsonLayer::new().with_writer(out.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!("s", name = "user-name", "fields.name" = 1).entered();
        tracing::info!(
            target: "t",
            level = "fake",
            trace_id = "forged",
            target = 1,
            timestamp = 2,
            spans = 3,
            "fields.level" = 4,
            "real message"
        );
    });
    let line = &objects(&out)[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["message"], "real message");
    assert_eq!(line["target"], "t");
    assert_eq!(line["trace_id"].as_str().unwrap().len(), 32);
    assert_eq!(line["fields.level"], "fake");
    assert_eq!(line["fields.trace_id"], "forged");
    assert_eq!(line["fields.target"], 1);
    assert_eq!(line["fields.timestamp"], 2);
    assert_eq!(line["fields.spans"], 3);
    assert_eq!(line["fields.fields.level"], 4);
    assert_eq!(
        line["spans"],
        json!([{"name": "s", "fields.name": "user-name", "fields.fields.name": 1}])
    );
    // No key appears twice in the raw line either.
    let raw = &lines(&out)[0];
    assert_eq!(raw.matches("\"level\":").count(), 1);
    assert_eq!(raw.matches("\"trace_id\":").count(), 1);
}

/// `line` with its dotted keys expanded into objects, as Elasticsearch indexes an ECS
/// line (`{"service.name":"a"}` is `{"service":{"name":"a"}}`), or the key that clashes.
fn expand_dots(
    line: &serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let mut root = serde_json::Map::new();
    for (key, value) in line {
        let mut segments: Vec<&str> = key.split('.').collect();
        let leaf = segments.pop().unwrap();
        let mut object = &mut root;
        for segment in segments {
            let next = object.entry(segment).or_insert_with(|| json!({}));
            object = next.as_object_mut().ok_or_else(|| key.clone())?;
        }
        if object.insert(leaf.to_owned(), value.clone()).is_some() {
            return Err(key.clone());
        }
    }
    Ok(serde_json::Value::Object(root))
}

#[test]
fn user_fields_never_clash_with_reserved_keys_once_dots_are_expanded() {
    for span_fields in [SpanFields::Nested, SpanFields::Flatten] {
        let out = captured();
        let subscriber = tracing_subscriber::registry().with(SpanLayer::new()).with(
            JsonLayer::new()
                .with_writer(out.clone())
                .with_field_names(FieldNames::ecs())
                .with_service_name("shop")
                .with_span_fields(span_fields)
                .with_file_line(true),
        );
        tracing::subscriber::with_default(subscriber, || {
            let _span = tracing::info_span!("s", trace = "parent of trace.id").entered();
            tracing::info!(
                service = "checkout",
                log.origin = "parent of log.origin.file.name",
                message.length = 12,
                span.id.hex = "below span.id",
                log.custom = "a sibling, kept as is",
                ecs.version = "1.0.0",
                "calling"
            );
        });
        let line = &objects(&out)[0];
        let expanded = expand_dots(line).unwrap_or_else(|key| panic!("{key} clashes: {line:?}"));
        assert_eq!(expanded["service"]["name"], "shop");
        assert_eq!(expanded["ecs"]["version"], FieldNames::ECS_VERSION);
        assert_eq!(line["fields.ecs.version"], "1.0.0");
        assert_eq!(expanded["message"], "calling");
        assert_eq!(line["fields.service"], "checkout");
        assert_eq!(line["fields.log.origin"], "parent of log.origin.file.name");
        assert_eq!(line["fields.message.length"], 12);
        assert_eq!(line["fields.span.id.hex"], "below span.id");
        assert_eq!(line["log.custom"], "a sibling, kept as is");
        match span_fields {
            SpanFields::Nested => assert_eq!(line["spans"][0]["trace"], "parent of trace.id"),
            SpanFields::Flatten => assert_eq!(line["fields.trace"], "parent of trace.id"),
        }
    }
}

#[test]
fn a_message_field_is_the_message() {
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new().with_writer(out.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(message = "given as a field", n = 1);
        tracing::info!(message = 42);
    });
    let objects = objects(&out);
    assert_eq!(objects[0]["message"], "given as a field");
    assert_eq!(objects[0]["n"], 1);
    assert_eq!(objects[1]["message"], "42");
}

#[test]
fn values_keep_their_json_types() {
    #[derive(Debug)]
    struct Point {
        #[allow(dead_code)] // read through Debug
        label: &'static str,
    }
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new().with_writer(out.clone()));
    let err = std::io::Error::other("disk \"full\"");
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(
            big = u64::MAX,
            neg = -5i64,
            wide = i128::MIN,
            float = -1.25,
            whole = 2.0,
            huge = 1e300,
            nan = f64::NAN,
            inf = f64::INFINITY,
            yes = true,
            point = ?Point { label: "a\"b" },
            shown = %"disp\nlay",
            bytes = &b"ok\xff"[..],
            error = &err as &(dyn std::error::Error + 'static),
        );
    });
    let line = &objects(&out)[0];
    assert_eq!(line["big"], u64::MAX);
    assert_eq!(line["neg"], -5);
    assert_eq!(line["wide"].as_f64().unwrap(), i128::MIN as f64);
    assert_eq!(line["float"], -1.25);
    // A float reads back as a float, whole or huge: readers that infer a field's type from
    // its first value (Elasticsearch's dynamic mapping, Python's `json`) must not take it
    // for an integer.
    assert!(line["whole"].is_f64(), "{}", line["whole"]);
    assert_eq!(line["whole"], 2.0);
    assert!(line["huge"].is_f64(), "{}", line["huge"]);
    assert_eq!(line["huge"], 1e300);
    assert_eq!(line["nan"], "NaN");
    assert_eq!(line["inf"], "Infinity");
    assert_eq!(line["yes"], true);
    assert_eq!(line["point"], r#"Point { label: "a\"b" }"#);
    assert_eq!(line["shown"], "disp\nlay");
    assert_eq!(line["bytes"], "ok\u{fffd}");
    assert_eq!(line["error"], "disk \"full\"");
}

#[test]
fn presets_and_file_line() {
    let cases = [
        (
            FieldNames::ecs(),
            "@timestamp",
            r#"{"@timestamp":"<ts>","log.level":"WARN","message":"m","log.logger":"t","service.name":"svc","ecs.version":"8.17.0","trace.id":"<trace>","span.id":"<span>","trace.flags":"03","k":1,"spans":[{"name":"s"}],"log.origin.file.name":"<file>","log.origin.file.line":<line>}"#,
        ),
        (
            FieldNames::otel(),
            "timestamp",
            r#"{"timestamp":"<ts>","severity_text":"WARN","severity_number":13,"body":"m","scope.name":"t","event_name":"cart.abandoned","service.name":"svc","trace_id":"<trace>","span_id":"<span>","trace_flags":"03","k":1,"spans":[{"name":"s"}],"code.file.path":"<file>","code.line.number":<line>}"#,
        ),
        (
            FieldNames::loki(),
            "ts",
            r#"{"ts":"<ts>","level":"warn","msg":"m","logger":"t","event_name":"cart.abandoned","service_name":"svc","trace_id":"<trace>","span_id":"<span>","trace_flags":"03","k":1,"spans":[{"name":"s"}],"file":"<file>","line":<line>}"#,
        ),
    ];
    for (names, ts_key, expected) in cases {
        let out = captured();
        let subscriber = tracing_subscriber::registry().with(SpanLayer::new()).with(
            JsonLayer::new()
                .with_writer(out.clone())
                .with_service_name("svc")
                .with_field_names(names)
                .with_file_line(true),
        );
        let mut span = tracing::Span::none();
        let mut line_no = 0;
        tracing::subscriber::with_default(subscriber, || {
            let entered = tracing::info_span!("s").entered();
            line_no = line!() + 1;
            tracing::warn!(name: "cart.abandoned", target: "t", k = 1, "m");
            span = entered.exit();
        });
        let got = golden(&lines(&out)[0], ts_key, &span)
            .replace(file!(), "<file>")
            .replace(&format!(":{line_no}}}"), ":<line>}");
        assert_eq!(got, expected);
    }
}

/// The log data model's `EventName`: only a name given with `name:` is written (as the OTLP
/// record has one only then); `tracing`'s default, `event <file>:<line>`, and a target are
/// not. A user field of that name is renamed like any reserved key's.
#[test]
fn only_events_given_a_name_carry_one() {
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new().with_writer(out.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(name: "payment.declined", "declined");
        tracing::info!(target: "shop::payments", "no name");
        tracing::info!(event_name = "mine", "no name either");
    });
    let names: Vec<(serde_json::Value, serde_json::Value)> = objects(&out)
        .into_iter()
        .map(|o| {
            let get = |k: &str| o.get(k).cloned().unwrap_or_default();
            (get("event_name"), get("fields.event_name"))
        })
        .collect();
    assert_eq!(
        names,
        [
            (json!("payment.declined"), json!(null)),
            (json!(null), json!(null)),
            (json!(null), json!("mine")),
        ]
    );

    // ECS writes no event name: `event.action`, its nearest field, is the application's to
    // set, and stays where it put it.
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(
        JsonLayer::new()
            .with_writer(out.clone())
            .with_field_names(FieldNames::ecs()),
    );
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(name: "payment.declined", { event.action = "login" }, "declined");
    });
    let [line] = objects(&out).try_into().expect("one line");
    assert_eq!(line.get("event.action"), Some(&json!("login")), "{line:?}");
    assert!(!line.contains_key("fields.event.action"), "{line:?}");
}

#[test]
fn ecs_lines_carry_ecs_version_and_other_schemas_do_not() {
    for (names, version) in [
        (FieldNames::ecs(), Some(FieldNames::ECS_VERSION)),
        (FieldNames::default(), None),
        (FieldNames::otel(), None),
        (FieldNames::loki(), None),
    ] {
        let out = captured();
        // No service name: `ecs.version` does not depend on one.
        let subscriber = tracing_subscriber::registry().with(
            JsonLayer::new()
                .with_writer(out.clone())
                .with_field_names(names),
        );
        tracing::subscriber::with_default(subscriber, || tracing::info!("m"));
        let line = &objects(&out)[0];
        assert_eq!(
            line.get("ecs.version").and_then(|v| v.as_str()),
            version,
            "{line:?}"
        );
    }
    // ECS requires it on every event, so `FieldNames::ecs` gives a full version string.
    let parts: Vec<&str> = FieldNames::ECS_VERSION.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|p| p.parse::<u32>().is_ok()));
}

#[test]
fn recorded_span_fields_replace_earlier_values() {
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new().with_writer(out.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("s", user = field::Empty, status = 1, token = field::Empty);
        let _g = span.enter();
        tracing::info!("before");
        span.record("user", "ann");
        span.record("status", 2);
        span.record("token", "t0ps3cret");
        tracing::info!("after");
    });
    let objects = objects(&out);
    assert_eq!(objects[0]["spans"], json!([{"name": "s", "status": 1}]));
    assert_eq!(
        objects[1]["spans"],
        json!([{"name": "s", "user": "ann", "status": 2, "token": "[REDACTED]"}])
    );
    let raw = &lines(&out)[1];
    assert_eq!(raw.matches("\"status\":").count(), 1);
}

/// A value whose `Debug` logs (a lazily loaded value that reports its loading).
struct LogsWhenFormatted;

impl std::fmt::Debug for LogsWhenFormatted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        tracing::info!("loading the value");
        f.write_str("loaded")
    }
}

/// `Span::record` of a value whose `Debug` logs inside the span: the inner line reads the
/// span's fields, so they must not be locked while the value is formatted (that thread
/// would wait for itself for ever).
#[test]
fn recording_a_value_that_logs_inside_its_span_does_not_deadlock() {
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new().with_writer(out.clone()));
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("s", value = field::Empty).entered();
            span.record("value", field::debug(LogsWhenFormatted));
            tracing::info!("recorded");
        });
        let _ = done.send(());
    });
    finished
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the recording thread finished (not deadlocked)");
    let objects = objects(&out);
    let messages: Vec<_> = objects.iter().map(|o| o["message"].clone()).collect();
    assert_eq!(messages, [json!("loading the value"), json!("recorded")]);
    assert_eq!(objects[0]["spans"], json!([{"name": "s"}]));
    assert_eq!(
        objects[1]["spans"],
        json!([{"name": "s", "value": "loaded"}])
    );
}

#[test]
fn redaction_applies_to_event_and_span_fields() {
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(
        JsonLayer::new()
            .with_writer(out.clone())
            .with_redaction(Redaction::default().with_name("ssn")),
    );
    tracing::subscriber::with_default(subscriber, || {
        let _s = tracing::info_span!("s", api_key = "k-123", user = "ann").entered();
        tracing::info!(
            Password = "hunter2",
            "user.ssn" = 123,
            http.request.header.cookie = "c",
            note = "kept"
        );
    });
    let line = &objects(&out)[0];
    assert_eq!(line["Password"], "[REDACTED]");
    assert_eq!(line["user.ssn"], "[REDACTED]");
    assert_eq!(line["http.request.header.cookie"], "[REDACTED]");
    assert_eq!(line["note"], "kept");
    assert_eq!(
        line["spans"],
        json!([{"name": "s", "api_key": "[REDACTED]", "user": "ann"}])
    );
    assert!(!lines(&out)[0].contains("hunter2"));

    let out = captured();
    let subscriber = tracing_subscriber::registry().with(
        JsonLayer::new()
            .with_writer(out.clone())
            .with_redaction(Redaction::none()),
    );
    tracing::subscriber::with_default(subscriber, || tracing::info!(password = "visible"));
    assert_eq!(objects(&out)[0]["password"], "visible");
}

#[test]
fn explicit_root_events_carry_no_trace_context() {
    let out = captured();
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(JsonLayer::new().with_writer(out.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let _s = tracing::info_span!("s").entered();
        tracing::info!(parent: None, "detached");
        tracing::info!("attached");
    });
    let objects = objects(&out);
    assert!(!objects[0].contains_key("trace_id") && !objects[0].contains_key("spans"));
    assert!(objects[1].contains_key("trace_id") && objects[1].contains_key("spans"));
}

#[test]
fn unsampled_spans_still_stamp_ids_with_the_sampled_bit_clear() {
    let out = captured();
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new().with_sampler(Sampler::AlwaysOff))
        .with(JsonLayer::new().with_writer(out.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let _s = tracing::info_span!("s").entered();
        tracing::info!("not sampled");
    });
    let line = &objects(&out)[0];
    // Random trace id (Level 2 bit 1), not sampled (bit 0 clear).
    assert_eq!(line["trace_flags"], "02");
    assert_eq!(line["span_id"].as_str().unwrap().len(), 16);
}

#[test]
fn two_json_layers_keep_their_own_schemas() {
    let (a, b) = (captured(), captured());
    let subscriber = tracing_subscriber::registry()
        .with(JsonLayer::new().with_writer(a.clone()))
        .with(
            JsonLayer::new()
                .with_writer(b.clone())
                .with_span_fields(SpanFields::Flatten)
                .with_field_names(FieldNames::loki()),
        );
    tracing::subscriber::with_default(subscriber, || {
        let _s = tracing::info_span!("s", name = "x", k = 1).entered();
        tracing::info!("m");
    });
    assert_eq!(
        objects(&a)[0]["spans"],
        json!([{"name": "s", "fields.name": "x", "k": 1}])
    );
    let b = &objects(&b)[0];
    assert_eq!(
        (b["msg"].clone(), b["name"].clone(), b["k"].clone()),
        (json!("m"), json!("x"), json!(1))
    );
}

#[test]
fn explicit_parents_stamp_their_own_ids() {
    let out = captured();
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(JsonLayer::new().with_writer(out.clone()));
    let mut current_ctx = None;
    let mut background_ctx = None;
    tracing::subscriber::with_default(subscriber, || {
        let background = tracing::info_span!("background", job = 1);
        background_ctx = background.span_context();
        let request = tracing::info_span!("request").entered();
        current_ctx = request.span_context();
        tracing::info!(parent: &background, "about the background job");
        tracing::info!(parent: request.id(), "about the current request");
    });
    let objects = objects(&out);
    // Not the span being executed: the line carries that parent's ids, not the current ones.
    let background = background_ctx.unwrap();
    assert_eq!(objects[0]["span_id"], background.span_id.to_string());
    assert_eq!(objects[0]["trace_id"], background.trace_id.to_string());
    assert_eq!(
        objects[0]["spans"],
        json!([{"name": "background", "job": 1}])
    );
    let ctx = current_ctx.unwrap();
    assert_eq!(objects[1]["span_id"], ctx.span_id.to_string());
    assert_eq!(objects[1]["trace_id"], ctx.trace_id.to_string());
}

#[test]
fn an_error_value_keeps_its_sources() {
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new().with_writer(out.clone()));
    let err = RequestFailed(std::io::Error::other("connection refused"));
    tracing::subscriber::with_default(subscriber, || {
        tracing::error!(
            error = &err as &(dyn std::error::Error + 'static),
            "upstream"
        );
    });
    assert_eq!(
        objects(&out)[0]["error"],
        "request failed: connection refused"
    );
}

#[test]
fn a_field_given_twice_is_written_once() {
    for span_fields in [SpanFields::Nested, SpanFields::Flatten] {
        let out = captured();
        let subscriber = tracing_subscriber::registry().with(
            JsonLayer::new()
                .with_writer(out.clone())
                .with_span_fields(span_fields),
        );
        tracing::subscriber::with_default(subscriber, || {
            let _span = tracing::info_span!("s", attempt = 1, attempt = 2).entered();
            tracing::info!(user = "ann", user = "bob", "twice");
        });
        // The first value stays.
        let raw = &lines(&out)[0];
        assert_eq!(raw.matches("\"user\":").count(), 1, "{raw}");
        assert_eq!(raw.matches("\"attempt\":").count(), 1, "{raw}");
        let line = &objects(&out)[0];
        assert_eq!(line["user"], "ann");
        match span_fields {
            SpanFields::Nested => assert_eq!(line["spans"][0]["attempt"], 1),
            SpanFields::Flatten => assert_eq!(line["attempt"], 1),
        }
    }
}

#[test]
fn a_value_whose_formatting_panics_neither_panics_the_caller_nor_loses_the_line() {
    let out = captured();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new().with_writer(out.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!("s", broken = ?PanicsWhenFormatted, ok = 1).entered();
        tracing::info!(shown = %PanicsWhenFormatted, after = "kept", "value");
        tracing::info!("message {}", PanicsWhenFormatted);
    });
    let objects = objects(&out);
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0]["message"], "value");
    assert_eq!(objects[0]["shown"], FORMAT_PANICKED);
    assert_eq!(objects[0]["after"], "kept");
    assert_eq!(
        objects[0]["spans"][0],
        json!({"name": "s", "broken": FORMAT_PANICKED, "ok": 1})
    );
    assert_eq!(objects[1]["message"], FORMAT_PANICKED);
}
