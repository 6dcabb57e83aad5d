//! Head samplers of the OpenTelemetry trace SDK specification, chosen by
//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` or in code.

use std::fmt;

use crate::jaeger_remote::{JaegerRemoteConfig, JaegerRemoteSampler};
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
    /// Sample by the strategy a Jaeger `SamplingManager` serves for this service (trace SDK
    /// spec, `JaegerRemoteSampler`; `init` starts the poller that fetches it). It decides
    /// alone, parent or not: `ParentBased` around it follows the parent.
    JaegerRemote(JaegerRemoteSampler),
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
    /// `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio`,
    /// `jaeger_remote` and `parentbased_jaeger_remote`. `xray` (AWS X-Ray centralized
    /// sampling, a third-party protocol) is reported as unsupported. Names are
    /// case-insensitive, as the spec says enum values should be.
    ///
    /// For the ratio samplers a missing argument means `1.0`; a bad one is an error. For the
    /// Jaeger samplers the argument is [`JaegerRemoteConfig::parse_arg`]'s (`endpoint`,
    /// `pollingIntervalMs`, `initialSamplingRate`), any bad part an error here; the sampler
    /// made fetches nothing by itself (`obs_core::init` polls its endpoint). The spec says a
    /// bad `OTEL_TRACES_SAMPLER_ARG` is to be treated as unset, so a caller reading the
    /// environment falls back to `from_spec_name(name, None)` on that error, or keeps a
    /// Jaeger argument's good parts with [`from_spec_name_lenient`](Self::from_spec_name_lenient).
    pub fn from_spec_name(name: &str, arg: Option<&str>) -> Result<Sampler, SamplerError> {
        let (sampler, problems) = Sampler::from_spec_name_lenient(name, arg)?;
        if problems.is_empty() {
            Ok(sampler)
        } else {
            Err(SamplerError(format!(
                "OTEL_TRACES_SAMPLER_ARG: {}",
                problems.join("; ")
            )))
        }
    }

    /// [`from_spec_name`](Self::from_spec_name), keeping the good parts of a Jaeger
    /// sampler's argument: each bad part is left at its default and described in the list
    /// returned beside the sampler, for the caller to log. An unknown name or a bad ratio
    /// is an error, as there.
    pub fn from_spec_name_lenient(
        name: &str,
        arg: Option<&str>,
    ) -> Result<(Sampler, Vec<String>), SamplerError> {
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
        let jaeger = || {
            let (config, problems) = JaegerRemoteConfig::parse_arg(arg);
            (
                Sampler::JaegerRemote(JaegerRemoteSampler::new(config)),
                problems,
            )
        };
        let parent_based = |root| Sampler::ParentBased(Box::new(root));
        let name = name.trim();
        let sampler = match name.to_ascii_lowercase().as_str() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio()?),
            "parentbased_always_on" => parent_based(Sampler::AlwaysOn),
            "parentbased_always_off" => parent_based(Sampler::AlwaysOff),
            "parentbased_traceidratio" => parent_based(Sampler::TraceIdRatio(ratio()?)),
            "jaeger_remote" => return Ok(jaeger()),
            "parentbased_jaeger_remote" => {
                let (root, problems) = jaeger();
                return Ok((parent_based(root), problems));
            }
            "xray" => {
                return Err(SamplerError(format!(
                    "OTEL_TRACES_SAMPLER={name:?} (AWS X-Ray centralized sampling) is not supported"
                )));
            }
            _ => {
                return Err(SamplerError(format!(
                    "OTEL_TRACES_SAMPLER={name:?} is not a known sampler"
                )));
            }
        };
        Ok((sampler, Vec::new()))
    }

    /// Whether a new span with this parent (`None` for a root) and trace id is sampled.
    /// With no span name, a [`Sampler::JaegerRemote`] with a per-operation strategy decides
    /// by its default probability: [`should_sample_span`](Self::should_sample_span) gives
    /// it the span's name.
    #[inline]
    pub fn should_sample(&self, parent: Option<&SpanContext>, trace_id: TraceId) -> bool {
        self.should_sample_span(parent, trace_id, |decide| decide(""))
    }

    /// [`should_sample`](Self::should_sample), with the span's name for the samplers that
    /// decide by it ([`Sampler::JaegerRemote`]'s per-operation strategy, the operation
    /// being the span name): `name` is called only then, with a function to call with the
    /// name (see [`JaegerRemoteSampler::should_sample`]).
    #[inline]
    pub fn should_sample_span(
        &self,
        parent: Option<&SpanContext>,
        trace_id: TraceId,
        name: impl FnOnce(&mut dyn FnMut(&str) -> bool) -> bool,
    ) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(ratio) => ratio_sampled(*ratio, trace_id),
            Sampler::ParentBased(root) => match parent {
                Some(p) if p.is_valid() => p.is_sampled(),
                _ => root.should_sample_span(None, trace_id, name),
            },
            Sampler::JaegerRemote(remote) => remote.should_sample(trace_id, name),
        }
    }

    /// The Jaeger remote sampler in this one (itself, or `ParentBased`'s root), whose
    /// strategy someone must fetch.
    pub fn jaeger_remote(&self) -> Option<&JaegerRemoteSampler> {
        match self {
            Sampler::JaegerRemote(remote) => Some(remote),
            Sampler::ParentBased(root) => root.jaeger_remote(),
            _ => None,
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
        for n in ["jaeger_remote", "ParentBased_Jaeger_Remote"] {
            let s = Sampler::from_spec_name(n, Some("initialSamplingRate=0.5")).unwrap();
            let remote = s.jaeger_remote().expect(n);
            assert_eq!(remote.config().initial_sampling_rate, 0.5);
            assert_eq!(
                matches!(s, Sampler::ParentBased(_)),
                n.starts_with("Parent"),
                "{n}"
            );
            assert!(Sampler::from_spec_name(n, Some("initialSamplingRate=5")).is_err());
        }
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
    fn parent_based_jaeger_remote_follows_a_remote_parent() {
        let s = Sampler::from_spec_name("parentbased_jaeger_remote", Some("initialSamplingRate=0"))
            .unwrap();
        assert!(s.should_sample(Some(&parent(true)), TraceId::from_u128(1)));
        assert!(
            !s.should_sample(None, TraceId::from_u128(1)),
            "initial rate 0"
        );
        s.jaeger_remote()
            .unwrap()
            .set_strategy(crate::SamplingStrategy::Probabilistic(1.0));
        assert!(!s.should_sample(Some(&parent(false)), TraceId::from_u128(1)));
        assert!(s.should_sample(None, TraceId::from_u128(1)));
        // Alone, it decides by its strategy whatever the parent says.
        let alone =
            Sampler::from_spec_name("jaeger_remote", Some("initialSamplingRate=0")).unwrap();
        assert!(!alone.should_sample(Some(&parent(true)), TraceId::from_u128(1)));
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
