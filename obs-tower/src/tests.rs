//! Unit tests of the server and client layers, in process (`oneshot`), with spans collected
//! by an `InMemorySpanSink`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use obs_trace::opentelemetry::trace::{SpanKind, Status};
use obs_trace::opentelemetry::{Array, StringValue, Value};
use obs_trace::{InMemorySpanSink, SpanData, SpanLayer};
use tower::{Service, ServiceBuilder, ServiceExt};
use tracing_subscriber::prelude::*;

use crate::{HttpClientLayer, HttpServerLayer};

/// What a test service saw, shared with the test.
#[derive(Clone, Default)]
struct Captured<T>(Arc<std::sync::Mutex<Vec<T>>>);

impl<T: Clone> Captured<T> {
    fn push(&self, value: T) {
        self.0.lock().unwrap().push(value);
    }
    fn all(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }
}

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";

fn traceparent(flags: &str) -> String {
    format!("00-{TRACE_ID}-{PARENT_ID}-{flags}")
}

/// Installs a subscriber with the span layer for this thread; spans land in the sink.
fn install() -> (InMemorySpanSink, tracing::subscriber::DefaultGuard) {
    let sink = InMemorySpanSink::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    (sink, tracing::subscriber::set_default(subscriber))
}

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attribute(key).cloned()
}

fn str_attr(span: &SpanData, key: &str) -> Option<String> {
    attr(span, key).map(|v| v.as_str().into_owned())
}

fn only(sink: &InMemorySpanSink, kind: SpanKind) -> SpanData {
    let spans: Vec<_> = sink
        .spans()
        .into_iter()
        .filter(|s| s.kind == kind)
        .collect();
    assert_eq!(spans.len(), 1, "one {kind:?} span expected, got {spans:#?}");
    spans.into_iter().next().unwrap()
}

async fn status_handler(axum::extract::Path(code): axum::extract::Path<u16>) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

fn app() -> Router {
    Router::new()
        .route("/status/{code}", get(status_handler))
        .route("/echo", post(|body: Bytes| async move { body }))
        .layer(HttpServerLayer::new())
}

