//! What the gRPC protocol says, independent of telemetry: the request path, the status in
//! headers or trailers, and the length-prefixed message framing
//! (<https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md>).

use std::borrow::Cow;
use std::cell::RefCell;
use std::time::Duration;

use http::{HeaderMap, HeaderName, StatusCode};
use obs_trace::LastSeen;
use tonic::Code;

/// The `grpc-status` header or trailer: a `HeaderName`, since a `&str` key is parsed and
/// validated again on every lookup.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// The `grpc-timeout` request header: the caller's deadline, relative to the call's start.
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// `rpc.method` for a path that is not `/{service}/{method}`: the RPC conventions' value
/// for a method the instrumentation does not know.
pub(crate) const OTHER: &str = "_OTHER";

/// `rpc.system`, and the span name of a call whose method is [`OTHER`]: RPC spans, Name:
/// "If `rpc.method` is unavailable or set to `_OTHER`, the span name SHOULD be
/// `{rpc.system.name}`" (`_OTHER` names no class of calls a reader would recognise).
pub(crate) const SYSTEM: &str = "grpc";

/// Splits a request path `/{package.Service}/{Method}` (after any path prefix: client
/// origins may add one) into `package.Service/Method` and the length of `package.Service`,
/// without allocating; empty parts or a path without two segments give `None`.
fn split_path(path: &str) -> Option<(&str, u32)> {
    // Byte loops from the back: paths are short, and `memrchr` (what `rsplit_once` calls)
    // costs more in setup than these loops in total.
    let bytes = path.as_bytes();
    let method_slash = bytes.iter().rposition(|&b| b == b'/')?;
    let service_slash = bytes[..method_slash].iter().rposition(|&b| b == b'/')?;
    let service_len = method_slash - service_slash - 1;
    if service_len == 0 || method_slash + 1 == path.len() {
        return None;
    }
    // A path is far shorter than 4 GiB: hyper and tonic cap headers long before.
    Some((&path[service_slash + 1..], u32::try_from(service_len).ok()?))
}

/// The names of a call's method as the call keeps them until it ends, for the span name,
/// `rpc.service`, `rpc.method` and the metric labels: one string, shared rather than
/// copied when interned (its parts then also compare by address when the call's metric
/// series is looked up), and where it splits. Small, because a call's state moves with
/// its response.
#[derive(Clone, Debug)]
pub(crate) struct RpcNames {
    /// `package.Service/Method`.
    full: Cow<'static, str>,
    /// The length of `package.Service`, where the `/` is.
    service_len: u32,
}

impl RpcNames {
    /// The names of a call to the request path `path`, or `None` if it is not
    /// `/{service}/{method}` ([`split_path`]), interned. A server sees the same few
    /// paths again and again, so each thread remembers the last one: a repeat costs one
    /// comparison instead of a parse and an interner lookup.
    pub(crate) fn of_path(path: &str) -> Option<RpcNames> {
        thread_local! {
            static LAST_PATH: RefCell<LastSeen<Option<(&'static str, u32)>>> =
                const { RefCell::new(LastSeen::new()) };
        }
        if let Some(remembered) = LastSeen::recall(&LAST_PATH, path) {
            return remembered.map(|(full, service_len)| RpcNames {
                full: Cow::Borrowed(full),
                service_len,
            });
        }
        let Some((full, service_len)) = split_path(path) else {
            LastSeen::store(&LAST_PATH, path, None);
            return None;
        };
        let full = obs_trace::intern(full);
        if let Cow::Borrowed(shared) = full {
            LastSeen::store(&LAST_PATH, path, Some((shared, service_len)));
        }
        // A copy (the interner is full) is made afresh for each call.
        Some(RpcNames { full, service_len })
    }

    /// `package.Service/Method`.
    pub(crate) fn full(&self) -> &str {
        &self.full
    }

    /// `package.Service/Method` when interned: the same string for the life of the process.
    pub(crate) fn interned(&self) -> Option<&'static str> {
        match self.full {
            Cow::Borrowed(full) => Some(full),
            Cow::Owned(_) => None,
        }
    }

    /// `package.Service`.
    pub(crate) fn service(&self) -> &str {
        &self.full[..self.service_len as usize]
    }

