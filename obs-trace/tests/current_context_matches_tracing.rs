//! The context obs reads on a thread (`obs_trace::with_current`: what logs are stamped with,
//! exemplars taken from and outgoing calls carry) is that of the span `tracing` says an
//! event is in, however spans are parented, entered and exited: explicit parents, spans the
//! layer does not trace, guards dropped out of order, one span entered on several threads.
//!
//! One thread may also run several subscribers (`with_default` nested): each sees its own
//! spans only, never another's as a parent or in its logs. (`with_current`, outside any
//! layer, gives the innermost span entered on the thread, whichever subscriber's.)
//!
//! An oracle layer compares, at each event, the two views: the registry's (the event's span,
//! then the nearest traced span up from it, as `SpanExt::span_context` finds it) and the
//! thread-local one, read as a log layer reads it (`ContextReader`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};

use obs_trace::{ContextReader, InMemorySpanSink, SpanContext, SpanExt, SpanLayer};
use tracing::{Instrument, Level};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// One event as both views saw it.
#[derive(Debug)]
struct Seen {
    message: String,
    /// The event's `task` field, if any.
    task: Option<u64>,
    in_tracing: Option<SpanContext>,
    in_obs: Option<SpanContext>,
}

/// Records, for each event, the context of its span in `tracing`'s view and the thread's.
#[derive(Clone, Default)]
struct Oracle {
    seen: Arc<Mutex<Vec<Seen>>>,
    context: ContextReader,
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Oracle {
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.context.register(subscriber);
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        // Not `ctx.event_span`: it looks the current span up twice and asserts (in debug
        // builds) that the second finds it, which a span closing on another thread between
        // the two breaks.
        let in_tracing = || {
            let span = match event.parent() {
                Some(parent) => Some(parent.clone()),
                None if event.is_contextual() => ctx.current_span().id().cloned(),
                None => None,
            };
            span.and_then(|id| obs_trace::span_context_of(&ctx, &id))
                .filter(SpanContext::is_valid)
        };
        let in_obs = || {
            self.context
                .with_current(|c| c.map(|c| c.span.clone()))
                .filter(SpanContext::is_valid)
        };
        let (mut in_tracing_now, mut in_obs_now) = (in_tracing(), in_obs());
        // A span left entered here by a task that moved on may be closing on another thread
        // at this moment, seen open by one view and closed by the other: read both again
        // (a bounded number of times) until they settle.
        for _ in 0..1000 {
            if in_tracing_now == in_obs_now {
                break;
            }
            std::thread::yield_now();
            (in_tracing_now, in_obs_now) = (in_tracing(), in_obs());
        }
        let (in_tracing, in_obs) = (in_tracing_now, in_obs_now);
        let mut message = String::new();
        let mut task = None;
        event.record(
            &mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| match field.name() {
                "message" => message = format!("{value:?}"),
                "task" => task = format!("{value:?}").parse().ok(),
                _ => {}
            },
        );
        self.seen.lock().unwrap().push(Seen {
            message,
            task,
            in_tracing,
            in_obs,
        });
    }
}

impl Oracle {
    /// Asserts that the events seen were `messages` and that both views agreed at each.
    fn assert_agreed(&self, messages: &[&str]) {
        let seen = self.seen.lock().unwrap();
        let seen_messages: Vec<&str> = seen.iter().map(|s| s.message.as_str()).collect();
        assert_eq!(seen_messages, messages);
        let disagreed: Vec<&Seen> = seen.iter().filter(|s| s.in_tracing != s.in_obs).collect();
        assert!(disagreed.is_empty(), "{disagreed:#?}");
    }
}

#[test]
fn an_untraced_span_makes_its_own_parents_context_current() {
    let oracle = Oracle::default();
    let traced = Targets::new().with_default(Level::INFO);
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new().with_traces_filter(traced))
        .with(oracle.clone());
    tracing::subscriber::with_default(subscriber, || {
        let first = tracing::info_span!("first request");
        let second = tracing::info_span!("second request");
        let _second = second.enter();
        // A filtered-out span of the first request's, run while the second one's is entered
        // (a worker handing a job back to the request that queued it).
        let step = tracing::debug_span!(parent: &first, "step");
        step.in_scope(|| {
            tracing::info!("in the first request's step");
            let child = tracing::info_span!("child");
            assert_eq!(
                child.span_context().map(|c| c.trace_id),
                first.span_context().map(|c| c.trace_id),
                "in the trace of the step's parent"
            );
            child.in_scope(|| tracing::info!("in the step's child"));
        });
        // A filtered-out root: inside it no trace is current.
        tracing::debug_span!(parent: None, "housekeeping")
            .in_scope(|| tracing::info!("in no request"));
        tracing::info!("back in the second request");
    });
    oracle.assert_agreed(&[
        "in the first request's step",
        "in the step's child",
        "in no request",
        "back in the second request",
    ]);
}

