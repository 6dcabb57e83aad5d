//! Opt-in capture of headers as span attributes of semconv type `string[]`: HTTP's request
//! and response headers (`http.request.header.<name>`, `http.response.header.<name>`), and
//! `obs-tonic`'s gRPC metadata (`rpc.request.metadata.<key>`, ...), which rides in HTTP/2
//! headers and trailers.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, header};
use obs_trace::SpanExt;
use obs_trace::opentelemetry::{Array, Key, StringValue, Value};

use crate::semconv::REDACTED;

/// Headers that carry credentials: never recorded by a [`CapturedHeaders`], even when
/// listed.
pub const CREDENTIAL_HEADERS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
    header::SET_COOKIE,
];

/// An allow-list of headers to record on a span, each under one attribute per prefix
/// (`{prefix}{name}`, all its values in order as a string array), keys built once. What
/// [`HttpLayer::with_request_headers`](crate::HttpLayer::with_request_headers) and its
/// response twin configure, and `obs-tonic`'s metadata capture reuses. Values marked
/// [sensitive](http::HeaderValue::is_sensitive) are recorded as `REDACTED`. Empty by default.
/// Under `obs_core::init`, whose redaction applies to exported span attributes, a listed
/// header whose name ends with a secret word (`x-api-key`, `x-auth-token`) is exported as
/// `[REDACTED]` too.
#[derive(Clone, Debug, Default)]
pub struct CapturedHeaders {
    entries: Vec<(HeaderName, Box<[Key]>)>,
}

/// The values [`CapturedHeaders::values`] found in one header map, to be recorded with
/// [`CapturedHeaders::record_values`], possibly after those of a later map were
/// [`append`](Self::append)ed (gRPC's trailers after its response headers).
#[derive(Clone, Debug, Default)]
pub struct CapturedValues {
    /// Per allow-list entry found (its index), the values in order; never empty.
    found: Vec<(usize, Vec<StringValue>)>,
}

impl CapturedHeaders {
    /// The allow-list of `names`, each recorded under every one of `prefixes`
    /// (`http.request.header.`; two for a layer emitting two versions of its conventions),
    /// without the [`CREDENTIAL_HEADERS`] and without duplicates. Header names are lower
    /// case already (`http` normalises them), as the conventions' keys must be.
    pub fn new(prefixes: &[&str], names: impl IntoIterator<Item = HeaderName>) -> Self {
        let mut entries: Vec<(HeaderName, Box<[Key]>)> = Vec::new();
        for name in names {
            if CREDENTIAL_HEADERS.contains(&name) || entries.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let keys = prefixes
                .iter()
                .map(|prefix| Key::from(Arc::<str>::from(format!("{prefix}{}", name.as_str()))))
                .collect();
            entries.push((name, keys));
        }
        CapturedHeaders { entries }
    }

    /// Whether nothing is to be captured (the default, and the fast path: check it before
    /// calling the others).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records every listed header present in `headers` on `span`, all its values in order.
    pub fn record(&self, headers: &HeaderMap, span: &tracing::Span) {
        for (name, keys) in &self.entries {
            let values = values_of(name, headers);
            if !values.is_empty() {
                set(keys, values, span);
            }
        }
    }

    /// The values of every listed header present in `headers`, as [`record`](Self::record)
    /// would record them.
    pub fn values(&self, headers: &HeaderMap) -> CapturedValues {
        let mut found = Vec::new();
        for (index, (name, _)) in self.entries.iter().enumerate() {
            let values = values_of(name, headers);
            if !values.is_empty() {
                found.push((index, values));
            }
        }
        CapturedValues { found }
    }

    /// Records `values` (from [`values`](Self::values) on this allow-list) on `span`,
    /// replacing what an earlier call recorded for the same headers.
    pub fn record_values(&self, values: CapturedValues, span: &tracing::Span) {
        for (index, values) in values.found {
            if let Some((_, keys)) = self.entries.get(index) {
                set(keys, values, span);
            }
        }
    }
}

impl CapturedValues {
    /// Whether no listed header was found.
    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Adds `later`'s values after these, header by header (values found by the same
    /// allow-list in a map that came later).
    pub fn append(&mut self, later: CapturedValues) {
        for (index, values) in later.found {
            match self.found.iter_mut().find(|(i, _)| *i == index) {
                Some((_, earlier)) => earlier.extend(values),
                None => self.found.push((index, values)),
            }
        }
    }
}

/// The values of header `name` in `headers`, in order (not valid UTF-8: with U+FFFD for
/// the invalid bytes). A value marked [sensitive](http::HeaderValue::is_sensitive) (by
/// tower-http's `SetSensitiveHeadersLayer`, say: "not to be logged or shown") is
/// `REDACTED`, as sensitive query values are: listed or not, the application said so.
fn values_of(name: &HeaderName, headers: &HeaderMap) -> Vec<StringValue> {
    headers
        .get_all(name)
        .iter()
        .map(|v| {
            if v.is_sensitive() {
                StringValue::from(REDACTED)
            } else {
                StringValue::from(String::from_utf8_lossy(v.as_bytes()).into_owned())
            }
        })
        .collect()
}

/// Records `values` on `span` under each of `keys`: the last takes them, the others copies.
fn set(keys: &[Key], values: Vec<StringValue>, span: &tracing::Span) {
    if let Some((last, others)) = keys.split_last() {
        for key in others {
            span.set_attribute(key.clone(), Value::Array(Array::String(values.clone())));
        }
        span.set_attribute(last.clone(), Value::Array(Array::String(values)));
    }
}

#[cfg(test)]
mod tests {
    use obs_trace::{InMemorySpanSink, SpanLayer};
    use tracing_subscriber::prelude::*;

    use super::*;

    fn map(lines: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(*name, http::HeaderValue::from_static(value));
        }
        headers
    }

    fn strings(values: &[&'static str]) -> Option<Value> {
        Some(Value::Array(Array::String(
            values.iter().map(|&v| StringValue::from(v)).collect(),
        )))
    }

    /// Each header under every prefix; a later map's values after an earlier one's, header
    /// by header; credentials never, even when listed.
    #[test]
    fn later_values_follow_earlier_ones_under_every_prefix() {
        let sink = InMemorySpanSink::new();
        let layer = SpanLayer::new().with_sink(Arc::new(sink.clone()));
        let names = ["x-a", "x-b", "authorization", "x-a"].map(HeaderName::from_static);
        let captured = CapturedHeaders::new(&["old.", "new."], names);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let span = tracing::info_span!("call");
            let mut values = captured.values(&map(&[("x-a", "1"), ("authorization", "s")]));
            values.append(captured.values(&map(&[("x-b", "2"), ("x-a", "3"), ("x-a", "4")])));
            captured.record_values(values, &span);
        });
        let span = &sink.spans()[0];
        let attribute = |key: &str| span.attribute(key).cloned();
        for prefix in ["old.", "new."] {
            let a = attribute(&format!("{prefix}x-a"));
            assert_eq!(a, strings(&["1", "3", "4"]), "{prefix}");
            assert_eq!(
                attribute(&format!("{prefix}x-b")),
                strings(&["2"]),
                "{prefix}"
            );
        }
        assert_eq!(span.attributes.len(), 4, "{:?}", span.attributes);
    }
}