    /// `Method`.
    pub(crate) fn method(&self) -> &str {
        &self.full[self.service_len as usize + 1..]
    }

    /// [`full`](Self::full) as a span keeps it.
    pub(crate) fn full_value(&self) -> Cow<'static, str> {
        self.full.clone()
    }

    /// [`service`](Self::service) as a span or a metric series keeps it: a slice of the
    /// interned string, or a copy.
    #[inline]
    pub(crate) fn service_value(&self) -> Cow<'static, str> {
        self.part(..self.service_len as usize)
    }

    /// [`method`](Self::method) as a span or a metric series keeps it.
    #[inline]
    pub(crate) fn method_value(&self) -> Cow<'static, str> {
        self.part(self.service_len as usize + 1..)
    }

    #[inline]
    fn part(&self, range: impl std::slice::SliceIndex<str, Output = str>) -> Cow<'static, str> {
        match &self.full {
            Cow::Borrowed(full) => Cow::Borrowed(&full[range]),
            Cow::Owned(full) => Cow::Owned(full[range].to_owned()),
        }
    }
}

/// The gRPC status code in `headers` (a trailers-only response's headers, or the trailers).
/// A value that is not a known code reads as `UNKNOWN`, as gRPC clients treat it.
pub(crate) fn status(headers: &HeaderMap) -> Option<Code> {
    find(headers, &GRPC_STATUS).map(|value| Code::from_bytes(value.as_bytes()))
}

/// What a `content-type` says of a gRPC call's request or answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GrpcRequest {
    /// gRPC over HTTP/2 (`application/grpc`, `+proto` and the like).
    Grpc,
    /// gRPC-Web (`application/grpc-web...`), whose answer may be base64 whatever the
    /// request is (tonic-web answers in the encoding the `Accept` header asks for);
    /// `base64`: the body is, in gRPC-Web's text mode (`application/grpc-web-text`).
    Web { base64: bool },
}

/// The prefix of every gRPC `content-type`.
const GRPC_CONTENT_TYPE: &[u8] = b"application/grpc";

/// What follows [`GRPC_CONTENT_TYPE`] in gRPC-Web's `content-type`s.
const WEB: &[u8] = b"-web";

/// What follows [`GRPC_CONTENT_TYPE`] in gRPC-Web's text mode's (PROTOCOL-WEB.md,
/// "Protocol differences vs gRPC over HTTP2": `application/grpc-web-text`, the body
/// base64-encoded).
const WEB_TEXT: &[u8] = b"-web-text";

/// Whether a request is a gRPC call, and which: its `content-type` begins with
/// `application/grpc` (gRPC over HTTP/2, `+proto` and the like, and gRPC-Web's).
/// PROTOCOL-HTTP2, "Requests": "If Content-Type does not begin with "application/grpc",
/// gRPC servers SHOULD respond with HTTP status of 415": any other request is not gRPC (a
/// `/metrics` scrape or a REST route beside the gRPC services). Media types compare
/// without regard to case.
pub(crate) fn grpc_request(headers: &HeaderMap) -> Option<GrpcRequest> {
    let value = find(headers, &http::header::CONTENT_TYPE)?.as_bytes();
    if !starts_with_ignore_case(value, GRPC_CONTENT_TYPE) {
        return None;
    }
    let rest = &value[GRPC_CONTENT_TYPE.len()..];
    Some(if starts_with_ignore_case(rest, WEB) {
        GrpcRequest::Web {
            base64: starts_with_ignore_case(rest, WEB_TEXT),
        }
    } else {
        GrpcRequest::Grpc
    })
}

/// Whether a response's body is base64, gRPC-Web's text mode
/// (`application/grpc-web-text`, tonic-web's `application/grpc-web-text+proto`): its
/// `content-type` read as a request's.
pub(crate) fn is_base64_response(headers: &HeaderMap) -> bool {
    grpc_request(headers) == Some(GrpcRequest::Web { base64: true })
}

