//! Putting spans back together: traces, parent/child trees, calls between services.

use std::collections::HashMap;
use std::time::Duration;

use super::hex::to_hex;
use super::model::ReceivedSpan;

/// The spans of one trace, sorted by start time.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The trace id as sent (16 bytes for a valid trace).
    pub trace_id: Vec<u8>,
    /// The trace's spans, earliest start first.
    pub spans: Vec<ReceivedSpan>,
}

impl Trace {
    /// The trace id as lowercase hex.
    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }

    /// The earliest span start, in Unix nanoseconds.
    pub fn start_unix_nano(&self) -> u64 {
        self.spans
            .iter()
            .map(|span| span.span.start_time_unix_nano)
            .min()
            .unwrap_or_default()
    }

    /// The latest span end, in Unix nanoseconds.
    pub fn end_unix_nano(&self) -> u64 {
        self.spans
            .iter()
            .map(|span| span.span.end_time_unix_nano)
            .max()
            .unwrap_or_default()
    }

    /// From the earliest start to the latest end.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_unix_nano().saturating_sub(self.start_unix_nano()))
    }

    /// The distinct `service.name`s of the trace's spans, sorted.
    pub fn services(&self) -> Vec<&str> {
        let mut services: Vec<&str> = self
            .spans
            .iter()
            .filter_map(ReceivedSpan::service_name)
            .collect();
        services.sort_unstable();
        services.dedup();
        services
    }

    /// The parent/child tree of the trace's spans.
    pub fn tree(&self) -> SpanTree<'_> {
        SpanTree::new(&self.spans)
    }
}

/// Groups spans by trace id. Traces come out earliest start first, and each trace's spans
/// earliest start first.
pub fn group_by_trace(spans: impl IntoIterator<Item = ReceivedSpan>) -> Vec<Trace> {
    let mut by_trace: HashMap<Vec<u8>, Vec<ReceivedSpan>> = HashMap::new();
    for span in spans {
        by_trace
            .entry(span.span.trace_id.clone())
            .or_default()
            .push(span);
    }
    let mut traces: Vec<Trace> = by_trace
        .into_iter()
        .map(|(trace_id, mut spans)| {
            spans.sort_by_key(|span| span.span.start_time_unix_nano);
            Trace { trace_id, spans }
        })
        .collect();
    traces.sort_by(|a, b| {
        (a.start_unix_nano(), &a.trace_id).cmp(&(b.start_unix_nano(), &b.trace_id))
    });
    traces
}

/// The parent/child structure of a slice of spans, addressed by index into that slice.
///
/// A span is a root when it has no parent or its parent is not in the slice (it was not
/// received, or belongs to another process's trace that was not exported). Children are
/// ordered by start time. Malformed input never makes a loop: spans that no root reaches
/// (they sit on or under a cycle of parent ids) become roots, earliest first, until every
/// span is in the tree.
#[derive(Debug, Clone)]
pub struct SpanTree<'a> {
    spans: &'a [ReceivedSpan],
    parents: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
    roots: Vec<usize>,
}

/// One line of a depth-first walk of a [`SpanTree`]: what a waterfall view prints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpanRow<'a> {
    /// The span's index in the slice the tree was built from.
    pub index: usize,
    /// 0 for a root, 1 for its children, and so on.
    pub depth: usize,
    /// The span.
    pub span: &'a ReceivedSpan,
}

