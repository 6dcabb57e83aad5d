//! [`Redaction`]: field names whose values never leave the process.

/// The value written in place of a redacted field's value.
pub const REDACTED: &str = "[REDACTED]";

/// The field names whose values are replaced by `"[REDACTED]"`, in JSON lines
/// ([`JsonLayer`](crate::JsonLayer)) and OTLP records ([`OtlpLogLayer`](crate::OtlpLogLayer))
/// alike, for event and span fields.
///
/// A field matches when its name, or the last dot-separated segment of its name, equals a
/// listed name ignoring ASCII case: with the defaults `password`, `Password`,
/// `user.password` and `http.request.header.authorization` are all redacted, while
/// `password_hint` is not. The field stays (so a reader sees it was there); only its value
/// goes.
///
/// What it can't do, since it goes by field names only:
/// - The message is free text and is not redacted: `info!("login {password}")` writes the
///   password. Put secrets in fields.
/// - A value is not looked into: `info!(user = ?user)` writes the `Debug` output of `user`
///   whole, secret members included.
/// - A name that merely contains a listed one is not matched: with the defaults,
///   `access_token`, `db_password` and `x-api-key` are written as they are. List them
///   ([`with_name`](Self::with_name)), or name fields with dots (`db.password`).
/// - It applies to log lines and log records. The fields of spans exported as traces
///   (`obs_trace::SpanLayer`) are span attributes, which it does not touch.
///
/// ```
/// use obs_log::Redaction;
///
/// let redaction = Redaction::default().with_name("ssn");
/// assert!(redaction.is_redacted("user.SSN"));
/// assert!(redaction.is_redacted("Authorization"));
/// assert!(!redaction.is_redacted("user.id"));
/// assert!(!Redaction::none().is_redacted("password"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redaction {
    names: Vec<Box<str>>,
    /// Bit `n` is set when a name is `n` bytes long (bit 63: 63 or more), so most fields
    /// are cleared without a single string comparison.
    lengths: u64,
}

#[inline]
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

impl Redaction {
    /// The names redacted by default.
    pub const DEFAULT_NAMES: [&'static str; 6] = [
        "password",
        "secret",
        "token",
        "authorization",
        "api_key",
        "cookie",
    ];

    /// Redacts exactly `names` (matched as described on [`Redaction`]).
    pub fn new<I>(names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Box<str>>,
    {
        let names: Vec<Box<str>> = names.into_iter().map(Into::into).collect();
        Redaction {
            lengths: names.iter().fold(0, |m, n| m | length_bit(n.len())),
            names,
        }
    }

    /// Redacts nothing.
    pub fn none() -> Self {
        Redaction {
            names: Vec::new(),
            lengths: 0,
        }
    }

    /// Adds `name` to the list.
    pub fn with_name(mut self, name: impl Into<Box<str>>) -> Self {
        let name = name.into();
        self.lengths |= length_bit(name.len());
        self.names.push(name);
        self
    }

    /// The names in the list.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| &**n)
    }

    /// Whether the value of a field named `field` is redacted.
    #[inline]
    pub fn is_redacted(&self, field: &str) -> bool {
        let matches = |candidate: &str| {
            self.lengths & length_bit(candidate.len()) != 0
                && self.names.iter().any(|n| n.eq_ignore_ascii_case(candidate))
        };
        // A plain loop: field names are short, and this runs for every field of every line.
        match field.bytes().rposition(|b| b == b'.') {
            Some(dot) => matches(&field[dot + 1..]) || matches(field),
            None => matches(field),
        }
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
    fn matches_whole_names_and_last_segments_ignoring_case() {
        let r = Redaction::default();
        for hit in [
            "password",
            "PASSWORD",
            "api_key",
            "db.Secret",
            "http.request.header.cookie",
        ] {
            assert!(r.is_redacted(hit), "{hit}");
        }
        for miss in ["password_hint", "tokens", "secret.kind", "user", ""] {
            assert!(!r.is_redacted(miss), "{miss}");
        }
        // A dotted name in the list matches the whole field name.
        assert!(Redaction::new(["user.email"]).is_redacted("User.Email"));
    }
}