/// Whether `bytes` begins with `prefix`, without regard to ASCII case.
fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// The caller's deadline in a request's `grpc-timeout` (PROTOCOL-HTTP2, "Requests":
/// at most 8 digits, then `H`, `M`, `S`, `m`, `u` or `n`), or `None` if it has none or
/// a malformed one (which tonic ignores too).
pub(crate) fn timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = find(headers, &GRPC_TIMEOUT)?.as_bytes();
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // At most 8 digits: no overflow, even in hours.
    let amount = digits
        .iter()
        .fold(0u64, |n, &digit| n * 10 + u64::from(digit - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(amount * 3600),
        b'M' => Duration::from_secs(amount * 60),
        b'S' => Duration::from_secs(amount),
        b'm' => Duration::from_millis(amount),
        b'u' => Duration::from_micros(amount),
        b'n' => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// The value of `name` in `headers`. gRPC heads and trailers hold a handful of entries:
/// comparing their names is cheaper than hashing `name` to look it up.
fn find<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h http::HeaderValue> {
    if headers.len() <= 4 {
        headers
            .iter()
            .find(|&(key, _)| key == name)
            .map(|(_, value)| value)
    } else {
        headers.get(name)
    }
}

/// The gRPC code a client must assume when a response has an HTTP status other than 200
/// and no `grpc-status` ("HTTP to gRPC Status Code Mapping", gRPC `doc/http-grpc-status-mapping.md`).
pub(crate) fn code_of_http_status(status: StatusCode) -> Option<Code> {
    Some(match status.as_u16() {
        200 => return None,
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    })
}

/// The code's name as the conventions spell it (`error.type`, e.g. `DEADLINE_EXCEEDED`),
/// and its number as a metric label (`rpc.grpc.status_code`, e.g. `4`).
pub(crate) fn code_name_and_label(code: Code) -> (&'static str, &'static str) {
    match code {
        Code::Ok => ("OK", "0"),
        Code::Cancelled => ("CANCELLED", "1"),
        Code::Unknown => ("UNKNOWN", "2"),
        Code::InvalidArgument => ("INVALID_ARGUMENT", "3"),
        Code::DeadlineExceeded => ("DEADLINE_EXCEEDED", "4"),
        Code::NotFound => ("NOT_FOUND", "5"),
        Code::AlreadyExists => ("ALREADY_EXISTS", "6"),
        Code::PermissionDenied => ("PERMISSION_DENIED", "7"),
        Code::ResourceExhausted => ("RESOURCE_EXHAUSTED", "8"),
        Code::FailedPrecondition => ("FAILED_PRECONDITION", "9"),
        Code::Aborted => ("ABORTED", "10"),
        Code::OutOfRange => ("OUT_OF_RANGE", "11"),
        Code::Unimplemented => ("UNIMPLEMENTED", "12"),
        Code::Internal => ("INTERNAL", "13"),
        Code::Unavailable => ("UNAVAILABLE", "14"),
        Code::DataLoss => ("DATA_LOSS", "15"),
        Code::Unauthenticated => ("UNAUTHENTICATED", "16"),
    }
}

/// Counts the messages of a gRPC stream as its bytes go by, without decoding them: each
/// message is a 1-byte compressed flag, a 4-byte big-endian length, then that many bytes.
/// A message counts once its 5-byte prefix is complete. A frame whose flag has its top bit
/// set is gRPC-Web's trailers frame (doc/PROTOCOL-WEB.md), no message: a server layer
/// outside tonic-web's `GrpcWebLayer` sees the status there. A flag with any other bit set
/// is no gRPC stream at all (a web page, say): nothing after it is counted. In gRPC-Web's
/// text mode ([`decode_base64`](Self::decode_base64)) the frames are read through their
/// base64.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MessageCounter {
    /// Bytes of the current prefix read so far (0 to 4).
    prefix_read: u8,
    /// Whether the current frame is a gRPC-Web trailers frame.
    trailers: bool,
    /// Whether a frame's flag byte was none of gRPC's: the stream is not gRPC.
    not_grpc: bool,
    /// The length read from the current prefix so far.
    length: u32,
    /// Payload bytes of the current frame still to skip.
    payload_left: u64,
    /// The stream is base64 (gRPC-Web's text mode), decoded so far.
    base64: Option<Base64>,
}

/// The length of a message's prefix.
const PREFIX_LEN: usize = 5;

/// The flag bit of a gRPC-Web trailers frame (PROTOCOL-WEB.md, "Protocol differences vs
/// gRPC over HTTP2": "the MSB of the first byte" of the frame).
const TRAILERS_FLAG: u8 = 0x80;

/// The flag bit of a compressed message (PROTOCOL-HTTP2.md, "Compressed-Flag").
const COMPRESSED_FLAG: u8 = 0x01;

impl MessageCounter {
    /// Feeds the next bytes of the stream; returns how many messages started in them.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> u32 {
        self.feed_with(bytes, |_, _| {})
    }

    /// Reads the stream from here on as base64, gRPC-Web's text mode, whose frames are
    /// encoded (tonic-web encodes each on its own, padded).
    pub(crate) fn decode_base64(&mut self) {
        self.base64 = Some(Base64::default());
    }

    /// [`feed`](Self::feed), handing the bytes of a gRPC-Web trailers frame to `trailers`
    /// as they go by, with whether the frame ends with them.
    #[inline]
    pub(crate) fn feed_with(&mut self, bytes: &[u8], mut trailers: impl FnMut(&[u8], bool)) -> u32 {
        match self.base64 {
            None => self.feed_frames(bytes, &mut trailers),
            Some(_) => self.feed_base64(bytes, &mut trailers),
        }
    }

    /// [`feed_with`](Self::feed_with) of base64 text, decoded a piece at a time on the
    /// stack. A character that is no base64 makes the stream no gRPC stream: its reader
    /// fails it (tonic-web's with INTERNAL, "malformed base64").
    #[cold]
    #[inline(never)]
    fn feed_base64(&mut self, text: &[u8], trailers: &mut impl FnMut(&[u8], bool)) -> u32 {
        // Each group of up to four characters gives at most 3 bytes, and a piece may end
        // the group the previous one left with up to 3 characters.
        const PIECE: usize = 512;
        let mut decoded = [0; (PIECE + 3).div_ceil(4) * 3];
        let mut started = 0;
        for piece in text.chunks(PIECE) {
            if self.not_grpc {
                break;
            }
            let Some(base64) = self.base64.as_mut() else {
                break;
            };
            match base64.decode(piece, &mut decoded) {
                Some(len) => started += self.feed_frames(&decoded[..len], trailers),
                None => self.not_grpc = true,
            }
        }
        started
    }

    /// [`feed_with`](Self::feed_with) of the frames themselves.
    #[inline]
    fn feed_frames(&mut self, mut bytes: &[u8], trailers: &mut impl FnMut(&[u8], bool)) -> u32 {
        let mut started = 0;
        while !bytes.is_empty() && !self.not_grpc {
            if self.payload_left > 0 {
                let skip = bytes.len().min(self.payload_left as usize);
                self.payload_left -= skip as u64;
                if self.trailers {
                    trailers(&bytes[..skip], self.payload_left == 0);
                }
                bytes = &bytes[skip..];
                continue;
            }
            // Fast path: a whole prefix at hand.
            if self.prefix_read == 0 && bytes.len() >= PREFIX_LEN {
                if !self.read_flag(bytes[0]) {
                    break;
                }
                let length = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
                started += self.start_frame(length, trailers);
                bytes = &bytes[PREFIX_LEN..];
                continue;
            }
            // A prefix split across frames: one byte at a time (byte 0 is the flag).
            if self.prefix_read > 0 {
                self.length = (self.length << 8) | u32::from(bytes[0]);
            } else if !self.read_flag(bytes[0]) {
                break;
            }
            self.prefix_read += 1;
            bytes = &bytes[1..];
            if usize::from(self.prefix_read) == PREFIX_LEN {
                started += self.start_frame(self.length, trailers);
                self.prefix_read = 0;
                self.length = 0;
            }
        }
        started
    }

    /// Reads a frame's flag byte; `false` if it is none of gRPC's (a message's 0 or 1, a
    /// gRPC-Web trailers frame's), and the stream no gRPC stream.
    #[inline]
    fn read_flag(&mut self, flag: u8) -> bool {
        self.trailers = flag & TRAILERS_FLAG != 0;
        self.not_grpc = flag & !(TRAILERS_FLAG | COMPRESSED_FLAG) != 0;
        !self.not_grpc
    }

    /// Whether the stream turned out not to be gRPC: a frame's first byte was no flag of
    /// gRPC's. tonic's client fails such a response with INTERNAL ("protocol error:
    /// received message with invalid compression flag") and drops it.
    pub(crate) fn is_not_grpc(&self) -> bool {
        self.not_grpc
    }

    /// Whether the stream stopped inside a frame: its prefix, or its payload, incomplete.
    /// tonic's client fails a response that ends so with INTERNAL ("Unexpected EOF
    /// decoding stream").
    pub(crate) fn is_mid_frame(&self) -> bool {
        self.prefix_read > 0 || self.payload_left > 0
    }

    /// Starts the frame whose prefix was just read: 1 if it is a message, 0 for a trailers
    /// frame (an empty one ends at once).
    #[inline]
    fn start_frame(&mut self, length: u32, trailers: &mut impl FnMut(&[u8], bool)) -> u32 {
        self.payload_left = u64::from(length);
        if !self.trailers {
            return 1;
        }
        if length == 0 {
            trailers(&[], true);
        }
        0
    }
}

