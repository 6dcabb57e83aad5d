//! A Jaeger `SamplingManager` for tests of the `jaeger_remote` samplers: Jaeger itself is
//! not something a test can start, so this in-process gRPC server answers
//! `jaeger.api_v2.SamplingManager/GetSamplingStrategy` (sampling.proto) in its place.

use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use obs_trace::SamplingStrategy;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::codegen::{BoxFuture, Service};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use super::receiver::until_stopped;
use crate::jaeger_remote::proto;

/// What the server answers and what it was asked.
#[derive(Default)]
struct State {
    strategy: Option<SamplingStrategy>,
    requests: Vec<String>,
    delay: Duration,
}

/// An in-process Jaeger `SamplingManager` on a loopback port: it answers every
/// `GetSamplingStrategy` with the strategy it is given, or `UNAVAILABLE` while it has none,
/// and keeps the service names it was asked for. Stops when dropped.
pub struct SamplingServer {
    endpoint: String,
    state: Arc<Mutex<State>>,
    _stop: watch::Sender<bool>,
}

impl fmt::Debug for SamplingServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamplingServer")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl SamplingServer {
    /// Starts serving on `127.0.0.1`, on a port of the system's choosing, in the current
    /// Tokio runtime, answering with `strategy`.
    pub async fn start(strategy: Option<SamplingStrategy>) -> std::io::Result<SamplingServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State {
            strategy,
            requests: Vec::new(),
            delay: Duration::ZERO,
        }));
        let (stop, stopped) = watch::channel(false);
        let manager = Manager(state.clone());
        tokio::spawn(async move {
            let served = Server::builder()
                .add_service(manager)
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), until_stopped(stopped))
                .await;
            if let Err(error) = served {
                eprintln!("obs_core::testing: SamplingManager stopped: {error}");
            }
        });
        Ok(SamplingServer {
            endpoint,
            state,
            _stop: stop,
        })
    }

    /// `http://127.0.0.1:<port>`, for `OTEL_TRACES_SAMPLER_ARG`'s `endpoint`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// Answers with `strategy` from now on (`None`: `UNAVAILABLE`).
    pub fn set_strategy(&self, strategy: Option<SamplingStrategy>) {
        self.lock().strategy = strategy;
    }

    /// Answers each call `delay` after it arrives from now on, as a distant or loaded
    /// Jaeger does.
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// The service names asked for so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `strategy` as a `SamplingStrategyResponse`, as Jaeger's collector sends it.
fn response(strategy: &SamplingStrategy) -> proto::SamplingStrategyResponse {
    let probabilistic = |rate| proto::ProbabilisticSamplingStrategy {
        sampling_rate: rate,
    };
    let mut response = proto::SamplingStrategyResponse::default();
    match strategy {
        SamplingStrategy::Probabilistic(rate) => {
            response.probabilistic_sampling = Some(probabilistic(*rate));
        }
        SamplingStrategy::RateLimiting(per_second) => {
            response.strategy_type = proto::RATE_LIMITING;
            response.rate_limiting_sampling = Some(proto::RateLimitingSamplingStrategy {
                max_traces_per_second: *per_second as i32,
            });
        }
        SamplingStrategy::PerOperation(per_op) => {
            response.operation_sampling = Some(proto::PerOperationSamplingStrategies {
                default_sampling_probability: per_op.default_probability,
                default_lower_bound_traces_per_second: per_op.lower_bound_per_second,
                per_operation_strategies: per_op
                    .operations
                    .iter()
                    .map(|(operation, rate)| proto::OperationSamplingStrategy {
                        operation: operation.clone(),
                        probabilistic_sampling: Some(probabilistic(*rate)),
                    })
                    .collect(),
                default_upper_bound_traces_per_second: 0.0,
            });
        }
    }
    response
}

/// The service, written out as tonic's generated code would be.
#[derive(Clone)]
struct Manager(Arc<Mutex<State>>);

impl tonic::server::NamedService for Manager {
    const NAME: &'static str = "jaeger.api_v2.SamplingManager";
}

impl tonic::server::UnaryService<proto::SamplingStrategyParameters> for Manager {
    type Response = proto::SamplingStrategyResponse;
    type Future = BoxFuture<tonic::Response<Self::Response>, tonic::Status>;

    fn call(&mut self, request: tonic::Request<proto::SamplingStrategyParameters>) -> Self::Future {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.requests.push(request.into_inner().service_name);
        let answer = match &state.strategy {
            Some(strategy) => Ok(tonic::Response::new(response(strategy))),
            None => Err(tonic::Status::unavailable("no strategy set")),
        };
        let delay = state.delay;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            answer
        })
    }
}

impl Service<http::Request<tonic::body::Body>> for Manager {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let manager = self.clone();
        Box::pin(async move {
            if request.uri().path() != proto::GET_SAMPLING_STRATEGY {
                return Ok(tonic::Status::unimplemented("").into_http());
            }
            let codec = tonic_prost::ProstCodec::<
                proto::SamplingStrategyResponse,
                proto::SamplingStrategyParameters,
            >::default();
            Ok(tonic::server::Grpc::new(codec)
                .unary(manager, request)
                .await)
        })
    }
}
