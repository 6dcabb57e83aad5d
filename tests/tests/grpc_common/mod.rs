//! A small gRPC catalog service for the gRPC tests, written by hand so that no `protoc`
//! or code generation is needed: prost messages, a tonic service routing two methods
//! (`obs.test.Catalog/Get`, unary, `obs.test.Catalog/List`, server streaming, and two
//! fixed ones: `obs.test.Catalog/Collect`, client streaming, and `obs.test.Catalog/Chat`,
//! bidirectional), and a client for all four; `obs.test.Catalog/Bare` answers as a broken
//! proxy may, with an empty 200 and no `grpc-status`, and `obs.test.Catalog/Broken` sends
//! one message and, once the test says ([`Catalog::breaker`]), fails its stream (the
//! server resets it). Servers run behind `GrpcServerLayer` on free loopback ports,
//! clients go through `GrpcClientLayer`.

#![allow(dead_code, unreachable_pub)] // Each test binary uses its own part of this module.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::{Stream, StreamExt};
use http::uri::PathAndQuery;
use obs_tonic::{GrpcClientLayer, GrpcClientService, GrpcServerLayer};
use tonic::client::GrpcService;
use tonic::server::{NamedService, ServerStreamingService, UnaryService};
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

pub mod spans;

/// `obs.test.ItemRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ItemRequest {
    /// The item, or the first item listed.
    #[prost(uint32, tag = "1")]
    pub id: u32,
    /// How many items `List` streams.
    #[prost(uint32, tag = "2")]
    pub count: u32,
}

/// `obs.test.Item`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Item {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(string, tag = "2")]
    pub name: String,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub type ItemStream = Pin<Box<dyn Stream<Item = Result<Item, Status>> + Send>>;
type GetFn =
    dyn Fn(Request<ItemRequest>) -> BoxFuture<Result<Response<Item>, Status>> + Send + Sync;
type ListFn =
    dyn Fn(Request<ItemRequest>) -> BoxFuture<Result<Response<ItemStream>, Status>> + Send + Sync;

pub const SERVICE: &str = "obs.test.Catalog";
const GET: &str = "/obs.test.Catalog/Get";
const LIST: &str = "/obs.test.Catalog/List";
const COLLECT: &str = "/obs.test.Catalog/Collect";
const CHAT: &str = "/obs.test.Catalog/Chat";
const BARE: &str = "/obs.test.Catalog/Bare";
const BROKEN: &str = "/obs.test.Catalog/Broken";

/// The catalog service: what `Get` and `List` do.
#[derive(Clone)]
pub struct Catalog {
    get: Arc<GetFn>,
    list: Arc<ListFn>,
    /// Breaks the streams `Broken` has started.
    breaker: Arc<tokio::sync::Notify>,
}

impl Catalog {
    pub fn new<G, GF, L, LF>(get: G, list: L) -> Catalog
    where
        G: Fn(Request<ItemRequest>) -> GF + Send + Sync + 'static,
        GF: Future<Output = Result<Response<Item>, Status>> + Send + 'static,
        L: Fn(Request<ItemRequest>) -> LF + Send + Sync + 'static,
        LF: Future<Output = Result<Response<ItemStream>, Status>> + Send + 'static,
    {
        Catalog {
            get: Arc::new(move |r| Box::pin(get(r))),
            list: Arc::new(move |r| Box::pin(list(r))),
            breaker: Arc::default(),
        }
    }

    /// What breaks the stream of a `Broken` call, after its first message: one
    /// `notify_one` a call.
    pub fn breaker(&self) -> Arc<tokio::sync::Notify> {
        self.breaker.clone()
    }

    /// Serves the catalog behind `GrpcServerLayer` on a free loopback port.
    pub async fn serve(self) -> SocketAddr {
        self.serve_with(GrpcServerLayer::new()).await
    }

    /// Serves the catalog behind `layer` on a free loopback port.
    pub async fn serve_with(self, layer: GrpcServerLayer) -> SocketAddr {
        let (incoming, addr) = free_port().await;
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(layer)
                .add_service(self)
                .serve_with_incoming(incoming),
        );
        addr
    }
}

