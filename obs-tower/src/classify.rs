//! What counts as a failed call, kept out of the plumbing (as in tower-http's `classify`).
//!
//! HTTP semantic conventions: a SERVER span fails on 5xx only (4xx is the caller's fault,
//! not the server's), a CLIENT span on 4xx and 5xx; both fail on "any other code the client
//! failed to interpret" (a code above 599, which RFC 9110 §15 does not define but `http`
//! accepts up to 999), when no response came back, or when the call was cut short by a
//! panic ([`PANIC_ERROR_TYPE`]).

use http::StatusCode;

/// Whether a SERVER span with this response status is an error: 5xx, and the codes above
/// 599 no client can interpret.
#[inline]
pub fn is_server_error(status: StatusCode) -> bool {
    status.as_u16() >= 500
}

/// Whether a CLIENT span with this response status is an error: 4xx, 5xx, and the codes
/// above 599 it cannot interpret.
#[inline]
pub fn is_client_error(status: StatusCode) -> bool {
    status.as_u16() >= 400
}

/// The `error.type` of a call cut short by a panic (the inner service's, the response
/// body's, or one unwinding through whatever held the call). A panic has no exception type
/// and its message is unbounded, so the conventions' "component-specific low cardinality
/// error identifier" is this fixed value.
pub const PANIC_ERROR_TYPE: &str = "panic";

/// The `error.type` of a server response whose body was dropped before its end with more
/// to send: the client left (closed its connection, reset its stream) in the middle of
/// it; and of a client call its caller dropped before the response head came. `CANCELLED`
/// is gRPC's name for a call its client abandoned, the code `obs-tonic` records for an
/// abandoned stream: one value for one event in every layer's metrics.
pub const CANCELLED_ERROR_TYPE: &str = "CANCELLED";

/// The `error.type` of a server response whose body did not match the length its head
/// announced (`Content-Length`, or the body's exact size): it ended short of it (the client
/// waits for the rest, until hyper closes the connection), or, over HTTP/2 or HTTP/3, went
/// past it (the client rejects such a message as malformed, RFC 9113 §8.1.1; over
/// HTTP/1.1 hyper sends only the announced bytes, a complete response). The server's own
/// failure, not the client's: not `CANCELLED`.
pub const CONTENT_LENGTH_MISMATCH_ERROR_TYPE: &str = "content_length_mismatch";

/// The `error.type` of an error of type `E` a service or body returned: its Rust type name
/// (the conventions' "fully-qualified class name"), or `_OTHER`, their fallback, for a
/// trait object (`Box<dyn Error + ..>`, tower's `BoxError`), whose name says nothing of
/// the error inside and would give every boxed error stack the same long label.
pub fn error_type_of<E>() -> &'static str {
    let name = std::any::type_name::<E>();
    if name.starts_with("alloc::boxed::Box<dyn ") {
        "_OTHER"
    } else {
        name
    }
}

/// The `error.type` of a failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// The status code that failed the call, e.g. `500`.
    Status(StatusCode),
    /// The Rust type name of the error the service or body returned.
    Type(&'static str),
}

impl ErrorType {
    /// The attribute value: the status code as a string, or the type name.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorType::Status(status) => status.as_str(),
            ErrorType::Type(name) => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_are_type_names_except_for_trait_objects() {
        assert_eq!(error_type_of::<std::io::Error>(), "std::io::error::Error");
        assert_eq!(
            error_type_of::<Box<dyn std::error::Error + Send + Sync>>(),
            "_OTHER"
        );
        assert_eq!(error_type_of::<Box<dyn std::error::Error>>(), "_OTHER");
    }
}
