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
}

impl Active {
    fn recent(&self) -> Option<&Entry> {
        self.entries.get(self.entered)
    }

    fn innermost(&self) -> Option<&Entry> {
        self.entries[..self.entered].last()
    }

    /// Makes `entry` the remembered one, in place of any other.
    fn set_recent(&mut self, entry: Entry) {
        self.entries.truncate(self.entered);
        self.entries.push(entry);
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

/// Remembers the context of the span `id`, just created on this thread, and whether it
/// records (is sampled and will be exported).
#[inline]
pub(crate) fn remember(id: u64, entered: Entered, records: bool) {
    with_active!(|a| a.set_recent(Entry {
        id,
        entered,
        records,
    }));
}

/// Whether the span `id` records, if this thread knows without a registry lookup: it is
/// the span remembered last, or the innermost entered one. Spans that don't record need
/// no lookup when a field is recorded on them or when they close.
#[inline]
pub(crate) fn known_records(id: u64) -> Option<bool> {
    ACTIVE
        .try_with(|a| {
            let a = a.try_borrow().ok()?;
            a.recent()
                .filter(|e| e.id == id)
                .or_else(|| a.innermost().filter(|e| e.id == id))
                .map(|e| e.records)
        })
        .ok()
        .flatten()
}

/// Enters the span `id` if it is the span remembered last on this thread; `false` if it is
/// not.
#[inline]
pub(crate) fn enter_remembered(id: u64) -> bool {
    let mut remembered = false;
    with_active!(|a| {
        remembered = a.recent().is_some_and(|e| e.id == id);
        if remembered {
            a.entered += 1;
        }
    });
    remembered
}

/// Forgets the span `id` if it is the one remembered (called on close, and on creating a
/// span that is not remembered: ids are reused).
#[inline]
pub(crate) fn forget_remembered(id: u64) {
    with_active!(|a| {
        if a.recent().is_some_and(|e| e.id == id) {
            a.entries.truncate(a.entered);
        }
    });
}

/// Pushes `entered` for the tracing span `id`, which records or not (called on enter).
pub(crate) fn push(id: u64, entered: Entered, records: bool) {
    with_active!(|a| {
        a.set_recent(Entry {
            id,
            entered,
            records,
        });
        a.entered += 1;
    });
}

/// Exits the innermost entry for the tracing span `id`, which becomes the remembered one
/// (called on exit).
pub(crate) fn pop(id: u64) {
    with_active!(|a| {
        // Spans are almost always exited in the reverse order of entering.
        if a.innermost().is_some_and(|e| e.id == id) {
            a.entries.truncate(a.entered);
            a.entered -= 1;
        } else if let Some(pos) = a.entries[..a.entered].iter().rposition(|e| e.id == id) {
            let exited = a.entries.remove(pos);
            a.entered -= 1;
            a.set_recent(exited);
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
        f(a.as_ref().and_then(|a| a.innermost()).map(|e| &e.entered))
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

    fn current_id() -> Option<u64> {
        with_current(|c| c.map(|c| c.span.span_id.to_u64()))
    }

    #[test]
    fn enters_and_exits_keep_the_innermost_current_and_the_last_exited_remembered() {
        // A thread of its own: the state is per thread.
        std::thread::spawn(|| {
            remember(1, entered(1), true);
            assert_eq!((known_records(1), current_id()), (Some(true), None));
            assert!(enter_remembered(1));
            assert_eq!(current_id(), Some(1));
            // A child created and entered, exited, entered again (a future polled twice).
            remember(2, entered(2), false);
            assert_eq!(current_id(), Some(1));
            assert!(enter_remembered(2));
            assert_eq!(current_id(), Some(2));
            pop(2);
            assert_eq!((current_id(), known_records(2)), (Some(1), Some(false)));
            assert!(enter_remembered(2));
            pop(2);
            // Entered by lookup, then exited out of order: the outer span first.
            push(3, entered(3), true);
            assert_eq!(current_id(), Some(3));
            assert!(
                !enter_remembered(2),
                "forgotten once another span is entered"
            );
            pop(1);
            assert_eq!((current_id(), known_records(1)), (Some(3), Some(true)));
            pop(3);
            assert_eq!((current_id(), known_records(3)), (None, Some(true)));
            forget_remembered(3);
            assert_eq!(known_records(3), None);
            assert!(!enter_remembered(3));
            // Exiting a span that is not entered changes nothing.
            pop(42);
            assert_eq!(current_id(), None);
        })
        .join()
        .unwrap();
    }
}
