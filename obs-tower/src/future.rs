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
        let result = match this.call.as_ref() {
            Some(call) => {
                let _entered = call.span().enter();
                ready!(this.inner.poll(cx))
            }
            // Polled again after completion: a contract breach of the caller's, not a
            // reason for telemetry to panic.
            None => ready!(this.inner.poll(cx)),
        };
        let mut call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => {
                if let Some(call) = call.as_mut() {
                    call.with(|hooks, span| hooks.on_response(&response, span));
                }
                Ok(response.map(|body| ResponseBody::new(body, call)))
            }
            Err(error) => {
                if let Some(call) = call.as_mut() {
                    call.with(|hooks, span| hooks.on_error(std::any::type_name::<E>(), span));
                }
                // Dropping `call` ends it.
                Err(error)
            }
        })
    }
}
