//! Zipkin's B3 propagation (<https://github.com/openzipkin/b3-propagation>), the single `b3`
//! header and the `X-B3-*` headers, as the OpenTelemetry "B3 Requirements" take it
//! (specification/context/api-propagators.md): both encodings are read whichever is
//! configured, the single header first; the server span never reuses the caller's span id
//! (the extracted context is its parent, as with `traceparent`); `X-B3-ParentSpanId` is
//! checked when it comes but never written. Parsed and formatted on the stack.

use http::header::{HeaderMap, HeaderName};

use crate::ids::{decode_hex_lower, encode_hex};
use crate::traceparent::trim_ows;
use crate::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// The single header.
pub(crate) const B3: HeaderName = HeaderName::from_static("b3");
/// `X-B3-TraceId` (header names are lowercase in `http`, and B3 asks for lowercase on
/// case-sensitive carriers).
pub(crate) const X_B3_TRACE_ID: HeaderName = HeaderName::from_static("x-b3-traceid");
/// `X-B3-SpanId`.
pub(crate) const X_B3_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-spanid");
/// `X-B3-Sampled`.
pub(crate) const X_B3_SAMPLED: HeaderName = HeaderName::from_static("x-b3-sampled");
/// `X-B3-Flags`: `1` is debug.
pub(crate) const X_B3_FLAGS: HeaderName = HeaderName::from_static("x-b3-flags");
/// `X-B3-ParentSpanId`: read (checked), never written.
pub(crate) const X_B3_PARENT_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-parentspanid");

/// Length of the single header obs writes: `{32 hex}-{16 hex}-{1|0|d}`.
pub(crate) const B3_SINGLE_LEN: usize = 51;

/// The `X-B3-*` values of one request, each the first of its name ("When extracting state
/// headers, the first value wins").
#[derive(Clone, Copy, Default)]
pub(crate) struct Multi<'a> {
    pub(crate) trace_id: Option<&'a [u8]>,
    pub(crate) span_id: Option<&'a [u8]>,
    pub(crate) sampled: Option<&'a [u8]>,
    pub(crate) flags: Option<&'a [u8]>,
    pub(crate) parent_span_id: Option<&'a [u8]>,
}

/// The B3 context of a request, or `None`. A valid `b3` wins; an absent or invalid one
/// falls back to the `X-B3-*` headers, as the OpenTelemetry implementations do. One walk
/// over the names, no hashing; called only when B3 is configured.
pub(crate) fn extract(headers: &HeaderMap) -> Option<SpanContext> {
    let mut single = None;
    let mut multi = Multi::default();
    for (name, value) in headers {
        let slot = match name.as_str() {
            "b3" => &mut single,
            "x-b3-traceid" => &mut multi.trace_id,
            "x-b3-spanid" => &mut multi.span_id,
            "x-b3-sampled" => &mut multi.sampled,
            "x-b3-flags" => &mut multi.flags,
            "x-b3-parentspanid" => &mut multi.parent_span_id,
            _ => continue,
        };
        slot.get_or_insert(value.as_bytes());
    }
    single.and_then(parse_single).or_else(|| parse_multi(multi))
}

/// The span context of a `b3` header, `{TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]`,
/// or `None`. A header carrying only a sampling state (`0`, `1`, `d`) has no ids, which an
/// OpenTelemetry span context cannot do without: it is not a context (the OpenTelemetry Go
/// and Java propagators agree), and the request starts a trace of its own.
pub(crate) fn parse_single(value: &[u8]) -> Option<SpanContext> {
    let mut fields = trim_ows(value).split(|&b| b == b'-');
    let trace_id = parse_trace_id(fields.next()?)?;
    let span_id = parse_span_id(fields.next()?)?;
    let flags = match fields.next() {
        // Absent: defer, which is not sampled until this service's sampler decides.
        None => TraceFlags::default(),
        Some(b"0") => TraceFlags::default(),
        Some(b"1") => TraceFlags::SAMPLED,
        Some(b"d") => debug(),
        Some(_) => return None,
    };
    if let Some(parent) = fields.next() {
        parse_span_id(parent)?;
    }
    if fields.next().is_some() {
        return None;
    }
    Some(remote(trace_id, span_id, flags))
}

