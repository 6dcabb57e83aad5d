//! Process metrics read from `/proc` at collection time (Linux; elsewhere nothing), with
//! the names and meaning of the Prometheus client libraries' process collector
//! (<https://prometheus.io/docs/instrumenting/writing_clientlibs/#process-metrics>) on
//! `/metrics` and, over OTLP, the names of the OS process metric conventions where they
//! have one (see [`Registry::register_process_metrics`]), and tokio runtime metrics from
//! the stable `RuntimeMetrics` API (feature `tokio`).

use std::sync::atomic::Ordering;

use crate::{
    MetricFamilySnapshot, MetricKind, OtelNames, PointSnapshot, PointValue, Registry, Unit,
};

/// Linux fixes `USER_HZ`, the unit of the tick counts in `/proc/<pid>/stat`, at 100 on
/// every architecture it supports (`sysconf(_SC_CLK_TCK)`), so no libc call is needed.
const TICKS_PER_SECOND: f64 = 100.0;

/// An OpenTelemetry name (and count unit) for a family without labels.
const fn otel(name: &'static str, unit: Option<&'static str>) -> OtelNames {
    OtelNames {
        name: Some(name),
        attributes: &[],
        unit,
        scope: None,
    }
}

/// One unlabelled point.
fn family(
    name: &str,
    help: &str,
    unit: Option<Unit>,
    kind: MetricKind,
    otel: OtelNames,
    value: PointValue,
    now: u64,
) -> MetricFamilySnapshot {
    MetricFamilySnapshot {
        otel,
        ..family_of(name, help, unit, kind, vec![(Vec::new(), value)], now)
    }
}

fn family_of(
    name: &str,
    help: &str,
    unit: Option<Unit>,
    kind: MetricKind,
    points: Vec<(Vec<(String, String)>, PointValue)>,
    now: u64,
) -> MetricFamilySnapshot {
    MetricFamilySnapshot {
        name: name.to_owned(),
        help: help.to_owned(),
        unit,
        kind,
        otel: OtelNames::default(),
        asynchronous: true,
        points: points
            .into_iter()
            .map(|(labels, value)| PointSnapshot {
                labels,
                value,
                start_time_unix_nano: crate::exemplar::unix_nanos(process_start()),
                time_unix_nano: now,
                exemplars: Vec::new(),
            })
            .collect(),
    }
}

/// When this process started, as the kernel records it (falls back to the first call).
fn process_start() -> std::time::SystemTime {
    static START: std::sync::OnceLock<std::time::SystemTime> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        ProcStat::read()
            .and_then(|s| s.start_time_seconds())
            .map(|secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs))
            .unwrap_or_else(std::time::SystemTime::now)
    })
}

/// The fields of `/proc/self/stat` this collector uses.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ProcStat {
    utime_ticks: u64,
    stime_ticks: u64,
    threads: u64,
    start_ticks: u64,
    virtual_bytes: u64,
}

impl ProcStat {
    fn read() -> Option<ProcStat> {
        ProcStat::parse(&std::fs::read_to_string("/proc/self/stat").ok()?)
    }

    /// Fields per proc(5); the command name (field 2) may hold spaces and parentheses, so
    /// counting starts after its last `)`.
    fn parse(stat: &str) -> Option<ProcStat> {
        let after_comm = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // `fields[0]` is field 3 (state).
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(ProcStat {
            utime_ticks: field(14)?,
            stime_ticks: field(15)?,
            threads: field(20)?,
            start_ticks: field(22)?,
            virtual_bytes: field(23)?,
        })
    }

    fn cpu_seconds(&self) -> f64 {
        (self.utime_ticks + self.stime_ticks) as f64 / TICKS_PER_SECOND
    }

    fn start_time_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let boot: f64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        Some(boot + self.start_ticks as f64 / TICKS_PER_SECOND)
    }
}

fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// The soft limit on open files (`Max open files` in `/proc/self/limits`).
fn max_fds() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The process collector: see [`Registry::register_process_metrics`].
#[derive(Debug)]
struct ProcessCollector;