impl Catalog {
    /// Serves the catalog behind `GrpcServerLayer` over TLS on a free loopback port: with
    /// tonic's TLS (`Server::tls_config`), or with the server's own acceptor, whose
    /// connections tonic knows only as `TlsConnectInfo`.
    pub async fn serve_tls(self, pki: &obs_tests::tls::Pki, own_acceptor: bool) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tonic::transport::Server::builder();
        if own_acceptor {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(pki.server_config()));
            // One connection at a time: enough for a test's client.
            let incoming = futures_util::stream::unfold(listener, move |listener| {
                let acceptor = acceptor.clone();
                async move {
                    let (tcp, _) = listener.accept().await.ok()?;
                    let tls = acceptor.accept(tcp).await;
                    Some((tls, listener))
                }
            });
            tokio::spawn(
                server
                    .layer(GrpcServerLayer::new())
                    .add_service(self)
                    .serve_with_incoming(incoming),
            );
        } else {
            let identity = tonic::transport::Identity::from_pem(
                &pki.server_certificate_pem,
                &pki.server_key_pem,
            );
            let tls = tonic::transport::ServerTlsConfig::new().identity(identity);
            tokio::spawn(
                server
                    .tls_config(tls)
                    .expect("TLS configuration")
                    .layer(GrpcServerLayer::new())
                    .add_service(self)
                    .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
            );
        }
        addr
    }

    /// Serves the catalog on a free loopback port behind `GrpcServerLayer`, recording into
    /// `registry`, with an auth layer under it that answers UNAUTHENTICATED to any call
    /// without `authorization` metadata before routing: as such layers do, it answers for
    /// made-up methods just as for the catalog's own.
    pub async fn serve_behind_auth(self, registry: &obs_metrics::Registry) -> SocketAddr {
        let (incoming, addr) = free_port().await;
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(GrpcServerLayer::new().with_registry(registry))
                .layer(tower::layer::layer_fn(RequireAuth))
                .add_service(self)
                .serve_with_incoming(incoming),
        );
        addr
    }
}

impl Catalog {
    /// Serves the catalog on a free loopback port for gRPC-Web clients too (HTTP/1.1,
    /// tonic-web's `GrpcWebLayer`), behind `GrpcServerLayer`, recording into `registry`:
    /// the server layer outside the gRPC-Web one sees gRPC-Web as the browser sends it.
    pub async fn serve_grpc_web(self, registry: &obs_metrics::Registry) -> SocketAddr {
        let (incoming, addr) = free_port().await;
        tokio::spawn(
            tonic::transport::Server::builder()
                .accept_http1(true)
                .layer(GrpcServerLayer::new().with_registry(registry))
                .layer(tonic_web::GrpcWebLayer::new())
                .add_service(self)
                .serve_with_incoming(incoming),
        );
        addr
    }
}

impl Catalog {
    /// Serves the catalog on a free loopback port behind `GrpcServerLayer`, recording into
    /// `registry`, with a layer under it that fails the calls carrying `fail` metadata
    /// before routing, with an error (boxed, as tower layers box theirs): a
    /// `RESOURCE_EXHAUSTED` status for `fail: status`, an I/O error for any other value.
    pub async fn serve_behind_failures(self, registry: &obs_metrics::Registry) -> SocketAddr {
        let (incoming, addr) = free_port().await;
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(GrpcServerLayer::new().with_registry(registry))
                .layer(tower::layer::layer_fn(FailOnRequest))
                .add_service(self)
                .serve_with_incoming(incoming),
        );
        addr
    }
}

/// Fails the calls with `fail` metadata (see [`Catalog::serve_behind_failures`]); passes
/// the others to the service.
#[derive(Clone, Debug)]
struct FailOnRequest<S>(S);

impl<S, B> tower_service::Service<http::Request<B>> for FailOnRequest<S>
where
    S: tower_service::Service<
            http::Request<B>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        >,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(BoxError::from)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let error: BoxError = match request.headers().get("fail") {
            None => {
                let call = self.0.call(request);
                return Box::pin(async move { call.await.map_err(BoxError::from) });
            }
            Some(kind) if kind == "status" => Status::resource_exhausted("shed").into(),
            Some(_) => std::io::Error::other("the backend is down").into(),
        };
        Box::pin(async move { Err(error) })
    }
}

/// Answers UNAUTHENTICATED to calls without `authorization` metadata; passes the others to
/// the service.
#[derive(Clone, Debug)]
struct RequireAuth<S>(S);

impl<S, B> tower_service::Service<http::Request<B>> for RequireAuth<S>
where
    S: tower_service::Service<
            http::Request<B>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        >,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.headers().contains_key("authorization") {
            Box::pin(self.0.call(request))
        } else {
            Box::pin(async { Ok(Status::unauthenticated("no credentials").into_http()) })
        }
    }
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalog")
    }
}

impl NamedService for Catalog {
    const NAME: &'static str = SERVICE;
}

struct Get(Arc<GetFn>);

impl UnaryService<ItemRequest> for Get {
    type Response = Item;
    type Future = BoxFuture<Result<Response<Item>, Status>>;

    fn call(&mut self, request: Request<ItemRequest>) -> Self::Future {
        (self.0)(request)
    }
}

struct List(Arc<ListFn>);

