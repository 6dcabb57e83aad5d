//! The state and decisions of the trace SDK specification's `JaegerRemoteSampler`: a
//! sampling strategy fetched from a Jaeger-compatible `SamplingManager` (the poller lives in
//! `obs-core`, which has the gRPC client and the runtime), swapped in at each poll.
//!
//! The decisions are those of opentelemetry-go-contrib's `samplers/jaegerremote` (the
//! Jaeger clients' port): probabilistic by trace id (the `TraceIdRatioBased` algorithm, so
//! services with the same rate agree), rate limiting by a leaky bucket, and per operation
//! (the span name) probabilistic with a guaranteed lower bound of traces per second. Two
//! differences: an operation not listed is decided at the default probability alone, as
//! opentelemetry-java and opentelemetry_sdk do (Go also gives the first 256 such
//! operations a lower bound each, which would take a lock to insert on the decision path;
//! Java and Rust have no lower bound at all); and a response holding both a probabilistic
//! and a rate-limiting strategy is read by its `strategyType` (Java's way) where Go takes
//! the probabilistic one.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::TraceId;
use crate::sampler::ratio_sampled;

/// Where and how often the strategy is fetched, and the rate used until it is: the
/// `OTEL_TRACES_SAMPLER_ARG` of `jaeger_remote` / `parentbased_jaeger_remote` (SDK
/// environment variables specification, "General SDK Configuration").
#[derive(Clone, Debug, PartialEq)]
pub struct JaegerRemoteConfig {
    /// `scheme://host:port` of the gRPC server serving `jaeger.api_v2.SamplingManager`
    /// (`endpoint`; `http://localhost:14250` by default, Jaeger's collector port).
    pub endpoint: String,
    /// How often the strategy is fetched (`pollingIntervalMs`; 60 s by default, which a
    /// zero interval is taken as, with a warning).
    pub polling_interval: Duration,
    /// The probability used until a strategy is fetched (`initialSamplingRate`; 0.001 by
    /// default).
    pub initial_sampling_rate: f64,
}

impl Default for JaegerRemoteConfig {
    /// The defaults of the OpenTelemetry SDKs (Java's `JaegerRemoteSamplerProvider`).
    fn default() -> Self {
        JaegerRemoteConfig {
            endpoint: "http://localhost:14250".to_owned(),
            polling_interval: Duration::from_millis(60_000),
            initial_sampling_rate: 0.001,
        }
    }
}

impl JaegerRemoteConfig {
    /// Reads an `OTEL_TRACES_SAMPLER_ARG` such as
    /// `endpoint=http://localhost:14250,pollingIntervalMs=5000,initialSamplingRate=0.25`:
    /// each key is optional. A part that can't be used (unknown key, bad value, no `=`) is
    /// left at its default and described in the returned list, which the caller logs: the
    /// spec says invalid input "MUST be logged" and otherwise ignored, which per part keeps
    /// what is good, as opentelemetry-java reads this argument.
    pub fn parse_arg(arg: Option<&str>) -> (JaegerRemoteConfig, Vec<String>) {
        let mut config = JaegerRemoteConfig::default();
        let mut problems = Vec::new();
        let parts = arg.into_iter().flat_map(|a| a.split(','));
        for part in parts.map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                problems.push(format!("{part:?} is not key=value"));
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "endpoint" => match valid_endpoint(value) {
                    Ok(()) => config.endpoint = value.to_owned(),
                    Err(why) => problems.push(format!("endpoint={value:?} {why}")),
                },
                "pollingIntervalMs" => match value.parse::<u64>() {
                    Ok(ms) if ms > 0 => config.polling_interval = Duration::from_millis(ms),
                    _ => problems.push(format!(
                        "pollingIntervalMs={value:?} is not a positive number of milliseconds"
                    )),
                },
                "initialSamplingRate" => match value.parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => config.initial_sampling_rate = r,
                    _ => problems.push(format!(
                        "initialSamplingRate={value:?} is not a probability in [0, 1]"
                    )),
                },
                _ => problems.push(format!(
                    "{key:?} is not endpoint, pollingIntervalMs or initialSamplingRate"
                )),
            }
        }
        (config, problems)
    }
}

