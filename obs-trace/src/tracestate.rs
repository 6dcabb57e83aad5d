//! W3C `tracestate`: placeholder, replaced by the full parser.

use std::sync::Arc;

/// Vendor-specific trace state (W3C `tracestate`). Empty costs nothing to clone.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TraceState(Option<Arc<str>>);

impl TraceState {
    /// The header value; empty when there is no state.
    pub fn header(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }
    /// Whether there are no list members.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}
