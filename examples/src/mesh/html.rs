//! The summary as one self-contained HTML page: inline CSS, SVG and script, no external
//! assets. The SVG is drawn here, so the page shows everything even with scripts off;
//! the script adds filtering of the logs by service and by clicked span.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::summary::{Edge, SlowTrace, Summary, millis};

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1b1b1b;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
.verdict{font-size:1.1em;background:#fff4e6;border-left:4px solid #d9480f;padding:.6em 1em}
table{border-collapse:collapse;width:100%}th,td{padding:3px 8px;text-align:left;border-bottom:1px solid #eee}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
svg text{font:12px system-ui,sans-serif}.edge text{font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:4px}.node rect{fill:#e7f5ff;stroke:#1c7ed6}
.edge path{fill:none;stroke:#868e96;stroke-width:1.5}.edge.err path{stroke:#e8590c}
.span-row{cursor:pointer}.span-row:hover rect.bg{fill:#f1f3f5}.span-row.selected rect.bg{fill:#fff4e6}
.bar{fill:#74c0fc}.bar.slow{fill:#d9480f}.bar.error{stroke:#e03131;stroke-width:2}
#logs td{font:12px ui-monospace,monospace;vertical-align:top}#logs td.raw{word-break:break-all;color:#495057}#logs tr.hidden{display:none}
#logs tr.hit{background:#fff4e6}.level-WARN,.level-ERROR{color:#d9480f;font-weight:bold}
button{margin:0 .3em .5em 0}button.off{opacity:.4}#status{color:#868e96}
";

const SCRIPT: &str = r#"
const summary = JSON.parse(document.getElementById('summary-data').textContent);
const slow = summary.slowest;
const rows = Array.from(document.querySelectorAll('#logs tbody tr'));
const hidden = new Set();
function applyFilter(spanId) {
  for (const row of rows) {
    row.classList.toggle('hidden', hidden.has(row.dataset.service));
    row.classList.toggle('hit', spanId !== undefined && row.dataset.spanId === spanId);
  }
}
const filter = document.getElementById('log-filter');
for (const service of [...new Set(rows.map(r => r.dataset.service))].sort()) {
  const button = document.createElement('button');
  button.textContent = service;
  button.addEventListener('click', () => {
    if (hidden.has(service)) { hidden.delete(service); } else { hidden.add(service); }
    button.classList.toggle('off', hidden.has(service));
    applyFilter();
  });
  filter.appendChild(button);
}
for (const group of document.querySelectorAll('.span-row')) {
  group.addEventListener('click', () => {
    document.querySelectorAll('.span-row.selected').forEach(g => g.classList.remove('selected'));
    group.classList.add('selected');
    applyFilter(group.dataset.spanId);
  });
}
const status = document.getElementById('status');
if (slow) {
  const span = slow.rows[slow.slowest_row];
  status.textContent = 'rendered ' + slow.rows.length + ' spans and ' + rows.length +
    ' log lines; slowest span: ' + span.service + ' / ' + span.name;
  applyFilter(span.span_id);
} else {
  status.textContent = 'rendered: no trace received';
}
document.body.dataset.rendered = 'ok';
"#;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The page.
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>obs mesh: which service is slow, and why?</title><style>{STYLE}</style></head><body>\
         <h1>obs mesh: which service is slow, and why?</h1>"
    );
    if let Some(slow) = &summary.slowest {
        let _ = write!(
            out,
            "<p class=\"verdict\" id=\"verdict\">{}</p>",
            escape(&slow.verdict())
        );
    }
    let traffic = &summary.traffic;
    let _ = write!(
        out,
        "<p>{} requests answered in {:.1} s, {} at a time ({} unanswered). Telemetry: {}.</p>",
        traffic.requests,
        traffic.seconds,
        traffic.concurrency,
        traffic.failed,
        escape(&summary.telemetry)
    );
    routes_table(&mut out, summary);
    let _ = write!(out, "<h2>2. Service map (from the traces)</h2>");
    if summary.edges.is_empty() {
        let _ = write!(out, "<p>No spans received.</p>");
    } else {
        service_map(&mut out, &summary.edges);
    }
    match &summary.slowest {
        Some(slow) => {
            waterfall(&mut out, slow);
            logs(&mut out, slow);
        }
        None => {
            let _ = write!(
                out,
                "<h2>3. Slowest trace</h2><p>No complete trace received.</p>"
            );
        }
    }
    // `<` escaped so no string in the data can close the script element.
    let data = serde_json::to_string(summary)
        .unwrap_or_else(|_| "{}".to_owned())
        .replace('<', "\\u003c");
    let _ = writeln!(
        out,
        "<p id=\"status\">scripts did not run</p>\
         <script id=\"summary-data\" type=\"application/json\">{data}</script>\
         <script>{SCRIPT}</script></body></html>"
    );
    out
}

fn routes_table(out: &mut String, summary: &Summary) {
    let _ = write!(
        out,
        "<h2>1. Requests per route (from each service's /metrics)</h2><table><thead><tr>\
         <th>service</th><th>protocol</th><th>route</th><th class=num>requests</th>\
         <th class=num>req/s</th><th class=num>errors</th><th class=num>p50</th>\
         <th class=num>p95</th><th class=num>p99</th></tr></thead><tbody>"
    );
    let quantile = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), millis);
    for route in &summary.routes {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=num>{}</td><td class=num>{:.1}</td>\
             <td class=num>{:.1}%</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td></tr>",
            escape(&route.service),
            route.protocol,
            escape(&route.route),
            route.requests,
            route.rate,
            route.error_rate * 100.0,
            quantile(route.p50),
            quantile(route.p95),
            quantile(route.p99)
        );
    }
    let _ = write!(
        out,
        "</tbody></table><p>Errors are HTTP answers with status ≥ 400 and gRPC calls with a status other than OK; quantiles are interpolated from the histogram buckets as Prometheus's <code>histogram_quantile</code> does.</p>"
    );
}

/// Services in columns by their distance from the callers nobody calls.
fn service_map(out: &mut String, edges: &[Edge]) {
    let mut column: BTreeMap<&str, usize> = BTreeMap::new();
    for edge in edges {
        column.entry(&edge.caller).or_insert(0);
        column.entry(&edge.callee).or_insert(0);
    }
    // Longest path from a source; bounded by the number of services (cycles stop there).
    for _ in 0..column.len() {
        for edge in edges {
            let next = column[edge.caller.as_str()] + 1;
            if next < column.len() && column[edge.callee.as_str()] < next {
                column.insert(&edge.callee, next);
            }
        }
    }
    let mut rows_used: BTreeMap<usize, usize> = BTreeMap::new();
    let mut position: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (service, col) in &column {
        let row = rows_used.entry(*col).or_default();
        // Odd columns sit half a row lower, so an edge that skips a column passes
        // between the nodes instead of through them.
        let stagger = if col % 2 == 1 { 55.0 } else { 0.0 };
        position.insert(
            service,
            (
                20.0 + *col as f64 * 280.0,
                30.0 + stagger + *row as f64 * 110.0,
            ),
        );
        *row += 1;
    }
    let (node_w, node_h) = (130.0, 36.0);
    let width = position.values().map(|p| p.0).fold(0.0, f64::max) + node_w + 20.0;
    let height = position.values().map(|p| p.1).fold(0.0, f64::max) + node_h + 40.0;
    let _ = write!(
        out,
        "<svg id=\"service-map\" role=\"img\" aria-label=\"service map\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\">\
         <path d=\"M0,0L10,5L0,10z\" fill=\"#868e96\"/></marker></defs>"
    );
    for (index, edge) in edges.iter().enumerate() {
        let (x1, y1) = position[edge.caller.as_str()];
        let (x2, y2) = position[edge.callee.as_str()];
        let (sx, sy) = (x1 + node_w, y1 + node_h / 2.0);
        let (ex, ey) = (x2, y2 + node_h / 2.0);
        // Edges into the same column bend apart so their labels do not overlap.
        let bend = (index % 3) as f64 * 12.0 - 12.0;
        let (mx, my) = ((sx + ex) / 2.0, (sy + ey) / 2.0 + bend);
        let class = if edge.error_rate > 0.0 {
            "edge err"
        } else {
            "edge"
        };
        let _ = write!(
            out,
            "<g class=\"{class}\"><title>{} → {}: {} calls over {}, {:.1}% errors, p99 {}</title>\
             <path d=\"M{sx},{sy} Q{mx},{my} {ex},{ey}\" marker-end=\"url(#arrow)\"/>\
             <text x=\"{mx}\" y=\"{}\" text-anchor=\"middle\">{} · {} calls · {:.1}% err · p99 {}</text></g>",
            escape(&edge.caller),
            escape(&edge.callee),
            edge.calls,
            edge.protocol,
            edge.error_rate * 100.0,
            millis(edge.p99),
            my - 4.0,
            edge.protocol,
            edge.calls,
            edge.error_rate * 100.0,
            millis(edge.p99)
        );
    }
    for (service, (x, y)) in &position {
        let _ = write!(
            out,
            "<g class=\"node\"><rect x=\"{x}\" y=\"{y}\" width=\"{node_w}\" height=\"{node_h}\" rx=\"6\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
            x + node_w / 2.0,
            y + node_h / 2.0 + 4.0,
            escape(service)
        );
    }
    let _ = write!(out, "</svg>");
}

fn waterfall(out: &mut String, slow: &SlowTrace) {
    let (label_w, bar_w, row_h) = (380.0, 560.0, 22.0);
    let width = label_w + bar_w + 120.0;
    let height = row_h * (slow.rows.len() as f64 + 1.0) + 10.0;
    let scale = if slow.duration > 0.0 {
        bar_w / slow.duration
    } else {
        0.0
    };
    let _ = write!(
        out,
        "<h2>3. Slowest trace <code>{}</code> ({}, {} spans)</h2>\
         <p>Each bar is a span, placed by its start and sized by its duration; the orange one spends the most time itself rather than waiting for its children. Click a span to highlight its log lines.</p>\
         <svg id=\"waterfall\" role=\"img\" aria-label=\"trace waterfall\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\
         <text x=\"0\" y=\"14\" font-weight=\"bold\">service / span</text>\
         <text x=\"{label_w}\" y=\"14\" font-weight=\"bold\">0 ms</text>\
         <text x=\"{}\" y=\"14\" font-weight=\"bold\" text-anchor=\"end\">{}</text>",
        slow.trace_id,
        millis(slow.duration),
        slow.rows.len(),
        label_w + bar_w,
        millis(slow.duration)
    );
    for (index, row) in slow.rows.iter().enumerate() {
        let y = row_h * (index as f64 + 1.0);
        let x = label_w + row.start * scale;
        let w = (row.duration * scale).max(2.0);
        let mut class = String::from("bar");
        if index == slow.slowest_row {
            class.push_str(" slow");
        }
        if row.error {
            class.push_str(" error");
        }
        let _ = write!(
            out,
            "<g class=\"span-row\" data-span-id=\"{}\"><title>{} / {}: starts at {}, lasts {}, {} of it its own</title>\
             <rect class=\"bg\" x=\"0\" y=\"{}\" width=\"{width}\" height=\"{row_h}\" fill=\"transparent\"/>\
             <text x=\"{}\" y=\"{}\"><tspan fill=\"#868e96\">{}</tspan> {}</text>\
             <rect class=\"{class}\" x=\"{x:.1}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" rx=\"2\"/>\
             <text x=\"{:.1}\" y=\"{}\">{}</text></g>",
            row.span_id,
            escape(&row.service),
            escape(&row.name),
            millis(row.start),
            millis(row.duration),
            millis(row.self_time),
            y + 2.0,
            row.depth as f64 * 14.0,
            y + 16.0,
            escape(&row.service),
            escape(&row.name),
            y + 5.0,
            row_h - 8.0,
            x + w + 4.0,
            y + 16.0,
            millis(row.duration)
        );
    }
    let _ = write!(out, "</svg>");
}

fn logs(out: &mut String, slow: &SlowTrace) {
    let services = slow.log_services();
    let _ = write!(
        out,
        "<h2>4. Logs of trace <code>{}</code> ({} lines from {} services: {})</h2>\
         <div id=\"log-filter\"></div><table id=\"logs\"><thead><tr><th>time</th><th>service</th>\
         <th>level</th><th>message</th><th>JSON line</th></tr></thead><tbody>",
        slow.trace_id,
        slow.logs.len(),
        services.len(),
        escape(&services.join(", "))
    );
    for log in &slow.logs {
        let _ = write!(
            out,
            "<tr data-service=\"{}\" data-span-id=\"{}\"><td>{}</td><td>{}</td><td class=\"level-{}\">{}</td><td>{}</td><td class=\"raw\">{}</td></tr>",
            escape(&log.service),
            escape(&log.span_id),
            escape(log.timestamp.get(11..23).unwrap_or(&log.timestamp)),
            escape(&log.service),
            escape(&log.level),
            escape(&log.level),
            escape(&log.message),
            escape(&log.raw)
        );
    }
    let _ = write!(out, "</tbody></table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::summary::{LogLine, Traffic, WaterfallRow};

    fn row(name: &str, depth: usize, start: f64, duration: f64) -> WaterfallRow {
        WaterfallRow {
            service: "reports".to_owned(),
            name: name.to_owned(),
            span_id: format!("{depth:016x}"),
            depth,
            start,
            duration,
            self_time: duration,
            error: false,
        }
    }

    #[test]
    fn text_from_telemetry_cannot_break_out_of_the_page() {
        let hostile = "</script><script>alert(1)</script><b onclick=\"x\">";
        let summary = Summary {
            traffic: Traffic::default(),
            telemetry: "here".to_owned(),
            routes: Vec::new(),
            edges: vec![Edge {
                caller: "gateway".to_owned(),
                callee: hostile.to_owned(),
                protocol: "http",
                calls: 1,
                error_rate: 0.0,
                p99: 0.01,
            }],
            slowest: Some(SlowTrace {
                trace_id: "01".repeat(16),
                duration: 0.3,
                rows: vec![row("GET", 0, 0.0, 0.3), row(hostile, 1, 0.01, 0.28)],
                slowest_row: 1,
                logs: vec![LogLine {
                    service: "reports".to_owned(),
                    level: "WARN".to_owned(),
                    message: hostile.to_owned(),
                    span_id: "1".repeat(16),
                    timestamp: "2026-01-01T00:00:00.000000000Z".to_owned(),
                    raw: hostile.to_owned(),
                }],
                reason: Some(hostile.to_owned()),
            }),
        };
        let page = render(&summary);
        assert!(!page.contains(hostile), "unescaped telemetry in the page");
        assert!(
            !page.contains("<script>alert"),
            "a script could be injected"
        );
        // Exactly the two script elements the page brings.
        assert_eq!(page.matches("<script").count(), 2);
        assert!(page.contains("&lt;/script&gt;"));
        assert!(page.contains("class=\"bar slow\""));
        assert!(page.contains("id=\"service-map\""));
    }
}
