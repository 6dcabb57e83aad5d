//! Collectors that connect and then answer wrongly, over OTLP/gRPC and OTLP/HTTP, for all
//! three signals: one that sends its response's head and stalls, one that resets the
//! connection mid-body, a 200 with a web page for a body, a 503 with `Retry-After`, TLS
//! spoken to a plain server and plain HTTP to a TLS one. For each, the application's
//! thread never waits on the collector, exports time out after `OTEL_EXPORTER_OTLP_TIMEOUT`
//! and every loss is counted, nothing is counted as exported, and shutdown keeps its
//! deadline. A collector whose first connection goes silent is left for a new connection,
//! and exports are delivered again.
//!
//! `init` is once per process, so each scenario runs in a child process of this test binary.

#[path = "support/accounting.rs"]
pub mod accounting;
#[path = "support/child.rs"]
pub mod child;
#[path = "support/wait.rs"]
pub mod wait;

use accounting::accounted;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use obs_core::{BatchSettings, Protocol, Signal, SignalCounts};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use child::{in_child, scenario};

/// The target of the test's own spans and events; the filters let only these through.
const TARGET: &str = "misbehaving";

/// `OTEL_EXPORTER_OTLP_TIMEOUT` in the children, in milliseconds.
const EXPORT_TIMEOUT_MS: u64 = 500;

/// How long the children's shutdowns may take.
const SHUTDOWN: Duration = Duration::from_secs(1);

/// Room for a loaded machine beyond a deadline obs keeps.
const SLACK: Duration = Duration::from_secs(5);

/// How long a child waits for what the pipeline does by itself (fail, deliver again).
const WAIT: Duration = Duration::from_secs(30);

/// Spans (and log records, and counter increments) a child makes.
const ITEMS: u64 = 2_000;

/// How a fake collector serves connection number `index` (from 0).
type Serve = fn(usize, TcpStream) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Starts a fake collector on a free loopback port, on a runtime of its own, serving each
/// connection as `serve` says.
fn fake(serve: Serve) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            for index in 0.. {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(index, stream));
            }
        });
    });
    addr
}

/// Reads one HTTP/1.1 request, head and `Content-Length` body; whether it came whole.
async fn read_request(stream: &mut TcpStream) -> bool {
    let mut reader = tokio::io::BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return false,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.is_ok()
}

/// Reads whatever comes until the client closes, answering nothing.
async fn silent(mut stream: TcpStream) {
    let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
}

/// Reads one OTLP/HTTP request from `stream`, writes `answer` (each says `Connection:
/// close`), then does what `then` says.
async fn http1(mut stream: TcpStream, answer: &'static [u8], then: After) {
    if !read_request(&mut stream).await || stream.write_all(answer).await.is_err() {
        return;
    }
    match then {
        After::Close => {}
        After::Silent => silent(stream).await,
        After::Reset => {
            // SO_LINGER 0: the close sends a reset, not a FIN.
            let _ = stream.set_zero_linger();
        }
    }
}

/// What a fake HTTP/1.1 collector does after its answer.
#[derive(Clone, Copy)]
enum After {
    /// Closes the connection.
    Close,
    /// Keeps it open and sends nothing more (an answer cut short stalls there).
    Silent,
    /// Resets it.
    Reset,
}

/// A response body that never sends anything.
struct Stalled;

impl hyper::body::Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

/// A response body that sends part of a gRPC message (its prefix says 100 bytes, 3 come),
/// then fails: the server resets the stream.
struct ResetMidBody(bool);

impl hyper::body::Body for ResetMidBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        if std::mem::replace(&mut self.0, true) {
            return Poll::Ready(Some(Err(std::io::Error::other("reset mid-body"))));
        }
        let part = Bytes::from_static(&[0, 0, 0, 0, 100, 1, 2, 3]);
        Poll::Ready(Some(Ok(hyper::body::Frame::data(part))))
    }
}