impl<'a> SpanTree<'a> {
    /// Links each span to its parent by `(trace_id, parent_span_id)`.
    pub fn new(spans: &'a [ReceivedSpan]) -> Self {
        let mut by_id: HashMap<(&[u8], &[u8]), usize> = HashMap::with_capacity(spans.len());
        for (index, span) in spans.iter().enumerate() {
            // A duplicate span id keeps its first occurrence as the parent target.
            by_id
                .entry((&span.span.trace_id, &span.span.span_id))
                .or_insert(index);
        }
        let mut parents: Vec<Option<usize>> = spans
            .iter()
            .enumerate()
            .map(|(index, span)| {
                if span.is_root() {
                    return None;
                }
                by_id
                    .get(&(&span.span.trace_id[..], &span.span.parent_span_id[..]))
                    .copied()
                    .filter(|parent| *parent != index)
            })
            .collect();

        let mut by_start: Vec<usize> = (0..spans.len()).collect();
        by_start.sort_by_key(|index| (spans[*index].span.start_time_unix_nano, *index));
        let mut children = vec![Vec::new(); spans.len()];
        for &index in &by_start {
            if let Some(parent) = parents[index] {
                children[parent].push(index);
            }
        }

        let mut roots: Vec<usize> = by_start
            .iter()
            .copied()
            .filter(|index| parents[*index].is_none())
            .collect();
        let mut reached = vec![false; spans.len()];
        for &root in &roots {
            mark_descendants(root, &children, &mut reached);
        }
        // What no root reaches sits on or under a parent cycle: cut it off as a new root.
        for &index in &by_start {
            if reached[index] {
                continue;
            }
            if let Some(parent) = parents[index].take() {
                children[parent].retain(|child| *child != index);
            }
            roots.push(index);
            mark_descendants(index, &children, &mut reached);
        }
        roots.sort_by_key(|index| (spans[*index].span.start_time_unix_nano, *index));

        Self {
            spans,
            parents,
            children,
            roots,
        }
    }

    /// The root spans' indices, earliest start first.
    pub fn roots(&self) -> &[usize] {
        &self.roots
    }

    /// The span at `index`. Panics if `index` is out of range, like slice indexing.
    pub fn span(&self, index: usize) -> &'a ReceivedSpan {
        &self.spans[index]
    }

    /// The parent's index, `None` for a root. Panics if `index` is out of range.
    pub fn parent(&self, index: usize) -> Option<usize> {
        self.parents[index]
    }

    /// The children's indices, earliest start first. Panics if `index` is out of range.
    pub fn children(&self, index: usize) -> &[usize] {
        &self.children[index]
    }

    /// Every span once, parents before children, siblings earliest first.
    pub fn depth_first(&self) -> Vec<SpanRow<'a>> {
        let mut rows = Vec::with_capacity(self.spans.len());
        // Explicit stack: a deep trace must not overflow the thread's stack.
        let mut pending: Vec<(usize, usize)> =
            self.roots.iter().rev().map(|root| (*root, 0)).collect();
        while let Some((index, depth)) = pending.pop() {
            rows.push(SpanRow {
                index,
                depth,
                span: &self.spans[index],
            });
            pending.extend(
                self.children[index]
                    .iter()
                    .rev()
                    .map(|child| (*child, depth + 1)),
            );
        }
        rows
    }

    /// Every parent/child pair whose spans name different services (`service.name`), in
    /// depth-first order: the edges of a service map, caller first.
    pub fn cross_service_calls(&self) -> Vec<(&'a ReceivedSpan, &'a ReceivedSpan)> {
        self.depth_first()
            .into_iter()
            .filter_map(|row| {
                let parent = &self.spans[self.parents[row.index]?];
                (parent.service_name() != row.span.service_name()).then_some((parent, row.span))
            })
            .collect()
    }
}

