//! A fuzz harness for the propagation parsers that runs on the stable toolchain.
//!
//! Feeds `parse_traceparent`, `TraceState::from_header`, `Baggage::from_header` and `extract`
//! (B3 chosen beside the W3C formats, so its `b3` and `X-B3-*` headers are parsed too)
//! random and mutated-from-corpus byte strings. Each input must not panic, and whatever
//! parses must re-format to something that parses to the same value.
//!
//! Bounded by count (`OBS_FUZZ_ITERATIONS`, default 20 000, so the normal test suite stays
//! fast) or, when `OBS_FUZZ_SECONDS` is set, by time (`scripts/fuzz-propagation.sh`).
//! `OBS_FUZZ_SEED` picks the seed; a failure prints the seed and the input.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue};
use obs_trace::{
    ActiveContext, Baggage, Propagators, TRACEPARENT_LEN, TraceState, extract, inject,
    parse_traceparent, set_propagators,
};

/// xorshift64*: enough to explore inputs, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const CORPUS: &[&[u8]] = &[
    b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    b"00-12345678901234567890123456789012-1234567890123456-03",
    b"cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
    b"ff-12345678901234567890123456789012-1234567890123456-01",
    b"\t 00-12345678901234567890123456789012-1234567890123456-00 \t",
    b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    b"foo=1 \t , \t bar=2,, baz=3",
    b"foo@@bar=1,t@vvvvvvvvvvvvvvv=2,1a*/_-@x= v a l u e ~",
    b"foo=bar=baz,@foo=1,FOO=1",
    b"userId=alice,serverNode=DF%2028,isProduction=false",
    b"key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
    b"check=%E2%9C%93,bad=%FF,p=%zz,%=%25",
    b"a=\"x\",b=x\\y,c=x y,d=",
    b"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
    b"a3ce929d0e0e4736-e457b5a2e4d86bd1-d",
    b"e457b5a2e4d86bd1",
    b"true",
];

/// B3 read beside Trace Context, `traceparent` winning when both are valid: what `extract`
/// is fuzzed with. Set by both tests of this binary (the choice is process-wide).
const PROPAGATORS: Propagators = Propagators {
    b3: true,
    b3_multi: true,
    trace_context_last: true,
    ..Propagators::W3C
};

/// Bytes that matter to the grammars, picked more often than chance would.
const SPECIAL: &[u8] = b"-,=;@% \t0af9FZ.\"\\*/_~\x00\x7f\xff";

fn random_input(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(80);
    (0..len)
        .map(|_| {
            if rng.below(2) == 0 {
                *rng.pick(SPECIAL)
            } else {
                rng.next() as u8
            }
        })
        .collect()
}

fn mutate(rng: &mut Rng, mut input: Vec<u8>) -> Vec<u8> {
    for _ in 0..=rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(6) {
            0 if at < input.len() => input[at] = rng.next() as u8,
            1 if at < input.len() => input[at] = *rng.pick(SPECIAL),
            2 => input.insert(at, *rng.pick(SPECIAL)),
            3 if at < input.len() => {
                input.remove(at);
            }
            4 => {
                // Splice in part of another corpus entry.
                let other = rng.pick(CORPUS);
                let from = rng.below(other.len());
                let to = from + rng.below(other.len() - from + 1);
                input.splice(at..at, other[from..to].iter().copied());
            }
            _ => {
                // Repeat a slice: long lists, many members.
                let from = rng.below(input.len());
                let to = (from + rng.below(64)).min(input.len());
                let copy = input[from..to].repeat(rng.below(40) + 1);
                input.splice(at..at, copy);
            }
        }
    }
    input
}

fn check_traceparent(input: &[u8]) -> bool {
    let parsed = parse_traceparent(input);
    if let Ok(tp) = parsed {
        let formatted = tp.to_bytes();
        assert_eq!(formatted.len(), TRACEPARENT_LEN);
        let again = parse_traceparent(&formatted).expect("re-formatted traceparent parses");
        // The flags as W3C's byte: without the bit obs keeps B3's debug flag in.
        assert_eq!(
            (
                again.version,
                again.trace_id,
                again.parent_id,
                again.flags.0
            ),
            (0, tp.trace_id, tp.parent_id, tp.flags.to_u8())
        );
    }
    parsed.is_ok()
}

fn check_tracestate(input: &[u8]) -> bool {
    let parsed = TraceState::from_header(input);
    if let Ok(state) = &parsed {
        assert!(state.len() <= obs_trace::MAX_TRACESTATE_MEMBERS);
        assert_eq!(TraceState::from_header(state.header()), Ok(state.clone()));
        assert_eq!(state.header().is_empty(), state.is_empty());
    }
    parsed.is_ok_and(|s| !s.is_empty())
}

