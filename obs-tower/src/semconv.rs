//! Stable HTTP semantic-convention values shared by the server and client flavours
//! (<https://opentelemetry.io/docs/specs/semconv/http/http-spans/>).

use std::borrow::Cow;
use std::cell::RefCell;

use http::{HeaderMap, Method, Uri, Version};
use obs_trace::LastSeen;

/// `http.request.method`: the method if it is one of the `known` ones (by default RFC 9110's,
/// PATCH and, since semantic conventions v1.38, QUERY; case-sensitive), else `_OTHER`; plus
/// `http.request.method_original` in that case.
pub(crate) fn method<'m>(
    method: &'m Method,
    known: &KnownMethods,
) -> (&'static str, Option<&'m str>) {
    if let Some(list) = &known.0 {
        return match list.iter().find(|&&m| m == method.as_str()) {
            Some(&m) => (m, None),
            None => (OTHER_METHOD, Some(method.as_str())),
        };
    }
    let known = match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        // The safe method with a body (httpbis-safe-method-w-body): `http` has no constant.
        _ if method.as_str() == "QUERY" => "QUERY",
        _ => return (OTHER_METHOD, Some(method.as_str())),
    };
    (known, None)
}

/// The methods a layer knows, when configured
/// ([`with_known_methods`](crate::HttpLayer::with_known_methods)); `None`: the default
/// set.
#[derive(Clone, Debug, Default)]
pub(crate) struct KnownMethods(Option<Box<[&'static str]>>);

impl KnownMethods {
    /// Exactly `methods`: the semantic conventions' override is "a full override of the
    /// default known methods, not a list of known methods in addition to the defaults".
    pub(crate) fn new(methods: impl IntoIterator<Item = Method>) -> Self {
        let mut list: Vec<&'static str> = Vec::new();
        for method in methods {
            let name = static_method(method.as_str());
            if !list.contains(&name) {
                list.push(name);
            }
        }
        KnownMethods(Some(list.into()))
    }
}

/// A configured method name for the life of the process, as metric labels and span names
/// keep methods: interned, or else leaked. Only configuration comes here (a few names per
/// layer built), never a request's method, so what is kept stays small.
fn static_method(name: &str) -> &'static str {
    match obs_trace::intern(name) {
        Cow::Borrowed(shared) => shared,
        Cow::Owned(copy) => Box::leak(copy.into_boxed_str()),
    }
}

/// The `http.request.method` value for methods outside the known set.
pub(crate) const OTHER_METHOD: &str = "_OTHER";

/// The method part of a span name: `HTTP` stands in for `_OTHER`.
pub(crate) fn span_name_method(method_label: &'static str) -> &'static str {
    if method_label == OTHER_METHOD {
        "HTTP"
    } else {
        method_label
    }
}

/// A span name, `{method}` or `{method} {route}`, recorded as a `&str`: the span layer
/// copies it once, where a `%Display` field would go through the formatter first. With a
/// route it is assembled on the stack (routes are short).
pub(crate) enum SpanName {
    Method(&'static str),
    Stack {
        bytes: [u8; SPAN_NAME_CAPACITY],
        len: usize,
    },
    Heap(String),
}

const SPAN_NAME_CAPACITY: usize = 128;

impl SpanName {
    pub(crate) fn new(method: &'static str, route: Option<&str>) -> SpanName {
        let Some(route) = route else {
            return SpanName::Method(method);
        };
        let len = method.len() + 1 + route.len();
        let mut bytes = [0; SPAN_NAME_CAPACITY];
        let Some(dest) = bytes.get_mut(..len) else {
            return SpanName::Heap(format!("{method} {route}"));
        };
        let (m, rest) = dest.split_at_mut(method.len());
        m.copy_from_slice(method.as_bytes());
        rest[0] = b' ';
        rest[1..].copy_from_slice(route.as_bytes());
        SpanName::Stack { bytes, len }
    }

    /// The name as the span layer keeps it: the bare method, or interned (an app has few
    /// route templates).
    pub(crate) fn to_cow(&self) -> Cow<'static, str> {
        match self {
            SpanName::Method(method) => Cow::Borrowed(method),
            _ => obs_trace::intern(self.as_str()),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            SpanName::Method(method) => method,
            // Two whole `&str`s joined by a space: always valid UTF-8.
            SpanName::Stack { bytes, len } => std::str::from_utf8(&bytes[..*len]).unwrap_or(""),
            SpanName::Heap(name) => name,
        }
    }
}

/// `url.scheme` of an incoming request: what the request line or `:scheme` says (`https`,
/// else `http`), or `unnamed` when the target names none (origin-form HTTP/1.1 targets:
/// `https` only if the layer was told the server terminates TLS; TLS terminated by a proxy
/// is invisible here, only its headers tell, if the server reads them).
pub(crate) fn server_scheme(scheme: Option<&str>, unnamed: &'static str) -> &'static str {
    match scheme {
        Some("https") => "https",
        Some(_) => "http",
        None => unnamed,
    }
}

/// `network.protocol.version`.
pub(crate) fn protocol_version(version: Version) -> Option<&'static str> {
    Some(match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// `server.address` and `server.port` of a request (or of the target of an outgoing one)
/// by the HTTP semantic conventions: from the URI authority (HTTP/2 `:authority`,
/// absolute-form requests), or else the `Host` header. Credentials before an `@` are
/// dropped and IPv6 literals lose their brackets; a port comes only with an address
/// (`Host: :8080` gives neither, nor does any authority that is no valid `host[:port]`,
/// RFC 9110 §7.2: a space in the host, a bracketless IPv6 address, a port past 65535).
/// gRPC rides on HTTP/2, so `obs-tonic`
/// takes its RPC `server.address` and `server.port` from here too.
///
/// ```
/// let uri: http::Uri = "http://[::1]:50051/echo.Echo/Say".parse().unwrap();
/// let headers = http::HeaderMap::new();
/// assert_eq!(obs_tower::server_address(&uri, &headers), (Some("::1"), Some(50051)));
/// ```
pub fn server_address<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> (Option<&'a str>, Option<u16>) {
    authority(uri, headers).map_or((None, None), address_and_port)
}

/// [`server_address`] with the address interned ([`obs_trace::intern`]), as a server span
/// records it. A server sees the same authority on request after request, so each thread
/// remembers the last one it resolved: a repeat costs one comparison instead of a parse
/// and an interner lookup.
///
/// ```
/// let uri: http::Uri = "http://echo.internal:50051/echo.Echo/Say".parse().unwrap();
/// let headers = http::HeaderMap::new();
/// let (address, port) = obs_tower::interned_server_address(&uri, &headers);
/// assert_eq!((address.as_deref(), port), (Some("echo.internal"), Some(50051)));
/// ```
pub fn interned_server_address(
    uri: &Uri,
    headers: &HeaderMap,
) -> (Option<Cow<'static, str>>, Option<u16>) {
    thread_local! {
        static LAST_AUTHORITY: RefCell<LastSeen<(Option<&'static str>, Option<u16>)>> =
            const { RefCell::new(LastSeen::new()) };
    }
    let Some(authority) = authority(uri, headers) else {
        return (None, None);
    };
    if let Some((address, port)) = LastSeen::recall(&LAST_AUTHORITY, authority) {
        return (address.map(Cow::Borrowed), port);
    }
    let (address, port) = address_and_port(authority);
    let address = address.map(obs_trace::intern);
    match &address {
        // A copy (the interner is full) is not remembered: each span needs its own.
        Some(Cow::Owned(_)) => {}
        Some(Cow::Borrowed(shared)) => {
            LastSeen::store(&LAST_AUTHORITY, authority, (Some(shared), port))
        }
        None => LastSeen::store(&LAST_AUTHORITY, authority, (None, port)),
    }
    (address, port)
}

/// The authority a request names: the URI's, else the `Host` header.
fn authority<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    match uri.authority() {
        Some(a) => Some(a.as_str()),
        None => headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok()),
    }
}

/// The host and port of an authority, without its credentials; no port without a host
/// (semconv: `server.port` only "if `server.address` is set"), and neither from an
/// authority that is not a valid `host[:port]` ([`valid_host_port`]): a client's made-up
/// `Host` names no server.
pub(crate) fn address_and_port(authority: &str) -> (Option<&str>, Option<u16>) {
    // Credentials never belong in `server.address`.
    match valid_host_port(split_userinfo(authority).1) {
        Some((host, port)) => (Some(host), port),
        None => (None, None),
    }
}

/// The host (brackets removed) and port of `host_port` if it is a valid `uri-host [":"
/// port]` (RFC 9110 §7.2, RFC 3986 §3.2.2-3): a reg-name or IPv4 address (unreserved
/// characters, sub-delims, `%` and two hex digits), or an IPv6 literal in brackets, with
/// or without a zone (RFC 6874: `[fe80::1%25eth0]`, which a client's URL may hold); a port
/// of decimal digits up to 65535, or empty (no port). `None` otherwise, an empty host
/// included. A valid host costs one table lookup per byte beyond the split.
fn valid_host_port(host_port: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        // An IPv6 literal, and its zone: `%25` then unreserved characters or
        // percent-encodings (IPvFuture, never seen, is refused).
        let (address, zone) = match host.split_once("%25") {
            Some((address, zone)) => (address, Some(zone)),
            None => (host, None),
        };
        address.parse::<std::net::Ipv6Addr>().ok()?;
        if let Some(zone) = zone
            && (zone.is_empty() || !is_zone_id(zone.as_bytes()))
        {
            return None;
        }
        let port = match tail {
            "" => None,
            _ => Some(tail.strip_prefix(':')?),
        };
        (host, port)
    } else {
        let (host, port) = match host_port.bytes().rposition(|b| b == b':') {
            Some(colon) => (&host_port[..colon], Some(&host_port[colon + 1..])),
            None => (host_port, None),
        };
        // A `:` left in the host is a bracketless IPv6 address, or a second port.
        if host.is_empty() || !is_reg_name(host.as_bytes()) {
            return None;
        }
        (host, port)
    };
    let port = match port {
        None | Some("") => None,
        Some(digits) => Some(parse_port(digits.as_bytes())?),
    };
    Some((host, port))
}

/// Whether `host` is an RFC 3986 reg-name (an IPv4 address is one too): unreserved
/// characters, sub-delims, and `%` followed by two hex digits.
fn is_reg_name(host: &[u8]) -> bool {
    let mut rest = host;
    while let [byte, tail @ ..] = rest {
        rest = tail;
        if REG_NAME[usize::from(*byte)] {
            continue;
        }
        match rest {
            [hi, lo, tail @ ..]
                if *byte == b'%' && hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() =>
            {
                rest = tail;
            }
            _ => return false,
        }
    }
    true
}

/// Whether `zone` is an RFC 6874 `ZoneID`: unreserved characters and percent-encodings (a
/// reg-name without sub-delims).
fn is_zone_id(zone: &[u8]) -> bool {
    is_reg_name(zone) && !zone.iter().any(|b| SUB_DELIMS.contains(b))
}

/// RFC 3986 `sub-delims`.
const SUB_DELIMS: &[u8] = b"!$&'()*+,;=";

/// The bytes of a reg-name besides percent-encodings (RFC 3986: `unreserved` and
/// `sub-delims`).
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let allowed = b"-._~!$&'()*+,;=";
    let mut i = 0;
    while i < allowed.len() {
        table[allowed[i] as usize] = true;
        i += 1;
    }
    let mut byte = 0;
    while byte < 256 {
        if (byte as u8).is_ascii_alphanumeric() {
            table[byte] = true;
        }
        byte += 1;
    }
    table
};

/// A port: 1 to 5 decimal digits, at most 65535 (`str::parse` would also take a `+`).
fn parse_port(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 {
        return None;
    }
    let mut port: u32 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        port = port * 10 + u32::from(digit - b'0');
    }
    u16::try_from(port).ok()
}