/// `scheme://host:port`, as the spec has it: `http` or `https`, a host, a port, no path.
fn valid_endpoint(value: &str) -> Result<(), &'static str> {
    let uri: http::Uri = value.parse().map_err(|_| "is not a URL")?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err("needs the scheme http:// or https://");
    }
    match uri.authority() {
        Some(a) if a.port_u16().is_some() && !a.host().is_empty() => {}
        _ => return Err("needs a host and a port"),
    }
    if !matches!(uri.path(), "" | "/") {
        return Err("has a path, which a gRPC endpoint can't have");
    }
    Ok(())
}

/// A sampling strategy, as `jaeger.api_v2.SamplingStrategyResponse` gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum SamplingStrategy {
    /// Sample this fraction of traces, by trace id (`probabilisticSampling.samplingRate`).
    Probabilistic(f64),
    /// Sample at most this many traces a second (`rateLimitingSampling.maxTracesPerSecond`).
    RateLimiting(f64),
    /// A probability per operation (`operationSampling`).
    PerOperation(PerOperationStrategy),
}

/// `jaeger.api_v2.PerOperationSamplingStrategies`: the operation is the span name.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PerOperationStrategy {
    /// The probability of operations not listed (`defaultSamplingProbability`).
    pub default_probability: f64,
    /// Traces a second sampled per listed operation whatever its probability
    /// (`defaultLowerBoundTracesPerSecond`).
    pub lower_bound_per_second: f64,
    /// Operation names and their probabilities (`perOperationStrategies`).
    pub operations: Vec<(String, f64)>,
}

/// The `jaeger_remote` sampler: decides roots by the strategy last fetched (or the initial
/// rate until then). Clones share one strategy, which [`set_strategy`](Self::set_strategy)
/// replaces for all; `obs-core` fetches it (`init` starts its poller).
#[derive(Clone)]
pub struct JaegerRemoteSampler {
    shared: Arc<Shared>,
}

struct Shared {
    config: JaegerRemoteConfig,
    /// The probability while the strategy is probabilistic (its `f64` bits), else
    /// [`RATE_LIMITING`] or [`PER_OPERATION`]: one atomic load decides the common case, with
    /// no lock.
    probability: AtomicU64,
    /// The strategy itself, read only when `probability` says so (rate limiting, per
    /// operation); written before `probability` is set, and left as it is when a
    /// probabilistic strategy follows (a decision that read the old value just before still
    /// finds a strategy).
    other: RwLock<Other>,
    /// The strategy last set, to tell a poll that changed nothing from one that did, and
    /// whether the buckets in [`Shared::other`] are the ones in use (kept across a change).
    current: Mutex<SamplingStrategy>,
}

/// NaNs, which no probability is: "see [`Shared::other`]", a rate-limiting or a
/// per-operation strategy. They differ in the lowest bit only, so that one test
/// (`bits | 1 == PER_OPERATION`) tells both from a probability.
const RATE_LIMITING: u64 = 0x7ff8_dead_beef_0000;
const PER_OPERATION: u64 = RATE_LIMITING | 1;

enum Other {
    None,
    RateLimiting(Mutex<RateLimiter>),
    PerOperation(PerOperation),
}

struct PerOperation {
    default_probability: f64,
    operations: HashMap<String, GuaranteedThroughput>,
}

/// Go's `guaranteedThroughputProbabilisticSampler`: probabilistic, and at least
/// `lower_bound` traces a second (a sampled trace uses the bound's credit too, so the bound
/// adds traces only when the probability gives fewer).
struct GuaranteedThroughput {
    probability: f64,
    lower_bound: Mutex<RateLimiter>,
}

impl GuaranteedThroughput {
    fn sampled(&self, trace_id: TraceId) -> bool {
        let by_probability = ratio_sampled(self.probability, trace_id);
        let by_bound = self.lower_bound.lock().check_credit(Instant::now());
        by_probability || by_bound
    }
}

