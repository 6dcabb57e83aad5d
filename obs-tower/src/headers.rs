//! Opt-in capture of request and response headers as span attributes
//! (`http.request.header.<name>`, `http.response.header.<name>`, semconv type `string[]`).

use std::sync::Arc;

use http::{HeaderMap, HeaderName, header};
use obs_trace::SpanExt;
use obs_trace::opentelemetry::{Array, Key, StringValue, Value};

/// Headers that carry credentials: never recorded, even when listed.
const FORBIDDEN: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
    header::SET_COOKIE,
];

/// An allow-list of headers to record, with their attribute keys built once.
#[derive(Clone, Debug, Default)]
pub(crate) struct CapturedHeaders {
    entries: Vec<(HeaderName, Key)>,
}

impl CapturedHeaders {
    /// The allow-list for `prefix` (`http.request.header.`), without the forbidden headers
    /// and without duplicates. Header names are lower case already (`http` normalises them).
    pub(crate) fn new(prefix: &str, names: impl IntoIterator<Item = HeaderName>) -> Self {
        let mut entries: Vec<(HeaderName, Key)> = Vec::new();
        for name in names {
            if FORBIDDEN.contains(&name) || entries.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let key = Key::from(Arc::<str>::from(format!("{prefix}{}", name.as_str())));
            entries.push((name, key));
        }
        CapturedHeaders { entries }
    }

    /// Whether nothing is to be captured (the default, and the fast path).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records every listed header present in `headers` on `span`, all its values in order.
    pub(crate) fn record(&self, headers: &HeaderMap, span: &tracing::Span) {
        for (name, key) in &self.entries {
            let values: Vec<StringValue> = headers
                .get_all(name)
                .iter()
                .map(|v| StringValue::from(String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            if !values.is_empty() {
                span.set_attribute(key.clone(), Value::Array(Array::String(values)));
            }
        }
    }
}
