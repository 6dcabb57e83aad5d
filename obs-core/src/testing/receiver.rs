//! The receiver: two listeners feeding one store.

use std::io;
use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::ReceiverConfig;
use super::store::TelemetryStore;
use super::{grpc, http};

/// How long [`OtlpReceiver::shutdown`] lets each server drain before aborting it.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// An OTLP receiver (gRPC and HTTP) that keeps what it receives in memory.
///
/// It dereferences to its [`TelemetryStore`], so `receiver.spans()`,
/// `receiver.wait_for_logs(..)` and the rest work directly on it. Dropping it stops both
/// servers in the background; [`shutdown`](Self::shutdown) also waits for them.
/// See the [module docs](super) for an example.
#[derive(Debug)]
pub struct OtlpReceiver {
    store: TelemetryStore,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
}

impl OtlpReceiver {
    /// Binds both listeners and starts serving on the current Tokio runtime.
    ///
    /// Fails only if a listener cannot be bound (for example, a fixed port in use).
    pub async fn start(config: ReceiverConfig) -> io::Result<Self> {
        let grpc_listener = TcpListener::bind(config.grpc_addr).await?;
        let http_listener = TcpListener::bind(config.http_addr).await?;
        let grpc_addr = grpc_listener.local_addr()?;
        let http_addr = http_listener.local_addr()?;
        let store = TelemetryStore::new(config.max_items_per_signal);
        let (stop, stopped) = watch::channel(false);
        let servers = vec![
            tokio::spawn(grpc::serve(
                grpc_listener,
                store.clone(),
                config.max_message_bytes,
                stopped.clone(),
            )),
            tokio::spawn(http::serve(
                http_listener,
                store.clone(),
                config.max_message_bytes,
                stopped,
            )),
        ];
        Ok(Self {
            store,
            grpc_addr,
            http_addr,
            stop,
            servers,
        })
    }

    /// The OTLP/gRPC endpoint as exporters take it: `http://127.0.0.1:<port>`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// The OTLP/HTTP base endpoint, `http://127.0.0.1:<port>`; signals are posted to
    /// `/v1/traces`, `/v1/logs` and `/v1/metrics` under it.
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The address the OTLP/gRPC server listens on.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The address the OTLP/HTTP server listens on.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// A handle to the stored telemetry that outlives the receiver.
    pub fn store(&self) -> &TelemetryStore {
        &self.store
    }

    /// Stops accepting connections, lets open ones finish (up to 5 s per server, then
    /// aborts them), and returns the store with everything received.
    pub async fn shutdown(mut self) -> TelemetryStore {
        self.stop.send_replace(true);
        for mut server in std::mem::take(&mut self.servers) {
            if tokio::time::timeout(SHUTDOWN_TIMEOUT, &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
        self.store.clone()
    }
}

/// Completes once `stop` turns true, or its sender (the [`OtlpReceiver`]) is dropped.
pub(crate) async fn until_stopped(mut stop: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = stop.wait_for(|stop| *stop).await;
}

impl Deref for OtlpReceiver {
    type Target = TelemetryStore;

    fn deref(&self) -> &TelemetryStore {
        &self.store
    }
}
