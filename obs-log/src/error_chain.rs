//! [`ErrorChain`]: an error value with its causes.

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its [sources](Error::source), `": "` between them
/// (`request failed: connection refused`), as `anyhow`'s `{:#}` does: most errors say only
/// their own part in `Display` and leave the cause to `source`.
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn Error + 'static));

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
