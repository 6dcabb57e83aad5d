//! W3C Baggage: the `baggage` header.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use percent_encoding::{AsciiSet, CONTROLS, percent_decode, utf8_percent_encode};

use crate::traceparent::trim_ows;

/// W3C Baggage "Limits": a platform MUST propagate all list-members when the resulting
/// `baggage-string` has 64 list-members or less...
pub const MAX_BAGGAGE_MEMBERS: usize = 64;
/// ...and is 8192 bytes or less; past either it MAY drop list-members until both hold, and
/// "MUST NOT propagate any partial list-members".
pub const MAX_BAGGAGE_BYTES: usize = 8192;

/// Bytes that are not `baggage-octet` (`%x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`) and
/// so "MUST be percent-encoded" in a value, plus `%` itself so that decoding gives back the
/// original text. Non-ASCII bytes are always encoded by `percent-encoding`.
const VALUE_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

/// List-members skipped as invalid when parsing ([`BaggageDrops::invalid`]).
static DROPPED_INVALID: AtomicU64 = AtomicU64::new(0);
/// List-members skipped or left out for the W3C limits ([`BaggageDrops::over_limit`]).
static DROPPED_OVER_LIMIT: AtomicU64 = AtomicU64::new(0);

/// The baggage list-members this process dropped so far: counted, since the caller that
/// sent them (or the code that set them) loses them silently otherwise. `obs_core::init`
/// exports them as the counter `obs_baggage_dropped{reason="invalid"|"limit"}`.
///
/// ```
/// use obs_trace::{Baggage, BaggageDrops};
///
/// let before = BaggageDrops::now();
/// let baggage = Baggage::from_header("a=1, bad key=2, ,b=3");
/// assert_eq!(baggage.len(), 2);
/// // The empty member between the commas is no member; `bad key` is an invalid one.
/// assert!(BaggageDrops::now().invalid >= before.invalid + 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BaggageDrops {
    /// Non-empty list-members of a received `baggage` header that don't match the grammar,
    /// skipped as the spec allows (the rest of the header is kept).
    pub invalid: u64,
    /// List-members over the W3C limits (64 members, 8192 bytes): skipped when received, or
    /// left out when sent (or refused by OpenTelemetry's `Baggage`, which holds 8192 bytes
    /// of keys, values and metadata in all, when extracted through
    /// [`W3CPropagator`](crate::W3CPropagator)).
    pub over_limit: u64,
}

impl BaggageDrops {
    /// The counts so far, process-wide.
    pub fn now() -> Self {
        BaggageDrops {
            invalid: DROPPED_INVALID.load(Ordering::Relaxed),
            over_limit: DROPPED_OVER_LIMIT.load(Ordering::Relaxed),
        }
    }
}

/// Counts `n` list-members dropped under `counter` (cold: only when something is dropped).
#[cold]
fn count_dropped(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

/// Counts `n` list-members dropped for the limits, if any: left out of a header sent, or
/// refused by OpenTelemetry's `Baggage` in the propagator's extract.
pub(crate) fn count_over_limit(n: usize) {
    if n > 0 {
        count_dropped(&DROPPED_OVER_LIMIT, n);
    }
}

/// W3C Baggage: application key/value pairs that travel with a request, each with optional
/// properties (metadata), in the order received.
///
/// Empty is `None` inside, so cloning an empty baggage (the common case, done on every span
/// enter) costs nothing; a non-empty one is one shared allocation, copied on write.
///
/// ```
/// use obs_trace::Baggage;
/// let mut baggage = Baggage::from_header("userId=alice, serverNode=DF%2028;region=eu, bad key=x");
/// assert_eq!(baggage.get("serverNode"), Some("DF 28")); // values are percent-decoded
/// assert_eq!(baggage.len(), 2); // the invalid member is skipped, not the whole header
/// baggage.insert("tenant", "a,b")?;
/// assert_eq!(baggage.to_header(), "userId=alice,serverNode=DF%2028;region=eu,tenant=a%2Cb");
/// # Ok::<(), obs_trace::BaggageError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Baggage(Option<Arc<Vec<BaggageEntry>>>);

/// One baggage list-member: key, decoded value and properties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaggageEntry {
    key: String,
    value: String,
    properties: String,
}

impl BaggageEntry {
    /// The key (an RFC 7230 token).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value, percent-decoded.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The properties (metadata) as `prop1;prop2=value`, without OWS; empty when none.
    /// Property values are as sent, percent-encoded (W3C Baggage, "property": the value
    /// rules apply to them): they pass on unchanged, and decoding them is the reader's.
    pub fn properties(&self) -> &str {
        &self.properties
    }

