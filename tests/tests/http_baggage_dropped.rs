//! Baggage members the W3C Baggage spec lets a service drop are dropped and counted, in
//! `obs_baggage_dropped_total`: a caller sends A one invalid member and 65 valid ones (one
//! past the 64-member limit); A's handler adds a 66th before calling B through
//! `HttpClientLayer`, which leaves it out. B receives the 64 that fit, and the counter says
//! 1 invalid and 2 over the limit, once each.

use axum::Router;
use axum::routing::get;
use obs_core::tower::HttpServerLayer;
use obs_core::trace::SpanExt;
use obs_core::tracing::Span;
use obs_core::{ExporterKind, Signal};
use obs_tests::http::{get_plain, get_text, serve, serve_baggage_echo, traced_client};

/// The value of the sample `series` in the global registry's text, if present.
fn sample(series: &str) -> Option<String> {
    let text = obs_core::metrics::global().encode(obs_core::metrics::text::Format::Prometheus);
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baggage_members_dropped_on_the_way_in_and_out_are_counted() {
    let mut builder = obs_core::builder()
        .service_name("baggage-dropped")
        .json_logs(false);
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        builder = builder.exporter(signal, ExporterKind::None);
    }
    let telemetry = builder.init().expect("init");
    assert_eq!(
        sample("obs_baggage_dropped_total{reason=\"invalid\"}").as_deref(),
        Some("0")
    );

    let echo = serve_baggage_echo().await;
    let client = traced_client();
    let a = Router::new()
        .route(
            "/call",
            get(move || {
                let (client, echo) = (client.clone(), echo.clone());
                async move {
                    let span = Span::current();
                    let mut baggage = span.baggage();
                    baggage.insert("late", "1").expect("a valid key");
                    span.set_baggage(baggage);
                    get_text(&client, &echo).await
                }
            }),
        )
        .layer(HttpServerLayer::new());
    let a = serve(a).await;

    let members: Vec<String> = (0..65).map(|i| format!("k{i}=v{i}")).collect();
    let sent = format!("bad key=1,{}", members.join(","));
    let received = get_plain(&format!("http://{a}/call"), &[("baggage", &sent)]).await;

    assert_eq!(received, members[..64].join(","));
    assert_eq!(
        sample("obs_baggage_dropped_total{reason=\"invalid\"}").as_deref(),
        Some("1")
    );
    assert_eq!(
        sample("obs_baggage_dropped_total{reason=\"limit\"}").as_deref(),
        Some("2")
    );
    telemetry.shutdown().await.expect("shutdown");
}
