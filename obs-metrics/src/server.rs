//! A standalone `/metrics` listener (feature `server`), for applications that do not mount
//! [`MetricsService`] in their own router; `obs-core` starts it when `OBS_METRICS_ADDR`
//! is set.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Sleep;

use crate::service::empty_response;
use crate::{MetricsService, Registry};

/// The path the standalone listener serves (feature `server`); other paths get
/// `404 Not Found`.
pub const METRICS_PATH: &str = "/metrics";

/// Binds `addr` and serves `registry` on [`METRICS_PATH`] until the future is dropped
/// (feature `server`). Fails only if `addr` cannot be bound.
pub async fn serve_addr(addr: SocketAddr, registry: Registry) -> io::Result<()> {
    serve(TcpListener::bind(addr).await?, registry).await
}

/// How long a connection may take to send a request's headers, idle between requests
/// included: a scraper sends its request at once, and a connection that does not is closed
/// rather than hold a socket, and a file descriptor of the application, for good.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a response may wait for the client to take more of it: a client that stops
/// reading is cut off rather than hold a connection slot for good.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once. More wait in the listener's backlog, where they cost the
/// process no file descriptor, until one of these ends: a flood of connections can delay
/// scrapes, never take the descriptors the application needs.
const MAX_CONNECTIONS: usize = 64;

/// Serves `registry` on [`METRICS_PATH`] over HTTP/1.1 (feature `server`) on every
/// connection `listener` accepts, 64 at a time (more wait in the listener's backlog),
/// until the future is dropped. Connection errors end that connection only, and so does a
/// client that has not sent a request's headers within 10 s (idle between requests
/// included), or that has taken none of a response for 10 s.
pub async fn serve(listener: TcpListener, registry: Registry) -> io::Result<()> {
    let service = MetricsService::new(registry);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        // Never closed, so always a permit.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and similar: keep serving the connections we have
            // and try again shortly rather than ending the listener.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = service.clone();
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |request: Request<Incoming>| {
                let service = service.clone();
                async move {
                    if request.uri().path() != METRICS_PATH {
                        return Ok::<_, Infallible>(empty_response(StatusCode::NOT_FOUND));
                    }
                    // Collecting runs application code (`gauge_fn` callbacks, collectors)
                    // that may take long or wait on a lock: on a blocking thread, so the
                    // runtime's workers (obs-core's exporter shares them) go on meanwhile.
                    let head = Request::from_parts(request.into_parts().0, ());
                    let response = tokio::task::spawn_blocking(move || service.respond(&head))
                        .await
                        .unwrap_or_else(|_| empty_response(StatusCode::INTERNAL_SERVER_ERROR));
                    Ok(response)
                }
            });
            // A client that goes away mid-request is not our error to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(WriteDeadline::new(stream)), handler)
                .await;
            drop(slot);
        });
    }
}