/// A base64 stream (RFC 4648 §4, gRPC-Web's text mode) decoded as it goes by: the
/// characters of a group of four not yet complete. Padding may come anywhere, not only at
/// the end: PROTOCOL-WEB.md lets a server flush (and pad) its base64 at any point, and
/// tonic-web encodes each frame on its own.
#[derive(Clone, Copy, Debug, Default)]
struct Base64 {
    /// The 6-bit values of the group so far, the first in the highest bits.
    bits: u32,
    /// How many characters of the group have come (0 to 3).
    chars: u8,
}

impl Base64 {
    /// Decodes `text` into `out` (room for 3 bytes per 4 characters, plus 3 for a group
    /// begun before); the bytes written, or `None` at a character that is no base64.
    fn decode(&mut self, text: &[u8], out: &mut [u8]) -> Option<usize> {
        let mut len = 0;
        for &c in text {
            let value = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                // Padding ends the group: its 2 or 3 characters make 1 or 2 bytes (a
                // second `=`, the group already ended, adds nothing).
                b'=' => {
                    let bytes = match self.chars {
                        0 => continue,
                        1 => return None,
                        chars => usize::from(chars - 1),
                    };
                    let group = self.bits << (6 * (4 - u32::from(self.chars)));
                    out[len..len + bytes].copy_from_slice(&group.to_be_bytes()[1..=bytes]);
                    len += bytes;
                    *self = Base64::default();
                    continue;
                }
                _ => return None,
            };
            self.bits = (self.bits << 6) | u32::from(value);
            self.chars += 1;
            if self.chars == 4 {
                out[len..len + 3].copy_from_slice(&self.bits.to_be_bytes()[1..]);
                len += 3;
                *self = Base64::default();
            }
        }
        Some(len)
    }
}