async fn send(app: Router, request: Request<axum::body::Body>) -> Response<Bytes> {
    let response = app.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

#[tokio::test(flavor = "current_thread")]
async fn ok_response_makes_a_server_span_with_the_semconv_attributes() {
    let (sink, _guard) = install();
    let request = Request::get("/status/200?a=1")
        .header("host", "api.example.com:8080")
        .header("user-agent", "curl/8")
        .header("traceparent", traceparent("01"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = send(app(), request).await;
    assert_eq!(response.status(), 200);

    let span = only(&sink, SpanKind::Server);
    assert_eq!(span.name, "GET /status/{code}");
    assert_eq!(span.span_context.trace_id.to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id.to_string(), PARENT_ID);
    assert!(span.parent_is_remote);
    assert_eq!(span.status, Status::Unset);
    for (key, value) in [
        ("http.request.method", "GET"),
        ("http.route", "/status/{code}"),
        ("url.path", "/status/200"),
        ("url.query", "a=1"),
        ("url.scheme", "http"),
        ("server.address", "api.example.com"),
        ("network.protocol.version", "1.1"),
        ("user_agent.original", "curl/8"),
    ] {
        assert_eq!(str_attr(&span, key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(attr(&span, "server.port"), Some(Value::I64(8080)));
    assert_eq!(
        attr(&span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    assert_eq!(attr(&span, "error.type"), None);
    assert_eq!(attr(&span, "http.request.method_original"), None);
}

/// A Jaeger per-operation strategy's operation is the server span's name as the layer
/// creates it (`GET /status/{code}`, method and route), not the `tracing` span's name.
#[tokio::test(flavor = "current_thread")]
async fn a_per_operation_strategy_decides_a_request_by_its_route() {
    use obs_trace::{
        JaegerRemoteConfig, JaegerRemoteSampler, PerOperationStrategy, Sampler, SamplingStrategy,
    };
    let remote = JaegerRemoteSampler::new(JaegerRemoteConfig::default());
    remote.set_strategy(SamplingStrategy::PerOperation(PerOperationStrategy {
        default_probability: 0.0,
        lower_bound_per_second: 0.0,
        operations: vec![("GET /status/{code}".to_owned(), 1.0)],
    }));
    let sink = InMemorySpanSink::new();
    let layer = SpanLayer::new()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::JaegerRemote(
            remote,
        ))))
        .with_sink(Arc::new(sink.clone()));
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    for uri in ["/status/200", "/status/204", "/echo"] {
        let request = Request::builder()
            .method(if uri == "/echo" { "POST" } else { "GET" })
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        send(app(), request).await;
    }
    let names: Vec<_> = sink.spans().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["GET /status/{code}", "GET /status/{code}"]);
}

/// A repeated `Host` or `User-Agent` (malformed, but sent) is read as its first value, as a
/// header lookup gives it.
#[tokio::test(flavor = "current_thread")]
async fn repeated_host_and_user_agent_give_their_first_values() {
    let (sink, _guard) = install();
    let request = Request::get("/status/200")
        .header("user-agent", "first/1")
        .header("host", "first.example:8443")
        .header("x-other", "between")
        .header("user-agent", "second/2")
        .header("host", "second.example:9443")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(app(), request).await.status(), 200);

    let span = only(&sink, SpanKind::Server);
    assert_eq!(
        str_attr(&span, "user_agent.original").as_deref(),
        Some("first/1")
    );
    assert_eq!(
        str_attr(&span, "server.address").as_deref(),
        Some("first.example")
    );
    assert_eq!(attr(&span, "server.port"), Some(Value::I64(8443)));
}

/// A thread shares the last user agent it saw with the requests that repeat it: each span
/// still records its own request's, whether it repeats the last one or not, and a value that
/// is not UTF-8 (recorded with U+FFFD) is never taken for another.
#[tokio::test(flavor = "current_thread")]
async fn each_span_records_its_own_user_agent_when_they_repeat() {
    let (sink, _guard) = install();
    let agents: [&[u8]; 9] = [
        b"a/1",
        b"a/1",
        b"b/2",
        b"caf\xe9",
        b"caf\xe9",
        "caf\u{fffd}".as_bytes(),
        "小米 13".as_bytes(),
        "小米 13".as_bytes(),
        b"a/1",
    ];
    for agent in agents {
        let request = Request::get("/status/200")
            .header("user-agent", http::HeaderValue::from_bytes(agent).unwrap())
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(send(app(), request).await.status(), 200);
    }
    let recorded: Vec<_> = sink
        .take()
        .iter()
        .map(|span| str_attr(span, "user_agent.original"))
        .collect();
    let expected: Vec<_> = agents
        .iter()
        .map(|agent| Some(String::from_utf8_lossy(agent).into_owned()))
        .collect();
    assert_eq!(recorded, expected);
}

#[tokio::test(flavor = "current_thread")]
async fn client_errors_are_not_server_span_errors_but_server_errors_are() {
    let (sink, _guard) = install();
    for code in [404u16, 503] {
        let request = Request::get(format!("/status/{code}"))
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(send(app(), request).await.status().as_u16(), code);
    }
    let spans = sink.take();
    assert_eq!(spans.len(), 2);
    assert_eq!(
        attr(&spans[0], "http.response.status_code"),
        Some(Value::I64(404))
    );
    assert_eq!(spans[0].status, Status::Unset);
    assert_eq!(attr(&spans[0], "error.type"), None);
    assert_eq!(
        attr(&spans[1], "http.response.status_code"),
        Some(Value::I64(503))
    );
    assert!(matches!(spans[1].status, Status::Error { .. }));
    assert_eq!(str_attr(&spans[1], "error.type").as_deref(), Some("503"));
}

#[tokio::test(flavor = "current_thread")]
async fn unmatched_requests_carry_no_route_and_unknown_methods_become_other() {
    let (sink, _guard) = install();
    let request = Request::builder()
        .method(Method::from_bytes(b"PURGE").unwrap())
        .uri("/no/such/path/42")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(app(), request).await.status(), 404);
    let span = only(&sink, SpanKind::Server);
    // The raw path never becomes the name or the route.
    assert_eq!(span.name, "HTTP");
    assert_eq!(attr(&span, "http.route"), None);
    assert_eq!(
        str_attr(&span, "http.request.method").as_deref(),
        Some("_OTHER")
    );
    assert_eq!(
        str_attr(&span, "http.request.method_original").as_deref(),
        Some("PURGE")
    );
}

/// Semconv `http.request.method`: an instrumentation that could turn valid methods into
/// `_OTHER` "MUST provide a way to override the list of known HTTP methods", and the list
/// is "a full override of the default known method[s]".
#[tokio::test(flavor = "current_thread")]
async fn configured_known_methods_replace_the_default_list() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let propfind = Method::from_bytes(b"PROPFIND").unwrap();
    let server = HttpServerLayer::new()
        .with_registry(&registry)
        .with_known_methods([Method::GET, propfind.clone()]);
    let app = Router::new()
        .route("/dav/{file}", axum::routing::any(|| async { "dav" }))
        .layer(server);
    let client = ServiceBuilder::new()
        .layer(HttpClientLayer::new().with_known_methods([propfind.clone()]))
        .service(downstream(Captured::default(), StatusCode::OK));
    for method in [propfind.clone(), Method::POST] {
        let request = Request::builder()
            .method(method.clone())
            .uri("/dav/a.txt")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(send(app.clone(), request).await.status(), 200);
        let request = Request::builder()
            .method(method)
            .uri("http://dav.example/a.txt")
            .body(Empty::<Bytes>::new())
            .unwrap();
        drop(client.clone().oneshot(request).await.unwrap());
    }

    let spans = sink.take();
    let named: Vec<_> = spans
        .iter()
        .map(|s| {
            let method = str_attr(s, "http.request.method").unwrap();
            let original = str_attr(s, "http.request.method_original");
            (s.kind.clone(), s.name.to_string(), method, original)
        })
        .collect();
    let other = Some("POST".to_owned());
    assert_eq!(
        named,
        [
            (
                SpanKind::Server,
                "PROPFIND /dav/{file}".into(),
                "PROPFIND".into(),
                None
            ),
            (SpanKind::Client, "PROPFIND".into(), "PROPFIND".into(), None),
            // POST is known by default, but not to these layers.
            (
                SpanKind::Server,
                "HTTP /dav/{file}".into(),
                "_OTHER".into(),
                other.clone()
            ),
            (SpanKind::Client, "HTTP".into(), "_OTHER".into(), other),
        ]
    );
    let methods: Vec<String> = family(&registry, "http_server_request_duration_seconds")
        .points
        .iter()
        .map(|p| p.labels[0].1.clone())
        .collect();
    assert_eq!(methods, ["PROPFIND", "_OTHER"]);
}

/// `http.route` is the template axum matched, and absent where it matched none (never the
/// raw path): the span is named `{method} {route}` or `{method}`. With `Router::layer` the
/// layer sees every route, the method router's 405 and the fallback; with `route_layer`
/// matched routes only (an unmatched request gets no span); around the whole router it
/// runs before routing and knows no route. `nest_service` matches its prefix by a template
/// but what lies under it by a wildcard axum keeps to itself: no route there.
#[tokio::test(flavor = "current_thread")]
async fn the_route_is_the_matched_template_wherever_axum_has_one() {
    fn routes() -> Router {
        let users = Router::new().route("/users/{id}", get(|| async { "user" }));
        let merged = Router::new().route("/merged/{x}", post(|| async { "merged" }));
        let files = tower::service_fn(|_: Request<axum::body::Body>| async {
            Ok::<_, Infallible>(Response::new(axum::body::Body::from("file")))
        });
        Router::new()
            .nest("/api", users)
            .nest_service("/static", files)
            .merge(merged)
            .fallback(|| async { (StatusCode::NOT_FOUND, "fallback") })
    }
    let requests = [
        ("GET", "/api/users/7", 200),
        ("HEAD", "/api/users/7", 200),
        ("DELETE", "/api/users/7", 405),
        ("PURGE", "/api/users/7", 405),
        ("GET", "/api/users/7/", 404),
        ("POST", "/merged/3", 200),
        ("GET", "/static", 200),
        ("GET", "/static/a/b.css", 200),
        ("GET", "/nothing/42", 404),
    ];
    let routed = [
        Some("GET /api/users/{id}"),
        Some("HEAD /api/users/{id}"),
        Some("DELETE /api/users/{id}"),
        Some("HTTP /api/users/{id}"),
        Some("GET"),
        Some("POST /merged/{x}"),
        Some("GET /static"),
        Some("GET"),
        Some("GET"),
    ];
    let mut route_layered = routed;
    route_layered[4] = None;
    route_layered[8] = None;
    let unrouted = [
        "GET", "HEAD", "DELETE", "HTTP", "GET", "POST", "GET", "GET", "GET",
    ]
    .map(Some);
    let placements = [
        ("layer", routes().layer(HttpServerLayer::new()), routed),
        (
            "route_layer",
            routes().route_layer(HttpServerLayer::new()),
            route_layered,
        ),
        (
            "around",
            Router::new().fallback_service(crate::Layer::layer(&HttpServerLayer::new(), routes())),
            unrouted,
        ),
    ];
    let (sink, _guard) = install();
    for (placement, app, expected) in placements {
        for ((method, path, status), expected) in requests.iter().zip(expected) {
            let request = Request::builder()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(*path)
                .body(axum::body::Body::empty())
                .unwrap();
            let response = send(app.clone(), request).await;
            assert_eq!(response.status(), *status, "{placement} {method} {path}");
            let spans = sink.take();
            let seen = spans.first().map(|span| {
                let route = str_attr(span, "http.route");
                let name = span.name.to_string();
                // The route is the name's target, when there is one.
                assert_eq!(route.as_deref(), name.split_once(' ').map(|(_, r)| r));
                assert_eq!(str_attr(span, "url.path").as_deref(), Some(*path));
                name
            });
            assert!(spans.len() <= 1, "{spans:#?}");
            assert_eq!(seen.as_deref(), expected, "{placement} {method} {path}");
        }
    }
}

/// Routes added after `Router::layer` (health checks) are neither traced nor measured,
/// as the layer's docs say and the examples' services rely on.
#[tokio::test(flavor = "current_thread")]
async fn routes_added_after_the_layer_stay_out_of_traces_and_metrics() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let app = Router::new()
        .route("/orders/{id}", get(|| async { "order" }))
        .layer(HttpServerLayer::new().with_registry(&registry))
        .route("/healthz", get(|| async { "ok" }));
    let get_of = |path: &str| Request::get(path).body(axum::body::Body::empty()).unwrap();
    for _ in 0..3 {
        assert_eq!(send(app.clone(), get_of("/healthz")).await.body(), "ok");
    }
    assert!(sink.take().is_empty());
    assert_eq!(send(app.clone(), get_of("/orders/7")).await.body(), "order");
    let span = only(&sink, SpanKind::Server);
    assert_eq!(
        str_attr(&span, "http.route").as_deref(),
        Some("/orders/{id}")
    );
    let (labels, count) = server_duration(&registry);
    assert_eq!(count, 1);
    assert!(labels.contains(&("http_route".to_owned(), "/orders/{id}".to_owned())));
}

