//! The context of the span running on this thread, kept apart from `tracing`'s own span
//! stack so that it is there whatever filters the other layers use.
//!
//! [`SpanLayer`](crate::SpanLayer) pushes on enter and pops on exit; logs (for `trace_id`),
//! metrics (for exemplars) and client middleware (for injection) read it. Reading is a
//! thread-local access: no lock, no allocation.
//!
//! One thread may run several subscribers' spans (`tracing::subscriber::with_default`
//! nested, or inside a global one): each entry is tagged with the subscriber whose span
//! layer pushed it, and the span layer and the log layers ([`ContextReader`]) see only
//! their own subscriber's entries. Else a span of one subscriber would take another's span
//! for its parent (another trace), and the logs of a subscriber with no span of its own
//! entered would carry another's trace id.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use tracing_core::Dispatch;
use tracing_core::dispatcher::WeakDispatch;
use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;

use crate::{Baggage, SpanContext, SpanId};

/// What is current on this thread: the span context and the baggage that came with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActiveContext {
    /// The current span's context.
    pub span: SpanContext,
    /// The baggage in effect.
    pub baggage: Baggage,
}

/// What the span layer keeps for an entered span: what is current, and the span's local
/// root (the nearest span up from it, itself included, whose parent is remote or absent),
/// which its children inherit.
#[derive(Clone, Debug, Default)]
pub(crate) struct Entered {
    pub(crate) active: ActiveContext,
    pub(crate) local_root: SpanId,
}

/// Which subscriber a context belongs to: the address of its [`Registry`], which stays where
/// it is while the subscriber exists (in its `Dispatch`'s `Arc`, or leaked by
/// `set_global_default`). `0` is unknown: a subscriber not built on a `Registry`, or a layer
/// not registered with a `Dispatch` yet. Read with `Relaxed` loads: it is written once,
/// when the subscriber becomes a `Dispatch`, before any of its callbacks.
#[derive(Debug, Default)]
pub(crate) struct Owner(AtomicUsize);

impl Clone for Owner {
    fn clone(&self) -> Self {
        Owner(AtomicUsize::new(self.get()))
    }
}

