//! Tail sampling: keep the traces that failed or were slow, decided once they are over.
//!
//! A head sampler decides when a trace starts, before anyone knows how it will go.
//! [`TailSamplingSink`] sits between the span layer and the exporter instead: it holds the
//! finished spans of each trace until the trace's *local root* ends (the span whose parent
//! is in another process, or that has none), then passes the whole local trace on if any
//! of its spans failed (status `Error`), if the local root took at least
//! [`TailSampling::latency`], or if the trace id falls in the baseline
//! [`TailSampling::keep_ratio`]; otherwise it drops them and counts the drop.
//!
//! Each process decides for its own spans: a downstream service that keeps its part of a
//! trace the caller dropped exports a partial trace. Whole-trace decisions across services
//! are the job of a collector's tail-sampling processor; this one keeps the interesting
//! traces of a service at the cost of its memory, bounded by
//! [`TailSampling::max_buffered_spans`] and [`TailSampling::max_wait`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry::trace::Status;
use parking_lot::Mutex;

use crate::sampler::ratio_sampled;
use crate::{SpanData, SpanId, SpanSink, TraceId};

/// The tail-sampling policy of a [`TailSamplingSink`].
#[derive(Clone, Debug, PartialEq)]
pub struct TailSampling {
    latency: Duration,
    keep_ratio: f64,
    max_buffered_spans: usize,
    max_wait: Duration,
}

impl TailSampling {
    /// Keeps every trace with an error or whose local root took at least `latency`, and no
    /// other (see the setters for the rest).
    pub fn new(latency: Duration) -> Self {
        TailSampling {
            latency,
            keep_ratio: 0.0,
            max_buffered_spans: 10_000,
            max_wait: Duration::from_secs(30),
        }
    }

    /// The duration of the local root from which a trace is slow, and kept.
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// Also keeps this fraction (0 to 1) of the traces that are neither failed nor slow,
    /// chosen by trace id the way `traceidratio` chooses, so that services with the same
    /// ratio keep the same ones. Defaults to 0. Values outside 0..=1 are clamped.
    ///
    /// Chosen by the same bits of the trace id as a ratio head sampler (`traceidratio`,
    /// here or upstream) at ratio `h`, it is a fraction of all traces, not of those that
    /// sampler lets through: a trace id within a ratio is within every larger one, so the
    /// baseline is `min(ratio, h)` of all traces, and with `ratio >= h` every trace that
    /// arrives is kept.
    pub fn with_keep_ratio(mut self, ratio: f64) -> Self {
        self.keep_ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        self
    }

    /// The baseline fraction of ordinary traces kept.
    pub fn keep_ratio(&self) -> f64 {
        self.keep_ratio
    }

    /// At most this many spans wait for their trace's decision; past it the trace waiting
    /// longest is decided at once on what is known (an error, or the baseline ratio). If
    /// that drops it, only its spans so far go: the later ones wait for a decision of their
    /// own, so a failure or a slow root after that is still kept. Defaults to 10,000.
    pub fn with_max_buffered_spans(mut self, spans: usize) -> Self {
        self.max_buffered_spans = spans.max(1);
        self
    }

    /// The bound on buffered spans.
    pub fn max_buffered_spans(&self) -> usize {
        self.max_buffered_spans
    }

    /// A trace whose local root has not ended after this long (a long stream, or spans
    /// that outlive their root) is decided on what is known, counting as slow if `latency`
    /// is shorter. Defaults to 30 s.
    pub fn with_max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// The longest a trace waits for its local root.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }
}

/// What a [`TailSamplingSink`] decided so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TailSamplingCounts {
    /// Local traces passed on.
    pub kept_traces: u64,
    /// Local traces dropped: neither failed, slow nor in the baseline ratio.
    pub dropped_traces: u64,
    /// The spans of the dropped traces.
    pub dropped_spans: u64,
}