/// A body's error, whatever it is.
type BodyError = Box<dyn std::error::Error + Send + Sync>;

type Response = http::Response<BoxBody<Bytes, BodyError>>;

/// A response of `status` with `content_type` and `body`.
fn response<B>(status: u16, content_type: &str, body: B) -> Response
where
    B: hyper::body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BodyError>,
{
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(body.map_err(Into::into).boxed())
        .unwrap()
}

/// A gRPC success: an empty response message, then `grpc-status: 0`.
fn grpc_ok() -> Response {
    let body =
        http_body_util::Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])).with_trailers(async {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            Some(Ok(trailers))
        });
    response(200, "application/grpc", body)
}

/// Serves every call on `stream` (HTTP/2, no TLS) with `answer`, after reading it whole.
async fn h2(stream: TcpStream, answer: fn() -> Response) {
    let service = hyper::service::service_fn(move |request: http::Request<_>| async move {
        let _ = BodyExt::collect(request.into_body()).await;
        Ok::<_, Infallible>(answer())
    });
    let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
}

/// Answers anything with a TLS alert record (fatal `decode_error`), as a TLS server does
/// to a client that speaks plain HTTP, and closes.
async fn tls_alert(mut stream: TcpStream) {
    let mut hello = [0; 1024];
    let _ = stream.read(&mut hello).await;
    let _ = stream
        .write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32])
        .await;
}

const HTTP_STALLED: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\
    Content-Length: 100\r\nConnection: close\r\n\r\n\x0a";
const HTTP_PAGE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\
    Content-Length: 29\r\nConnection: close\r\n\r\n<html><body>Hi!</body></html>";
const HTTP_UNAVAILABLE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
    Content-Length: 0\r\nConnection: close\r\n\r\n";
const HTTP_BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const HTTP_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\
    Content-Length: 0\r\nConnection: close\r\n\r\n";

/// A misbehaving collector: how it serves, over which protocol, and whether its endpoint
/// is `https://`.
struct Misbehaviour {
    name: &'static str,
    protocol: Protocol,
    serve: Serve,
    https: bool,
}

const MISBEHAVIOURS: &[Misbehaviour] = &[
    Misbehaviour {
        name: "grpc head then stall",
        protocol: Protocol::Grpc,
        serve: |_, s| Box::pin(h2(s, || response(200, "application/grpc", Stalled))),
        https: false,
    },
    Misbehaviour {
        name: "http head then stall",
        protocol: Protocol::HttpProtobuf,
        serve: |_, s| Box::pin(http1(s, HTTP_STALLED, After::Silent)),
        https: false,
    },
    Misbehaviour {
        name: "grpc reset mid-body",
        protocol: Protocol::Grpc,
        serve: |_, s| {
            Box::pin(h2(s, || {
                response(200, "application/grpc", ResetMidBody(false))
            }))
        },
        https: false,
    },
    Misbehaviour {
        name: "http reset mid-body",
        protocol: Protocol::HttpProtobuf,
        serve: |_, s| Box::pin(http1(s, HTTP_STALLED, After::Reset)),
        https: false,
    },
    Misbehaviour {
        name: "grpc 200 with a web page",
        protocol: Protocol::Grpc,
        serve: |_, s| {
            Box::pin(h2(s, || {
                let page = http_body_util::Full::new(Bytes::from_static(b"<html></html>"));
                response(200, "text/html", page)
            }))
        },
        https: false,
    },
    Misbehaviour {
        name: "http 200 with a web page",
        protocol: Protocol::HttpProtobuf,
        serve: |_, s| Box::pin(http1(s, HTTP_PAGE, After::Close)),
        https: false,
    },
    Misbehaviour {
        name: "grpc 503 with retry-after",
        protocol: Protocol::Grpc,
        serve: |_, s| {
            Box::pin(h2(s, || {
                let mut unavailable =
                    response(503, "text/plain", http_body_util::Empty::<Bytes>::new());
                let retry_after = http::HeaderValue::from_static("1");
                unavailable.headers_mut().insert("retry-after", retry_after);
                unavailable
            }))
        },
        https: false,
    },
    Misbehaviour {
        name: "http 503 with retry-after",
        protocol: Protocol::HttpProtobuf,
        serve: |_, s| Box::pin(http1(s, HTTP_UNAVAILABLE, After::Close)),
        https: false,
    },
    Misbehaviour {
        name: "grpc tls to a plain server",
        protocol: Protocol::Grpc,
        serve: |_, s| Box::pin(h2(s, grpc_ok)),
        https: true,
    },
    Misbehaviour {
        name: "http tls to a plain server",
        protocol: Protocol::HttpProtobuf,
        serve: |_, s| Box::pin(http1(s, HTTP_BAD_REQUEST, After::Close)),
        https: true,
    },
    Misbehaviour {
        name: "grpc plain to a tls server",
        protocol: Protocol::Grpc,
        serve: |_, s| Box::pin(tls_alert(s)),
        https: false,
    },
    Misbehaviour {
        name: "http plain to a tls server",
        protocol: Protocol::HttpProtobuf,
        serve: |_, s| Box::pin(tls_alert(s)),
        https: false,
    },
];