#[tokio::test(flavor = "current_thread")]
async fn a_nested_router_records_the_path_it_received() {
    let (sink, _guard) = install();
    let users = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .layer(HttpServerLayer::new());
    let app = Router::new().nest("/api", users);
    let request = Request::get("/api/users/42?sig=s&page=2")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(app, request).await.status(), 200);
    let span = only(&sink, SpanKind::Server);
    assert_eq!(
        str_attr(&span, "http.route").as_deref(),
        Some("/api/users/{id}")
    );
    assert_eq!(
        str_attr(&span, "url.path").as_deref(),
        Some("/api/users/42")
    );
    assert_eq!(
        str_attr(&span, "url.query").as_deref(),
        Some("sig=REDACTED&page=2")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn sensitive_query_parameters_are_redacted() {
    let (sink, _guard) = install();
    let app = Router::new()
        .route("/s", get(|| async { "ok" }))
        .layer(HttpServerLayer::new().with_sensitive_query_params(["token"]));
    let request = Request::get("/s?sig=abc&token=t0p&X-Goog-Signature=g&page=2&%73ig=4&t%6Fken=5")
        .body(axum::body::Body::empty())
        .unwrap();
    send(app, request).await;
    let span = only(&sink, SpanKind::Server);
    assert_eq!(
        str_attr(&span, "url.query").as_deref(),
        Some(
            "sig=REDACTED&token=REDACTED&X-Goog-Signature=REDACTED&page=2&%73ig=REDACTED&t%6Fken=REDACTED"
        )
    );
}

#[tokio::test(flavor = "current_thread")]
async fn listed_headers_are_captured_and_credentials_never() {
    let (sink, _guard) = install();
    let layer = HttpServerLayer::new()
        .with_request_headers([
            HeaderName::from_static("x-request-id"),
            http::header::AUTHORIZATION,
            http::header::COOKIE,
            HeaderName::from_static("x-absent"),
        ])
        .with_response_headers([http::header::CONTENT_TYPE, http::header::SET_COOKIE]);
    let app = Router::new()
        .route(
            "/h",
            get(|| async {
                (
                    [("set-cookie", "s=1"), ("content-type", "text/plain")],
                    "ok",
                )
            }),
        )
        .layer(layer);
    let request = Request::get("/h")
        .header("X-Request-Id", "r1")
        .header("x-request-id", "r2")
        .header("authorization", "Bearer secret")
        .header("cookie", "s=1")
        .body(axum::body::Body::empty())
        .unwrap();
    send(app, request).await;
    let span = only(&sink, SpanKind::Server);
    assert_eq!(
        attr(&span, "http.request.header.x-request-id"),
        strings(&["r1", "r2"])
    );
    assert_eq!(
        attr(&span, "http.response.header.content-type"),
        strings(&["text/plain"])
    );
    for forbidden in [
        "http.request.header.authorization",
        "http.request.header.cookie",
        "http.response.header.set-cookie",
        "http.request.header.x-absent",
    ] {
        assert_eq!(attr(&span, forbidden), None, "{forbidden}");
    }
}

/// A captured header attribute's value: its values in order, as a string array.
fn strings(values: &[&'static str]) -> Option<Value> {
    Some(Value::Array(Array::String(
        values.iter().map(|&s| StringValue::from(s)).collect(),
    )))
}

/// `http::HeaderValue::is_sensitive`: a value the application marked as not to be shown
/// (tower-http's `SetSensitiveHeadersLayer` does, for `TraceLayer`'s logs) is captured as
/// `REDACTED`, even when its header is listed; its neighbours as sent.
#[tokio::test(flavor = "current_thread")]
async fn header_values_marked_sensitive_are_captured_redacted() {
    use tower_http::sensitive_headers::{
        SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
    };
    let (sink, _guard) = install();
    let api_key = HeaderName::from_static("x-api-key");
    let session = HeaderName::from_static("x-session");
    let layer = HttpServerLayer::new()
        .with_request_headers([api_key.clone(), HeaderName::from_static("x-request-id")])
        .with_response_headers([session.clone(), http::header::CONTENT_TYPE]);
    let app = Router::new()
        .route(
            "/h",
            get(|| async {
                (
                    [("x-session", "s3cr3t"), ("content-type", "text/plain")],
                    "ok",
                )
            }),
        )
        // The usual places: requests marked on the way in, before the layer sees them;
        // responses marked by the handler's side, before the layer sees them.
        .layer(SetSensitiveResponseHeadersLayer::new([session]))
        .layer(layer)
        .layer(SetSensitiveRequestHeadersLayer::new([api_key]));
    let request = Request::get("/h")
        .header("x-api-key", "k3y")
        .header("x-request-id", "r1")
        .body(axum::body::Body::empty())
        .unwrap();
    send(app, request).await;
    let span = only(&sink, SpanKind::Server);
    assert_eq!(
        attr(&span, "http.request.header.x-api-key"),
        strings(&["REDACTED"])
    );
    assert_eq!(
        attr(&span, "http.request.header.x-request-id"),
        strings(&["r1"])
    );
    assert_eq!(
        attr(&span, "http.response.header.x-session"),
        strings(&["REDACTED"])
    );
    assert_eq!(
        attr(&span, "http.response.header.content-type"),
        strings(&["text/plain"])
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_span_ends_when_the_body_ends_not_when_the_head_is_sent() {
    let (sink, _guard) = install();
    let (mut sender, body) = http_body_util::channel::Channel::<Bytes>::new(4);
    let body = Arc::new(std::sync::Mutex::new(Some(body)));
    let service = ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service_fn(move |_req: Request<Empty<Bytes>>| {
            let body = body.lock().unwrap().take().unwrap();
            async move { Ok::<_, Infallible>(Response::new(body)) }
        });
    let response = service.oneshot(Request::new(Empty::new())).await.unwrap();
    let mut body = response.into_body();
    sender
        .send_data(Bytes::from_static(b"first"))
        .await
        .unwrap();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "first");
    assert!(sink.spans().is_empty(), "span ended before the body did");
    drop(sender);
    assert!(body.frame().await.is_none());
    assert_eq!(sink.spans().len(), 1);
}

/// A task spawned with `in_current_span` holds the server span after the response: the
/// span is exported when the task ends, but ends, as the request and its duration metric
/// do, with the response. Its end time was the task's end.
#[tokio::test(flavor = "current_thread")]
async fn a_task_spawned_in_the_request_does_not_stretch_its_span() {
    use tracing::Instrument;
    let (sink, _guard) = install();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let released = Arc::new(std::sync::Mutex::new(Some(released)));
    let (finished, task_finished) = tokio::sync::oneshot::channel::<()>();
    let finished = Arc::new(std::sync::Mutex::new(Some(finished)));
    let app = Router::new()
        .route(
            "/background",
            get(move || {
                let released = released.lock().unwrap().take().unwrap();
                let finished = finished.lock().unwrap().take().unwrap();
                tokio::spawn(
                    async move {
                        let _ = released.await;
                        tracing::info!("background work done");
                        let _ = finished.send(());
                    }
                    .in_current_span(),
                );
                async { "accepted" }
            }),
        )
        .layer(HttpServerLayer::new());
    let request = Request::get("/background")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(app, request).await.body(), "accepted");
    assert!(sink.spans().is_empty(), "the task still holds the span");
    // A moment after the response, on the spans' clock.
    tracing::info_span!("after the response").in_scope(|| {});
    release.send(()).unwrap();
    task_finished.await.unwrap();

    let server = only(&sink, SpanKind::Server);
    let spans = sink.spans();
    let after = spans
        .iter()
        .find(|s| s.name == "after the response")
        .unwrap();
    assert_eq!(server.name, "GET /background");
    assert!(
        server.end_time <= after.start_time,
        "the span ended with the task, not the response: {:?} > {:?}",
        server.end_time,
        after.start_time
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_body_ends_the_span() {
    let (sink, _guard) = install();
    let service = ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service_fn(|_req: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"unread"))))
        });
    let response = service.oneshot(Request::new(Empty::new())).await.unwrap();
    assert!(sink.spans().is_empty());
    drop(response);
    assert_eq!(sink.spans().len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn an_empty_body_ends_the_span_with_the_head() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let service = ServiceBuilder::new()
        .layer(HttpServerLayer::new().with_registry(&registry))
        .service_fn(|_req: Request<Empty<Bytes>>| async {
            let response = Response::builder()
                .status(StatusCode::NO_CONTENT)
                .body(Empty::<Bytes>::new())
                .unwrap();
            Ok::<_, Infallible>(response)
        });
    // A server never polls a body that has ended already (hyper sends the head with the
    // end of stream): the request is over with the head, not whenever the body is dropped.
    let response = service.oneshot(Request::new(Empty::new())).await.unwrap();
    let span = only(&sink, SpanKind::Server);
    assert_eq!(
        attr(&span, "http.response.status_code"),
        Some(Value::I64(204))
    );
    assert_eq!(server_duration(&registry).1, 1);
    assert_eq!(active_requests(&registry), obs_metrics::PointValue::I64(0));
    // The body still reads as the empty body it is.
    assert!(response.into_body().frame().await.is_none());
    assert_eq!(sink.spans().len(), 1);
}

#[derive(Debug)]
struct Refused;

#[tokio::test(flavor = "current_thread")]
async fn an_inner_error_passes_through_and_is_recorded() {
    let (sink, _guard) = install();
    let service = ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service_fn(|_req: Request<Empty<Bytes>>| async {
            Err::<Response<Empty<Bytes>>, _>(Refused)
        });
    let result = service.oneshot(Request::new(Empty::new())).await;
    assert!(matches!(result, Err(Refused)));
    let span = only(&sink, SpanKind::Server);
    assert!(matches!(span.status, Status::Error { .. }));
    assert!(str_attr(&span, "error.type").unwrap().ends_with("Refused"));
}

