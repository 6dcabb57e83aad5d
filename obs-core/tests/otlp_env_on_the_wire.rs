//! The `OTEL_EXPORTER_OTLP_*` variables as a receiver sees them: request paths, headers,
//! compression and the gRPC deadline of each signal, read from the wire by a loopback server
//! that records every request (what a collector such as rotel accepts without showing).
//!
//! `init` is once per process, so the application runs in a child process of this test
//! binary, configured by the environment alone.

use std::convert::Infallible;
use std::io::Read;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// Set in a child process: it is the application.
const CHILD: &str = "OBS_WIRE_CHILD";

/// One request as it arrived.
#[derive(Clone, Debug)]
struct Recorded {
    path_and_query: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body, gunzipped if it says it is gzip (HTTP's `content-encoding`).
    fn http_payload(&self) -> Vec<u8> {
        match self.header("content-encoding") {
            Some("gzip") => gunzip(&self.body),
            _ => self.body.to_vec(),
        }
    }

    /// The one gRPC message of a unary call, gunzipped if its frame says it is compressed.
    fn grpc_message(&self) -> Vec<u8> {
        assert!(self.body.len() >= 5, "no gRPC frame: {:?}", self.body);
        let compressed = self.body[0] == 1;
        let length = u32::from_be_bytes(self.body[1..5].try_into().unwrap()) as usize;
        let message = &self.body[5..5 + length];
        if compressed {
            gunzip(message)
        } else {
            message.to_vec()
        }
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

type Records = Arc<parking_lot::Mutex<Vec<Recorded>>>;

/// An HTTP/1.1 and h2c server on a free loopback port that records each request and answers
/// it with OTLP's success: an empty protobuf body, or for gRPC an empty message and status 0.
/// Returns its `http://127.0.0.1:P` address.
async fn recording_server() -> (String, Records) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let records = Records::default();
    let seen = records.clone();
    tokio::spawn(async move {
        // Bounded: the child makes a handful of connections.
        for _ in 0..64 {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let seen = seen.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let grpc = parts
                        .headers
                        .get("content-type")
                        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
                    seen.lock().push(Recorded {
                        path_and_query: parts
                            .uri
                            .path_and_query()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        headers: parts.headers,
                        body,
                    });
                    Ok::<_, Infallible>(if grpc { grpc_ok() } else { http_ok() })
                }
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (base, records)
}

fn http_ok() -> Response<BoxBody<Bytes, Infallible>> {
    Response::builder()
        .header("content-type", "application/x-protobuf")
        .body(Full::new(Bytes::new()).boxed())
        .unwrap()
}

fn grpc_ok() -> Response<BoxBody<Bytes, Infallible>> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    // An empty response message: not compressed, length 0.
    let body = Full::new(Bytes::from_static(&[0, 0, 0, 0, 0]))
        .with_trailers(async move { Some(Ok(trailers)) })
        .boxed();
    Response::builder()
        .header("content-type", "application/grpc")
        .body(body)
        .unwrap()
}

/// Runs this binary's test `test` as the application in a child process with `env`, and
/// checks that it passed.
/// Runs `test` as a child with `env`; it must succeed, and warn only with `expected`, each
/// once (a warning obs gives at init for a setting the test makes on purpose).
async fn run_child(test: &'static str, env: Vec<(&'static str, String)>, expected: &[&str]) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .envs(env)
            .output()
            .expect("child test process")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("obs:")).collect();
    let as_expected = warnings.len() == expected.len()
        && expected
            .iter()
            .all(|e| warnings.iter().filter(|w| w.contains(e)).count() == 1);
    assert!(
        out.status.success() && as_expected && !stderr.contains("panicked"),
        "the child failed, warned other than {expected:?} or panicked:\n{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The application: a span and a log record, exported by `shutdown` (with the metrics).
fn application() {
    let telemetry = obs_core::builder()
        .json_logs(false)
        .runtime_metrics(false)
        .init()
        .expect("init");
    {
        let _span = tracing::info_span!("wire-span").entered();
        tracing::info!("wire-log");
    }
    telemetry
        .shutdown_blocking()
        .expect("every export succeeds");
}

/// The request at `path` (whatever its query).
fn at<'a>(records: &'a [Recorded], path: &str) -> &'a Recorded {
    records
        .iter()
        .find(|r| r.path_and_query.split('?').next() == Some(path))
        .unwrap_or_else(|| {
            let paths: Vec<_> = records.iter().map(|r| &r.path_and_query).collect();
            panic!("no request at {path}: {paths:?}")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_paths_headers_and_compression_follow_the_variables() {
    const TEST: &str = "http_paths_headers_and_compression_follow_the_variables";
    if std::env::var_os(CHILD).is_some() {
        return tokio::task::spawn_blocking(application).await.unwrap();
    }
    let (base, records) = recording_server().await;
    run_child(
        TEST,
        vec![
            ("OTEL_SERVICE_NAME", "wire".to_owned()),
            // The base URL gets `v1/{signal}` below its path, with one slash between.
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("{base}/otlp/")),
            // A per-signal URL is used as is, query included...
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                format!("{base}/custom/logs?tenant=a"),
            ),
            // ...and one without a path goes to the root path (spec, Example 2), with a
            // warning: OTLP receivers serve nothing there.
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", base.clone()),
            // Values are percent-decoded; a per-signal list replaces the general one.
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=s%3Dcret%20one, Tenant = a ".to_owned(),
            ),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-logs=1".to_owned()),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()),
            ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none".to_owned()),
        ],
        &["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"],
    )
    .await;
    let records = records.lock().clone();

