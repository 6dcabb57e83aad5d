//! Errors in telemetry: the field that carries an event's error, the attribute the semantic
//! conventions give it, and [`ErrorChain`], its text. One definition for the span layer
//! (span status, `exception` span events) and `obs-log` (JSON lines, OTLP log records), so
//! that one error reads the same in all of them.

use std::error::Error;
use std::fmt;

/// The field an event reports its error in: what `#[instrument(err)]` emits
/// (`error = %err`, or `?err` with `err(Debug)`), and what `tracing` code names an error
/// value (`error = &err as &dyn Error`).
pub const ERROR_FIELD: &str = "error";

/// The semantic conventions' attribute for an exception's message (stable; "Exceptions on
/// spans" and "Exceptions on logs"): what the [`ERROR_FIELD`] becomes on an `exception` span
/// event and on an OTLP log record.
pub const EXCEPTION_MESSAGE: &str = "exception.message";

/// Displays an error followed by each of its [sources](Error::source), `": "` between them
/// (`request failed: connection refused`), as `anyhow`'s `{:#}` does: most errors say only
/// their own part in `Display` and leave the cause to `source`, so their `Display` alone
/// would lose it.
///
/// ```
/// use obs_trace::ErrorChain;
///
/// #[derive(Debug)]
/// struct RequestFailed(std::io::Error);
/// impl std::fmt::Display for RequestFailed {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("request failed")
///     }
/// }
/// impl std::error::Error for RequestFailed {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(&self.0)
///     }
/// }
///
/// let err = RequestFailed(std::io::Error::other("connection refused"));
/// assert_eq!(ErrorChain(&err).to_string(), "request failed: connection refused");
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        // Bounded, in case a broken `source` points back into its own chain.
        let mut source = self.0.source();
        for _ in 0..64 {
            let Some(cause) = source else { break };
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    /// The same text as `Display`: `tracing` records a `Display` value through `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
