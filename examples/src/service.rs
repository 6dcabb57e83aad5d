//! What every mesh service does around its handlers: start telemetry, serve `/metrics`,
//! listen, stop on `SIGTERM` or Ctrl-C, flush.

use std::error::Error;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use obs_core::Telemetry;
use obs_core::tonic::GrpcServerLayer;
use obs_core::tower::HttpServerLayer;
use tokio::net::TcpListener;

use crate::grpc::{GrpcMethods, GrpcService, Health};

/// What a service's `main` returns on failure.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// Starts telemetry from the `OTEL_*` environment; the service is named `default_name`
/// unless `OTEL_SERVICE_NAME` says otherwise. `obs_core` also serves `/metrics` on
/// `OBS_METRICS_ADDR` when it is set.
pub fn start_telemetry(default_name: &str) -> Result<Telemetry, BoxError> {
    let mut builder = obs_core::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        builder = builder.service_name(default_name);
    }
    Ok(builder.init()?)
}

/// Completes on `SIGTERM` (what Kubernetes and the mesh runner send) or Ctrl-C, and says
/// so in the log ([`obs_core::shutdown_signal`]); under the mesh runner also when stdin
/// ends ([`STOP_WITH_STDIN`]). Must be called inside a Tokio runtime,
/// before the service says it listens.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let stop = obs_core::shutdown_signal();
    let orphaned = stdin_closed();
    async move {
        match orphaned {
            Some(orphaned) => {
                tokio::select! {
                    () = stop => {}
                    _ = orphaned => tracing::info!("stdin closed: the mesh runner has gone"),
                }
            }
            None => stop.await,
        }
        tracing::info!("shutting down");
    }
}

/// Set (to anything) by the mesh runner, which holds the other end of the service's stdin
/// and never writes to it: the service also stops when its stdin ends.
pub const STOP_WITH_STDIN: &str = "MESH_STOP_WITH_STDIN";

/// With [`STOP_WITH_STDIN`] set, completes when stdin ends: the runner has exited, killed
/// by `SIGKILL` maybe, which gave it no chance to stop its services, and a service left
/// without it would hold its ports for good.
fn stdin_closed() -> Option<tokio::sync::oneshot::Receiver<()>> {
    std::env::var_os(STOP_WITH_STDIN)?;
    let (closed, receiver) = tokio::sync::oneshot::channel();
    // A thread of its own: `tokio::io::stdin`'s read could not be cancelled, and would
    // hold up the runtime's shutdown until the runner exits.
    std::thread::Builder::new()
        .name("stdin-watch".to_owned())
        .spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = closed.send(());
        })
        .ok()?;
    Some(receiver)
}

/// Serves `routes` on `addr`, traced and measured by [`HttpServerLayer`], plus an untraced
/// `GET /healthz`, until [`shutdown_signal`]; then flushes `telemetry`.
pub async fn serve_http(
    addr: SocketAddr,
    routes: Router,
    telemetry: Telemetry,
) -> Result<(), BoxError> {
    // `Router::layer` runs after routing, so the layer sees the route template; routes
    // added after it (health checks) stay out of traces and metrics.
    let router = routes
        .layer(HttpServerLayer::new())
        .route("/healthz", get(|| async { "ok" }));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let stop = shutdown_signal();
    tracing::info!(addr = %listener.local_addr()?, "listening (HTTP)");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await?;
    flush(telemetry).await;
    Ok(())
}

/// Serves `service` and `grpc.health.v1.Health` over gRPC on `addr` until
/// [`shutdown_signal`]; then flushes `telemetry`.
pub async fn serve_grpc<T: GrpcMethods>(
    addr: SocketAddr,
    service: T,
    telemetry: Telemetry,
) -> Result<(), BoxError> {
    // Bound here rather than by `serve`, whose error hides the cause ("transport error"),
    // and so that the log shows the port a `:0` resolved to.
    let incoming = tonic::transport::server::TcpIncoming::bind(addr)
        .map_err(|e| format!("gRPC server on {addr}: {e}"))?
        // What `serve` would set: tonic's servers default to TCP_NODELAY.
        .with_nodelay(Some(true));
    let addr = incoming.local_addr().unwrap_or(addr);
    let stop = shutdown_signal();
    tracing::info!(%addr, grpc_service = T::NAME, "listening (gRPC)");
    tonic::transport::Server::builder()
        .layer(GrpcServerLayer::new())
        .add_service(GrpcService(Health))
        .add_service(GrpcService(service))
        .serve_with_incoming_shutdown(incoming, stop)
        .await
        .map_err(|e| format!("gRPC server on {addr}: {e}"))?;
    flush(telemetry).await;
    Ok(())
}

/// Flushes and stops telemetry. A collector that is down must not turn a clean stop into
/// a failed one (Kubernetes would count a restart), so a failure is only reported.
async fn flush(telemetry: Telemetry) {
    if let Err(e) = telemetry.shutdown().await {
        // The subscriber is gone by now: stderr is the only place left to say it.
        eprintln!("telemetry was not fully flushed: {e}");
    }
}
