//! W3C Trace Context and Baggage, and B3 when configured, on an `http::HeaderMap`, and the
//! same as an OpenTelemetry text-map propagator.

use std::cell::Cell;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU8, Ordering};

use http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::baggage::{Baggage as OtelBaggage, BaggageExt};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator};
use opentelemetry::trace::{self as otel, TraceContextExt};

use crate::b3::{
    self, B3, X_B3_FLAGS, X_B3_PARENT_SPAN_ID, X_B3_SAMPLED, X_B3_SPAN_ID, X_B3_TRACE_ID,
};
use crate::traceparent::{KNOWN_FLAGS, TraceParent};
use crate::{
    ActiveContext, Baggage, BaggageError, RemoteParent, SpanContext, SpanId, TraceFlags, TraceId,
    TraceState, format_traceparent, parse_traceparent, with_current,
};

/// The `traceparent` header name.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// The `tracestate` header name.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// The `baggage` header name.
pub const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// Which formats [`extract`], [`inject`] (so every obs middleware) and [`W3CPropagator`]
/// read and write, process-wide: what `OTEL_PROPAGATORS` chooses (`tracecontext`,
/// `baggage`, `b3`, `b3multi`, `none`; `obs_core::init` sets it). A format left out is
/// neither read nor written: its headers pass through untouched.
///
/// The formats make one composite propagator, which "will invoke the `Propagator`s ... in
/// the order they were specified" (OpenTelemetry, "Composite Propagator"): each extraction
/// replaces the span context an earlier one found, so when both a valid `traceparent` and
/// a valid B3 context come, the format listed last gives the parent
/// ([`trace_context_last`](Self::trace_context_last)). Inject writes every format chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Propagators {
    /// `tracecontext`: `traceparent` and `tracestate`.
    pub trace_context: bool,
    /// `baggage`: the `baggage` header.
    pub baggage: bool,
    /// `b3`: B3 is read from the `b3` header or else the `X-B3-*` headers, and written as
    /// the single `b3` header.
    pub b3: bool,
    /// `b3multi`: B3 is read as with [`b3`](Self::b3), and written as `X-B3-TraceId`,
    /// `X-B3-SpanId` and `X-B3-Sampled` (`X-B3-Flags: 1` for a debug trace).
    pub b3_multi: bool,
    /// With Trace Context and B3 both chosen: `tracecontext` comes after `b3`/`b3multi` in
    /// the list, so a valid `traceparent` wins over a valid B3 context. Otherwise (`false`,
    /// as in `tracecontext,baggage,b3`) the B3 context wins. Either way a format whose
    /// headers are absent or invalid leaves the other's context in place.
    pub trace_context_last: bool,
}

impl Propagators {
    /// `tracecontext,baggage`, the spec's default and the process's until it is set.
    pub const W3C: Propagators = Propagators {
        trace_context: true,
        baggage: true,
        b3: false,
        b3_multi: false,
        trace_context_last: false,
    };

    /// `none`: no context is read from or written into headers.
    pub const NONE: Propagators = Propagators {
        trace_context: false,
        baggage: false,
        b3: false,
        b3_multi: false,
        trace_context_last: false,
    };

    const TRACE_CONTEXT_BIT: u8 = 1;
    const BAGGAGE_BIT: u8 = 2;
    const B3_BIT: u8 = 4;
    const B3_MULTI_BIT: u8 = 8;
    /// The formats' bits, an index into the [`FIELDS`] table.
    const FORMAT_BITS: u8 = 15;
    const TRACE_CONTEXT_LAST_BIT: u8 = 16;

    fn to_bits(self) -> u8 {
        (u8::from(self.trace_context) * Self::TRACE_CONTEXT_BIT)
            | (u8::from(self.baggage) * Self::BAGGAGE_BIT)
            | (u8::from(self.b3) * Self::B3_BIT)
            | (u8::from(self.b3_multi) * Self::B3_MULTI_BIT)
            | (u8::from(self.trace_context_last) * Self::TRACE_CONTEXT_LAST_BIT)
    }

