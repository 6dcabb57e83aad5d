//! The span context that crosses process boundaries.

use crate::{SpanId, TraceFlags, TraceId, TraceState};

/// The part of a span that propagates: W3C `traceparent` plus `tracestate`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SpanContext {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// This span's id (for an extracted context: the caller's span, our parent).
    pub span_id: SpanId,
    /// The `trace-flags` byte: sampled and (Level 2) random.
    pub flags: TraceFlags,
    /// Vendor-specific `tracestate`, carried through unchanged.
    pub trace_state: TraceState,
    /// Whether this context was extracted from a remote caller.
    pub is_remote: bool,
}

impl SpanContext {
    /// A context with both ids valid.
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }

    /// Whether the `sampled` flag is set.
    #[inline]
    pub fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }
}
