//! obs's own warnings, on stderr.

use std::fmt;
use std::io::Write;

/// Writes one warning line to stderr, ignoring failure: unlike `eprintln!`, which panics
/// when stderr is a closed pipe (`app 2>&1 | head -1`: EPIPE, since Rust ignores SIGPIPE),
/// and some warnings come from the request path (a full export queue).
pub(crate) fn warn(message: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}