    fn from_bits(bits: u8) -> Propagators {
        Propagators {
            trace_context: bits & Self::TRACE_CONTEXT_BIT != 0,
            baggage: bits & Self::BAGGAGE_BIT != 0,
            b3: bits & Self::B3_BIT != 0,
            b3_multi: bits & Self::B3_MULTI_BIT != 0,
            trace_context_last: bits & Self::TRACE_CONTEXT_LAST_BIT != 0,
        }
    }

    /// Whether B3 is read (either B3 value chosen).
    #[inline]
    fn reads_b3(self) -> bool {
        self.b3 || self.b3_multi
    }

    /// The span context the composite extraction ends with: Trace Context's and B3's
    /// (each read only when chosen, and B3's only when it can matter), the format listed
    /// last winning when both found one.
    fn choose_span(
        self,
        trace_context: impl FnOnce() -> Option<SpanContext>,
        b3: impl FnOnce() -> Option<SpanContext>,
    ) -> Option<SpanContext> {
        let trace_context = || self.trace_context.then(trace_context).flatten();
        if !self.reads_b3() {
            trace_context()
        } else if self.trace_context_last {
            trace_context().or_else(b3)
        } else {
            b3().or_else(trace_context)
        }
    }
}

impl Default for Propagators {
    fn default() -> Self {
        Propagators::W3C
    }
}

/// The process's [`Propagators`]; read on every extract and inject, hence an atomic.
static PROPAGATORS: AtomicU8 =
    AtomicU8::new(Propagators::TRACE_CONTEXT_BIT | Propagators::BAGGAGE_BIT);

/// Sets which formats are propagated, process-wide (see [`Propagators`]).
pub fn set_propagators(propagators: Propagators) {
    PROPAGATORS.store(propagators.to_bits(), Ordering::Relaxed);
}

/// Which formats are propagated (see [`Propagators`]).
pub fn propagators() -> Propagators {
    Propagators::from_bits(PROPAGATORS.load(Ordering::Relaxed))
}

/// Reads the caller's context from request headers. Never fails: a missing or invalid
/// `traceparent` gives `span: None` (the request starts a new trace); baggage is kept even
/// without a `traceparent`, since the two specs are independent. A format left out of
/// [`propagators`] is not read. With B3 chosen, its context is read too (see
/// [`Propagators`] for which wins when both come): a valid `b3` header, else valid
/// `X-B3-TraceId` and `X-B3-SpanId` (the first of each name); a 64-bit trace id is
/// left-padded to 128 bits, debug (`d`, `X-B3-Flags: 1`) is sampled and passed on, a deny
/// (`0`) is not sampled, and a sampling state without ids is no context.
///
/// Trace Context, "Processing Model": more than one `traceparent` field is invalid (the W3C
/// test `test_traceparent_duplicated` expects a new trace), and `tracestate` is only read
/// when `traceparent` is valid; an invalid `tracestate` is dropped, the trace continues.
///
/// ```
/// use http::HeaderMap;
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse()?);
/// headers.insert("baggage", "userId=alice".parse()?);
/// let parent = obs_trace::extract(&headers);
/// let span = parent.span.expect("valid traceparent");
/// assert!(span.is_remote && span.is_sampled());
/// assert_eq!(parent.baggage.get("userId"), Some("alice"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn extract(headers: &HeaderMap) -> RemoteParent {
    // One walk over the header names finds which of the three are there, cheaper than
    // three lookups that each hash a name; `traceparent` values are taken on the way (the
    // first two: a second one makes the header invalid), the rarer `tracestate` and
    // `baggage` are read with a lookup only when present.
    let mut traceparents: [Option<&[u8]>; 2] = [None, None];
    let (mut tracestate, mut baggage) = (false, false);
    for (name, value) in headers {
        let name = name.as_str();
        match name.len() {
            11 if name == TRACEPARENT.as_str() => {
                if let Some(free) = traceparents.iter_mut().find(|v| v.is_none()) {
                    *free = Some(value.as_bytes());
                }
            }
            10 if name == TRACESTATE.as_str() => tracestate = true,
            7 if name == BAGGAGE.as_str() => baggage = true,
            _ => {}
        }
    }
    let on = propagators();
    RemoteParent {
        span: on.choose_span(
            || {
                extract_span_context(traceparents.into_iter().flatten(), || {
                    tracestate.then(|| {
                        headers
                            .get_all(TRACESTATE)
                            .iter()
                            .map(HeaderValue::as_bytes)
                    })
                })
            },
            || b3::extract(headers),
        ),
        baggage: if baggage && on.baggage {
            Baggage::from_headers(headers.get_all(BAGGAGE).iter().map(HeaderValue::as_bytes))
        } else {
            Baggage::default()
        },
    }
}

