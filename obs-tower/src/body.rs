//! [`ResponseBody`]: forwards the body and ends the call when it ends.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::hooks::{Call, CallError, CallHooks};

pin_project! {
    /// The response body of [`Instrumented`](crate::Instrumented): every frame is passed
    /// through untouched; the call (span and metrics) ends at end of stream, on a body
    /// error, or when the body is dropped unfinished, not when the head is sent (unless
    /// the body is empty: [`is_end_stream`](Body::is_end_stream) from the start, it has
    /// ended with the head, and the call with it).
    pub struct ResponseBody<B, C: CallHooks> {
        #[pin]
        inner: B,
        call: Option<Call<C>>,
    }
}

impl<B, C: CallHooks> ResponseBody<B, C> {
    pub(crate) fn new(inner: B, call: Option<Call<C>>) -> Self {
        ResponseBody { inner, call }
    }
}

impl<B, C: CallHooks> std::fmt::Debug for ResponseBody<B, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

impl<B, C> Body for ResponseBody<B, C>
where
    B: Body,
    B::Error: 'static,
    C: CallHooks,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let Some(call) = this.call.as_mut() else {
            return this.inner.poll_frame(cx);
        };
        let mut inner = this.inner;
        // One enter for the poll and, at the end, for ending the call.
        let (polled, ended) = call.entered(|mut state| {
            let polled = inner.as_mut().poll_frame(cx);
            let finished = match &polled {
                Poll::Pending => return (polled, false),
                Poll::Ready(None) => true,
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        state.with(|hooks, _| hooks.on_data(data));
                    } else if let Some(trailers) = frame.trailers_ref() {
                        state.with(|hooks, span| hooks.on_trailers(trailers, span));
                    }
                    // Servers stop polling once the body says it has ended.
                    if !inner.is_end_stream() {
                        return (polled, false);
                    }
                    true
                }
                Poll::Ready(Some(Err(error))) => {
                    state.with(|hooks, span| hooks.on_error(CallError::returned(error), span));
                    false
                }
            };
            if finished {
                state.with(|hooks, span| hooks.on_finished(span));
            }
            state.end();
            (polled, true)
        });
        if ended {
            // Closes the span. Dropped where it lies: `take` would copy the call out first.
            *this.call = None;
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
