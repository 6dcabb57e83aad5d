//! The process-wide `ExemplarFilter`: which measurements become exemplars, inside a sampled
//! span, an unsampled one, and no span. One test function, alone in its binary, because the
//! filter is global: cases run in turn and no other test sees a filter they set.

use obs_metrics::text::Format;
use obs_metrics::{
    Counter, ExemplarFilter, Histogram, Registry, exemplar_filter, set_exemplar_filter,
};
use obs_trace::{Baggage, RemoteParent, Sampler, SpanContext, SpanExt, SpanId, SpanLayer, TraceId};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Puts the default back even if an assertion fails.
struct RestoreDefault;

impl Drop for RestoreDefault {
    fn drop(&mut self) {
        set_exemplar_filter(ExemplarFilter::default());
    }
}

/// Where a measurement is made.
#[derive(Clone, Copy, Debug)]
enum Place {
    Sampled,
    Unsampled,
    /// A span inside an unsampled trace: the span layer gives it no ids of its own.
    UnsampledChild,
    /// An untraced span given a remote parent without a trace context: it carries the
    /// caller's baggage and no ids.
    BaggageOnly,
    Outside,
}

const PLACES: [Place; 5] = [
    Place::Sampled,
    Place::Unsampled,
    Place::UnsampledChild,
    Place::BaggageOnly,
    Place::Outside,
];

/// Runs `f` in `place` under a span layer, and returns the context of the span current
/// there (`None` outside any span).
fn measure_in(place: Place, f: impl FnOnce()) -> Option<SpanContext> {
    let sampler = match place {
        Place::Sampled => Sampler::AlwaysOn,
        _ => Sampler::AlwaysOff,
    };
    // Spans of target `untraced` get no ids of their own; all others are traced.
    let traces_filter = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("untraced", LevelFilter::OFF);
    let subscriber = tracing_subscriber::registry().with(
        SpanLayer::new()
            .with_sampler(sampler)
            .with_traces_filter(traces_filter),
    );
    tracing::subscriber::with_default(subscriber, || {
        let current = obs_trace::current_span_context;
        match place {
            Place::Outside => {
                assert_eq!(current(), None);
                f();
                None
            }
            Place::Sampled | Place::Unsampled => {
                let span = tracing::info_span!("work");
                let _entered = span.enter();
                let ctx = current().expect("a span is current");
                assert_eq!(span.span_context().as_ref(), Some(&ctx));
                f();
                Some(ctx)
            }
            Place::UnsampledChild => {
                let root = tracing::info_span!("root");
                let _root = root.enter();
                let child = tracing::info_span!("child");
                let _child = child.enter();
                let ctx = current().expect("a span is current");
                assert_eq!(root.span_context().as_ref(), Some(&ctx));
                f();
                Some(ctx)
            }
            Place::BaggageOnly => {
                let remote = RemoteParent {
                    span: None,
                    baggage: Baggage::default(),
                };
                let span = obs_trace::span_with_remote_parent(
                    remote,
                    || tracing::info_span!(target: "untraced", "work"),
                );
                let _entered = span.enter();
                // The baggage's context is current, with no trace: no span context.
                assert_eq!(current(), None);
                let ctx = obs_trace::current().expect("a context is current").span;
                assert!(!ctx.is_valid(), "{ctx:?}");
                f();
                Some(ctx)
            }
        }
    })
}

/// The exemplars of family `name` in a collection, as (trace, span, value).
fn exemplars(registry: &Registry, name: &str) -> Vec<(TraceId, SpanId, f64)> {
    let families = registry.collect();
    let family = families
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name}"));
    family
        .points
        .iter()
        .flat_map(|p| &p.exemplars)
        .map(|e| (e.trace_id, e.span_id, e.value))
        .collect()
}

/// The OpenMetrics sample lines of `sample` (a full sample name) that carry an exemplar.
fn exemplar_lines(text: &str, sample: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(sample) && l.contains(" # {"))
        .map(str::to_owned)
        .collect()
}