impl Owner {
    /// Takes the subscriber `dispatch` wraps as the owner (from `on_register_dispatch`).
    pub(crate) fn register(&self, dispatch: &Dispatch) {
        self.0.store(subscriber_of(dispatch), Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// The subscriber `dispatch` wraps, as an [`Owner`] value.
fn subscriber_of(dispatch: &Dispatch) -> usize {
    dispatch.downcast_ref::<Registry>().map_or(0, owner_of)
}

/// `registry`'s subscriber, as an [`Owner`] value.
#[inline]
pub(crate) fn owner_of(registry: &Registry) -> usize {
    std::ptr::from_ref(registry) as usize
}

/// Whether an entry of `owner` is visible to a reader for `reader`. An unknown reader
/// sees every entry, and every reader sees the entries of an unknown owner: a span layer
/// `tracing-subscriber` never registers with its dispatcher (one inside an `Option` or a
/// `Vec`, which don't pass `on_register_dispatch` on) must still stamp its logs.
#[inline]
fn visible(reader: usize, owner: usize) -> bool {
    reader == ANY || owner == ANY || reader == owner
}

struct Entry {
    owner: usize,
    id: u64,
    entered: Entered,
    records: bool,
    /// A span left entered here that has closed since (see [`Active::sweep`]).
    closed: Cell<bool>,
    /// Made before a baggage was set on another thread ([`forget_stale`]): its exit does
    /// not keep it as the remembered entry, whose enter would bring back the old baggage.
    stale: bool,
}

impl Entry {
    /// The entry of the span `id` of `owner`'s subscriber, open and up to date.
    #[inline]
    fn new(owner: usize, id: u64, entered: Entered, records: bool) -> Entry {
        Entry {
            owner,
            id,
            entered,
            records,
            closed: Cell::new(false),
            stale: false,
        }
    }
}

/// This thread's entered spans and the span created or exited last, in one vector:
/// `entries[..entered]` are the entered spans, innermost last, and `entries[entered]`, when
/// there, is the span created or exited last, kept for its next enter. Creating a span and
/// entering it at once (`info_span!(..).entered()`, `#[instrument]`) and entering the same
/// span again and again (a future polled, a response body read under its request's span)
/// are the common cases: those enters need no registry lookup, and an exit and the enter
/// that follows it move nothing, they only move `entered`. Ids carry the registry slot's
/// generation, but it wraps after 8192 reuses of the slot: the id is forgotten when the
/// span closes on this thread, and, since a slot is only handed out again on the thread
/// that owns it, when a span the layer does not remember is created here with that id.
struct Active {
    entries: Vec<Entry>,
    entered: usize,
    /// How many spans left entered elsewhere had closed when this thread last swept its
    /// stack ([`Active::sweep`]). Cells, as the marks: readers sweep.
    swept: Cell<u64>,
    /// [`BAGGAGE_SETS`] when this thread last entered a remembered span.
    baggage_sets_seen: u64,
    /// The untraced spans entered here inside the span whose entry they share (nothing is
    /// pushed for them, see [`enter_shared`]), innermost last, until they exit.
    /// [`set_baggage`] pushes an entry for such a span only if it is here: a span the span
    /// layer never saw entered (a per-layer filter hides it) is never seen to exit, and
    /// its entry would stay current on the thread for good. At most [`MAX_SHARED`] (a span
    /// exited on another thread leaves its mark here).
    shared: Vec<Shared>,
}

/// The mark of an untraced span entered inside the span whose entry it shares.
struct Shared {
    owner: usize,
    id: u64,
    /// [`Active::entered`] when it was entered: while it still is, the span is the
    /// innermost one this thread has an entry or a mark for.
    depth: usize,
    /// Its entry, with the baggage set on it while it was not innermost (a span entered
    /// inside it was): pushed once that span exits ([`pop`]), so that the rest of the span
    /// runs with the baggage, as when it is set on the innermost span.
    pending: Option<Box<(Entered, bool)>>,
}

impl Shared {
    fn is(&self, owner: usize, id: u64) -> bool {
        self.owner == owner && self.id == id
    }
}

/// How many marks [`Active::shared`] keeps; the oldest go first.
const MAX_SHARED: usize = 32;

/// How many times a span's baggage was set ([`set_baggage`]), in the whole process: a span
/// remembered on a thread before its baggage was set on another holds the old baggage,
/// so a thread that sees this change enters its remembered span by lookup instead.
static BAGGAGE_SETS: AtomicU64 = AtomicU64::new(0);

impl Active {
    #[inline]
    fn recent(&self, owner: usize, id: u64) -> Option<&Entry> {
        self.entries
            .get(self.entered)
            .filter(|e| e.id == id && e.owner == owner)
    }

    /// The innermost entered span of `reader`'s subscriber. Almost always the top entry: a
    /// thread runs one subscriber's spans at a time. None if it has closed, as `tracing`'s
    /// registry says, which hides the spans under a closed span from a thread's context.
    #[inline]
    fn innermost(&self, reader: usize) -> Option<&Entry> {
        let closed_now = LEFT_CLOSED.load(Ordering::Acquire);
        if self.swept.get() != closed_now {
            self.sweep(closed_now);
        }
        self.entries[..self.entered]
            .iter()
            .rev()
            .find(|e| visible(reader, e.owner))
            .filter(|e| !e.closed.get())
    }

    /// Marks the left spans that closed since this thread's last sweep on its stack.
    #[cold]
    #[inline(never)]
    fn sweep(&self, closed_now: u64) {
        self.swept.set(closed_now);
        let left = LEFT_SPANS.lock();
        for entry in &self.entries[..self.entered] {
            let closed = left.closed.iter().any(|s| {
                s.owner == entry.owner
                    && s.id == entry.id
                    && s.span_id == entry.entered.active.span.span_id
            });
            if closed {
                entry.closed.set(true);
            }
        }
    }

    /// The span whose mark is on top with an entry waiting ([`Shared::pending`]), if no
    /// span has been entered here since: it is innermost again.
    #[inline]
    fn pending_top(&self) -> Option<(usize, u64)> {
        self.shared
            .last()
            .filter(|m| m.pending.is_some() && m.depth == self.entered)
            .map(|m| (m.owner, m.id))
    }

    /// Replaces the top mark, the span `id`'s, by its entry, if one waits.
    fn enter_pending(&mut self, owner: usize, id: u64) {
        if self.pending_top() != Some((owner, id)) {
            return;
        }
        let Some((entered, records)) = self.shared.pop().and_then(|m| m.pending).map(|p| *p) else {
            return;
        };
        self.push(Entry::new(owner, id, entered, records));
    }

    /// Makes `entry` the remembered one, in place of any other.
    fn set_recent(&mut self, entry: Entry) {
        self.entries.truncate(self.entered);
        self.drop_hidden_closed();
        self.entries.push(entry);
    }

    /// Enters `entry`, innermost.
    fn push(&mut self, entry: Entry) {
        self.set_recent(entry);
        self.entered += 1;
    }

    /// Drops a closed span (left entered here, closed elsewhere: never exited here) that
    /// lies on another of its subscriber's: it hides from each reader what that one
    /// hides, no more. Else a thread where spans are left again and again (a task
    /// entering its span by hand, the exit made on whichever worker it resumed on) grows
    /// its stack by one entry each time for as long as it lives, and each sweep (see
    /// [`Active::sweep`]) scans them all. Here, before every span made or entered on the
    /// thread, as marks are only set when the thread reads its stack, which creating or
    /// entering a span does first; one load while the top entry is open.
    #[inline]
    fn drop_hidden_closed(&mut self) {
        while let [.., below, top] = &self.entries[..self.entered]
            && top.closed.get()
            && below.closed.get()
            && below.owner == top.owner
        {
            self.entered -= 1;
            self.entries.truncate(self.entered);
        }
    }
}

// One thread-local for all of it, so that an enter or an exit costs one access.
// `with_current` lends the innermost entry to its caller's closure; spans created, entered,
// exited or closed inside that closure find the cell borrowed and leave it as it is (their
// enters then do not change what is current) rather than panic.
thread_local! {
    static ACTIVE: RefCell<Active> = const {
        RefCell::new(Active {
            entries: Vec::new(),
            entered: 0,
            swept: Cell::new(0),
            baggage_sets_seen: 0,
            shared: Vec::new(),
        })
    };
}

/// Runs `$body` with `$a` bound to this thread's state, unless the thread is being torn
/// down or the state is lent out by `with_current` (see above). A macro rather than a
/// function taking a closure: with the closure, LLVM stopped inlining the span layer's
/// hooks into `tracing-subscriber`'s dispatch (+180 instructions a gRPC call, measured).
macro_rules! with_active {
    (|$a:ident| $body:expr) => {
        let _ = ACTIVE.try_with(|cell| {
            let Ok(mut state) = cell.try_borrow_mut() else {
                return;
            };
            let $a = &mut *state;
            $body
        });
    };
}

// The span layer's calls below take `owner`, its subscriber ([`Owner::get`]): tracing ids
// are per subscriber, so two subscribers' spans may share one.

/// Remembers the context of the span `id`, just created on this thread, and whether it
/// records (is sampled and will be exported).
#[inline]
pub(crate) fn remember(owner: usize, id: u64, entered: Entered, records: bool) {
    with_active!(|a| a.set_recent(Entry::new(owner, id, entered, records)));
}

/// Whether the span `id` records, if this thread knows without a registry lookup: it is
/// the span remembered last, or the innermost entered one. Spans that don't record need
/// no lookup when a field is recorded on them or when they close.
#[inline]
pub(crate) fn known_records(owner: usize, id: u64) -> Option<bool> {
    ACTIVE
        .try_with(|a| {
            let a = a.try_borrow().ok()?;
            a.recent(owner, id)
                .or_else(|| {
                    a.entries[..a.entered]
                        .last()
                        .filter(|e| e.id == id && e.owner == owner)
                })
                .map(|e| e.records)
        })
        .ok()
        .flatten()
}

/// Whether the span `id`, just created on this thread, records, if the span layer
/// remembered it; for a caller that doesn't know the span's subscriber, to which this
/// answer is right whatever subscriber it got it from: that subscriber's span layer
/// remembered the span, or gave it nothing to record into, or there is none.
#[inline]
pub(crate) fn created_records(id: u64) -> Option<bool> {
    ACTIVE
        .try_with(|a| {
            let a = a.try_borrow().ok()?;
            let recent = a.entries.get(a.entered)?;
            (recent.id == id).then_some(recent.records)
        })
        .ok()
        .flatten()
}

/// Enters the span `id` if it is the span remembered last on this thread; `false` if it is
/// not.
#[inline]
pub(crate) fn enter_remembered(owner: usize, id: u64) -> bool {
    let mut remembered = false;
    with_active!(|a| {
        remembered = a.recent(owner, id).is_some();
        if remembered {
            // One relaxed load of a line written only when a baggage is set.
            let sets = BAGGAGE_SETS.load(Ordering::Relaxed);
            if sets == a.baggage_sets_seen {
                a.entered += 1;
            } else {
                forget_stale(a, sets);
                remembered = false;
            }
        }
    });
    remembered
}

/// Forgets the remembered entry, which may hold a baggage set since on another thread: the
/// span is entered by lookup, from its state. The entered entries may hold one too: they
/// are marked, so that their exits do not make them remembered once `sets` is seen.
#[cold]
fn forget_stale(a: &mut Active, sets: u64) {
    a.baggage_sets_seen = sets;
    a.entries.truncate(a.entered);
    for e in &mut a.entries {
        e.stale = true;
    }
}

/// Gives the span `id`'s entries on this thread (entered and remembered) `entered`, whose
/// baggage [`SpanExt::set_baggage`](crate::SpanExt::set_baggage) just set, and pushes one
/// for it if it has none (it shares its parent's) and is `innermost`, the innermost span
/// `tracing` has entered here, or, if it is not, once the spans entered inside it exit
/// (see [`Shared::pending`]): the code it runs from now on sees the baggage. Other threads
/// see it at their next enter of the span (see [`BAGGAGE_SETS`]).
#[cold]
pub(crate) fn set_baggage(
    owner: usize,
    id: u64,
    entered: &Entered,
    records: bool,
    innermost: bool,
) {
    let before = BAGGAGE_SETS.fetch_add(1, Ordering::Relaxed);
    with_active!(|a| {
        // This thread's entries of the span are brought up to date here: its remembered
        // one need not be forgotten for this set (it still is for sets made elsewhere).
        if a.baggage_sets_seen == before {
            a.baggage_sets_seen = before.wrapping_add(1);
        }
        let is_span = |e: &Entry| e.id == id && e.owner == owner;
        for e in a.entries.iter_mut().filter(|e| is_span(e)) {
            e.entered.clone_from(entered);
            e.stale = false;
        }
        // Only for a span the span layer saw entered here (marked in `shared`): it will see
        // it exit, and pop the entry.
        if !a.entries[..a.entered].iter().any(is_span) {
            for mark in a.shared.iter_mut().filter(|m| m.is(owner, id)) {
                mark.pending = Some(Box::new((entered.clone(), records)));
            }
            if innermost {
                a.enter_pending(owner, id);
            }
        }
    });
}

/// Pushes the entry of the span `id` (innermost in `tracing` on this thread) whose baggage
/// was set while it was not innermost (see [`Shared::pending`]), if [`pop`] found one
/// waiting.
#[cold]
pub(crate) fn enter_pending(owner: usize, id: u64) {
    with_active!(|a| a.enter_pending(owner, id));
}

/// Forgets the baggage waiting for the span `id`, which [`pop`] found but which is not the
/// innermost span in `tracing` on this thread (exited on another thread).
#[cold]
pub(crate) fn drop_pending(owner: usize, id: u64) {
    with_active!(|a| {
        if a.pending_top() == Some((owner, id)) {
            a.shared.pop();
        }
    });
}

/// Forgets the span `id` if it is the one remembered (called on close, and on creating a
/// span that is not remembered: ids are reused).
#[inline]
pub(crate) fn forget_remembered(owner: usize, id: u64) {
    with_active!(|a| {
        if a.recent(owner, id).is_some() {
            a.entries.truncate(a.entered);
        }
    });
}

/// Pushes `entered` for the tracing span `id`, which records or not (called on enter).
pub(crate) fn push(owner: usize, id: u64, entered: Entered, records: bool) {
    with_active!(|a| a.push(Entry::new(owner, id, entered, records)));
}

/// What [`pop`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Popped {
    /// The span's entry or mark.
    Found,
    /// Nothing for the span on this thread.
    Nothing,
    /// The span's entry or mark, and under it the span (owner, id), which baggage was set
    /// on while it was not innermost: [`enter_pending`] if it is innermost in `tracing`,
    /// [`drop_pending`] if not.
    Pending(usize, u64),
}

/// Exits the innermost entry for the tracing span `id`, which becomes the remembered one
/// (called on exit), or the mark of an untraced span entered here inside the span whose
/// entry it shares.
pub(crate) fn pop(owner: usize, id: u64) -> Popped {
    let mut found = Popped::Found;
    with_active!(|a| {
        let is_exited = |e: &Entry| e.id == id && e.owner == owner;
        // Spans are almost always exited in the reverse order of entering.
        if a.entries[..a.entered].last().is_some_and(is_exited) {
            a.entries.truncate(a.entered);
            a.entered -= 1;
            if a.entries.last().is_some_and(|e| e.stale) {
                a.entries.truncate(a.entered);
            }
        } else if let Some(pos) = a.entries[..a.entered].iter().rposition(is_exited) {
            let exited = a.entries.remove(pos);
            a.entered -= 1;
            if exited.stale {
                a.entries.truncate(a.entered);
            } else {
                a.set_recent(exited);
            }
        } else if a.shared.last().is_some_and(|m| m.is(owner, id)) {
            // An untraced span entered inside the span whose entry it shares.
            a.shared.pop();
        } else {
            found = Popped::Nothing;
            return;
        }
        if let Some((owner, id)) = a.pending_top() {
            found = Popped::Pending(owner, id);
        }
    });
    found
}

// Spans left entered on another thread. `Span::enter`'s guard held across an `.await` (a
// misuse `tracing` warns about) is dropped on whichever worker the task resumed on: the
// span stays entered on the worker it was entered on, in `tracing`'s registry as here,
// and is current there, for whatever runs outside a span of its own, until it closes.
// Then `tracing` sees no span there (its registry holds no reference to an entered span),
// while this thread-local stack, which a close elsewhere can't reach, would keep the
// closed span (another request's) current on that worker for good: root spans made there
// would join its trace, and logs carry its ids. So an exit that finds no entry records the
// span here, its close marks it, and each thread sweeps marked spans off its stack before
// it next reads it: one load a read while none has closed. Marks, not removes: a
// closed span on top of a thread's stack leaves no span current there in `tracing`'s
// registry, which keeps its id on the stack until the span is exited on that thread.

/// A span exited on a thread that had no entry for it. `span_id` (random) tells it apart
/// from a later span given the same tracing id.
#[derive(Clone, Copy, PartialEq, Eq)]
struct LeftSpan {
    owner: usize,
    id: u64,
    span_id: SpanId,
}

/// Spans left entered elsewhere, and those of them that closed since (the last
/// `MAX_LEFT_SPANS` of each: a thread away for longer keeps a closed span current).
struct LeftSpans {
    open: Vec<LeftSpan>,
    closed: Vec<LeftSpan>,
}

const MAX_LEFT_SPANS: usize = 256;

static LEFT_SPANS: Mutex<LeftSpans> = Mutex::new(LeftSpans {
    open: Vec::new(),
    closed: Vec::new(),
});
/// The tracing ids of the open left spans, by a hash of the id (0: none), so that a close
/// looks no further, and takes no lock, unless its span may be one: a left span that lives
/// on (a connection's) must not make every close in the process take `LEFT_SPANS`' lock. A
/// left span whose place another takes is not marked when it closes (it stays current on
/// its thread, as it did before spans were marked).
static LEFT_IDS: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

fn left_id_slot(id: u64) -> &'static AtomicU64 {
    // Fibonacci hashing: the top 6 bits of the product (ids differ in their low bits).
    &LEFT_IDS[(id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize]
}
/// How many left spans have closed, ever: a thread whose last sweep saw fewer sweeps again.
static LEFT_CLOSED: AtomicU64 = AtomicU64::new(0);

fn push_bounded(spans: &mut Vec<LeftSpan>, span: LeftSpan) {
    if spans.len() >= MAX_LEFT_SPANS {
        spans.remove(0);
    }
    spans.push(span);
}

/// Records that the span `id` (context `span_id`) was exited here without an entry: it is
/// left entered on another thread.
pub(crate) fn left_elsewhere(owner: usize, id: u64, span_id: SpanId) {
    let mut left = LEFT_SPANS.lock();
    push_bounded(&mut left.open, LeftSpan { owner, id, span_id });
    left_id_slot(id).store(id, Ordering::Relaxed);
}

/// Marks the span `id`, closing now, for the threads it was left entered on.
#[inline]
pub(crate) fn closing(owner: usize, id: u64) {
    if left_id_slot(id).load(Ordering::Relaxed) == id {
        close_left(owner, id);
    }
}

#[cold]
fn close_left(owner: usize, id: u64) {
    let mut left = LEFT_SPANS.lock();
    let LeftSpans { open, closed } = &mut *left;
    let mut any_closed = false;
    open.retain(|s| {
        let closing = s.owner == owner && s.id == id;
        if closing {
            push_bounded(closed, *s);
            any_closed = true;
        }
        !closing
    });
    if !open.iter().any(|s| s.id == id) {
        let _ = left_id_slot(id).compare_exchange(id, 0, Ordering::Relaxed, Ordering::Relaxed);
    }
    if any_closed {
        LEFT_CLOSED.fetch_add(1, Ordering::Release);
    }
}

/// Calls `f` with the current context on this thread, if a span is entered; no clone.
///
/// That is the innermost span entered on this thread, whichever subscriber's: with
/// subscribers nested on one thread (`with_default`), code that runs inside the outer one's
/// span while the inner one is the default still runs in that span (its measurements and
/// outgoing calls belong to it). Asking `tracing` which subscriber is the default would
/// cost every exemplar and every outgoing call a dispatcher lookup. A `tracing` layer
/// reads its own subscriber's context with a [`ContextReader`].
#[inline]
pub fn with_current<R>(f: impl FnOnce(Option<&ActiveContext>) -> R) -> R {
    with_innermost(ANY, |e| f(e.map(|e| &e.active)))
}

/// A reader of every subscriber's entries.
const ANY: usize = 0;

/// [`with_current`] for `owner`'s subscriber, with the current span's local root.
#[inline]
pub(crate) fn with_current_entered<R>(owner: usize, f: impl FnOnce(Option<&Entered>) -> R) -> R {
    with_innermost(owner, f)
}

/// Enters the untraced span `id` inside the span whose entry it shares, if `parent`, its
/// parent's tracing id, is `owner`'s innermost entered span here (or both are `None`): then
/// nothing is pushed, the span is only marked (see [`Active::shared`]), and `true`.
#[inline]
pub(crate) fn enter_shared(owner: usize, id: u64, parent: Option<u64>) -> bool {
    let Ok(shares) = ACTIVE.try_with(|cell| {
        let Ok(mut a) = cell.try_borrow_mut() else {
            // Lent out by `with_current`: what is current stays as it is.
            return true;
        };
        let shares = a.innermost(owner).map(|e| e.id) == parent;
        if shares {
            if a.shared.len() == MAX_SHARED {
                a.shared.remove(0);
            }
            let depth = a.entered;
            a.shared.push(Shared {
                owner,
                id,
                depth,
                pending: None,
            });
        }
        shares
    }) else {
        return true;
    };
    shares
}

/// Calls `f` with the innermost entry of `reader`'s subscriber.
#[inline]
fn with_innermost<R>(reader: usize, f: impl FnOnce(Option<&Entered>) -> R) -> R {
    let mut f = Some(f);
    let r = ACTIVE.try_with(|a| {
        let a = a.try_borrow().ok();
        let f = f.take().expect("called once");
        f(a.as_ref()
            .and_then(|a| a.innermost(reader))
            .map(|e| &e.entered))
    });
    match r {
        Ok(r) => r,
        // Thread-local storage is being torn down: behave as if nothing is current.
        Err(_) => (f.take().expect("not called yet"))(None),
    }
}

/// Reads the current context for the subscriber a `tracing` layer is part of, from that
/// layer's callbacks: what a log layer stamps its records with. Register it in
/// `Layer::on_register_dispatch`.
///
/// ```
/// use obs_trace::ContextReader;
/// use tracing::{Event, Subscriber, dispatcher::Dispatch};
/// use tracing_subscriber::layer::{Context, Layer};
///
/// #[derive(Default)]
/// struct TraceIds {
///     context: ContextReader,
/// }
///
/// impl<S: Subscriber> Layer<S> for TraceIds {
///     fn on_register_dispatch(&self, subscriber: &Dispatch) {
///         self.context.register(subscriber);
///     }
///
///     fn on_event(&self, _event: &Event<'_>, _ctx: Context<'_, S>) {
///         let trace_id = self.context.with_current(|c| c.map(|c| c.span.trace_id));
///         # let _ = trace_id;
///     }
/// }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ContextReader {
    owner: Owner,
    /// The subscriber itself, for [`span_context`](Self::span_context).
    subscriber: Registered,
}

/// The subscriber a [`ContextReader`] is registered with, weak (the layer holding the reader
/// is inside it). Replaced, like [`Owner`], when a clone is registered with another: span
/// ids are per subscriber, and the old one's span of an id is another span.
#[derive(Debug, Default)]
struct Registered(Mutex<Option<WeakDispatch>>);

impl Clone for Registered {
    fn clone(&self) -> Self {
        Registered(Mutex::new(self.0.lock().clone()))
    }
}

impl ContextReader {
    /// A reader not registered yet: until [`register`](Self::register)ed it sees the spans
    /// of every subscriber, as [`with_current`] does.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the context of the subscriber `dispatch` wraps (call it from
    /// `Layer::on_register_dispatch`).
    pub fn register(&self, dispatch: &Dispatch) {
        self.owner.register(dispatch);
        *self.subscriber.0.lock() = Some(dispatch.downgrade());
    }