/// A [`SpanSink`] that keeps whole local traces that failed or were slow and drops the
/// rest: tail sampling, decided once a trace is over. Cheap per span: a short lock on a map.
///
/// It holds the finished spans of each *local trace* (the spans under a span whose parent
/// is in another process, or that has none) until that local root ends, then passes them
/// all on if any failed (status `Error`), if the root took at least
/// [`TailSampling::latency`], or if the trace id falls in the baseline
/// [`TailSampling::with_keep_ratio`]; otherwise it drops them and counts them
/// ([`counts`](Self::counts)). Spans are grouped by
/// [`SpanData::local_root_span_id`]; one that ends after its local trace was decided (a
/// detached task) follows that decision. Memory is bounded by
/// [`TailSampling::with_max_buffered_spans`] and [`TailSampling::with_max_wait`], past which
/// the trace waiting longest is decided on what is known (a drop then is for the spans so
/// far: the later ones of that trace are judged again, and the trace is counted once);
/// [`flush`](Self::flush) decides everything still waiting, and
/// [`shutdown`](Self::shutdown) does too and then decides each span that ends later at once,
/// so that no span is left waiting for a decision that would never come.
///
/// Each process decides for its own spans: a downstream service that keeps its part of a
/// trace the caller dropped exports a partial trace. Whole-trace decisions across services
/// are the job of a collector's tail-sampling processor.
///
/// Only sampled spans reach a sink, so the head sampler should keep everything it can
/// afford to look at. The default, `parentbased_always_on`, samples every trace this
/// service starts but follows its callers for the others: a request whose `traceparent`
/// says "not sampled" never reaches tail sampling, even if it fails. `always_on` judges
/// those too, at the price of marking them sampled for the services it calls.
///
/// ```
/// use obs_trace::{InMemorySpanSink, SpanLayer, TailSampling, TailSamplingSink};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tracing_subscriber::prelude::*;
///
/// let exported = InMemorySpanSink::new();
/// let tail = Arc::new(TailSamplingSink::new(
///     TailSampling::new(Duration::from_secs(1)),
///     Arc::new(exported.clone()),
/// ));
/// let subscriber = tracing_subscriber::registry().with(SpanLayer::new().with_sink(tail.clone()));
/// tracing::subscriber::with_default(subscriber, || {
///     // Quick and fine: dropped.
///     tracing::info_span!("ok", "otel.kind" = "server").in_scope(|| {
///         tracing::info_span!("child").in_scope(|| {});
///     });
///     // Failed: kept, with its child.
///     tracing::info_span!("failed", "otel.kind" = "server", "otel.status_code" = "error")
///         .in_scope(|| tracing::info_span!("child").in_scope(|| {}));
/// });
/// let names: Vec<_> = exported.spans().into_iter().map(|s| s.name).collect();
/// assert_eq!(names, ["child", "failed"]);
/// assert_eq!(tail.counts().dropped_spans, 2);
/// ```
pub struct TailSamplingSink {
    policy: TailSampling,
    inner: Arc<dyn SpanSink>,
    state: Mutex<State>,
    kept_traces: AtomicU64,
    dropped_traces: AtomicU64,
    dropped_spans: AtomicU64,
}

impl fmt::Debug for TailSamplingSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TailSamplingSink")
            .field("policy", &self.policy)
            .field("inner", &self.inner)
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

/// Decisions remembered for the spans that end after their local root (rare: `tracing`
/// closes a span only after its children, so the root normally ends last), and, apart from
/// them, the decisions taken before the root ended, for local traces still running. Apart:
/// the many traces decided when their root ends must not push out the decision of one
/// still running, or its later spans and root would be judged again, as a new trace, on
/// part of it.
const REMEMBERED_DECISIONS: usize = 4096;

/// A decision taken for a local trace before its root ended ([`State::early`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Early {
    /// Kept for good (and counted): its later spans and root are passed on as they end.
    Kept,
    /// Dropped for good (and counted), by a flush or at shutdown: its later spans and root
    /// are dropped as they end.
    Dropped,
    /// Its spans so far were dropped to bound memory or time, with nothing failed or slow
    /// yet: its later spans wait for a decision of their own, so that a later failure or a
    /// slow root is still kept, and the trace is counted once, when its root ends (or at a
    /// flush, or when forgotten).
    DroppedSoFar,
}

/// Everything is keyed by local root span id ([`SpanData::local_root_span_id`]): ids this
/// process made, at random, so they are hashed as they are (callers choose trace ids, never
/// these).
#[derive(Default)]
struct State {
    pending: HashMap<SpanId, Pending, LocalIds>,
    /// Pending local traces, oldest first (an id may outlive its entry: skipped when met,
    /// or compacted away once they outnumber the entries).
    order: VecDeque<SpanId>,
    buffered: usize,
    /// Decisions taken when the local root ended (`true`: kept), the latest
    /// [`REMEMBERED_DECISIONS`], for a span that ends after its root.
    decided: HashMap<SpanId, bool, LocalIds>,
    decided_order: VecDeque<SpanId>,
    /// Local traces decided before their root ended (to bound memory or time, or by a
    /// flush), whose root has not ended yet; an entry goes when the root ends. At most
    /// [`REMEMBERED_DECISIONS`], the oldest forgotten first.
    early: HashMap<SpanId, Early, LocalIds>,
    /// [`State::early`], oldest first (an id may outlive its entry: skipped).
    early_order: VecDeque<SpanId>,
    /// Set by [`TailSamplingSink::shutdown`]: nothing will decide a waiting trace any more
    /// (no flush, no overdue check), so a span that ends now is decided at once.
    shut_down: bool,
}