/// The credentials (`user:password`) of an authority, if any, and the `host:port` after
/// them.
fn split_userinfo(authority: &str) -> (Option<&str>, &str) {
    // A byte loop, not `rsplit_once`: an authority is short, and `memrchr`'s setup costs
    // more than the loop.
    match authority.bytes().rposition(|b| b == b'@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    }
}

/// The host (empty if none) and port of `host:port`, `host`, `[v6]:port` or `[v6]`.
pub(crate) fn split_host_port(host_port: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host_port.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => ("", None),
        };
    }
    match host_port.bytes().rposition(|b| b == b':') {
        Some(colon) => (&host_port[..colon], host_port[colon + 1..].parse().ok()),
        None => (host_port, None),
    }
}

/// The value that replaces sensitive data.
pub(crate) const REDACTED: &str = "REDACTED";

/// Query parameters whose values are credentials (semconv `url.query` and `url.full`, the
/// list of v1.42 and later, AWS Signature Version 4's among them): always redacted.
pub(crate) const DEFAULT_SENSITIVE_QUERY_PARAMS: [&str; 7] = [
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "sig",
    "X-Goog-Signature",
];

/// The query parameters to redact: the semconv defaults plus the configured ones.
#[derive(Clone, Debug)]
pub(crate) struct SensitiveQueryParams(Vec<String>);

