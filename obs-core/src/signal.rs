//! [`shutdown_signal`]: when a service should stop and flush.

/// Completes when the process is asked to stop: `SIGTERM` (what `docker stop`, Kubernetes
/// and systemd send) or `SIGINT` (Ctrl-C) on Unix, Ctrl-C elsewhere. Hand it to a server's
/// graceful shutdown (`axum::serve(..).with_graceful_shutdown(obs_core::shutdown_signal())`)
/// and call [`Telemetry::shutdown`](crate::Telemetry::shutdown) after it: a service that
/// waits for Ctrl-C only is ended by `SIGTERM`'s default action before it flushes, and its
/// last telemetry (often the very requests that show why it was stopped) is lost.
///
/// The handlers are installed by this call, not when the future is first polled: call it
/// before saying that the service listens, so that a signal sent as soon as it does is
/// caught rather than ending the process. Must be called inside a Tokio runtime.
///
/// ```no_run
/// # async fn serve_until(_stop: impl std::future::Future<Output = ()>) {}
/// # #[tokio::main]
/// # async fn main() -> Result<(), obs_core::InitError> {
/// let telemetry = obs_core::init()?;
/// serve_until(obs_core::shutdown_signal()).await;
/// if let Err(e) = telemetry.shutdown().await {
///     eprintln!("telemetry not fully delivered: {e}");
/// }
/// # Ok(())
/// # }
/// ```
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (mut terminate, mut interrupt) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let terminated = async {
                match terminate.as_mut() {
                    Some(terminate) => drop(terminate.recv().await),
                    None => std::future::pending().await,
                }
            };
            let interrupted = async {
                match interrupt.as_mut() {
                    Some(interrupt) => drop(interrupt.recv().await),
                    None => drop(tokio::signal::ctrl_c().await),
                }
            };
            tokio::select! {
                () = terminated => {}
                () = interrupted => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
