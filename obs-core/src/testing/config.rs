//! Where the receiver listens and how much it keeps.

use std::net::{Ipv4Addr, SocketAddr};

/// Settings for [`OtlpReceiver::start`](super::OtlpReceiver::start), built with consuming
/// setters from [`ReceiverConfig::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverConfig {
    pub(crate) grpc_addr: SocketAddr,
    pub(crate) http_addr: SocketAddr,
    pub(crate) max_items_per_signal: usize,
    pub(crate) max_message_bytes: usize,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        let any_loopback_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self {
            grpc_addr: any_loopback_port,
            http_addr: any_loopback_port,
            max_items_per_signal: 100_000,
            max_message_bytes: 16 * 1024 * 1024,
        }
    }
}

impl ReceiverConfig {
    /// The address OTLP/gRPC listens on. Defaults to `127.0.0.1:0` (a free port).
    pub fn grpc_addr(mut self, addr: SocketAddr) -> Self {
        self.grpc_addr = addr;
        self
    }

    /// The address OTLP/HTTP listens on. Defaults to `127.0.0.1:0` (a free port).
    pub fn http_addr(mut self, addr: SocketAddr) -> Self {
        self.http_addr = addr;
        self
    }

    /// How many spans, log records and metric points (each) the store keeps; when full,
    /// the oldest are evicted and counted. At least 1. Defaults to 100 000.
    pub fn max_items_per_signal(mut self, max: usize) -> Self {
        self.max_items_per_signal = max.max(1);
        self
    }

    /// The largest request accepted, in bytes, after decompression, on both transports;
    /// bigger OTLP/HTTP requests get `413`, bigger gRPC messages `RESOURCE_EXHAUSTED`.
    /// Defaults to 16 MiB.
    pub fn max_message_bytes(mut self, max: usize) -> Self {
        self.max_message_bytes = max;
        self
    }
}
