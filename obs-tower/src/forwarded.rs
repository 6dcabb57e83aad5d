//! Proxy headers: what a reverse proxy says about the request it forwarded, read only by a
//! server that opted in
//! ([`with_forwarded_headers`](crate::HttpServerLayer::with_forwarded_headers)).
//!
//! The HTTP semantic conventions
//! (<https://opentelemetry.io/docs/specs/semconv/http/http-spans/#http-server>) take the
//! original request's `server.address` and `server.port`, `url.scheme` and
//! `client.address` from `Forwarded` (RFC 7239) first, then from the de facto
//! `X-Forwarded-Host`, `X-Forwarded-Proto` and `X-Forwarded-For`. Proxies append to these
//! headers, so only the first line's first element (or entry) is read: the one about the
//! client's request, written by the proxy nearest the client, if that proxy overwrote what
//! the client sent (a client can send these headers too, and an appending proxy keeps its
//! values first). A value that does not parse is ignored and the next source is used.

use std::borrow::Cow;
use std::net::IpAddr;

use http::{HeaderMap, HeaderName, header};

use crate::metrics::SCHEMES;
use crate::semconv;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Optional whitespace around list elements (RFC 9110 §5.6.1) and, tolerated, around `;`.
const OWS: [char; 2] = [' ', '\t'];

/// The proxy headers of one request: `Forwarded` parsed once, an `X-Forwarded-*` header
/// looked up only when `Forwarded` does not say.
#[derive(Debug)]
pub(crate) struct ProxyHeaders<'a> {
    headers: &'a HeaderMap,
    forwarded: Element<'a>,
}

impl<'a> ProxyHeaders<'a> {
    /// Reads the first element of `Forwarded` (a malformed one counts as none).
    pub(crate) fn new(headers: &'a HeaderMap) -> Self {
        let forwarded = headers
            .get(header::FORWARDED)
            .and_then(|line| line.to_str().ok())
            .and_then(first_element)
            .unwrap_or_default();
        ProxyHeaders { headers, forwarded }
    }

    /// `url.scheme` of the original request: `Forwarded` `proto=`, else
    /// `X-Forwarded-Proto`. Only `http` and `https`: it is a metric label, its values stay
    /// bounded.
    pub(crate) fn scheme(&self) -> Option<&'static str> {
        self.first_of(
            self.forwarded.proto.as_deref(),
            &X_FORWARDED_PROTO,
            |proto| SCHEMES.into_iter().find(|s| proto.eq_ignore_ascii_case(s)),
        )
    }

    /// `server.address` and `server.port` of the original request: `Forwarded` `host=`,
    /// else `X-Forwarded-Host`, split as the `Host` header is. Copied: the value is the
    /// client's to choose, so it is not interned.
    pub(crate) fn server_address(&self) -> Option<(String, Option<u16>)> {
        self.first_of(
            self.forwarded.host.as_deref(),
            &X_FORWARDED_HOST,
            |authority| match semconv::address_and_port(authority) {
                (Some(address), port) => Some((address.to_owned(), port)),
                (None, _) => None,
            },
        )
    }

    /// `client.address`, the original client's: `Forwarded` `for=`, else the first
    /// `X-Forwarded-For` entry. A string, not an IP: a proxy may name the client by host
    /// name. An IPv4-mapped IPv6 address (`::ffff:192.0.2.7`, what a proxy listening on
    /// `[::]` sees of an IPv4 client) is the IPv4 one, as for the connection's peer: one
    /// client, one value.
    pub(crate) fn client_address(&self) -> Option<String> {
        self.first_of(self.forwarded.r#for.as_deref(), &X_FORWARDED_FOR, |node| {
            node_host(node).map(|host| match host.parse::<IpAddr>() {
                Ok(ip @ IpAddr::V6(_)) if ip.to_canonical().is_ipv4() => {
                    ip.to_canonical().to_string()
                }
                _ => host.to_owned(),
            })
        })
    }

    /// `read` of the `forwarded` parameter's value, else of the first entry of
    /// `x_forwarded` (looked up only then).
    fn first_of<T>(
        &self,
        forwarded: Option<&str>,
        x_forwarded: &HeaderName,
        read: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        forwarded
            .and_then(&read)
            .or_else(|| first_entry(self.headers, x_forwarded).and_then(read))
    }
}