/// The one `http.server.request.duration` point of `registry`: its labels and count.
fn server_duration(registry: &obs_metrics::Registry) -> (Vec<(String, String)>, u64) {
    let duration = family(registry, "http_server_request_duration_seconds");
    assert_eq!(duration.points.len(), 1, "{duration:?}");
    let point = &duration.points[0];
    let obs_metrics::PointValue::Histogram(histogram) = &point.value else {
        panic!("not a histogram: {point:?}");
    };
    (point.labels.clone(), histogram.count)
}

fn active_requests(registry: &obs_metrics::Registry) -> obs_metrics::PointValue {
    family(registry, "http_server_active_requests").points[0]
        .value
        .clone()
}

#[test]
fn a_panic_in_the_inner_call_still_ends_the_request() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let mut service = ServiceBuilder::new()
        .layer(HttpServerLayer::new().with_registry(&registry))
        .service_fn(
            |_req: Request<Empty<Bytes>>| -> std::future::Ready<Result<Response<Empty<Bytes>>, Infallible>> {
                panic!("the inner call panicked")
            },
        );
    let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        service.call(Request::new(Empty::new()))
    }));
    assert!(called.is_err());
    assert_eq!(active_requests(&registry), obs_metrics::PointValue::I64(0));
    assert_panicked(&sink, &registry, None);
}

/// The request ended as failed by a panic: on its span, and on its duration point (`route`
/// its `http_route` label).
fn assert_panicked(sink: &InMemorySpanSink, registry: &obs_metrics::Registry, route: Option<&str>) {
    let span = only(sink, SpanKind::Server);
    assert!(matches!(span.status, Status::Error { .. }), "{span:?}");
    assert_eq!(str_attr(&span, "error.type").as_deref(), Some("panic"));
    assert_eq!(attr(&span, "http.response.status_code"), None);
    let mut expected = vec![("http_request_method", "GET"), ("url_scheme", "http")];
    expected.extend(route.map(|route| ("http_route", route)));
    expected.push(("network_protocol_version", "1.1"));
    expected.push(("error_type", "panic"));
    assert_eq!(server_duration(registry), (labels(&expected), 1));
}

async fn panicking_handler() -> &'static str {
    panic!("the handler panicked")
}

/// An app whose `/boom` handler panics, measured in `registry`, and a request for it.
fn panicking_route(registry: &obs_metrics::Registry) -> (Router, Request<axum::body::Body>) {
    let app = Router::new()
        .route("/boom", get(panicking_handler))
        .layer(HttpServerLayer::new().with_registry(registry));
    let request = Request::get("/boom")
        .body(axum::body::Body::empty())
        .unwrap();
    (app, request)
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_handler_fails_the_request() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let (app, request) = panicking_route(&registry);
    // The runtime drops the task's future while the panic unwinds.
    let joined = tokio::spawn(app.oneshot(request)).await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(active_requests(&registry), obs_metrics::PointValue::I64(0));
    assert_panicked(&sink, &registry, Some("/boom"));
}

#[test]
fn a_panic_caught_further_out_still_fails_the_request() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let (app, request) = panicking_route(&registry);
    let mut future = Box::pin(app.oneshot(request));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    // As tower-http's `CatchPanic` does: the panic is caught, the future dropped later.
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        future.as_mut().poll(&mut cx)
    }));
    assert!(polled.is_err());
    // The call ended with the panic; its span closes when the future goes.
    assert_eq!(active_requests(&registry), obs_metrics::PointValue::I64(0));
    assert_eq!(server_duration(&registry).1, 1);
    drop(future);
    assert_panicked(&sink, &registry, Some("/boom"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_body_dropped_by_a_panic_elsewhere_fails_the_request() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let service = ServiceBuilder::new()
        .layer(HttpServerLayer::new().with_registry(&registry))
        .service_fn(|_req: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"unsent"))))
        });
    let response = service.oneshot(Request::new(Empty::new())).await.unwrap();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _body = response.into_body();
        panic!("whatever sends the body panicked");
    }));
    assert!(unwound.is_err());
    let span = only(&sink, SpanKind::Server);
    assert_eq!(str_attr(&span, "error.type").as_deref(), Some("panic"));
    assert_eq!(
        attr(&span, "http.response.status_code"),
        Some(Value::I64(200))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_request_is_not_an_error() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let service = ServiceBuilder::new()
        .layer(HttpServerLayer::new().with_registry(&registry))
        .service_fn(|_req: Request<Empty<Bytes>>| {
            std::future::pending::<Result<Response<Empty<Bytes>>, Infallible>>()
        });
    let mut future = Box::pin(service.oneshot(Request::new(Empty::new())));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    // The client went away: the server drops the future.
    drop(future);
    let span = only(&sink, SpanKind::Server);
    assert_eq!(span.status, Status::Unset);
    assert_eq!(attr(&span, "error.type"), None);
    assert_eq!(active_requests(&registry), obs_metrics::PointValue::I64(0));
    let labels = labels(&[
        ("http_request_method", "GET"),
        ("url_scheme", "http"),
        ("network_protocol_version", "1.1"),
    ]);
    assert_eq!(server_duration(&registry), (labels, 1));
}

/// A downstream service that records the headers it received and answers `status`.
fn downstream(
    seen: Captured<HeaderMap>,
    status: StatusCode,
) -> impl Service<
    Request<Empty<Bytes>>,
    Response = Response<Empty<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    tower::service_fn(move |req: Request<Empty<Bytes>>| {
        seen.push(req.headers().clone());
        let mut response = Response::new(Empty::new());
        *response.status_mut() = status;
        async move { Ok::<_, Infallible>(response) }
    })
}

/// A server whose handler opens its own span, logs, and calls `downstream` through the
/// client layer, with a stale `traceparent` the layer must replace.
fn server_calling_downstream(
    seen: Captured<HeaderMap>,
    status: StatusCode,
) -> impl Service<Request<Empty<Bytes>>, Response = Response<impl http_body::Body>, Error = Infallible>
{
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01"
            .parse()
            .unwrap(),
    );
    server_calling_downstream_with(seen, status, headers)
}

/// [`server_calling_downstream`], the outgoing request carrying `headers`, as the
/// application set them.
fn server_calling_downstream_with(
    seen: Captured<HeaderMap>,
    status: StatusCode,
    headers: HeaderMap,
) -> impl Service<Request<Empty<Bytes>>, Response = Response<impl http_body::Body>, Error = Infallible>
{
    let client = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service(downstream(seen, status));
    ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service_fn(move |_req: Request<Empty<Bytes>>| {
            let client = client.clone();
            let headers = headers.clone();
            async move {
                let work = tracing::info_span!("handler work");
                work.in_scope(|| tracing::error!("inside the handler"));
                let mut request = Request::post("http://downstream.internal:9000/v1/items?sig=s")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                *request.headers_mut() = headers;
                let response = client.oneshot(request).await?;
                Ok::<_, Infallible>(Response::new(response.into_body()))
            }
        })
}

#[tokio::test(flavor = "current_thread")]
async fn the_incoming_trace_reaches_the_handler_spans_and_the_outgoing_call() {
    let (sink, _guard) = install();
    let seen = Captured::default();
    let request = Request::get("/")
        .header("traceparent", traceparent("01"))
        .header("tracestate", "vendor=v1")
        .header("baggage", "tenant=acme")
        .body(Empty::new())
        .unwrap();
    let service = server_calling_downstream(seen.clone(), StatusCode::CREATED);
    drop(service.oneshot(request).await.unwrap());

    let server = only(&sink, SpanKind::Server);
    let client = only(&sink, SpanKind::Client);
    let work = sink
        .spans()
        .into_iter()
        .find(|s| s.name == "handler work")
        .unwrap();
    assert_eq!(server.span_context.trace_id.to_string(), TRACE_ID);
    assert_eq!(work.parent_span_id, server.span_context.span_id);
    assert_eq!(client.parent_span_id, server.span_context.span_id);
    assert_eq!(client.span_context.trace_id, server.span_context.trace_id);

    assert_eq!(client.name, "POST");
    assert_eq!(
        str_attr(&client, "server.address").as_deref(),
        Some("downstream.internal")
    );
    assert_eq!(attr(&client, "server.port"), Some(Value::I64(9000)));
    assert_eq!(
        str_attr(&client, "url.full").as_deref(),
        Some("http://downstream.internal:9000/v1/items?sig=REDACTED")
    );
    assert_eq!(
        attr(&client, "http.response.status_code"),
        Some(Value::I64(201))
    );
    assert_eq!(
        str_attr(&client, "network.protocol.version").as_deref(),
        Some("1.1"),
        "the response's version"
    );
    assert_eq!(client.status, Status::Unset);

    let headers = seen.all();
    assert_eq!(headers.len(), 1);
    let sent: Vec<_> = headers[0].get_all("traceparent").iter().collect();
    assert_eq!(
        sent.len(),
        1,
        "exactly one traceparent, the stale one replaced"
    );
    assert_eq!(
        sent[0].to_str().unwrap(),
        format!("00-{TRACE_ID}-{}-01", client.span_context.span_id)
    );
    assert_eq!(headers[0]["tracestate"], "vendor=v1");
    assert_eq!(headers[0]["baggage"], "tenant=acme");
}

