//! The OpenTelemetry SDK's attribute and span limits ("Attribute Limits", "Span Limits"),
//! which [`SpanLayer`](crate::SpanLayer) applies as a span records and `obs-core` again as
//! it converts records for export.

/// Limits on the attributes of one kind of record (OpenTelemetry SDK environment variables,
/// "Attribute Limits"). [`SpanLayer`](crate::SpanLayer) applies a span's as it records it
/// ([`SpanLayer::with_limits`](crate::SpanLayer::with_limits)), so what is over them is never
/// kept in memory; `obs_log::OtlpLogLayer::with_limits` applies a log record's as it makes
/// the record. `obs-core` applies them again when spans and log records are converted for
/// export (to spans and records from any layer). JSON log lines are not limited, and
/// resource attributes are exempt, as the spec says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttributeLimits {
    /// The most attributes kept per record: the first ones set. The rest are dropped and
    /// counted in the record's `dropped_attributes_count`, and obs says so once on stderr.
    /// Default 128.
    pub count: usize,
    /// The longest string value kept, in characters (each Unicode scalar value counts 1):
    /// longer strings, strings inside arrays too, are cut to this length; so are byte
    /// arrays, each byte counting 1 ([`truncate_bytes`](Self::truncate_bytes)). Other values
    /// are never cut. Default `None`, no limit.
    pub value_length: Option<usize>,
}

impl AttributeLimits {
    /// The spec's defaults: 128 attributes, values of any length.
    pub const DEFAULT: AttributeLimits = AttributeLimits {
        count: 128,
        value_length: None,
    };

    /// `s` cut to at most [`value_length`](Self::value_length) characters, each Unicode
    /// scalar value counting one, so the cut is always on a character boundary; all of `s`
    /// without a limit.
    ///
    /// ```
    /// use obs_trace::AttributeLimits;
    ///
    /// let limits = AttributeLimits { value_length: Some(4), ..AttributeLimits::DEFAULT };
    /// assert_eq!(limits.truncate("héllo wörld"), "héll");
    /// assert_eq!(AttributeLimits::DEFAULT.truncate("héllo wörld"), "héllo wörld");
    /// ```
    #[inline]
    pub fn truncate<'a>(&self, s: &'a str) -> &'a str {
        match self.value_length {
            // A string of no more bytes than the limit has no more characters either: the
            // common case costs one comparison.
            Some(max) if s.len() > max => cut(s, max),
            _ => s,
        }
    }

    /// `bytes` cut to at most [`value_length`](Self::value_length) bytes (the spec's limit
    /// applies to byte arrays too, each byte counting one); all of `bytes` without a limit.
    ///
    /// ```
    /// use obs_trace::AttributeLimits;
    ///
    /// let limits = AttributeLimits { value_length: Some(2), ..AttributeLimits::DEFAULT };
    /// assert_eq!(limits.truncate_bytes(&[0xff, 0, 7]), [0xff, 0]);
    /// ```
    #[inline]
    pub fn truncate_bytes<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        match self.value_length {
            Some(max) if bytes.len() > max => &bytes[..max],
            _ => bytes,
        }
    }
}

/// The first `max` characters of `s` (out of line: only strings longer than the limit in
/// bytes get here).
#[inline(never)]
fn cut(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

impl Default for AttributeLimits {
    fn default() -> Self {
        AttributeLimits::DEFAULT
    }
}

/// Limits on spans (OpenTelemetry SDK environment variables, "Span Limits"), applied as
/// [`AttributeLimits`] are: by [`SpanLayer`](crate::SpanLayer) as a span records, and by
/// `obs-core` again at export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanLimits {
    /// The span's own attributes: `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT` and
    /// `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else `OTEL_ATTRIBUTE_COUNT_LIMIT` and
    /// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`. The value length applies to event attributes too.
    pub attributes: AttributeLimits,
    /// The most events kept per span, the first ones (`OTEL_SPAN_EVENT_COUNT_LIMIT`, default
    /// 128); the rest are counted in its `dropped_events_count`.
    pub event_count: usize,
    /// The most attributes kept per span event (`OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`, else
    /// `OTEL_ATTRIBUTE_COUNT_LIMIT`, default 128); the rest are counted in the event's
    /// `dropped_attributes_count`.
    pub event_attribute_count: usize,
    /// The most links kept per span, the first ones (`OTEL_SPAN_LINK_COUNT_LIMIT`, default
    /// 128); the rest are counted in its `dropped_links_count`.
    pub link_count: usize,
    /// The most attributes kept per link (`OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`, else
    /// `OTEL_ATTRIBUTE_COUNT_LIMIT`, default 128); the rest are counted in the link's
    /// `dropped_attributes_count`.
    pub link_attribute_count: usize,
}

impl SpanLimits {
    /// The spec's defaults: 128 attributes of any length, 128 events and 128 links of 128
    /// attributes each.
    pub const DEFAULT: SpanLimits = SpanLimits {
        attributes: AttributeLimits::DEFAULT,
        event_count: 128,
        event_attribute_count: 128,
        link_count: 128,
        link_attribute_count: 128,
    };
}

impl Default for SpanLimits {
    fn default() -> Self {
        SpanLimits::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max(n: usize) -> AttributeLimits {
        AttributeLimits {
            value_length: Some(n),
            ..AttributeLimits::DEFAULT
        }
    }

    #[test]
    fn strings_are_cut_by_characters_not_bytes() {
        assert_eq!(max(4).truncate("héllo wörld"), "héll");
        assert_eq!(max(3).truncate("日本語テキスト"), "日本語");
        assert_eq!(max(2).truncate("🦀🦀🦀"), "🦀🦀");
        assert_eq!(max(5).truncate("short"), "short");
        assert_eq!(max(50).truncate("short"), "short");
        // More bytes than the limit, no more characters: kept whole.
        assert_eq!(max(3).truncate("日本語"), "日本語");
        assert_eq!(max(0).truncate("anything"), "");
        assert_eq!(AttributeLimits::DEFAULT.truncate("anything"), "anything");
    }
}