/// obs exporting only the test's spans and log records, and its counter, to `endpoint`.
fn init(protocol: Protocol, endpoint: String) -> obs_core::Telemetry {
    let batch = BatchSettings {
        schedule_delay: Duration::from_millis(20),
        max_queue_size: 256,
        max_export_batch_size: 64,
        ..BatchSettings::SPANS
    };
    obs_core::builder()
        .service_name("misbehaving")
        .protocol(protocol)
        .otlp_endpoint(endpoint)
        .json_logs(false)
        .traces_filter(format!("{TARGET}=info"))
        .log_filter(format!("{TARGET}=info"))
        .process_metrics(false)
        .span_batch(batch)
        .log_batch(batch)
        .metric_export_interval(Duration::from_millis(50))
        .shutdown_timeout(SHUTDOWN)
        .init()
        .expect("init")
}

/// Makes spans `first..first + n`, each with a log record inside, and counts them.
fn emit(first: u64, n: u64) {
    let requests = obs_core::metrics::global()
        .counter("misbehaving_requests", "Counted with each span.")
        .unwrap();
    for i in first..first + n {
        let _span = tracing::info_span!(target: TARGET, "work", i).entered();
        tracing::info!(target: TARGET, i, "work");
        requests.inc();
    }
}

/// Waits (bounded) until `done` holds for every signal's counts; `None` if it never did.
fn wait_for(telemetry: &obs_core::Telemetry, done: fn(&SignalCounts) -> bool) -> Option<()> {
    wait::poll_blocking(WAIT, Duration::from_millis(10), || {
        let counts = telemetry.counts();
        (counts.len() == 3 && counts.iter().all(done)).then_some(())
    })
}

/// Runs `work` on a thread of its own and waits for it, at most `limit`: its result, or
/// `None` if it had not finished (or panicked) by then.
fn finished_within<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    result.recv_timeout(limit).ok()
}

fn misbehaving(m: &Misbehaviour) {
    let addr = fake(m.serve);
    let scheme = if m.https { "https" } else { "http" };
    let telemetry = init(m.protocol, format!("{scheme}://{addr}"));
    // A thread that waited for the exports would take the export timeout per batch: more
    // than 15 s for the 31 batches of the 2,000 spans.
    assert!(
        finished_within(SLACK, || emit(0, ITEMS)).is_some(),
        "{}: {ITEMS} spans not made within {SLACK:?}",
        m.name
    );
    let failed = wait_for(&telemetry, |c| c.dropped_export_failed > 0);
    assert!(
        failed.is_some(),
        "{}: every signal's exports fail and are counted: {:?}",
        m.name,
        telemetry.counts()
    );
    for c in telemetry.counts() {
        assert_eq!(c.exported, 0, "{}: nothing was delivered: {c:?}", m.name);
    }
    let error = finished_within(SHUTDOWN + SLACK, move || telemetry.shutdown_blocking())
        .unwrap_or_else(|| panic!("{}: shutdown past its deadline", m.name))
        .expect_err("nothing delivered");
    for signal in [Signal::Traces, Signal::Logs] {
        assert_eq!(accounted(signal), ITEMS, "{}: {signal:?}: {error}", m.name);
    }
}