/// The name of the status in a gRPC-Web trailers frame, lower-cased.
const GRPC_STATUS_KEY: &[u8] = b"grpc-status";

/// Reads `grpc-status` from a gRPC-Web trailers frame's header block (`key:value` lines
/// ending in CRLF, keys in any case) as its bytes go by, split anywhere, keeping nothing
/// but a few bytes of state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WebTrailers {
    /// Where in a line: in its key, `matched` bytes of `grpc-status` so far
    /// ([`GRPC_STATUS_KEY`]); past the `:` of `grpc-status`; or in a line to skip.
    state: WebTrailersState,
    /// The status value's first bytes (a code has at most two digits).
    value: [u8; 2],
    /// The status value's length, up to 3 (a longer value is no code).
    value_len: u8,
}

#[derive(Clone, Copy, Debug)]
enum WebTrailersState {
    Key { matched: u8 },
    Value,
    Skip,
}

impl Default for WebTrailersState {
    fn default() -> Self {
        WebTrailersState::Key { matched: 0 }
    }
}

impl WebTrailers {
    /// Feeds the next bytes of the header block (`end`: the frame ends with them); returns
    /// the status once its line is complete. A value that is no code reads as `UNKNOWN`,
    /// as in [`status`].
    pub(crate) fn feed(&mut self, bytes: &[u8], end: bool) -> Option<Code> {
        let mut found = None;
        for &byte in bytes {
            match (self.state, byte) {
                (WebTrailersState::Value, b'\r' | b'\n') => {
                    found = Some(self.code());
                    self.state = if byte == b'\n' {
                        WebTrailersState::default()
                    } else {
                        WebTrailersState::Skip
                    };
                }
                // Optional white space around the value.
                (WebTrailersState::Value, b' ' | b'\t') => {}
                (WebTrailersState::Value, _) => {
                    if let Some(slot) = self.value.get_mut(usize::from(self.value_len)) {
                        *slot = byte;
                    }
                    self.value_len = (self.value_len + 1).min(3);
                }
                (_, b'\n') => self.state = WebTrailersState::default(),
                (WebTrailersState::Key { matched }, b':')
                    if usize::from(matched) == GRPC_STATUS_KEY.len() =>
                {
                    self.state = WebTrailersState::Value;
                    self.value_len = 0;
                }
                (WebTrailersState::Key { matched }, _)
                    if GRPC_STATUS_KEY.get(usize::from(matched))
                        == Some(&byte.to_ascii_lowercase()) =>
                {
                    self.state = WebTrailersState::Key {
                        matched: matched + 1,
                    };
                }
                _ => self.state = WebTrailersState::Skip,
            }
        }
        if end && matches!(self.state, WebTrailersState::Value) {
            // The last line needs no line end.
            found = Some(self.code());
            self.state = WebTrailersState::Skip;
        }
        found
    }

