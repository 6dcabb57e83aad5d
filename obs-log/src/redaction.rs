//! [`Redaction`]: field names whose values never leave the process.

/// The value written in place of a redacted field's value (`obs_core` writes it in exported
/// spans too).
pub const REDACTED: &str = "[REDACTED]";

/// The field names whose values are replaced by `"[REDACTED]"`, in JSON lines
/// ([`JsonLayer`](crate::JsonLayer)) and OTLP records ([`OtlpLogLayer`](crate::OtlpLogLayer))
/// alike, for event and span fields.
///
/// A field matches a listed name when its name *ends with* that name at a segment
/// boundary, ignoring ASCII case: the whole name, or its last segments. Segments are
/// separated by `_`, `-` or `.` (read as the same separator), or start where a lower-case
/// letter or a digit is followed by an upper-case one (`camelCase`). Exactly:
///
/// - `password` matches `password`, `Password`, `db_password`, `DB-PASSWORD`,
///   `user.password`; not `password_hint`, `password_length`, `passwords` or `mypassword`.
/// - `token` matches `access_token`, `refresh_token`, `id-token`, `auth.token`; not
///   `token_count`, `tokens`, `max_tokens` or `tokenizer`.
/// - `token` matches `accessToken`, `oauth2Token` and `AccessToken`; not `myToken_count`,
///   `TokenCount` or `mytoken`.
/// - `api_key` matches `api_key`, `x-api-key`, `X-API-KEY`, `apiKey`, `X-Api-Key`,
///   `http.request.header.x-api-key`; not `key` or `cache_key`. `apikey`, one word, is a
///   name of its own in the default list.
/// - A name of several segments (`user.email`) matches `user.email`, `User.Email`,
///   `user_email` and `account.user.email`; not `poweruser_email`.
///
/// The default list, [`DEFAULT_NAMES`](Self::DEFAULT_NAMES), holds the credential words
/// that end the names of secret values (`password`, `passwd`, `secret`, `token`,
/// `authorization`, `api_key`, `apikey`, `private_key`, `cookie`), so `client_secret`,
/// `clientSecret`, `proxy-authorization` and `set-cookie` are redacted too. A word that only *starts* a
/// name describes the secret rather than holds it (`token_count`, `password_hint`,
/// `secret_name`), and is written as it is. The field stays (so a reader sees it was
/// there); only its value goes.
///
/// What it can't do, since it goes by field names only:
/// - The message is free text and is not redacted: `info!("login {password}")` writes the
///   password. Put secrets in fields.
/// - A value is not looked into: `info!(user = ?user)` writes the `Debug` output of `user`
///   whole, secret members included.
/// - Names that run the word on with no separator or case change are not matched:
///   `dbpassword`, `DBPASSWORD`, `mytoken`. List them ([`with_name`](Self::with_name)).
/// - The log layers apply it to log lines and log records. Spans exported as traces
///   (`obs_trace::SpanLayer`) keep their fields as span attributes in the process;
///   `obs_core::init` applies the same redaction when it encodes them for export (span,
///   span event and link attributes), so a secret a log line hides never leaves in a span.
///
/// The check runs for every field of every line, and allocates nothing: a field whose
/// last byte ends no listed name is cleared with one bit test, the others by comparing
/// their end with each listed name (a few bytes, stopping at the first that differs).
///
/// ```
/// use obs_log::Redaction;
///
/// let redaction = Redaction::default().with_name("ssn");
/// assert!(redaction.is_redacted("user.SSN"));
/// assert!(redaction.is_redacted("Authorization"));
/// assert!(redaction.is_redacted("access_token"));
/// assert!(!redaction.is_redacted("token_count"));
/// assert!(!redaction.is_redacted("user.id"));
/// assert!(!Redaction::none().is_redacted("password"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redaction {
    names: Vec<Name>,
    /// Bit `n` is set when a name's last byte, [folded](fold), is `n` (mod 64; letters
    /// have bits of their own): most fields are cleared without a single comparison.
    last_bytes: u64,
}

/// `b` as names are compared: ASCII lowercase, `-` and `.` read as `_`.
#[inline]
fn fold(b: u8) -> u8 {
    match b {
        b'-' | b'.' => b'_',
        _ => b.to_ascii_lowercase(),
    }
}

#[inline]
fn is_separator(b: u8) -> bool {
    matches!(b, b'_' | b'-' | b'.')
}

/// The bit of [`Redaction::last_bytes`] for a name ending with `name` (none if empty: an
/// empty name matches nothing).
#[inline]
fn last_byte_bit(name: &[u8]) -> u64 {
    name.last().map_or(0, |&b| 1 << (fold(b) & 63))
}

/// Whether a segment of `field` starts at `at` because of a case change: an upper-case
/// letter right after a lower-case letter or a digit (`accessToken`, `oauth2Token`). A run
/// of capitals (`APIKey`) has no boundary inside it.
#[inline]
fn is_hump(field: &[u8], at: usize) -> bool {
    at > 0
        && field.get(at).is_some_and(u8::is_ascii_uppercase)
        && (field[at - 1].is_ascii_lowercase() || field[at - 1].is_ascii_digit())
}

/// Whether a segment of `field` starts at `at`: the start, after a separator, or at a
/// case change.
#[inline]
fn is_boundary(field: &[u8], at: usize) -> bool {
    at == 0 || is_separator(field[at - 1]) || is_hump(field, at)
}

