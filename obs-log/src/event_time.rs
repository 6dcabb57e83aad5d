//! One time per event, shared by every layer of this crate that handles it, so that an
//! event's JSON line and its OTLP record carry the same instant.

use std::cell::Cell;
use std::time::SystemTime;

use tracing_core::Event;

thread_local! {
    /// The event being dispatched on this thread (its address) and its time, once a layer
    /// has read the clock for it.
    static CURRENT: Cell<Option<(usize, SystemTime)>> = const { Cell::new(None) };
}

/// Forgets the previous event's time. Each layer calls it from `Layer::event_enabled`,
/// which `tracing` calls for every layer (that a per-layer filter lets the event through
/// to) before any `on_event` of the same dispatch: an event on the stack where an earlier
/// one was never takes that one's time.
#[inline]
pub(crate) fn new_event() {
    let _ = CURRENT.try_with(|current| current.set(None));
}

/// The time of `event`: the clock read by the first layer that asks for it during its
/// dispatch, and the same for the others.
///
/// An event logged while another is being handled (by a `Debug` impl that logs) starts
/// afresh, so the outer event's later layers read the clock again: its line and record
/// may then differ by the time the inner event took.
#[inline]
pub(crate) fn of(event: &Event<'_>) -> SystemTime {
    let key = std::ptr::from_ref(event).addr();
    CURRENT
        .try_with(|current| match current.get() {
            Some((of, time)) if of == key => time,
            _ => {
                let time = SystemTime::now();
                current.set(Some((key, time)));
                time
            }
        })
        .unwrap_or_else(|_| SystemTime::now())
}