/// W3C Baggage: the layer writes `baggage` only when the context has some, replacing the
/// application's header then (inject *sets* its fields, as the OpenTelemetry propagators
/// API has it), and leaving it alone otherwise; `traceparent` and `tracestate` are always
/// the layer's, whatever the application set.
#[tokio::test(flavor = "current_thread")]
async fn an_application_baggage_header_is_kept_unless_the_context_has_baggage() {
    let (sink, _guard) = install();
    let mut application = HeaderMap::new();
    for (name, value) in [
        (
            "traceparent",
            "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01",
        ),
        ("tracestate", "app=stale"),
        ("baggage", "app=1"),
    ] {
        application.insert(name, value.parse().unwrap());
    }
    // (incoming tracestate and baggage, the tracestate and baggage sent downstream)
    let cases = [
        (None, None, None, Some("app=1")),
        (
            Some("vendor=v1"),
            Some("tenant=acme"),
            Some("vendor=v1"),
            Some("tenant=acme"),
        ),
    ];
    for (tracestate, baggage, sent_tracestate, sent_baggage) in cases {
        let seen = Captured::default();
        let mut request = Request::get("/").header("traceparent", traceparent("01"));
        if let Some(tracestate) = tracestate {
            request = request.header("tracestate", tracestate);
        }
        if let Some(baggage) = baggage {
            request = request.header("baggage", baggage);
        }
        let service =
            server_calling_downstream_with(seen.clone(), StatusCode::OK, application.clone());
        let response = service
            .oneshot(request.body(Empty::new()).unwrap())
            .await
            .unwrap();
        drop(response);
        let client = only(&sink, SpanKind::Client);
        sink.take();
        let headers = &seen.all()[0];
        let values = |name: &str| -> Vec<&str> {
            let values = headers.get_all(name).iter();
            values.map(|v| v.to_str().unwrap()).collect()
        };
        let expected = format!("00-{TRACE_ID}-{}-01", client.span_context.span_id);
        assert_eq!(values("traceparent"), [expected.as_str()], "{baggage:?}");
        assert_eq!(values("tracestate"), Vec::from_iter(sent_tracestate));
        assert_eq!(values("baggage"), Vec::from_iter(sent_baggage));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn client_spans_fail_on_4xx() {
    let (sink, _guard) = install();
    let seen = Captured::default();
    let service = server_calling_downstream(seen, StatusCode::NOT_FOUND);
    drop(service.oneshot(Request::new(Empty::new())).await.unwrap());
    let client = only(&sink, SpanKind::Client);
    assert!(matches!(client.status, Status::Error { .. }));
    assert_eq!(str_attr(&client, "error.type").as_deref(), Some("404"));
}

/// HTTP spans, "Status": "For HTTP status codes in the 5xx range, as well as any other code
/// the client failed to interpret, span status SHOULD be set to `Error`". RFC 9110 §15
/// defines codes 100 to 599 only; hyper and `http` still pass on three-digit codes up to
/// 999.
#[tokio::test(flavor = "current_thread")]
async fn status_codes_beyond_599_fail_client_and_server_spans() {
    let (sink, _guard) = install();
    let seen = Captured::default();
    let uninterpretable = StatusCode::from_u16(999).unwrap();
    let service = server_calling_downstream(seen, uninterpretable);
    drop(service.oneshot(Request::new(Empty::new())).await.unwrap());
    let request = Request::get("/status/600")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(app(), request).await.status().as_u16(), 600);
    let spans = sink.take();
    let outcomes: Vec<_> = spans
        .iter()
        .filter(|s| matches!(s.kind, SpanKind::Client | SpanKind::Server))
        .map(|s| {
            let failed = matches!(s.status, Status::Error { .. });
            (s.kind.clone(), failed, str_attr(s, "error.type"))
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (SpanKind::Client, true, Some("999".to_owned())),
            // The server relayed a 200 with the downstream body.
            (SpanKind::Server, false, None),
            (SpanKind::Server, true, Some("600".to_owned())),
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_unsampled_request_still_propagates_its_trace_id() {
    let (sink, _guard) = install();
    let seen = Captured::default();
    let request = Request::get("/")
        .header("traceparent", traceparent("00"))
        .body(Empty::new())
        .unwrap();
    let service = server_calling_downstream(seen.clone(), StatusCode::OK);
    drop(service.oneshot(request).await.unwrap());
    assert!(
        sink.spans().is_empty(),
        "parent-based sampling keeps the caller's no"
    );
    let headers = seen.all();
    let sent = headers[0]["traceparent"].to_str().unwrap();
    assert!(sent.starts_with(&format!("00-{TRACE_ID}-")), "{sent}");
    assert!(sent.ends_with("-00"), "{sent}");
    assert!(!sent.contains(PARENT_ID), "a fresh parent id: {sent}");
}

#[tokio::test(flavor = "current_thread")]
async fn filtering_logs_to_error_loses_no_span() {
    let sink = InMemorySpanSink::new();
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new().with_sink(Arc::new(sink.clone())))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(tracing_subscriber::EnvFilter::new("error")),
        );
    let _guard = tracing::subscriber::set_default(subscriber);
    let seen = Captured::default();
    let request = Request::get("/")
        .header("traceparent", traceparent("01"))
        .body(Empty::new())
        .unwrap();
    let service = server_calling_downstream(seen.clone(), StatusCode::OK);
    drop(service.oneshot(request).await.unwrap());
    let server = only(&sink, SpanKind::Server);
    assert_eq!(server.span_context.trace_id.to_string(), TRACE_ID);
    assert!(
        seen.all()[0]["traceparent"]
            .to_str()
            .unwrap()
            .contains(TRACE_ID)
    );
}

/// The trace id obs has current at each event (what a log line is stamped with).
#[derive(Clone, Default)]
struct EventTraceIds(Captured<Option<String>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for EventTraceIds {
    fn on_event(
        &self,
        _event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0
            .push(obs_trace::current_span_context().map(|c| c.trace_id.to_string()));
    }
}

/// A global filter (a `LevelFilter`, or an `EnvFilter` added as a layer of its own, the
/// usual `tracing` set-up) disables the server span for every layer, and a subscriber may
/// have no span layer at all: either way the caller's trace still reaches the handler's
/// logs and its outgoing call, with the caller's sampled flag, as W3C Trace Context asks
/// of a participant that records nothing. Before, the handler's logs had no trace id and
/// its call went out with the stale `traceparent` it was given.
#[tokio::test(flavor = "current_thread")]
async fn a_server_span_no_span_layer_saw_still_passes_the_callers_trace_on() {
    for (with_span_layer, flags) in [(true, "01"), (false, "01"), (true, "00")] {
        let events = EventTraceIds::default();
        let sink = InMemorySpanSink::new();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::ERROR)
            .with(with_span_layer.then(|| SpanLayer::new().with_sink(Arc::new(sink.clone()))))
            .with(events.clone());
        let _guard = tracing::subscriber::set_default(subscriber);
        let seen = Captured::default();
        let request = Request::get("/")
            .header("traceparent", traceparent(flags))
            .body(Empty::new())
            .unwrap();
        let service = server_calling_downstream(seen.clone(), StatusCode::OK);
        drop(service.oneshot(request).await.unwrap());
        let case = format!("span layer {with_span_layer}, flags {flags}");
        assert!(sink.spans().is_empty(), "{case}: every span is disabled");
        assert_eq!(
            events.0.all(),
            [Some(TRACE_ID.to_owned())],
            "{case}: the handler's error log"
        );
        let sent = seen.all()[0]["traceparent"].to_str().unwrap().to_owned();
        assert_eq!(sent, traceparent(flags), "{case}");
        // Out of the request, nothing of it stays current.
        assert_eq!(obs_trace::current_span_context(), None, "{case}");
    }
}

/// W3C Baggage does not hang on Trace Context: with the server span disabled for every
/// layer (a global filter, or no span layer), baggage that came without a `traceparent`
/// still reaches the handler's outgoing call, as baggage that came with one does.
#[tokio::test(flavor = "current_thread")]
async fn a_server_span_no_span_layer_saw_still_passes_baggage_on_without_a_traceparent() {
    for (with_span_layer, flags) in [(true, None), (false, None), (true, Some("01"))] {
        let sink = InMemorySpanSink::new();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::ERROR)
            .with(with_span_layer.then(|| SpanLayer::new().with_sink(Arc::new(sink.clone()))));
        let _guard = tracing::subscriber::set_default(subscriber);
        let seen = Captured::default();
        let mut request = Request::get("/").header("baggage", "tenant=acme");
        if let Some(flags) = flags {
            request = request.header("traceparent", traceparent(flags));
        }
        let service =
            server_calling_downstream_with(seen.clone(), StatusCode::OK, HeaderMap::new());
        drop(
            service
                .oneshot(request.body(Empty::new()).unwrap())
                .await
                .unwrap(),
        );
        let case = format!("span layer {with_span_layer}, flags {flags:?}");
        assert!(sink.spans().is_empty(), "{case}: every span is disabled");
        let sent = &seen.all()[0];
        assert_eq!(
            sent.get("baggage").map(|v| v.to_str().unwrap()),
            Some("tenant=acme"),
            "{case}"
        );
        let expected = flags.map(traceparent);
        let traceparent = sent
            .get("traceparent")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(traceparent, expected, "{case}");
        assert_eq!(obs_trace::current_span_context(), None, "{case}");
    }
}

/// Under a global filter that disables the server span, a span the filter lets through in
/// the handler continues the caller's trace, as the server span's child would.
#[tokio::test(flavor = "current_thread")]
async fn a_handler_span_under_a_disabled_server_span_continues_the_callers_trace() {
    let sink = InMemorySpanSink::new();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::WARN)
        .with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    let _guard = tracing::subscriber::set_default(subscriber);
    let service = ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service_fn(|_req: Request<Empty<Bytes>>| async {
            tracing::warn_span!("slow query").in_scope(|| ());
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        });
    let request = Request::get("/")
        .header("traceparent", traceparent("01"))
        .body(Empty::new())
        .unwrap();
    drop(service.oneshot(request).await.unwrap());
    let spans = sink.spans();
    assert_eq!(spans.len(), 1, "only the handler's span is enabled");
    assert_eq!(spans[0].name, "slow query");
    assert_eq!(spans[0].span_context.trace_id.to_string(), TRACE_ID);
    assert_eq!(spans[0].parent_span_id.to_string(), PARENT_ID);
}