#[test]
fn a_misbehaving_collector_costs_the_app_only_counted_drops() {
    if let Some(name) = scenario() {
        let m = MISBEHAVIOURS.iter().find(|m| m.name == name).unwrap();
        misbehaving(m);
        return;
    }
    // `https://` endpoints need the `tls` feature.
    for m in MISBEHAVIOURS
        .iter()
        .filter(|m| cfg!(feature = "tls") || !m.https)
    {
        in_child(
            "a_misbehaving_collector_costs_the_app_only_counted_drops",
            m.name,
            &[("OTEL_EXPORTER_OTLP_TIMEOUT", EXPORT_TIMEOUT_MS.to_string())],
        );
    }
}

/// A stalled export gives up after `OTEL_EXPORTER_OTLP_TIMEOUT`, and says so.
#[test]
fn a_stalled_export_times_out_as_configured() {
    if scenario().is_some() {
        let addr = fake(|_, s| Box::pin(http1(s, HTTP_STALLED, After::Silent)));
        let telemetry = init(Protocol::HttpProtobuf, format!("http://{addr}"));
        emit(0, 1);
        let error = telemetry.force_flush().expect_err("stalled");
        let traces = error.failures.iter().find(|f| f.signal == Signal::Traces);
        assert!(
            traces.is_some_and(|f| f.error.contains(&format!(
                "timed out after {:?}",
                Duration::from_millis(EXPORT_TIMEOUT_MS)
            ))),
            "{error}"
        );
        telemetry.shutdown_blocking().expect_err("stalled");
        return;
    }
    in_child(
        "a_stalled_export_times_out_as_configured",
        "stalled",
        &[("OTEL_EXPORTER_OTLP_TIMEOUT", EXPORT_TIMEOUT_MS.to_string())],
    );
}

/// The first connection takes requests and never answers (a collector whose host went
/// away without a reset); later ones are served. Once an export on it has timed out, the
/// next connect anew, and every signal is delivered again.
#[test]
fn exports_leave_a_connection_gone_silent_and_are_delivered_again() {
    if let Some(protocol) = scenario() {
        let (protocol, serve): (_, Serve) = match protocol.as_str() {
            "grpc" => (Protocol::Grpc, |index, s| match index {
                0 => Box::pin(silent(s)),
                _ => Box::pin(h2(s, grpc_ok)),
            }),
            _ => (Protocol::HttpProtobuf, |index, s| match index {
                0 => Box::pin(silent(s)),
                _ => Box::pin(http1(s, HTTP_OK, After::Close)),
            }),
        };
        let addr = fake(serve);
        let telemetry = init(protocol, format!("http://{addr}"));
        let mut made = 0;
        let delivered = wait::poll_blocking(WAIT, Duration::from_millis(20), || {
            emit(made, 10);
            made += 10;
            let counts = telemetry.counts();
            (counts.len() == 3 && counts.iter().all(|c| c.exported > 0)).then_some(())
        });
        assert!(
            delivered.is_some(),
            "{protocol:?}: every signal is delivered again: {:?}",
            telemetry.counts()
        );
        let _ = telemetry.shutdown_blocking();
        return;
    }
    for protocol in ["grpc", "http/protobuf"] {
        in_child(
            "exports_leave_a_connection_gone_silent_and_are_delivered_again",
            protocol,
            &[("OTEL_EXPORTER_OTLP_TIMEOUT", EXPORT_TIMEOUT_MS.to_string())],
        );
    }
}
