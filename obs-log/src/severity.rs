//! Levels as OpenTelemetry severities, shared by both layers.

use tracing_core::Level;

/// The OpenTelemetry log data model severity number of `level`: the first number of each
/// range (TRACE=1, DEBUG=5, INFO=9, WARN=13, ERROR=17).
#[inline]
pub(crate) fn severity_number(level: &Level) -> i32 {
    match *level {
        Level::TRACE => 1,
        Level::DEBUG => 5,
        Level::INFO => 9,
        Level::WARN => 13,
        Level::ERROR => 17,
    }
}

/// The level in upper case, which is also the OpenTelemetry severity text.
#[inline]
pub(crate) fn upper(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

/// The level in lower case.
#[inline]
pub(crate) fn lower(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}