/// The span context of exactly one valid `traceparent`, with its `tracestate` (read only
/// then, hence the closure; `None` when no `tracestate` header came).
fn extract_span_context<'a, P, S>(
    mut traceparents: P,
    tracestates: impl FnOnce() -> Option<S>,
) -> Option<SpanContext>
where
    P: Iterator<Item = &'a [u8]>,
    S: Iterator<Item = &'a [u8]>,
{
    let first = traceparents.next()?;
    if traceparents.next().is_some() {
        return None;
    }
    let TraceParent {
        trace_id,
        parent_id,
        flags,
        ..
    } = parse_traceparent(first).ok()?;
    Some(SpanContext {
        trace_id,
        span_id: parent_id,
        // Level 2 "trace-flags": unknown bits are not ours to pass on; `random` is.
        flags: TraceFlags(flags.0 & KNOWN_FLAGS),
        trace_state: tracestates()
            .and_then(|values| TraceState::from_headers(values).ok())
            .unwrap_or_default(),
        is_remote: true,
    })
}

/// Writes the context of `active` into request headers: exactly one `traceparent` (the
/// span's own ids and flags), `tracestate` only when non-empty and `baggage` only when
/// non-empty. Existing `traceparent` and `tracestate` values are replaced or removed, so a
/// reused header map never carries a stale trace. A `baggage` header is replaced when the
/// context has baggage (inject *sets* the propagator's fields, in the OpenTelemetry
/// propagators API) and otherwise left as it is: with nothing to inject, the one the
/// application (or a layer above) set is its data, not a stale context. An invalid span
/// context writes no trace headers. A format left out of [`propagators`] is not written,
/// and its headers are left as they are. B3 is written, when chosen, as the `b3` header
/// (`b3`) and the `X-B3-*` headers (`b3multi`), with no `X-B3-ParentSpanId`, which the
/// OpenTelemetry B3 requirements forbid; stale `b3` and `X-B3-*` values are replaced or
/// removed like `traceparent`.
///
/// ```
/// use obs_trace::{ActiveContext, SpanContext, SpanId, TraceFlags, TraceId};
/// let active = ActiveContext {
///     span: SpanContext {
///         trace_id: TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c),
///         span_id: SpanId::from_u64(0xb7ad6b7169203331),
///         flags: TraceFlags::SAMPLED,
///         ..Default::default()
///     },
///     baggage: Default::default(),
/// };
/// let mut headers = http::HeaderMap::new();
/// obs_trace::inject(&active, &mut headers);
/// assert_eq!(headers["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
/// assert!(headers.get("tracestate").is_none() && headers.get("baggage").is_none());
/// ```
pub fn inject(active: &ActiveContext, headers: &mut HeaderMap) {
    let on = propagators();
    let span = &active.span;
    if !on.trace_context {
        // Not ours to write, nor to remove.
    } else if span.is_valid() {
        set(
            headers,
            TRACEPARENT,
            HeaderValue::from_bytes(&traceparent_of(span)).ok(),
        );
        set(
            headers,
            TRACESTATE,
            non_empty(span.trace_state.header().to_owned()),
        );
    } else {
        headers.remove(TRACEPARENT);
        headers.remove(TRACESTATE);
    }
    if on.reads_b3() {
        inject_b3(on, span, headers);
    }
    // No baggage in the context: nothing to inject, and an application's own header stays.
    // With baggage, the context's replaces it rather than merging with it: a merge would
    // have to settle duplicate keys and the 8192-byte and 64-member limits, and
    // an application wanting both puts its entries into the context. Baggage none of
    // which fits the limits is nothing to inject too: an empty field is no `baggage-string`.
    if on.baggage
        && !active.baggage.is_empty()
        && let Some(value) = non_empty(active.baggage.to_header())
    {
        headers.insert(BAGGAGE, value);
    }
}

