//! The context of the span running on this thread, kept apart from `tracing`'s own span
//! stack so that it is there whatever filters the other layers use.
//!
//! [`SpanLayer`](crate::SpanLayer) pushes on enter and pops on exit; logs (for `trace_id`),
//! metrics (for exemplars) and client middleware (for injection) read it. Reading is a
//! thread-local access: no lock, no atomic, no allocation.

use std::cell::RefCell;

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
#[derive(Clone, Debug)]
pub(crate) struct Entered {
    pub(crate) active: ActiveContext,
    pub(crate) local_root: SpanId,
}

struct Entry {
    id: u64,
    entered: Entered,
    records: bool,
}

/// This thread's entered spans, innermost last, and the span created or exited last.
struct Active {
    stack: Vec<Entry>,
    /// The context of the span created, or exited, last on this thread, for its next enter:
    /// creating a span and entering it at once (`info_span!(..).entered()`,
    /// `#[instrument]`) and entering the same span again and again (a future polled, a
    /// response body read under its request's span) are the common cases, and this spares
    /// those enters a registry lookup. Ids carry the registry slot's generation, so a
    /// closed span's id is not handed out again soon; the id is also forgotten when the
    /// span closes on this thread.
    recent: Option<Entry>,
}

// One thread-local for both, so that an enter or an exit costs one access. `with_current`
// lends the innermost entry to its caller's closure; spans created, entered, exited or
// closed inside that closure find the cell borrowed and leave it as it is (their enters
// then do not change what is current) rather than panic.
thread_local! {
    static ACTIVE: RefCell<Active> = const {
        RefCell::new(Active {
            stack: Vec::new(),
            recent: None,
        })
    };
}

/// Remembers the context of the span `id`, just created on this thread, and whether it
/// records (is sampled and will be exported).
#[inline]
pub(crate) fn remember(id: u64, entered: Entered, records: bool) {
    let _ = ACTIVE.try_with(|a| {
        if let Ok(mut a) = a.try_borrow_mut() {
            a.recent = Some(Entry {
                id,
                entered,
                records,
            });
        }
    });
}

/// Whether the span `id` records, if this thread knows without a registry lookup: it is
/// the span remembered last, or the innermost entered one. Spans that don't record need
/// no lookup when a field is recorded on them or when they close.
#[inline]
pub(crate) fn known_records(id: u64) -> Option<bool> {
    ACTIVE
        .try_with(|a| {
            let a = a.try_borrow().ok()?;
            a.recent
                .as_ref()
                .filter(|e| e.id == id)
                .or_else(|| a.stack.last().filter(|e| e.id == id))
                .map(|e| e.records)
        })
        .ok()
        .flatten()
}

/// Enters the span `id` if it is the span remembered last on this thread (moved onto the
/// stack, once); `false` if it is not.
#[inline]
pub(crate) fn enter_remembered(id: u64) -> bool {
    ACTIVE
        .try_with(|a| {
            let Ok(mut a) = a.try_borrow_mut() else {
                return false;
            };
            let a = &mut *a;
            match a.recent.take_if(|e| e.id == id) {
                Some(entry) => {
                    a.stack.push(entry);
                    true
                }
                None => false,
            }
        })
        .unwrap_or(false)
}

/// Forgets the span `id` if it is the one remembered (called on close: ids are reused).
#[inline]
pub(crate) fn forget_remembered(id: u64) {
    let _ = ACTIVE.try_with(|a| {
        let Ok(mut a) = a.try_borrow_mut() else {
            return;
        };
        if a.recent.as_ref().is_some_and(|e| e.id == id) {
            a.recent = None;
        }
    });
}

/// Pushes `entered` for the tracing span `id`, which records or not (called on enter).
pub(crate) fn push(id: u64, entered: Entered, records: bool) {
    let _ = ACTIVE.try_with(|a| {
        if let Ok(mut a) = a.try_borrow_mut() {
            a.stack.push(Entry {
                id,
                entered,
                records,
            });
        }
    });
}

/// Pops the innermost entry for the tracing span `id` and remembers it (called on exit).
pub(crate) fn pop(id: u64) {
    let _ = ACTIVE.try_with(|a| {
        let Ok(mut a) = a.try_borrow_mut() else {
            return;
        };
        let a = &mut *a;
        // Spans are almost always exited in the reverse order of entering.
        let exited = if a.stack.last().is_some_and(|e| e.id == id) {
            a.stack.pop()
        } else {
            a.stack
                .iter()
                .rposition(|e| e.id == id)
                .map(|pos| a.stack.remove(pos))
        };
        if exited.is_some() {
            a.recent = exited;
        }
    });
}

/// Calls `f` with the current context on this thread, if a span is entered; no clone.
#[inline]
pub fn with_current<R>(f: impl FnOnce(Option<&ActiveContext>) -> R) -> R {
    with_current_entered(|e| f(e.map(|e| &e.active)))
}

/// [`with_current`] with the current span's local root.
#[inline]
pub(crate) fn with_current_entered<R>(f: impl FnOnce(Option<&Entered>) -> R) -> R {
    let mut f = Some(f);
    let r = ACTIVE.try_with(|a| {
        let a = a.try_borrow().ok();
        let f = f.take().expect("called once");
        f(a.as_ref().and_then(|a| a.stack.last()).map(|e| &e.entered))
    });
    match r {
        Ok(r) => r,
        // Thread-local storage is being torn down: behave as if nothing is current.
        Err(_) => (f.take().expect("not called yet"))(None),
    }
}

/// The current span context on this thread (a clone), if a span is entered.
#[inline]
pub fn current_span_context() -> Option<SpanContext> {
    with_current(|a| a.map(|a| a.span.clone()))
}

/// The current span context and baggage on this thread (a clone), if a span is entered.
#[inline]
pub fn current() -> Option<ActiveContext> {
    with_current(|a| a.cloned())
}
