//! Baggage extracted through `W3CPropagator` as an OpenTelemetry `TextMapPropagator`:
//! OpenTelemetry's `Baggage` holds at most 8192 bytes of keys, values and metadata in all,
//! where obs's parse keeps each member of up to 8192 bytes. The members it refuses are
//! dropped, and counted like any other ([`BaggageDrops`]). Its own test binary: the
//! counters are process-wide.

use std::collections::HashMap;

use obs_trace::{BaggageDrops, W3CPropagator};
use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;

#[test]
fn members_the_opentelemetry_context_cannot_hold_are_counted() {
    let big = "x".repeat(5000);
    let carrier = HashMap::from([(
        "baggage".to_owned(),
        format!("a={big},b={big},c=1,bad key=2"),
    )]);
    let before = BaggageDrops::now();
    let cx = W3CPropagator::new().extract_with_context(&Context::new(), &carrier);
    let baggage = cx.baggage();
    // `a` and `c` fit in 8192 bytes; `b` does not.
    assert_eq!(baggage.len(), 2, "{baggage:?}");
    assert!(baggage.get("b").is_none());
    let after = BaggageDrops::now();
    assert_eq!(after.over_limit, before.over_limit + 1, "`b`");
    assert_eq!(after.invalid, before.invalid + 1, "`bad key`");
}
