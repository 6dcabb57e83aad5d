//! Baggage a handler adds (`SpanExt::set_baggage`) reaches the next service with what came
//! in: service A, behind `HttpServerLayer`, adds `tenant.id=42` and calls service B through
//! `HttpClientLayer`; B answers with the `baggage` it received. Over loopback TCP, for a
//! sampled, an unsampled and no incoming `traceparent`, with the span layer's default
//! (`UnsampledSpans::Keep`, on a multi-threaded runtime) and with `Skip`.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use obs_core::tower::HttpServerLayer;
use obs_core::trace::{SpanExt, SpanLayer, UnsampledSpans};
use obs_core::tracing::{self, Instrument, Span};
use obs_core::tracing_subscriber::prelude::*;
use obs_tests::http::{get_plain, get_text, serve, serve_baggage_echo, traced_client};

/// Adds `tenant.id=42` to the baggage of `span`.
fn add_tenant(span: &Span) {
    let mut baggage = span.baggage();
    baggage.insert("tenant.id", "42").expect("a valid key");
    span.set_baggage(baggage);
}

/// Starts B, which answers with the `baggage` header it received, and A, whose routes add
/// baggage and call B: `/current` on the span the handler runs in, `/instrumented` on a span
/// it creates and gives the call's future with `.instrument(span)`. Returns A's address.
async fn start() -> SocketAddr {
    let echo = serve_baggage_echo().await;
    let client = traced_client();
    let (current, instrumented) = ((client.clone(), echo.clone()), (client, echo));
    let a = Router::new()
        .route(
            "/current",
            get(move || {
                let (client, echo) = current.clone();
                async move {
                    add_tenant(&Span::current());
                    get_text(&client, &echo).await
                }
            }),
        )
        .route(
            "/instrumented",
            get(move || {
                let (client, echo) = instrumented.clone();
                async move {
                    let span = tracing::info_span!("work");
                    add_tenant(&span);
                    async move { get_text(&client, &echo).await }
                        .instrument(span)
                        .await
                }
            }),
        )
        .layer(HttpServerLayer::new());
    serve(a).await
}

/// Calls each of A's routes as a caller sending `user=alice` would, with a sampled, an
/// unsampled and no `traceparent`, and checks what B received.
async fn check(a: SocketAddr, mode: &str) {
    let traceparent =
        |flags| format!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{flags}");
    for route in ["current", "instrumented"] {
        for flags in [Some("01"), Some("00"), None] {
            let mut headers = vec![("baggage", "user=alice".to_owned())];
            if let Some(flags) = flags {
                headers.push(("traceparent", traceparent(flags)));
            }
            let headers: Vec<_> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let received = get_plain(&format!("http://{a}/{route}"), &headers).await;
            assert_eq!(
                received, "user=alice,tenant.id=42",
                "{mode}, /{route}, flags {flags:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baggage_a_handler_adds_reaches_the_next_service() {
    obs_core::tracing_subscriber::registry()
        .with(SpanLayer::new())
        .init();
    check(start().await, "keep").await;
}

/// Under `Skip` a span the handler creates in an unsampled trace does not exist: the
/// baggage set on it goes on the current span (`set_baggage`'s docs), which the future
/// given it runs in.
#[tokio::test(flavor = "current_thread")]
async fn baggage_a_handler_adds_reaches_the_next_service_when_unsampled_spans_are_skipped() {
    let subscriber = obs_core::tracing_subscriber::registry()
        .with(SpanLayer::new().with_unsampled_spans(UnsampledSpans::Skip));
    let _default = tracing::subscriber::set_default(subscriber);
    check(start().await, "skip").await;
}