impl Default for SensitiveQueryParams {
    fn default() -> Self {
        SensitiveQueryParams(
            DEFAULT_SENSITIVE_QUERY_PARAMS
                .iter()
                .map(|&p| p.to_owned())
                .collect(),
        )
    }
}

impl SensitiveQueryParams {
    pub(crate) fn extend<P: Into<String>>(&mut self, names: impl IntoIterator<Item = P>) {
        for name in names {
            let name = name.into();
            if !self.0.contains(&name) {
                self.0.push(name);
            }
        }
    }

    pub(crate) fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// The query with the value of every parameter named in `sensitive` replaced by
/// `REDACTED`; borrowed when nothing needs redacting. Keys are compared percent-decoded, as
/// the application reads them (`%73ig` is `sig`).
pub(crate) fn redact_query<'a, S: AsRef<str>>(
    query: &'a str,
    sensitive: &[S],
) -> std::borrow::Cow<'a, str> {
    let is_sensitive = |pair: &str| {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        is_sensitive_key(key.as_bytes(), sensitive)
    };
    // The common case, nothing to redact, found with byte splits (cheaper than `str`
    // pattern searches): a key runs to the first `=` of its pair.
    let has_sensitive = query.as_bytes().split(|&b| b == b'&').any(|pair| {
        let key = pair.split(|&b| b == b'=').next().unwrap_or(pair);
        is_sensitive_key(key, sensitive)
    });
    if !has_sensitive {
        return std::borrow::Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if is_sensitive(pair) => {
                out.push_str(key);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Whether the raw query `key` is one of the `sensitive` names. Only a key with a `%` pays
/// for decoding, done as it is compared, without a copy.
fn is_sensitive_key<S: AsRef<str>>(key: &[u8], sensitive: &[S]) -> bool {
    if key.contains(&b'%') {
        sensitive
            .iter()
            .any(|s| percent_decodes_to(key, s.as_ref().as_bytes()))
    } else {
        sensitive.iter().any(|s| s.as_ref().as_bytes() == key)
    }
}

/// Whether `encoded`, percent-decoded, is `decoded`. A `%` not followed by two hex digits
/// stands for itself, as in WHATWG URL parsing.
fn percent_decodes_to(mut encoded: &[u8], decoded: &[u8]) -> bool {
    let hex = |digit: u8| (digit as char).to_digit(16).map(|d| d as u8);
    let mut expected = decoded.iter();
    loop {
        let (byte, rest) = match encoded {
            [] => return expected.next().is_none(),
            [b'%', hi, lo, rest @ ..] => match (hex(*hi), hex(*lo)) {
                (Some(hi), Some(lo)) => ((hi << 4) | lo, rest),
                _ => (b'%', &encoded[1..]),
            },
            [byte, rest @ ..] => (*byte, rest),
        };
        if expected.next() != Some(&byte) {
            return false;
        }
        encoded = rest;
    }
}

/// `url.full` for a client request: credentials in the authority become
/// `REDACTED:REDACTED`, sensitive query values `REDACTED`. A relative URI is completed from
/// the `Host` header. With no host from either, or one that is not a valid `host[:port]`
/// ([`valid_host_port`], as for `server.address`: `Host: exa mple.com`, a port past
/// 65535), there is no absolute URL to give (the attribute's format, RFC 3986), and
/// `http:///path` would name no host (RFC 9110 forbids an empty one): `None`, the attribute
/// is left out rather than invented.
pub(crate) fn full_url<S: AsRef<str>>(
    uri: &Uri,
    headers: &HeaderMap,
    sensitive: &[S],
) -> Option<String> {
    let scheme = uri.scheme_str().unwrap_or("http");
    let (credentials, host_port) = split_userinfo(authority(uri, headers)?);
    valid_host_port(host_port)?;
    let mut out = String::with_capacity(uri.path().len() + 64);
    out.push_str(scheme);
    out.push_str("://");
    if credentials.is_some() {
        out.push_str(REDACTED);
        out.push(':');
        out.push_str(REDACTED);
        out.push('@');
    }
    out.push_str(host_port);
    out.push_str(uri.path());
    if let Some(query) = uri.query() {
        out.push('?');
        out.push_str(&redact_query(query, sensitive));
    }
    Some(out)
}

/// The default port of a URI scheme, for a client's `server.port`.
pub(crate) fn default_port(scheme: Option<&str>) -> Option<u16> {
    match scheme {
        Some("https") | Some("wss") => Some(443),
        Some("http") | Some("ws") | None => Some(80),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_pass_and_others_become_other() {
        let default = KnownMethods::default();
        assert_eq!(method(&Method::GET, &default), ("GET", None));
        assert_eq!(method(&Method::PATCH, &default), ("PATCH", None));
        let query = Method::from_bytes(b"QUERY").unwrap();
        assert_eq!(method(&query, &default), ("QUERY", None));
        let lower_query = Method::from_bytes(b"query").unwrap();
        assert_eq!(method(&lower_query, &default), ("_OTHER", Some("query")));
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method(&custom, &default), ("_OTHER", Some("PURGE")));
        // Methods are case-sensitive: `get` is not `GET`.
        let lower = Method::from_bytes(b"get").unwrap();
        assert_eq!(method(&lower, &default), ("_OTHER", Some("get")));
        assert_eq!(span_name_method("_OTHER"), "HTTP");
    }

    #[test]
    fn span_names_are_the_method_and_the_route() {
        assert_eq!(SpanName::new("GET", None).as_str(), "GET");
        assert_eq!(
            SpanName::new("POST", Some("/users/{id}")).as_str(),
            "POST /users/{id}"
        );
        let long = format!("/{}", "a".repeat(SPAN_NAME_CAPACITY));
        assert_eq!(
            SpanName::new("GET", Some(&long)).as_str(),
            format!("GET {long}")
        );
    }

    #[test]
    fn host_and_port_come_from_authority_or_host_header() {
        // (URI, `Host` header, expected address and port)
        type Case<'a> = (&'a str, Option<&'a str>, (Option<&'a str>, Option<u16>));
        let cases: [Case<'_>; 10] = [
            (
                "http://user:pw@example.com:8080/x",
                None,
                (Some("example.com"), Some(8080)),
            ),
            ("/x", None, (None, None)),
            ("/x", Some("[::1]:9000"), (Some("::1"), Some(9000))),
            ("/x", Some("example.org"), (Some("example.org"), None)),
            ("/x", Some("[::1]"), (Some("::1"), None)),
            ("/x", Some("u@[]:80"), (None, None)),
            (
                "http://u:p@[2001:db8::1]:443/x",
                Some("[::1]"),
                (Some("2001:db8::1"), Some(443)),
            ),
            ("/x", Some("example.org:notaport"), (None, None)),
            (
                "/x",
                Some("example.org:8080"),
                (Some("example.org"), Some(8080)),
            ),
            // No port without an address.
            ("/x", Some(":8080"), (None, None)),
        ];
        // Twice through, so that the interned flavour answers from its memory of the last
        // authority as well as afresh, alternating authorities included.
        for (uri, host, expected) in cases.iter().chain(&cases) {
            let uri: Uri = uri.parse().unwrap();
            let mut headers = HeaderMap::new();
            if let Some(host) = host {
                headers.insert(http::header::HOST, host.parse().unwrap());
            }
            assert_eq!(server_address(&uri, &headers), *expected, "{uri} {host:?}");
            for _ in 0..2 {
                let (address, port) = interned_server_address(&uri, &headers);
                assert_eq!((address.as_deref(), port), *expected, "{uri} {host:?}");
            }
        }
    }

    /// RFC 9110 §7.2 (`Host = uri-host [ ":" port ]`) and RFC 3986 §3.2.2-3: a host is a
    /// reg-name, an IPv4 address or a bracketed IPv6 literal, a port digits only. A `Host`
    /// that is not one says nothing trustworthy about the server: neither `server.address`
    /// nor `server.port` is recorded from it.
    #[test]
    fn invalid_hosts_give_neither_address_nor_port() {
        // (`Host` header, expected address and port)
        type Case<'a> = (&'a str, (Option<&'a str>, Option<u16>));
        let cases: &[Case<'_>] = &[
            ("exa mple.com:99999", (None, None)),
            ("exa mple.com", (None, None)),
            ("example.com:99999", (None, None)),
            ("example.com:65536", (None, None)),
            ("example.com:+80", (None, None)),
            ("example.com:-1", (None, None)),
            ("example.com:8 0", (None, None)),
            ("example.org:notaport", (None, None)),
            ("example.com:80:80", (None, None)),
            (":80", (None, None)),
            ("", (None, None)),
            // Bracketless IPv6.
            ("::1", (None, None)),
            ("2001:db8::1", (None, None)),
            ("2001:db8::1:8080", (None, None)),
            // Brackets that hold no IPv6 address, or are not closed, or trail something.
            ("[::1", (None, None)),
            ("[example.com]:80", (None, None)),
            ("[]:80", (None, None)),
            ("[::1]junk", (None, None)),
            ("[::1]:99999", (None, None)),
            ("[::1]:x", (None, None)),
            // Characters no host has; a `%` that encodes nothing.
            ("exa\"mple.com", (None, None)),
            ("example.com/path", (None, None)),
            ("exa%4mple.com", (None, None)),
            ("example.com%", (None, None)),
            // Valid ones.
            ("example.com:65535", (Some("example.com"), Some(65535))),
            ("example.com:0", (Some("example.com"), Some(0))),
            ("example.com:", (Some("example.com"), None)),
            ("EXAMPLE.com:8080", (Some("EXAMPLE.com"), Some(8080))),
            ("host_name.internal", (Some("host_name.internal"), None)),
            ("192.0.2.1:443", (Some("192.0.2.1"), Some(443))),
            (
                "xn--bcher-kva.example",
                (Some("xn--bcher-kva.example"), None),
            ),
            ("exa%2Dmple.com", (Some("exa%2Dmple.com"), None)),
            ("[2001:db8::1]:8080", (Some("2001:db8::1"), Some(8080))),
            ("[::ffff:192.0.2.1]", (Some("::ffff:192.0.2.1"), None)),
            ("[::1]:", (Some("::1"), None)),
            // RFC 6874 zones: `%25` and unreserved characters or percent-encodings.
            (
                "[fe80::1%25eth0]:8080",
                (Some("fe80::1%25eth0"), Some(8080)),
            ),
            ("[fe80::1%25en%2D1]", (Some("fe80::1%25en%2D1"), None)),
            ("[fe80::1%25]", (None, None)),
            ("[fe80::1%eth0]", (None, None)),
            ("[fe80::1%25eth;0]", (None, None)),
            ("[example%25eth0]", (None, None)),
        ];
        let uri = Uri::from_static("/x");
        // Twice through: afresh, then (interned) from the memory of the last authority.
        for (host, expected) in cases.iter().chain(cases) {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::HOST, host.parse().unwrap());
            assert_eq!(server_address(&uri, &headers), *expected, "{host:?}");
            let (address, port) = interned_server_address(&uri, &headers);
            assert_eq!((address.as_deref(), port), *expected, "{host:?}");
        }
    }

    #[test]
    fn sensitive_query_values_are_redacted_and_the_rest_kept() {
        let d = DEFAULT_SENSITIVE_QUERY_PARAMS;
        assert!(matches!(
            redact_query("a=1&b=2", &d),
            std::borrow::Cow::Borrowed("a=1&b=2")
        ));
        assert_eq!(
            redact_query(
                "a=1&sig=abc&Signature=x&AWSAccessKeyId=k&X-Goog-Signature=g&b",
                &d
            ),
            "a=1&sig=REDACTED&Signature=REDACTED&AWSAccessKeyId=REDACTED&X-Goog-Signature=REDACTED&b"
        );
        // AWS Signature Version 4's presigned URLs (semconv v1.42 and later).
        assert_eq!(
            redact_query(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101&X-Amz-Security-Token=t&X-Amz-Signature=s",
                &d
            ),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED"
        );
        // Names match exactly, and a parameter without a value has nothing to hide.
        assert_eq!(redact_query("SIG=1&sig", &d), "SIG=1&sig");
        // Keys are compared decoded, and keep their encoding in the output.
        assert_eq!(
            redact_query("%73ig=4&Sig%6eature=5&%2=6&s%69g%=7&a%2Db=8", &d),
            "%73ig=REDACTED&Sig%6eature=REDACTED&%2=6&s%69g%=7&a%2Db=8"
        );
        assert_eq!(redact_query("a%2Db=8", &["a-b"]), "a%2Db=REDACTED");
        assert_eq!(redact_query("%25=1", &["%"]), "%25=REDACTED");
        assert_eq!(redact_query("%=1", &["%"]), "%=REDACTED");
        assert_eq!(
            redact_query("token=t&x=1", &["token"]),
            "token=REDACTED&x=1"
        );
    }

    #[test]
    fn full_url_hides_credentials() {
        let headers = HeaderMap::new();
        let uri: Uri = "https://alice:secret@example.com:8443/p?sig=1&q=2"
            .parse()
            .unwrap();
        assert_eq!(
            full_url(&uri, &headers, &DEFAULT_SENSITIVE_QUERY_PARAMS).as_deref(),
            Some("https://REDACTED:REDACTED@example.com:8443/p?sig=REDACTED&q=2")
        );
        let rel: Uri = "/a?b=c".parse().unwrap();
        assert_eq!(
            full_url(&rel, &headers, &DEFAULT_SENSITIVE_QUERY_PARAMS),
            None
        );
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, "svc:80".parse().unwrap());
        assert_eq!(
            full_url(&rel, &headers, &DEFAULT_SENSITIVE_QUERY_PARAMS).as_deref(),
            Some("http://svc:80/a?b=c")
        );
        headers.insert(http::header::HOST, ":80".parse().unwrap());
        assert_eq!(
            full_url(&rel, &headers, &DEFAULT_SENSITIVE_QUERY_PARAMS),
            None
        );
    }

    /// `url.full` is an absolute URL (RFC 3986) naming the server `server.address` and
    /// `server.port` name: from an authority that is no valid `host[:port]` (an invalid
    /// `Host` completing a relative URI, a port `http::Uri` takes but no server has),
    /// neither, where the URL was recorded with the invalid host.
    #[test]
    fn full_url_and_server_address_agree_on_odd_authorities() {
        // (URI, `Host` header, expected `url.full`, expected address and port)
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            (Option<&'a str>, Option<u16>),
        );
        let cases: &[Case<'_>] = &[
            // IPv6 literals keep their brackets in the URL, lose them in the address.
            (
                "http://[::1]:8080/x",
                None,
                Some("http://[::1]:8080/x"),
                (Some("::1"), Some(8080)),
            ),
            (
                "https://[2001:db8::1]/x",
                None,
                Some("https://[2001:db8::1]/x"),
                (Some("2001:db8::1"), None),
            ),
            (
                "http://[fe80::1%25eth0]:80/x",
                None,
                Some("http://[fe80::1%25eth0]:80/x"),
                (Some("fe80::1%25eth0"), Some(80)),
            ),
            // Any userinfo is credentials: redacted whole.
            (
                "http://alice@host/x",
                None,
                Some("http://REDACTED:REDACTED@host/x"),
                (Some("host"), None),
            ),
            (
                "http://a@b:c@host:80/x?sig=s&q=1",
                None,
                Some("http://REDACTED:REDACTED@host:80/x?sig=REDACTED&q=1"),
                (Some("host"), Some(80)),
            ),
            (
                "/x",
                Some("u:p@[::1]:9000"),
                Some("http://REDACTED:REDACTED@[::1]:9000/x"),
                (Some("::1"), Some(9000)),
            ),
            // Invalid authorities: neither URL nor address.
            ("http://host:99999/x", None, None, (None, None)),
            ("http://host:+80/x", None, None, (None, None)),
            ("/x", Some("exa mple.com"), None, (None, None)),
            ("/x", Some("::1"), None, (None, None)),
            ("/x", Some("host:65536"), None, (None, None)),
            ("/x", Some("[fe80::1%eth0]"), None, (None, None)),
        ];
        for (uri, host, url, address) in cases {
            let uri: Uri = uri.parse().unwrap();
            let mut headers = HeaderMap::new();
            if let Some(host) = host {
                headers.insert(http::header::HOST, host.parse().unwrap());
            }
            assert_eq!(
                full_url(&uri, &headers, &DEFAULT_SENSITIVE_QUERY_PARAMS).as_deref(),
                *url,
                "{uri} {host:?}"
            );
            assert_eq!(server_address(&uri, &headers), *address, "{uri} {host:?}");
        }
    }
}