#[test]
fn an_untraced_span_entered_on_another_thread_brings_its_trace() {
    let oracle = Oracle::default();
    let traced = Targets::new().with_default(Level::INFO);
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(SpanLayer::new().with_traces_filter(traced))
            .with(oracle.clone()),
    );
    // A filtered-out step, and a step of an unsampled trace (`UnsampledSpans::Keep` keeps
    // it for the log layers only), made inside their requests and run on another thread
    // (a task spawned with `.instrument(step)`, a blocking task given it).
    let (steps, traces) = tracing::dispatcher::with_default(&dispatch, || {
        let request = tracing::info_span!("request");
        let step = request.in_scope(|| tracing::debug_span!("step"));
        let nested = step.in_scope(|| tracing::debug_span!("nested step"));
        let unsampled = obs_trace::span_with_remote_parent(
            obs_trace::extract(&{
                let mut headers = http::HeaderMap::new();
                let caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
                headers.insert("traceparent", caller.parse().unwrap());
                headers
            }),
            || tracing::info_span!("unsampled request"),
        );
        let unsampled_step = unsampled.in_scope(|| tracing::info_span!("unsampled step"));
        let traces = [trace_of(&request), trace_of(&request), trace_of(&unsampled)];
        ([step, nested, unsampled_step], traces)
    });
    std::thread::scope(|scope| {
        scope.spawn(|| {
            tracing::dispatcher::with_default(&dispatch, || {
                for (step, trace) in steps.iter().zip(traces) {
                    step.in_scope(|| {
                        tracing::info!("in the step, elsewhere");
                        assert_eq!(current_trace(), trace, "{step:?}");
                    });
                }
            });
        });
    });
    oracle.assert_agreed(&["in the step, elsewhere"; 3]);
}

#[test]
fn a_span_layer_in_an_option_still_stamps_its_subscribers_logs() {
    // `tracing-subscriber` does not tell a layer inside an `Option` (or a `Vec`) which
    // dispatcher it is part of: such a span layer's spans are seen by every reader.
    let oracle = Oracle::default();
    let subscriber = tracing_subscriber::registry()
        .with(Some(SpanLayer::new()))
        .with(oracle.clone());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("request").in_scope(|| tracing::info!("in the request"));
    });
    let seen = oracle.seen.lock().unwrap();
    assert!(seen[0].in_obs.is_some(), "{seen:#?}");
    drop(seen);
    oracle.assert_agreed(&["in the request"]);
}

#[test]
fn a_span_left_entered_on_a_thread_is_current_there_until_it_closes() {
    let oracle = Oracle::default();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(SpanLayer::new())
            .with(oracle.clone()),
    );
    let span = tracing::dispatcher::with_default(&dispatch, || tracing::info_span!("left"));
    let (id, trace) = (span.id().expect("enabled"), trace_of(&span));
    let (entered, on_entered) = std::sync::mpsc::channel();
    let (closed, on_closed) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let (dispatch, id) = (&dispatch, &id);
        scope.spawn(move || {
            tracing::dispatcher::with_default(dispatch, || {
                // What `Span::enter` does; its guard, held across an `.await`, is then
                // dropped on another worker.
                dispatch.enter(id);
                tracing::info!("while it is open");
                assert_eq!(current_trace(), trace);
                entered.send(()).unwrap();
                on_closed.recv().unwrap();
                tracing::info!("once it closed");
                assert_eq!(current_trace(), None);
                let job = tracing::info_span!("job");
                assert_ne!(trace_of(&job), trace, "a root of its own");
            });
        });
        on_entered.recv().unwrap();
        tracing::dispatcher::with_default(dispatch, || {
            dispatch.exit(id);
            drop(span);
        });
        closed.send(()).unwrap();
    });
    oracle.assert_agreed(&["while it is open", "once it closed"]);
}

/// What `obs_trace::current_span_context` gives outside a layer (an exemplar, an outgoing
/// call), the trace id only: the innermost span entered on the thread.
fn current_trace() -> Option<obs_trace::TraceId> {
    obs_trace::current_span_context().map(|c| c.trace_id)
}

fn trace_of(span: &tracing::Span) -> Option<obs_trace::TraceId> {
    span.span_context().map(|c| c.trace_id)
}