/// A leaky bucket of credits, one per trace, refilled at `per_second` up to `max_balance`
/// (Jaeger's `RateLimiter`, as the OpenTelemetry SDKs port it: full at the start, and a
/// bucket of at least one credit, so a rate under one a second still samples).
#[derive(Debug)]
struct RateLimiter {
    per_second: f64,
    max_balance: f64,
    balance: f64,
    last: Instant,
}

impl RateLimiter {
    fn new(per_second: f64, now: Instant) -> RateLimiter {
        let per_second = per_second.max(0.0);
        let max_balance = per_second.max(1.0);
        RateLimiter {
            per_second,
            max_balance,
            balance: max_balance,
            last: now,
        }
    }

    /// Adds the credits earned since the last call.
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.balance = (self.balance + elapsed * self.per_second).min(self.max_balance);
    }

    /// A new rate, keeping the balance pro-rated to the new bucket (Go's
    /// `RateLimiter.Update`): a fresh full bucket at each changed strategy would let a burst
    /// through every poll that changed anything.
    fn update(&mut self, per_second: f64, now: Instant) {
        self.refill(now);
        let new = RateLimiter::new(per_second, now);
        let balance = self.balance / self.max_balance * new.max_balance;
        // NaN only from an infinite bucket (an infinite rate): full, as a new one is.
        self.balance = if balance.is_nan() {
            new.max_balance
        } else {
            balance
        };
        self.per_second = new.per_second;
        self.max_balance = new.max_balance;
    }

    fn check_credit(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.balance >= 1.0 {
            self.balance -= 1.0;
            true
        } else {
            false
        }
    }
}

impl fmt::Debug for JaegerRemoteSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JaegerRemoteSampler")
            .field("config", &self.shared.config)
            .field("strategy", &*self.shared.current.lock())
            .finish()
    }
}

impl PartialEq for JaegerRemoteSampler {
    /// The same sampler (clones of one), not two with equal settings: each has its own
    /// strategy.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl JaegerRemoteSampler {
    /// A sampler with `config`, sampling at its initial rate until a strategy is set.
    pub fn new(config: JaegerRemoteConfig) -> JaegerRemoteSampler {
        let initial = config.initial_sampling_rate.clamp(0.0, 1.0);
        JaegerRemoteSampler {
            shared: Arc::new(Shared {
                config,
                probability: AtomicU64::new(initial.to_bits()),
                other: RwLock::new(Other::None),
                current: Mutex::new(SamplingStrategy::Probabilistic(initial)),
            }),
        }
    }

    /// Where and how often its strategy is fetched.
    pub fn config(&self) -> &JaegerRemoteConfig {
        &self.shared.config
    }

    /// The strategy it samples by now.
    pub fn strategy(&self) -> SamplingStrategy {
        self.shared.current.lock().clone()
    }

