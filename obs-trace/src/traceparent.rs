//! The W3C `traceparent` header (Trace Context Level 2, section "traceparent Header"):
//! parsed and formatted on the stack, with no allocation.

use std::fmt;

use crate::ids::{decode_hex_lower, encode_hex};
use crate::{SpanId, TraceFlags, TraceId};

/// Length of a version `00` `traceparent`: `00-{32 hex}-{16 hex}-{2 hex}`.
pub const TRACEPARENT_LEN: usize = 55;

/// The flags this crate knows (Level 2 "trace-flags": `sampled` and `random`). The spec
/// says vendors MUST set the other bits to zero, so they are cleared before propagating.
pub(crate) const KNOWN_FLAGS: u8 = TraceFlags::SAMPLED.0 | TraceFlags::RANDOM.0;

/// A parsed `traceparent` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The version byte: `00`, or a higher version parsed by the forward-compatibility rules.
    pub version: u8,
    /// The trace id (never all zeros).
    pub trace_id: TraceId,
    /// The caller's span id, our parent (never all zeros).
    pub parent_id: SpanId,
    /// The `trace-flags` byte as received; a higher version may set bits this crate does not
    /// know.
    pub flags: TraceFlags,
}

impl TraceParent {
    /// Formats this context as a version `00` header (a higher version is downgraded, as the
    /// spec's "Versioning of traceparent" asks: a vendor writes the version it understands),
    /// its flags as [`format_traceparent`] writes them.
    #[inline]
    pub fn to_bytes(&self) -> [u8; TRACEPARENT_LEN] {
        format_traceparent(self.trace_id, self.parent_id, self.flags)
    }
}

/// Why a `traceparent` value was rejected. Whatever the reason, the receiver starts a new
/// trace ("If the vendor failed to parse traceparent, it MUST NOT attempt to continue it").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceParentError {
    /// Shorter than 55 characters, or a version `00` value that is not exactly 55.
    Length,
    /// The version is not two lowercase hex digits.
    Version,
    /// Version `ff`, which the spec forbids.
    ForbiddenVersion,
    /// A `-` is missing between fields, or a higher version continues with something other
    /// than `-` after the flags.
    Delimiter,
    /// The trace id is not 32 lowercase hex digits.
    TraceId,
    /// The parent id is not 16 lowercase hex digits.
    ParentId,
    /// The flags are not two lowercase hex digits.
    Flags,
    /// The trace id is all zeros.
    ZeroTraceId,
    /// The parent id is all zeros.
    ZeroParentId,
}

impl fmt::Display for TraceParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Length => "traceparent has the wrong length",
            Self::Version => "traceparent version is not two lowercase hex digits",
            Self::ForbiddenVersion => "traceparent version ff is forbidden",
            Self::Delimiter => "traceparent fields are not separated by '-'",
            Self::TraceId => "traceparent trace-id is not 32 lowercase hex digits",
            Self::ParentId => "traceparent parent-id is not 16 lowercase hex digits",
            Self::Flags => "traceparent trace-flags is not two lowercase hex digits",
            Self::ZeroTraceId => "traceparent trace-id is all zeros",
            Self::ZeroParentId => "traceparent parent-id is all zeros",
        })
    }
}

impl std::error::Error for TraceParentError {}

/// Trims the optional white space (space and horizontal tab, RFC 7230 `OWS`) that may
/// surround a header value.
#[inline]
pub(crate) fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// Parses a `traceparent` header value without allocating.
///
/// Follows Trace Context Level 2, "traceparent Header Field Values" and "Versioning of
/// traceparent": version `00` must be exactly 55 characters of lowercase hex and dashes;
/// version `ff` is invalid; a higher version is parsed as `00` on its first 55 characters,
/// which must be followed by the end or a `-`, and may carry flags this crate does not know.
/// All-zero ids are invalid. Leading and trailing OWS is allowed.
///
/// ```
/// let tp = obs_trace::parse_traceparent(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")?;
/// assert_eq!(tp.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
/// assert!(tp.flags.is_sampled());
/// assert!(obs_trace::parse_traceparent(b"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").is_err());
/// # Ok::<(), obs_trace::TraceParentError>(())
/// ```
pub fn parse_traceparent(value: &[u8]) -> Result<TraceParent, TraceParentError> {
    let value = trim_ows(value);
    if value.len() < TRACEPARENT_LEN {
        return Err(TraceParentError::Length);
    }
    let [version] = decode_hex_lower::<1>(&value[0..2]).ok_or(TraceParentError::Version)?;
    match version {
        0xff => return Err(TraceParentError::ForbiddenVersion),
        0x00 if value.len() != TRACEPARENT_LEN => return Err(TraceParentError::Length),
        // "Versioning of traceparent": a higher version may append fields after a dash.
        _ if value.len() > TRACEPARENT_LEN && value[TRACEPARENT_LEN] != b'-' => {
            return Err(TraceParentError::Delimiter);
        }
        _ => {}
    }
    if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return Err(TraceParentError::Delimiter);
    }
    let trace_id = decode_hex_lower::<16>(&value[3..35])
        .map(TraceId)
        .ok_or(TraceParentError::TraceId)?;
    let parent_id = decode_hex_lower::<8>(&value[36..52])
        .map(SpanId)
        .ok_or(TraceParentError::ParentId)?;
    let [flags] = decode_hex_lower::<1>(&value[53..55]).ok_or(TraceParentError::Flags)?;
    if !trace_id.is_valid() {
        return Err(TraceParentError::ZeroTraceId);
    }
    if !parent_id.is_valid() {
        return Err(TraceParentError::ZeroParentId);
    }
    Ok(TraceParent {
        version,
        trace_id,
        parent_id,
        flags: TraceFlags(flags),
    })
}

/// Formats a version `00` `traceparent` value on the stack. The flags are written as given,
/// but for the bit in which obs keeps B3's debug flag, which W3C's byte does not have (see
/// [`TraceFlags::to_u8`]): a span context's flags can be passed as they are.
///
/// ```
/// use obs_trace::{SpanId, TraceFlags, TraceId};
/// let header = obs_trace::format_traceparent(
///     TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c),
///     SpanId::from_u64(0xb7ad6b7169203331),
///     TraceFlags::SAMPLED,
/// );
/// assert_eq!(&header[..], b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
/// ```
#[inline]
pub fn format_traceparent(
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
) -> [u8; TRACEPARENT_LEN] {
    let mut out = [b'-'; TRACEPARENT_LEN];
    out[0] = b'0';
    out[1] = b'0';
    encode_hex(&trace_id.0, &mut out[3..35]);
    encode_hex(&span_id.0, &mut out[36..52]);
    encode_hex(&[flags.to_u8()], &mut out[53..55]);
    out
}