/// The server layer placed before or after other common layers keeps the caller's context.
#[tokio::test(flavor = "current_thread")]
async fn layer_order_does_not_lose_the_context() {
    let (sink, _guard) = install();
    let handler = |_req: Request<Empty<Bytes>>| async {
        tracing::info_span!("inner").in_scope(|| ());
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    };
    let request = || {
        Request::get("/")
            .header("traceparent", traceparent("01"))
            .body(Empty::new())
            .unwrap()
    };
    let map = tower::util::MapRequestLayer::new(|r: Request<Empty<Bytes>>| r);
    let outer = ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(map.clone())
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(5)))
        .service_fn(handler);
    drop(outer.oneshot(request()).await.unwrap());
    let inner = ServiceBuilder::new()
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(map)
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(5)))
        .layer(HttpServerLayer::new())
        .service_fn(handler);
    drop(inner.oneshot(request()).await.unwrap());

    let spans = sink.take();
    let servers: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server)
        .collect();
    assert_eq!(servers.len(), 2);
    for server in servers {
        assert_eq!(server.span_context.trace_id.to_string(), TRACE_ID);
        assert_eq!(server.parent_span_id.to_string(), PARENT_ID);
        // Layers inside the server layer (TraceLayer's own span) may sit in between.
        let descends_from_server = |span: &SpanData| {
            let mut parent = span.parent_span_id;
            for _ in 0..spans.len() {
                if parent == server.span_context.span_id {
                    return true;
                }
                match spans.iter().find(|s| s.span_context.span_id == parent) {
                    Some(p) => parent = p.parent_span_id,
                    None => return false,
                }
            }
            false
        };
        let inner = spans.iter().filter(|s| s.name == "inner");
        assert_eq!(inner.filter(|s| descends_from_server(s)).count(), 1);
    }
}

#[tracing::instrument]
async fn instrumented_step() {}

#[tokio::test(flavor = "current_thread")]
async fn instrumented_functions_in_the_handler_are_children_of_the_server_span() {
    let (sink, _guard) = install();
    let app = Router::new()
        .route("/i", get(|| async { instrumented_step().await }))
        .layer(HttpServerLayer::new());
    send(
        app,
        Request::get("/i").body(axum::body::Body::empty()).unwrap(),
    )
    .await;
    let server = only(&sink, SpanKind::Server);
    let step = sink
        .spans()
        .into_iter()
        .find(|s| s.name == "instrumented_step")
        .unwrap();
    assert_eq!(step.parent_span_id, server.span_context.span_id);
}