    /// Samples by `strategy` from now on (the poller's hand-off). Probabilities are clamped
    /// to [0, 1], as the Go SDK does. The same strategy again changes nothing; a changed
    /// rate-limiting or per-operation one keeps the balance of the buckets it had (the rate
    /// limiter's, each listed operation's), pro-rated to the new rate as the Go SDK does.
    pub fn set_strategy(&self, strategy: SamplingStrategy) {
        let strategy = clamped(strategy);
        let mut current = self.shared.current.lock();
        if *current == strategy {
            return;
        }
        let now = Instant::now();
        match &strategy {
            SamplingStrategy::Probabilistic(p) => {
                self.shared
                    .probability
                    .store(p.to_bits(), Ordering::Release);
            }
            SamplingStrategy::RateLimiting(per_second) => {
                let mut other = self.shared.other.write();
                match (&*current, &mut *other) {
                    // The bucket in use keeps its balance.
                    (SamplingStrategy::RateLimiting(_), Other::RateLimiting(limiter)) => {
                        limiter.get_mut().update(*per_second, now);
                    }
                    _ => {
                        *other = Other::RateLimiting(Mutex::new(RateLimiter::new(*per_second, now)))
                    }
                }
                drop(other);
                self.shared
                    .probability
                    .store(RATE_LIMITING, Ordering::Release);
            }
            SamplingStrategy::PerOperation(s) => {
                let mut other = self.shared.other.write();
                // The operations in use keep their buckets' balance.
                let mut kept = match (&*current, &mut *other) {
                    (SamplingStrategy::PerOperation(_), Other::PerOperation(old)) => {
                        std::mem::take(&mut old.operations)
                    }
                    _ => HashMap::new(),
                };
                let operations = s
                    .operations
                    .iter()
                    .map(|(name, probability)| {
                        let lower_bound = match kept.remove(name) {
                            Some(op) => {
                                let mut limiter = op.lower_bound.into_inner();
                                limiter.update(s.lower_bound_per_second, now);
                                limiter
                            }
                            None => RateLimiter::new(s.lower_bound_per_second, now),
                        };
                        (
                            name.clone(),
                            GuaranteedThroughput {
                                probability: *probability,
                                lower_bound: Mutex::new(lower_bound),
                            },
                        )
                    })
                    .collect();
                *other = Other::PerOperation(PerOperation {
                    default_probability: s.default_probability,
                    operations,
                });
                drop(other);
                self.shared
                    .probability
                    .store(PER_OPERATION, Ordering::Release);
            }
        }
        *current = strategy;
    }

    /// Whether a root span of `trace_id` is sampled. `operation` is asked for the span's
    /// name only by a per-operation strategy: it calls the function it is given with the
    /// name (lent for the call, so that a name read from a span's fields needs no copy) and
    /// returns its answer.
    #[inline]
    pub fn should_sample(
        &self,
        trace_id: TraceId,
        operation: impl FnOnce(&mut dyn FnMut(&str) -> bool) -> bool,
    ) -> bool {
        let bits = self.shared.probability.load(Ordering::Acquire);
        if bits | 1 != PER_OPERATION {
            return ratio_sampled(f64::from_bits(bits), trace_id);
        }
        self.sample_by_other(bits, trace_id, operation)
    }

    #[inline(never)]
    fn sample_by_other(
        &self,
        bits: u64,
        trace_id: TraceId,
        operation: impl FnOnce(&mut dyn FnMut(&str) -> bool) -> bool,
    ) -> bool {
        if bits == PER_OPERATION {
            // The name is read before the lock is taken: reading it runs the application's
            // code (an `otel.name` value's `Display`), which may make a span and so a decision
            // of its own, and a read lock taken again while the poller waits to write
            // deadlocks (parking_lot's lock is task-fair).
            operation(&mut |name| self.sample_by_strategy(trace_id, Some(name)))
        } else {
            self.sample_by_strategy(trace_id, None)
        }
    }

    /// The decision of the strategy in [`Shared::other`], which may have changed since
    /// `probability` was read (a per-operation strategy given no name decides by its default
    /// probability).
    fn sample_by_strategy(&self, trace_id: TraceId, operation: Option<&str>) -> bool {
        let other = self.shared.other.read();
        match &*other {
            Other::RateLimiting(limiter) => limiter.lock().check_credit(Instant::now()),
            Other::PerOperation(per_op) => match operation.and_then(|o| per_op.operations.get(o)) {
                Some(op) => op.sampled(trace_id),
                None => ratio_sampled(per_op.default_probability, trace_id),
            },
            // Not reached: `other` is written before `probability` says to read it.
            Other::None => false,
        }
    }
}

