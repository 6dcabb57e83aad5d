//! A table of malformed and edge-case `traceparent`, `tracestate` and `baggage` headers, drawn
//! from W3C Trace Context Level 2, W3C Baggage and the official W3C Trace Context test suite
//! (`test/test.py`, whose test names are quoted), each with its expected outcome through
//! `obs_trace::extract`.

use http::{HeaderMap, HeaderName, HeaderValue};
use obs_trace::{ActiveContext, TraceParentError, extract, inject, parse_traceparent};

const TRACE: &str = "12345678901234567890123456789012";
const PARENT: &str = "1234567890123456";
const TP: &str = "00-12345678901234567890123456789012-1234567890123456-01";
const TP00: &str = "00-12345678901234567890123456789012-1234567890123456-00";

/// What `extract` must produce.
#[derive(Debug)]
struct Expect {
    /// `(trace-id, parent-id, flags)` of the extracted span, or `None`: a new trace.
    span: Option<(&'static str, &'static str, u8)>,
    /// The exact `tracestate` kept (empty: discarded or absent).
    tracestate: String,
    /// The baggage `(key, value, properties)` kept, in order.
    baggage: Vec<(String, String, String)>,
}

struct Case {
    name: &'static str,
    headers: Vec<(&'static str, Vec<u8>)>,
    expect: Expect,
}

fn new_trace() -> Expect {
    Expect {
        span: None,
        tracestate: String::new(),
        baggage: Vec::new(),
    }
}

fn continued(flags: u8) -> Expect {
    Expect {
        span: Some((TRACE, PARENT, flags)),
        ..new_trace()
    }
}

fn with_state(tracestate: impl Into<String>) -> Expect {
    Expect {
        tracestate: tracestate.into(),
        ..continued(0)
    }
}

fn with_baggage(entries: &[(&str, &str, &str)]) -> Expect {
    Expect {
        baggage: entries
            .iter()
            .map(|&(k, v, p)| (k.to_owned(), v.to_owned(), p.to_owned()))
            .collect(),
        ..new_trace()
    }
}

fn case(name: &'static str, headers: &[(&'static str, &str)], expect: Expect) -> Case {
    Case {
        name,
        headers: headers
            .iter()
            .map(|&(n, v)| (n, v.as_bytes().to_vec()))
            .collect(),
        expect,
    }
}

/// A `traceparent` case with only that header.
fn tp(name: &'static str, value: &str, expect: Expect) -> Case {
    case(name, &[("traceparent", value)], expect)
}

/// A `tracestate` case behind a valid, unsampled `traceparent`.
fn ts(name: &'static str, values: &[&str], expect: Expect) -> Case {
    let mut headers = vec![("traceparent", TP00.as_bytes().to_vec())];
    headers.extend(values.iter().map(|v| ("tracestate", v.as_bytes().to_vec())));
    Case {
        name,
        headers,
        expect,
    }
}

/// A `baggage` case with only baggage headers.
fn bg(name: &'static str, values: &[&str], entries: &[(&str, &str, &str)]) -> Case {
    Case {
        name,
        headers: values
            .iter()
            .map(|v| ("baggage", v.as_bytes().to_vec()))
            .collect(),
        expect: with_baggage(entries),
    }
}

