//! Values whose `Debug` or `Display` implementation panics: a bug in a user type must not
//! take down the code that logs it, nor lose the rest of the line.

use std::panic::{self, AssertUnwindSafe};

/// The text written in place of a value (or message) whose `Debug` or `Display`
/// implementation panicked, in JSON lines and OTLP records alike.
///
/// The panic is caught where the value is formatted; the process's panic hook has already
/// reported it (on stderr by default), and the rest of the line or record is kept. With
/// `panic = "abort"` nothing can be caught and the process ends, as on any panic.
pub const FORMAT_PANICKED: &str = "<formatting panicked>";

/// Runs `format`, or returns `None` if it panicked.
///
/// `AssertUnwindSafe` holds: the caller sees nothing `format` left half-done (a buffer is
/// cut back to where it was, a `String` is dropped) and uses the placeholder instead.
#[inline]
pub(crate) fn catch<T>(format: impl FnOnce() -> T) -> Option<T> {
    panic::catch_unwind(AssertUnwindSafe(format)).ok()
}
