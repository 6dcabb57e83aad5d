//! [`ResponseFuture`]: polls the inner service with the span entered.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;

use crate::ResponseBody;
use crate::hooks::{Call, CallError, CallHooks};

pin_project! {
    /// The response future of [`Instrumented`](crate::Instrumented): the inner future runs
    /// inside the call's span (so the handler's spans and logs are its children), and the
    /// response body takes over the call when the head arrives, unless the body is empty:
    /// the call then ends with the head.
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
    B: Body,
    E: 'static,
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
        // One enter for the poll and whatever the result asks of the hooks. `ended` is set
        // beside the result rather than returned with it: a response moved into a tuple and
        // out again is copied twice (~35 instructions a call more, measured).
        let mut ended = false;
        let polled = call.entered(|mut state| {
            let polled = this.inner.poll(cx);
            ended = match &polled {
                Poll::Pending => false,
                Poll::Ready(Ok(response)) => {
                    state.with(|hooks, span| hooks.on_response(response, span));
                    // A body that has ended before it is polled (an empty one) ends the
                    // call with the head: a server sends such a head with the end of the
                    // stream and drops the body unpolled (hyper does, over HTTP/1.1 and
                    // HTTP/2), which would otherwise read as a response abandoned
                    // half-way (a gRPC CANCELLED where the client reads UNKNOWN).
                    let empty = response.body().is_end_stream();
                    if empty {
                        state.with(|hooks, span| hooks.on_finished(span));
                        state.end();
                    }
                    empty
                }
                Poll::Ready(Err(error)) => {
                    state.with(|hooks, span| hooks.on_error(CallError::returned(error), span));
                    state.end();
                    true
                }
            };
            polled
        });
        if polled.is_pending() {
            return Poll::Pending;
        }
        // An ended call closes its span here (dropped where it lies: `take` would copy it
        // out first); otherwise the body takes it over.
        if ended {
            *this.call = None;
        }
        let call = this.call.take();
        polled.map_ok(|response| response.map(|body| ResponseBody::new(body, call)))
    }
}
