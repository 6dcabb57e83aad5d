//! The summary as plain text, for the terminal.

use std::fmt::Write;

use super::summary::{Summary, millis};

/// Width of the waterfall's bar column, in characters.
const BAR_WIDTH: usize = 40;

fn quantile(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), millis)
}

fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// The whole report: routes, service map, slowest trace, its logs, the verdict.
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let traffic = &summary.traffic;
    // "75× 200, 214× 201, 3 unanswered": what came back, then what did not.
    let mut outcomes: Vec<String> = traffic
        .statuses
        .iter()
        .map(|(status, count)| format!("{count}× {status}"))
        .collect();
    if traffic.failed > 0 {
        outcomes.push(format!("{} unanswered", traffic.failed));
    }
    let _ = writeln!(
        out,
        "obs mesh: {} answered in {:.1} s ({} at a time{}); telemetry: {}",
        match traffic.requests {
            1 => "1 request".to_owned(),
            n => format!("{n} requests"),
        },
        traffic.seconds,
        traffic.concurrency,
        if outcomes.is_empty() {
            String::new()
        } else {
            format!("; {}", outcomes.join(", "))
        },
        summary.telemetry
    );

    let _ = writeln!(
        out,
        "\n1. Requests per route (each service's /metrics; errors = HTTP status >= 400 or gRPC status != OK)"
    );
    let _ = writeln!(
        out,
        "  {:<10} {:<5} {:<28} {:>8} {:>7} {:>7} {:>9} {:>9} {:>9}",
        "service", "proto", "route", "requests", "req/s", "errors", "p50", "p95", "p99"
    );
    for route in &summary.routes {
        let _ = writeln!(
            out,
            "  {:<10} {:<5} {:<28} {:>8} {:>7.1} {:>7} {:>9} {:>9} {:>9}",
            route.service,
            route.protocol,
            route.route,
            route.requests,
            route.rate,
            percent(route.error_rate),
            quantile(route.p50),
            quantile(route.p95),
            quantile(route.p99)
        );
    }

    let _ = writeln!(out, "\n2. Service map (from the traces: caller -> callee)");
    if summary.edges.is_empty() {
        let _ = writeln!(out, "  (no spans received)");
    }
    for edge in &summary.edges {
        let _ = writeln!(
            out,
            "  {:<10} -> {:<10} {:<5} {:>6} calls  {:>6} errors  p99 {}",
            edge.caller,
            edge.callee,
            edge.protocol,
            edge.calls,
            percent(edge.error_rate),
            millis(edge.p99)
        );
    }

    let Some(slow) = &summary.slowest else {
        let _ = writeln!(
            out,
            "\n3. Slowest trace: no complete trace received (telemetry: {})",
            summary.telemetry
        );
        return out;
    };
    let _ = writeln!(
        out,
        "\n3. Slowest trace {} ({}, {} spans)",
        slow.trace_id,
        millis(slow.duration),
        slow.rows.len()
    );
    let _ = writeln!(
        out,
        "  {:<10} {:<36} {:>9} {:>9}  {:<width$}  self time",
        "service",
        "span",
        "start",
        "duration",
        "timeline",
        width = BAR_WIDTH + 2
    );
    let scale = if slow.duration > 0.0 {
        BAR_WIDTH as f64 / slow.duration
    } else {
        0.0
    };
    for (index, row) in slow.rows.iter().enumerate() {
        let offset = ((row.start * scale).round() as usize).min(BAR_WIDTH - 1);
        let length = ((row.duration * scale).round() as usize).clamp(1, BAR_WIDTH - offset);
        let fill = if index == slow.slowest_row {
            '█'
        } else {
            '▒'
        };
        let bar: String = (0..BAR_WIDTH)
            .map(|column| {
                if (offset..offset + length).contains(&column) {
                    fill
                } else {
                    ' '
                }
            })
            .collect();
        let name = format!("{}{}", "  ".repeat(row.depth), row.name);
        let marker = if index == slow.slowest_row {
            "  <-- slowest"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:<10} {:<36} {:>9} {:>9}  |{bar}|  {}{}{marker}",
            row.service,
            name,
            millis(row.start),
            millis(row.duration),
            millis(row.self_time),
            if row.error { " (error)" } else { "" },
        );
    }

    let _ = writeln!(
        out,
        "\n4. Logs of trace {} ({} lines from {} services: {})",
        slow.trace_id,
        slow.logs.len(),
        slow.log_services().len(),
        slow.log_services().join(", ")
    );
    for log in &slow.logs {
        let _ = writeln!(out, "  {:<10} {}", log.service, log.raw);
    }
    let _ = writeln!(out, "\n{}", slow.verdict());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::summary::Traffic;

    fn first_line(traffic: Traffic) -> String {
        let summary = Summary {
            traffic,
            telemetry: "nowhere".to_owned(),
            routes: Vec::new(),
            edges: Vec::new(),
            slowest: None,
        };
        render(&summary)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// When no request got an answer (the gateway died), or only one did, the headline
    /// still reads as a sentence: no ", 5 unanswered" after an empty list, no "1 requests".
    #[test]
    fn the_headline_reads_well_with_no_answer_or_one() {
        let traffic = |requests, failed, statuses: &[(u16, usize)]| Traffic {
            requests,
            failed,
            statuses: statuses.iter().copied().collect(),
            seconds: 1.0,
            concurrency: 8,
        };
        assert_eq!(
            first_line(traffic(0, 5, &[])),
            "obs mesh: 0 requests answered in 1.0 s (8 at a time; 5 unanswered); telemetry: nowhere"
        );
        assert_eq!(
            first_line(traffic(0, 0, &[])),
            "obs mesh: 0 requests answered in 1.0 s (8 at a time); telemetry: nowhere"
        );
        assert_eq!(
            first_line(traffic(1, 0, &[(201, 1)])),
            "obs mesh: 1 request answered in 1.0 s (8 at a time; 1× 201); telemetry: nowhere"
        );
        assert_eq!(
            first_line(traffic(3, 2, &[(200, 1), (402, 2)])),
            "obs mesh: 3 requests answered in 1.0 s (8 at a time; 1× 200, 2× 402, 2 unanswered); \
             telemetry: nowhere"
        );
    }
}
