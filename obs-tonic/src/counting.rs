//! Message counts for `rpc.*.requests_per_rpc` and `rpc.*.responses_per_rpc`: the request
//! and response bodies are wrapped so that their gRPC messages are counted as they stream.
//!
//! [`CountMessages`] sits outside the instrumented service and wraps the request body;
//! [`CountResponses`] sits inside it and wraps the response body before the call's
//! [`ResponseBody`](obs_tower::ResponseBody) sees it, so every message is counted before
//! the call ends. Both share one [`MessageCounts`] per call, reached through the request
//! body.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::grpc::MessageCounter;

/// The messages of one call so far, in each direction.
#[derive(Debug, Default)]
pub struct MessageCounts {
    requests: AtomicU32,
    responses: AtomicU32,
}

impl MessageCounts {
    /// Messages in the request stream so far.
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Messages in the response stream so far.
    pub fn responses(&self) -> u32 {
        self.responses.load(Ordering::Relaxed)
    }
}

/// Which count a [`CountedBody`] adds to.
#[derive(Clone, Copy, Debug)]
enum Direction {
    Requests,
    Responses,
}

pin_project! {
    /// A body whose gRPC messages are counted as its frames pass, untouched.
    pub struct CountedBody<B> {
        #[pin]
        inner: B,
        counts: Arc<MessageCounts>,
        direction: Direction,
        counter: MessageCounter,
    }
}

impl<B> CountedBody<B> {
    fn new(inner: B, counts: Arc<MessageCounts>, direction: Direction) -> Self {
        CountedBody {
            inner,
            counts,
            direction,
            counter: MessageCounter::default(),
        }
    }

    /// The counts of the call this body belongs to.
    pub fn counts(&self) -> &Arc<MessageCounts> {
        &self.counts
    }
}

impl<B> std::fmt::Debug for CountedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountedBody")
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

// gRPC bodies are `Bytes` throughout tonic, which keeps each frame one contiguous slice.
impl<B: Body<Data = Bytes>> Body for CountedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let started = this.counter.feed(data);
            if started > 0 {
                let count = match this.direction {
                    Direction::Requests => &this.counts.requests,
                    Direction::Responses => &this.counts.responses,
                };
                count.fetch_add(started, Ordering::Relaxed);
            }
        }
        polled
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The outer service of the gRPC layers: gives each call its [`MessageCounts`] and counts
/// the request messages.
#[derive(Clone, Debug)]
pub struct CountMessages<S> {
    inner: S,
}

impl<S> CountMessages<S> {
    pub(crate) fn new(inner: S) -> Self {
        CountMessages { inner }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for CountMessages<S>
where
    S: Service<Request<CountedBody<B>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<B>) -> S::Future {
        let counts = Arc::new(MessageCounts::default());
        self.inner
            .call(request.map(|body| CountedBody::new(body, counts, Direction::Requests)))
    }
}

/// How [`CountResponses`] hands the request on: as is (servers), or with its body boxed
/// into tonic's body type (clients: a `Channel` takes nothing else).
pub trait ForwardBody<B> {
    /// The request body the inner service takes.
    type Body;

    /// Converts the request (the whole request, so that passing it on as is moves nothing).
    fn forward(request: Request<CountedBody<B>>) -> Request<Self::Body>;
}

/// Passes the counted request body on unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsIs;

impl<B> ForwardBody<B> for AsIs {
    type Body = CountedBody<B>;

    #[inline]
    fn forward(request: Request<CountedBody<B>>) -> Request<CountedBody<B>> {
        request
    }
}

/// Boxes the counted request body into [`tonic::body::Body`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TonicBody;

impl<B> ForwardBody<B> for TonicBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Body = tonic::body::Body;

    #[inline]
    fn forward(request: Request<CountedBody<B>>) -> Request<tonic::body::Body> {
        request.map(tonic::body::Body::new)
    }
}

/// The inner service of the gRPC layers: counts the response messages of each call.
#[derive(Debug)]
pub struct CountResponses<S, F = AsIs> {
    inner: S,
    forward: std::marker::PhantomData<fn() -> F>,
}

impl<S: Clone, F> Clone for CountResponses<S, F> {
    fn clone(&self) -> Self {
        CountResponses::new(self.inner.clone())
    }
}

impl<S, F> CountResponses<S, F> {
    pub(crate) fn new(inner: S) -> Self {
        CountResponses {
            inner,
            forward: std::marker::PhantomData,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, F, B, ResBody> Service<Request<CountedBody<B>>> for CountResponses<S, F>
where
    F: ForwardBody<B>,
    S: Service<Request<F::Body>, Response = Response<ResBody>>,
{
    type Response = Response<CountedBody<ResBody>>;
    type Error = S::Error;
    type Future = CountResponsesFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<CountedBody<B>>) -> Self::Future {
        let counts = Some(request.body().counts.clone());
        CountResponsesFuture {
            inner: self.inner.call(F::forward(request)),
            counts,
        }
    }
}

pin_project! {
    /// The response future of [`CountResponses`].
    pub struct CountResponsesFuture<F> {
        #[pin]
        inner: F,
        counts: Option<Arc<MessageCounts>>,
    }
}

impl<F> std::fmt::Debug for CountResponsesFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountResponsesFuture")
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for CountResponsesFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<CountedBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        // Polled after completion (a caller's contract breach): count into a fresh set
        // rather than panic.
        let counts = this.counts.take().unwrap_or_default();
        Poll::Ready(result.map(|response| {
            response.map(|body| CountedBody::new(body, counts, Direction::Responses))
        }))
    }
}