impl ServerStreamingService<ItemRequest> for List {
    type Response = Item;
    type ResponseStream = ItemStream;
    type Future = BoxFuture<Result<Response<ItemStream>, Status>>;

    fn call(&mut self, request: Request<ItemRequest>) -> Self::Future {
        (self.0)(request)
    }
}

/// `Collect`: reads the whole request stream and answers with an item whose `id` is the
/// number of requests.
struct Collect;

impl tower_service::Service<Request<Streaming<ItemRequest>>> for Collect {
    type Response = Response<Item>;
    type Error = Status;
    type Future = BoxFuture<Result<Response<Item>, Status>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Streaming<ItemRequest>>) -> Self::Future {
        Box::pin(async move {
            let mut requests = request.into_inner();
            let mut id = 0;
            while requests.message().await?.is_some() {
                id += 1;
            }
            Ok(Response::new(Item {
                id,
                name: String::new(),
            }))
        })
    }
}

/// `Chat`: answers each request, as it comes, with the item of its `id`.
struct Chat;

impl tower_service::Service<Request<Streaming<ItemRequest>>> for Chat {
    type Response = Response<ItemStream>;
    type Error = Status;
    type Future = BoxFuture<Result<Response<ItemStream>, Status>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Streaming<ItemRequest>>) -> Self::Future {
        let answers: ItemStream = Box::pin(request.into_inner().map(|request| {
            request.map(|request| Item {
                id: request.id,
                name: String::new(),
            })
        }));
        Box::pin(async move { Ok(Response::new(answers)) })
    }
}