/// The B3 part of [`inject`]: the chosen encodings' headers, without stale ones.
fn inject_b3(on: Propagators, span: &SpanContext, headers: &mut HeaderMap) {
    if on.b3 {
        headers.remove(B3);
    }
    if on.b3_multi {
        // Which of `X-B3-Sampled` and `X-B3-Flags` is written depends on the context, and
        // a parent span id is never written: remove them all first.
        for name in [
            X_B3_TRACE_ID,
            X_B3_SPAN_ID,
            X_B3_SAMPLED,
            X_B3_FLAGS,
            X_B3_PARENT_SPAN_ID,
        ] {
            headers.remove(name);
        }
    }
    if span.is_valid() {
        for_each_b3_header(on, span, |name, value| {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.insert(name, value);
            }
        });
    }
}

/// Calls `write` with each B3 header the chosen encodings write for a valid `span`.
fn for_each_b3_header(
    on: Propagators,
    span: &SpanContext,
    mut write: impl FnMut(HeaderName, &[u8]),
) {
    if on.b3 {
        write(B3, &b3::format_single(span));
    }
    if on.b3_multi {
        let values = b3::multi_values(span);
        write(X_B3_TRACE_ID, &values.trace_id);
        write(X_B3_SPAN_ID, &values.span_id);
        let (name, value) = values.sampling;
        write(name, value.as_bytes());
    }
}

fn traceparent_of(span: &SpanContext) -> [u8; crate::TRACEPARENT_LEN] {
    format_traceparent(
        span.trace_id,
        span.span_id,
        TraceFlags(span.flags.0 & KNOWN_FLAGS),
    )
}

fn non_empty(value: String) -> Option<HeaderValue> {
    if value.is_empty() {
        None
    } else {
        HeaderValue::try_from(value).ok()
    }
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: Option<HeaderValue>) {
    match value {
        Some(value) => {
            headers.insert(name, value);
        }
        None => {
            headers.remove(name);
        }
    }
}

/// Injects the current thread's context ([`with_current`]); does nothing when no span is
/// current.
pub fn inject_current(headers: &mut HeaderMap) {
    with_current(|active| {
        if let Some(active) = active {
            inject(active, headers);
        }
    });
}

/// The header names each choice of formats injects (OpenTelemetry "Fields": "the headers
/// used for the inject operation"), indexed by [`Propagators::FORMAT_BITS`].
static FIELDS: LazyLock<[Vec<String>; 16]> = LazyLock::new(|| {
    std::array::from_fn(|bits| {
        let on = Propagators::from_bits(bits as u8);
        let formats: [(bool, &[HeaderName]); 4] = [
            (on.trace_context, &[TRACEPARENT, TRACESTATE]),
            (on.baggage, &[BAGGAGE]),
            (on.b3, &[B3]),
            (
                on.b3_multi,
                &[X_B3_TRACE_ID, X_B3_SPAN_ID, X_B3_SAMPLED, X_B3_FLAGS],
            ),
        ];
        formats
            .into_iter()
            .filter(|&(chosen, _)| chosen)
            .flat_map(|(_, names)| names.iter().map(|name| name.as_str().to_owned()))
            .collect()
    })
});

