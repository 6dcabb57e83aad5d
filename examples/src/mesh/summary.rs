//! The answer the mesh prints: per-route RED metrics from `/metrics`, the service map and
//! the slowest trace from the spans, and that trace's log lines from the services' stdout.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use obs_core::testing::proto::tonic::trace::v1::span::SpanKind;
use obs_core::testing::{ReceivedSpan, group_by_trace};
use serde::Serialize;

use super::prom::{Sample, histogram_quantile};

/// Everything the text and HTML reports show.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Requests sent, and how long that took.
    pub traffic: Traffic,
    /// Where the services' telemetry went.
    pub telemetry: String,
    /// Per service and route, from `/metrics`.
    pub routes: Vec<RouteStats>,
    /// Caller → callee edges, from the traces.
    pub edges: Vec<Edge>,
    /// The slowest complete trace, if any trace arrived.
    pub slowest: Option<SlowTrace>,
}

/// The burst of traffic the runner sent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Traffic {
    /// Requests answered (any status).
    pub requests: usize,
    /// Requests that got no answer at all.
    pub failed: usize,
    /// How many answers had each status code.
    pub statuses: BTreeMap<u16, usize>,
    /// Seconds from the first request to the last answer.
    pub seconds: f64,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// Rate, errors and duration of one route (HTTP) or method (gRPC) of one service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteStats {
    /// The service that served it.
    pub service: String,
    /// `http` or `grpc`.
    pub protocol: &'static str,
    /// `POST /orders`, `mesh.Payments/Charge`, ...
    pub route: String,
    /// Requests served.
    pub requests: u64,
    /// Requests per second over the traffic burst.
    pub rate: f64,
    /// The fraction that failed: HTTP status ≥ 400, gRPC status other than `OK`.
    pub error_rate: f64,
    /// Median duration, in seconds, interpolated from the histogram buckets.
    pub p50: Option<f64>,
    /// 95th percentile, in seconds.
    pub p95: Option<f64>,
    /// 99th percentile, in seconds.
    pub p99: Option<f64>,
}

/// Calls from one service to another, as Jaeger's dependency view counts them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    /// The calling service.
    pub caller: String,
    /// The called service.
    pub callee: String,
    /// `http` or `grpc`.
    pub protocol: &'static str,
    /// Calls seen in the traces.
    pub calls: usize,
    /// The fraction of calls whose client or server span failed.
    pub error_rate: f64,
    /// 99th percentile of the call's duration as the caller saw it, in seconds.
    pub p99: f64,
}

/// One span of the slowest trace, in waterfall order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaterfallRow {
    /// The span's service.
    pub service: String,
    /// The span's name.
    pub name: String,
    /// The span id, as in the logs.
    pub span_id: String,
    /// 0 for the root.
    pub depth: usize,
    /// Seconds from the trace's start to the span's.
    pub start: f64,
    /// The span's duration, in seconds.
    pub duration: f64,
    /// The time not covered by any child span, in seconds: where the span itself spent it.
    pub self_time: f64,
    /// Whether the span's status is Error.
    pub error: bool,
}

/// One JSON log line of the slowest trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// The service whose stdout it came from.
    pub service: String,
    /// `INFO`, `WARN`, ...
    pub level: String,
    /// The message.
    pub message: String,
    /// The span it was logged in.
    pub span_id: String,
    /// When, as logged.
    pub timestamp: String,
    /// The line as the service wrote it.
    pub raw: String,
}

/// The slowest trace, its waterfall, its logs, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlowTrace {
    /// The trace id (lowercase hex), as in the logs.
    pub trace_id: String,
    /// From the first span's start to the last span's end, in seconds.
    pub duration: f64,
    /// The spans, parents before children.
    pub rows: Vec<WaterfallRow>,
    /// The index in `rows` of the span with the most self time: the slow one.
    pub slowest_row: usize,
    /// The trace's log lines from every service, in time order.
    pub logs: Vec<LogLine>,
    /// The slow span's most telling log line (a warning if there is one).
    pub reason: Option<String>,
}

impl SlowTrace {
    /// The services whose log lines are in [`SlowTrace::logs`], sorted.
    pub fn log_services(&self) -> Vec<&str> {
        let services: BTreeSet<&str> = self.logs.iter().map(|log| log.service.as_str()).collect();
        services.into_iter().collect()
    }

