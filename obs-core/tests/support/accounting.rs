//! What obs's own counters say it did with a signal's items.

use obs_core::Signal;

/// `signal`'s items exported or dropped, whatever the reason, as
/// `obs_telemetry_exported_total` and `obs_telemetry_dropped_total` count them.
pub fn accounted(signal: Signal) -> u64 {
    let text = obs_core::metrics::global().encode(obs_core::metrics::text::Format::Prometheus);
    let label = format!("signal=\"{}\"", signal.as_str());
    text.lines()
        .filter(|l| {
            (l.starts_with("obs_telemetry_dropped_total{")
                || l.starts_with("obs_telemetry_exported_total{"))
                && l.contains(&label)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
