//! Hand-written tonic glue for the mesh's services (what `tonic-build` would generate):
//! a [`GrpcService`] that routes `/{package.Service}/{Method}` to handlers, and a
//! [`GrpcClient`] for unary and server-streaming calls.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::BoxStream;
use http::uri::PathAndQuery;
use obs_core::tonic::{GrpcClientLayer, GrpcClientService};
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;
use tower_layer::Layer;
use tower_service::Service;

use crate::proto::{HEALTH_SERVICE, HealthCheckRequest, HealthCheckResponse, SERVING};

/// A boxed response future of a [`GrpcService`].
pub type ResponseFuture = Pin<Box<dyn Future<Output = http::Response<Body>> + Send>>;

/// A stream of server-streaming responses.
pub type ResponseStream<T> = BoxStream<'static, Result<T, Status>>;

/// The methods of one gRPC service.
pub trait GrpcMethods: Clone + Send + Sync + 'static {
    /// The fully qualified service name, `package.Service`.
    const NAME: &'static str;

    /// The handler of `method` (the part after `/{NAME}/`), or `None` if there is none.
    fn dispatch(&self, method: &str, request: http::Request<Body>) -> Option<ResponseFuture>;
}

/// Serves a [`GrpcMethods`] implementation with `tonic::transport::Server::add_service`.
#[derive(Debug, Clone)]
pub struct GrpcService<T>(pub T);

impl<T: GrpcMethods> NamedService for GrpcService<T> {
    const NAME: &'static str = T::NAME;
}

impl<T: GrpcMethods> Service<http::Request<Body>> for GrpcService<T> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let method = request
            .uri()
            .path()
            .strip_prefix('/')
            .and_then(|path| path.strip_prefix(T::NAME))
            .and_then(|path| path.strip_prefix('/'))
            .map(str::to_owned);
        let handled = method.and_then(|method| self.0.dispatch(&method, request));
        Box::pin(async move {
            Ok(match handled {
                Some(response) => response.await,
                None => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

/// Decodes a unary request, runs `handler`, encodes its answer.
pub fn unary<Req, Resp, F, Fut>(request: http::Request<Body>, handler: F) -> ResponseFuture
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + Send + 'static,
    F: FnOnce(Request<Req>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<Resp>, Status>> + Send + 'static,
{
    Box::pin(async move {
        let mut grpc = tonic::server::Grpc::new(ProstCodec::<Resp, Req>::default());
        grpc.unary(once(handler), request).await
    })
}

/// Decodes a request, runs `handler`, streams its answers.
pub fn server_streaming<Req, Resp, F, Fut>(
    request: http::Request<Body>,
    handler: F,
) -> ResponseFuture
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + Send + 'static,
    F: FnOnce(Request<Req>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<ResponseStream<Resp>>, Status>> + Send + 'static,
{
    Box::pin(async move {
        let mut grpc = tonic::server::Grpc::new(ProstCodec::<Resp, Req>::default());
        grpc.server_streaming(once(handler), request).await
    })
}

/// A tower service that runs `handler` on its one call (tonic calls it exactly once).
fn once<Req, Resp, F, Fut>(
    handler: F,
) -> impl Service<Request<Req>, Response = Response<Resp>, Error = Status, Future: Send>
where
    F: FnOnce(Request<Req>) -> Fut,
    Fut: Future<Output = Result<Response<Resp>, Status>> + Send + 'static,
    Resp: Send + 'static,
{
    let mut handler = Some(handler);
    tower::service_fn(move |request| {
        let future = handler.take().map(|handler| handler(request));
        async move {
            match future {
                Some(future) => future.await,
                None => Err(Status::internal("handler called twice")),
            }
        }
    })
}

/// `grpc.health.v1.Health`: `Check` answers `SERVING` while the server runs (Kubernetes
/// `grpc` probes and `grpc_health_probe` call it); `Watch` is not offered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Health;

impl GrpcMethods for Health {
    const NAME: &'static str = HEALTH_SERVICE;

    fn dispatch(&self, method: &str, request: http::Request<Body>) -> Option<ResponseFuture> {
        (method == "Check").then(|| {
            unary(request, |_: Request<HealthCheckRequest>| async {
                Ok(Response::new(HealthCheckResponse { status: SERVING }))
            })
        })
    }
}

/// The channel the clients call through: traced by `obs`'s gRPC client layer.
pub type TracedChannel = GrpcClientService<Channel>;

/// A gRPC client of one peer, cheap to clone.
#[derive(Debug, Clone)]
pub struct GrpcClient {
    channel: TracedChannel,
}

impl GrpcClient {
    /// A client of `url` (`http://host:port`) that connects on first use.
    pub fn new(url: &str) -> Result<GrpcClient, tonic::transport::Error> {
        let endpoint = Endpoint::from_shared(url.to_owned())?;
        let (host, port) = (
            endpoint.uri().host().unwrap_or_default().to_owned(),
            endpoint.uri().port_u16(),
        );
        let channel = endpoint
            .connect_timeout(std::time::Duration::from_secs(2))
            .connect_lazy();
        Ok(GrpcClient {
            // A channel adds the authority below the layer: name the server for the span.
            channel: GrpcClientLayer::new()
                .with_server_address(host, port)
                .layer(channel),
        })
    }

    async fn ready(&self) -> Result<tonic::client::Grpc<TracedChannel>, Status> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(format!("peer not ready: {e}")))?;
        Ok(grpc)
    }

    /// Calls the unary method at `path` (`/package.Service/Method`).
    pub async fn unary<Req, Resp>(&self, path: &'static str, message: Req) -> Result<Resp, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = self.ready().await?;
        let response = grpc
            .unary(
                Request::new(message),
                PathAndQuery::from_static(path),
                ProstCodec::<Req, Resp>::default(),
            )
            .await?;
        Ok(response.into_inner())
    }

    /// Calls the server-streaming method at `path` and collects the whole stream.
    pub async fn server_streaming<Req, Resp>(
        &self,
        path: &'static str,
        message: Req,
    ) -> Result<Vec<Resp>, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = self.ready().await?;
        let mut stream = grpc
            .server_streaming(
                Request::new(message),
                PathAndQuery::from_static(path),
                ProstCodec::<Req, Resp>::default(),
            )
            .await?
            .into_inner();
        let mut messages = Vec::new();
        while let Some(message) = stream.message().await? {
            messages.push(message);
        }
        Ok(messages)
    }
}
