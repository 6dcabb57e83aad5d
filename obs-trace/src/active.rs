//! The context of the span running on this thread, kept apart from `tracing`'s own span
//! stack so that it is there whatever filters the other layers use.
//!
//! [`SpanLayer`](crate::SpanLayer) pushes on enter and pops on exit; logs (for `trace_id`),
//! metrics (for exemplars) and client middleware (for injection) read it. Reading is a
//! thread-local access: no lock, no atomic, no allocation.

use std::cell::RefCell;

use crate::{Baggage, SpanContext};

/// What is current on this thread: the span context and the baggage that came with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActiveContext {
    /// The current span's context.
    pub span: SpanContext,
    /// The baggage in effect.
    pub baggage: Baggage,
}

struct Entry {
    id: u64,
    active: ActiveContext,
}

thread_local! {
    static STACK: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// Pushes `active` for the tracing span `id` (called on enter).
pub(crate) fn push(id: u64, active: ActiveContext) {
    let _ = STACK.try_with(|s| s.borrow_mut().push(Entry { id, active }));
}

/// Pops the innermost entry for the tracing span `id` (called on exit).
pub(crate) fn pop(id: u64) {
    let _ = STACK.try_with(|s| {
        let mut s = s.borrow_mut();
        if let Some(pos) = s.iter().rposition(|e| e.id == id) {
            s.remove(pos);
        }
    });
}

/// Calls `f` with the current context on this thread, if a span is entered; no clone.
#[inline]
pub fn with_current<R>(f: impl FnOnce(Option<&ActiveContext>) -> R) -> R {
    let mut f = Some(f);
    let r = STACK.try_with(|s| {
        let s = s.borrow();
        let f = f.take().expect("called once");
        f(s.last().map(|e| &e.active))
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
