//! The W3C `tracestate` header (Trace Context Level 2, section "tracestate Header").

use std::fmt;
use std::sync::Arc;

use crate::traceparent::trim_ows;

/// "tracestate Header Field Values": a list holds at most 32 list-members.
pub const MAX_TRACESTATE_MEMBERS: usize = 32;
/// The longest key (`key = ( lcalpha / DIGIT ) 0*255 keychar`).
const MAX_KEY_LEN: usize = 256;
/// The longest value (`value = 0*255(chr) nblk-chr`).
const MAX_VALUE_LEN: usize = 256;

/// Vendor-specific trace state (W3C `tracestate`): an ordered list of up to 32 `key=value`
/// members, left-most most recent.
///
/// Empty is `None` inside, so cloning an empty state (the common case, done on every span
/// enter) costs nothing; a non-empty state is one shared allocation that keeps its
/// serialized header, so writing it out does no formatting.
///
/// ```
/// use obs_trace::TraceState;
/// let mut state = TraceState::from_header("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE")?;
/// assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
/// state.insert("congo", "ucfJifl5GOE")?; // an updated member moves to the front
/// assert_eq!(state.header(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
/// # Ok::<(), obs_trace::TraceStateError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TraceState(Option<Arc<Members>>);

#[derive(Debug, PartialEq, Eq)]
struct Members {
    /// The serialized list, without OWS.
    header: String,
    /// Each member as `(key start, '=' position, end)` in `header`.
    spans: Vec<(usize, usize, usize)>,
}

/// Why a `tracestate` was rejected. The spec ("tracestate Header Field Values") says a
/// vendor that fails to parse `tracestate` MUST NOT propagate it, so the whole list goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceStateError {
    /// A list member has no `=`.
    MissingEquals,
    /// A key does not match the key grammar.
    InvalidKey,
    /// A value does not match the value grammar.
    InvalidValue,
    /// More than 32 list members.
    TooManyMembers,
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingEquals => "tracestate list member has no '='",
            Self::InvalidKey => "tracestate key does not match the key grammar",
            Self::InvalidValue => "tracestate value does not match the value grammar",
            Self::TooManyMembers => "tracestate has more than 32 list members",
        })
    }
}

impl std::error::Error for TraceStateError {}

/// The key grammar of the current spec, as the W3C test suite checks it
/// (`[0-9a-z][_0-9a-z\-\*\/@]{0,255}`): `key = ( lcalpha / DIGIT ) 0*255 ( keychar )` with
/// `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`. The older
/// `tenant@system` split (241 + 14 characters) is gone, so `t@vvvvvvvvvvvvvvv` and
/// `foo@@bar` are valid while `@foo` is not.
fn valid_key(key: &[u8]) -> bool {
    match key {
        [first, rest @ ..] if key.len() <= MAX_KEY_LEN => {
            (first.is_ascii_lowercase() || first.is_ascii_digit())
                && rest
                    .iter()
                    .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/@".contains(&b))
        }
        _ => false,
    }
}

/// `value = 0*255(chr) nblk-chr` with `chr = %x20 / nblk-chr` and
/// `nblk-chr = %x21-2B / %x2D-3C / %x3E-7E`: printable ASCII except `,` and `=`, not
/// ending in a space, 1 to 256 characters.
fn valid_value(value: &[u8]) -> bool {
    let chr = |b: u8| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=';
    match value {
        [.., last] if value.len() <= MAX_VALUE_LEN => {
            *last != b' ' && value.iter().all(|&b| chr(b))
        }
        _ => false,
    }
}

impl TraceState {
    /// Parses one `tracestate` header value. See [`TraceState::from_headers`].
    pub fn from_header(value: impl AsRef<[u8]>) -> Result<Self, TraceStateError> {
        Self::from_headers([value])
    }

