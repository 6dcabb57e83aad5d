//! The policy of an instrumented service, kept apart from the plumbing that drives it.
//!
//! [`Instrumented`](crate::Instrumented) handles what every protocol shares: entering the
//! span while the inner service and the response body are polled, and ending the call
//! exactly once, when the body finishes, fails or is dropped. What a span is called, which
//! attributes it carries, what counts as a failure and which metrics are recorded is the
//! business of a [`Hooks`] implementation: [`HttpServerLayer`](crate::HttpServerLayer) and
//! [`HttpClientLayer`](crate::HttpClientLayer) here, and the gRPC flavours in `obs-tonic`
//! (gRPC rides on HTTP/2, so the same plumbing serves it).

use std::any::Any;

use bytes::Buf;
use http::{HeaderMap, Request, Response};

use obs_trace::ActiveContext;

use crate::classify::{PANIC_ERROR_TYPE, error_type_of};

/// Starts the telemetry of one call: the protocol policy of an instrumented service.
///
/// Implementations are cheap to clone (an `Arc` around their configuration): one clone
/// lives in every service clone.
pub trait Hooks<ReqBody>: Clone {
    /// The per-call state, kept until the response body ends.
    type Call: CallHooks;

    /// Called before the inner service sees `request`: creates the call's span (not
    /// entered) and its state. A client flavour injects the new span's context into the
    /// request headers here.
    fn on_request(&self, request: &mut Request<ReqBody>) -> (CallSpan, Self::Call);
}

/// A call's span, and the caller's context to keep current in its place if no span layer
/// saw the span (see [`obs_trace::RemoteParent::span_or_parent`]): a server span that a
/// global filter disabled still passes the caller's trace on to the handler's logs and
/// outgoing calls. A plain `tracing::Span` converts into one with no such context.
#[derive(Debug)]
pub struct CallSpan {
    /// The call's span.
    pub span: tracing::Span,
    /// The caller's context, made current while the call runs
    /// ([`obs_trace::enter_context`]). Boxed: it is rare (a global filter), and a call's
    /// state is moved a few times a request.
    pub untraced_parent: Option<Box<ActiveContext>>,
}

impl From<tracing::Span> for CallSpan {
    fn from(span: tracing::Span) -> Self {
        CallSpan {
            span,
            untraced_parent: None,
        }
    }
}

/// The telemetry of one call in flight. Every method runs with the call's span entered, so
/// metrics recorded here carry the span as their exemplar.
pub trait CallHooks: Send + 'static {
    /// The inner service answered with a response head (its body not yet polled).
    fn on_response<B: http_body::Body>(&mut self, response: &Response<B>, span: &tracing::Span);

    /// A data frame of the response body went by, untouched (gRPC counts its messages
    /// here). Defaults to doing nothing.
    fn on_data<D: Buf>(&mut self, data: &D) {
        let _ = data;
    }

    /// The response body ended with trailers (gRPC puts its status there). Defaults to
    /// doing nothing.
    fn on_trailers(&mut self, trailers: &HeaderMap, span: &tracing::Span) {
        let _ = (trailers, span);
    }

    /// The response body reached its end normally, after its last frame (or with the head,
    /// for a body empty from the start); called right before [`on_end`](Self::on_end),
    /// which also runs for a body dropped unfinished or failed, so this tells a complete
    /// response from an abandoned one. Defaults to doing nothing.
    fn on_finished(&mut self, span: &tracing::Span) {
        let _ = span;
    }

    /// The inner service, or the response body, failed with `error` (its type name is its
    /// [`error_type`](CallError::error_type), and the value can be looked into with
    /// [`downcast_ref`](CallError::downcast_ref)); or the call was cut short by a panic
    /// ([`CallError::is_panic`]): the inner service or the body panicked while polled (even
    /// if the panic is caught further out), or the call was dropped while its thread
    /// unwound. On a panic this runs during the unwinding, right before
    /// [`on_end`](Self::on_end), and must not panic itself.
    fn on_error(&mut self, error: CallError<'_>, span: &tracing::Span);

    /// The call is over: the body ended, failed or was dropped, or the call was cancelled
    /// before a response. Called exactly once; the span closes right after. A call dropped
    /// unfinished without a panic (the client went away) gets no `on_error` first.
    fn on_end(self, span: &tracing::Span);
}

/// What failed a call, as [`CallHooks::on_error`] is told: an error the inner service or
/// the response body returned (borrowed for the call, the caller gets it unchanged), or a
/// panic.
#[derive(Clone, Copy)]
pub struct CallError<'a> {
    error_type: &'static str,
    /// `None` for a panic, which has no value to look into.
    error: Option<&'a dyn Any>,
}

