//! [`FieldNames`]: the keys of the JSON line, with presets for common log schemas.

use std::borrow::Cow;

/// How the level is spelled in the JSON line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LevelStyle {
    /// `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`.
    #[default]
    Upper,
    /// `trace`, `debug`, `info`, `warn`, `error`.
    Lower,
}

/// The keys [`JsonLayer`](crate::JsonLayer) writes, and how it spells the level.
///
/// Presets (a `-` means the value is not written):
///
/// | what                     | [`default`](FieldNames::default) | [`ecs`](FieldNames::ecs) | [`otel`](FieldNames::otel) | [`loki`](FieldNames::loki) |
/// |--------------------------|-----------------|------------------------|---------------------|----------------|
/// | event time               | `timestamp`     | `@timestamp`           | `timestamp`         | `ts`           |
/// | level                    | `level` (`INFO`)| `log.level` (`INFO`)   | `severity_text` (`INFO`) | `level` (`info`) |
/// | severity number          | -               | -                      | `severity_number` (9) | -            |
/// | message                  | `message`       | `message`              | `body`              | `msg`          |
/// | target                   | `target`        | `log.logger`           | `scope.name`        | `logger`       |
/// | event name (`name:`)     | `event_name`    | -                      | `event_name`        | `event_name`   |
/// | service name             | `service`       | `service.name`         | `service.name`      | `service_name` |
/// | trace id                 | `trace_id`      | `trace.id`             | `trace_id`          | `trace_id`     |
/// | span id                  | `span_id`       | `span.id`              | `span_id`           | `span_id`      |
/// | trace flags              | `trace_flags`   | `trace.flags`          | `trace_flags`       | `trace_flags`  |
/// | span fields ([`SpanFields::Nested`](crate::SpanFields::Nested)) | `spans` | `spans` | `spans` | `spans` |
/// | file                     | `file`          | `log.origin.file.name` | `code.file.path`    | `file`         |
/// | line                     | `line`          | `log.origin.file.line` | `code.line.number`  | `line`         |
/// | schema version           | -               | `ecs.version` ([`ECS_VERSION`](FieldNames::ECS_VERSION)) | - | -  |
///
/// - The default names of the trace context are those of the OpenTelemetry specification
///   "Trace Context in non-OTLP Log Formats" (`trace_id`, `span_id`, `trace_flags`; ids in
///   lowercase hex, flags as two hex digits), so the same search works whatever the preset.
/// - ECS: Elastic Common Schema 8 field names in dotted form, as `ecs-logging` writes them.
///   ECS has no trace flags field; `trace.flags` sits next to `trace.id`. An event's
///   `name:` is not written: ECS's nearest field, `event.action`, is one applications set
///   as a field of their own, which a reserved key would rename on every line. Every line
///   carries `ecs.version`, which ECS requires on every event
///   (<https://www.elastic.co/guide/en/ecs/current/ecs-ecs.html>, and the `ecs-logging`
///   spec), so that Elastic's integrations know which schema a line follows.
/// - OTel: the log data model's field names in snake case (`severity_text`,
///   `severity_number`, `body`, `event_name`), the resource attribute `service.name`, and the stable
///   semantic conventions `code.file.path` / `code.line.number`.
/// - Loki: the keys Grafana's log level detection and Loki's own logs use (`level` in lower
///   case, `ts`, `msg`), and `service_name`, the label Loki derives a service from.
///
/// Every key here is reserved: an event or span field with one of these names, or whose
/// name starts with `fields.`, is written as `fields.<name>` so it can never overwrite or
/// shadow what the layer writes. So is a field above or below a reserved key once dots
/// are read as nesting, as Elasticsearch reads them (with ECS names, `service` and
/// `log.origin` are above `service.name` and `log.origin.file.name`; `message.length` is
/// below `message`): a line holding both would be rejected whole. Siblings
/// (`log.custom`) are left as they are.
///
/// Build your own from a preset with struct update syntax:
///
/// ```
/// use obs_log::FieldNames;
///
/// let names = FieldNames { message: "msg".into(), ..FieldNames::default() };
/// assert_eq!(names.timestamp, "timestamp");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldNames {
    /// Key of the event time (RFC 3339, UTC, nanoseconds).
    pub timestamp: Cow<'static, str>,
    /// Key of the level.
    pub level: Cow<'static, str>,
    /// How the level is spelled.
    pub level_style: LevelStyle,
    /// Key of the OpenTelemetry severity number (TRACE=1, DEBUG=5, INFO=9, WARN=13,
    /// ERROR=17), if written at all.
    pub severity_number: Option<Cow<'static, str>>,
    /// Key of the message (the event's `message` field).
    pub message: Cow<'static, str>,
    /// Key of the event's target.
    pub target: Cow<'static, str>,
    /// Key of the event's name, if written at all: written only when the code gave one
    /// (`info!(name: "cart.abandoned", ..)`; `tracing`'s default, `event <file>:<line>`, is
    /// not), the log data model's `EventName`, which the OTLP record carries too. Like every
    /// key, it is reserved on every line, named event or not.
    pub event_name: Option<Cow<'static, str>>,
    /// Key of the service name.
    pub service: Cow<'static, str>,
    /// Key of the trace id.
    pub trace_id: Cow<'static, str>,
    /// Key of the span id.
    pub span_id: Cow<'static, str>,
    /// Key of the trace flags.
    pub trace_flags: Cow<'static, str>,
    /// Key of the list of spans, root first, in [`SpanFields::Nested`](crate::SpanFields::Nested) mode.
    pub spans: Cow<'static, str>,
    /// Key of the source file.
    pub file: Cow<'static, str>,
    /// Key of the source line.
    pub line: Cow<'static, str>,
    /// The ECS version, written as `"ecs.version":"<version>"` on every line when set
    /// (after the service name): [`ECS_VERSION`](FieldNames::ECS_VERSION) in
    /// [`FieldNames::ecs`], `None` (nothing written, nothing spent) in the other presets.
    pub ecs_version: Option<Cow<'static, str>>,
}