/// The span context of the `X-B3-*` headers, or `None`: both ids are required, a present
/// `X-B3-Sampled` or `X-B3-ParentSpanId` must be valid (B3: an empty or nonsense value is
/// malformed), and `X-B3-Flags` other than `1` is ignored, as B3 allows.
pub(crate) fn parse_multi(multi: Multi<'_>) -> Option<SpanContext> {
    let trace_id = parse_trace_id(trim_ows(multi.trace_id?))?;
    let span_id = parse_span_id(trim_ows(multi.span_id?))?;
    // B3: "a lenient implementation may accept" the older `true` and `false`.
    let mut flags = match multi.sampled.map(trim_ows) {
        None | Some(b"0" | b"false") => TraceFlags::default(),
        Some(b"1" | b"true") => TraceFlags::SAMPLED,
        Some(_) => return None,
    };
    if let Some(parent) = multi.parent_span_id {
        parse_span_id(trim_ows(parent))?;
    }
    if multi.flags.map(trim_ows) == Some(b"1") {
        flags = debug();
    }
    Some(remote(trace_id, span_id, flags))
}

/// Debug: the OpenTelemetry requirements make it sampled, and keep it to pass on.
fn debug() -> TraceFlags {
    TraceFlags(TraceFlags::SAMPLED.0 | TraceFlags::B3_DEBUG.0)
}

