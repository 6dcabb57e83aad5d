//! Export requests cut to the size a receiver takes.
//!
//! gRPC servers refuse messages over 4 MiB unless told otherwise (grpc-go's and tonic's
//! default, so the OpenTelemetry Collector's and rotel's), and they refuse the whole request:
//! one batch of 512 spans with a few large attributes would lose all 512. So a request
//! larger than [`OtlpSettings::max_request_bytes`](crate::OtlpSettings::max_request_bytes)
//! is halved, keeping its resources and scopes in each half, until every part fits. Only an
//! item too large on its own (one span, log record or metric point) is dropped, and counted.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics, metric};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message;

/// A part of an OTLP request that holds items (spans, log records, metric points), maybe in
/// nested groups (resource, scope, metric).
pub(crate) trait Items: Sized {
    /// The items in it.
    fn count(&self) -> usize;

    /// Moves every item after the first `keep` into a new part, whose groups carry the same
    /// resource, scope and metric description as the ones they were cut from. `keep` is at
    /// most [`count`](Items::count).
    fn split_off(&mut self, keep: usize) -> Self;
}

/// Groups in order: the cut falls inside one of them (or between two).
impl<G: Items> Items for Vec<G> {
    fn count(&self) -> usize {
        self.iter().map(Items::count).sum()
    }

    fn split_off(&mut self, mut keep: usize) -> Self {
        let mut index = 0;
        while index < self.len() {
            let n = self[index].count();
            if keep < n {
                // Cut inside this group, or before it when nothing of it is kept.
                if keep == 0 {
                    return Vec::split_off(self, index);
                }
                let cut = self[index].split_off(keep);
                let mut moved = vec![cut];
                moved.extend(Vec::split_off(self, index + 1));
                return moved;
            }
            keep -= n;
            index += 1;
        }
        Vec::new()
    }
}

/// The item-holding groups of the three requests, each a header and a list: of items
/// (`Vec::len`, `Vec::split_off`), or of groups (`Items::count`, `Items::split_off`).
macro_rules! group {
    ($group:ty, $list:ident, $count:path, $split:path) => {
        impl Items for $group {
            fn count(&self) -> usize {
                $count(&self.$list)
            }
            fn split_off(&mut self, keep: usize) -> Self {
                let moved = $split(&mut self.$list, keep);
                let mut copy = header(self, |g| &mut g.$list);
                copy.$list = moved;
                copy
            }
        }
    };
}

/// A copy of `group` without its list (`list` names it): the header both halves keep.
fn header<G: Clone, L: Default>(group: &mut G, list: impl Fn(&mut G) -> &mut L) -> G {
    // The list is moved out while the rest is cloned, so it is never copied.
    let items = std::mem::take(list(group));
    let copy = group.clone();
    *list(group) = items;
    copy
}

group!(
    ExportTraceServiceRequest,
    resource_spans,
    Items::count,
    Items::split_off
);
group!(ResourceSpans, scope_spans, Items::count, Items::split_off);
group!(ScopeSpans, spans, Vec::len, Vec::split_off);
group!(
    ExportLogsServiceRequest,
    resource_logs,
    Items::count,
    Items::split_off
);
group!(ResourceLogs, scope_logs, Items::count, Items::split_off);
group!(ScopeLogs, log_records, Vec::len, Vec::split_off);
group!(
    ExportMetricsServiceRequest,
    resource_metrics,
    Items::count,
    Items::split_off
);
group!(
    ResourceMetrics,
    scope_metrics,
    Items::count,
    Items::split_off
);
group!(ScopeMetrics, metrics, Items::count, Items::split_off);

/// A metric's items are its data points, whichever its type.
impl Items for Metric {
    fn count(&self) -> usize {
        use metric::Data;
        match &self.data {
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        }
    }

    fn split_off(&mut self, keep: usize) -> Self {
        use metric::Data;
        let data = match &mut self.data {
            Some(Data::Sum(s)) => Data::Sum(group_split(s, |s| &mut s.data_points, keep)),
            Some(Data::Gauge(g)) => Data::Gauge(group_split(g, |g| &mut g.data_points, keep)),
            Some(Data::Histogram(h)) => {
                Data::Histogram(group_split(h, |h| &mut h.data_points, keep))
            }
            Some(Data::ExponentialHistogram(h)) => {
                Data::ExponentialHistogram(group_split(h, |h| &mut h.data_points, keep))
            }
            Some(Data::Summary(s)) => Data::Summary(group_split(s, |s| &mut s.data_points, keep)),
            None => {
                return Metric {
                    data: None,
                    ..self.clone()
                };
            }
        };
        let mut moved = header(self, |m| &mut m.data);
        moved.data = Some(data);
        moved
    }
}