    /// Parses several `tracestate` header fields as one combined list (RFC 7230 section
    /// 3.2.2; Trace Context "Combined Header Value").
    ///
    /// Empty members and OWS around members are skipped ("Empty and whitespace-only list
    /// members are allowed"). An invalid member or more than 32 members rejects the whole
    /// list. A repeated key keeps its first (left-most, most recent) value and drops the
    /// later ones, one of the two behaviours the W3C test suite accepts.
    pub fn from_headers<I>(values: I) -> Result<Self, TraceStateError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut header = String::new();
        let mut spans: Vec<(usize, usize, usize)> = Vec::new();
        let mut count = 0usize;
        for value in values {
            for member in value.as_ref().split(|&b| b == b',') {
                let member = trim_ows(member);
                if member.is_empty() {
                    continue;
                }
                count += 1;
                if count > MAX_TRACESTATE_MEMBERS {
                    return Err(TraceStateError::TooManyMembers);
                }
                let eq = member
                    .iter()
                    .position(|&b| b == b'=')
                    .ok_or(TraceStateError::MissingEquals)?;
                let (key, value) = (&member[..eq], &member[eq + 1..]);
                if !valid_key(key) {
                    return Err(TraceStateError::InvalidKey);
                }
                if !valid_value(value) {
                    return Err(TraceStateError::InvalidValue);
                }
                if spans
                    .iter()
                    .any(|&(s, e, _)| header.as_bytes()[s..e] == *key)
                {
                    continue;
                }
                push_member(&mut header, &mut spans, ascii(key), ascii(value));
            }
        }
        Ok(Self::from_parts(header, spans))
    }

    fn from_parts(header: String, spans: Vec<(usize, usize, usize)>) -> Self {
        if spans.is_empty() {
            TraceState(None)
        } else {
            TraceState(Some(Arc::new(Members { header, spans })))
        }
    }

    /// The header value (members joined by `,`, no OWS); empty when there is no state.
    #[inline]
    pub fn header(&self) -> &str {
        self.0.as_deref().map_or("", |m| m.header.as_str())
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value` and moves it to the front of the list, as "Mutating the
    /// tracestate Field" says for added and updated members. When the list would exceed 32
    /// members the right-most one is dropped ("entries SHOULD be removed starting from the
    /// end").
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), TraceStateError> {
        if !valid_key(key.as_bytes()) {
            return Err(TraceStateError::InvalidKey);
        }
        if !valid_value(value.as_bytes()) {
            return Err(TraceStateError::InvalidValue);
        }
        let others = self.iter().filter(|(k, _)| *k != key);
        *self = Self::rebuild(std::iter::once((key, value)).chain(others));
        Ok(())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let old = self.get(key)?.to_owned();
        *self = Self::rebuild(self.iter().filter(|(k, _)| *k != key));
        Some(old)
    }

    /// Builds a state from already validated, distinct members, keeping the first 32.
    fn rebuild<'a>(members: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut header = String::new();
        let mut spans = Vec::new();
        for (key, value) in members.take(MAX_TRACESTATE_MEMBERS) {
            push_member(&mut header, &mut spans, key, value);
        }
        Self::from_parts(header, spans)
    }

    /// The number of list members.
    #[inline]
    pub fn len(&self) -> usize {
        self.0.as_deref().map_or(0, |m| m.spans.len())
    }

    /// Whether there are no list members.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The members as `(key, value)`, left-most first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let (header, spans) = match self.0.as_deref() {
            Some(m) => (m.header.as_str(), m.spans.as_slice()),
            None => ("", &[][..]),
        };
        spans
            .iter()
            .map(move |&(start, eq, end)| (&header[start..eq], &header[eq + 1..end]))
    }
}

fn push_member(
    header: &mut String,
    spans: &mut Vec<(usize, usize, usize)>,
    key: &str,
    value: &str,
) {
    if !header.is_empty() {
        header.push(',');
    }
    let start = header.len();
    header.push_str(key);
    let eq = header.len();
    header.push('=');
    header.push_str(value);
    spans.push((start, eq, header.len()));
}

/// The grammar admits ASCII only, so validated bytes are always a `str`.
fn ascii(validated: &[u8]) -> &str {
    std::str::from_utf8(validated).unwrap_or_default()
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_moves_to_front_and_caps_at_32() {
        let mut state = TraceState::default();
        for i in 0..40 {
            state.insert(&format!("k{i}"), "v").unwrap();
        }
        assert_eq!(state.len(), MAX_TRACESTATE_MEMBERS);
        assert_eq!(state.iter().next(), Some(("k39", "v")));
        assert_eq!(state.get("k7"), None, "the oldest members are dropped");
        assert_eq!(state.remove("k39").as_deref(), Some("v"));
        assert_eq!(state.len(), MAX_TRACESTATE_MEMBERS - 1);
        assert_eq!(state.insert("Bad", "v"), Err(TraceStateError::InvalidKey));
        assert_eq!(
            state.insert("ok", "a,b"),
            Err(TraceStateError::InvalidValue)
        );
    }

    #[test]
    fn empty_state_is_none() {
        let state = TraceState::from_header(" , ,\t").unwrap();
        assert!(state.is_empty() && state.0.is_none());
        let mut state = TraceState::from_header("a=1").unwrap();
        state.remove("a");
        assert!(state.0.is_none());
    }
}