fn check_baggage(input: &[u8]) -> bool {
    let baggage = Baggage::from_header(input);
    assert!(baggage.len() <= obs_trace::MAX_BAGGAGE_MEMBERS);
    let header = baggage.to_header();
    assert!(header.len() <= obs_trace::MAX_BAGGAGE_BYTES);
    let again = Baggage::from_header(&header);
    if again.len() == baggage.len() {
        assert_eq!(again, baggage);
    } else {
        // Over the byte limit: whole members were left out, the rest are intact.
        for entry in &again {
            assert_eq!(baggage.entry(entry.key()), Some(entry));
        }
    }
    !baggage.is_empty()
}

fn check_extract(rng: &mut Rng, input: &[u8]) -> bool {
    let Ok(value) = HeaderValue::from_bytes(input) else {
        return false;
    };
    let mut headers = HeaderMap::new();
    for _ in 0..=rng.below(3) {
        let name = *rng.pick(&[
            "traceparent",
            "tracestate",
            "baggage",
            "b3",
            "x-b3-traceid",
            "x-b3-spanid",
            "x-b3-sampled",
            "x-b3-flags",
            "x-b3-parentspanid",
        ]);
        headers.append(HeaderName::from_static(name), value.clone());
    }
    let parent = extract(&headers);
    if let Some(span) = parent.span.clone() {
        assert!(span.is_valid() && span.is_remote);
        let mut out = HeaderMap::new();
        inject(
            &ActiveContext {
                span: span.clone(),
                baggage: parent.baggage.clone(),
            },
            &mut out,
        );
        // `traceparent` is written too, and read back first: the same context, apart from
        // B3's debug flag, which it does not carry.
        let again = extract(&out).span.expect("injected context extracts");
        let key = |s: &obs_trace::SpanContext| {
            (
                s.trace_id,
                s.span_id,
                s.flags.to_u8(),
                s.trace_state.clone(),
            )
        };
        assert_eq!(key(&again), key(&span));
        assert!(again.is_remote);
    }
    parent.span.is_some()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

#[test]
fn parsers_never_panic_and_round_trip() {
    set_propagators(PROPAGATORS);
    let seed = env_u64("OBS_FUZZ_SEED").unwrap_or(0x0b5_7ace);
    let deadline = env_u64("OBS_FUZZ_SECONDS").map(|s| Instant::now() + Duration::from_secs(s));
    // With a time budget the count is only a backstop.
    let iterations = env_u64("OBS_FUZZ_ITERATIONS").unwrap_or(if deadline.is_some() {
        u64::MAX
    } else {
        20_000
    });
    let mut rng = Rng(seed | 1);
    let mut done = 0u64;
    // Inputs each parser accepted (non-empty), to show the fuzzer reaches past rejection.
    let mut accepted = [0u64; 4];
    while done < iterations && deadline.is_none_or(|d| Instant::now() < d) {
        let input = match rng.below(3) {
            0 => random_input(&mut rng),
            _ => {
                let base = rng.pick(CORPUS).to_vec();
                mutate(&mut rng, base)
            }
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            [
                check_traceparent(&input),
                check_tracestate(&input),
                check_baggage(&input),
                check_extract(&mut rng, &input),
            ]
        }));
        match result {
            Ok(flags) => {
                for (count, ok) in accepted.iter_mut().zip(flags) {
                    *count += u64::from(ok);
                }
            }
            Err(panic) => {
                eprintln!(
                    "fuzz failure after {done} inputs (OBS_FUZZ_SEED={seed}): input {:?}",
                    String::from_utf8_lossy(&input)
                );
                resume_unwind(panic);
            }
        }
        done += 1;
    }
    let [traceparent, tracestate, baggage, extracted] = accepted;
    println!(
        "fuzzed {done} inputs (OBS_FUZZ_SEED={seed}); accepted: traceparent {traceparent}, \
         tracestate {tracestate}, baggage {baggage}, extract {extracted}"
    );
    assert!(done > 0);
}

#[test]
fn huge_values_are_handled() {
    set_propagators(PROPAGATORS);
    let huge_list = "a=1,".repeat(64 * 1024);
    let huge_value = format!("k={}", "v".repeat(256 * 1024));
    for input in [huge_list.as_bytes(), huge_value.as_bytes()] {
        check_traceparent(input);
        assert!(
            !check_tracestate(input),
            "more than 32 members or a 256 KiB value"
        );
        check_baggage(input);
    }
    assert_eq!(Baggage::from_header(&huge_list).len(), 1);
    assert!(
        Baggage::from_header(&huge_value).to_header().is_empty(),
        "over 8192 bytes"
    );
    let mut rng = Rng(1);
    check_extract(&mut rng, huge_list.as_bytes());
}