/// The points of `group` after the first `keep`, moved into a copy of its header.
fn group_split<G: Clone, P>(
    group: &mut G,
    points: impl Fn(&mut G) -> &mut Vec<P>,
    keep: usize,
) -> G {
    let moved = points(group).split_off(keep);
    let mut copy = header(group, &points);
    *points(&mut copy) = moved;
    copy
}

/// `request` as parts of at most `max_bytes` encoded, in order, and how many items were
/// dropped because they are larger than that on their own, with the size of the largest.
pub(crate) fn fit<R: Items + Message>(request: R, max_bytes: usize) -> (Vec<R>, Dropped) {
    let mut parts = Vec::new();
    let mut dropped = Dropped::default();
    // Halving until each part fits: a request over the limit is rare, and cutting in the
    // middle needs no size per item.
    let mut pending = vec![request];
    while let Some(mut part) = pending.pop() {
        let size = part.encoded_len();
        if size <= max_bytes {
            parts.push(part);
            continue;
        }
        let n = part.count();
        if n <= 1 {
            dropped.items += n as u64;
            dropped.largest = dropped.largest.max(size);
            continue;
        }
        let second = part.split_off(n / 2);
        // Last in, first out: the first half is sent first.
        pending.push(second);
        pending.push(part);
    }
    (parts, dropped)
}