fn mark_descendants(start: usize, children: &[Vec<usize>], reached: &mut [bool]) {
    let mut pending = vec![start];
    while let Some(index) = pending.pop() {
        if !reached[index] {
            reached[index] = true;
            pending.extend(&children[index]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::Span;

    use super::*;
    use crate::testing::model::Transport;

    fn span(service: &str, trace: u8, id: u8, parent: Option<u8>, start: u64) -> ReceivedSpan {
        let resource = Resource {
            attributes: vec![KeyValue {
                key: "service.name".to_owned(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(service.to_owned())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        ReceivedSpan {
            transport: Transport::Grpc,
            resource: Arc::new(resource),
            resource_schema_url: Arc::from(""),
            scope: Arc::default(),
            span: Span {
                trace_id: vec![trace; 16],
                span_id: vec![id; 8],
                parent_span_id: parent.map(|parent| vec![parent; 8]).unwrap_or_default(),
                name: format!("{service}-{id}"),
                start_time_unix_nano: start,
                end_time_unix_nano: start + 10,
                ..Default::default()
            },
        }
    }

    fn names(tree: &SpanTree<'_>) -> Vec<(usize, String)> {
        tree.depth_first()
            .iter()
            .map(|row| (row.depth, row.span.name().to_owned()))
            .collect()
    }

    #[test]
    fn groups_by_trace_in_start_order() {
        let traces = group_by_trace([
            span("b", 2, 1, None, 50),
            span("a", 1, 2, Some(1), 30),
            span("a", 1, 1, None, 20),
        ]);
        let ids: Vec<String> = traces.iter().map(Trace::trace_id_hex).collect();
        assert_eq!(ids, ["01".repeat(16), "02".repeat(16)]);
        let first: Vec<&str> = traces[0].spans.iter().map(ReceivedSpan::name).collect();
        assert_eq!(first, ["a-1", "a-2"]);
        assert_eq!(traces[0].duration(), Duration::from_nanos(20));
        assert_eq!(traces[1].services(), ["b"]);
    }

    #[test]
    fn builds_the_tree_with_children_in_start_order_and_orphans_as_roots() {
        let spans = [
            span("reports", 1, 3, Some(1), 40),
            span("gateway", 1, 1, None, 0),
            span("reports", 1, 2, Some(1), 10),
            span("db", 1, 4, Some(2), 15),
            // Its parent (9) never arrived.
            span("cache", 1, 5, Some(9), 5),
        ];
        let tree = SpanTree::new(&spans);
        assert_eq!(
            names(&tree),
            [
                (0, "gateway-1".to_owned()),
                (1, "reports-2".to_owned()),
                (2, "db-4".to_owned()),
                (1, "reports-3".to_owned()),
                (0, "cache-5".to_owned()),
            ]
        );
        assert_eq!(tree.roots(), [1, 4]);
        assert_eq!(tree.parent(3), Some(2));
        assert_eq!(tree.children(1), [2, 0]);
        let calls: Vec<(&str, &str)> = tree
            .cross_service_calls()
            .into_iter()
            .map(|(caller, callee)| (caller.name(), callee.name()))
            .collect();
        assert_eq!(
            calls,
            [
                ("gateway-1", "reports-2"),
                ("reports-2", "db-4"),
                ("gateway-1", "reports-3")
            ]
        );
    }

    #[test]
    fn a_parent_cycle_is_cut_into_a_tree() {
        // 1 -> 2 -> 3 -> 1, and 4 is its own parent.
        let spans = [
            span("a", 1, 1, Some(3), 0),
            span("a", 1, 2, Some(1), 10),
            span("a", 1, 3, Some(2), 20),
            span("a", 1, 4, Some(4), 30),
        ];
        let tree = SpanTree::new(&spans);
        assert_eq!(
            names(&tree),
            [
                (0, "a-1".to_owned()),
                (1, "a-2".to_owned()),
                (2, "a-3".to_owned()),
                (0, "a-4".to_owned()),
            ]
        );
        assert_eq!(tree.parent(0), None);
    }

    #[test]
    fn a_deep_chain_does_not_overflow_the_stack() {
        let depth = 100_000_u32;
        let spans: Vec<ReceivedSpan> = (0..depth)
            .map(|level| {
                let mut span = span("a", 1, 0, None, u64::from(level));
                span.span.span_id = (u64::from(level) + 1).to_be_bytes().to_vec();
                if level > 0 {
                    span.span.parent_span_id = u64::from(level).to_be_bytes().to_vec();
                }
                span
            })
            .collect();
        let rows = SpanTree::new(&spans).depth_first();
        assert_eq!(rows.len(), spans.len());
        assert_eq!(rows.last().map(|row| row.depth), Some(depth as usize - 1));
    }
}