    /// The closing sentence: which service and span are slow, and what their log says.
    pub fn verdict(&self) -> String {
        let slow = &self.rows[self.slowest_row];
        let mut verdict = format!(
            "slowest: {} / {}, {} of {} (its own time, not waiting on other spans)",
            slow.service,
            slow.name,
            millis(slow.self_time),
            millis(self.duration)
        );
        match &self.reason {
            Some(reason) => verdict.push_str(&format!("; its log says: \"{reason}\"")),
            None => verdict.push_str("; it logged nothing"),
        }
        verdict
    }
}

/// `312 ms`, `1.2 ms`, `0.08 ms`.
pub fn millis(seconds: f64) -> String {
    let ms = seconds * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// Per-route statistics from each service's scraped samples, over `seconds` of traffic.
pub fn route_stats(scrapes: &[(String, Vec<Sample>)], seconds: f64) -> Vec<RouteStats> {
    let mut routes = Vec::new();
    for (service, samples) in scrapes {
        routes.extend(stats_of(
            service,
            samples,
            "http",
            "http_server_request_duration_seconds",
            seconds,
            |sample| {
                let route = sample.label("http_route");
                (!route.is_empty())
                    .then(|| format!("{} {route}", sample.label("http_request_method")))
            },
            |sample| {
                let status: u16 = sample
                    .label("http_response_status_code")
                    .parse()
                    .unwrap_or(0);
                status >= 400 || !sample.label("error_type").is_empty()
            },
        ));
        // The gRPC layers label calls by the old RPC conventions, by the stable ones
        // (`OTEL_SEMCONV_STABILITY_OPT_IN=rpc`), or by both, each call recorded once per
        // label set (`rpc/dup`): one set is read, the old one when it is there.
        let old = samples.iter().any(|s| !s.label("rpc_system").is_empty());
        routes.extend(stats_of(
            service,
            samples,
            "grpc",
            "rpc_server_call_duration_seconds",
            seconds,
            |sample| {
                if !old {
                    Some(sample.label("rpc_method").to_owned())
                } else if sample.label("rpc_system").is_empty() {
                    None
                } else {
                    let service = sample.label("rpc_service");
                    Some(format!("{service}/{}", sample.label("rpc_method")))
                }
            },
            |sample| {
                if old {
                    sample.label("rpc_grpc_status_code") != "0"
                } else {
                    sample.label("rpc_status_code") != "OK"
                }
            },
        ));
    }
    routes
}

/// Per route: requests, errors, and the buckets summed over the other labels, by `le`.
type RouteCounts = (f64, f64, BTreeMap<String, (f64, f64)>);

fn stats_of(
    service: &str,
    samples: &[Sample],
    protocol: &'static str,
    histogram: &str,
    seconds: f64,
    route_of: impl Fn(&Sample) -> Option<String>,
    is_error: impl Fn(&Sample) -> bool,
) -> Vec<RouteStats> {
    let bucket_name = format!("{histogram}_bucket");
    let count_name = format!("{histogram}_count");
    let mut by_route: BTreeMap<String, RouteCounts> = BTreeMap::new();
    for sample in samples {
        let Some(route) = route_of(sample) else {
            continue;
        };
        if sample.name == count_name {
            let entry = by_route.entry(route).or_default();
            entry.0 += sample.value;
            if is_error(sample) {
                entry.1 += sample.value;
            }
        } else if sample.name == bucket_name {
            let le = sample.label("le");
            let bound = match le {
                "+Inf" => f64::INFINITY,
                other => match other.parse() {
                    Ok(bound) => bound,
                    Err(_) => continue,
                },
            };
            let bucket = by_route
                .entry(route)
                .or_default()
                .2
                .entry(le.to_owned())
                .or_insert((bound, 0.0));
            bucket.1 += sample.value;
        }
    }
    by_route
        .into_iter()
        .filter(|(_, (requests, _, _))| *requests > 0.0)
        .map(|(route, (requests, errors, buckets))| {
            let buckets: Vec<(f64, f64)> = buckets.into_values().collect();
            RouteStats {
                service: service.to_owned(),
                protocol,
                route,
                requests: requests as u64,
                rate: if seconds > 0.0 {
                    requests / seconds
                } else {
                    0.0
                },
                error_rate: errors / requests,
                p50: histogram_quantile(0.50, &buckets),
                p95: histogram_quantile(0.95, &buckets),
                p99: histogram_quantile(0.99, &buckets),
            }
        })
        .collect()
}

/// The service map: every parent/child span pair that crosses services.
pub fn service_map(spans: &[ReceivedSpan]) -> Vec<Edge> {
    let mut edges: BTreeMap<(String, String, &'static str), (usize, Vec<f64>)> = BTreeMap::new();
    for trace in group_by_trace(spans.iter().cloned()) {
        let tree = trace.tree();
        for (caller, callee) in tree.cross_service_calls() {
            // `rpc.system` in the old RPC conventions, `rpc.system.name` in the stable ones.
            let rpc = ["rpc.system", "rpc.system.name"];
            let protocol = if rpc.iter().any(|key| callee.attribute_str(key).is_some()) {
                "grpc"
            } else {
                "http"
            };
            // The caller's CLIENT span is the call as the caller waited for it.
            let seen = if caller.kind() == SpanKind::Client {
                caller
            } else {
                callee
            };
            let key = (
                service_of(caller).to_owned(),
                service_of(callee).to_owned(),
                protocol,
            );
            let edge = edges.entry(key).or_default();
            edge.0 += usize::from(caller.is_error() || callee.is_error());
            edge.1.push(seen.duration().as_secs_f64());
        }
    }
    edges
        .into_iter()
        .map(|((caller, callee, protocol), (errors, mut durations))| {
            durations.sort_by(f64::total_cmp);
            Edge {
                caller,
                callee,
                protocol,
                calls: durations.len(),
                error_rate: errors as f64 / durations.len() as f64,
                p99: nearest_rank(&durations, 0.99),
            }
        })
        .collect()
}

fn service_of(span: &ReceivedSpan) -> &str {
    span.service_name().unwrap_or("unknown")
}

/// The nearest-rank quantile of sorted, non-empty `values`.
fn nearest_rank(values: &[f64], q: f64) -> f64 {
    let rank = (q * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// The slowest trace whose root span was received (so the whole request is in it), with
/// its log lines picked from `logs` (each service's stdout) by trace id.
pub fn slowest_trace(spans: &[ReceivedSpan], logs: &[(String, String)]) -> Option<SlowTrace> {
    let trace = group_by_trace(spans.iter().cloned())
        .into_iter()
        .filter(|trace| trace.spans.iter().any(ReceivedSpan::is_root))
        .max_by_key(|trace| trace.duration())?;
    let start = trace.start_unix_nano();
    let tree = trace.tree();
    let rows: Vec<WaterfallRow> = tree
        .depth_first()
        .into_iter()
        .map(|row| {
            let children: Vec<(u64, u64)> = tree
                .children(row.index)
                .iter()
                .map(|child| {
                    let child = &tree.span(*child).span;
                    (child.start_time_unix_nano, child.end_time_unix_nano)
                })
                .collect();
            let span = &row.span.span;
            let own = span
                .end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano);
            let covered =
                covered_nanos(span.start_time_unix_nano, span.end_time_unix_nano, children);
            WaterfallRow {
                service: service_of(row.span).to_owned(),
                name: row.span.name().to_owned(),
                span_id: row.span.span_id_hex(),
                depth: row.depth,
                start: nanos_to_secs(span.start_time_unix_nano.saturating_sub(start)),
                duration: row.span.duration().as_secs_f64(),
                self_time: nanos_to_secs(own.saturating_sub(covered)),
                error: row.span.is_error(),
            }
        })
        .collect();
    let slowest_row = rows
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.self_time.total_cmp(&b.1.self_time))
        .map_or(0, |(index, _)| index);
    let trace_id = trace.trace_id_hex();
    let mut lines: Vec<LogLine> = logs
        .iter()
        .filter_map(|(service, line)| log_line(service, line, &trace_id))
        .collect();
    lines.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    let slow_span = &rows[slowest_row].span_id;
    let in_slow_span = || lines.iter().filter(|log| &log.span_id == slow_span);
    let reason = in_slow_span()
        .find(|log| log.level == "WARN" || log.level == "ERROR")
        .or_else(|| in_slow_span().next())
        .map(|log| log.message.clone());
    Some(SlowTrace {
        trace_id,
        duration: trace.duration().as_secs_f64(),
        rows,
        slowest_row,
        logs: lines,
        reason,
    })
}

fn nanos_to_secs(nanos: u64) -> f64 {
    Duration::from_nanos(nanos).as_secs_f64()
}

/// How much of `[start, end)` the `children` intervals cover, overlaps counted once.
fn covered_nanos(start: u64, end: u64, mut children: Vec<(u64, u64)>) -> u64 {
    children.sort_unstable();
    let mut covered = 0;
    let mut reached = start;
    for (child_start, child_end) in children {
        let from = child_start.max(reached);
        let to = child_end.min(end);
        if to > from {
            covered += to - from;
            reached = to;
        }
    }
    covered
}

/// The line as a [`LogLine`] if it is a JSON log line of trace `trace_id`.
fn log_line(service: &str, line: &str, trace_id: &str) -> Option<LogLine> {
    let json: serde_json::Value = serde_json::from_str(line).ok()?;
    if json["trace_id"].as_str()? != trace_id {
        return None;
    }
    let text = |key: &str| json[key].as_str().unwrap_or_default().to_owned();
    Some(LogLine {
        service: service.to_owned(),
        level: text("level"),
        message: text("message"),
        span_id: text("span_id"),
        timestamp: text("timestamp"),
        raw: line.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use obs_core::testing::Transport;
    use obs_core::testing::proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use obs_core::testing::proto::tonic::resource::v1::Resource;
    use obs_core::testing::proto::tonic::trace::v1::{Span, Status, status};

    use super::*;

    fn string(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.to_owned())),
            }),
            ..Default::default()
        }
    }

    /// A span of trace 1 with id `id`, parent `parent`, from `start` to `end` ms.
    fn span(
        service: &str,
        name: &str,
        id: u8,
        parent: Option<u8>,
        start: u64,
        end: u64,
    ) -> ReceivedSpan {
        let resource = Resource {
            attributes: vec![string("service.name", service)],
            ..Default::default()
        };
        ReceivedSpan {
            transport: Transport::HttpProtobuf,
            resource: Arc::new(resource),
            resource_schema_url: Arc::from(""),
            scope: Arc::default(),
            span: Span {
                trace_id: vec![1; 16],
                span_id: vec![id; 8],
                parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
                name: name.to_owned(),
                start_time_unix_nano: start * 1_000_000,
                end_time_unix_nano: end * 1_000_000,
                ..Default::default()
            },
        }
    }

    fn client(mut span: ReceivedSpan) -> ReceivedSpan {
        span.span.kind = SpanKind::Client as i32;
        span
    }

    fn failed(mut span: ReceivedSpan) -> ReceivedSpan {
        span.span.status = Some(Status {
            code: status::StatusCode::Error as i32,
            ..Default::default()
        });
        span
    }

    fn grpc(mut span: ReceivedSpan) -> ReceivedSpan {
        span.span.attributes.push(string("rpc.system", "grpc"));
        span
    }

    /// gateway → reports (HTTP) → inventory (gRPC, failed), and a slow render.
    fn report_trace() -> Vec<ReceivedSpan> {
        vec![
            span("gateway", "GET /reports/{id}", 1, None, 0, 100),
            client(span("gateway", "GET", 2, Some(1), 2, 98)),
            span("reports", "GET /reports/{id}", 3, Some(2), 5, 95),
            span("reports", "report.query", 4, Some(3), 6, 20),
            failed(client(span(
                "reports",
                "mesh.Inventory/WatchStock",
                5,
                Some(4),
                7,
                19,
            ))),
            grpc(span(
                "inventory",
                "mesh.Inventory/WatchStock",
                6,
                Some(5),
                8,
                18,
            )),
            span("reports", "report.render", 7, Some(3), 20, 94),
        ]
    }

    #[test]
    fn the_service_map_has_one_edge_per_crossing_with_protocol_and_errors() {
        let edges = service_map(&report_trace());
        let summary: Vec<(&str, &str, &str, usize, f64)> = edges
            .iter()
            .map(|e| {
                (
                    e.caller.as_str(),
                    e.callee.as_str(),
                    e.protocol,
                    e.calls,
                    e.error_rate,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("gateway", "reports", "http", 1, 0.0),
                ("reports", "inventory", "grpc", 1, 1.0)
            ]
        );
        // The caller's client span: 2..98 ms.
        assert!((edges[0].p99 - 0.096).abs() < 1e-9, "{}", edges[0].p99);
    }

    #[test]
    fn the_slowest_span_is_the_one_with_most_self_time_and_its_warning_is_the_reason() {
        let trace_id = "01".repeat(16);
        let line = |service: &str, level: &str, span: u8, message: &str| {
            (
                service.to_owned(),
                serde_json::json!({
                    "timestamp": format!("2026-01-01T00:00:00.{span:03}Z"),
                    "level": level,
                    "message": message,
                    "trace_id": trace_id,
                    "span_id": format!("{span:02x}").repeat(8),
                })
                .to_string(),
            )
        };
        let logs = vec![
            line("reports", "INFO", 7, "report rendered"),
            line("reports", "WARN", 7, "no summary cache"),
            line("gateway", "INFO", 1, "fetching report"),
            ("reports".to_owned(), "not json".to_owned()),
            (
                "orders".to_owned(),
                r#"{"trace_id":"ff","message":"other trace"}"#.to_owned(),
            ),
        ];
        let slow = slowest_trace(&report_trace(), &logs).expect("a trace");
        assert_eq!(slow.trace_id, trace_id);
        let names: Vec<(usize, &str)> = slow
            .rows
            .iter()
            .map(|r| (r.depth, r.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (0, "GET /reports/{id}"),
                (1, "GET"),
                (2, "GET /reports/{id}"),
                (3, "report.query"),
                (4, "mesh.Inventory/WatchStock"),
                (5, "mesh.Inventory/WatchStock"),
                (3, "report.render"),
            ]
        );
        let slowest = &slow.rows[slow.slowest_row];
        assert_eq!(
            (slowest.service.as_str(), slowest.name.as_str()),
            ("reports", "report.render")
        );
        assert!((slowest.self_time - 0.074).abs() < 1e-9);
        // reports' server span: 90 ms, of which query (14) and render (74) are children.
        assert!((slow.rows[2].self_time - 0.002).abs() < 1e-9);
        assert!(slow.rows[4].error);
        assert_eq!(slow.logs.len(), 3);
        assert_eq!(slow.logs[0].message, "fetching report");
        assert_eq!(slow.log_services(), ["gateway", "reports"]);
        assert_eq!(slow.reason.as_deref(), Some("no summary cache"));
        assert_eq!(
            slow.verdict(),
            "slowest: reports / report.render, 74.0 ms of 100 ms (its own time, not waiting on other spans); its log says: \"no summary cache\""
        );
    }

    #[test]
    fn children_overlaps_count_once_and_are_clipped() {
        assert_eq!(
            covered_nanos(0, 100, vec![(10, 30), (20, 40), (90, 150)]),
            40
        );
        assert_eq!(covered_nanos(0, 100, Vec::new()), 0);
    }

    /// `OTEL_SEMCONV_STABILITY_OPT_IN=rpc` (stable RPC conventions) or `rpc/dup` (both, each
    /// call recorded once per label set) in the services' environment: the gRPC rows and
    /// edges are the same as with the old conventions.
    #[test]
    fn grpc_rows_and_edges_read_the_old_and_the_stable_rpc_conventions() {
        let old = "\
@bucket{rpc_system=\"grpc\",rpc_service=\"mesh.Payments\",rpc_method=\"Charge\",rpc_grpc_status_code=\"0\",error_type=\"\",le=\"+Inf\"} 19
@count{rpc_system=\"grpc\",rpc_service=\"mesh.Payments\",rpc_method=\"Charge\",rpc_grpc_status_code=\"0\",error_type=\"\"} 19
@bucket{rpc_system=\"grpc\",rpc_service=\"mesh.Payments\",rpc_method=\"Charge\",rpc_grpc_status_code=\"9\",error_type=\"\",le=\"+Inf\"} 1
@count{rpc_system=\"grpc\",rpc_service=\"mesh.Payments\",rpc_method=\"Charge\",rpc_grpc_status_code=\"9\",error_type=\"\"} 1
";
        let stable = "\
@bucket{rpc_system_name=\"grpc\",rpc_method=\"mesh.Payments/Charge\",rpc_status_code=\"OK\",error_type=\"\",le=\"+Inf\"} 19
@count{rpc_system_name=\"grpc\",rpc_method=\"mesh.Payments/Charge\",rpc_status_code=\"OK\",error_type=\"\"} 19
@bucket{rpc_system_name=\"grpc\",rpc_method=\"mesh.Payments/Charge\",rpc_status_code=\"FAILED_PRECONDITION\",error_type=\"\",le=\"+Inf\"} 1
@count{rpc_system_name=\"grpc\",rpc_method=\"mesh.Payments/Charge\",rpc_status_code=\"FAILED_PRECONDITION\",error_type=\"\"} 1
";
        for text in [old.to_owned(), stable.to_owned(), format!("{old}{stable}")] {
            let text = text.replace('@', "rpc_server_call_duration_seconds_");
            let scrapes = vec![("payments".to_owned(), super::super::prom::parse(&text))];
            let stats = route_stats(&scrapes, 10.0);
            assert_eq!(stats.len(), 1, "{text}");
            let charge = &stats[0];
            assert_eq!(
                (charge.protocol, charge.route.as_str(), charge.requests),
                ("grpc", "mesh.Payments/Charge", 20),
                "{text}"
            );
            assert!((charge.error_rate - 0.05).abs() < 1e-9, "{text}");
        }

        let mut trace = report_trace();
        for span in &mut trace {
            for attribute in &mut span.span.attributes {
                if attribute.key == "rpc.system" {
                    attribute.key = "rpc.system.name".to_owned();
                }
            }
        }
        let edges = service_map(&trace);
        assert_eq!(edges[1].callee, "inventory");
        assert_eq!(edges[1].protocol, "grpc");
    }

    #[test]
    fn route_stats_merge_status_and_protocol_labels_and_count_errors() {
        // The label set obs-tower records: one route's series differ by protocol version too.
        let text = "\
h_bucket{http_request_method=\"POST\",url_scheme=\"http\",http_route=\"/orders\",network_protocol_version=\"1.1\",http_response_status_code=\"201\",le=\"0.1\"} 18
h_bucket{http_request_method=\"POST\",url_scheme=\"http\",http_route=\"/orders\",network_protocol_version=\"1.1\",http_response_status_code=\"201\",le=\"+Inf\"} 18
h_count{http_request_method=\"POST\",url_scheme=\"http\",http_route=\"/orders\",network_protocol_version=\"1.1\",http_response_status_code=\"201\"} 18
h_bucket{http_request_method=\"POST\",url_scheme=\"http\",http_route=\"/orders\",network_protocol_version=\"2\",http_response_status_code=\"402\",le=\"0.1\"} 1
h_bucket{http_request_method=\"POST\",url_scheme=\"http\",http_route=\"/orders\",network_protocol_version=\"2\",http_response_status_code=\"402\",le=\"+Inf\"} 2
h_count{http_request_method=\"POST\",url_scheme=\"http\",http_route=\"/orders\",network_protocol_version=\"2\",http_response_status_code=\"402\"} 2
"
        .replace("h_", "http_server_request_duration_seconds_");
        let scrapes = vec![("gateway".to_owned(), super::super::prom::parse(&text))];
        let stats = route_stats(&scrapes, 10.0);
        assert_eq!(stats.len(), 1);
        let orders = &stats[0];
        assert_eq!(
            (orders.route.as_str(), orders.requests),
            ("POST /orders", 20)
        );
        assert!((orders.rate - 2.0).abs() < 1e-9);
        assert!((orders.error_rate - 0.1).abs() < 1e-9);
        // Rank 10 of 19 observations in (0, 0.1].
        assert!((orders.p50.unwrap() - 0.1 * 10.0 / 19.0).abs() < 1e-12);
        assert_eq!(orders.p99, Some(0.1));
    }
}