fn check(filter: ExemplarFilter, place: Place) {
    let case = format!("{filter:?} {place:?}");
    let registry = Registry::new();
    let histogram: Histogram = registry.metric("work_seconds", "h").histogram().unwrap();
    let without: Histogram = registry
        .metric("without_seconds", "h")
        .without_exemplars()
        .histogram()
        .unwrap();
    let counter: Counter = registry.counter("jobs", "c").unwrap();
    let ctx = measure_in(place, || {
        histogram.observe(0.2);
        without.observe(0.2);
        counter.inc_by(3);
    });

    if let Some(ctx) = ctx
        .as_ref()
        .filter(|_| !matches!(place, Place::BaggageOnly))
    {
        // The active context has ids in unsampled traces too: that is what AlwaysOn uses.
        assert!(ctx.is_valid(), "{case}: {ctx:?}");
        assert_eq!(ctx.is_sampled(), matches!(place, Place::Sampled), "{case}");
    }
    let expected = match (filter, ctx) {
        (ExemplarFilter::AlwaysOff, _) | (_, None) => None,
        (ExemplarFilter::TraceBased, Some(ctx)) if !ctx.is_sampled() => None,
        // No ids, nothing to link to.
        (ExemplarFilter::AlwaysOn, Some(ctx)) if !ctx.is_valid() => None,
        (_, Some(ctx)) => Some((ctx.trace_id, ctx.span_id)),
    };

    // The snapshot that OTLP export reads.
    let with_ids = |value| {
        expected
            .map(|(t, s)| vec![(t, s, value)])
            .unwrap_or_default()
    };
    assert_eq!(
        exemplars(&registry, "work_seconds"),
        with_ids(0.2),
        "{case}"
    );
    assert_eq!(exemplars(&registry, "jobs"), with_ids(3.0), "{case}");
    assert_eq!(exemplars(&registry, "without_seconds"), [], "{case}");
    // The measurements themselves are counted whatever the filter.
    assert_eq!((histogram.get().count, counter.get()), (1, 3), "{case}");
    assert_eq!(without.get().count, 1, "{case}");

    // What a scrape asking for OpenMetrics gets.
    let text = registry.encode(Format::OpenMetrics);
    let bucket = exemplar_lines(&text, "work_seconds_bucket");
    let total = exemplar_lines(&text, "jobs_total");
    assert!(
        exemplar_lines(&text, "without_seconds").is_empty(),
        "{case}\n{text}"
    );
    match expected {
        None => assert!(bucket.is_empty() && total.is_empty(), "{case}\n{text}"),
        Some((trace_id, span_id)) => {
            let labels = format!("# {{trace_id=\"{trace_id}\",span_id=\"{span_id}\"}}");
            assert_eq!(bucket.len(), 1, "{case}\n{text}");
            assert!(bucket[0].starts_with("work_seconds_bucket{le=\"0.25\"}"));
            assert!(
                bucket[0].contains(&format!("{labels} 0.2 ")),
                "{case}\n{text}"
            );
            assert_eq!(total.len(), 1, "{case}\n{text}");
            assert!(
                total[0].contains(&format!("{labels} 3.0 ")),
                "{case}\n{text}"
            );
        }
    }
}

/// With AlwaysOn, a span without ids leaves the series' exemplar alone rather than replacing
/// it with one of zero ids.
fn check_a_span_without_ids_keeps_the_exemplar() {
    set_exemplar_filter(ExemplarFilter::AlwaysOn);
    let registry = Registry::new();
    let counter: Counter = registry.counter("jobs", "c").unwrap();
    let ctx = measure_in(Place::Unsampled, || counter.inc_by(1)).unwrap();
    measure_in(Place::BaggageOnly, || counter.inc_by(2));
    assert_eq!(
        exemplars(&registry, "jobs"),
        [(ctx.trace_id, ctx.span_id, 1.0)]
    );
}

#[test]
fn each_filter_decides_which_measurements_become_exemplars() {
    let _restore = RestoreDefault;
    assert_eq!(exemplar_filter(), ExemplarFilter::TraceBased);
    assert_eq!(ExemplarFilter::default(), ExemplarFilter::TraceBased);
    for filter in [
        ExemplarFilter::TraceBased,
        ExemplarFilter::AlwaysOn,
        ExemplarFilter::AlwaysOff,
    ] {
        set_exemplar_filter(filter);
        assert_eq!(exemplar_filter(), filter);
        for place in PLACES {
            check(filter, place);
        }
    }
    check_a_span_without_ids_keeps_the_exemplar();
}
