//! `Builder::exemplar_filter` / `OTEL_METRICS_EXEMPLAR_FILTER`: `init` applies the filter
//! process-wide, so the global registry's instruments follow it.

use obs_core::metrics::ExemplarFilter;
use obs_core::trace::{Sampler, SpanExt};

#[test]
fn init_applies_the_exemplar_filter() {
    assert_eq!(
        obs_core::metrics::exemplar_filter(),
        ExemplarFilter::TraceBased
    );
    let telemetry = obs_core::builder()
        .sdk_disabled(true)
        .json_logs(false)
        .process_metrics(false)
        .runtime_metrics(false)
        .sampler(Sampler::AlwaysOff)
        .exemplar_filter(ExemplarFilter::AlwaysOn)
        .init()
        .expect("init");
    assert_eq!(
        obs_core::metrics::exemplar_filter(),
        ExemplarFilter::AlwaysOn
    );

    // Nothing is sampled, yet AlwaysOn takes the unsampled span as the exemplar.
    let registry = obs_core::metrics::global();
    let counter = registry.counter("exemplar_filter_hits", "Hits.").unwrap();
    let span = tracing::info_span!("work");
    let ctx = span.in_scope(|| {
        counter.inc();
        span.span_context().expect("the span has ids")
    });
    assert!(!ctx.is_sampled());
    let families = registry.collect();
    let hits = families
        .iter()
        .find(|f| f.name == "exemplar_filter_hits")
        .expect("registered");
    let exemplars: Vec<_> = hits.points[0]
        .exemplars
        .iter()
        .map(|e| (e.trace_id, e.span_id))
        .collect();
    assert_eq!(exemplars, [(ctx.trace_id, ctx.span_id)]);
    telemetry.shutdown_blocking().expect("shutdown");
}