/// A listed name, and whether it has separators inside or at its ends (`api_key`), whose
/// matches are walked segment by segment.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Name {
    text: Box<str>,
    segmented: bool,
}

impl Name {
    /// Whether `field` ends with this name at a segment boundary (see [`Redaction`]).
    #[inline]
    fn ends(&self, field: &[u8]) -> bool {
        let name = self.text.as_bytes();
        if !self.segmented {
            // One segment: a fixed tail, whose boundary (which rarely holds) is checked first.
            let Some(start) = field.len().checked_sub(name.len()) else {
                return false;
            };
            return !name.is_empty()
                && is_boundary(field, start)
                && field[start..]
                    .iter()
                    .zip(name)
                    .all(|(&a, &b)| fold(a) == fold(b));
        }
        // From the end: a separator in the name matches a separator in `field` or a case
        // change (`api_key` in `apiKey`).
        let mut at = field.len();
        for &b in name.iter().rev() {
            if is_separator(b) && !(at > 0 && is_separator(field[at - 1])) {
                if !is_hump(field, at) {
                    return false;
                }
            } else if at == 0 || fold(field[at - 1]) != fold(b) {
                return false;
            } else {
                at -= 1;
            }
        }
        is_boundary(field, at)
    }
}

impl Redaction {
    /// The names redacted by default: credential words, matched at the end of a field name
    /// (see [`Redaction`]).
    pub const DEFAULT_NAMES: [&'static str; 9] = [
        "password",
        "passwd",
        "secret",
        "token",
        "authorization",
        "api_key",
        "apikey",
        "private_key",
        "cookie",
    ];

    /// Redacts exactly `names` (matched as described on [`Redaction`]).
    pub fn new<I>(names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Box<str>>,
    {
        names
            .into_iter()
            .fold(Redaction::none(), |r, name| r.with_name(name))
    }

    /// Redacts nothing.
    pub fn none() -> Self {
        Redaction {
            names: Vec::new(),
            last_bytes: 0,
        }
    }

    /// Adds `name` to the list.
    pub fn with_name(mut self, name: impl Into<Box<str>>) -> Self {
        let text = name.into();
        self.last_bytes |= last_byte_bit(text.as_bytes());
        let segmented = text.bytes().any(is_separator);
        self.names.push(Name { text, segmented });
        self
    }

    /// The names in the list.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| &*n.text)
    }

    /// Whether the value of a field named `field` is redacted.
    #[inline]
    pub fn is_redacted(&self, field: &str) -> bool {
        let field = field.as_bytes();
        self.last_bytes & last_byte_bit(field) != 0
            && self.names.iter().any(|name| name.ends(field))
    }
}

/// Redacts [`Redaction::DEFAULT_NAMES`].
impl Default for Redaction {
    fn default() -> Self {
        Redaction::new(Self::DEFAULT_NAMES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_list_catches_credential_words_at_the_end_of_a_name() {
        let r = Redaction::default();
        for hit in [
            "password",
            "PASSWORD",
            "db_password",
            "DB-Password",
            "user.password",
            "smtp_passwd",
            "secret",
            "client_secret",
            "db.Secret",
            "token",
            "access_token",
            "refresh_token",
            "id-token",
            "auth.token",
            "authorization",
            "proxy-authorization",
            "http.request.header.authorization",
            "api_key",
            "x-api-key",
            "X-API-KEY",
            "stripe.api_key",
            "http.request.header.x-api-key",
            "cookie",
            "set-cookie",
            "http.request.header.cookie",
            "private_key",
            "ssh_private_key",
            // camelCase and PascalCase names, as JSON APIs spell them.
            "accessToken",
            "AccessToken",
            "oauth2Token",
            "clientSecret",
            "dbPassword",
            "apiKey",
            "xApiKey",
            "X-Api-Key",
            "privateKey",
            "setCookie",
            "apikey",
            "x-apikey",
            "APIKEY",
        ] {
            assert!(r.is_redacted(hit), "{hit} is redacted");
        }
        for miss in [
            "token_count",
            "password_length",
            "password_hint",
            "secret.kind",
            "secret_name",
            "tokens",
            "max_tokens",
            "tokenizer",
            "cookies_enabled",
            "key",
            "cache_key",
            "mytoken",
            "myToken_count",
            "TokenCount",
            "tokenCount",
            "passwordHint",
            "maxTokens",
            "cacheKey",
            "APIKey_id",
            "dbpassword",
            "passwords",
            "user",
            "",
            "_",
        ] {
            assert!(!r.is_redacted(miss), "{miss} is written as it is");
        }
    }

    #[test]
    fn listed_names_of_several_segments_match_at_a_segment_boundary_too() {
        let r = Redaction::new(["user.email", "SSN"]);
        for hit in [
            "User.Email",
            "account.user.email",
            "user_email",
            "userEmail",
            "accountUserEmail",
            "ssn",
            "user.ssn",
        ] {
            assert!(r.is_redacted(hit), "{hit}");
        }
        for miss in [
            "email",
            "superuser.emails",
            "poweruser_email",
            "poweruserEmail",
            "ssns",
            "password",
        ] {
            assert!(!r.is_redacted(miss), "{miss}");
        }
        // An empty name matches nothing.
        let empty = Redaction::new(["", "a_"]);
        assert!(!empty.is_redacted("b_"));
        assert!(empty.is_redacted("x-a-"));
    }
}