/// The first comma-separated entry of the first `name` line, trimmed.
fn first_entry<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    let line = headers.get(name)?.to_str().ok()?;
    line.split(',').next().map(|entry| entry.trim_matches(OWS))
}

/// The address of a node: a `for=` value (RFC 7239 §6: `192.0.2.60`, `"[2001:db8::1]:4711"`,
/// `unknown`, `_hidden`) or an `X-Forwarded-For` entry (an IPv6 address there often has
/// neither brackets nor port), without its port. `unknown` and obfuscated identifiers
/// (RFC 7239 §6.2, §6.3) name no address.
fn node_host(node: &str) -> Option<&str> {
    let host = if node.parse::<IpAddr>().is_ok() {
        node
    } else {
        semconv::split_host_port(node).0
    };
    let unnamed = host.is_empty() || host.eq_ignore_ascii_case("unknown") || host.starts_with('_');
    (!unnamed && !host.contains(OWS)).then_some(host)
}

/// The parameters of a `Forwarded` element this crate reads, unquoted (RFC 7239 §5).
#[derive(Debug, Default, PartialEq)]
struct Element<'a> {
    r#for: Option<Cow<'a, str>>,
    host: Option<Cow<'a, str>>,
    proto: Option<Cow<'a, str>>,
}

/// The first element of a `Forwarded` line (RFC 7239 §4), or `None` if it is malformed or
/// there is none. Empty list elements and empty pairs are skipped (the grammar allows
/// them); spaces around `;` are tolerated; a parameter given twice makes the element
/// malformed (§4: "MUST NOT occur more than once"). Later elements are not read.
fn first_element(line: &str) -> Option<Element<'_>> {
    let mut element = Element::default();
    let mut has_pair = false;
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches(OWS);
        match rest.as_bytes().first() {
            None => break,
            Some(b',') if has_pair => break,
            Some(b',' | b';') => {
                rest = &rest[1..];
                continue;
            }
            Some(_) => {}
        }
        let (name, after) = token(rest)?;
        let (value, after) = value(after.strip_prefix('=')?)?;
        let slot = if name.eq_ignore_ascii_case("for") {
            &mut element.r#for
        } else if name.eq_ignore_ascii_case("host") {
            &mut element.host
        } else if name.eq_ignore_ascii_case("proto") {
            &mut element.proto
        } else {
            // `by` and extensions (§5.5): not needed here.
            &mut None
        };
        if slot.replace(value).is_some() {
            return None;
        }
        has_pair = true;
        rest = after.trim_start_matches(OWS);
        if !(rest.is_empty() || rest.starts_with([',', ';'])) {
            return None;
        }
    }
    has_pair.then_some(element)
}

/// A token (RFC 9110 §5.6.2) at the start of `s`, and the rest.
fn token(s: &str) -> Option<(&str, &str)> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    let end = s.bytes().position(|b| !is_tchar(b)).unwrap_or(s.len());
    (end > 0).then(|| s.split_at(end))
}