/// W3C Trace Context (Level 2) and W3C Baggage, and B3 when chosen, as an OpenTelemetry
/// [`TextMapPropagator`], with the same parsing rules as [`extract`] and [`inject`] and the
/// formats [`propagators`] chooses, so OpenTelemetry-based code (`opentelemetry-http`,
/// `tonic` interceptors, other libraries) interoperates with `obs`.
///
/// When the OpenTelemetry [`Context`](opentelemetry::Context) given to `inject_context`
/// holds no valid span context, the current `obs` span ([`with_current`]) is injected.
///
/// OpenTelemetry's own `TraceState` applies an older key grammar: on conversion, members it
/// refuses (such as `foo@@bar`) are left out of the OpenTelemetry context. B3's debug flag
/// has no place in an OpenTelemetry span context: one extracted into it is sampled, and an
/// injection from it writes "sampled", not "debug".
#[derive(Clone, Copy, Debug, Default)]
pub struct W3CPropagator;

impl W3CPropagator {
    /// The propagator.
    pub const fn new() -> Self {
        W3CPropagator
    }
}

/// Installs [`W3CPropagator`] as OpenTelemetry's global text-map propagator (it follows
/// [`propagators`], B3 included).
pub fn install_global_propagator() {
    opentelemetry::global::set_text_map_propagator(W3CPropagator::new());
}

fn all<'a>(extractor: &'a dyn Extractor, name: &HeaderName) -> Vec<&'a str> {
    extractor.get_all(name.as_str()).unwrap_or_default()
}

fn to_otel_span_context(span: &SpanContext) -> otel::SpanContext {
    otel::SpanContext::new(
        otel::TraceId::from_bytes(span.trace_id.to_bytes()),
        otel::SpanId::from_bytes(span.span_id.to_bytes()),
        // The W3C byte: B3's debug bit is obs's own, not OpenTelemetry's.
        otel::TraceFlags::new(span.flags.to_u8()),
        span.is_remote,
        to_otel_trace_state(&span.trace_state),
    )
}

fn to_otel_trace_state(state: &TraceState) -> otel::TraceState {
    if state.is_empty() {
        return otel::TraceState::NONE;
    }
    otel::TraceState::from_key_value(state.iter()).unwrap_or_else(|_| {
        // Keep the members OpenTelemetry's grammar accepts, in order.
        let accepted = state
            .iter()
            .filter(|&member| otel::TraceState::from_key_value([member]).is_ok());
        otel::TraceState::from_key_value(accepted).unwrap_or_default()
    })
}

fn from_otel_span_context(span: &otel::SpanContext) -> SpanContext {
    SpanContext {
        trace_id: TraceId(span.trace_id().to_bytes()),
        span_id: SpanId(span.span_id().to_bytes()),
        // Bits obs does not know are not taken (one would read as B3's debug).
        flags: TraceFlags(span.trace_flags().to_u8() & KNOWN_FLAGS),
        trace_state: TraceState::from_header(span.trace_state().header()).unwrap_or_default(),
        is_remote: span.is_remote(),
    }
}