    /// Appends `key=value[;properties]` with the value percent-encoded.
    fn write(&self, out: &mut String) {
        out.push_str(&self.key);
        out.push('=');
        out.extend(utf8_percent_encode(&self.value, VALUE_ENCODE));
        if !self.properties.is_empty() {
            out.push(';');
            out.push_str(&self.properties);
        }
    }
}

/// Why a baggage entry could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BaggageError {
    /// The key is not an RFC 7230 token.
    InvalidKey,
    /// The properties do not match `property *( ";" property )`.
    InvalidProperties,
}

impl fmt::Display for BaggageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidKey => "baggage key is not an RFC 7230 token",
            Self::InvalidProperties => "baggage properties do not match the property grammar",
        })
    }
}

impl std::error::Error for BaggageError {}

/// `token = 1*tchar` (RFC 7230 section 3.2.6).
fn is_token(key: &[u8]) -> bool {
    !key.is_empty()
        && key
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`.
fn is_baggage_octets(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| (0x21..=0x7e).contains(&b) && !matches!(b, b'"' | b',' | b';' | b'\\'))
}

/// Validates `property *( OWS ";" OWS property )` with `property = key OWS "=" OWS value /
/// key OWS` and returns it without OWS.
fn normalize_properties<'a>(properties: impl Iterator<Item = &'a [u8]>) -> Option<String> {
    let mut out = String::new();
    for property in properties {
        let property = trim_ows(property);
        let (key, value) = match property.iter().position(|&b| b == b'=') {
            Some(eq) => (
                trim_ows(&property[..eq]),
                Some(trim_ows(&property[eq + 1..])),
            ),
            None => (property, None),
        };
        if !is_token(key) || !value.is_none_or(is_baggage_octets) {
            return None;
        }
        if !out.is_empty() {
            out.push(';');
        }
        // Tokens and baggage-octets are ASCII.
        out.extend(key.iter().map(|&b| char::from(b)));
        if let Some(value) = value {
            out.push('=');
            out.extend(value.iter().map(|&b| char::from(b)));
        }
    }
    Some(out)
}

/// Parses `key OWS "=" OWS value *( OWS ";" OWS property )`; `None` when invalid.
fn parse_member(member: &[u8]) -> Option<BaggageEntry> {
    let mut parts = member.split(|&b| b == b';');
    let key_value = parts.next()?;
    let eq = key_value.iter().position(|&b| b == b'=')?;
    let key = trim_ows(&key_value[..eq]);
    let value = trim_ows(&key_value[eq + 1..]);
    if !is_token(key) || !is_baggage_octets(value) {
        return None;
    }
    let properties = normalize_properties(parts)?;
    Some(BaggageEntry {
        key: key.iter().map(|&b| char::from(b)).collect(),
        // "Percent-encoded octet sequences that do not match the UTF-8 encoding scheme MUST
        // be replaced with the replacement code point (U+FFFD)."
        value: percent_decode(value).decode_utf8_lossy().into_owned(),
        properties,
    })
}

impl Baggage {
    /// Empty baggage.
    pub const fn new() -> Self {
        Baggage(None)
    }

    /// Parses one `baggage` header value. See [`Baggage::from_headers`].
    pub fn from_header(value: impl AsRef<[u8]>) -> Self {
        Self::from_headers([value])
    }

    /// Parses several `baggage` header fields as one combined list.
    ///
    /// Never fails: an invalid list-member is skipped, not the whole header; OWS around
    /// members, keys, values and properties is trimmed; values are percent-decoded. A
    /// repeated key keeps the last value. At most the first 64 distinct keys are kept, the
    /// number this crate propagates, and a member longer than 8192 bytes is skipped. Each
    /// member skipped is counted ([`BaggageDrops`]).
    pub fn from_headers<I>(values: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut entries: Vec<BaggageEntry> = Vec::new();
        for value in values {
            for member in value.as_ref().split(|&b| b == b',') {
                let member = trim_ows(member);
                // A member over the total byte limit can never be propagated: the sender
                // broke the limit, and keeping it would only hold memory.
                if member.len() > MAX_BAGGAGE_BYTES {
                    count_dropped(&DROPPED_OVER_LIMIT, 1);
                    continue;
                }
                let Some(entry) = parse_member(member) else {
                    // An empty member (`a=1,,b=2`, a trailing comma) is no member at all.
                    if !member.is_empty() {
                        count_dropped(&DROPPED_INVALID, 1);
                    }
                    continue;
                };
                if let Some(existing) = entries.iter_mut().find(|e| e.key == entry.key) {
                    *existing = entry;
                } else if entries.len() < MAX_BAGGAGE_MEMBERS {
                    entries.push(entry);
                } else {
                    count_dropped(&DROPPED_OVER_LIMIT, 1);
                }
            }
        }
        Self::from_entries(entries)
    }

