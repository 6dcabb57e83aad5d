//! The poller of the `jaeger_remote` samplers: fetches the service's sampling strategy from
//! a Jaeger `SamplingManager` (gRPC, `jaeger.api_v2.SamplingManager/GetSamplingStrategy`,
//! jaeger-idl's `proto/api_v2/sampling.proto`) every polling interval and hands it to the
//! [`JaegerRemoteSampler`], which `obs-trace` decides with.
//!
//! It runs as a task on the export runtime, so it stops with the pipeline, and whatever
//! spans the gRPC client makes are left out as the exporter's own are. A failed poll keeps
//! the strategy the sampler has (the initial rate until a fetch succeeds: trace SDK spec,
//! `JaegerRemoteSampler`; SDK environment variables spec, `initialSamplingRate`) and is
//! warned about once until a poll succeeds again.

use std::time::Duration;

use obs_trace::{JaegerRemoteConfig, JaegerRemoteSampler, PerOperationStrategy, SamplingStrategy};

/// The message types of `sampling.proto` that the call uses, written out rather than
/// generated (no `protoc` in the build for six messages).
pub(crate) mod proto {
    /// `jaeger.api_v2.SamplingStrategyParameters`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct SamplingStrategyParameters {
        /// The service whose strategy is asked for.
        #[prost(string, tag = "1")]
        pub(crate) service_name: String,
    }

    /// `jaeger.api_v2.ProbabilisticSamplingStrategy`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct ProbabilisticSamplingStrategy {
        /// The probability of sampling a trace.
        #[prost(double, tag = "1")]
        pub(crate) sampling_rate: f64,
    }

    /// `jaeger.api_v2.RateLimitingSamplingStrategy`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct RateLimitingSamplingStrategy {
        /// Traces sampled a second at most.
        #[prost(int32, tag = "1")]
        pub(crate) max_traces_per_second: i32,
    }

    /// `jaeger.api_v2.OperationSamplingStrategy`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct OperationSamplingStrategy {
        /// The operation (span name).
        #[prost(string, tag = "1")]
        pub(crate) operation: String,
        /// Its probability.
        #[prost(message, optional, tag = "2")]
        pub(crate) probabilistic_sampling: Option<ProbabilisticSamplingStrategy>,
    }

    /// `jaeger.api_v2.PerOperationSamplingStrategies`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct PerOperationSamplingStrategies {
        /// The probability of operations not listed.
        #[prost(double, tag = "1")]
        pub(crate) default_sampling_probability: f64,
        /// Traces a second sampled per listed operation at least.
        #[prost(double, tag = "2")]
        pub(crate) default_lower_bound_traces_per_second: f64,
        /// The listed operations.
        #[prost(message, repeated, tag = "3")]
        pub(crate) per_operation_strategies: Vec<OperationSamplingStrategy>,
        /// Unused by the OpenTelemetry SDKs, and here.
        #[prost(double, tag = "4")]
        pub(crate) default_upper_bound_traces_per_second: f64,
    }

    /// `jaeger.api_v2.SamplingStrategyType`'s `RATE_LIMITING` (`PROBABILISTIC` is 0).
    pub(crate) const RATE_LIMITING: i32 = 1;

    /// `jaeger.api_v2.SamplingStrategyResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct SamplingStrategyResponse {
        /// `SamplingStrategyType`, which the proto calls legacy: the fields below say more.
        #[prost(int32, tag = "1")]
        pub(crate) strategy_type: i32,
        /// A probabilistic strategy.
        #[prost(message, optional, tag = "2")]
        pub(crate) probabilistic_sampling: Option<ProbabilisticSamplingStrategy>,
        /// A rate-limiting strategy.
        #[prost(message, optional, tag = "3")]
        pub(crate) rate_limiting_sampling: Option<RateLimitingSamplingStrategy>,
        /// A per-operation strategy.
        #[prost(message, optional, tag = "4")]
        pub(crate) operation_sampling: Option<PerOperationSamplingStrategies>,
    }

    /// The method's path.
    pub(crate) const GET_SAMPLING_STRATEGY: &str =
        "/jaeger.api_v2.SamplingManager/GetSamplingStrategy";
}