impl<B> tower_service::Service<http::Request<B>> for Catalog
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let catalog = self.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Item, ItemRequest>::default());
            Ok(match request.uri().path() {
                GET => grpc.unary(Get(catalog.get), request).await,
                LIST => grpc.server_streaming(List(catalog.list), request).await,
                COLLECT => grpc.client_streaming(Collect, request).await,
                CHAT => grpc.streaming(Chat, request).await,
                // No gRPC at all: the head ends the stream (hyper sends it with END_STREAM
                // and never polls the body).
                BARE => http::Response::new(tonic::body::Body::empty()),
                BROKEN => broken_stream(catalog.breaker),
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

/// A gRPC answer whose body sends one (empty) message and, once `breaker` is notified,
/// fails: hyper resets the HTTP/2 stream (`INTERNAL_ERROR`) in the middle of the response.
fn broken_stream(breaker: Arc<tokio::sync::Notify>) -> http::Response<tonic::body::Body> {
    let message = Ok(http_body::Frame::data(bytes::Bytes::from_static(&[0; 5])));
    let failure = async move {
        breaker.notified().await;
        Err(Status::internal("the stream broke"))
    };
    let frames = futures_util::stream::iter([message]).chain(futures_util::stream::once(failure));
    let body = tonic::body::Body::new(http_body_util::StreamBody::new(frames));
    let mut response = http::Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    response
}

/// A catalog client; by default over a traced channel.
#[derive(Clone, Debug)]
pub struct CatalogClient<T = GrpcClientService<Channel>> {
    grpc: tonic::client::Grpc<T>,
}

fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy()
}

impl CatalogClient {
    /// A client of the catalog at `addr` through `GrpcClientLayer` (connects on first use).
    pub fn new(addr: SocketAddr) -> CatalogClient {
        Self::with_layer(addr, GrpcClientLayer::new())
    }

    /// A client of the catalog at `addr` through `layer`, given the server's address.
    pub fn with_layer(addr: SocketAddr, layer: GrpcClientLayer) -> CatalogClient {
        Self::on_channel(channel(addr), addr, layer)
    }

    /// A client of the catalog at `addr` over `channel` (TLS, say) through `layer`, given
    /// the server's address.
    pub fn on_channel(channel: Channel, addr: SocketAddr, layer: GrpcClientLayer) -> CatalogClient {
        let layer = layer.with_server_address(addr.ip().to_string(), Some(addr.port()));
        let traced = tower::ServiceBuilder::new().layer(layer).service(channel);
        CatalogClient {
            grpc: tonic::client::Grpc::new(traced),
        }
    }
}

impl CatalogClient<Channel> {
    /// A client without the layer: it sends whatever metadata the request carries.
    pub fn untraced(addr: SocketAddr) -> CatalogClient<Channel> {
        CatalogClient {
            grpc: tonic::client::Grpc::new(channel(addr)),
        }
    }
}

impl<T> CatalogClient<T>
where
    T: GrpcService<tonic::body::Body>,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<BoxError>,
{
    pub async fn get(&mut self, request: Request<ItemRequest>) -> Result<Item, Status> {
        self.ready().await?;
        let response = self
            .grpc
            .unary(
                request,
                PathAndQuery::from_static(GET),
                ProstCodec::default(),
            )
            .await?;
        Ok(response.into_inner())
    }

    pub async fn list(
        &mut self,
        request: Request<ItemRequest>,
    ) -> Result<tonic::Streaming<Item>, Status> {
        self.ready().await?;
        let response = self
            .grpc
            .server_streaming(
                request,
                PathAndQuery::from_static(LIST),
                ProstCodec::default(),
            )
            .await?;
        Ok(response.into_inner())
    }

    /// Streams `requests` to `Collect`: the answer's `id` is how many arrived.
    pub async fn collect<S>(&mut self, requests: S) -> Result<Item, Status>
    where
        S: Stream<Item = ItemRequest> + Send + 'static,
    {
        self.ready().await?;
        let response = self
            .grpc
            .client_streaming(
                Request::new(requests),
                PathAndQuery::from_static(COLLECT),
                ProstCodec::default(),
            )
            .await?;
        Ok(response.into_inner())
    }

    /// Streams `requests` to `Chat`, which answers each as it comes.
    pub async fn chat<S>(&mut self, requests: S) -> Result<tonic::Streaming<Item>, Status>
    where
        S: Stream<Item = ItemRequest> + Send + 'static,
    {
        self.ready().await?;
        let response = self
            .grpc
            .streaming(
                Request::new(requests),
                PathAndQuery::from_static(CHAT),
                ProstCodec::default(),
            )
            .await?;
        Ok(response.into_inner())
    }

    /// Calls a method the catalog does not have.
    pub async fn missing(&mut self) -> Result<Item, Status> {
        self.unary(PathAndQuery::from_static("/obs.test.Catalog/Missing"))
            .await
    }

    /// Calls `method` of the catalog's service, which it may not have.
    pub async fn call_method(&mut self, method: &str) -> Result<Item, Status> {
        let path = PathAndQuery::try_from(format!("/{SERVICE}/{method}")).expect("a valid path");
        self.unary(path).await
    }

    /// Calls `Broken`, whose answer fails after its first message when the server's
    /// breaker says.
    pub async fn broken(&mut self) -> Result<tonic::Streaming<Item>, Status> {
        self.ready().await?;
        let response = self
            .grpc
            .server_streaming(
                Request::new(ItemRequest::default()),
                PathAndQuery::from_static(BROKEN),
                ProstCodec::default(),
            )
            .await?;
        Ok(response.into_inner())
    }

    /// Calls `Bare`, whose answer has no `grpc-status`.
    pub async fn bare(&mut self) -> Result<Item, Status> {
        self.unary(PathAndQuery::from_static(BARE)).await
    }

    /// A unary call of `path` with a default request.
    async fn unary(&mut self, path: PathAndQuery) -> Result<Item, Status> {
        self.ready().await?;
        let response = self
            .grpc
            .unary(
                Request::new(ItemRequest::default()),
                path,
                ProstCodec::<ItemRequest, Item>::default(),
            )
            .await?;
        Ok(response.into_inner())
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.grpc
            .ready()
            .await
            .map_err(|e| Status::unavailable(e.into().to_string()))
    }
}

/// `count` items from `first` on, as a stream.
pub fn items(first: u32, count: u32) -> ItemStream {
    Box::pin(futures_util::stream::iter((first..first + count).map(
        |id| {
            Ok(Item {
                id,
                name: format!("item {id}"),
            })
        },
    )))
}

/// A free loopback port, as the stream of connections tonic serves, and its address.
async fn free_port() -> (tonic::transport::server::TcpIncoming, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (tonic::transport::server::TcpIncoming::from(listener), addr)
}

/// `(rpc_grpc_status_code, error_type, count)` of each series of the duration family
/// `name` (`rpc_client_call_duration_seconds`, `rpc_server_call_duration_seconds`) of
/// `registry`, sorted.
pub fn outcomes(registry: &obs_metrics::Registry, name: &str) -> Vec<(String, String, u64)> {
    let family = registry
        .collect()
        .into_iter()
        .find(|f| f.name == name)
        .expect("the duration family");
    let mut outcomes: Vec<_> = family
        .points
        .iter()
        .map(|p| {
            let label = |key: &str| {
                let found = p.labels.iter().find(|(k, _)| k == key);
                found.map(|(_, v)| v.clone()).unwrap_or_default()
            };
            match &p.value {
                obs_metrics::PointValue::Histogram(h) => {
                    (label("rpc_grpc_status_code"), label("error_type"), h.count)
                }
                other => panic!("not a histogram: {other:?}"),
            }
        })
        .collect();
    outcomes.sort();
    outcomes
}