fn family(registry: &obs_metrics::Registry, name: &str) -> obs_metrics::MetricFamilySnapshot {
    registry
        .collect()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name}"))
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn server_metrics_are_recorded_at_body_end_with_a_span_exemplar() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    // A body to send: an empty one would end the request with the head.
    let app = Router::new()
        .route(
            "/status/{code}",
            get(|code| async { (status_handler(code).await, "unavailable") }),
        )
        .layer(HttpServerLayer::new().with_registry(&registry));
    let request = Request::get("/status/503")
        .header("traceparent", traceparent("01"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let active = family(&registry, "http_server_active_requests");
    assert_eq!(
        active.points[0].value,
        obs_metrics::PointValue::I64(1),
        "body not sent yet"
    );
    assert!(
        family(&registry, "http_server_request_duration_seconds")
            .points
            .is_empty()
    );
    drop(response);

    let active = family(&registry, "http_server_active_requests");
    assert_eq!(
        active.kind,
        obs_metrics::MetricKind::UpDownCounter,
        "semconv: http.server.active_requests is an UpDownCounter"
    );
    assert_eq!(active.points[0].value, obs_metrics::PointValue::I64(0));
    assert_eq!(
        active.points[0].labels,
        labels(&[("http_request_method", "GET"), ("url_scheme", "http")])
    );
    let duration = family(&registry, "http_server_request_duration_seconds");
    assert_eq!(duration.points.len(), 1);
    let point = &duration.points[0];
    assert_eq!(
        point.labels,
        labels(&[
            ("http_request_method", "GET"),
            ("url_scheme", "http"),
            ("http_route", "/status/{code}"),
            ("network_protocol_version", "1.1"),
            ("http_response_status_code", "503"),
            ("error_type", "503"),
        ])
    );
    let obs_metrics::PointValue::Histogram(histogram) = &point.value else {
        panic!("not a histogram: {point:?}");
    };
    assert_eq!(histogram.count, 1);
    let server = only(&sink, SpanKind::Server);
    assert_eq!(point.exemplars.len(), 1);
    assert_eq!(point.exemplars[0].trace_id, server.span_context.trace_id);
    assert_eq!(point.exemplars[0].span_id, server.span_context.span_id);
}

#[tokio::test(flavor = "current_thread")]
async fn client_metrics_carry_the_server_address_and_port() {
    let (_sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let client = ServiceBuilder::new()
        .layer(HttpClientLayer::new().with_registry(&registry))
        .service(downstream(Captured::default(), StatusCode::BAD_GATEWAY));
    for uri in ["http://svc.internal/a", "https://secure.example:8443/b"] {
        let request = Request::get(uri).body(Empty::<Bytes>::new()).unwrap();
        drop(client.clone().oneshot(request).await.unwrap());
    }
    let duration = family(&registry, "http_client_request_duration_seconds");
    let mut seen: Vec<_> = duration.points.iter().map(|p| p.labels.clone()).collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            labels(&[
                ("http_request_method", "GET"),
                ("server_address", "secure.example"),
                ("server_port", "8443"),
                ("network_protocol_version", "1.1"),
                ("http_response_status_code", "502"),
                ("error_type", "502"),
            ]),
            labels(&[
                ("http_request_method", "GET"),
                ("server_address", "svc.internal"),
                ("server_port", "80"),
                ("network_protocol_version", "1.1"),
                ("http_response_status_code", "502"),
                ("error_type", "502"),
            ]),
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn no_port_or_url_is_recorded_without_a_host() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let client = ServiceBuilder::new()
        .layer(HttpClientLayer::new().with_registry(&registry))
        .service(downstream(Captured::default(), StatusCode::OK));
    let request = Request::get("/rel").body(Empty::<Bytes>::new()).unwrap();
    drop(client.oneshot(request).await.unwrap());
    let server = ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service(downstream(Captured::default(), StatusCode::OK));
    let request = Request::get("/x")
        .header("host", ":8080")
        .body(Empty::new())
        .unwrap();
    drop(server.oneshot(request).await.unwrap());

    for span in [only(&sink, SpanKind::Client), only(&sink, SpanKind::Server)] {
        for key in ["server.address", "server.port", "url.full"] {
            assert_eq!(attr(&span, key), None, "{key} of {:?}", span.kind);
        }
    }
    let duration = family(&registry, "http_client_request_duration_seconds");
    assert_eq!(
        duration.points[0].labels,
        labels(&[
            ("http_request_method", "GET"),
            ("network_protocol_version", "1.1"),
            ("http_response_status_code", "200"),
        ])
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_reqwest_middleware_traces_and_injects() {
    let (sink, _guard) = install();
    let seen: Captured<HeaderMap> = Captured::default();
    let recorder = seen.clone();
    let server = Router::new().route(
        "/r",
        get(move |headers: HeaderMap| {
            recorder.push(headers);
            async { StatusCode::IM_A_TEAPOT }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, server).await });

    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(crate::reqwest::TracingMiddleware::new(
            HttpClientLayer::new().with_registry(&obs_metrics::Registry::new()),
        ))
        .build();
    let response = client
        .get(format!("http://{addr}/r?sig=secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);

    let span = only(&sink, SpanKind::Client);
    assert_eq!(span.name, "GET");
    assert_eq!(
        attr(&span, "http.response.status_code"),
        Some(Value::I64(418))
    );
    assert_eq!(
        str_attr(&span, "network.protocol.version").as_deref(),
        Some("1.1")
    );
    assert!(matches!(span.status, Status::Error { .. }));
    assert_eq!(
        str_attr(&span, "url.full"),
        Some(format!("http://{addr}/r?sig=REDACTED"))
    );
    let headers = seen.all();
    assert_eq!(
        headers[0]["traceparent"].to_str().unwrap(),
        format!(
            "00-{}-{}-03",
            span.span_context.trace_id, span.span_context.span_id
        )
    );
}

#[tokio::test(flavor = "current_thread")]
async fn skipping_unsampled_spans_still_gives_each_call_a_fresh_parent_id() {
    let subscriber = tracing_subscriber::registry().with(
        SpanLayer::new()
            .with_sink(Arc::new(InMemorySpanSink::new()))
            .with_unsampled_spans(obs_trace::UnsampledSpans::Skip)
            .with_traces_filter(
                tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO),
            ),
    );
    let _guard = tracing::subscriber::set_default(subscriber);
    let seen = Captured::default();
    for _ in 0..2 {
        let request = Request::get("/")
            .header("traceparent", traceparent("00"))
            .body(Empty::new())
            .unwrap();
        let service = server_calling_downstream(seen.clone(), StatusCode::OK);
        drop(service.oneshot(request).await.unwrap());
    }
    let sent: Vec<String> = seen
        .all()
        .iter()
        .map(|h| h["traceparent"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent.len(), 2);
    for value in &sent {
        assert!(value.starts_with(&format!("00-{TRACE_ID}-")) && value.ends_with("-00"));
        assert!(!value.contains(PARENT_ID), "{value}");
    }
    assert_ne!(sent[0], sent[1], "a fresh parent id per call");
}

#[tokio::test(flavor = "current_thread")]
async fn the_peer_address_from_connect_info_is_the_client_and_the_network_peer() {
    let (sink, _guard) = install();
    let mut request = Request::get("/status/204")
        .body(axum::body::Body::empty())
        .unwrap();
    let peer: std::net::SocketAddr = "192.0.2.7:51000".parse().unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    send(app(), request).await;
    let span = only(&sink, SpanKind::Server);
    assert_eq!(
        str_attr(&span, "client.address").as_deref(),
        Some("192.0.2.7")
    );
    assert_eq!(
        str_attr(&span, "network.peer.address").as_deref(),
        Some("192.0.2.7")
    );
    assert_eq!(attr(&span, "network.peer.port"), Some(Value::I64(51000)));
}

#[tokio::test(flavor = "current_thread")]
async fn an_ipv4_peer_of_a_dual_stack_socket_is_recorded_as_ipv4() {
    let (sink, _guard) = install();
    let mut request = Request::get("/status/204")
        .body(axum::body::Body::empty())
        .unwrap();
    // What a server bound to `[::]` is told of an IPv4 client.
    let peer: std::net::SocketAddr = "[::ffff:192.0.2.7]:51000".parse().unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    send(app(), request).await;
    let span = only(&sink, SpanKind::Server);
    for key in ["client.address", "network.peer.address"] {
        assert_eq!(str_attr(&span, key).as_deref(), Some("192.0.2.7"), "{key}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_body_ends_the_span_as_an_error() {
    let (sink, _guard) = install();
    let (sender, body) = http_body_util::channel::Channel::<Bytes, Refused>::new(1);
    let body = Arc::new(std::sync::Mutex::new(Some(body)));
    let service = ServiceBuilder::new()
        .layer(HttpServerLayer::new())
        .service_fn(move |_req: Request<Empty<Bytes>>| {
            let body = body.lock().unwrap().take().unwrap();
            async move { Ok::<_, Infallible>(Response::new(body)) }
        });
    let response = service.oneshot(Request::new(Empty::new())).await.unwrap();
    let mut body = response.into_body();
    sender.abort(Refused);
    assert!(matches!(body.frame().await, Some(Err(Refused))));
    let span = only(&sink, SpanKind::Server);
    assert_eq!(
        attr(&span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    assert!(matches!(span.status, Status::Error { .. }));
    assert!(str_attr(&span, "error.type").unwrap().ends_with("Refused"));
}

/// A client through the layer to a service answering each request `200 OK` with a body that
/// sends `first`, then stays open for good: what a caller reads of it, and when it drops it,
/// is the test's.
fn client_of_open_bodies(
    registry: &obs_metrics::Registry,
) -> impl Service<
    Request<Empty<Bytes>>,
    Response = Response<impl http_body::Body<Data = Bytes, Error = Infallible>>,
    Error = Infallible,
> + Clone {
    ServiceBuilder::new()
        .layer(HttpClientLayer::new().with_registry(registry))
        .service_fn(move |_req: Request<Empty<Bytes>>| async move {
            let (mut sender, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(1);
            let frame = http_body::Frame::data(Bytes::from_static(b"first"));
            assert!(sender.try_send(frame).is_ok());
            // The task, which never ends, keeps the sender: the stream stays open.
            tokio::spawn(async move {
                let _sender = sender;
                std::future::pending::<()>().await;
            });
            Ok::<_, Infallible>(Response::new(body))
        })
}

/// The `error_type` label of each `http.client.request.duration` series, with its count.
fn client_error_types(registry: &obs_metrics::Registry) -> Vec<(Option<String>, u64)> {
    family(registry, "http_client_request_duration_seconds")
        .points
        .iter()
        .map(|p| {
            let error_type = p.labels.iter().find(|(k, _)| k == "error_type");
            let obs_metrics::PointValue::Histogram(h) = &p.value else {
                panic!("not a histogram: {p:?}");
            };
            (error_type.map(|(_, v)| v.clone()), h.count)
        })
        .collect()
}

/// A caller that drops the response body before its end ends the CLIENT span and the
/// duration there, with the status received, not failed: clients stop reading on purpose,
/// and the HTTP conventions let a client span end once the head is read.
#[tokio::test(flavor = "current_thread")]
async fn a_response_body_dropped_mid_stream_ends_the_client_request_unfailed() {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let client = client_of_open_bodies(&registry);
    let request = Request::get("http://svc.internal/feed")
        .body(Empty::new())
        .unwrap();
    let mut body = client.oneshot(request).await.unwrap().into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "first");
    assert!(sink.spans().is_empty(), "the response is still coming");
    drop(body);
    let span = only(&sink, SpanKind::Client);
    assert_eq!(
        attr(&span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    assert!(matches!(span.status, Status::Unset), "{span:?}");
    assert_eq!(str_attr(&span, "error.type"), None);
    assert_eq!(client_error_types(&registry), [(None, 1)]);
}

/// A 2xx to a `CONNECT` has no content (RFC 9110 §6.4.1, §9.3.6): the connection becomes a
/// tunnel, and the server drops whatever body the service gave it. That is no client
/// leaving mid-body; the same body dropped after a `GET`'s 200 is.
#[tokio::test(flavor = "current_thread")]
async fn a_connect_2xx_body_dropped_unread_is_no_failure() {
    let (sink, _guard) = install();
    let service = ServiceBuilder::new()
        .layer(HttpServerLayer::new().with_registry(&obs_metrics::Registry::new()))
        .service_fn(|_req: Request<Empty<Bytes>>| async move {
            let (sender, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(1);
            // The task, which never ends, keeps the sender: the stream stays open.
            tokio::spawn(async move {
                let _sender = sender;
                std::future::pending::<()>().await;
            });
            Ok::<_, Infallible>(Response::new(body))
        });
    for (method, uri, failed) in [
        (Method::CONNECT, "db.internal:5432", false),
        (Method::GET, "/feed", true),
    ] {
        let request = Request::builder()
            .method(method.clone())
            .uri(uri)
            .body(Empty::new())
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        drop(response);
        let span = sink.spans().pop().expect("the span ended with its body");
        assert_eq!(span.kind, SpanKind::Server);
        let error_type = str_attr(&span, "error.type");
        if failed {
            assert_eq!(error_type.as_deref(), Some("CANCELLED"), "{method}");
        } else {
            assert_eq!(span.status, Status::Unset, "{method}: {span:?}");
            assert_eq!(error_type, None, "{method}");
        }
    }
}

/// The attributes proxy headers may change, in this order.
const ORIGIN_KEYS: [&str; 6] = [
    "server.address",
    "server.port",
    "url.scheme",
    "client.address",
    "network.peer.address",
    "network.peer.port",
];

/// Sends `GET /status/200` with `Host: api.internal:8080`, from the peer 192.0.2.7:51000
/// (axum's `ConnectInfo`) and with the header `lines` a proxy added, through a server layer
/// that reads proxy headers or not. Returns the server span's [`ORIGIN_KEYS`] attributes
/// (those present) and the `url_scheme` labels of `http.server.request.duration` and
/// `http.server.active_requests`.
async fn proxied(
    forwarded_headers: bool,
    lines: &[(&str, &str)],
) -> (Vec<(&'static str, Value)>, [String; 2]) {
    let (sink, _guard) = install();
    let registry = obs_metrics::Registry::new();
    let layer = HttpServerLayer::new()
        .with_registry(&registry)
        .with_forwarded_headers(forwarded_headers);
    let app = Router::new()
        .route("/status/{code}", get(status_handler))
        .layer(layer);
    let mut request = Request::get("/status/200").header("host", "api.internal:8080");
    for (name, value) in lines {
        request = request.header(*name, *value);
    }
    let mut request = request.body(axum::body::Body::empty()).unwrap();
    let peer: std::net::SocketAddr = "192.0.2.7:51000".parse().unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    assert_eq!(send(app, request).await.status(), 200);

    let span = only(&sink, SpanKind::Server);
    let origin = ORIGIN_KEYS
        .into_iter()
        .filter_map(|key| attr(&span, key).map(|value| (key, value)))
        .collect();
    let scheme = |labels: &[(String, String)]| {
        let scheme = labels.iter().find(|(name, _)| name == "url_scheme");
        scheme.map(|(_, value)| value.clone()).unwrap_or_default()
    };
    let duration = server_duration(&registry).0;
    let active = family(&registry, "http_server_active_requests").points[0]
        .labels
        .clone();
    (origin, [scheme(&duration), scheme(&active)])
}

/// `Forwarded` and `X-Forwarded-*` headers that disagree with each other and with the
/// request.
const PROXY_HEADERS: [(&str, &str); 4] = [
    (
        "forwarded",
        r#"for=203.0.113.9;host="public.example:443";proto=https, for=10.0.0.2"#,
    ),
    ("x-forwarded-for", "198.51.100.4, 10.0.0.2"),
    ("x-forwarded-host", "shop.example:8443"),
    ("x-forwarded-proto", "http"),
];

#[tokio::test(flavor = "current_thread")]
async fn proxy_headers_are_ignored_by_default() {
    let (origin, schemes) = proxied(false, &PROXY_HEADERS).await;
    assert_eq!(
        origin,
        [
            ("server.address", Value::from("api.internal")),
            ("server.port", Value::I64(8080)),
            ("url.scheme", Value::from("http")),
            ("client.address", Value::from("192.0.2.7")),
            ("network.peer.address", Value::from("192.0.2.7")),
            ("network.peer.port", Value::I64(51000)),
        ]
    );
    assert_eq!(schemes, ["http", "http"]);
}

#[tokio::test(flavor = "current_thread")]
async fn forwarded_names_the_original_request_before_x_forwarded_headers() {
    let (origin, schemes) = proxied(true, &PROXY_HEADERS).await;
    assert_eq!(
        origin,
        [
            ("server.address", Value::from("public.example")),
            ("server.port", Value::I64(443)),
            ("url.scheme", Value::from("https")),
            ("client.address", Value::from("203.0.113.9")),
            ("network.peer.address", Value::from("192.0.2.7")),
            ("network.peer.port", Value::I64(51000)),
        ]
    );
    assert_eq!(schemes, ["https", "https"]);
}

#[tokio::test(flavor = "current_thread")]
async fn x_forwarded_headers_name_the_original_request_without_forwarded() {
    let (origin, schemes) = proxied(true, &PROXY_HEADERS[1..]).await;
    assert_eq!(
        origin,
        [
            ("server.address", Value::from("shop.example")),
            ("server.port", Value::I64(8443)),
            ("url.scheme", Value::from("http")),
            ("client.address", Value::from("198.51.100.4")),
            ("network.peer.address", Value::from("192.0.2.7")),
            ("network.peer.port", Value::I64(51000)),
        ]
    );
    assert_eq!(schemes, ["http", "http"]);
}

#[tokio::test(flavor = "current_thread")]
async fn invalid_proxy_headers_fall_back_to_the_next_source() {
    // Every value unusable: the request's own, as without the option.
    let unusable = [
        ("forwarded", r#"for=unknown;host="";proto=ftp"#),
        ("x-forwarded-for", "_hidden"),
        ("x-forwarded-host", ":8443"),
        ("x-forwarded-proto", "ftp"),
    ];
    let (origin, schemes) = proxied(true, &unusable).await;
    assert_eq!(
        origin,
        [
            ("server.address", Value::from("api.internal")),
            ("server.port", Value::I64(8080)),
            ("url.scheme", Value::from("http")),
            ("client.address", Value::from("192.0.2.7")),
            ("network.peer.address", Value::from("192.0.2.7")),
            ("network.peer.port", Value::I64(51000)),
        ]
    );
    assert_eq!(schemes, ["http", "http"]);

    // A malformed `Forwarded` (unterminated quote) is ignored whole: X-Forwarded-* instead.
    let malformed = [
        ("forwarded", r#"for=203.0.113.9;host="public.example"#),
        ("x-forwarded-for", "[2001:db8::7]:4711"),
        ("x-forwarded-proto", "HTTPS"),
    ];
    let (origin, schemes) = proxied(true, &malformed).await;
    assert_eq!(
        origin,
        [
            ("server.address", Value::from("api.internal")),
            ("server.port", Value::I64(8080)),
            ("url.scheme", Value::from("https")),
            ("client.address", Value::from("2001:db8::7")),
            ("network.peer.address", Value::from("192.0.2.7")),
            ("network.peer.port", Value::I64(51000)),
        ]
    );
    assert_eq!(schemes, ["https", "https"]);
}
