//! Baggage a gRPC handler adds (`SpanExt::set_baggage`) reaches the next service with what
//! came in: service A, behind `GrpcServerLayer`, adds `tenant.id=42` and calls service B
//! through `GrpcClientLayer`; B answers with the `baggage` metadata it received. Over
//! loopback TCP, for a sampled, an unsampled and no incoming `traceparent`.

mod grpc_common;

use grpc_common::{Catalog, CatalogClient, Item, ItemRequest, items};
use obs_core::trace::{SpanExt, SpanLayer};
use obs_core::tracing::Span;
use obs_core::tracing_subscriber::prelude::*;
use tonic::{Request, Response};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baggage_a_grpc_handler_adds_reaches_the_next_service() {
    obs_core::tracing_subscriber::registry()
        .with(SpanLayer::new())
        .init();
    let list = |request: Request<ItemRequest>| async move {
        let request = request.into_inner();
        Ok(Response::new(items(request.id, request.count)))
    };
    let b = Catalog::new(
        |request: Request<ItemRequest>| async move {
            let baggage = request.metadata().get("baggage");
            let name = baggage.map_or("", |v| v.to_str().unwrap_or("not text"));
            Ok(Response::new(Item {
                id: 0,
                name: name.to_owned(),
            }))
        },
        list,
    )
    .serve()
    .await;
    let client = CatalogClient::new(b);
    let a = Catalog::new(
        move |request: Request<ItemRequest>| {
            let mut client = client.clone();
            async move {
                let span = Span::current();
                let mut baggage = span.baggage();
                baggage.insert("tenant.id", "42").expect("a valid key");
                span.set_baggage(baggage);
                let item = client.get(Request::new(request.into_inner())).await?;
                Ok(Response::new(item))
            }
        },
        list,
    )
    .serve()
    .await;
    let traceparent =
        |flags| format!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{flags}");
    for flags in [Some("01"), Some("00"), None] {
        let mut request = Request::new(ItemRequest { id: 1, count: 0 });
        let metadata = request.metadata_mut();
        metadata.insert("baggage", "user=alice".parse().unwrap());
        if let Some(flags) = flags {
            metadata.insert("traceparent", traceparent(flags).parse().unwrap());
        }
        let item = CatalogClient::untraced(a)
            .get(request)
            .await
            .expect("a call");
        assert_eq!(item.name, "user=alice,tenant.id=42", "flags {flags:?}");
    }
}