/// The strategy a response carries. `sampling.proto` says to look at the fields, the
/// per-operation one first, rather than at `strategyType`, which is used here only to choose
/// when a server sets both other fields.
pub(crate) fn strategy_of(
    response: proto::SamplingStrategyResponse,
) -> Result<SamplingStrategy, &'static str> {
    if let Some(per_op) = response.operation_sampling {
        let operations = per_op
            .per_operation_strategies
            .into_iter()
            .map(|op| {
                let probability = op
                    .probabilistic_sampling
                    .map_or(per_op.default_sampling_probability, |p| p.sampling_rate);
                (op.operation, probability)
            })
            .collect();
        return Ok(SamplingStrategy::PerOperation(PerOperationStrategy {
            default_probability: per_op.default_sampling_probability,
            lower_bound_per_second: per_op.default_lower_bound_traces_per_second,
            operations,
        }));
    }
    let rate_limiting = response
        .rate_limiting_sampling
        .map(|r| SamplingStrategy::RateLimiting(f64::from(r.max_traces_per_second)));
    let probabilistic = response
        .probabilistic_sampling
        .map(|p| SamplingStrategy::Probabilistic(p.sampling_rate));
    let (first, second) = if response.strategy_type == proto::RATE_LIMITING {
        (rate_limiting, probabilistic)
    } else {
        (probabilistic, rate_limiting)
    };
    first.or(second).ok_or("the response holds no strategy")
}

/// A poll's bound: a server that takes longer is one that failed (opentelemetry-go-contrib's
/// `defaultRemoteSamplingTimeout`). Not tied to the interval: polls run one after another,
/// so a slow one only delays the next, and a server slower than a short interval must still
/// be heard.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);

/// The channel to the sampler's endpoint (connected at the first poll).
pub(crate) fn channel(sampler: &JaegerRemoteSampler) -> Result<tonic::transport::Channel, String> {
    let config = sampler.config();
    let endpoint = tonic::transport::Endpoint::from_shared(config.endpoint.clone())
        .map_err(|e| format!("jaeger_remote endpoint {:?}: {e}", config.endpoint))?
        .connect_timeout(POLL_TIMEOUT)
        .timeout(POLL_TIMEOUT);
    #[cfg(feature = "tls")]
    let endpoint = if config.endpoint.starts_with("https://") {
        let tls = crate::export::tls::TlsMaterial::load(&Default::default())
            .map_err(|e| format!("TLS to {:?}: {e}", config.endpoint))?;
        endpoint
            .tls_config(tls.tonic_config())
            .map_err(|e| format!("TLS to {:?}: {e}", config.endpoint))?
    } else {
        endpoint
    };
    Ok(endpoint.connect_lazy())
}

/// One `GetSamplingStrategy` call.
async fn fetch(
    channel: &tonic::transport::Channel,
    service_name: &str,
) -> Result<SamplingStrategy, String> {
    let call = async {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.map_err(|e| format!("not ready: {e}"))?;
        let request = tonic::Request::new(proto::SamplingStrategyParameters {
            service_name: service_name.to_owned(),
        });
        let path = http::uri::PathAndQuery::from_static(proto::GET_SAMPLING_STRATEGY);
        let codec = tonic_prost::ProstCodec::<
            proto::SamplingStrategyParameters,
            proto::SamplingStrategyResponse,
        >::default();
        let response = grpc
            .unary(request, path, codec)
            .await
            .map_err(|status| format!("{:?}: {}", status.code(), status.message()))?;
        strategy_of(response.into_inner()).map_err(str::to_owned)
    };
    // The channel's own timeouts bound the connection and the call; this bounds the whole.
    tokio::time::timeout(POLL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {POLL_TIMEOUT:?}")))
}

/// Polls for `service_name`'s strategy at once and then every polling interval, for as long
/// as the task runs. `warn` is told of the first failure after a success (or the start).
pub(crate) async fn poll(
    sampler: JaegerRemoteSampler,
    channel: tonic::transport::Channel,
    service_name: String,
    warn: impl Fn(&str),
) {
    let mut interval = sampler.config().polling_interval;
    if interval.is_zero() {
        // Only `JaegerRemoteConfig` built in code can hold it (`pollingIntervalMs=0` is
        // refused), and Tokio's `interval` panics on it: the default, as for the variable.
        interval = JaegerRemoteConfig::default().polling_interval;
        warn(&format!(
            "obs: a jaeger_remote polling interval of 0 is no interval; polling every {interval:?}"
        ));
    }
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        match fetch(&channel, &service_name).await {
            Ok(strategy) => {
                sampler.set_strategy(strategy);
                failing = false;
            }
            Err(why) if !failing => {
                failing = true;
                warn(&format!(
                    "obs: could not fetch the sampling strategy of {service_name:?} from {} \
                     ({why}); sampling by {:?} until a poll succeeds",
                    sampler.config().endpoint,
                    sampler.strategy(),
                ));
            }
            Err(_) => {}
        }
    }
}

