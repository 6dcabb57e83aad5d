//! `SpanExt::set_baggage`: baggage a handler adds reaches the calls made in the span it
//! sets it on, sampled or not, whether the span layer traces that span or not. (Apart from
//! the unit tests: setting baggage makes every thread enter its remembered span once by
//! lookup, which those tests of the active-context stack would see.)

use tracing::Span;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

use obs_trace::http;
use obs_trace::{
    InMemorySpanSink, SpanExt, SpanLayer, UnsampledSpans, extract, inject_current,
    span_with_remote_parent,
};

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-";

/// What the caller sends: `user=alice` baggage, and a `traceparent` with `flags`.
fn incoming(flags: Option<&str>) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("baggage", "user=alice".parse().unwrap());
    if let Some(flags) = flags {
        headers.insert(
            "traceparent",
            format!("{TRACEPARENT}{flags}").parse().unwrap(),
        );
    }
    headers
}

/// `span`'s baggage with `tenant.id=42` added, set on it.
fn add_tenant(span: &Span) {
    let mut baggage = span.baggage();
    baggage.insert("tenant.id", "42").unwrap();
    span.set_baggage(baggage);
}

/// The `baggage` an outgoing call sends, as obs's client layers inject it: from a
/// CLIENT span created where the call is made.
fn call() -> Option<String> {
    let mut headers = http::HeaderMap::new();
    tracing::info_span!("call", "otel.kind" = "client").in_scope(|| inject_current(&mut headers));
    headers
        .get("baggage")
        .map(|v| v.to_str().unwrap().to_owned())
}

/// The layers a user may run: the default, `Skip`, and a traces filter that leaves the
/// `work` spans out.
fn layers() -> Vec<(&'static str, SpanLayer)> {
    let sink = || std::sync::Arc::new(InMemorySpanSink::new());
    vec![
        ("keep", SpanLayer::new().with_sink(sink())),
        (
            "skip",
            SpanLayer::new()
                .with_sink(sink())
                .with_unsampled_spans(UnsampledSpans::Skip),
        ),
        (
            "filtered",
            SpanLayer::new().with_sink(sink()).with_traces_filter(
                Targets::new()
                    .with_default(LevelFilter::TRACE)
                    .with_target("work", LevelFilter::OFF),
            ),
        ),
    ]
}

/// Runs `handler` inside a server span continuing a caller that sent `flags`, under
/// each of [`layers`], and checks that the call it returns sent the merged baggage.
fn check(handler: impl Fn() -> Option<String>) {
    for (name, layer) in layers() {
        for flags in [Some("01"), Some("00"), None] {
            let subscriber = tracing_subscriber::registry().with(layer.clone());
            let sent = tracing::subscriber::with_default(subscriber, || {
                let server = span_with_remote_parent(extract(&incoming(flags)), || {
                    tracing::info_span!("server", "otel.kind" = "server")
                });
                server.in_scope(&handler)
            });
            assert_eq!(
                sent.as_deref(),
                Some("user=alice,tenant.id=42"),
                "{name}, flags {flags:?}"
            );
        }
    }
}

#[test]
fn baggage_set_on_the_current_span_reaches_the_calls_made_in_it() {
    check(|| {
        add_tenant(&Span::current());
        call()
    });
    // The current span is the handler's own, entered inside the server span (with no
    // state of its own in an unsampled trace or when the traces filter leaves it out).
    check(|| {
        tracing::info_span!(target: "work", "handler").in_scope(|| {
            add_tenant(&Span::current());
            call()
        })
    });
}

/// The span a handler creates, gives baggage, and only enters later (a future given it
/// with `.instrument(span)`): what runs in it carries the baggage, though the layer gives
/// it no state of its own inside an unsampled trace (`Keep`) or when its traces filter
/// leaves it out. (Under `Skip` in an unsampled trace it does not exist: the baggage goes
/// on the current span, which what runs "in" it runs in.)
#[test]
fn baggage_set_on_a_span_entered_later_reaches_the_calls_made_in_it() {
    check(|| {
        let work = tracing::info_span!(target: "work", "work");
        add_tenant(&work);
        // Entered later, and a span made in it first.
        work.in_scope(|| tracing::info_span!(target: "work", "step").in_scope(call))
    });
}

/// A span entered by lookup is entered with its baggage as set since: on a thread that
/// remembers it from before (its last exit was there), and on one it is entered at
/// once (`enter` and exit only).
#[test]
fn a_span_remembered_on_another_thread_is_entered_with_the_baggage_set_since() {
    for flags in [Some("01"), Some("00")] {
        let subscriber = tracing_subscriber::registry().with(SpanLayer::new());
        let dispatch = tracing::Dispatch::new(subscriber);
        tracing::dispatcher::with_default(&dispatch, || {
            let server = span_with_remote_parent(extract(&incoming(flags)), || {
                tracing::info_span!("server", "otel.kind" = "server")
            });
            // Polled here first: its exit leaves it remembered on this thread.
            server.in_scope(|| {});
            let (elsewhere, span) = (dispatch.clone(), server.clone());
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&elsewhere, || {
                    span.in_scope(|| add_tenant(&Span::current()));
                });
            })
            .join()
            .unwrap();
            let sent = server.in_scope(call);
            assert_eq!(
                sent.as_deref(),
                Some("user=alice,tenant.id=42"),
                "flags {flags:?}"
            );
        });
    }
}

