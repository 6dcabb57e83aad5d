//! Real tonic servers and clients over loopback, spans in memory, composed as tonic services
//! are in practice: tower's load shedding under the server layer.
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
use obs_tonic::GrpcServerLayer;
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