impl crate::Collector for ProcessCollector {
    fn collect(&self, now: u64, out: &mut Vec<MetricFamilySnapshot>) {
        // Sizes and counts the conventions make UpDownCounters (a non-monotonic OTLP sum;
        // a gauge on `/metrics` all the same); those without a convention stay gauges.
        let level = |name: &str, help: &str, unit, kind, otel, value: Option<u64>| {
            value.map(|v| {
                family(
                    name,
                    help,
                    unit,
                    kind,
                    otel,
                    PointValue::I64(i64::try_from(v).unwrap_or(i64::MAX)),
                    now,
                )
            })
        };
        use MetricKind::{Gauge, UpDownCounter};
        let stat = ProcStat::read();
        out.extend(stat.map(|s| {
            family(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                Some(Unit::Seconds),
                MetricKind::Counter,
                // User and system time together: the conventions allow a process "data
                // points with no `mode` labels" (`cpu.mode` is Recommended).
                otel("process.cpu.time", None),
                PointValue::F64(s.cpu_seconds()),
                now,
            )
        }));
        out.extend(level(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            Some(Unit::Bytes),
            UpDownCounter,
            otel("process.memory.usage", None),
            resident_bytes(),
        ));
        out.extend(level(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            Some(Unit::Bytes),
            UpDownCounter,
            otel("process.memory.virtual", None),
            stat.map(|s| s.virtual_bytes),
        ));
        out.extend(level(
            "process_open_fds",
            "Number of open file descriptors.",
            None,
            UpDownCounter,
            otel(
                "process.unix.file_descriptor.count",
                Some("{file_descriptor}"),
            ),
            open_fds(),
        ));
        out.extend(level(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            None,
            Gauge,
            OtelNames::default(),
            max_fds(),
        ));
        out.extend(stat.and_then(|s| s.start_time_seconds()).map(|secs| {
            family(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                Some(Unit::Seconds),
                Gauge,
                OtelNames::default(),
                PointValue::F64(secs),
                now,
            )
        }));
        out.extend(level(
            "process_threads",
            "Number of OS threads in the process.",
            None,
            UpDownCounter,
            otel("process.thread.count", Some("{thread}")),
            stat.map(|s| s.threads),
        ));
    }
}

impl Registry {
    /// Adds the process metrics, read from `/proc` at each collection:
    /// `process_cpu_seconds_total`, `process_resident_memory_bytes`,
    /// `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
    /// `process_start_time_seconds`, `process_threads`. Off unless called (`obs-core`
    /// calls it unless configured not to); calling it again adds nothing. On systems
    /// without `/proc` the families are simply absent.
    ///
    /// OTLP exporters send them under the names of the OS process metric conventions
    /// (system/process-metrics.md, v1.39 and later): `process.cpu.time` (user and system
    /// time as one point, without `cpu.mode`: splitting it would put a label on
    /// `process_cpu_seconds_total`, whose every Prometheus client has none),
    /// `process.memory.usage`, `process.memory.virtual`,
    /// `process.unix.file_descriptor.count` (v1.38's `process.open_file_descriptor.count`),
    /// `process.thread.count`, the sizes and counts as UpDownCounters as the conventions
    /// type them. The conventions have no metric for the descriptor limit, and theirs for
    /// the start time, `process.uptime`, holds another value (seconds since the start),
    /// so `process_max_fds` and `process_start_time_seconds` keep their names.
    pub fn register_process_metrics(&self) {
        if !self.flags().process.swap(true, Ordering::Relaxed) {
            self.register_collector(ProcessCollector);
        }
    }
}

/// Tokio runtime metrics from the stable `RuntimeMetrics` API: see
/// [`Registry::register_tokio_metrics`].
#[cfg(feature = "tokio")]
#[derive(Debug)]
struct TokioCollector {
    handle: tokio::runtime::Handle,
}

