//! Which gRPC status codes fail a span, per side (semantic conventions for gRPC, "gRPC
//! Status": <https://opentelemetry.io/docs/specs/semconv/rpc/grpc/#grpc-status>).
//!
//! A server fails only on the codes that say the server is at fault; a client fails on
//! every code but `OK`.

use tonic::Code;

/// Whether a SERVER span with this status is an error: `UNKNOWN`, `DEADLINE_EXCEEDED`,
/// `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE` and `DATA_LOSS`. The other codes (e.g.
/// `NOT_FOUND`, `INVALID_ARGUMENT`, `CANCELLED`) are the caller's business.
#[inline]
pub fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

/// Whether a CLIENT span with this status is an error: every code but `OK`.
#[inline]
pub fn is_client_error(code: Code) -> bool {
    code != Code::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_the_six_server_fault_codes_and_client_errors_all_but_ok() {
        let server_faults: Vec<i32> = (0..=16)
            .filter(|&n| is_server_error(Code::from_i32(n)))
            .collect();
        assert_eq!(server_faults, [2, 4, 12, 13, 14, 15]);
        let client_faults = (0..=16)
            .filter(|&n| is_client_error(Code::from_i32(n)))
            .count();
        assert_eq!(client_faults, 16);
        assert!(!is_client_error(Code::Ok));
    }
}