    fn code(&self) -> Code {
        match self.value.get(..usize::from(self.value_len)) {
            Some(value) => Code::from_bytes(value),
            None => Code::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Base64 padding within the stream (each flush padded), groups split across chunks,
    /// and a character that is no base64, which ends the stream as no gRPC stream.
    #[test]
    fn base64_streams_are_decoded_across_chunks_and_padding() {
        let decode = |chunks: &[&str]| {
            let mut base64 = Base64::default();
            let mut out = Vec::new();
            for chunk in chunks {
                let mut decoded = [0; 64];
                let len = base64.decode(chunk.as_bytes(), &mut decoded)?;
                out.extend_from_slice(&decoded[..len]);
            }
            Some(out)
        };
        assert_eq!(decode(&["aGVsbG8="]).as_deref(), Some(&b"hello"[..]));
        assert_eq!(
            decode(&["aG", "Vsb", "G8=", "IHdvcmxk"]).as_deref(),
            Some(&b"hello world"[..])
        );
        assert_eq!(decode(&["YQ==Yg==", "Yw="]).as_deref(), Some(&b"abc"[..]));
        assert_eq!(decode(&["YQ=", "=Yg=="]).as_deref(), Some(&b"ab"[..]));
        for invalid in ["aGVs bG8=", "Y===", "aGVs\r\n", "aGVs-_"] {
            assert_eq!(decode(&[invalid]), None, "{invalid:?}");
        }

        let mut counter = MessageCounter::default();
        counter.decode_base64();
        assert_eq!(counter.feed(b"AAAAAAJoaQ=="), 1);
        assert!(!counter.is_mid_frame() && !counter.is_not_grpc());
        // A message's prefix whose base64 stops short: mid-frame, as a reader finds it.
        assert_eq!(counter.feed(b"AAAAAA"), 0);
        assert!(counter.is_mid_frame());
        counter.feed(b"not base64!");
        assert!(counter.is_not_grpc());

        // The most bytes one piece of text can give: a group begun before it (3
        // characters), ended by its first, 127 groups, then a padded one.
        let mut counter = MessageCounter::default();
        counter.decode_base64();
        let mut text = b"AAAA".repeat(128);
        text.extend_from_slice(b"AA=");
        let (before, piece) = text.split_at(3);
        counter.feed(before);
        assert_eq!(piece.len(), 512);
        // 385 zero bytes: 77 empty messages.
        assert_eq!(counter.feed(piece), 77);
    }

    #[test]
    fn paths_split_into_service_and_method() {
        let names = RpcNames::of_path("/grpc.health.v1.Health/Check").unwrap();
        assert_eq!(
            (names.full(), names.service(), names.method()),
            (
                "grpc.health.v1.Health/Check",
                "grpc.health.v1.Health",
                "Check"
            )
        );
        assert_eq!(
            (
                names.full_value(),
                names.service_value(),
                names.method_value()
            ),
            (
                "grpc.health.v1.Health/Check".into(),
                "grpc.health.v1.Health".into(),
                "Check".into()
            )
        );
        assert_eq!(
            split_path("/prefix/pkg.Svc/Method"),
            Some(("pkg.Svc/Method", 7))
        );
        for bad in ["", "/", "//", "/Svc", "/Svc/", "//Method", "Svc/Method"] {
            assert_eq!(split_path(bad), None, "{bad}");
            assert!(RpcNames::of_path(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_call_gets_the_names_of_its_own_path_whatever_came_before() {
        let paths = [
            "/pkg.Svc/Get",
            "/pkg.Svc/Get",
            "/pkg.Svc/Put",
            "/bad",
            "/bad",
            "/pkg.Svc/Get",
            "/prefix/other.Svc/Get",
        ];
        for path in paths.iter().chain(&paths) {
            let names = RpcNames::of_path(path);
            let split = split_path(path).map(|(full, service_len)| {
                let (service, slash_method) = full.split_at(service_len as usize);
                (full, service, &slash_method[1..])
            });
            assert_eq!(
                names.as_ref().map(|n| (n.full(), n.service(), n.method())),
                split,
                "{path}"
            );
        }
    }

    #[test]
    fn status_comes_from_grpc_status_and_unknown_values_read_as_unknown() {
        let mut headers = HeaderMap::new();
        assert_eq!(status(&headers), None);
        headers.insert("grpc-status", "4".parse().unwrap());
        assert_eq!(status(&headers), Some(Code::DeadlineExceeded));
        headers.insert("grpc-status", "99".parse().unwrap());
        assert_eq!(status(&headers), Some(Code::Unknown));
        headers.insert("grpc-status", "x".parse().unwrap());
        assert_eq!(status(&headers), Some(Code::Unknown));
        // Found the same way in a larger map (looked up rather than scanned).
        for (i, name) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            headers.insert(name, i.into());
        }
        headers.insert("grpc-status", "5".parse().unwrap());
        assert_eq!(status(&headers), Some(Code::NotFound));
        headers.remove("grpc-status");
        assert_eq!(status(&headers), None);
    }

    #[test]
    fn timeouts_are_read_in_every_unit_and_malformed_ones_ignored() {
        let timeout_of = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-timeout", value.parse().unwrap());
            timeout(&headers)
        };
        assert_eq!(timeout(&HeaderMap::new()), None);
        assert_eq!(timeout_of("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(timeout_of("3M"), Some(Duration::from_secs(180)));
        assert_eq!(timeout_of("4S"), Some(Duration::from_secs(4)));
        assert_eq!(timeout_of("250m"), Some(Duration::from_millis(250)));
        assert_eq!(
            timeout_of("99999999u"),
            Some(Duration::from_micros(99_999_999))
        );
        assert_eq!(timeout_of("7n"), Some(Duration::from_nanos(7)));
        for bad in ["", "m", "5", "5x", "-5m", "1.5S", "123456789m", "5 m"] {
            assert_eq!(timeout_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_statuses_map_as_grpc_specifies() {
        assert_eq!(code_of_http_status(StatusCode::OK), None);
        assert_eq!(
            code_of_http_status(StatusCode::NOT_FOUND),
            Some(Code::Unimplemented)
        );
        assert_eq!(
            code_of_http_status(StatusCode::SERVICE_UNAVAILABLE),
            Some(Code::Unavailable)
        );
        assert_eq!(
            code_of_http_status(StatusCode::IM_A_TEAPOT),
            Some(Code::Unknown)
        );
    }

    #[test]
    fn every_code_has_its_number_as_label() {
        for number in 0..=16 {
            let code = Code::from_i32(number);
            assert_eq!(code_name_and_label(code).1, number.to_string());
        }
        assert_eq!(
            code_name_and_label(Code::DeadlineExceeded).0,
            "DEADLINE_EXCEEDED"
        );
    }

    #[test]
    fn a_grpc_web_status_is_read_however_the_block_is_split() {
        let read = |block: &[u8], split: usize| {
            let mut trailers = WebTrailers::default();
            let (a, b) = block.split_at(split);
            let first = trailers.feed(a, false);
            trailers.feed(b, true).or(first)
        };
        let cases: [(&[u8], Option<Code>); 6] = [
            (b"grpc-status:5\r\ngrpc-message:x\r\n", Some(Code::NotFound)),
            // Bare line feeds, a look-alike key first, the status last with no line end.
            (
                b"grpc-status-details-bin:AAA\ngrpc-message:x\nGRPC-STATUS: 14 ",
                Some(Code::Unavailable),
            ),
            (b"grpc-status:\r\n", Some(Code::Unknown)),
            (b"grpc-status:123\r\n", Some(Code::Unknown)),
            (b"x-grpc-status:5\r\ngrpc-message:grpc-status:5\r\n", None),
            (b"", None),
        ];
        for (block, code) in cases {
            for split in 0..=block.len() {
                assert_eq!(read(block, split), code, "{block:?} split at {split}");
            }
        }
        // Message frames and a trailers frame: the frame's bytes, not the messages', reach
        // the reader, and only messages count.
        let mut stream = frame(b"grpc-status:0");
        stream.extend(frame(b"hi"));
        stream.extend([TRAILERS_FLAG, 0, 0, 0, 13]);
        stream.extend_from_slice(b"grpc-status:7");
        for split in 0..=stream.len() {
            let mut counter = MessageCounter::default();
            let mut trailers = WebTrailers::default();
            let mut found = None;
            let (a, b) = stream.split_at(split);
            let mut started = 0;
            for part in [a, b] {
                started += counter.feed_with(part, |block, end| {
                    found = trailers.feed(block, end).or(found);
                });
            }
            assert_eq!(
                (started, found),
                (2, Some(Code::PermissionDenied)),
                "{split}"
            );
        }
    }

    #[test]
    fn a_stream_whose_flag_is_none_of_grpcs_is_no_grpc_stream_however_split() {
        // A message, compressed or not, and a gRPC-Web trailers frame are gRPC.
        let mut stream = frame(b"a");
        stream.extend([COMPRESSED_FLAG, 0, 0, 0, 1, b'b']);
        stream.extend([TRAILERS_FLAG, 0, 0, 0, 0]);
        let mut counter = MessageCounter::default();
        assert_eq!(counter.feed(&stream), 2);
        assert!(!counter.is_not_grpc());
        // A web page is not, from its first byte (`<`, no flag), even split before it.
        let page = b"<html><body>0000000000";
        for split in 0..=page.len() {
            let mut counter = MessageCounter::default();
            let (a, b) = page.split_at(split);
            assert_eq!(counter.feed(a) + counter.feed(b), 0, "split at {split}");
            assert!(counter.is_not_grpc(), "split at {split}");
        }
        // Nor a stream whose second frame's flag is none of gRPC's.
        let mut counter = MessageCounter::default();
        let mut stream = frame(b"a");
        stream.extend(b"{\"id\": 1}");
        assert_eq!(counter.feed(&stream), 1);
        assert!(counter.is_not_grpc());
    }

    #[test]
    fn a_stream_is_mid_frame_until_its_prefix_and_payload_are_complete() {
        let mut counter = MessageCounter::default();
        assert!(!counter.is_mid_frame());
        let mut stream = frame(b"abc");
        stream.extend(frame(b""));
        let mut started = 0;
        for (at, byte) in stream.iter().enumerate() {
            started += counter.feed(std::slice::from_ref(byte));
            // The first frame ends at byte 8, the second (empty) with its prefix.
            let mid_frame = at != 7 && at + 1 < stream.len();
            assert_eq!(counter.is_mid_frame(), mid_frame, "at {at}");
        }
        assert_eq!(started, 2);
    }

    #[test]
    fn messages_are_counted_whatever_the_frame_boundaries() {
        let mut stream = Vec::new();
        for payload in [&b""[..], b"a", b"hello world", &[7; 300]] {
            stream.extend(frame(payload));
        }
        let mut whole = MessageCounter::default();
        assert_eq!(whole.feed(&stream), 4);
        // Every split point, and byte by byte.
        for split in 0..=stream.len() {
            let mut counter = MessageCounter::default();
            let (a, b) = stream.split_at(split);
            assert_eq!(counter.feed(a) + counter.feed(b), 4, "split at {split}");
        }
        let mut counter = MessageCounter::default();
        let bytewise: u32 = stream.chunks(1).map(|b| counter.feed(b)).sum();
        assert_eq!(bytewise, 4);
    }
}