fn members(range: std::ops::RangeInclusive<u32>) -> String {
    range
        .map(|i| format!("bar{i:02}={i:02}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn cases() -> Vec<Case> {
    let with_tp = |suffix: &str| format!("00-{TRACE}-{PARENT}-{suffix}");
    let all_key_chars = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    let all_value_chars: String = (0x20u8..=0x7e)
        .filter(|b| *b != b',' && *b != b'=')
        .map(char::from)
        .collect();
    let key256 = "z".repeat(256);
    let key_at_241_14 = format!("{}@{}", "t".repeat(241), "v".repeat(14));
    let key_at_242_1 = format!("{}@v", "t".repeat(242));
    let key_at_1_15 = format!("t@{}", "v".repeat(15));
    let value256 = "v".repeat(256);
    let many_baggage: Vec<String> = (0..70).map(|i| format!("k{i}=v{i}")).collect();
    let kept_baggage: Vec<(String, String)> = (0..64)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect();

    let mut cases = vec![
        // --- traceparent -------------------------------------------------------------------
        case(
            "test_both_traceparent_and_tracestate_missing",
            &[],
            new_trace(),
        ),
        tp(
            "test_traceparent_included_tracestate_missing",
            TP,
            continued(1),
        ),
        case(
            "test_traceparent_duplicated",
            &[
                (
                    "traceparent",
                    "00-12345678901234567890123456789011-1234567890123456-01",
                ),
                ("traceparent", TP),
            ],
            new_trace(),
        ),
        case(
            "test_traceparent_header_name: trace-parent",
            &[("trace-parent", TP)],
            new_trace(),
        ),
        case(
            "test_traceparent_header_name: trace.parent",
            &[("trace.parent", TP)],
            new_trace(),
        ),
        case(
            "test_traceparent_header_name_valid_casing: TraceParent",
            &[("TraceParent", TP)],
            continued(1),
        ),
        case(
            "test_traceparent_header_name_valid_casing: TRACEPARENT",
            &[("TRACEPARENT", TP)],
            continued(1),
        ),
        tp(
            "test_traceparent_version_0x00: trailing '.'",
            &format!("{TP}."),
            new_trace(),
        ),
        tp(
            "test_traceparent_version_0x00: trailing fields",
            &format!("{TP}-what-the-future-will-be-like"),
            new_trace(),
        ),
        tp(
            "test_traceparent_version_0xcc",
            &format!("cc-{TRACE}-{PARENT}-01"),
            continued(1),
        ),
        tp(
            "test_traceparent_version_0xcc: extra fields",
            &format!("cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like"),
            continued(1),
        ),
        tp(
            "test_traceparent_version_0xcc: '.' after flags",
            &format!("cc-{TRACE}-{PARENT}-01.what-the-future-will-be-like"),
            new_trace(),
        ),
        tp(
            "version 0xcc followed by a bare dash",
            &format!("cc-{TRACE}-{PARENT}-01-"),
            continued(1),
        ),
        tp(
            "version 0xcc with unknown flags: only sampled and random are kept",
            &format!("cc-{TRACE}-{PARENT}-ff"),
            continued(3),
        ),
        tp(
            "version 0xcc shorter than 55",
            &format!("cc-{TRACE}-{PARENT}-1"),
            new_trace(),
        ),
        tp(
            "test_traceparent_version_0xff",
            &format!("ff-{TRACE}-{PARENT}-01"),
            new_trace(),
        ),
        tp(
            "test_traceparent_version_illegal_characters: .0",
            &format!(".0-{TRACE}-{PARENT}-01"),
            new_trace(),
        ),
        tp(
            "test_traceparent_version_illegal_characters: 0.",
            &format!("0.-{TRACE}-{PARENT}-01"),
            new_trace(),
        ),
        tp(
            "upper-case version",
            &format!("0A-{TRACE}-{PARENT}-01"),
            new_trace(),
        ),
        tp(
            "test_traceparent_version_too_long: 000",
            &format!("000-{TRACE}-{PARENT}-01"),
            new_trace(),
        ),
        tp(
            "test_traceparent_version_too_long: 0000",
            &format!("0000-{TRACE}-{PARENT}-01"),
            new_trace(),
        ),
        tp(
            "test_traceparent_version_too_short",
            &format!("0-{TRACE}-{PARENT}-01"),
            new_trace(),
        ),
        tp(
            "test_traceparent_trace_id_all_zero",
            &format!("00-{}-{PARENT}-01", "0".repeat(32)),
            new_trace(),
        ),
        tp(
            "test_traceparent_trace_id_illegal_characters: leading",
            &format!("00-.2345678901234567890123456789012-{PARENT}-01"),
            new_trace(),
        ),
        tp(
            "test_traceparent_trace_id_illegal_characters: trailing",
            &format!("00-1234567890123456789012345678901.-{PARENT}-01"),
            new_trace(),
        ),
        tp(
            "upper-case trace-id",
            &format!("00-{}-{PARENT}-01", "ABCDEF7890123456789012345678901A"),
            new_trace(),
        ),
        tp(
            "test_traceparent_trace_id_too_long",
            &format!("00-{TRACE}3-{PARENT}-01"),
            new_trace(),
        ),
        tp(
            "test_traceparent_trace_id_too_short",
            &format!("00-{}-{PARENT}-01", &TRACE[..31]),
            new_trace(),
        ),
        tp(
            "test_traceparent_parent_id_all_zero",
            &format!("00-{TRACE}-{}-01", "0".repeat(16)),
            new_trace(),
        ),
        tp(
            "test_traceparent_parent_id_illegal_characters: leading",
            &format!("00-{TRACE}-.234567890123456-01"),
            new_trace(),
        ),
        tp(
            "test_traceparent_parent_id_illegal_characters: trailing",
            &format!("00-{TRACE}-123456789012345.-01"),
            new_trace(),
        ),
        tp(
            "upper-case parent-id",
            &format!("00-{TRACE}-ABCDEF7890123456-01"),
            new_trace(),
        ),
        tp(
            "test_traceparent_parent_id_too_long",
            &format!("00-{TRACE}-{PARENT}7-01"),
            new_trace(),
        ),
        tp(
            "test_traceparent_parent_id_too_short",
            &format!("00-{TRACE}-{}-01", &PARENT[..15]),
            new_trace(),
        ),
        tp(
            "test_traceparent_trace_flags_illegal_characters: .0",
            &with_tp(".0"),
            new_trace(),
        ),
        tp(
            "test_traceparent_trace_flags_illegal_characters: 0.",
            &with_tp("0."),
            new_trace(),
        ),
        tp("upper-case flags", &with_tp("0A"), new_trace()),
        tp(
            "test_traceparent_trace_flags_too_long",
            &with_tp("001"),
            new_trace(),
        ),
        tp(
            "test_traceparent_trace_flags_too_short",
            &with_tp("1"),
            new_trace(),
        ),
        tp(
            "test_traceparent_ows_handling: leading space",
            &format!(" {TP}"),
            continued(1),
        ),
        tp(
            "test_traceparent_ows_handling: leading tab",
            &format!("\t{TP}"),
            continued(1),
        ),
        tp(
            "test_traceparent_ows_handling: trailing space",
            &format!("{TP} "),
            continued(1),
        ),
        tp(
            "test_traceparent_ows_handling: trailing tab",
            &format!("{TP}\t"),
            continued(1),
        ),
        tp(
            "test_traceparent_ows_handling: both",
            &format!("\t {TP} \t"),
            continued(1),
        ),
        tp("test_propagates_random_flag", &with_tp("02"), continued(2)),
        tp("sampled and random", &with_tp("03"), continued(3)),
        tp("not sampled", &with_tp("00"), continued(0)),
        tp(
            "version 00 with unknown flag bits: parsed, reserved bits cleared",
            &with_tp("ff"),
            continued(3),
        ),
        tp("empty traceparent", "", new_trace()),
        tp(
            "underscores instead of dashes",
            &format!("00_{TRACE}_{PARENT}_01"),
            new_trace(),
        ),
        tp(
            "two values in one field",
            &format!("{TP},{TP}"),
            new_trace(),
        ),
        tp(
            "space inside the value",
            &format!("00- {}-{PARENT}-01", &TRACE[1..]),
            new_trace(),
        ),
        // --- tracestate ----------------------------------------------------------------------
        case(
            "test_tracestate_included_traceparent_missing",
            &[("tracestate", "foo=1,bar=2")],
            new_trace(),
        ),
        ts(
            "test_tracestate_included_traceparent_included",
            &["foo=1,bar=2"],
            with_state("foo=1,bar=2"),
        ),
        case(
            "test_tracestate_header_name: trace-state",
            &[("traceparent", TP00), ("trace-state", "foo=1")],
            with_state(""),
        ),
        case(
            "test_tracestate_header_name: trace.state",
            &[("traceparent", TP00), ("trace.state", "foo=1")],
            with_state(""),
        ),
        case(
            "test_tracestate_header_name_valid_casing",
            &[("traceparent", TP00), ("TrAcEsTaTe", "foo=1")],
            with_state("foo=1"),
        ),
        tp(
            "tracestate ignored behind an invalid traceparent",
            &with_tp("0."),
            new_trace(),
        ),
        ts("test_tracestate_empty_header", &[""], with_state("")),
        ts(
            "test_tracestate_empty_header: then foo=1",
            &["foo=1", ""],
            with_state("foo=1"),
        ),
        ts(
            "test_tracestate_empty_header: foo=1 after",
            &["", "foo=1"],
            with_state("foo=1"),
        ),
        ts(
            "test_tracestate_multiple_headers_different_keys",
            &["foo=1,bar=2", "rojo=1,congo=2", "baz=3"],
            with_state("foo=1,bar=2,rojo=1,congo=2,baz=3"),
        ),
        ts(
            "test_tracestate_duplicated_keys: same value",
            &["foo=1,foo=1"],
            with_state("foo=1"),
        ),
        ts(
            "test_tracestate_duplicated_keys: first wins",
            &["foo=1,foo=2"],
            with_state("foo=1"),
        ),
        ts(
            "test_tracestate_duplicated_keys: across headers",
            &["foo=1", "foo=2"],
            with_state("foo=1"),
        ),
        ts(
            "test_tracestate_all_allowed_characters",
            &[&format!("{all_key_chars}={all_value_chars}")],
            with_state(format!("{all_key_chars}={all_value_chars}")),
        ),
        ts(
            "test_tracestate_all_allowed_characters: with vendor",
            &[&format!("{all_key_chars}@a-z0-9_-*/={all_value_chars}")],
            with_state(format!("{all_key_chars}@a-z0-9_-*/={all_value_chars}")),
        ),
        ts(
            "test_tracestate_ows_handling: spaces and tabs",
            &["foo=1 \t , \t bar=2, \t baz=3"],
            with_state("foo=1,bar=2,baz=3"),
        ),
        ts(
            "test_tracestate_ows_handling: tabs",
            &["foo=1\t \t,\t \tbar=2,\t \tbaz=3"],
            with_state("foo=1,bar=2,baz=3"),
        ),
        ts(
            "test_tracestate_ows_handling: leading",
            &["\t foo=1"],
            with_state("foo=1"),
        ),
        ts(
            "test_tracestate_ows_handling: trailing",
            &["foo=1 \t"],
            with_state("foo=1"),
        ),
        ts(
            "empty list members are skipped",
            &[",, foo=1 ,,, bar=2,"],
            with_state("foo=1,bar=2"),
        ),
        ts(
            "test_tracestate_key_illegal_characters: space in key",
            &["foo =1"],
            with_state(""),
        ),
        ts(
            "test_tracestate_key_illegal_characters: upper case",
            &["FOO=1"],
            with_state(""),
        ),
        ts(
            "test_tracestate_key_illegal_characters: dot",
            &["foo.bar=1"],
            with_state(""),
        ),
        ts(
            "key starting with a digit",
            &["1foo=1"],
            with_state("1foo=1"),
        ),
        ts("key starting with '_'", &["_foo=1"], with_state("")),
        ts(
            "test_tracestate_key_illegal_vendor_format: trailing @",
            &["foo@=1,bar=2"],
            with_state("foo@=1,bar=2"),
        ),
        ts(
            "test_tracestate_key_illegal_vendor_format: leading @",
            &["@foo=1,bar=2"],
            with_state(""),
        ),
        ts(
            "test_tracestate_key_illegal_vendor_format: @@",
            &["foo@@bar=1,bar=2"],
            with_state("foo@@bar=1,bar=2"),
        ),
        ts(
            "test_tracestate_key_illegal_vendor_format: two @",
            &["foo@bar@baz=1,bar=2"],
            with_state("foo@bar@baz=1,bar=2"),
        ),
        ts(
            "test_tracestate_member_count_limit: 32",
            &[
                &members(1..=10),
                &members(11..=20),
                &members(21..=30),
                &members(31..=32),
            ],
            with_state(members(1..=32)),
        ),
        ts(
            "test_tracestate_member_count_limit: 33",
            &[
                &members(1..=10),
                &members(11..=20),
                &members(21..=30),
                &members(31..=33),
            ],
            with_state(""),
        ),
        ts(
            "32 members and empty members",
            &[&format!(",{},", members(1..=32))],
            with_state(members(1..=32)),
        ),
        ts(
            "test_tracestate_key_length_limit: 256",
            &["foo=1", &format!("{key256}=1")],
            with_state(format!("foo=1,{key256}=1")),
        ),
        ts(
            "test_tracestate_key_length_limit: 257",
            &["foo=1", &format!("z{key256}=1")],
            with_state(""),
        ),
        ts(
            "test_tracestate_key_length_limit: tenant 241, system 14",
            &["foo=1", &format!("{key_at_241_14}=1")],
            with_state(format!("foo=1,{key_at_241_14}=1")),
        ),
        ts(
            "test_tracestate_key_length_limit: tenant 242",
            &["foo=1", &format!("{key_at_242_1}=1")],
            with_state(format!("foo=1,{key_at_242_1}=1")),
        ),
        ts(
            "test_tracestate_key_length_limit: system 15",
            &["foo=1", &format!("{key_at_1_15}=1")],
            with_state(format!("foo=1,{key_at_1_15}=1")),
        ),
        ts(
            "test_tracestate_value_illegal_characters: '=' in value",
            &["foo=bar=baz"],
            with_state(""),
        ),
        ts(
            "test_tracestate_value_illegal_characters: empty value",
            &["foo=,bar=3"],
            with_state(""),
        ),
        ts(
            "value of 256 characters",
            &[&format!("foo={value256}")],
            with_state(format!("foo={value256}")),
        ),
        ts(
            "value of 257 characters",
            &[&format!("foo=v{value256}")],
            with_state(""),
        ),
        ts(
            "value with inner and leading spaces",
            &["foo= a b"],
            with_state("foo= a b"),
        ),
        ts("tab inside a value", &["foo=a\tb"], with_state("")),
        ts("member without '='", &["foo=1,bar"], with_state("")),
        ts("empty key", &["=1"], with_state("")),
        // --- baggage -------------------------------------------------------------------------
        bg(
            "baggage without traceparent is kept",
            &["userId=alice"],
            &[("userId", "alice", "")],
        ),
        bg(
            "spec example with properties and OWS",
            &[
                "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
            ],
            &[
                ("key1", "value1", "property1;property2"),
                ("key2", "value2", ""),
                ("key3", "value3", "propertyKey=propertyValue"),
            ],
        ),
        bg(
            "percent-decoded value",
            &["serverNode=DF%2028"],
            &[("serverNode", "DF 28", "")],
        ),
        bg(
            "UTF-8 percent-decoded",
            &["check=%E2%9C%93"],
            &[("check", "\u{2713}", "")],
        ),
        bg(
            "invalid UTF-8 becomes U+FFFD",
            &["bad=%FF"],
            &[("bad", "\u{fffd}", "")],
        ),
        bg(
            "malformed percent sequence kept as is",
            &["p=%zz"],
            &[("p", "%zz", "")],
        ),
        bg(
            "invalid member skipped, not the header",
            &["a=1,b c=2,d=3"],
            &[("a", "1", ""), ("d", "3", "")],
        ),
        bg("space inside a value", &["a=x y,b=2"], &[("b", "2", "")]),
        bg(
            "double quote in a value",
            &["a=\"x\",b=2"],
            &[("b", "2", "")],
        ),
        bg("backslash in a value", &["a=x\\y,b=2"], &[("b", "2", "")]),
        bg("empty value", &["a="], &[("a", "", "")]),
        bg("empty key", &["=1,b=2"], &[("b", "2", "")]),
        bg("no '='", &["a,b=2"], &[("b", "2", "")]),
        bg("'=' inside a value", &["a=b=c"], &[("a", "b=c", "")]),
        bg(
            "all token characters in a key",
            &["!#$%&'*+-.^_`|~09AZaz=1"],
            &[("!#$%&'*+-.^_`|~09AZaz", "1", "")],
        ),
        bg(
            "'@' is not a token character",
            &["a@b=1,c=2"],
            &[("c", "2", "")],
        ),
        bg(
            "invalid property skips the member",
            &["a=1;p q,b=2"],
            &[("b", "2", "")],
        ),
        bg(
            "property with OWS around '='",
            &["a=1 ; p = v ;q"],
            &[("a", "1", "p=v;q")],
        ),
        bg(
            "repeated key keeps the last value",
            &["a=1,a=2"],
            &[("a", "2", "")],
        ),
        bg(
            "several baggage headers combine",
            &["a=1", "b=2"],
            &[("a", "1", ""), ("b", "2", "")],
        ),
        bg("empty members skipped", &[",, a=1 ,,"], &[("a", "1", "")]),
        bg("empty header", &[""], &[]),
    ];
    cases.push(Case {
        name: "at most 64 baggage members are kept",
        headers: vec![("baggage", many_baggage.join(",").into_bytes())],
        expect: Expect {
            baggage: kept_baggage
                .into_iter()
                .map(|(k, v)| (k, v, String::new()))
                .collect(),
            ..new_trace()
        },
    });
    cases.push(Case {
        name: "non-UTF-8 traceparent",
        headers: vec![("traceparent", b"00-\xff\xfe".to_vec())],
        expect: new_trace(),
    });
    cases.push(Case {
        name: "non-UTF-8 tracestate",
        headers: vec![
            ("traceparent", TP00.as_bytes().to_vec()),
            ("tracestate", b"foo=\xc3\xa9".to_vec()),
        ],
        expect: with_state(""),
    });
    cases.push(Case {
        name: "non-UTF-8 baggage member skipped",
        headers: vec![("baggage", b"a=\xc3\xa9,b=2".to_vec())],
        expect: with_baggage(&[("b", "2", "")]),
    });
    cases
}

fn header_map(headers: &[(&str, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            HeaderValue::from_bytes(value).expect("valid header value"),
        );
    }
    map
}

#[test]
fn header_table() {
    let cases = cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let headers = header_map(&case.headers);
        let parent = extract(&headers);
        let span = parent.span.as_ref().map(|s| {
            assert!(
                s.is_remote,
                "{}: extracted context must be remote",
                case.name
            );
            (s.trace_id.to_string(), s.span_id.to_string(), s.flags.0)
        });
        let expected_span = case
            .expect
            .span
            .map(|(t, p, f)| (t.to_owned(), p.to_owned(), f));
        let tracestate = parent
            .span
            .as_ref()
            .map(|s| s.trace_state.header().to_owned())
            .unwrap_or_default();
        let baggage: Vec<_> = parent
            .baggage
            .iter()
            .map(|e| {
                (
                    e.key().to_owned(),
                    e.value().to_owned(),
                    e.properties().to_owned(),
                )
            })
            .collect();
        if span != expected_span
            || tracestate != case.expect.tracestate
            || baggage != case.expect.baggage
        {
            failures.push(format!(
                "{}: got span {span:?}, tracestate {tracestate:?}, baggage {baggage:?}; expected {:?}",
                case.name, case.expect
            ));
            continue;
        }
        // Whatever was kept is written back identically and extracts to the same context.
        if let Some(span) = parent.span.clone() {
            let mut out = HeaderMap::new();
            inject(
                &ActiveContext {
                    span,
                    baggage: parent.baggage.clone(),
                },
                &mut out,
            );
            let again = extract(&out);
            assert_eq!(again.span, parent.span, "{}: re-extracted span", case.name);
            assert_eq!(
                again.baggage, parent.baggage,
                "{}: re-extracted baggage",
                case.name
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn parse_errors_say_what_is_wrong() {
    let table: &[(&str, Result<u8, TraceParentError>)] = &[
        (TP, Ok(0)),
        (
            "cc-12345678901234567890123456789012-1234567890123456-01-x",
            Ok(0xcc),
        ),
        (
            "00-12345678901234567890123456789012-1234567890123456-01-",
            Err(TraceParentError::Length),
        ),
        (
            "00-12345678901234567890123456789012-1234567890123456",
            Err(TraceParentError::Length),
        ),
        (
            "xx-12345678901234567890123456789012-1234567890123456-01",
            Err(TraceParentError::Version),
        ),
        (
            "ff-12345678901234567890123456789012-1234567890123456-01",
            Err(TraceParentError::ForbiddenVersion),
        ),
        (
            "cc-12345678901234567890123456789012-1234567890123456-01x",
            Err(TraceParentError::Delimiter),
        ),
        (
            "00_12345678901234567890123456789012-1234567890123456-01",
            Err(TraceParentError::Delimiter),
        ),
        (
            "00-1234567890123456789012345678901g-1234567890123456-01",
            Err(TraceParentError::TraceId),
        ),
        (
            "00-12345678901234567890123456789012-123456789012345G-01",
            Err(TraceParentError::ParentId),
        ),
        (
            "00-12345678901234567890123456789012-1234567890123456-0F",
            Err(TraceParentError::Flags),
        ),
        (
            "00-00000000000000000000000000000000-1234567890123456-01",
            Err(TraceParentError::ZeroTraceId),
        ),
        (
            "00-12345678901234567890123456789012-0000000000000000-01",
            Err(TraceParentError::ZeroParentId),
        ),
    ];
    for (value, expected) in table {
        let got = parse_traceparent(value.as_bytes()).map(|tp| tp.version);
        assert_eq!(&got, expected, "{value}");
    }
}