type LocalIds = BuildHasherDefault<LocalIdHasher>;

/// Takes the last eight bytes written: a span id's own bytes.
#[derive(Default)]
struct LocalIdHasher(u64);

impl Hasher for LocalIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl State {
    /// Takes the pending local trace under `root` out of the buffer, if there is one.
    fn take_pending(&mut self, root: SpanId) -> Option<Pending> {
        let pending = self.pending.remove(&root)?;
        self.buffered -= pending.spans.len();
        Some(pending)
    }
}

struct Pending {
    /// For a decision taken before the root ends (the baseline ratio reads it).
    trace_id: TraceId,
    spans: Vec<SpanData>,
    since: Instant,
}

/// Spans to pass on and spans dropped, gathered under the lock and handled after it.
#[derive(Default)]
struct Outcome {
    keep: Vec<SpanData>,
    kept_traces: u64,
    dropped_traces: u64,
    dropped_spans: u64,
}

fn failed(span: &SpanData) -> bool {
    matches!(span.status, Status::Error { .. })
}

impl TailSamplingSink {
    /// A sink applying `policy` in front of `inner` (the exporter).
    pub fn new(policy: TailSampling, inner: Arc<dyn SpanSink>) -> Self {
        TailSamplingSink {
            policy,
            inner,
            state: Mutex::new(State::default()),
            kept_traces: AtomicU64::new(0),
            dropped_traces: AtomicU64::new(0),
            dropped_spans: AtomicU64::new(0),
        }
    }

    /// The decisions so far.
    pub fn counts(&self) -> TailSamplingCounts {
        TailSamplingCounts {
            kept_traces: self.kept_traces.load(Ordering::Relaxed),
            dropped_traces: self.dropped_traces.load(Ordering::Relaxed),
            dropped_spans: self.dropped_spans.load(Ordering::Relaxed),
        }
    }

    /// Decides every waiting trace now, on what is known, and passes the kept ones on: for
    /// a flush or shutdown, so that no ended span is left behind undecided.
    pub fn flush(&self) {
        self.decide_all(false);
    }

    /// [`flush`](Self::flush)es, then decides every span that ends from now on at once, on
    /// what is known (its trace's decision if there was one, else its own failure, the
    /// baseline ratio, or a zero latency threshold), instead of holding it for a root that
    /// may never end: after shutdown nothing decides a waiting trace any more, and its spans
    /// would be lost uncounted. A kept one is passed on (an exporter that has stopped counts
    /// it as dropped), a dropped one is counted in [`counts`](Self::counts).
    pub fn shutdown(&self) {
        self.decide_all(true);
    }

    fn decide_all(&self, shut_down: bool) {
        let mut outcome = Outcome::default();
        {
            let mut state = self.state.lock();
            // Under the same lock as the flush: a span that ends meanwhile either waits and
            // is decided here, or comes after and is decided at once.
            state.shut_down |= shut_down;
            while let Some(root) = state.order.pop_front() {
                self.decide_early(&mut state, root, true, &mut outcome);
            }
            // Dropped early, and nothing of theirs waits: the drop is final, counted now, and
            // followed by what of them ends later.
            for early in state.early.values_mut() {
                if *early == Early::DroppedSoFar {
                    *early = Early::Dropped;
                    outcome.dropped_traces += 1;
                }
            }
        }
        self.finish(outcome);
    }

    /// Decides, on what is known, the traces that have waited [`TailSampling::max_wait`]
    /// for their local root. Every span that ends does this too; call it now and then when
    /// spans may stop coming (a quiet service holding a trace whose root never ends), or
    /// such a trace waits until the next span or [`flush`](Self::flush). `obs_core::init`
    /// calls it every second.
    pub fn decide_overdue(&self) {
        let mut outcome = Outcome::default();
        self.decide_over_bounds(&mut self.state.lock(), &mut outcome);
        self.finish(outcome);
    }

    /// The bounds: the trace waiting longest goes first, while memory
    /// ([`TailSampling::max_buffered_spans`]) or time ([`TailSampling::max_wait`]) is over.
    fn decide_over_bounds(&self, state: &mut State, outcome: &mut Outcome) {
        while let Some(&oldest) = state.order.front() {
            let Some(pending) = state.pending.get(&oldest) else {
                state.order.pop_front();
                continue;
            };
            if state.buffered <= self.policy.max_buffered_spans
                && pending.since.elapsed() < self.policy.max_wait
            {
                break;
            }
            state.order.pop_front();
            self.decide_early(state, oldest, false, outcome);
        }
    }

    fn is_kept(&self, trace_id: TraceId, failed: bool, slow: bool) -> bool {
        failed || slow || ratio_sampled(self.policy.keep_ratio, trace_id)
    }