fn clamped(strategy: SamplingStrategy) -> SamplingStrategy {
    // NaN (which no server should send) is taken as 0.
    let p = |p: f64| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
    let rate = |r: f64| if r.is_nan() { 0.0 } else { r.max(0.0) };
    match strategy {
        SamplingStrategy::Probabilistic(r) => SamplingStrategy::Probabilistic(p(r)),
        SamplingStrategy::RateLimiting(r) => SamplingStrategy::RateLimiting(rate(r)),
        SamplingStrategy::PerOperation(s) => SamplingStrategy::PerOperation(PerOperationStrategy {
            default_probability: p(s.default_probability),
            lower_bound_per_second: rate(s.lower_bound_per_second),
            operations: s.operations.into_iter().map(|(n, r)| (n, p(r))).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(s: &JaegerRemoteSampler, n: usize, op: &str) -> usize {
        (0..n)
            .filter(|_| s.should_sample(TraceId::random(), |decide| decide(op)))
            .count()
    }

    #[test]
    fn the_argument_sets_each_key_and_defaults_the_rest() {
        let (c, problems) = JaegerRemoteConfig::parse_arg(None);
        assert_eq!(c, JaegerRemoteConfig::default());
        assert!(problems.is_empty());
        assert_eq!(c.endpoint, "http://localhost:14250");
        assert_eq!(c.polling_interval, Duration::from_secs(60));
        assert_eq!(c.initial_sampling_rate, 0.001);
        let (c, problems) = JaegerRemoteConfig::parse_arg(Some(
            " endpoint=http://jaeger:14250 , pollingIntervalMs=5000,initialSamplingRate=0.25",
        ));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            c,
            JaegerRemoteConfig {
                endpoint: "http://jaeger:14250".to_owned(),
                polling_interval: Duration::from_millis(5000),
                initial_sampling_rate: 0.25,
            }
        );
        let (c, _) = JaegerRemoteConfig::parse_arg(Some("pollingIntervalMs=10"));
        assert_eq!(c.polling_interval, Duration::from_millis(10));
        assert_eq!(c.endpoint, "http://localhost:14250");
    }

    #[test]
    fn bad_parts_are_reported_and_defaulted_alone() {
        let (c, problems) = JaegerRemoteConfig::parse_arg(Some(
            "endpoint=localhost:14250,pollingIntervalMs=-1,initialSamplingRate=2,\
             colour=blue,oops,initialSamplingRate=0.5",
        ));
        assert_eq!(c.endpoint, "http://localhost:14250");
        assert_eq!(c.polling_interval, Duration::from_secs(60));
        assert_eq!(c.initial_sampling_rate, 0.5, "a good part is kept");
        assert_eq!(problems.len(), 5, "{problems:?}");
        for (problem, names) in problems.iter().zip([
            "endpoint",
            "pollingIntervalMs",
            "initialSamplingRate",
            "colour",
            "oops",
        ]) {
            assert!(problem.contains(names), "{problem}");
        }
        for bad in [
            "ftp://host:1",
            "http://host",
            "http://host:14250/api/sampling",
            "http://:1",
        ] {
            let (c, problems) = JaegerRemoteConfig::parse_arg(Some(&format!("endpoint={bad}")));
            assert_eq!(c.endpoint, "http://localhost:14250", "{bad}");
            assert_eq!(problems.len(), 1, "{bad}");
        }
        let (_, problems) = JaegerRemoteConfig::parse_arg(Some("pollingIntervalMs=0"));
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn the_initial_rate_applies_until_a_strategy_is_set() {
        let config = JaegerRemoteConfig {
            initial_sampling_rate: 0.25,
            ..Default::default()
        };
        let s = JaegerRemoteSampler::new(config);
        assert_eq!(s.strategy(), SamplingStrategy::Probabilistic(0.25));
        let n = count(&s, 20_000, "op");
        assert!((4_000..6_000).contains(&n), "{n}");
        // By trace id, as `TraceIdRatioBased` decides.
        let ratio = crate::Sampler::TraceIdRatio(0.25);
        for _ in 0..1_000 {
            let id = TraceId::random();
            assert_eq!(
                s.should_sample(id, |decide| decide("")),
                ratio.should_sample(None, id)
            );
        }
        s.set_strategy(SamplingStrategy::Probabilistic(0.0));
        assert_eq!(count(&s, 1_000, "op"), 0);
        s.set_strategy(SamplingStrategy::Probabilistic(7.0));
        assert_eq!(
            s.strategy(),
            SamplingStrategy::Probabilistic(1.0),
            "clamped"
        );
        assert_eq!(count(&s, 1_000, "op"), 1_000);
    }

    #[test]
    fn rate_limiting_samples_a_burst_up_to_its_bucket() {
        let s = JaegerRemoteSampler::new(JaegerRemoteConfig::default());
        s.set_strategy(SamplingStrategy::RateLimiting(5.0));
        let started = Instant::now();
        let n = count(&s, 10_000, "op");
        // The bucket (5) and what refilled while the burst ran.
        let refilled = (started.elapsed().as_secs_f64() * 5.0).ceil() as usize;
        assert!(n >= 5 && n <= 5 + refilled, "{n} ({refilled} refilled)");
        // The same strategy again keeps the (now empty) bucket.
        s.set_strategy(SamplingStrategy::RateLimiting(5.0));
        let started = Instant::now();
        let n = count(&s, 1_000, "op");
        let refilled = (started.elapsed().as_secs_f64() * 5.0).ceil() as usize;
        assert!(n <= refilled, "{n} ({refilled} refilled)");
    }

    /// A changed strategy keeps the buckets' balance (pro-rated to the new size), as the Go
    /// SDK's `RateLimiter.Update` does "to avoid thundering herd when sampling strategies are
    /// updated": a fresh full bucket at each change would let through a burst over the rate
    /// (and, per operation, a trace of an operation set to 0 with no lower bound) every poll
    /// that changed anything, as adaptive sampling's do.
    #[test]
    fn a_changed_strategy_keeps_the_balance_of_its_buckets() {
        let s = JaegerRemoteSampler::new(JaegerRemoteConfig::default());
        s.set_strategy(SamplingStrategy::RateLimiting(5.0));
        let started = Instant::now();
        assert!(count(&s, 10_000, "op") >= 5);
        s.set_strategy(SamplingStrategy::RateLimiting(6.0));
        let n = count(&s, 1_000, "op");
        let refilled = (started.elapsed().as_secs_f64() * 6.0).ceil() as usize;
        assert!(n <= refilled, "{n} ({refilled} refilled)");

        let per_op = |operations: &[(&str, f64)]| {
            SamplingStrategy::PerOperation(PerOperationStrategy {
                default_probability: 0.0,
                lower_bound_per_second: 0.0,
                operations: operations
                    .iter()
                    .map(|(name, p)| (name.to_string(), *p))
                    .collect(),
            })
        };
        s.set_strategy(per_op(&[("GET /health", 0.0)]));
        // A bound of 0 a second: one credit, spent at once and never refilled.
        assert_eq!(count(&s, 100, "GET /health"), 1);
        s.set_strategy(per_op(&[("GET /health", 0.0), ("GET /users/{id}", 0.5)]));
        assert_eq!(count(&s, 100, "GET /health"), 0, "no new credit");
        assert_eq!(
            count(&s, 1, "GET /users/{id}"),
            1,
            "a new operation's starts full"
        );
    }

    #[test]
    fn the_leaky_bucket_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(2.0, t0);
        assert!(l.check_credit(t0) && l.check_credit(t0));
        assert!(!l.check_credit(t0), "bucket of 2 empty");
        assert!(l.check_credit(t0 + Duration::from_millis(500)), "1 credit");
        assert!(!l.check_credit(t0 + Duration::from_millis(500)));
        assert!(l.check_credit(t0 + Duration::from_secs(10)));
        assert!(l.check_credit(t0 + Duration::from_secs(10)));
        assert!(!l.check_credit(t0 + Duration::from_secs(10)), "capped at 2");
        // Under one a second: a bucket of one, refilled slowly.
        let mut slow = RateLimiter::new(0.1, t0);
        assert!(slow.check_credit(t0));
        assert!(!slow.check_credit(t0 + Duration::from_secs(9)));
        assert!(slow.check_credit(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn per_operation_picks_by_name_and_falls_back_to_the_default() {
        let s = JaegerRemoteSampler::new(JaegerRemoteConfig::default());
        s.set_strategy(SamplingStrategy::PerOperation(PerOperationStrategy {
            default_probability: 0.0,
            lower_bound_per_second: 0.0,
            operations: vec![
                ("GET /users/{id}".to_owned(), 1.0),
                ("GET /health".to_owned(), 0.0),
            ],
        }));
        assert_eq!(count(&s, 1_000, "GET /users/{id}"), 1_000);
        // A bound of 0 a second still has a bucket of one credit (Jaeger's limiter).
        assert!(count(&s, 1_000, "GET /health") <= 1);
        assert_eq!(count(&s, 1_000, "GET /other"), 0, "the default");
        s.set_strategy(SamplingStrategy::PerOperation(PerOperationStrategy {
            default_probability: 0.5,
            lower_bound_per_second: 0.0,
            operations: vec![],
        }));
        let n = count(&s, 20_000, "GET /other");
        assert!((9_000..11_000).contains(&n), "{n}");
    }

    #[test]
    fn the_lower_bound_guarantees_traces_of_a_rare_operation() {
        let s = JaegerRemoteSampler::new(JaegerRemoteConfig::default());
        s.set_strategy(SamplingStrategy::PerOperation(PerOperationStrategy {
            default_probability: 0.0,
            lower_bound_per_second: 3.0,
            operations: vec![("rare".to_owned(), 0.0)],
        }));
        let started = Instant::now();
        let n = count(&s, 10_000, "rare");
        let refilled = (started.elapsed().as_secs_f64() * 3.0).ceil() as usize;
        assert!(n >= 3 && n <= 3 + refilled, "{n}");
        assert_eq!(count(&s, 1_000, "unlisted"), 0, "no bound for the default");
    }

    /// Waits up to 10 s for `done`.
    fn wait_until(mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        done()
    }

    /// Reading the operation's name runs the application's code (the `Display` of an
    /// `otel.name` value), which can make a span, and so a decision, of its own. That decision
    /// must not wait for a strategy change waiting for the first one: parking_lot's lock is
    /// task-fair, so a read taken again under a read while the poller waits to write blocked
    /// both threads for ever.
    #[test]
    fn a_decision_made_while_the_name_is_read_does_not_deadlock_with_a_poll() {
        use std::sync::atomic::AtomicBool;
        fn per_op(default_probability: f64) -> SamplingStrategy {
            SamplingStrategy::PerOperation(PerOperationStrategy {
                default_probability,
                ..Default::default()
            })
        }
        let s = JaegerRemoteSampler::new(JaegerRemoteConfig::default());
        s.set_strategy(per_op(0.0));
        let written = Arc::new(AtomicBool::new(false));
        let decided = Arc::new(AtomicBool::new(false));
        let _reader = {
            let (s, written, decided) = (s.clone(), written.clone(), decided.clone());
            std::thread::spawn(move || {
                s.should_sample(TraceId::random(), |decide| {
                    let _writer = {
                        let (s, written) = (s.clone(), written.clone());
                        std::thread::spawn(move || {
                            s.set_strategy(per_op(1.0));
                            written.store(true, Ordering::SeqCst);
                        })
                    };
                    // Until the poller waits behind this decision (its write bit is set), or
                    // is done.
                    wait_until(|| {
                        s.shared.other.is_locked_exclusive() || written.load(Ordering::SeqCst)
                    });
                    s.should_sample(TraceId::random(), |decide| decide("inner"));
                    decided.store(true, Ordering::SeqCst);
                    decide("outer")
                })
            })
        };
        assert!(wait_until(|| decided.load(Ordering::SeqCst)), "deadlocked");
        assert!(wait_until(|| written.load(Ordering::SeqCst)));
        assert_eq!(count(&s, 100, "op"), 100, "the new strategy");
    }

    #[test]
    fn the_operation_name_is_asked_for_only_per_operation() {
        let s = JaegerRemoteSampler::new(JaegerRemoteConfig::default());
        let never = |_: &mut dyn FnMut(&str) -> bool| -> bool { panic!("asked for the name") };
        s.should_sample(TraceId::random(), never);
        s.set_strategy(SamplingStrategy::RateLimiting(1.0));
        s.should_sample(TraceId::random(), never);
    }
}