fn remote(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> SpanContext {
    SpanContext {
        trace_id,
        span_id,
        flags,
        trace_state: TraceState::default(),
        is_remote: true,
    }
}

/// 32 or 16 lower-hex characters (B3 "TraceId"); a 64-bit id is left-padded with zeros to
/// 128 bits, as OpenTelemetry ids are. All zeros is invalid.
fn parse_trace_id(hex: &[u8]) -> Option<TraceId> {
    let id = match hex.len() {
        32 => TraceId(decode_hex_lower::<16>(hex)?),
        16 => {
            let mut id = [0; 16];
            id[8..].copy_from_slice(&decode_hex_lower::<8>(hex)?);
            TraceId(id)
        }
        _ => return None,
    };
    id.is_valid().then_some(id)
}

/// 16 lower-hex characters, not all zeros.
fn parse_span_id(hex: &[u8]) -> Option<SpanId> {
    let id = SpanId(decode_hex_lower::<8>(hex)?);
    id.is_valid().then_some(id)
}

/// The sampling state a context carries: `d` (debug, which implies accept), `1` or `0`.
fn sampling_state(span: &SpanContext) -> u8 {
    if span.flags.is_b3_debug() {
        b'd'
    } else if span.is_sampled() {
        b'1'
    } else {
        b'0'
    }
}

/// The single header of a valid context: the 128-bit trace id, the span id (the caller's
/// span, which the callee takes as parent) and the sampling state; no parent span id.
pub(crate) fn format_single(span: &SpanContext) -> [u8; B3_SINGLE_LEN] {
    let mut out = [b'-'; B3_SINGLE_LEN];
    encode_hex(&span.trace_id.0, &mut out[..32]);
    encode_hex(&span.span_id.0, &mut out[33..49]);
    out[50] = sampling_state(span);
    out
}

/// The `X-B3-*` values of a valid context: trace id, span id and either `X-B3-Flags: 1`
/// (debug, which "implies an accept decision, so don't also send the `X-B3-Sampled`
/// header") or `X-B3-Sampled`.
pub(crate) fn multi_values(span: &SpanContext) -> MultiValues {
    MultiValues {
        trace_id: span.trace_id.to_hex(),
        span_id: span.span_id.to_hex(),
        sampling: match sampling_state(span) {
            b'd' => (X_B3_FLAGS, "1"),
            b'1' => (X_B3_SAMPLED, "1"),
            _ => (X_B3_SAMPLED, "0"),
        },
    }
}

/// What [`multi_values`] gives: the hex ids on the stack.
pub(crate) struct MultiValues {
    pub(crate) trace_id: [u8; 32],
    pub(crate) span_id: [u8; 16],
    /// `X-B3-Sampled` or `X-B3-Flags`, and its value.
    pub(crate) sampling: (HeaderName, &'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const SPAN: &str = "e457b5a2e4d86bd1";

    fn single(value: &str) -> Option<(String, String, u8)> {
        parse_single(value.as_bytes()).map(ids)
    }

    fn ids(span: SpanContext) -> (String, String, u8) {
        assert!(span.is_remote && span.trace_state.is_empty());
        (
            span.trace_id.to_string(),
            span.span_id.to_string(),
            span.flags.0,
        )
    }

    fn expect(flags: u8) -> Option<(String, String, u8)> {
        Some((TRACE.to_owned(), SPAN.to_owned(), flags))
    }

    #[test]
    fn single_header_values_from_the_b3_readme() {
        assert_eq!(
            single(&format!("{TRACE}-{SPAN}-1-05e3ac9a4f6e3b90")),
            expect(1)
        );
        assert_eq!(single(&format!("{TRACE}-{SPAN}-1")), expect(1));
        assert_eq!(single(&format!("{TRACE}-{SPAN}-0")), expect(0));
        // Defer: no sampling state, not sampled until the sampler decides.
        assert_eq!(single(&format!("{TRACE}-{SPAN}")), expect(0));
        // Debug is sampled, and kept to pass on.
        assert_eq!(single(&format!("{TRACE}-{SPAN}-d")), expect(0x81));
        assert_eq!(single(&format!(" \t{TRACE}-{SPAN}-1 ")), expect(1), "OWS");
        // A 64-bit trace id is left-padded to 128 bits.
        assert_eq!(
            single(&format!("a3ce929d0e0e4736-{SPAN}-1")),
            Some((
                "0000000000000000a3ce929d0e0e4736".to_owned(),
                SPAN.to_owned(),
                1
            ))
        );
    }

    #[test]
    fn invalid_single_headers_are_no_context() {
        let upper = format!("{}-{SPAN}-1", TRACE.to_uppercase());
        let upper_span = format!("{TRACE}-{}-1", SPAN.to_uppercase());
        for value in [
            // Only a sampling state: no ids to continue.
            "0",
            "1",
            "d",
            "",
            "-",
            // B3 ids are lower-hex.
            &upper,
            &upper_span,
            &format!("{TRACE}-{SPAN}-2"),
            &format!("{TRACE}-{SPAN}-true"),
            &format!("{TRACE}-{SPAN}-"),
            &format!("{TRACE}-{SPAN}-1-"),
            &format!("{TRACE}-{SPAN}-1--"),
            &format!("{TRACE}-{SPAN}-1-05e3ac9a4f6e3b9"),
            &format!("{TRACE}-{SPAN}-1-05e3ac9a4f6e3b90-x"),
            // The parent needs a sampling state before it.
            &format!("{TRACE}-{SPAN}-05e3ac9a4f6e3b90"),
            &format!("{TRACE}0-{SPAN}-1"),
            &format!("{}-{SPAN}-1", &TRACE[..24]),
            &format!("{TRACE}-{}-1", &SPAN[..15]),
            &format!("00000000000000000000000000000000-{SPAN}-1"),
            &format!("0000000000000000-{SPAN}-1"),
            &format!("{TRACE}-0000000000000000-1"),
            &format!("{TRACE}_{SPAN}-1"),
            &format!("{TRACE}-{SPAN}-1\u{e9}"),
        ] {
            assert_eq!(single(value), None, "{value:?}");
        }
    }

    fn multi(
        trace_id: &'static str,
        span_id: &'static str,
        sampled: Option<&'static str>,
        flags: Option<&'static str>,
        parent: Option<&'static str>,
    ) -> Option<(String, String, u8)> {
        parse_multi(Multi {
            trace_id: Some(trace_id.as_bytes()),
            span_id: Some(span_id.as_bytes()),
            sampled: sampled.map(str::as_bytes),
            flags: flags.map(str::as_bytes),
            parent_span_id: parent.map(str::as_bytes),
        })
        .map(ids)
    }

    #[test]
    fn multiple_headers_follow_the_sampled_flags_and_deny_rules() {
        assert_eq!(multi(TRACE, SPAN, Some("1"), None, None), expect(1));
        assert_eq!(multi(TRACE, SPAN, Some("0"), None, None), expect(0), "deny");
        assert_eq!(multi(TRACE, SPAN, None, None, None), expect(0), "defer");
        assert_eq!(multi(TRACE, SPAN, Some("true"), None, None), expect(1));
        assert_eq!(multi(TRACE, SPAN, Some("false"), None, None), expect(0));
        // Debug implies accept, whatever X-B3-Sampled says.
        assert_eq!(multi(TRACE, SPAN, None, Some("1"), None), expect(0x81));
        assert_eq!(multi(TRACE, SPAN, Some("0"), Some("1"), None), expect(0x81));
        // Other flags values "can be ignored".
        assert_eq!(multi(TRACE, SPAN, Some("1"), Some("0"), None), expect(1));
        assert_eq!(multi(TRACE, SPAN, None, Some("x"), None), expect(0));
        assert_eq!(
            multi(TRACE, SPAN, Some(" 1 "), None, Some("05e3ac9a4f6e3b90")),
            expect(1)
        );
        assert_eq!(
            multi("a3ce929d0e0e4736", SPAN, Some("1"), None, None),
            Some((
                "0000000000000000a3ce929d0e0e4736".to_owned(),
                SPAN.to_owned(),
                1
            ))
        );
        for (trace, span, sampled, parent) in [
            // Malformed: empty or nonsense sampled / parent values.
            (TRACE, SPAN, Some(""), None),
            (TRACE, SPAN, Some("2"), None),
            (TRACE, SPAN, Some("d"), None),
            (TRACE, SPAN, Some("1"), Some("-")),
            (TRACE, SPAN, Some("1"), Some("")),
            ("80F198EE56343BA864FE8B2A57D3EFF7", SPAN, Some("1"), None),
            (TRACE, "E457B5A2E4D86BD1", Some("1"), None),
            (TRACE, "", Some("1"), None),
            ("", SPAN, Some("1"), None),
            ("0000000000000000", SPAN, Some("1"), None),
            (TRACE, "0000000000000000", Some("1"), None),
            (&TRACE[..20], SPAN, Some("1"), None),
        ] {
            assert_eq!(
                multi(trace, span, sampled, None, parent),
                None,
                "{trace:?} {span:?} {sampled:?} {parent:?}"
            );
        }
        // Both ids are required: a sampling state alone is no context.
        let deny_only = Multi {
            sampled: Some(b"0"),
            ..Multi::default()
        };
        assert_eq!(parse_multi(deny_only), None);
    }

    fn context(flags: u8) -> SpanContext {
        SpanContext {
            trace_id: TraceId::from_hex(TRACE).unwrap(),
            span_id: SpanId::from_hex(SPAN).unwrap(),
            flags: TraceFlags(flags),
            ..SpanContext::default()
        }
    }

    #[test]
    fn formats_round_trip_with_their_sampling_state() {
        for (flags, state) in [(0x01, "1"), (0x03, "1"), (0x00, "0"), (0x81, "d")] {
            let span = context(flags);
            let header = format_single(&span);
            assert_eq!(header[..], *format!("{TRACE}-{SPAN}-{state}").as_bytes());
            let MultiValues {
                trace_id,
                span_id,
                sampling: (name, value),
            } = multi_values(&span);
            assert_eq!(
                (&trace_id[..], &span_id[..]),
                (TRACE.as_bytes(), SPAN.as_bytes())
            );
            let expected_name = if state == "d" {
                X_B3_FLAGS
            } else {
                X_B3_SAMPLED
            };
            assert_eq!(name, expected_name);
            assert_eq!(value, if state == "0" { "0" } else { "1" });
            // Read back: the same ids, sampled and debug kept (B3 has no random flag).
            let back = parse_single(&header).unwrap();
            assert_eq!(back.flags.0, flags & !TraceFlags::RANDOM.0);
            assert_eq!((back.trace_id, back.span_id), (span.trace_id, span.span_id));
        }
        // Debug stays out of a `traceparent` formatted from the context's flags.
        let span = context(0x81);
        let traceparent = crate::format_traceparent(span.trace_id, span.span_id, span.flags);
        assert_eq!(traceparent[..], *format!("00-{TRACE}-{SPAN}-01").as_bytes());
        // A 64-bit id goes out as 32 characters, zero-padded.
        let mut span = context(1);
        span.trace_id = TraceId::from_u128(0xa3ce929d0e0e4736);
        assert!(format_single(&span).starts_with(b"0000000000000000a3ce929d0e0e4736-"));
    }
}
