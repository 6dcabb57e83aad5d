//! [`ResponseFuture`]: polls the inner service with the span entered.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::ResponseBody;
use crate::hooks::{Call, CallHooks};

pin_project! {
    /// The response future of [`Instrumented`](crate::Instrumented): the inner future runs
    /// inside the call's span (so the handler's spans and logs are its children), and the
    /// response body takes over the call when the head arrives.
    pub struct ResponseFuture<F, C: CallHooks> {
        #[pin]
        inner: F,
        call: Option<Call<C>>,
    }
}

impl<F, C: CallHooks> ResponseFuture<F, C> {
    pub(crate) fn new(inner: F, call: Call<C>) -> Self {
        ResponseFuture {
            inner,
            call: Some(call),
        }
    }
}

impl<F, C: CallHooks> std::fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E, C> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    C: CallHooks,
{
    type Output = Result<Response<ResponseBody<B, C>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(call) = this.call.as_mut() else {
            // Polled again after completion: a contract breach of the caller's, not a
            // reason for telemetry to panic.
            return this
                .inner
                .poll(cx)
                .map_ok(|r| r.map(|b| ResponseBody::new(b, None)));
        };
        // One enter for the poll and whatever the result asks of the hooks.
        let result = ready!(call.entered(|mut state| {
            let polled = this.inner.poll(cx);
            match &polled {
                Poll::Pending => {}
                Poll::Ready(Ok(response)) => {
                    state.with(|hooks, span| hooks.on_response(response, span));
                }
                Poll::Ready(Err(_)) => {
                    state.with(|hooks, span| {
                        hooks.on_error(crate::classify::error_type_of::<E>(), span);
                    });
                    state.end();
                }
            }
            polled
        }));
        let call = this.call.take();
        Poll::Ready(result.map(|response| response.map(|body| ResponseBody::new(body, call))))
    }
}
