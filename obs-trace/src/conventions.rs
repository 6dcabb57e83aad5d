//! [`RpcConventions`]: which version of the RPC semantic conventions the gRPC middleware
//! emits, process-wide, as `OTEL_SEMCONV_STABILITY_OPT_IN` chooses.

use std::sync::atomic::{AtomicU8, Ordering};

/// Which RPC semantic conventions `obs-tonic`'s layers emit: what
/// `OTEL_SEMCONV_STABILITY_OPT_IN` chooses (`obs_core::init` sets it; [`set_rpc_conventions`]
/// does without `obs-core`). A layer reads it once, when it is built, since its metric
/// families are registered then with one set of label names.
///
/// The RPC conventions (<https://opentelemetry.io/docs/specs/semconv/rpc/>, README) tell an
/// instrumentation that emitted the conventions of v1.37 or earlier to keep emitting them by
/// default, and to switch on `OTEL_SEMCONV_STABILITY_OPT_IN`: `rpc` for the stable
/// conventions only, `rpc/dup` for both ("`rpc/dup` has higher precedence than `rpc` in
/// case both values are present").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RpcConventions {
    /// What obs emitted before the RPC conventions were stabilised, and still does by
    /// default: `rpc.system`, `rpc.service`, `rpc.method` (the method alone),
    /// `rpc.grpc.status_code` (the code's number); the duration metrics with those labels,
    /// and the messages per call (`rpc.{server,client}.{requests,responses}_per_rpc`).
    #[default]
    Old,
    /// `rpc`: the stable conventions only: `rpc.system.name`, `rpc.method` (the fully
    /// qualified `package.Service/Method`), `rpc.status_code` (the code's name), and the
    /// duration metrics alone.
    Stable,
    /// `rpc/dup`: both. An attribute both versions name (`rpc.method`, `server.port`) can
    /// hold one value: the stable one.
    Both,
}

impl RpcConventions {
    /// Whether the conventions obs emitted before the stable ones are emitted.
    pub fn emits_old(self) -> bool {
        matches!(self, RpcConventions::Old | RpcConventions::Both)
    }

    /// Whether the stable RPC conventions are emitted.
    pub fn emits_stable(self) -> bool {
        matches!(self, RpcConventions::Stable | RpcConventions::Both)
    }

    fn to_bits(self) -> u8 {
        match self {
            RpcConventions::Old => 0,
            RpcConventions::Stable => 1,
            RpcConventions::Both => 2,
        }
    }

    fn from_bits(bits: u8) -> RpcConventions {
        match bits {
            1 => RpcConventions::Stable,
            2 => RpcConventions::Both,
            _ => RpcConventions::Old,
        }
    }
}

/// The process's [`RpcConventions`]; an atomic, like the propagators, though layers read it
/// only when they are built.
static RPC_CONVENTIONS: AtomicU8 = AtomicU8::new(0);

/// Sets which RPC conventions the gRPC layers built from now on emit, process-wide (see
/// [`RpcConventions`]). Layers already built keep theirs.
///
/// ```
/// use obs_trace::{RpcConventions, rpc_conventions, set_rpc_conventions};
///
/// assert_eq!(rpc_conventions(), RpcConventions::Old);
/// set_rpc_conventions(RpcConventions::Both);
/// assert_eq!(rpc_conventions(), RpcConventions::Both);
/// assert!(rpc_conventions().emits_old() && rpc_conventions().emits_stable());
/// ```
pub fn set_rpc_conventions(conventions: RpcConventions) {
    RPC_CONVENTIONS.store(conventions.to_bits(), Ordering::Relaxed);
}

/// Which RPC conventions gRPC layers built now emit (see [`RpcConventions`]);
/// [`RpcConventions::Old`] until set.
pub fn rpc_conventions() -> RpcConventions {
    RpcConventions::from_bits(RPC_CONVENTIONS.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_survives_the_atomic_round_trip() {
        for conventions in [
            RpcConventions::Old,
            RpcConventions::Stable,
            RpcConventions::Both,
        ] {
            assert_eq!(
                RpcConventions::from_bits(conventions.to_bits()),
                conventions
            );
        }
        assert!(RpcConventions::Old.emits_old() && !RpcConventions::Old.emits_stable());
        assert!(!RpcConventions::Stable.emits_old() && RpcConventions::Stable.emits_stable());
    }
}
