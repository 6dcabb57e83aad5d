//! Real tonic servers and clients over loopback, spans in memory, composed as tonic services
//! are in practice: tower's load shedding under the server layer, a channel's own timeout.
//!
//! The tests run on current-thread runtimes, so the servers' tasks run on the test's thread
//! and see its default subscriber.

mod grpc_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use grpc_common::spans::{attribute, capture, is_error, of_kind, take_spans};
use grpc_common::{Catalog, CatalogClient, Item, ItemRequest, ItemStream};
use obs_tests::wait::wait_until;
use obs_tonic::{GrpcClientLayer, GrpcServerLayer};
use obs_trace::opentelemetry::trace::SpanKind;
use tonic::{Code, Request, Response};

/// The `id` of a `Get` that holds its handler until the gate opens.
const HOLD: u32 = 1;

/// A catalog whose `Get` of [`HOLD`] says it has begun (`entered`) and then waits for
/// `gate`; other `Get`s answer at once.
fn gated_catalog(entered: Arc<AtomicBool>, gate: Arc<tokio::sync::Notify>) -> Catalog {
    Catalog::new(
        move |request: Request<ItemRequest>| {
            let (entered, gate) = (entered.clone(), gate.clone());
            async move {
                if request.get_ref().id == HOLD {
                    entered.store(true, Ordering::Relaxed);
                    gate.notified().await;
                }
                Ok(Response::new(Item::default()))
            }
        },
        |_request: Request<ItemRequest>| async {
            let none: ItemStream = Box::pin(futures_util::stream::empty());
            Ok(Response::new(none))
        },
    )
}

/// `(rpc_grpc_status_code, error_type, count)` of each series of the duration family
/// `name` in `registry`.
fn outcomes(registry: &obs_metrics::Registry, name: &str) -> Vec<(String, String, u64)> {
    let family = registry
        .collect()
        .into_iter()
        .find(|f| f.name == name)
        .expect("the duration family");
    let mut outcomes: Vec<_> = family
        .points
        .iter()
        .map(|p| {
            let label = |key: &str| {
                let found = p.labels.iter().find(|(k, _)| k == key);
                found.map(|(_, v)| v.clone()).unwrap_or_default()
            };
            match &p.value {
                obs_metrics::PointValue::Histogram(h) => {
                    (label("rpc_grpc_status_code"), label("error_type"), h.count)
                }
                other => panic!("not a histogram: {other:?}"),
            }
        })
        .collect();
    outcomes.sort();
    outcomes
}

/// tower's `LoadShedLayer` over a `ConcurrencyLimitLayer`, under the server layer (as
/// `Server::builder().layer(..)` stacks them), sheds a call while another holds the only
/// permit: it fails with tower's `Overloaded`, which holds no `tonic::Status` but which
/// tonic's server answers RESOURCE_EXHAUSTED (`Status::try_from_error`). The server span
/// and metrics record that status, the caller's (not a server fault): not the UNKNOWN of
/// an error tonic resets the stream for.
#[tokio::test(flavor = "current_thread")]
async fn a_call_shed_under_the_server_layer_is_resource_exhausted_on_both_sides() {
    let (sink, _guard) = capture();
    let registry = obs_metrics::Registry::new();
    let entered = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(tokio::sync::Notify::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(GrpcServerLayer::new().with_registry(&registry))
            .layer(tower::load_shed::LoadShedLayer::new())
            .layer(tower::limit::ConcurrencyLimitLayer::new(1))
            .add_service(gated_catalog(entered.clone(), gate.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let mut client = CatalogClient::new(addr);
    let mut holder = client.clone();
    let held = tokio::spawn(async move {
        let request = ItemRequest { id: HOLD, count: 0 };
        holder.get(Request::new(request)).await
    });
    wait_until(Duration::from_secs(10), || entered.load(Ordering::Relaxed)).await;
    assert!(
        entered.load(Ordering::Relaxed),
        "the first call holds the permit"
    );

    let status = client
        .get(Request::new(ItemRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let spans = take_spans(&sink, 2).await;
    let server = of_kind(&spans, SpanKind::Server);
    assert_eq!(
        attribute(server, "rpc.grpc.status_code").as_deref(),
        Some("8"),
        "{server:#?}"
    );
    assert_eq!(attribute(server, "error.type"), None);
    assert!(!is_error(server), "RESOURCE_EXHAUSTED is no server fault");
    assert_eq!(
        outcomes(&registry, "rpc_server_call_duration_seconds"),
        [("8".to_owned(), String::new(), 1)]
    );

    gate.notify_one();
    held.await.unwrap().unwrap();
}

/// A channel's own timeout (`Endpoint::timeout`, which sends no `grpc-timeout`) runs out
/// before the answer: tonic's channel gives up with its `TimeoutExpired`, which it hands
/// the caller as CANCELLED, as it does at a `grpc-timeout` deadline. It is the client's
/// deadline all the same, which gRPC reports as DEADLINE_EXCEEDED (doc/statuscodes.md:
/// "Deadline expires before server returns status"): the client span and metrics say so,
/// as for a `grpc-timeout` deadline. The server saw the client reset the stream: CANCELLED.
#[tokio::test(flavor = "current_thread")]
async fn a_call_past_its_channels_timeout_is_deadline_exceeded_on_the_client() {
    let (sink, _guard) = capture();
    let entered = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(tokio::sync::Notify::new());
    let addr = gated_catalog(entered, gate).serve().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_millis(100))
        .connect_lazy();
    let registry = obs_metrics::Registry::new();
    let layer = GrpcClientLayer::new().with_registry(&registry);
    let mut client = CatalogClient::on_channel(channel, addr, layer);
    let request = ItemRequest { id: HOLD, count: 0 };
    let status = client.get(Request::new(request)).await.unwrap_err();
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");

    let spans = take_spans(&sink, 2).await;
    let client = of_kind(&spans, SpanKind::Client);
    assert_eq!(
        attribute(client, "rpc.grpc.status_code").as_deref(),
        Some("4"),
        "{client:#?}"
    );
    assert_eq!(
        attribute(client, "error.type").as_deref(),
        Some("DEADLINE_EXCEEDED")
    );
    assert!(is_error(client));
    assert_eq!(
        outcomes(&registry, "rpc_client_call_duration_seconds"),
        [("4".to_owned(), "DEADLINE_EXCEEDED".to_owned(), 1)]
    );
    let server = of_kind(&spans, SpanKind::Server);
    assert_eq!(
        attribute(server, "rpc.grpc.status_code").as_deref(),
        Some("1")
    );
    assert!(
        !is_error(server),
        "the client gave up: CANCELLED, no server fault"
    );
}