    let traces = at(&records, "/otlp/v1/traces");
    assert_eq!(traces.path_and_query, "/otlp/v1/traces");
    assert_eq!(traces.header("api-key"), Some("s=cret one"));
    assert_eq!(traces.header("tenant"), Some("a"));
    assert_eq!(traces.header("content-encoding"), Some("gzip"));
    assert_eq!(
        traces.header("content-type"),
        Some("application/x-protobuf")
    );
    assert!(
        traces
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("OTel-OTLP-Exporter-Rust")),
        "{:?}",
        traces.headers
    );
    let spans = ExportTraceServiceRequest::decode(traces.http_payload().as_slice()).unwrap();
    assert_eq!(
        spans.resource_spans[0].scope_spans[0].spans[0].name,
        "wire-span"
    );

    let logs = at(&records, "/custom/logs");
    assert_eq!(logs.path_and_query, "/custom/logs?tenant=a");
    assert_eq!(logs.header("x-logs"), Some("1"));
    assert_eq!(logs.header("api-key"), None, "replaced by the logs list");
    assert_eq!(logs.header("content-encoding"), Some("gzip"));
    let records_out = ExportLogsServiceRequest::decode(logs.http_payload().as_slice()).unwrap();
    assert!(format!("{records_out:?}").contains("wire-log"));

    let metrics = at(&records, "/");
    assert_eq!(metrics.path_and_query, "/");
    assert_eq!(metrics.header("api-key"), Some("s=cret one"));
    assert_eq!(metrics.header("content-encoding"), None, "none for metrics");
    assert!(
        records
            .iter()
            .all(|r| !r.path_and_query.starts_with("/otlp/v1/metrics")),
        "the per-signal URL replaces the base one"
    );
}

/// `grpc-timeout` (a number and a unit, `S`, `m`, `u` or `n`) as a duration.
fn grpc_timeout(record: &Recorded) -> Duration {
    let value = record.header("grpc-timeout").expect("a grpc-timeout");
    let (number, unit) = value.split_at(value.len() - 1);
    let number: u64 = number.parse().unwrap();
    match unit {
        "S" => Duration::from_secs(number),
        "m" => Duration::from_millis(number),
        "u" => Duration::from_micros(number),
        "n" => Duration::from_nanos(number),
        _ => panic!("grpc-timeout {value}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_metadata_compression_and_deadlines_follow_the_variables() {
    const TEST: &str = "grpc_metadata_compression_and_deadlines_follow_the_variables";
    if std::env::var_os(CHILD).is_some() {
        return tokio::task::spawn_blocking(application).await.unwrap();
    }
    let (base, records) = recording_server().await;
    run_child(
        TEST,
        vec![
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
            // For gRPC the base URL is the server's: no `/v1/traces`. Given as gRPC's
            // scheme-less `host:port`, plaintext because of `OTEL_EXPORTER_OTLP_INSECURE`.
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                base.trim_start_matches("http://").to_owned(),
            ),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true".to_owned()),
            // A `-bin` name is binary metadata: its value is sent base64-encoded, as gRPC
            // clients do with any metadata value under such a name.
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=s%3Dcret,x-token-bin=abc".to_owned(),
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip".to_owned()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "9000".to_owned()),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "3000".to_owned()),
        ],
        &[],
    )
    .await;
    let records = records.lock().clone();

    let traces = at(
        &records,
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    assert_eq!(traces.header("api-key"), Some("s=cret"));
    assert_eq!(
        traces.header("x-token-bin"),
        Some("YWJj"),
        "{:?}",
        traces.headers
    );
    assert_eq!(traces.header("grpc-encoding"), Some("gzip"));
    let spans = ExportTraceServiceRequest::decode(traces.grpc_message().as_slice()).unwrap();
    assert_eq!(
        spans.resource_spans[0].scope_spans[0].spans[0].name,
        "wire-span"
    );
    // The deadline told to the receiver is what is left of the signal's timeout: the
    // per-signal one for traces, the general one for logs.
    let deadline = grpc_timeout(traces);
    assert!(deadline <= Duration::from_secs(3), "{deadline:?}");

    let logs = at(
        &records,
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    );
    assert_eq!(logs.header("api-key"), Some("s=cret"));
    assert_eq!(logs.header("grpc-encoding"), None, "not compressed");
    let deadline = grpc_timeout(logs);
    assert!(
        deadline > Duration::from_secs(3) && deadline <= Duration::from_secs(9),
        "{deadline:?}"
    );
    at(
        &records,
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    );
}

/// The longest durations the millisecond variables can say (2^64 - 1 ms, "for ever") are
/// taken as they are: nothing overflows when they are added to the current time, and
/// shutdown still exports everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_durations_the_variables_can_say_start_and_flush() {
    const TEST: &str = "the_longest_durations_the_variables_can_say_start_and_flush";
    if std::env::var_os(CHILD).is_some() {
        return tokio::task::spawn_blocking(application).await.unwrap();
    }
    let forever = u64::MAX.to_string();
    for (protocol, paths) in [
        ("http/protobuf", ["/v1/traces", "/v1/logs", "/v1/metrics"]),
        (
            // The deadline goes to the receiver too, as `grpc-timeout`.
            "grpc",
            [
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            ],
        ),
    ] {
        let (base, records) = recording_server().await;
        let mut env = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", base),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ];
        for name in [
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_BSP_SCHEDULE_DELAY",
            "OTEL_BSP_EXPORT_TIMEOUT",
            "OTEL_BLRP_SCHEDULE_DELAY",
            "OTEL_BLRP_EXPORT_TIMEOUT",
            "OTEL_METRIC_EXPORT_INTERVAL",
            "OTEL_METRIC_EXPORT_TIMEOUT",
        ] {
            env.push((name, forever.clone()));
        }
        run_child(TEST, env, &[]).await;
        let records = records.lock().clone();
        for path in paths {
            at(&records, path);
        }
    }
}