    /// Decides the local trace under `root` before the root ended, on what is known: a
    /// failed span, or having waited at least the latency threshold. A trace kept is kept
    /// for good. A trace dropped here to make room is dropped for now: its spans so far go,
    /// and the later ones wait for a decision of their own ([`State::early`]), unless
    /// `last` (a flush: nothing more will be decided) makes it final.
    fn decide_early(&self, state: &mut State, root: SpanId, last: bool, outcome: &mut Outcome) {
        let Some(pending) = state.take_pending(root) else {
            return;
        };
        let slow = pending.since.elapsed() >= self.policy.latency;
        let keep = self.is_kept(pending.trace_id, pending.spans.iter().any(failed), slow);
        let early = if keep {
            outcome.kept_traces += 1;
            outcome.keep.extend(pending.spans);
            Early::Kept
        } else {
            outcome.dropped_spans += pending.spans.len() as u64;
            if last {
                outcome.dropped_traces += 1;
                Early::Dropped
            } else {
                Early::DroppedSoFar
            }
        };
        if state.early.insert(root, early).is_none() {
            state.early_order.push_back(root);
        }
        while state.early.len() > REMEMBERED_DECISIONS {
            let Some(oldest) = state.early_order.pop_front() else {
                break;
            };
            if state.early.remove(&oldest) == Some(Early::DroppedSoFar) {
                // Forgotten: its drop is final, and counted now (a keep was counted when
                // taken).
                outcome.dropped_traces += 1;
            }
        }
        // Ids of traces decided since stay in the order until met: keep it near the map's size.
        if state.early_order.len() > 2 * REMEMBERED_DECISIONS {
            let State {
                early, early_order, ..
            } = state;
            early_order.retain(|id| early.contains_key(id));
        }
    }

    fn finish(&self, outcome: Outcome) {
        self.kept_traces
            .fetch_add(outcome.kept_traces, Ordering::Relaxed);
        self.dropped_traces
            .fetch_add(outcome.dropped_traces, Ordering::Relaxed);
        self.dropped_spans
            .fetch_add(outcome.dropped_spans, Ordering::Relaxed);
        for span in outcome.keep {
            self.inner.on_end(span);
        }
    }
}

/// Decides the local trace under `root` for good as its root ends, and counts it once.
fn decide(
    state: &mut State,
    root: SpanId,
    keep: bool,
    spans: Vec<SpanData>,
    outcome: &mut Outcome,
) {
    remember(state, root, keep);
    if keep {
        outcome.kept_traces += 1;
        outcome.keep.extend(spans);
    } else {
        outcome.dropped_traces += 1;
        outcome.dropped_spans += spans.len() as u64;
    }
}

/// Remembers the final decision for the local trace under `root`, so that a span ending
/// after it follows it.
fn remember(state: &mut State, root: SpanId, keep: bool) {
    if state.decided.insert(root, keep).is_none() {
        state.decided_order.push_back(root);
        if state.decided_order.len() > REMEMBERED_DECISIONS
            && let Some(oldest) = state.decided_order.pop_front()
        {
            state.decided.remove(&oldest);
        }
    }
}