/// Starts polling on `runtime` for the sampler in `sampler`, if any, as `service_name`.
pub(crate) fn start(
    runtime: &tokio::runtime::Handle,
    sampler: &obs_trace::Sampler,
    service_name: &str,
) {
    let Some(remote) = sampler.jaeger_remote() else {
        return;
    };
    let _enter = runtime.enter();
    match channel(remote) {
        Ok(channel) => {
            runtime.spawn(poll(
                remote.clone(),
                channel,
                service_name.to_owned(),
                |message| obs_trace::diagnostics::warn(format_args!("{message}")),
            ));
        }
        Err(why) => obs_trace::diagnostics::warn(format_args!(
            "obs: {why}; sampling by the initial rate {}",
            remote.config().initial_sampling_rate
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::testing::SamplingServer;
    use crate::wait::wait_until;

    /// How long a test waits for the poller to do what it asserts.
    const WAIT: Duration = Duration::from_secs(10);

    fn sampler(endpoint: String) -> JaegerRemoteSampler {
        JaegerRemoteSampler::new(JaegerRemoteConfig {
            endpoint,
            polling_interval: Duration::from_millis(20),
            initial_sampling_rate: 0.25,
        })
    }

    /// Runs the poller for `sampler`, its warnings gathered.
    fn spawn(
        sampler: &JaegerRemoteSampler,
    ) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Vec<String>>>) {
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let w = warnings.clone();
        let task = tokio::spawn(poll(
            sampler.clone(),
            channel(sampler).unwrap(),
            "checkout".to_owned(),
            move |m| w.lock().unwrap().push(m.to_owned()),
        ));
        (task, warnings)
    }

    #[test]
    fn each_kind_of_response_is_read_as_its_strategy() {
        use proto::*;
        let probabilistic = Some(ProbabilisticSamplingStrategy { sampling_rate: 0.3 });
        let rate_limiting = Some(RateLimitingSamplingStrategy {
            max_traces_per_second: 7,
        });
        let response = |strategy_type, p, r, o| SamplingStrategyResponse {
            strategy_type,
            probabilistic_sampling: p,
            rate_limiting_sampling: r,
            operation_sampling: o,
        };
        assert_eq!(
            strategy_of(response(0, probabilistic.clone(), None, None)),
            Ok(SamplingStrategy::Probabilistic(0.3))
        );
        assert_eq!(
            strategy_of(response(RATE_LIMITING, None, rate_limiting.clone(), None)),
            Ok(SamplingStrategy::RateLimiting(7.0))
        );
        // Both set: the type chooses.
        assert_eq!(
            strategy_of(response(
                RATE_LIMITING,
                probabilistic.clone(),
                rate_limiting.clone(),
                None
            )),
            Ok(SamplingStrategy::RateLimiting(7.0))
        );
        assert_eq!(
            strategy_of(response(0, probabilistic.clone(), rate_limiting, None)),
            Ok(SamplingStrategy::Probabilistic(0.3))
        );
        let per_op = PerOperationSamplingStrategies {
            default_sampling_probability: 0.1,
            default_lower_bound_traces_per_second: 2.0,
            per_operation_strategies: vec![
                OperationSamplingStrategy {
                    operation: "GET /users/{id}".into(),
                    probabilistic_sampling: Some(ProbabilisticSamplingStrategy {
                        sampling_rate: 0.9,
                    }),
                },
                OperationSamplingStrategy {
                    operation: "bare".into(),
                    probabilistic_sampling: None,
                },
            ],
            default_upper_bound_traces_per_second: 100.0,
        };
        // Per operation first, whatever the type says (sampling.proto).
        assert_eq!(
            strategy_of(response(0, probabilistic, None, Some(per_op))),
            Ok(SamplingStrategy::PerOperation(PerOperationStrategy {
                default_probability: 0.1,
                lower_bound_per_second: 2.0,
                operations: vec![("GET /users/{id}".into(), 0.9), ("bare".into(), 0.1)],
            }))
        );
        assert!(strategy_of(response(0, None, None, None)).is_err());
    }

    #[tokio::test]
    async fn the_fetched_strategy_replaces_the_initial_rate_and_follows_updates() {
        let server = SamplingServer::start(Some(SamplingStrategy::RateLimiting(3.0)))
            .await
            .unwrap();
        let sampler = sampler(server.endpoint());
        assert_eq!(sampler.strategy(), SamplingStrategy::Probabilistic(0.25));
        let (task, warnings) = spawn(&sampler);
        assert!(
            wait_until(WAIT, || sampler.strategy()
                == SamplingStrategy::RateLimiting(3.0))
            .await,
            "{:?}",
            sampler.strategy()
        );
        assert_eq!(
            server.requests().first().map(String::as_str),
            Some("checkout")
        );
        let per_op = SamplingStrategy::PerOperation(PerOperationStrategy {
            default_probability: 0.5,
            lower_bound_per_second: 1.0,
            operations: vec![("GET /users/{id}".into(), 1.0)],
        });
        server.set_strategy(Some(per_op.clone()));
        assert!(wait_until(WAIT, || sampler.strategy() == per_op).await);
        server.set_strategy(Some(SamplingStrategy::Probabilistic(0.75)));
        assert!(
            wait_until(WAIT, || sampler.strategy()
                == SamplingStrategy::Probabilistic(0.75))
            .await
        );
        assert!(warnings.lock().unwrap().is_empty());
        task.abort();
    }

    /// `JaegerRemoteConfig`'s fields are public, so the poller can be handed a zero interval,
    /// which `OTEL_TRACES_SAMPLER_ARG` refuses (Tokio's `interval` panics on it, which killed
    /// the poller before its first fetch).
    #[tokio::test]
    async fn a_zero_interval_is_warned_about_and_the_strategy_still_fetched() {
        let server = SamplingServer::start(Some(SamplingStrategy::Probabilistic(1.0)))
            .await
            .unwrap();
        let sampler = JaegerRemoteSampler::new(JaegerRemoteConfig {
            endpoint: server.endpoint(),
            polling_interval: Duration::ZERO,
            initial_sampling_rate: 0.25,
        });
        let (task, warnings) = spawn(&sampler);
        assert!(
            wait_until(WAIT, || sampler.strategy()
                == SamplingStrategy::Probabilistic(1.0))
            .await
        );
        let warned = warnings.lock().unwrap().clone();
        assert!(
            warned.len() == 1 && warned[0].contains("polling interval of 0"),
            "{warned:?}"
        );
        task.abort();
    }

    /// Polls run one after another, so one that outlasts the interval only delays the next:
    /// a server slower than a short interval is still heard.
    #[tokio::test]
    async fn a_server_slower_than_the_interval_is_heard() {
        let server = SamplingServer::start(Some(SamplingStrategy::Probabilistic(1.0)))
            .await
            .unwrap();
        server.set_delay(Duration::from_millis(100));
        let sampler = sampler(server.endpoint());
        let (task, warnings) = spawn(&sampler);
        assert!(
            wait_until(WAIT, || sampler.strategy()
                == SamplingStrategy::Probabilistic(1.0))
            .await,
            "{:?}",
            warnings.lock().unwrap()
        );
        assert!(warnings.lock().unwrap().is_empty());
        task.abort();
    }

    #[tokio::test]
    async fn a_server_down_keeps_the_initial_rate_and_is_warned_about() {
        let sampler = sampler(format!("http://{}", crate::testing::NOTHING_LISTENS));
        let (task, warnings) = spawn(&sampler);
        assert!(wait_until(WAIT, || !warnings.lock().unwrap().is_empty()).await);
        assert_eq!(sampler.strategy(), SamplingStrategy::Probabilistic(0.25));
        let warned = warnings.lock().unwrap().clone();
        assert!(
            warned[0].contains("checkout") && warned[0].contains("0.25"),
            "{warned:?}"
        );
        task.abort();
    }

    #[tokio::test]
    async fn a_server_failing_then_answering_is_followed() {
        let server = SamplingServer::start(None).await.unwrap();
        let sampler = sampler(server.endpoint());
        let (task, warnings) = spawn(&sampler);
        // Polls go on at the interval, each failing: warned about once.
        assert!(wait_until(WAIT, || server.requests().len() >= 5).await);
        let warned = warnings.lock().unwrap().clone();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].contains("Unavailable"), "{warned:?}");
        assert_eq!(sampler.strategy(), SamplingStrategy::Probabilistic(0.25));
        server.set_strategy(Some(SamplingStrategy::Probabilistic(1.0)));
        assert!(
            wait_until(WAIT, || sampler.strategy()
                == SamplingStrategy::Probabilistic(1.0))
            .await
        );
        // A new outage is a new warning.
        server.set_strategy(None);
        assert!(wait_until(WAIT, || warnings.lock().unwrap().len() == 2).await);
        assert_eq!(
            sampler.strategy(),
            SamplingStrategy::Probabilistic(1.0),
            "kept"
        );
        task.abort();
    }
}
