//! Head samplers of the OpenTelemetry trace SDK specification, chosen by
//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` or in code.

use std::fmt;

use crate::{SpanContext, TraceId};

/// A head sampler: decides when a trace (or a remote caller's part of it) enters this process.
///
/// Children of a local span inherit its decision without asking the sampler again, so one
/// trace is never half-recorded inside a process.
#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    /// Sample every span.
    AlwaysOn,
    /// Sample no span (ids are still made and propagated, and logs still carry them).
    AlwaysOff,
    /// Sample a fraction of traces, decided from the trace id alone (spec: `TraceIdRatioBased`).
    TraceIdRatio(f64),
    /// Follow the parent's `sampled` flag; use the inner sampler for roots (spec: `ParentBased`).
    ParentBased(Box<Sampler>),
}

impl Default for Sampler {
    /// `parentbased_always_on`, the spec's default.
    fn default() -> Self {
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    }
}

/// An `OTEL_TRACES_SAMPLER` value or argument that can't be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamplerError(pub String);

impl fmt::Display for SamplerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SamplerError {}

impl Sampler {
    /// The sampler the SDK environment variable specification names `name`, with its
    /// argument. Known values: `always_on`, `always_off`, `traceidratio`,
    /// `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio`.
    /// `jaeger_remote`, `parentbased_jaeger_remote` and `xray` need a remote sampling
    /// service and are reported as unsupported. Names are case-insensitive, as the spec says
    /// enum values should be.
    ///
    /// For the ratio samplers a missing argument means `1.0`; a bad one is an error. The
    /// spec says a bad `OTEL_TRACES_SAMPLER_ARG` is to be treated as unset, so a caller
    /// reading the environment falls back to `from_spec_name(name, None)` on that error.
    pub fn from_spec_name(name: &str, arg: Option<&str>) -> Result<Sampler, SamplerError> {
        let ratio = || -> Result<f64, SamplerError> {
            match arg.map(str::trim).filter(|a| !a.is_empty()) {
                None => Ok(1.0),
                Some(a) => match a.parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                    _ => Err(SamplerError(format!(
                        "OTEL_TRACES_SAMPLER_ARG={a:?} is not a probability in [0, 1]"
                    ))),
                },
            }
        };
        let name = name.trim();
        match name.to_ascii_lowercase().as_str() {
            "always_on" => Ok(Sampler::AlwaysOn),
            "always_off" => Ok(Sampler::AlwaysOff),
            "traceidratio" => Ok(Sampler::TraceIdRatio(ratio()?)),
            "parentbased_always_on" => Ok(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))),
            "parentbased_always_off" => Ok(Sampler::ParentBased(Box::new(Sampler::AlwaysOff))),
            "parentbased_traceidratio" => Ok(Sampler::ParentBased(Box::new(
                Sampler::TraceIdRatio(ratio()?),
            ))),
            "jaeger_remote" | "parentbased_jaeger_remote" | "xray" => Err(SamplerError(format!(
                "OTEL_TRACES_SAMPLER={name:?} needs a remote sampling service, which obs does not support"
            ))),
            _ => Err(SamplerError(format!(
                "OTEL_TRACES_SAMPLER={name:?} is not a known sampler"
            ))),
        }
    }

    /// Whether a new span with this parent (`None` for a root) and trace id is sampled.
    #[inline]
    pub fn should_sample(&self, parent: Option<&SpanContext>, trace_id: TraceId) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(ratio) => ratio_sampled(*ratio, trace_id),
            Sampler::ParentBased(root) => match parent {
                Some(p) if p.is_valid() => p.is_sampled(),
                _ => root.should_sample(None, trace_id),
            },
        }
    }
}

/// Compares the trace id's right-most 8 bytes with the ratio, so that every service using
/// the same ratio makes the same decision for a trace. W3C Level 2's random flag promises
/// only the right-most 7 bytes random, so ids whose 9th byte is not random sample
/// unevenly; the algorithm is kept all the same, as the trace SDK specification asks of
/// `TraceIdRatioBased` ("SHALL NOT remove or modify the behavior ... until at least January
/// 1, 2027"): its successor, `ProbabilitySampler`, reads those 56 bits.
pub(crate) fn ratio_sampled(ratio: f64, trace_id: TraceId) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    let lo = u64::from_be_bytes(trace_id.0[8..16].try_into().unwrap_or([0; 8])) >> 1;
    let bound = (ratio * (1u64 << 63) as f64) as u64;
    lo < bound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SpanId, TraceFlags};

    fn parent(sampled: bool) -> SpanContext {
        SpanContext {
            trace_id: TraceId::from_u128(1),
            span_id: SpanId::from_u64(1),
            flags: TraceFlags::default().with_sampled(sampled),
            is_remote: true,
            ..Default::default()
        }
    }

    #[test]
    fn every_spec_name_parses() {
        for n in [
            "always_on",
            "always_off",
            "traceidratio",
            "parentbased_always_on",
            "parentbased_always_off",
            "parentbased_traceidratio",
        ] {
            assert!(Sampler::from_spec_name(n, Some("0.5")).is_ok(), "{n}");
        }
        assert_eq!(
            Sampler::from_spec_name("ParentBased_Always_Off", None),
            Ok(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
        );
        assert!(Sampler::from_spec_name("xray", None).is_err());
        assert!(Sampler::from_spec_name("bogus", None).is_err());
        assert!(Sampler::from_spec_name("traceidratio", Some("2")).is_err());
        assert_eq!(
            Sampler::from_spec_name("traceidratio", None),
            Ok(Sampler::TraceIdRatio(1.0))
        );
    }

    #[test]
    fn parent_based_follows_the_parent() {
        let s = Sampler::default();
        assert!(s.should_sample(Some(&parent(true)), TraceId::from_u128(1)));
        assert!(!s.should_sample(Some(&parent(false)), TraceId::from_u128(1)));
        assert!(s.should_sample(None, TraceId::from_u128(1)));
        let off = Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
        assert!(!off.should_sample(None, TraceId::from_u128(1)));
        assert!(off.should_sample(Some(&parent(true)), TraceId::from_u128(1)));
    }

    #[test]
    fn ratio_is_close_to_its_argument() {
        let s = Sampler::TraceIdRatio(0.25);
        let n = (0..20_000)
            .filter(|_| s.should_sample(None, TraceId::random()))
            .count();
        assert!((4_000..6_000).contains(&n), "{n}");
    }
}
