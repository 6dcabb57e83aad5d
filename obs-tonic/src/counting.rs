//! Message counts for `rpc.*.requests_per_rpc` and `rpc.*.responses_per_rpc`: gRPC
//! messages are counted as the bodies stream, without decoding them.
//!
//! [`CountMessages`] sits outside the instrumented service and wraps the request body in a
//! [`CountedBody`], which the inner service consumes on its own schedule: the call reads
//! the count through the [`MessageCounts`] they share. The response body is the call's
//! own: its messages are counted by the call itself as each data frame passes
//! ([`GrpcCall`](crate::GrpcCall)'s `on_data`), so no second wrapper or shared count is
//! needed there.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::grpc::MessageCounter;

/// The request messages of one call so far.
#[derive(Debug, Default)]
pub struct MessageCounts {
    requests: AtomicU32,
}

thread_local! {
    /// Counts a finished call gave back on this thread: the next call started here takes
    /// them instead of allocating, which saves an allocation and its free on every call.
    static SPARE_COUNTS: Cell<Option<Arc<MessageCounts>>> = const { Cell::new(None) };
}

impl MessageCounts {
    /// Messages in the request stream so far.
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Zeroed counts for a new call: this thread's spare ones if it has them.
    fn for_new_call() -> Arc<MessageCounts> {
        SPARE_COUNTS
            .try_with(Cell::take)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Takes back the counts of a finished call for [`for_new_call`](Self::for_new_call),
    /// if nothing shares them any more (a request body the service still holds keeps them
    /// alive, and they are simply dropped).
    pub(crate) fn recycle(mut counts: Arc<MessageCounts>) {
        let Some(unique) = Arc::get_mut(&mut counts) else {
            return;
        };
        *unique.requests.get_mut() = 0;
        let _ = SPARE_COUNTS.try_with(|spare| spare.set(Some(counts)));
    }
}

pin_project! {
    /// A request body whose gRPC messages are counted as its frames pass, untouched.
    pub struct CountedBody<B> {
        #[pin]
        inner: B,
        counts: Arc<MessageCounts>,
        counter: MessageCounter,
    }
}

impl<B> CountedBody<B> {
    fn new(inner: B, counts: Arc<MessageCounts>) -> Self {
        CountedBody {
            inner,
            counts,
            counter: MessageCounter::default(),
        }
    }

    /// The counts of the call this body belongs to.
    pub fn counts(&self) -> &Arc<MessageCounts> {
        &self.counts
    }

    /// Counts the messages through the base64 of gRPC-Web's text mode.
    pub(crate) fn decode_base64(&mut self) {
        self.counter.decode_base64();
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
                this.counts.requests.fetch_add(started, Ordering::Relaxed);
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
        let counts = MessageCounts::for_new_call();
        self.inner
            .call(request.map(|body| CountedBody::new(body, counts)))
    }
}

/// The inner service of [`GrpcClientLayer`](crate::GrpcClientLayer): boxes the counted
/// request body into [`tonic::body::Body`], the only body a `Channel` takes, and makes its
/// errors the [`tonic::Status`] tonic's client makes of them (`Status::from_error`), so
/// that the call's span records the status the caller gets (tonic passes a `Status` on
/// unchanged).
#[derive(Clone, Debug)]
pub struct TonicRequestBody<S> {
    inner: S,
}

impl<S> TonicRequestBody<S> {
    pub(crate) fn new(inner: S) -> Self {
        TonicRequestBody { inner }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// A transport error as the status tonic's client hands its caller (UNAVAILABLE for a
/// connection refused, CANCELLED for `Endpoint::timeout`, ...).
#[cold]
fn status_of<E: Into<BoxError>>(error: E) -> tonic::Status {
    tonic::Status::from_error(error.into())
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, B> Service<Request<CountedBody<B>>> for TonicRequestBody<S>
where
    S: Service<Request<tonic::body::Body>>,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = tonic::Status;
    type Future = StatusFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), tonic::Status>> {
        self.inner.poll_ready(cx).map_err(status_of)
    }

    #[inline]
    fn call(&mut self, request: Request<CountedBody<B>>) -> Self::Future {
        StatusFuture {
            inner: self.inner.call(request.map(tonic::body::Body::new)),
        }
    }
}

pin_project! {
    /// The response future of [`TonicRequestBody`]: the inner service's, with its error
    /// made a [`tonic::Status`].
    pub struct StatusFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F> std::fmt::Debug for StatusFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusFuture").finish_non_exhaustive()
    }
}

impl<F, R, E> Future for StatusFuture<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    type Output = Result<R, tonic::Status>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map_err(status_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_counts_are_reused_zeroed_and_shared_ones_are_not() {
        let counts = MessageCounts::for_new_call();
        counts.requests.fetch_add(3, Ordering::Relaxed);
        let address = Arc::as_ptr(&counts);
        MessageCounts::recycle(counts);
        let reused = MessageCounts::for_new_call();
        assert_eq!(Arc::as_ptr(&reused), address);
        assert_eq!(reused.requests(), 0);

        // A request body still holding the counts keeps them: the next call gets others.
        let held_by_body = Arc::clone(&reused);
        held_by_body.requests.fetch_add(1, Ordering::Relaxed);
        MessageCounts::recycle(reused);
        let next = MessageCounts::for_new_call();
        assert!(!Arc::ptr_eq(&next, &held_by_body));
        assert_eq!((next.requests(), held_by_body.requests()), (0, 1));
    }
}