#[cfg(feature = "tokio")]
impl crate::Collector for TokioCollector {
    fn collect(&self, now: u64, out: &mut Vec<MetricFamilySnapshot>) {
        let m = self.handle.metrics();
        let count = |v: usize| PointValue::I64(i64::try_from(v).unwrap_or(i64::MAX));
        out.push(family(
            "tokio_runtime_workers",
            "Worker threads of the tokio runtime.",
            None,
            MetricKind::Gauge,
            OtelNames::default(),
            count(m.num_workers()),
            now,
        ));
        out.push(family(
            "tokio_runtime_alive_tasks",
            "Tasks alive in the tokio runtime.",
            None,
            MetricKind::Gauge,
            OtelNames::default(),
            count(m.num_alive_tasks()),
            now,
        ));
        out.push(family(
            "tokio_runtime_global_queue_depth",
            "Tasks waiting in the tokio runtime's global queue.",
            None,
            MetricKind::Gauge,
            OtelNames::default(),
            count(m.global_queue_depth()),
            now,
        ));
        let workers = 0..m.num_workers();
        let worker_label = |w: usize| vec![("worker".to_owned(), w.to_string())];
        out.push(family_of(
            "tokio_runtime_worker_busy_seconds",
            "Time each tokio worker spent busy.",
            Some(Unit::Seconds),
            MetricKind::Counter,
            workers
                .clone()
                .map(|w| {
                    let busy = m.worker_total_busy_duration(w).as_secs_f64();
                    (worker_label(w), PointValue::F64(busy))
                })
                .collect(),
            now,
        ));
        out.push(family_of(
            "tokio_runtime_worker_parks",
            "Times each tokio worker parked.",
            None,
            MetricKind::Counter,
            workers
                .map(|w| (worker_label(w), PointValue::U64(m.worker_park_count(w))))
                .collect(),
            now,
        ));
    }
}

#[cfg(feature = "tokio")]
impl Registry {
    /// Adds metrics of the tokio runtime behind `handle` (`tokio_runtime_workers`,
    /// `tokio_runtime_alive_tasks`, `tokio_runtime_global_queue_depth`,
    /// `tokio_runtime_worker_busy_seconds_total`, `tokio_runtime_worker_parks_total`),
    /// read at each collection (feature `tokio`). Off unless called; calling it again adds
    /// nothing.
    pub fn register_tokio_metrics(&self, handle: tokio::runtime::Handle) {
        if !self.flags().tokio.swap(true, Ordering::Relaxed) {
            self.register_collector(TokioCollector { handle });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_tricky_command_name() {
        let line = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 7 0 12345 104857600 2560 18446744073709551615";
        let s = ProcStat::parse(line).unwrap();
        assert_eq!(
            s,
            ProcStat {
                utime_ticks: 250,
                stime_ticks: 50,
                threads: 7,
                start_ticks: 12345,
                virtual_bytes: 104857600,
            }
        );
        assert_eq!(s.cpu_seconds(), 3.0);
        assert_eq!(ProcStat::parse("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let r = Registry::new();
        r.register_process_metrics();
        r.register_process_metrics();
        let families = r.collect();
        let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "process_cpu_seconds",
                "process_resident_memory_bytes",
                "process_virtual_memory_bytes",
                "process_open_fds",
                "process_max_fds",
                "process_start_time_seconds",
                "process_threads"
            ]
        );
        let otel: Vec<(Option<&str>, MetricKind, Option<&str>)> = families
            .iter()
            .map(|f| (f.otel.name, f.kind, f.otel.unit))
            .collect();
        assert_eq!(
            otel,
            [
                (Some("process.cpu.time"), MetricKind::Counter, None),
                (
                    Some("process.memory.usage"),
                    MetricKind::UpDownCounter,
                    None
                ),
                (
                    Some("process.memory.virtual"),
                    MetricKind::UpDownCounter,
                    None
                ),
                (
                    Some("process.unix.file_descriptor.count"),
                    MetricKind::UpDownCounter,
                    Some("{file_descriptor}")
                ),
                (None, MetricKind::Gauge, None),
                (None, MetricKind::Gauge, None),
                (
                    Some("process.thread.count"),
                    MetricKind::UpDownCounter,
                    Some("{thread}")
                ),
            ]
        );
        let value = |name: &str| {
            families.iter().find(|f| f.name == name).unwrap().points[0]
                .value
                .as_f64()
        };
        assert!(value("process_resident_memory_bytes") > 1e5);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        assert!(value("process_threads") >= 1.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = value("process_start_time_seconds");
        assert!(
            start <= now + 1.0 && start > now - 86_400.0 * 365.0,
            "{start}"
        );
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn reads_the_tokio_runtime() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let r = Registry::new();
        r.register_tokio_metrics(rt.handle().clone());
        let families = r.collect();
        assert_eq!(families[0].name, "tokio_runtime_workers");
        assert_eq!(families[0].points[0].value, PointValue::I64(2));
        assert_eq!(families[3].points.len(), 2);
    }
}