    fn from_entries(entries: Vec<BaggageEntry>) -> Self {
        if entries.is_empty() {
            Baggage(None)
        } else {
            Baggage(Some(Arc::new(entries)))
        }
    }

    /// The header value, or an empty string when there is nothing to send. See
    /// [`Baggage::write_header`].
    pub fn to_header(&self) -> String {
        let mut out = String::new();
        self.write_header(&mut out);
        out
    }

    /// Appends the header value to `out`, without OWS, values percent-encoded.
    ///
    /// Keeps to the W3C Baggage limits: at most 64 list-members and 8192 bytes. A member
    /// that would go over is left out whole ("MUST NOT propagate any partial list-members")
    /// and later, smaller members may still fit. Each member left out is counted
    /// ([`BaggageDrops`]).
    pub fn write_header(&self, out: &mut String) {
        count_over_limit(self.write_within_limits(out));
    }

    /// [`write_header`](Self::write_header) without counting: the number of members left
    /// out. Formatting ([`Display`](fmt::Display)) sends nothing, so drops nothing.
    fn write_within_limits(&self, out: &mut String) -> usize {
        let base = out.len();
        let mut written = 0;
        for entry in self.iter() {
            if written == MAX_BAGGAGE_MEMBERS {
                break;
            }
            let before = out.len();
            if written > 0 {
                out.push(',');
            }
            entry.write(out);
            if out.len() - base > MAX_BAGGAGE_BYTES {
                out.truncate(before);
            } else {
                written += 1;
            }
        }
        self.len() - written
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(BaggageEntry::value)
    }

    /// The entry for `key` (value and properties), if present.
    pub fn entry(&self, key: &str) -> Option<&BaggageEntry> {
        self.iter().find(|e| e.key == key)
    }

    /// Sets `key` to `value` (any text: it is percent-encoded when sent), without properties.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), BaggageError> {
        self.insert_with_properties(key, value, "")
    }

    /// Sets `key` to `value` with `properties` (`prop1;prop2=value`, OWS allowed, property
    /// values already percent-encoded: they are sent as given). A new key goes last; an
    /// existing key keeps its place.
    pub fn insert_with_properties(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
        properties: &str,
    ) -> Result<(), BaggageError> {
        let key = key.into();
        if !is_token(key.as_bytes()) {
            return Err(BaggageError::InvalidKey);
        }
        let properties = if trim_ows(properties.as_bytes()).is_empty() {
            String::new()
        } else {
            normalize_properties(properties.as_bytes().split(|&b| b == b';'))
                .ok_or(BaggageError::InvalidProperties)?
        };
        let entry = BaggageEntry {
            key,
            value: value.into(),
            properties,
        };
        let entries = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        match entries.iter_mut().find(|e| e.key == entry.key) {
            Some(existing) => *existing = entry,
            None => entries.push(entry),
        }
        Ok(())
    }

    /// Removes `key`, returning its entry.
    pub fn remove(&mut self, key: &str) -> Option<BaggageEntry> {
        let entries = Arc::make_mut(self.0.as_mut()?);
        let pos = entries.iter().position(|e| e.key == key)?;
        let removed = entries.remove(pos);
        if entries.is_empty() {
            self.0 = None;
        }
        Some(removed)
    }

    /// The number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.0.as_deref().map_or(0, Vec::len)
    }

    /// Whether there are no entries.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The entries, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, BaggageEntry> {
        self.0.as_deref().map_or(&[][..], Vec::as_slice).iter()
    }
}

impl<'a> IntoIterator for &'a Baggage {
    type Item = &'a BaggageEntry;
    type IntoIter = std::slice::Iter<'a, BaggageEntry>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The header value [`write_header`](Baggage::write_header) would send; members left out
/// are not counted as dropped, since nothing is sent.
impl fmt::Display for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write_within_limits(&mut out);
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_last_entry_makes_it_none() {
        let mut baggage = Baggage::from_header("a=1");
        assert_eq!(baggage.remove("a").map(|e| e.value), Some("1".to_owned()));
        assert!(baggage.0.is_none());
        assert_eq!(baggage.remove("a"), None);
    }

    #[test]
    fn write_header_drops_whole_members_over_the_byte_limit() {
        let mut baggage = Baggage::new();
        baggage
            .insert("big", "x".repeat(MAX_BAGGAGE_BYTES))
            .unwrap();
        baggage.insert("small", "y").unwrap();
        assert_eq!(baggage.to_header(), "small=y");
    }
}