/// The span context and baggage of the OpenTelemetry context attached on this thread
/// (`Context::attach`), if it holds either. `tracing-opentelemetry` makes it the parent of
/// a span created with no `tracing` span current, and [`SpanLayer`](crate::SpanLayer) does
/// too, so that library code written for it (attach an extracted context, then create the
/// span) continues the caller's trace. OpenTelemetry's thread-local panics when it is read
/// as the thread exits (a span made in another thread-local's destructor), once torn down:
/// no context then, and no read (a caught panic still runs the panic hook, and aborts under
/// `panic = "abort"`). [`OtelContextRead`] tells when.
pub(crate) fn attached_context() -> Option<(SpanContext, Baggage)> {
    let state = OTEL_CONTEXT.get();
    if state == OtelContext::Gone {
        return None;
    }
    // Caught where a first read comes as the thread exits, after code other than obs set
    // OpenTelemetry's thread-local up (the hook still runs, that once), or where the read
    // comes from inside OpenTelemetry's own use of it (a `RefCell` borrowed mutably).
    let Ok(read) = std::panic::catch_unwind(|| {
        opentelemetry::Context::map_current(|cx| {
            let span = cx.span();
            let baggage = cx.baggage();
            (span.span_context().is_valid() || !baggage.is_empty()).then(|| {
                (
                    from_otel_span_context(span.span_context()),
                    from_otel_baggage(baggage),
                )
            })
        })
    }) else {
        if state == OtelContext::Unknown {
            OTEL_CONTEXT.set(OtelContext::Gone);
        }
        return None;
    };
    if state == OtelContext::Unknown {
        // OpenTelemetry's thread-local is set up by now (the read did it, if nothing had):
        // the guard, set up after it, is torn down before it.
        let _ = OTEL_CONTEXT_GUARD.try_with(|_| OTEL_CONTEXT.set(OtelContext::Live));
    }
    read
}

/// Whether OpenTelemetry's current-context thread-local can be read on this thread.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OtelContext {
    /// Not read by obs on this thread yet.
    Unknown,
    /// Read, and [`OTEL_CONTEXT_GUARD`] set up after it: alive while the guard is.
    Live,
    /// The guard is torn down (OpenTelemetry's may be too), or the first read panicked.
    Gone,
}

/// Dropped as the thread exits, before OpenTelemetry's thread-local (thread-locals are torn
/// down in the reverse order of their setup, and this one is set up after it).
struct OtelContextRead;

impl Drop for OtelContextRead {
    fn drop(&mut self) {
        OTEL_CONTEXT.set(OtelContext::Gone);
    }
}

thread_local! {
    /// No destructor: readable while the thread exits.
    static OTEL_CONTEXT: Cell<OtelContext> = const { Cell::new(OtelContext::Unknown) };
    static OTEL_CONTEXT_GUARD: OtelContextRead = const { OtelContextRead };
}

/// `baggage` as OpenTelemetry's, which holds at most 8192 bytes of keys, values and
/// metadata in all where [`Baggage::from_headers`] keeps members of up to 8192 bytes each:
/// the members it refuses are dropped, and counted ([`BaggageDrops`](crate::BaggageDrops)).
fn to_otel_baggage(baggage: &Baggage) -> OtelBaggage {
    let mut otel_baggage = OtelBaggage::new();
    for entry in baggage {
        otel_baggage.insert_with_metadata(
            entry.key().to_owned(),
            entry.value().to_owned(),
            entry.properties(),
        );
    }
    // The keys are distinct: each member refused left the length as it was.
    crate::baggage::count_over_limit(baggage.len().saturating_sub(otel_baggage.len()));
    otel_baggage
}

fn from_otel_baggage(otel_baggage: &OtelBaggage) -> Baggage {
    let mut baggage = Baggage::new();
    for (key, (value, metadata)) in otel_baggage {
        // OpenTelemetry validates keys with a looser rule; entries that are not W3C tokens
        // cannot be sent and are skipped. Its metadata is "an opaque wrapper for a string"
        // (Baggage API, Set Value): when that is no W3C property list, the entry goes
        // without it.
        let (key, value) = (key.as_str(), value.as_str());
        if baggage.insert_with_properties(key, value, metadata.as_str())
            == Err(BaggageError::InvalidProperties)
        {
            let _ = baggage.insert(key, value);
        }
    }
    baggage
}