/// Items too large to send.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dropped {
    /// How many.
    pub(crate) items: u64,
    /// The encoded size of the largest request one of them made alone.
    pub(crate) largest: usize,
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, any_value};
    use opentelemetry_proto::tonic::logs::v1::LogRecord;
    use opentelemetry_proto::tonic::metrics::v1::{Gauge, NumberDataPoint, number_data_point};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::Span;

    use super::*;

    fn span(name: &str, size: usize) -> Span {
        Span {
            name: format!("{name}{}", "x".repeat(size)),
            ..Default::default()
        }
    }

    fn scope(name: &str) -> Option<InstrumentationScope> {
        Some(InstrumentationScope {
            name: name.to_owned(),
            ..Default::default()
        })
    }

    fn resource(name: &str) -> Option<Resource> {
        Some(Resource {
            attributes: vec![opentelemetry_proto::tonic::common::v1::KeyValue {
                key: "service.name".to_owned(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(name.to_owned())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    /// Two resources, the first with two scopes: spans `a0..a2` (scope `a`), `b0..b1`
    /// (scope `b`), `c0..c2` (resource `r2`, scope `c`), each `size` bytes of name.
    fn traces(size: usize) -> ExportTraceServiceRequest {
        let scope_spans = |name: &str, n: usize| ScopeSpans {
            scope: scope(name),
            spans: (0..n).map(|i| span(&format!("{name}{i}"), size)).collect(),
            schema_url: format!("schema/{name}"),
        };
        ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: resource("r1"),
                    scope_spans: vec![scope_spans("a", 3), scope_spans("b", 2)],
                    schema_url: "schema/r1".to_owned(),
                },
                ResourceSpans {
                    resource: resource("r2"),
                    scope_spans: vec![scope_spans("c", 3)],
                    schema_url: "schema/r2".to_owned(),
                },
            ],
        }
    }

    /// Every span as (resource, resource schema, scope, scope schema, name prefix), in order.
    fn flatten(parts: &[ExportTraceServiceRequest]) -> Vec<(String, String, String, String)> {
        let mut out = Vec::new();
        for part in parts {
            for rs in &part.resource_spans {
                let res = format!("{:?}", rs.resource);
                for ss in &rs.scope_spans {
                    let sc = ss
                        .scope
                        .as_ref()
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    for s in &ss.spans {
                        out.push((
                            format!("{res}/{}", rs.schema_url),
                            sc.clone(),
                            ss.schema_url.clone(),
                            s.name.trim_end_matches('x').to_owned(),
                        ));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn a_request_that_fits_is_one_part() {
        let request = traces(10);
        let (parts, dropped) = fit(request.clone(), request.encoded_len());
        assert_eq!(parts, vec![request]);
        assert_eq!(dropped, Dropped::default());
    }

    #[test]
    fn every_cut_keeps_each_item_with_its_resource_and_scope_in_order() {
        let whole = traces(1000);
        let expected = flatten(std::slice::from_ref(&whole));
        assert_eq!(expected.len(), 8);
        for keep in 0..=8 {
            let mut first = whole.clone();
            let second = first.split_off(keep);
            assert_eq!(first.count(), keep);
            assert_eq!(second.count(), 8 - keep);
            assert_eq!(
                flatten(&[first.clone(), second.clone()]),
                expected,
                "cut at {keep}"
            );
            // No empty groups are left behind on either side.
            for part in [&first, &second] {
                for rs in &part.resource_spans {
                    assert!(rs.count() > 0, "cut at {keep}: an empty resource");
                    assert!(rs.scope_spans.iter().all(|s| !s.spans.is_empty()));
                }
            }
        }
    }

    #[test]
    fn a_large_request_is_cut_into_parts_under_the_limit_and_loses_nothing() {
        let whole = traces(1000);
        let limit = 2500;
        let (parts, dropped) = fit(whole.clone(), limit);
        assert_eq!(dropped, Dropped::default());
        assert!(parts.len() >= 4, "{} parts", parts.len());
        for part in &parts {
            assert!(part.encoded_len() <= limit, "{} bytes", part.encoded_len());
        }
        assert_eq!(flatten(&parts), flatten(&[whole]));
    }

    #[test]
    fn only_the_item_too_large_alone_is_dropped_and_counted() {
        let mut whole = traces(100);
        whole.resource_spans[0].scope_spans[1].spans[0] = span("huge", 10_000);
        let (parts, dropped) = fit(whole.clone(), 2000);
        assert_eq!(dropped.items, 1);
        assert!(dropped.largest > 10_000, "{dropped:?}");
        let mut expected = flatten(&[whole]);
        expected.retain(|(_, _, _, name)| name != "huge");
        assert_eq!(flatten(&parts), expected);
    }

    #[test]
    fn logs_and_metric_points_are_cut_too() {
        let record = |i: usize| LogRecord {
            severity_text: format!("{i}{}", "y".repeat(500)),
            ..Default::default()
        };
        let logs = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource("r"),
                scope_logs: vec![ScopeLogs {
                    scope: scope("s"),
                    log_records: (0..6).map(record).collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let (parts, dropped) = fit(logs, 1200);
        assert_eq!(dropped, Dropped::default());
        assert_eq!(parts.iter().map(Items::count).sum::<usize>(), 6);
        assert!(parts.iter().all(|p| p.encoded_len() <= 1200));

        // One metric whose points alone are over the limit: its points are spread over
        // several copies of it, name and description kept.
        let point = |i: i64| NumberDataPoint {
            value: Some(number_data_point::Value::AsInt(i)),
            attributes: vec![opentelemetry_proto::tonic::common::v1::KeyValue {
                key: "k".to_owned(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("v".repeat(300))),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let metrics = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource("r"),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope("s"),
                    metrics: vec![Metric {
                        name: "queue_depth".to_owned(),
                        description: "Jobs waiting.".to_owned(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: (0..8).map(point).collect(),
                        })),
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let (parts, dropped) = fit(metrics, 1000);
        assert_eq!(dropped, Dropped::default());
        assert!(parts.len() >= 4);
        let mut values = Vec::new();
        for part in &parts {
            assert!(part.encoded_len() <= 1000);
            let metric = &part.resource_metrics[0].scope_metrics[0].metrics[0];
            assert_eq!(
                (metric.name.as_str(), metric.description.as_str()),
                ("queue_depth", "Jobs waiting.")
            );
            let Some(metric::Data::Gauge(g)) = &metric.data else {
                panic!("still a gauge");
            };
            values.extend(g.data_points.iter().map(|p| p.value));
        }
        assert_eq!(
            values,
            (0..8)
                .map(|i| Some(number_data_point::Value::AsInt(i)))
                .collect::<Vec<_>>()
        );
    }
}