/// A parameter value at the start of `s`, a token or a quoted-string (RFC 9110 §5.6.4,
/// quotes removed, `\x` read as `x`), and the rest. Copied only if it has escapes.
fn value(s: &str) -> Option<(Cow<'_, str>, &str)> {
    let Some(quoted) = s.strip_prefix('"') else {
        return token(s).map(|(value, rest)| (Cow::Borrowed(value), rest));
    };
    let mut unescaped: Option<String> = None;
    // The start of the text since the last escape. Slices start and end next to ASCII
    // bytes (`"`, `\` and what follows it): always character boundaries.
    let mut run = 0;
    let mut bytes = quoted.bytes().enumerate();
    while let Some((i, b)) = bytes.next() {
        match b {
            b'"' => {
                let value = match unescaped {
                    None => Cow::Borrowed(&quoted[..i]),
                    Some(mut unescaped) => {
                        unescaped.push_str(&quoted[run..i]);
                        Cow::Owned(unescaped)
                    }
                };
                return Some((value, &quoted[i + 1..]));
            }
            b'\\' => {
                unescaped
                    .get_or_insert_with(String::new)
                    .push_str(&quoted[run..i]);
                // The escaped character starts the next run; a `\` at the end leaves the
                // string unterminated.
                let (next, _) = bytes.next()?;
                run = next;
            }
            _ => {}
        }
    }
    // No closing quote.
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    /// Header lines, `(name, value)`, in order.
    type Lines<'a> = &'a [(&'a str, &'a str)];

    /// A request's headers.
    fn headers(lines: Lines<'_>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            headers.append(name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn client_address_is_the_first_for_else_the_first_x_forwarded_for() {
        let cases: &[(Lines<'_>, Option<&str>)] = &[
            (&[], None),
            (
                &[("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")],
                Some("192.0.2.60"),
            ),
            (
                &[("forwarded", r#"For="[2001:db8:cafe::17]:4711""#)],
                Some("2001:db8:cafe::17"),
            ),
            (
                &[("forwarded", r#"for="[2001:db8::1]""#)],
                Some("2001:db8::1"),
            ),
            (
                &[("forwarded", r#"for="192.0.2.60:4711""#)],
                Some("192.0.2.60"),
            ),
            // IPv4-mapped IPv6: the IPv4 address, bracketed or not.
            (
                &[("forwarded", r#"for="[::ffff:192.0.2.7]:4711""#)],
                Some("192.0.2.7"),
            ),
            (&[("x-forwarded-for", "::FFFF:c000:207")], Some("192.0.2.7")),
            // Escapes are read, quotes removed.
            (
                &[("forwarded", r#"for="[2001:db8::\1]""#)],
                Some("2001:db8::1"),
            ),
            // The first element: the original client's (proxies append).
            (
                &[("forwarded", "for=192.0.2.43, for=198.51.100.17")],
                Some("192.0.2.43"),
            ),
            (
                &[("forwarded", "for=192.0.2.43,for=198.51.100.17;proto=https")],
                Some("192.0.2.43"),
            ),
            // Empty elements and pairs are skipped, spaces around `;` and `,` tolerated.
            (
                &[(
                    "forwarded",
                    " , ;, for=192.0.2.1 ; ;proto=https , for=198.51.100.1",
                )],
                Some("192.0.2.1"),
            ),
            // Unknown and obfuscated nodes name no address (RFC 7239 §6.2, §6.3).
            (&[("forwarded", "for=unknown")], None),
            (
                &[
                    ("forwarded", "for=UNKNOWN"),
                    ("x-forwarded-for", "198.51.100.1"),
                ],
                Some("198.51.100.1"),
            ),
            (
                &[
                    ("forwarded", "for=_hidden"),
                    ("x-forwarded-for", "198.51.100.1"),
                ],
                Some("198.51.100.1"),
            ),
            (&[("forwarded", r#"for="_gazonk:_port""#)], None),
            (&[("forwarded", r#"for="[_x]""#)], None),
            (
                &[
                    ("forwarded", r#"for="""#),
                    ("x-forwarded-for", "198.51.100.1"),
                ],
                Some("198.51.100.1"),
            ),
            // A malformed element is ignored whole.
            (
                &[
                    ("forwarded", r#"for="192.0.2.43"#),
                    ("x-forwarded-for", "198.51.100.2"),
                ],
                Some("198.51.100.2"),
            ),
            (&[("forwarded", r#"for="192.0.2.43\"#)], None),
            (&[("forwarded", r#"for="192.0.2.43"x"#)], None),
            (&[("forwarded", "for=192.0.2.43 junk")], None),
            (&[("forwarded", "for = 192.0.2.43")], None),
            (&[("forwarded", "for=")], None),
            (&[("forwarded", "=192.0.2.43")], None),
            (&[("forwarded", "for=192.0.2.43;FOR=198.51.100.1")], None),
            // `:` and `[]` are not token characters: a port or IPv6 address must be quoted.
            (&[("forwarded", "for=192.0.2.43:4711")], None),
            (&[("forwarded", "for=[2001:db8::1]")], None),
            // Only later elements malformed: not read.
            (
                &[("forwarded", r#"for=192.0.2.43, for="unterminated"#)],
                Some("192.0.2.43"),
            ),
            // The first line only.
            (
                &[
                    ("forwarded", "for=192.0.2.1"),
                    ("forwarded", "for=198.51.100.1"),
                ],
                Some("192.0.2.1"),
            ),
            (
                &[
                    ("forwarded", "for=unknown"),
                    ("forwarded", "for=198.51.100.1"),
                ],
                None,
            ),
            // An element without `for`: X-Forwarded-For.
            (
                &[
                    ("forwarded", "by=203.0.113.43;proto=https"),
                    ("x-forwarded-for", "198.51.100.1"),
                ],
                Some("198.51.100.1"),
            ),
            // Forwarded first.
            (
                &[
                    ("x-forwarded-for", "198.51.100.1"),
                    ("forwarded", "for=192.0.2.1"),
                ],
                Some("192.0.2.1"),
            ),
            (
                &[("x-forwarded-for", "198.51.100.1, 203.0.113.5")],
                Some("198.51.100.1"),
            ),
            (
                &[("x-forwarded-for", " 2001:db8::1 ,203.0.113.5")],
                Some("2001:db8::1"),
            ),
            (
                &[("x-forwarded-for", "[2001:db8::1]:4711")],
                Some("2001:db8::1"),
            ),
            (&[("x-forwarded-for", "192.0.2.1:4711")], Some("192.0.2.1")),
            (
                &[("x-forwarded-for", "client.example")],
                Some("client.example"),
            ),
            (&[("x-forwarded-for", "unknown, 198.51.100.1")], None),
            (&[("x-forwarded-for", ", 198.51.100.1")], None),
            (&[("x-forwarded-for", "")], None),
            (&[("x-forwarded-for", "192.0.2.1 198.51.100.1")], None),
            (&[("x-forwarded-for", "[2001:db8::1")], None),
            (
                &[
                    ("x-forwarded-for", "192.0.2.1"),
                    ("x-forwarded-for", "198.51.100.1"),
                ],
                Some("192.0.2.1"),
            ),
        ];
        for (lines, expected) in cases {
            let headers = headers(lines);
            let client = ProxyHeaders::new(&headers).client_address();
            assert_eq!(client.as_deref(), *expected, "{lines:?}");
        }
    }

    #[test]
    fn server_address_is_the_first_host_else_the_first_x_forwarded_host() {
        type Case<'a> = (Lines<'a>, Option<(&'a str, Option<u16>)>);
        let cases: &[Case<'_>] = &[
            (&[], None),
            (
                &[("forwarded", "host=example.com")],
                Some(("example.com", None)),
            ),
            (
                &[(
                    "forwarded",
                    r#"for=192.0.2.43;Host="example.com:8443";proto=https"#,
                )],
                Some(("example.com", Some(8443))),
            ),
            (
                &[("forwarded", r#"host="[2001:db8::1]:8443""#)],
                Some(("2001:db8::1", Some(8443))),
            ),
            (
                &[("forwarded", r#"host="a\.example""#)],
                Some(("a.example", None)),
            ),
            // Credentials never belong in `server.address`.
            (
                &[("forwarded", r#"host="user@example.com:80""#)],
                Some(("example.com", Some(80))),
            ),
            (
                &[("forwarded", "host=example.com, host=proxy.internal")],
                Some(("example.com", None)),
            ),
            // No host, no address: the next source.
            (
                &[
                    ("forwarded", r#"host="""#),
                    ("x-forwarded-host", "public.example"),
                ],
                Some(("public.example", None)),
            ),
            (&[("forwarded", r#"host=":8443""#)], None),
            (
                &[
                    ("forwarded", r#"host="example.com"#),
                    ("x-forwarded-host", "public.example"),
                ],
                Some(("public.example", None)),
            ),
            (
                &[("forwarded", "host=example.com;host=other.example")],
                None,
            ),
            (
                &[
                    ("forwarded", "for=192.0.2.43"),
                    ("x-forwarded-host", "public.example"),
                ],
                Some(("public.example", None)),
            ),
            (
                &[
                    ("x-forwarded-host", "public.example"),
                    ("forwarded", "host=example.com"),
                ],
                Some(("example.com", None)),
            ),
            (
                &[("x-forwarded-host", "public.example:8443, proxy.internal")],
                Some(("public.example", Some(8443))),
            ),
            (
                &[("x-forwarded-host", " [::1]:80")],
                Some(("::1", Some(80))),
            ),
            // Split and checked as `Host` is: an invalid one is no address (the request's
            // own is used instead).
            (&[("x-forwarded-host", "public.example:notaport")], None),
            (&[("x-forwarded-host", "::1")], None),
            (&[("x-forwarded-host", "")], None),
            (&[("x-forwarded-host", ", public.example")], None),
        ];
        for (lines, expected) in cases {
            let headers = headers(lines);
            let server = ProxyHeaders::new(&headers).server_address();
            let server = server.as_ref().map(|(a, p)| (a.as_str(), *p));
            assert_eq!(server, *expected, "{lines:?}");
        }
    }

    #[test]
    fn scheme_is_the_first_proto_else_the_first_x_forwarded_proto_if_http_or_https() {
        let cases: &[(Lines<'_>, Option<&str>)] = &[
            (&[], None),
            (&[("forwarded", "proto=https")], Some("https")),
            (&[("forwarded", "Proto=HTTP")], Some("http")),
            (&[("forwarded", r#"proto="http\s""#)], Some("https")),
            (&[("forwarded", "proto=https, proto=http")], Some("https")),
            // Bounded: anything else is ignored.
            (&[("forwarded", "proto=ftp")], None),
            (
                &[("forwarded", "proto=ftp"), ("x-forwarded-proto", "https")],
                Some("https"),
            ),
            (
                &[
                    ("forwarded", r#"proto="https"#),
                    ("x-forwarded-proto", "http"),
                ],
                Some("http"),
            ),
            (
                &[("x-forwarded-proto", "http"), ("forwarded", "proto=https")],
                Some("https"),
            ),
            (&[("x-forwarded-proto", "https, http")], Some("https")),
            (&[("x-forwarded-proto", " HTTPS ")], Some("https")),
            (&[("x-forwarded-proto", "wss")], None),
            (&[("x-forwarded-proto", "")], None),
        ];
        for (lines, expected) in cases {
            let headers = headers(lines);
            assert_eq!(ProxyHeaders::new(&headers).scheme(), *expected, "{lines:?}");
        }
    }

    #[test]
    fn values_that_are_not_visible_ascii_are_ignored() {
        let mut headers = HeaderMap::new();
        let forged = HeaderValue::from_bytes(b"for=\"\xc3\xa9\";host=\xff;proto=https").unwrap();
        headers.insert(header::FORWARDED, forged);
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_bytes(b"\xff").unwrap());
        headers.insert(X_FORWARDED_HOST, HeaderValue::from_static("public.example"));
        let proxy = ProxyHeaders::new(&headers);
        assert_eq!(proxy.client_address(), None);
        assert_eq!(proxy.scheme(), None);
        assert_eq!(
            proxy.server_address(),
            Some(("public.example".to_owned(), None))
        );
    }

    #[test]
    fn elements_parse_to_their_unquoted_parameters() {
        assert_eq!(
            first_element(r#"for="[::1]:80";by=_p;host=a.example;proto=https;ext="x,y;z""#),
            Some(Element {
                r#for: Some(Cow::Borrowed("[::1]:80")),
                host: Some(Cow::Borrowed("a.example")),
                proto: Some(Cow::Borrowed("https")),
            })
        );
        assert_eq!(
            first_element(r#"host="a\"b\\c""#),
            Some(Element {
                host: Some(Cow::Owned(r#"a"b\c"#.to_owned())),
                ..Element::default()
            })
        );
        for empty in ["", " ", ",", " , ;", ";;"] {
            assert_eq!(first_element(empty), None, "{empty:?}");
        }
    }

    #[test]
    fn no_input_panics() {
        let lines = [
            r#"for="[2001:db8::\1]:4711";host="a\.example:80";proto="http\s", for=x"#,
            r#"For="é\é";host="\"#,
            r#"x="\"#,
            "for=_h;;, ;host=[::1;proto",
        ];
        for line in lines {
            for (end, _) in line.char_indices() {
                for part in [&line[..end], &line[end..]] {
                    let _ = first_element(part);
                    let _ = node_host(part);
                    let _ = value(part);
                }
            }
        }
    }
}