/// The key of [`FieldNames::ecs_version`], fixed by ECS.
pub(crate) const ECS_VERSION_KEY: &str = "ecs.version";

/// The prefix given to event and span fields named like a reserved key.
pub(crate) const USER_FIELD_PREFIX: &str = "fields.";

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            timestamp: "timestamp".into(),
            level: "level".into(),
            level_style: LevelStyle::Upper,
            severity_number: None,
            message: "message".into(),
            target: "target".into(),
            event_name: Some("event_name".into()),
            service: "service".into(),
            trace_id: "trace_id".into(),
            span_id: "span_id".into(),
            trace_flags: "trace_flags".into(),
            spans: "spans".into(),
            file: "file".into(),
            line: "line".into(),
            ecs_version: None,
        }
    }
}

impl FieldNames {
    /// The ECS version whose field names [`FieldNames::ecs`] follows, written as
    /// `ecs.version`: the last ECS 8 release. The names of the preset are those of every
    /// ECS 8 release (and of ECS 1.x, where they were introduced).
    pub const ECS_VERSION: &'static str = "8.17.0";

    /// Elastic Common Schema names (see the table on [`FieldNames`]).
    pub fn ecs() -> Self {
        FieldNames {
            timestamp: "@timestamp".into(),
            level: "log.level".into(),
            target: "log.logger".into(),
            event_name: None,
            service: "service.name".into(),
            trace_id: "trace.id".into(),
            span_id: "span.id".into(),
            trace_flags: "trace.flags".into(),
            file: "log.origin.file.name".into(),
            line: "log.origin.file.line".into(),
            ecs_version: Some(Self::ECS_VERSION.into()),
            ..FieldNames::default()
        }
    }

    /// OpenTelemetry log data model names (see the table on [`FieldNames`]).
    pub fn otel() -> Self {
        FieldNames {
            level: "severity_text".into(),
            severity_number: Some("severity_number".into()),
            message: "body".into(),
            target: "scope.name".into(),
            service: "service.name".into(),
            file: "code.file.path".into(),
            line: "code.line.number".into(),
            ..FieldNames::default()
        }
    }

    /// Grafana Loki conventions (see the table on [`FieldNames`]).
    pub fn loki() -> Self {
        FieldNames {
            timestamp: "ts".into(),
            level_style: LevelStyle::Lower,
            message: "msg".into(),
            target: "logger".into(),
            service: "service_name".into(),
            ..FieldNames::default()
        }
    }
}

