//! One million distinct label values: each family keeps its 2000 series plus one overflow
//! series, memory stays flat, and the totals still add up.

use std::fmt::Write;

use obs_metrics::{Counter, EncodeLabelSet, Family, PointValue, Registry};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct User {
    user_id: u64,
}

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    kib * 1024
}

#[test]
fn one_million_label_values_fold_into_the_overflow_series() {
    const VALUES: u64 = 1_000_000;
    const LIMIT: usize = obs_metrics::DEFAULT_CARDINALITY_LIMIT;
    let registry = Registry::new();
    let by_name = registry
        .dyn_family::<Counter>("requests_by_user", "Requests per user.", &["user_id"])
        .unwrap();
    let typed: Family<User, Counter> = registry
        .family("requests_by_typed_user", "Requests per user.")
        .unwrap();

    let mut value = String::new();
    let mut record = |i: u64| {
        value.clear();
        write!(value, "{i}").unwrap();
        by_name.get(&[("user_id", &value)]).inc();
        typed.get(&User { user_id: i }).inc();
    };
    for i in 0..VALUES / 10 {
        record(i);
    }
    let rss_at_100k = resident_bytes();
    for i in VALUES / 10..VALUES {
        record(i);
    }
    let rss_at_1m = resident_bytes();

    assert_eq!(by_name.len(), LIMIT);
    assert_eq!(typed.len(), LIMIT);
    assert_eq!(by_name.overflowed(), VALUES - LIMIT as u64);
    assert_eq!(typed.overflowed(), VALUES - LIMIT as u64);
    // 900,000 more distinct values after the limit was reached cost no memory per value
    // (a series costs well over 100 bytes, so 900k of them would add more than 90 MB).
    let growth = rss_at_1m.saturating_sub(rss_at_100k);
    assert!(growth < 4 << 20, "RSS grew by {growth} bytes");

    let families = registry.collect();
    for family in &families[..2] {
        assert_eq!(family.points.len(), LIMIT + 1, "{}", family.name);
        let total: u64 = family
            .points
            .iter()
            .map(|p| match p.value {
                PointValue::U64(v) => v,
                ref other => panic!("{other:?}"),
            })
            .sum();
        assert_eq!(total, VALUES);
        let overflow = family.points.last().unwrap();
        assert_eq!(
            overflow.labels,
            [("otel_metric_overflow".to_owned(), "true".to_owned())]
        );
        assert_eq!(overflow.value, PointValue::U64(VALUES - LIMIT as u64));
    }
    let overflow_counter = &families[2];
    assert_eq!(
        overflow_counter.name,
        "obs_metrics_cardinality_overflow_measurements"
    );
    assert_eq!(overflow_counter.points.len(), 2);
}