fn set_header(injector: &mut dyn Injector, name: &HeaderName, value: String) {
    if !value.is_empty() {
        injector.set(name.as_str(), value);
    }
}

/// Writes the span context of a valid span in the chosen trace formats.
fn inject_span(on: Propagators, span: &SpanContext, injector: &mut dyn Injector) {
    if on.trace_context {
        let traceparent = traceparent_of(span);
        // Hex digits and dashes are ASCII.
        let traceparent = String::from_utf8_lossy(&traceparent).into_owned();
        injector.set(TRACEPARENT.as_str(), traceparent);
        set_header(injector, &TRACESTATE, span.trace_state.header().to_owned());
    }
    for_each_b3_header(on, span, |name, value| {
        injector.set(name.as_str(), String::from_utf8_lossy(value).into_owned());
    });
}

impl TextMapPropagator for W3CPropagator {
    fn inject_context(&self, cx: &opentelemetry::Context, injector: &mut dyn Injector) {
        let on = propagators();
        let otel_span = cx.span();
        let otel_span_context = otel_span.span_context();
        let otel_baggage = cx.baggage();
        if otel_span_context.is_valid() {
            inject_span(on, &from_otel_span_context(otel_span_context), injector);
            if on.baggage {
                set_header(
                    injector,
                    &BAGGAGE,
                    from_otel_baggage(otel_baggage).to_header(),
                );
            }
            return;
        }
        with_current(|active| {
            if let Some(active) = active.filter(|a| a.span.is_valid()) {
                inject_span(on, &active.span, injector);
            }
            if on.baggage {
                let baggage = if otel_baggage.is_empty() {
                    active.map(|a| a.baggage.to_header()).unwrap_or_default()
                } else {
                    from_otel_baggage(otel_baggage).to_header()
                };
                set_header(injector, &BAGGAGE, baggage);
            }
        });
    }

    fn extract_with_context(
        &self,
        cx: &opentelemetry::Context,
        extractor: &dyn Extractor,
    ) -> opentelemetry::Context {
        let on = propagators();
        let span = on.choose_span(
            || {
                let tracestates = all(extractor, &TRACESTATE);
                extract_span_context(
                    all(extractor, &TRACEPARENT).into_iter().map(str::as_bytes),
                    || (!tracestates.is_empty()).then(|| tracestates.iter().map(|s| s.as_bytes())),
                )
            },
            || {
                let get = |name: &HeaderName| extractor.get(name.as_str()).map(str::as_bytes);
                get(&B3).and_then(b3::parse_single).or_else(|| {
                    b3::parse_multi(b3::Multi {
                        trace_id: get(&X_B3_TRACE_ID),
                        span_id: get(&X_B3_SPAN_ID),
                        sampled: get(&X_B3_SAMPLED),
                        flags: get(&X_B3_FLAGS),
                        parent_span_id: get(&X_B3_PARENT_SPAN_ID),
                    })
                })
            },
        );
        let mut cx = match span {
            Some(span) => cx.with_remote_span_context(to_otel_span_context(&span)),
            None => cx.clone(),
        };
        let baggage_headers = if on.baggage {
            all(extractor, &BAGGAGE)
        } else {
            Vec::new()
        };
        if !baggage_headers.is_empty() {
            let baggage = Baggage::from_headers(baggage_headers);
            // "If a value can not be parsed from the carrier ... MUST NOT store a new value
            // in the Context, in order to preserve any previously existing valid value"
            // (OpenTelemetry, Propagators API, "Extract").
            if !baggage.is_empty() {
                cx = cx.with_baggage(to_otel_baggage(&baggage));
            }
        }
        cx
    }

    fn fields(&self) -> text_map_propagator::FieldIter<'_> {
        let bits = propagators().to_bits() & Propagators::FORMAT_BITS;
        text_map_propagator::FieldIter::new(&FIELDS[usize::from(bits)])
    }
}
