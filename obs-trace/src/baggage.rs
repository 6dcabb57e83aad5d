//! W3C Baggage: placeholder, replaced by the full parser.

use std::sync::Arc;

/// W3C Baggage: application key/value pairs that travel with a request. Empty costs nothing.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Baggage(Option<Arc<Vec<(String, String)>>>);

impl Baggage {
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}