/// Baggage set on a span while a span is entered inside it (given the span from outside, or
/// the span entered in itself again) is there for the rest of the span once that one
/// exits, sampled or not, and whether the layer traces the span or not.
#[test]
fn baggage_set_on_a_span_while_another_is_entered_inside_it_stays_for_the_rest_of_it() {
    check(|| {
        let work = tracing::info_span!(target: "work", "work");
        work.in_scope(|| {
            tracing::info_span!(target: "work", "inner").in_scope(|| add_tenant(&work));
            tracing::info_span!("traced").in_scope(|| {});
            call()
        })
    });
    check(|| {
        let work = tracing::info_span!(target: "work", "work");
        work.in_scope(|| {
            work.in_scope(|| add_tenant(&work));
            call()
        })
    });
}

/// A span entered on this thread while its baggage is set on another is entered with the
/// new baggage next time, though this thread entered another span in between (which took
/// note of the set, and must not let the entry made before it be entered again).
#[test]
fn a_span_entered_while_its_baggage_is_set_elsewhere_is_entered_next_with_the_new_one() {
    let subscriber = tracing_subscriber::registry().with(SpanLayer::new());
    let dispatch = tracing::Dispatch::new(subscriber);
    tracing::dispatcher::with_default(&dispatch, || {
        let server = span_with_remote_parent(extract(&incoming(Some("01"))), || {
            tracing::info_span!("server", "otel.kind" = "server")
        });
        let entered = server.enter();
        let (elsewhere, span) = (dispatch.clone(), server.clone());
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&elsewhere, || add_tenant(&span));
        })
        .join()
        .unwrap();
        tracing::info_span!("step").in_scope(|| {});
        drop(entered);
        assert_eq!(
            server.in_scope(call).as_deref(),
            Some("user=alice,tenant.id=42")
        );
    });
}

/// Spans created before the baggage was set keep what they had; the span's own baggage
/// is the new one, and a subscriber without a span layer ignores the call.
#[test]
fn spans_created_before_keep_their_baggage() {
    let subscriber = tracing_subscriber::registry().with(SpanLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let server = span_with_remote_parent(extract(&incoming(Some("01"))), || {
            tracing::info_span!("server", "otel.kind" = "server")
        });
        let before = server.in_scope(|| tracing::info_span!("before"));
        add_tenant(&server);
        assert_eq!(before.baggage().to_header(), "user=alice");
        assert_eq!(server.baggage().to_header(), "user=alice,tenant.id=42");
        assert_eq!(before.in_scope(call).as_deref(), Some("user=alice"));
    });
    tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        let span = tracing::info_span!("no layer");
        span.in_scope(|| add_tenant(&span));
        assert!(span.baggage().is_empty());
        assert_eq!(obs_trace::current(), None);
    });
}

/// obs keeps its context in `tracing`'s spans: baggage attached to OpenTelemetry's current
/// `Context` (`Context::current_with_baggage(..).attach()`) is not what obs's middleware
/// sends (the span's is, as `set_baggage`'s docs say); the `W3CPropagator` sends that of the
/// `Context` it is given.
#[test]
fn baggage_attached_to_an_opentelemetry_context_is_not_what_obs_injects() {
    use obs_trace::W3CPropagator;
    use obs_trace::opentelemetry::baggage::BaggageExt;
    use obs_trace::opentelemetry::propagation::TextMapPropagator;
    use obs_trace::opentelemetry::{Context, KeyValue};

    let subscriber = tracing_subscriber::registry().with(SpanLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let server = span_with_remote_parent(extract(&incoming(Some("01"))), || {
            tracing::info_span!("server", "otel.kind" = "server")
        });
        server.in_scope(|| {
            let _attached =
                Context::current_with_baggage([KeyValue::new("tenant.id", "42")]).attach();
            assert_eq!(call().as_deref(), Some("user=alice"));
            let mut carrier = std::collections::HashMap::new();
            W3CPropagator::new().inject_context(&Context::current(), &mut carrier);
            assert_eq!(carrier["baggage"], "tenant.id=42");
        });
    });
}

/// A span the traces filter leaves out still passes its ERROR events to the nearest traced
/// span around it (tail sampling keeps failed traces) once its baggage is set: the state it
/// is given to carry the baggage is not one of its own.
#[test]
fn an_error_in_a_filtered_span_with_baggage_still_fails_the_traced_span_around_it() {
    let sink = InMemorySpanSink::new();
    let layer = SpanLayer::new()
        .with_sink(std::sync::Arc::new(sink.clone()))
        .with_traces_filter(
            Targets::new()
                .with_default(LevelFilter::TRACE)
                .with_target("work", LevelFilter::OFF),
        );
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("request").in_scope(|| {
            let work = tracing::info_span!(target: "work", "work");
            add_tenant(&work);
            work.in_scope(|| tracing::error!("failed"));
        });
    });
    let spans = sink.take();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        spans[0].status,
        obs_trace::opentelemetry::trace::Status::error("")
    );
}

/// A layer that wants every span: the log layer beside a span layer under a per-layer filter.
struct Everything;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Everything {}

/// Under a per-layer filter (`SpanLayer::with_filter`), a span the filter hides is neither
/// entered nor exited for the span layer: baggage set on it must not stay current on the
/// thread once it exits (the rest of the request, and the next requests the thread
/// serves, would send it and log in its trace).
#[test]
fn baggage_set_on_a_span_a_per_layer_filter_hides_does_not_outlive_it() {
    let layer = SpanLayer::new().with_filter(LevelFilter::INFO);
    let subscriber = tracing_subscriber::registry().with(layer).with(Everything);
    tracing::subscriber::with_default(subscriber, || {
        let server = span_with_remote_parent(extract(&incoming(Some("01"))), || {
            tracing::info_span!("server", "otel.kind" = "server")
        });
        server.in_scope(|| {
            tracing::debug_span!("step").in_scope(|| add_tenant(&Span::current()));
            assert_eq!(call().as_deref(), Some("user=alice"));
        });
        assert_eq!(obs_trace::current(), None);
    });
}