/// The keys of a [`FieldNames`], ready for the per-field question "must this user field be
/// renamed?".
///
/// A user field clashes with a key when it has the same name, and also when one is the
/// other plus a dotted suffix (`service` and `service.name`, `trace.id` and `trace.id.hex`):
/// Elasticsearch, and so ECS, reads dots in keys as nesting, and a line holding both a
/// value and an object under one name is rejected whole.
#[derive(Clone, Debug)]
pub(crate) struct ReservedKeys {
    /// The keys, and every dotted prefix of them (`log`, `log.origin`..): a user field
    /// named like one of these is renamed.
    names: Vec<Box<str>>,
    /// How many of `names` are keys (the first ones): a user field below one of those
    /// (`<key>.<more>`) is renamed too.
    keys: usize,
    /// Bit `n` is set when one of `names` is `n` bytes long (bit 63: 63 or more): most
    /// field names are cleared without a string comparison.
    lengths: u64,
}

impl ReservedKeys {
    pub(crate) fn new(names: &FieldNames) -> Self {
        let mut all: Vec<Box<str>> = [
            &names.timestamp,
            &names.level,
            &names.message,
            &names.target,
            &names.service,
            &names.trace_id,
            &names.span_id,
            &names.trace_flags,
            &names.spans,
            &names.file,
            &names.line,
        ]
        .into_iter()
        .map(|k| k.as_ref())
        .chain(names.severity_number.as_deref())
        .chain(names.event_name.as_deref())
        .chain(names.ecs_version.as_ref().map(|_| ECS_VERSION_KEY))
        .map(Box::from)
        .collect();
        let keys = all.len();
        let parents: Vec<Box<str>> = all
            .iter()
            .flat_map(|key| {
                key.match_indices('.')
                    .map(|(dot, _)| Box::from(&key[..dot]))
            })
            .collect();
        for parent in parents {
            if !all.contains(&parent) {
                all.push(parent);
            }
        }
        ReservedKeys {
            lengths: all.iter().fold(0, |m, k| m | 1 << k.len().min(63)),
            names: all,
            keys,
        }
    }

    /// Whether `key` is one of `names` (the first `count` of them).
    #[inline]
    fn is_one_of(&self, key: &str, count: usize) -> bool {
        self.lengths & 1 << key.len().min(63) != 0
            && self.names[..count]
                .iter()
                // First bytes before lengths and contents: cheaper than a `memcmp` call.
                .any(|k| k.as_bytes().first() == key.as_bytes().first() && **k == *key)
    }

    /// Whether a user field named `key` must be written as `fields.<key>`.
    #[inline]
    pub(crate) fn must_prefix(&self, key: &str) -> bool {
        key.starts_with(USER_FIELD_PREFIX)
            || self.is_one_of(key, self.names.len())
            || key
                .match_indices('.')
                .any(|(dot, _)| self.is_one_of(&key[..dot], self.keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_keys_and_the_prefix_itself_are_prefixed() {
        let names = ReservedKeys::new(&FieldNames::default());
        for key in ["message", "trace_id", "level", "spans", "fields.x"] {
            assert!(names.must_prefix(key), "{key}");
        }
        for key in ["user", "msg", "fieldsx", "span"] {
            assert!(!names.must_prefix(key), "{key}");
        }
        assert!(ReservedKeys::new(&FieldNames::otel()).must_prefix("severity_number"));
        assert!(ReservedKeys::new(&FieldNames::loki()).must_prefix("msg"));
    }

    #[test]
    fn fields_above_and_below_a_dotted_key_are_prefixed_and_siblings_are_not() {
        let ecs = ReservedKeys::new(&FieldNames::ecs());
        for key in [
            "service",
            "span",
            "log",
            "log.origin.file",
            "trace.id.hex",
            "ecs",
            "ecs.version",
        ] {
            assert!(ecs.must_prefix(key), "{key}");
        }
        for key in [
            "log.custom",
            "trace.parent",
            "services",
            "logs.level",
            "user",
        ] {
            assert!(!ecs.must_prefix(key), "{key}");
        }
        let default = ReservedKeys::new(&FieldNames::default());
        assert!(default.must_prefix("message.length"));
        assert!(!default.must_prefix("ecs.version"));
        assert!(!default.must_prefix("user.id"));
    }
}