/// A connection whose writes fail once one has waited [`WRITE_TIMEOUT`] for the client to
/// take more: hyper has no write timeout, and a response the client stops reading would
/// otherwise wait for room in the socket for good.
struct WriteDeadline<S> {
    stream: S,
    /// Armed when a write finds no room, cleared when one makes progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    fn new(stream: S) -> Self {
        WriteDeadline {
            stream,
            stalled: None,
        }
    }

    fn check<T>(
        &mut self,
        result: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        if result.is_ready() {
            self.stalled = None;
            return result;
        }
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_TIMEOUT)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took none of the response for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.check(result, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.check(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_flush(cx);
        this.check(result, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str, accept: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: x\r\naccept: {accept}\r\nconnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn serves_metrics_on_its_path_only() {
        let registry = Registry::new();
        registry.counter("jobs", "Jobs.").unwrap().inc_by(3);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, registry));
        let deadline = std::time::Duration::from_secs(10);
        let om = tokio::time::timeout(
            deadline,
            get(
                addr,
                "/metrics",
                "application/openmetrics-text;version=1.0.0",
            ),
        )
        .await
        .unwrap();
        assert!(om.starts_with("HTTP/1.1 200 OK"), "{om}");
        assert!(
            om.contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8")
        );
        assert!(om.contains("jobs_total 3\n# EOF\n"), "{om}");
        let plain = tokio::time::timeout(deadline, get(addr, "/metrics", "*/*"))
            .await
            .unwrap();
        assert!(
            plain.contains("# TYPE jobs_total counter\njobs_total 3\n"),
            "{plain}"
        );
        let missing = tokio::time::timeout(deadline, get(addr, "/", "*/*"))
            .await
            .unwrap();
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        server.abort();
    }

    #[tokio::test]
    async fn a_connection_that_sends_nothing_is_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, Registry::new()));
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut read = Vec::new();
        let closed = tokio::time::timeout(
            HEADER_READ_TIMEOUT + std::time::Duration::from_secs(20),
            idle.read_to_end(&mut read),
        )
        .await;
        assert!(
            matches!(closed, Ok(Ok(_))),
            "still open after the header read timeout: {closed:?}"
        );
        server.abort();
    }

    /// The connections to `port` this process accepted: its sockets whose local port it is.
    fn accepted(port: u16) -> usize {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        // Fields: sl, local_address (hex address:port), rem_address, st (01: established),
        // ..., inode (the tenth; 0 while the connection waits in the backlog).
        let inodes: Vec<String> = table
            .lines()
            .skip(1)
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() > 9 && f[1].ends_with(&format!(":{port:04X}")) && f[3] == "01")
            .map(|f| format!("socket:[{}]", f[9]))
            .collect();
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|target| {
                    inodes
                        .iter()
                        .any(|inode| target.as_os_str() == inode.as_str())
                })
            })
            .count()
    }

    /// [`accepted`] once `done` holds of it, or once `within` has passed: what it is then.
    async fn accepted_when(port: u16, done: impl Fn(usize) -> bool, within: Duration) -> usize {
        let deadline = std::time::Instant::now() + within;
        loop {
            let n = accepted(port);
            if done(n) || std::time::Instant::now() >= deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A scraper that asks and then stops reading (stuck, or hostile) leaves a response
    /// larger than the socket buffers half written: its connection must not hold one of the
    /// [`MAX_CONNECTIONS`] slots for good, as one that sends nothing does not.
    #[tokio::test]
    async fn a_connection_that_stops_reading_is_closed() {
        let registry = Registry::new();
        // About 16 MiB of exposition, more than loopback's socket buffers hold.
        let value = "v".repeat(120);
        for family in 0..50 {
            let series = registry
                .metric(&format!("series_{family}"), "Many series.")
                .cardinality_limit(2000)
                .dyn_family::<crate::Counter>(&["id"])
                .unwrap();
            for id in 0..2000 {
                series.get(&[("id", &format!("{value}{id}"))]).inc();
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, registry));
        let mut stuck = tokio::net::TcpStream::connect(addr).await.unwrap();
        stuck
            .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let taken = accepted_when(addr.port(), |n| n > 0, Duration::from_secs(10)).await;
        assert_eq!(taken, 1, "the server took the connection");
        let held = accepted_when(
            addr.port(),
            |n| n == 0,
            WRITE_TIMEOUT + Duration::from_secs(20),
        )
        .await;
        assert_eq!(
            held, 0,
            "the server still holds the connection of a client that stopped reading"
        );
        drop(stuck);
        server.abort();
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_wait_in_the_backlog() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, Registry::new()));
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS + 16 {
            held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        // Connected (the kernel completed every handshake); the server accepts what it
        // takes in a moment.
        let taken = accepted_when(
            addr.port(),
            |n| n >= MAX_CONNECTIONS,
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(taken, MAX_CONNECTIONS);
        // A scrape waits behind them in the backlog, and is served once they end.
        let mut next = tokio::net::TcpStream::connect(addr).await.unwrap();
        drop(held);
        next.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            next.read_to_string(&mut response),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        server.abort();
    }
}
