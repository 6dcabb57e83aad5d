//! Property tests: whatever valid value is formatted parses back to the same value.

use obs_trace::{
    Baggage, SpanId, TraceFlags, TraceId, TraceState, format_traceparent, parse_traceparent,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// `key = ( lcalpha / DIGIT ) 0*255 ( lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@" )`.
fn tracestate_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9][a-z0-9_*/@-]{0,20}",
        "[a-z0-9][a-z0-9_*/@-]{200,255}",
    ]
}

/// `value = 0*255(chr) nblk-chr`: printable ASCII but `,` and `=`, not ending in a space.
fn tracestate_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -+--<>-~]{0,20}[!-+--<>-~]",
        "[ -+--<>-~]{240,255}[!-+--<>-~]",
    ]
}

/// Up to 32 members with distinct keys, as the spec allows.
fn tracestate_members() -> impl Strategy<Value = Vec<(String, String)>> {
    vec((tracestate_key(), tracestate_value()), 0..=32).prop_map(|members| {
        let mut seen = std::collections::HashSet::new();
        members
            .into_iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .collect()
    })
}

/// RFC 7230 `token`.
fn baggage_key() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,16}"
}

/// `property = key "=" value / key`, values from `baggage-octet`.
fn baggage_properties() -> impl Strategy<Value = String> {
    vec(
        (
            baggage_key(),
            proptest::option::of("[!#-+--:<-\\[\\]-~]{0,8}"),
        ),
        0..3,
    )
    .prop_map(|props| {
        props
            .into_iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k,
            })
            .collect::<Vec<_>>()
            .join(";")
    })
}

/// OWS: any mix of spaces and tabs.
fn ows() -> impl Strategy<Value = String> {
    "[ \t]{0,2}"
}

proptest! {
    #[test]
    fn traceparent_round_trips(
        trace in 1u128..,
        span in 1u64..,
        flags in any::<u8>(),
        lead in ows(),
        trail in ows(),
    ) {
        let (trace_id, span_id, flags) = (TraceId::from_u128(trace), SpanId::from_u64(span), TraceFlags(flags));
        let header = format_traceparent(trace_id, span_id, flags);
        let padded = [lead.as_bytes(), &header[..], trail.as_bytes()].concat();
        let parsed = parse_traceparent(&padded).expect("formatted traceparent parses");
        prop_assert_eq!(parsed.version, 0);
        prop_assert_eq!(parsed.trace_id, trace_id);
        prop_assert_eq!(parsed.parent_id, span_id);
        // Written without the bit obs keeps B3's debug flag in (`TraceFlags::to_u8`).
        prop_assert_eq!(parsed.flags.0, flags.to_u8());
        prop_assert_eq!(parsed.to_bytes(), header);
    }

    #[test]
    fn tracestate_round_trips(members in tracestate_members(), seps in vec(ows(), 66)) {
        // Join with OWS around the commas, as a sender may.
        let mut header = String::new();
        for (i, (k, v)) in members.iter().enumerate() {
            if i > 0 {
                header.push_str(&seps[2 * i]);
                header.push(',');
                header.push_str(&seps[2 * i + 1]);
            }
            header.push_str(&format!("{k}={v}"));
        }
        let state = TraceState::from_header(&header).expect("valid tracestate parses");
        let got: Vec<(String, String)> = state.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(&got, &members);
        let canonical = members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        prop_assert_eq!(state.header(), canonical.as_str());
        prop_assert_eq!(TraceState::from_header(state.header()), Ok(state.clone()));

        // Built by insertion (each moves to the front), the list comes out reversed.
        let mut built = TraceState::default();
        for (k, v) in &members {
            built.insert(k, v).expect("valid member");
        }
        let mut reversed = got;
        reversed.reverse();
        let built: Vec<(String, String)> = built.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(built, reversed);
    }

    // Values are any text (controls and non-ASCII included), short enough that 20 entries stay
    // under the 8192-byte limit.
    #[test]
    fn baggage_round_trips(
        entries in vec((baggage_key(), "(?s).{0,24}", baggage_properties()), 0..20),
    ) {
        let mut baggage = Baggage::new();
        for (k, v, p) in &entries {
            baggage.insert_with_properties(k.as_str(), v.as_str(), p).expect("valid entry");
        }
        let header = baggage.to_header();
        prop_assert!(header.bytes().all(|b| b.is_ascii_graphic()), "{}", header);
        let parsed = Baggage::from_header(&header);
        prop_assert_eq!(&parsed, &baggage);
        prop_assert_eq!(parsed.to_header(), header);
    }
}