#[test]
fn nested_subscribers_see_only_their_own_spans() {
    let (sink_a, sink_b) = (InMemorySpanSink::new(), InMemorySpanSink::new());
    let (oracle_a, oracle_b, oracle_c) = (Oracle::default(), Oracle::default(), Oracle::default());
    let a = tracing_subscriber::registry()
        .with(SpanLayer::new().with_sink(Arc::new(sink_a.clone())))
        .with(oracle_a.clone());
    let b = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(SpanLayer::new().with_sink(Arc::new(sink_b.clone())))
            .with(oracle_b.clone()),
    );
    // A subscriber with a log layer and no span layer: no span of its own, ever.
    let c = tracing::Dispatch::new(tracing_subscriber::registry().with(oracle_c.clone()));
    tracing::subscriber::with_default(a, || {
        // Spans made before B's: tracing ids are per subscriber, B's first spans get the
        // same ids as these.
        let a_spans: Vec<tracing::Span> =
            (0..4).map(|i| tracing::info_span!("a span", i)).collect();
        let a_root = tracing::info_span!("a root");
        let _a_root = a_root.enter();
        tracing::info!("a: in its root");
        let b_spans = tracing::dispatcher::with_default(&b, || {
            let b_spans: Vec<tracing::Span> =
                (0..4).map(|i| tracing::info_span!("b span", i)).collect();
            tracing::info!("b: no span of its own");
            assert_eq!(current_trace(), trace_of(&a_root), "still inside A's span");
            let b_root = tracing::info_span!("b root");
            assert_ne!(trace_of(&b_root), trace_of(&a_root), "a root of its own");
            b_root.in_scope(|| {
                tracing::info!("b: in its root");
                assert_eq!(current_trace(), trace_of(&b_root));
                tracing::dispatcher::with_default(&c, || {
                    tracing::info!("c: no span at all");
                    assert_eq!(current_trace(), trace_of(&b_root), "still inside B's span");
                });
            });
            b_spans
        });
        for (a_span, b_span) in a_spans.iter().zip(&b_spans) {
            assert_eq!(a_span.id(), b_span.id(), "the ids collide");
            // Entering A's span right after B made one with its id: A's span is current.
            a_span.in_scope(|| {
                tracing::info!("a: in a span");
                assert_eq!(current_trace(), trace_of(a_span));
            });
        }
        tracing::info!("a: back in its root");
        assert_eq!(current_trace(), trace_of(&a_root));
    });
    oracle_a.assert_agreed(&[
        "a: in its root",
        "a: in a span",
        "a: in a span",
        "a: in a span",
        "a: in a span",
        "a: back in its root",
    ]);
    oracle_b.assert_agreed(&["b: no span of its own", "b: in its root"]);
    oracle_c.assert_agreed(&["c: no span at all"]);
    let a_traces: Vec<_> = sink_a
        .spans()
        .iter()
        .map(|s| s.span_context.trace_id)
        .collect();
    let b_spans = sink_b.spans();
    assert_eq!((a_traces.len(), b_spans.len()), (5, 1 + 4));
    for span in &b_spans {
        assert!(!a_traces.contains(&span.span_context.trace_id), "{span:#?}");
        assert!(
            !span.parent_span_id.is_valid(),
            "B's spans are roots: {span:#?}"
        );
    }
}

#[test]
fn one_span_entered_on_several_threads_with_guards_dropped_out_of_order() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 200;
    let oracle = Oracle::default();
    let subscriber = tracing_subscriber::registry()
        .with(SpanLayer::new())
        .with(oracle.clone());
    let dispatch = tracing::Dispatch::new(subscriber);
    let (shared, expected) = tracing::dispatcher::with_default(&dispatch, || {
        let shared = tracing::info_span!("shared");
        let trace = trace_of(&shared);
        (shared, trace)
    });
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (shared, dispatch, barrier) = (&shared, &dispatch, &barrier);
            scope.spawn(move || {
                tracing::dispatcher::with_default(dispatch, || {
                    for round in 0..ROUNDS {
                        let own = tracing::info_span!("own", thread, round);
                        // Every thread enters the shared span at once.
                        barrier.wait();
                        let shared_guard = shared.enter();
                        let own_guard = own.enter();
                        tracing::info!("in own");
                        assert_eq!(current_trace(), trace_of(&own));
                        // The outer guard first: the inner span stays current.
                        drop(shared_guard);
                        tracing::info!("in own after the shared span's exit");
                        assert_eq!(current_trace(), trace_of(&own));
                        drop(own_guard);
                        assert_eq!(current_trace(), None);
                        shared.in_scope(|| {
                            tracing::info!("in shared");
                            assert_eq!(current_trace(), expected);
                        });
                    }
                });
            });
        }
    });
    let seen = oracle.seen.lock().unwrap();
    assert_eq!(seen.len(), THREADS * ROUNDS * 3);
    let disagreed: Vec<&Seen> = seen.iter().filter(|s| s.in_tracing != s.in_obs).collect();
    assert!(disagreed.is_empty(), "{disagreed:#?}");
}