    /// The context of the span `id` of the registered subscriber, or of the nearest traced
    /// span around it (as [`SpanExt::span_context`](crate::SpanExt::span_context) says),
    /// whatever the layer's own filter: for an event whose explicit `parent:` is a span that
    /// filter disables (`RUST_LOG=error` and an `info_span!`), which
    /// [`span_context_of`](crate::span_context_of) can't see through the layer's `Context`.
    /// `None` if the reader is not registered, the subscriber is not built on a `Registry`,
    /// or the span layer saw none of the span's scope.
    #[cold]
    pub fn span_context(&self, id: &tracing_core::span::Id) -> Option<SpanContext> {
        let dispatch = self.subscriber.0.lock().as_ref()?.upgrade()?;
        let registry = dispatch.downcast_ref::<Registry>()?;
        crate::ext::nearest_state(registry.span(id)?, |s| s.context.clone())
    }

    /// Calls `f` with the context current on this thread in the registered subscriber, if
    /// one of its spans is entered; no clone.
    #[inline]
    pub fn with_current<R>(&self, f: impl FnOnce(Option<&ActiveContext>) -> R) -> R {
        with_innermost(self.owner.get(), |e| f(e.map(|e| &e.active)))
    }
}

/// Makes `context` current on this thread, with no span, until the returned guard drops:
/// what middleware keeps current while it runs a request whose span no span layer saw
/// ([`RemoteParent::span_or_parent`](crate::RemoteParent::span_or_parent)), so that the
/// caller's trace still reaches the logs, exemplars and outgoing calls of the code it runs.
/// Every subscriber's layers see it, and spans created inside take it as their parent.
/// Guards must drop in the reverse order of entering, on the thread that entered them (the
/// guard is not `Send`).
///
/// Not the way for application code to add baggage: a span created inside and entered after
/// the guard drops (a future given it with `.instrument(span)`) carries the context only if
/// the span layer traces that span, which it does not inside an unsampled trace or when its
/// traces filter leaves the span out. [`SpanExt::set_baggage`](crate::SpanExt::set_baggage)
/// sets it on the span, which carries it wherever it is entered.
#[cold]
pub fn enter_context(context: &ActiveContext) -> EnteredContext {
    // Entered again right after its exit (a request's future polled, then its body read):
    // the entry the exit left as the remembered one is entered as it is, as a remembered
    // span's is, rather than replaced by a clone (an equal context is the same context).
    let mut reentered = false;
    with_active!(|a| {
        reentered = a
            .recent(ANY, NO_SPAN)
            .is_some_and(|e| e.entered.active == *context);
        if reentered {
            a.entered += 1;
        }
    });
    if !reentered {
        push(
            ANY,
            NO_SPAN,
            Entered {
                active: context.clone(),
                local_root: SpanId::INVALID,
            },
            false,
        );
    }
    EnteredContext {
        _not_send: std::marker::PhantomData,
    }
}

/// The id of a context entered with no span: tracing ids are never 0.
const NO_SPAN: u64 = 0;

/// A context made current by [`enter_context`]; leaves it when dropped.
#[derive(Debug)]
#[must_use = "the context is current only until the guard drops"]
pub struct EnteredContext {
    // The entry is on this thread's stack: it must be popped here.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for EnteredContext {
    fn drop(&mut self) {
        // A span under the context waiting for its entry (see `Shared::pending`) can't be
        // told innermost in `tracing` here: it goes without, rather than risk an entry that
        // is never popped.
        if let Popped::Pending(owner, id) = pop(ANY, NO_SPAN) {
            drop_pending(owner, id);
        }
    }
}

/// The current span context on this thread (a clone), if a span is entered: a valid one
/// (a context entered for baggage alone, which came with no `traceparent`, has none).
#[inline]
pub fn current_span_context() -> Option<SpanContext> {
    with_current(|a| a.map(|a| a.span.clone())).filter(SpanContext::is_valid)
}

/// The current span context and baggage on this thread (a clone), if a span is entered.
#[inline]
pub fn current() -> Option<ActiveContext> {
    with_current(|a| a.cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entered(n: u64) -> Entered {
        Entered {
            active: ActiveContext {
                span: SpanContext {
                    span_id: SpanId::from_u64(n),
                    ..SpanContext::default()
                },
                baggage: Baggage::default(),
            },
            local_root: SpanId::from_u64(n),
        }
    }

    /// The subscriber of the spans below (no subscriber is set: readers see every one's).
    const OWNER: usize = 1;

    fn current_id() -> Option<u64> {
        with_current(|c| c.map(|c| c.span.span_id.to_u64()))
    }

    #[test]
    fn enters_and_exits_keep_the_innermost_current_and_the_last_exited_remembered() {
        // A thread of its own: the state is per thread.
        std::thread::spawn(|| {
            remember(OWNER, 1, entered(1), true);
            assert_eq!((known_records(OWNER, 1), current_id()), (Some(true), None));
            assert!(enter_remembered(OWNER, 1));
            assert_eq!(current_id(), Some(1));
            // A child created and entered, exited, entered again (a future polled twice).
            remember(OWNER, 2, entered(2), false);
            assert_eq!(current_id(), Some(1));
            assert!(enter_remembered(OWNER, 2));
            assert_eq!(current_id(), Some(2));
            pop(OWNER, 2);
            assert_eq!(
                (current_id(), known_records(OWNER, 2)),
                (Some(1), Some(false))
            );
            assert!(enter_remembered(OWNER, 2));
            pop(OWNER, 2);
            // Entered by lookup, then exited out of order: the outer span first.
            push(OWNER, 3, entered(3), true);
            assert_eq!(current_id(), Some(3));
            assert!(
                !enter_remembered(OWNER, 2),
                "forgotten once another span is entered"
            );
            pop(OWNER, 1);
            assert_eq!(
                (current_id(), known_records(OWNER, 1)),
                (Some(3), Some(true))
            );
            pop(OWNER, 3);
            assert_eq!((current_id(), known_records(OWNER, 3)), (None, Some(true)));
            forget_remembered(OWNER, 3);
            assert_eq!(known_records(OWNER, 3), None);
            assert!(!enter_remembered(OWNER, 3));
            // Exiting a span that is not entered changes nothing.
            pop(OWNER, 42);
            assert_eq!(current_id(), None);
            // Another subscriber's span with the same id is another span.
            remember(OWNER, 4, entered(4), true);
            assert!(!enter_remembered(OWNER + 1, 4));
            push(OWNER + 1, 4, entered(40), false);
            let innermost_of = |owner| with_current_entered(owner, |e| e.map(|e| e.local_root));
            assert_eq!(innermost_of(OWNER), None);
            assert_eq!(innermost_of(OWNER + 1), Some(SpanId::from_u64(40)));
            pop(OWNER, 4);
            assert_eq!(current_id(), Some(40), "not the other subscriber's span");
            pop(OWNER + 1, 4);
            assert_eq!(current_id(), None);
        })
        .join()
        .unwrap();
    }

    /// This thread's entered entries.
    fn entered_count() -> usize {
        ACTIVE.with_borrow(|a| a.entered)
    }

    #[test]
    fn spans_left_entered_here_again_and_again_keep_the_stack_bounded() {
        // A subscriber of its own: the spans it closes are marked for every thread, and
        // another test's span with the same owner, id and span id, entered meanwhile on its
        // own thread, would be swept off that thread's stack.
        const OWNER: usize = self::OWNER + 100;
        std::thread::spawn(|| {
            // A connection's span, entered for good.
            push(OWNER, 1, entered(1), true);
            for id in 2..2_000 {
                // Created and entered here, exited on another thread, closed there.
                remember(OWNER, id, entered(id), true);
                assert!(enter_remembered(OWNER, id));
                std::thread::spawn(move || {
                    assert_eq!(pop(OWNER, id), Popped::Nothing, "no entry on that thread");
                    left_elsewhere(OWNER, id, SpanId::from_u64(id));
                    closing(OWNER, id);
                })
                .join()
                .unwrap();
                // Nothing is current here, as in `tracing`'s registry.
                assert_eq!(current_id(), None);
            }
            // One closed entry hides the connection's span as well as 1,998 do.
            assert!(entered_count() <= 3, "{} entries", entered_count());
            remember(OWNER, 5_000, entered(5_000), true);
            assert!(enter_remembered(OWNER, 5_000));
            assert_eq!(current_id(), Some(5_000));
            pop(OWNER, 5_000);
            assert_eq!(current_id(), None);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_context_entered_for_baggage_alone_has_no_current_span_context() {
        let mut baggage = Baggage::new();
        baggage.insert("tenant", "acme").unwrap();
        let context = ActiveContext {
            span: SpanContext::default(),
            baggage,
        };
        let _entered = enter_context(&context);
        assert_eq!(current_span_context(), None);
        assert_eq!(current().map(|c| c.baggage), Some(context.baggage.clone()));
    }
}
