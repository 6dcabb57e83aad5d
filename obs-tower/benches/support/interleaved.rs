//! The overhead of a variant over the bare service, measured in interleaved batches in one
//! process: on a shared machine the host's slow and fast phases last from milliseconds to
//! seconds, so timing the bare service and the variant one after the other (criterion's
//! separate benchmarks) can put them in different phases; batches of a fraction of a
//! millisecond, alternated, put both sides of each pair in the same one. Included by path
//! from the HTTP and gRPC middleware benches.

use std::time::{Duration, Instant};

/// Calls per batch: a few dozen microseconds of work, so the two clock reads around it are
/// noise, and short beside the host's phases.
const BATCH: u64 = 32;

/// The time `variant` takes beyond `bare` over `iters` calls of each, run in alternating
/// batches (which side goes first alternates too, so neither is always the one that finds
/// the caches warm): for `Bencher::iter_custom`. A total at or below zero (possible only
/// when the overhead drowns in the noise, in a sample of a batch or two) is reported as
/// 1 ns: criterion refuses a sample of zero time and drops the whole benchmark's analysis,
/// which it did in about one run in two of `grpc_layer/obs_tonic/added`.
pub(crate) fn added(iters: u64, mut bare: impl FnMut(), mut variant: impl FnMut()) -> Duration {
    let mut added: i128 = 0;
    let mut done = 0;
    let mut bare_first = true;
    while done < iters {
        let calls = BATCH.min(iters - done);
        let (bare_ns, variant_ns) = if bare_first {
            let bare_ns = timed(calls, &mut bare);
            (bare_ns, timed(calls, &mut variant))
        } else {
            let variant_ns = timed(calls, &mut variant);
            (timed(calls, &mut bare), variant_ns)
        };
        added += variant_ns - bare_ns;
        done += calls;
        bare_first = !bare_first;
    }
    Duration::from_nanos(u64::try_from(added).unwrap_or(0).max(1))
}

/// Nanoseconds `calls` calls of `f` take.
fn timed(calls: u64, f: &mut impl FnMut()) -> i128 {
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed().as_nanos() as i128
}
