//! obs's own diagnostics: one line on stderr for each problem obs works around (a bad
//! setting ignored, telemetry dropped, a metric family left out), filtered by the process's
//! [`Level`]. This is the OpenTelemetry SDK's "self-diagnostics" (error-handling spec: the
//! SDK logs what it handles instead of failing the application), and `OTEL_LOG_LEVEL`, the
//! level of that internal logger, sets the level when `obs_core::init` runs. All obs crates
//! write through here, so one setting quiets them all.
//!
//! ```
//! use obs_trace::diagnostics::{self, Level};
//!
//! diagnostics::set_level(Level::Error);
//! diagnostics::warn(format_args!("obs: not printed at Level::Error"));
//! assert_eq!(diagnostics::level(), Level::Error);
//! # diagnostics::set_level(Level::Warn);
//! ```

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

/// How much of obs's diagnostics reach stderr, from quietest to loudest.
///
/// obs reports at two levels: [`Level::Error`] when something the application asked for is
/// not done (an export failed, a metric family disabled, a second OpenTelemetry pipeline
/// bypassing obs), [`Level::Warn`] when obs works around a problem (a setting ignored,
/// telemetry dropped and counted, an attribute truncated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    /// Nothing (`OTEL_LOG_LEVEL=none`).
    Off,
    /// Errors only (`OTEL_LOG_LEVEL=error`).
    Error,
    /// Errors and warnings: the default, and what `info`, `debug` and louder levels show,
    /// since obs reports nothing below a warning.
    #[default]
    Warn,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Warn as u8);

/// Sets the level of obs's diagnostics, process-wide.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// The level of obs's diagnostics.
pub fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        0 => Level::Off,
        1 => Level::Error,
        _ => Level::Warn,
    }
}

/// Writes `message` as one line on stderr when the level lets errors through.
pub fn error(message: fmt::Arguments<'_>) {
    write_at(Level::Error, message);
}

/// Writes `message` as one line on stderr when the level lets warnings through.
pub fn warn(message: fmt::Arguments<'_>) {
    write_at(Level::Warn, message);
}

fn write_at(level: Level, message: fmt::Arguments<'_>) {
    if level <= self::level() {
        // Not `eprintln!`, which panics when stderr is a closed pipe (`app 2>&1 | head -1`:
        // EPIPE, since Rust ignores SIGPIPE), and some diagnostics come from the request
        // path (a full export queue, a family over its cardinality limit).
        let _ = writeln!(std::io::stderr().lock(), "{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip_and_order_from_quietest() {
        for level in [Level::Off, Level::Error, Level::Warn] {
            set_level(level);
            assert_eq!(super::level(), level);
        }
        assert!(Level::Off < Level::Error && Level::Error < Level::Warn);
        assert_eq!(Level::default(), Level::Warn);
    }
}
