//! Values whose `Debug` or `Display` implementation panics: a bug in a user type must not
//! take down the code that records it, nor lose the rest of the span, line or record. Shared
//! by the span layer and `obs-log`'s layers, so that all show such a value the same way.

use std::panic::{self, AssertUnwindSafe};

/// The text recorded in place of a value (or message) whose `Debug` or `Display`
/// implementation panicked: in span attributes and events, JSON lines and OTLP log records
/// alike.
///
/// The panic is caught where the value is formatted; the process's panic hook has already
/// reported it (on stderr by default), and the rest of the span, line or record is kept.
/// With `panic = "abort"` nothing can be caught and the process ends, as on any panic.
pub const FORMAT_PANICKED: &str = "<formatting panicked>";

/// Runs `format` (the formatting of values from user code), or returns `None` if it
/// panicked; for layers, which must not let such a panic unwind into the code that logs.
///
/// `AssertUnwindSafe` is for the caller to uphold: it must see nothing `format` left
/// half-done (cut a buffer back to where it was, drop a `String`) and use the placeholder
/// [`FORMAT_PANICKED`] instead.
#[inline]
pub fn catch_format_panic<T>(format: impl FnOnce() -> T) -> Option<T> {
    panic::catch_unwind(AssertUnwindSafe(format)).ok()
}
