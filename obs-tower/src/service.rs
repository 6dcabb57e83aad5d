//! [`Instrumented`]: the service every layer of this crate produces.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::hooks::{Call, Hooks};
use crate::{ResponseBody, ResponseFuture};

/// A service instrumented by the [`Hooks`] `H`: the span is entered while the inner service
/// runs and while the response body is polled, and the call ends when the body does.
///
/// Errors and responses pass through unchanged (`Error = S::Error`); only the body is
/// wrapped, in a [`ResponseBody`] that forwards every frame.
#[derive(Clone, Debug)]
pub struct Instrumented<S, H> {
    pub(crate) inner: S,
    pub(crate) hooks: H,
}

impl<S, H> Instrumented<S, H> {
    /// Wraps `inner` with `hooks`.
    pub fn new(inner: S, hooks: H) -> Self {
        Instrumented { inner, hooks }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for Instrumented<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    // Errors are handed to the hooks as `&dyn Any`, to be looked into (gRPC's status).
    S::Error: 'static,
    ResBody: http_body::Body,
    ResBody::Error: 'static,
    H: Hooks<ReqBody>,
{
    type Response = Response<ResponseBody<ResBody, H::Call>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, H::Call>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let (span, hooks) = self.hooks.on_request(&mut request);
        // The call exists before the inner service runs, so that a panic in its `call`
        // still ends it (on drop): the active-request count goes back down and the
        // duration is recorded. What the inner service does synchronously in `call`
        // belongs to the span too.
        let mut call = Call::new(span, hooks);
        let inner = call.entered(|_| self.inner.call(request));
        ResponseFuture::new(inner, call)
    }
}