impl<'a> CallError<'a> {
    /// The call was cut short by a panic; its `error.type` is [`PANIC_ERROR_TYPE`].
    pub const PANIC: CallError<'static> = CallError {
        error_type: PANIC_ERROR_TYPE,
        error: None,
    };

    /// `error`, returned by the inner service or the body; its `error.type` is its type's
    /// name ([`error_type_of`]).
    pub fn returned<E: 'static>(error: &'a E) -> Self {
        CallError {
            error_type: error_type_of::<E>(),
            error: Some(error),
        }
    }

    /// `error`, whose `error.type` is `error_type` rather than its type's name (a client
    /// that knows its errors better, as the `reqwest` middleware does).
    #[cfg(feature = "reqwest")]
    pub(crate) fn classified<E: 'static>(error: &'a E, error_type: &'static str) -> Self {
        CallError {
            error_type,
            error: Some(error),
        }
    }

    /// The `error.type` of the failure: the error's type name ([`error_type_of`]), or
    /// [`PANIC_ERROR_TYPE`].
    pub fn error_type(&self) -> &'static str {
        self.error_type
    }

    /// Whether the call was cut short by a panic rather than failed with an error.
    pub fn is_panic(&self) -> bool {
        self.error.is_none()
    }

    /// The error, if it is a `T` (a protocol's own error type, which says more than the
    /// type's name: gRPC's `tonic::Status` carries the code the caller gets).
    pub fn downcast_ref<T: 'static>(&self) -> Option<&'a T> {
        self.error.and_then(|error| error.downcast_ref())
    }
}

impl std::fmt::Debug for CallError<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallError")
            .field("error_type", &self.error_type)
            .finish_non_exhaustive()
    }
}

/// A call's span and state, ending the call when dropped (whichever of the future or the
/// body holds it at that moment).
pub(crate) struct Call<C: CallHooks> {
    span: tracing::Span,
    untraced_parent: Option<Box<ActiveContext>>,
    hooks: Option<C>,
}

impl<C: CallHooks> Call<C> {
    pub(crate) fn new(span: CallSpan, hooks: C) -> Self {
        Call {
            span: span.span,
            untraced_parent: span.untraced_parent,
            hooks: Some(hooks),
        }
    }

    /// Runs `f` with the span entered (once) and the call's state, if it has not ended;
    /// `f` may end the call with [`Ending::end`], under the same entered span. Should `f`
    /// panic (it polls the inner service or body), the call ends as failed there and then:
    /// whoever catches the panic may drop the call much later, not knowing.
    // Always inlined: out of line, the futures `f` returns are copied out of it (three
    // `memcpy` calls a gRPC call, ~300 instructions, measured).
    #[inline(always)]
    pub(crate) fn entered<R>(&mut self, f: impl FnOnce(Ending<'_, C>) -> R) -> R {
        let _entered = self.span.enter();
        let _untraced_parent = self
            .untraced_parent
            .as_deref()
            .map(obs_trace::enter_context);
        let mut unwinding = EndOnUnwind(Ending {
            hooks: &mut self.hooks,
            span: &self.span,
        });
        let result = f(unwinding.0.reborrow());
        // `f` returned: the guard has nothing to do, and without a drop costs nothing.
        std::mem::forget(unwinding);
        result
    }
}

/// A call's state while its span is entered.
pub(crate) struct Ending<'a, C: CallHooks> {
    hooks: &'a mut Option<C>,
    span: &'a tracing::Span,
}

impl<C: CallHooks> Ending<'_, C> {
    /// Runs `f` on the state, if the call has not ended.
    pub(crate) fn with(&mut self, f: impl FnOnce(&mut C, &tracing::Span)) {
        if let Some(hooks) = self.hooks.as_mut() {
            f(hooks, self.span);
        }
    }

    /// Ends the call now, and its span's end time with it: the span stays open until the
    /// [`Call`] is dropped, or later, while a task spawned inside it holds a clone (the
    /// conventions' span measures the request, as the duration metric does).
    pub(crate) fn end(&mut self) {
        if let Some(hooks) = self.hooks.take() {
            hooks.on_end(self.span);
            obs_trace::SpanExt::end(self.span);
        }
    }

    /// Ends the call as failed by a panic.
    fn end_panicked(&mut self) {
        self.with(|hooks, span| hooks.on_error(CallError::PANIC, span));
        self.end();
    }

    fn reborrow(&mut self) -> Ending<'_, C> {
        Ending {
            hooks: self.hooks,
            span: self.span,
        }
    }
}

/// Ends the call as failed by a panic when dropped: [`Call::entered`] forgets it unless
/// unwinding.
struct EndOnUnwind<'a, C: CallHooks>(Ending<'a, C>);

impl<C: CallHooks> Drop for EndOnUnwind<'_, C> {
    fn drop(&mut self) {
        self.0.end_panicked();
    }
}

impl<C: CallHooks> Drop for Call<C> {
    fn drop(&mut self) {
        // `panicking` is asked only of a call that has not ended: a cancelled one, or one
        // dropped while a panic elsewhere (an outer layer, the task) unwinds its thread.
        if self.hooks.is_some() {
            self.entered(|mut ending| {
                if std::thread::panicking() {
                    ending.end_panicked();
                } else {
                    ending.end();
                }
            });
        }
    }
}