thread_local! {
    /// The test's subscriber, the default on each runtime thread for the thread's life.
    static DEFAULT: RefCell<Option<tracing::dispatcher::DefaultGuard>> = const { RefCell::new(None) };
}

/// Logs `message` for `task` after `yields` yields (each a chance to move to another worker).
async fn log_after_yields(task: u64, yields: usize, message: &'static str) {
    for _ in 0..yields {
        tokio::task::yield_now().await;
    }
    tracing::info!(task, "{message}");
}

/// One task's work under its root span, in every way a task can run code: 8 lines.
async fn well_behaved(task: u64) {
    log_after_yields(task, 1, "in the task").await;
    tokio::join!(
        log_after_yields(task, 2, "joined").instrument(tracing::info_span!("left")),
        log_after_yields(task, 3, "joined").instrument(tracing::info_span!("right")),
    );
    // Whichever branch is polled first after its yield logs and wins: one line.
    tokio::select! {
        () = log_after_yields(task, 1, "selected").instrument(tracing::info_span!("a")) => {}
        () = log_after_yields(task, 1, "selected").instrument(tracing::info_span!("b")) => {}
    }
    let spawned = tokio::spawn(log_after_yields(task, 2, "spawned").in_current_span());
    let span = tracing::Span::current();
    let blocking = tokio::task::spawn_blocking(move || {
        span.in_scope(|| tracing::info!(task, "blocking"));
    });
    tokio::task::block_in_place(|| tracing::info!(task, "in place"));
    spawned.await.expect("spawned");
    blocking.await.expect("blocking");
    log_after_yields(task, 1, "at the end").await;
}

/// Holds `Span::enter`'s guard across an `.await` (a misuse `tracing` warns about): the
/// span stays entered on the worker the task left, in `tracing`'s view too.
async fn holds_a_guard_across_await(task: u64, span: tracing::Span) {
    let guard = span.enter();
    tokio::task::yield_now().await;
    tracing::info!(task, "after holding the guard");
    drop(guard);
}

#[test]
fn tasks_moving_between_workers_see_what_tracing_sees() {
    const TASKS: u64 = 64;
    let oracle = Oracle::default();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(SpanLayer::new())
            .with(oracle.clone()),
    );
    let on_start = dispatch.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .on_thread_start(move || {
            let guard = tracing::dispatcher::set_default(&on_start);
            DEFAULT.with(|d| *d.borrow_mut() = Some(guard));
        })
        .on_thread_stop(|| DEFAULT.with(|d| drop(d.borrow_mut().take())))
        .build()
        .expect("runtime");
    let roots: Vec<(u64, tracing::Span)> = tracing::dispatcher::with_default(&dispatch, || {
        (0..TASKS)
            .map(|task| (task, tracing::info_span!("task", task)))
            .collect()
    });
    let traces: HashMap<u64, Option<obs_trace::TraceId>> = roots
        .iter()
        .map(|(task, span)| (*task, trace_of(span)))
        .collect();
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (task, span) in roots {
            // Every fourth task misbehaves, among the others.
            if task % 4 == 3 {
                tasks.spawn(holds_a_guard_across_await(task, span));
            } else {
                tasks.spawn(well_behaved(task).instrument(span));
            }
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("no task panics");
        }
    });
    drop(runtime);

    let seen = oracle.seen.lock().unwrap();
    let disagreed: Vec<&Seen> = seen.iter().filter(|s| s.in_tracing != s.in_obs).collect();
    assert!(disagreed.is_empty(), "{disagreed:#?}");
    let mut lines = 0;
    for line in seen.iter().filter(|s| s.task.is_some_and(|t| t % 4 != 3)) {
        let task = line.task.expect("a task");
        let trace = line.in_obs.as_ref().map(|c| c.trace_id);
        assert_eq!(trace, traces[&task], "{line:#?}");
        lines += 1;
    }
    assert_eq!(lines, TASKS / 4 * 3 * 8);
}