impl SpanSink for TailSamplingSink {
    fn on_end(&self, span: SpanData) {
        let root = span.local_root_span_id;
        if !root.is_valid() {
            // Not from a span layer that tracks local roots: nothing to group it by, so it
            // is passed on rather than judged alone.
            self.inner.on_end(span);
            return;
        }
        let mut outcome = Outcome::default();
        {
            let mut state = self.state.lock();
            if let Some(&keep) = state.decided.get(&root) {
                // Its local trace was decided for good already, its root ended or not: it
                // follows that decision, and is not counted as a trace again.
                if keep {
                    outcome.keep.push(span);
                } else {
                    outcome.dropped_spans += 1;
                }
            } else if let Some(early @ (Early::Kept | Early::Dropped)) =
                state.early.get(&root).copied()
            {
                // Decided for good before its root ended: it follows, the root too (which
                // ends the entry), however many traces were decided meanwhile.
                let keep = early == Early::Kept;
                if span.span_context.span_id == root {
                    state.early.remove(&root);
                    remember(&mut state, root, keep);
                }
                if keep {
                    outcome.keep.push(span);
                } else {
                    outcome.dropped_spans += 1;
                }
            } else if span.span_context.span_id == root {
                // Dropped early so far, if at all: judged now on what is left, counted once.
                state.early.remove(&root);
                let mut spans = state.take_pending(root).map_or_else(Vec::new, |p| p.spans);
                let lasted = span
                    .end_time
                    .duration_since(span.start_time)
                    .unwrap_or_default();
                let keep = self.is_kept(
                    span.span_context.trace_id,
                    failed(&span) || spans.iter().any(failed),
                    lasted >= self.policy.latency,
                );
                spans.push(span);
                decide(&mut state, root, keep, spans, &mut outcome);
            } else {
                let state = &mut *state;
                let pending = state.pending.entry(root).or_insert_with(|| {
                    state.order.push_back(root);
                    Pending {
                        trace_id: span.span_context.trace_id,
                        spans: Vec::new(),
                        since: Instant::now(),
                    }
                });
                pending.spans.push(span);
                state.buffered += 1;
                if state.shut_down {
                    self.decide_early(state, root, true, &mut outcome);
                }
            }
            self.decide_over_bounds(&mut state, &mut outcome);
            // A decided trace's id leaves the order only once met at its front, where a
            // trace that waits long (a stream) would keep the ids of every trace decided
            // behind it: memory growing with the request rate times the wait, not bounded by
            // the buffer. Keep the order near the pending traces' count (amortized: a
            // compaction follows at least as many pushes as it scans).
            if state.order.len() > 2 * state.pending.len() + REMEMBERED_DECISIONS {
                let State { pending, order, .. } = &mut *state;
                order.retain(|id| pending.contains_key(id));
            }
        }
        self.finish(outcome);
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use opentelemetry::trace::SpanKind;

    use super::*;
    use crate::{InMemorySpanSink, SpanContext, SpanId, TraceFlags};

    /// A span of `trace`; by the tests' convention its local root is `id` rounded down to
    /// a multiple of ten (the roots are 10, 20, ...; their spans 11, 12, 21, ...).
    fn span(trace: u128, id: u64, parent: u64, lasted_ms: u64, failed: bool) -> SpanData {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        SpanData {
            name: format!("span {id}").into(),
            span_context: SpanContext {
                trace_id: TraceId::from_u128(trace),
                span_id: SpanId::from_u64(id),
                flags: TraceFlags::SAMPLED,
                ..Default::default()
            },
            parent_span_id: if parent == 0 {
                SpanId::INVALID
            } else {
                SpanId::from_u64(parent)
            },
            parent_is_remote: false,
            local_root_span_id: SpanId::from_u64(id / 10 * 10),
            kind: SpanKind::Internal,
            start_time: start,
            end_time: start + Duration::from_millis(lasted_ms),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: if failed {
                Status::error("boom")
            } else {
                Status::Unset
            },
            scope: "test",
        }
    }

    fn sink(policy: TailSampling) -> (TailSamplingSink, InMemorySpanSink) {
        let exported = InMemorySpanSink::new();
        (
            TailSamplingSink::new(policy, Arc::new(exported.clone())),
            exported,
        )
    }

    fn ids(spans: &[SpanData]) -> Vec<u64> {
        spans
            .iter()
            .map(|s| u64::from_be_bytes(s.span_context.span_id.0))
            .collect()
    }

    #[test]
    fn keeps_failed_and_slow_traces_whole_and_drops_the_rest() {
        let (tail, exported) = sink(TailSampling::new(Duration::from_millis(100)));
        // Trace 1: a child failed, the root is quick.
        tail.on_end(span(1, 11, 10, 5, true));
        tail.on_end(span(1, 10, 0, 10, false));
        // Trace 2: quick and fine.
        tail.on_end(span(2, 21, 20, 5, false));
        tail.on_end(span(2, 22, 20, 5, false));
        tail.on_end(span(2, 20, 0, 10, false));
        // Trace 3: slow root.
        tail.on_end(span(3, 31, 30, 5, false));
        tail.on_end(span(3, 30, 0, 100, false));
        assert_eq!(ids(&exported.spans()), [11, 10, 31, 30]);
        assert_eq!(
            tail.counts(),
            TailSamplingCounts {
                kept_traces: 2,
                dropped_traces: 1,
                dropped_spans: 3
            }
        );
    }

    #[test]
    fn a_remote_parent_makes_a_local_root() {
        let (tail, exported) = sink(TailSampling::new(Duration::from_millis(100)));
        tail.on_end(span(1, 11, 10, 1, false));
        let mut root = span(1, 10, 99, 1, true);
        root.parent_is_remote = true;
        tail.on_end(root);
        assert_eq!(ids(&exported.spans()), [11, 10]);
    }

    #[test]
    fn stragglers_follow_the_decision_of_their_trace() {
        let (tail, exported) = sink(TailSampling::new(Duration::from_millis(100)));
        tail.on_end(span(1, 10, 0, 1, true));
        tail.on_end(span(1, 12, 10, 1, false));
        tail.on_end(span(2, 20, 0, 1, false));
        tail.on_end(span(2, 22, 20, 1, false));
        assert_eq!(ids(&exported.spans()), [10, 12]);
        assert_eq!(tail.counts().dropped_spans, 2);
        assert_eq!(tail.counts().dropped_traces, 1);
    }

    #[test]
    fn two_requests_of_one_trace_are_decided_apart() {
        let (tail, exported) = sink(TailSampling::new(Duration::from_millis(100)));
        // The caller calls this service twice in one trace (two remote parents): the first
        // request is fine, the second fails, and their spans interleave.
        let remote = |mut s: SpanData| {
            s.parent_is_remote = true;
            s
        };
        tail.on_end(span(1, 11, 10, 1, false));
        tail.on_end(span(1, 21, 20, 1, false));
        tail.on_end(span(1, 22, 21, 1, true));
        tail.on_end(remote(span(1, 10, 99, 2, false)));
        assert!(
            exported.spans().is_empty(),
            "the first request is dropped alone"
        );
        tail.on_end(remote(span(1, 20, 98, 2, false)));
        assert_eq!(ids(&exported.spans()), [21, 22, 20]);
        assert_eq!(
            tail.counts(),
            TailSamplingCounts {
                kept_traces: 1,
                dropped_traces: 1,
                dropped_spans: 2
            }
        );
    }

    #[test]
    fn the_baseline_ratio_keeps_ordinary_traces() {
        let (all, exported) = sink(TailSampling::new(Duration::from_secs(1)).with_keep_ratio(1.0));
        all.on_end(span(1, 10, 0, 1, false));
        assert_eq!(exported.spans().len(), 1);
        // Out-of-range ratios are clamped, not trusted.
        assert_eq!(
            TailSampling::new(Duration::ZERO)
                .with_keep_ratio(f64::NAN)
                .keep_ratio(),
            0.0
        );
        assert_eq!(
            TailSampling::new(Duration::ZERO)
                .with_keep_ratio(7.0)
                .keep_ratio(),
            1.0
        );
    }

    #[test]
    fn memory_is_bounded_and_every_drop_counted() {
        let (tail, exported) =
            sink(TailSampling::new(Duration::from_secs(60)).with_max_buffered_spans(3));
        // Children whose roots never end; the failed trace is kept when evicted.
        tail.on_end(span(1, 11, 10, 1, false));
        tail.on_end(span(2, 21, 20, 1, true));
        tail.on_end(span(3, 31, 30, 1, false));
        tail.on_end(span(4, 41, 40, 1, false));
        tail.on_end(span(5, 51, 50, 1, false));
        // Traces 1 and 2 were decided to make room: 1 dropped, 2 (failed) kept.
        assert_eq!(ids(&exported.spans()), [21]);
        assert_eq!(tail.counts().dropped_spans, 1);
        tail.flush();
        assert_eq!(ids(&exported.spans()), [21]);
        let counts = tail.counts();
        assert_eq!(counts.kept_traces, 1);
        assert_eq!(counts.dropped_traces, 4);
        assert_eq!(counts.dropped_spans, 4);
    }

    #[test]
    fn a_trace_kept_early_stays_kept_whole_however_many_traces_end_before_its_root() {
        let (tail, exported) =
            sink(TailSampling::new(Duration::from_secs(60)).with_max_buffered_spans(2));
        // A long request: a child failed, its root still runs.
        tail.on_end(span(1, 11, 10, 1, true));
        tail.on_end(span(2, 21, 20, 1, false));
        // Room for trace 3: trace 1 is decided early, and kept (it failed).
        tail.on_end(span(3, 31, 30, 1, false));
        assert_eq!(ids(&exported.spans()), [11]);
        tail.on_end(span(2, 20, 0, 1, false));
        tail.on_end(span(3, 30, 0, 1, false));
        // Meanwhile more quick requests are decided than the sampler remembers decisions.
        let quick = REMEMBERED_DECISIONS as u64 + 1;
        for n in 100..100 + quick {
            tail.on_end(span(u128::from(n), n * 10, 0, 1, false));
        }
        // The long request's last child and its (quick, fine) root end: they follow the
        // decision, and the trace is counted once.
        tail.on_end(span(1, 12, 10, 1, false));
        tail.on_end(span(1, 10, 0, 1, false));
        assert_eq!(ids(&exported.spans()), [11, 12, 10]);
        assert_eq!(
            tail.counts(),
            TailSamplingCounts {
                kept_traces: 1,
                dropped_traces: 2 + quick,
                dropped_spans: 4 + quick,
            }
        );
        assert!(tail.state.lock().early.is_empty(), "gone with its root");
    }

    #[test]
    fn a_trace_decided_at_shutdown_is_counted_once_whatever_of_it_ends_after() {
        let (tail, exported) =
            sink(TailSampling::new(Duration::from_secs(60)).with_max_buffered_spans(1));
        // Two requests still running at shutdown: room for trace 2 drops trace 1's span so
        // far, trace 2's span waits.
        tail.on_end(span(1, 11, 10, 1, false));
        tail.on_end(span(2, 21, 20, 1, false));
        tail.shutdown();
        assert_eq!(
            tail.counts(),
            TailSamplingCounts {
                kept_traces: 0,
                dropped_traces: 2,
                dropped_spans: 2,
            }
        );
        // Quick requests are decided meanwhile, then the two end: their spans follow the
        // drop, and neither trace is counted again.
        let quick = REMEMBERED_DECISIONS as u64 + 1;
        for n in 100..100 + quick {
            tail.on_end(span(u128::from(n), n * 10, 0, 1, false));
        }
        for (trace, root) in [(1, 10), (2, 20)] {
            tail.on_end(span(trace, root + 2, root, 1, false));
            tail.on_end(span(trace, root, 0, 1, false));
        }
        assert!(exported.spans().is_empty());
        assert_eq!(
            tail.counts(),
            TailSamplingCounts {
                kept_traces: 0,
                dropped_traces: 2 + quick,
                dropped_spans: 2 + quick + 4,
            }
        );
        let state = tail.state.lock();
        assert!(state.pending.is_empty() && state.early.is_empty());
    }

    #[test]
    fn early_decisions_of_traces_whose_roots_never_end_stay_bounded() {
        let (tail, exported) =
            sink(TailSampling::new(Duration::from_secs(60)).with_max_buffered_spans(1));
        // Failed children of roots that never end, each decided early to make room.
        let traces = 3 * REMEMBERED_DECISIONS as u64;
        for n in 1..=traces {
            tail.on_end(span(u128::from(n), n * 10 + 1, n * 10, 1, true));
        }
        let state = tail.state.lock();
        assert_eq!(state.early.len(), REMEMBERED_DECISIONS);
        assert!(state.early_order.len() <= 2 * REMEMBERED_DECISIONS);
        drop(state);
        // Each kept, and counted, once.
        assert_eq!(exported.spans().len() as u64, traces - 1);
        assert_eq!(tail.counts().kept_traces, traces - 1);
    }

    #[test]
    fn a_failure_after_an_early_drop_is_still_kept_and_the_trace_counted_once() {
        let (tail, exported) =
            sink(TailSampling::new(Duration::from_secs(60)).with_max_buffered_spans(2));
        tail.on_end(span(1, 11, 10, 1, false));
        tail.on_end(span(2, 21, 20, 1, false));
        // Room for trace 3: trace 1's first span goes, as nothing failed yet.
        tail.on_end(span(3, 31, 30, 1, false));
        assert_eq!(tail.counts().dropped_spans, 1);
        // Then trace 1 fails, and its root ends: what is left of it is kept.
        tail.on_end(span(1, 12, 10, 1, true));
        tail.on_end(span(1, 10, 0, 5, false));
        assert_eq!(ids(&exported.spans()), [12, 10]);
        // Trace 2's root ends quick and fine: dropped, one trace, its one span.
        tail.on_end(span(2, 20, 0, 5, false));
        tail.flush();
        let counts = tail.counts();
        assert_eq!((counts.kept_traces, counts.dropped_traces), (1, 2));
        assert_eq!(counts.dropped_spans, 1 + 2 + 1, "11; 21 and 20; 31");
    }

    #[test]
    fn a_trace_waiting_too_long_is_decided_as_slow_when_it_is() {
        let (tail, exported) = sink(
            TailSampling::new(Duration::ZERO)
                .with_max_wait(Duration::ZERO)
                .with_max_buffered_spans(100),
        );
        tail.on_end(span(1, 11, 10, 1, false));
        assert_eq!(ids(&exported.spans()), [11]);
    }

    #[test]
    fn a_trace_dropped_at_max_wait_is_counted_and_its_later_spans_too() {
        let (tail, exported) = sink(
            TailSampling::new(Duration::from_secs(3600))
                .with_max_wait(Duration::ZERO)
                .with_max_buffered_spans(100),
        );
        // Overdue at once, neither failed nor slow: its span so far is dropped.
        tail.on_end(span(1, 11, 10, 1, false));
        assert_eq!(tail.counts().dropped_spans, 1);
        // A later span waits for a decision of its own, and is dropped the same way; the
        // trace is counted once, when its root ends.
        tail.on_end(span(1, 12, 10, 1, false));
        tail.on_end(span(1, 10, 0, 1, false));
        assert!(exported.spans().is_empty());
        assert_eq!(
            tail.counts(),
            TailSamplingCounts {
                kept_traces: 0,
                dropped_traces: 1,
                dropped_spans: 3
            }
        );
    }

    #[test]
    fn an_overdue_trace_is_decided_without_another_span() {
        let (tail, exported) = sink(
            TailSampling::new(Duration::ZERO)
                // Long beside the instant between queueing the span and checking the
                // bounds in `on_end`, so it is still waiting after `on_end` on any machine.
                .with_max_wait(Duration::from_secs(1))
                .with_max_buffered_spans(100),
        );
        // A child of root 10, which never ends; no other span comes.
        tail.on_end(span(1, 11, 10, 1, false));
        assert!(exported.spans().is_empty(), "waiting for its root");
        // A bounded condition wait (the workspace's `poll_blocking` lives in test support
        // that this published crate can't include).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while exported.spans().is_empty() && std::time::Instant::now() < deadline {
            tail.decide_overdue();
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            ids(&exported.spans()),
            [11],
            "decided once overdue, as slow"
        );
        assert_eq!(tail.counts().kept_traces, 1);
    }

    #[test]
    fn concurrent_traces_are_each_decided_once_and_no_span_is_lost() {
        const THREADS: u64 = 4;
        const TRACES: u64 = 500;
        // A bound this small decides many traces early, before their roots end. An early
        // decision counts a trace as slow once it has waited the latency threshold on the
        // wall clock, so the threshold is one no trace waits for, however long a loaded
        // machine leaves a thread off the CPU between its spans: only the failed traces
        // may be kept.
        let (tail, exported) =
            sink(TailSampling::new(Duration::from_secs(3600)).with_max_buffered_spans(3));
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let tail = &tail;
                scope.spawn(move || {
                    for n in 0..TRACES {
                        let trace = u128::from(t * TRACES + n + 1);
                        let base = (t * TRACES + n + 1) * 10;
                        // Every fifth trace fails; the others are quick and fine.
                        tail.on_end(span(trace, base + 1, base, 1, n % 5 == 0));
                        tail.on_end(span(trace, base + 2, base, 1, false));
                        tail.on_end(span(trace, base, 0, 2, false));
                    }
                });
            }
        });
        tail.flush();
        let counts = tail.counts();
        let traces = THREADS * TRACES;
        assert_eq!(counts.kept_traces + counts.dropped_traces, traces);
        // The failed child is in every early decision, so the failed traces are all kept.
        assert_eq!(counts.kept_traces, traces / 5);
        assert_eq!(exported.spans().len() as u64, 3 * counts.kept_traces);
        assert_eq!(
            exported.spans().len() as u64 + counts.dropped_spans,
            3 * traces
        );
    }

    #[test]
    fn ids_of_decided_traces_do_not_pile_up_behind_one_that_waits() {
        let (tail, exported) = sink(TailSampling::new(Duration::from_secs(60)));
        // A stream: its root runs for the whole test, one of its spans waits for it.
        tail.on_end(span(1, 11, 10, 1, false));
        // Many quick requests behind it, each with a span ending before its root.
        for n in 2..20_000u64 {
            tail.on_end(span(u128::from(n), n * 10 + 1, n * 10, 1, false));
            tail.on_end(span(u128::from(n), n * 10, 0, 1, false));
        }
        let state = tail.state.lock();
        assert_eq!(state.pending.len(), 1);
        assert!(
            state.order.len() <= 2 * REMEMBERED_DECISIONS,
            "{} ids kept for one waiting trace",
            state.order.len()
        );
        drop(state);
        tail.on_end(span(1, 10, 0, 1, true));
        assert_eq!(
            ids(&exported.spans()),
            [11, 10],
            "the stream is still decided"
        );
    }

    #[test]
    fn a_span_ending_after_shutdown_under_a_root_that_never_ends_is_counted() {
        let (tail, exported) = sink(TailSampling::new(Duration::from_secs(60)));
        tail.on_end(span(1, 11, 10, 1, false));
        tail.shutdown();
        assert_eq!(tail.counts().dropped_spans, 1, "decided at shutdown");
        // Roots 10 and 20 never end; their children end after shutdown.
        tail.on_end(span(1, 12, 10, 1, false));
        tail.on_end(span(2, 21, 20, 1, false));
        tail.on_end(span(3, 31, 30, 1, true));
        assert_eq!(
            ids(&exported.spans()),
            [31],
            "failed: kept, passed on at once"
        );
        let counts = tail.counts();
        assert_eq!(counts.dropped_spans, 3, "11, 12 and 21");
        assert_eq!((counts.kept_traces, counts.dropped_traces), (1, 2));
        assert!(tail.state.lock().pending.is_empty(), "nothing left waiting");
    }

    #[test]
    fn flush_decides_what_waits() {
        let (tail, exported) = sink(TailSampling::new(Duration::from_secs(60)));
        tail.on_end(span(1, 11, 10, 1, true));
        tail.on_end(span(2, 21, 20, 1, false));
        assert!(exported.spans().is_empty());
        tail.flush();
        assert_eq!(ids(&exported.spans()), [11]);
        assert_eq!(tail.counts().dropped_spans, 1);
    }
}
