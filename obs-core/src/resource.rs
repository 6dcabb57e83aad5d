//! The resource: who is sending (semantic conventions `service.*`, `telemetry.sdk.*`,
//! `host.name`, `process.pid`).

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::config::Config;
use crate::export::convert::string_value;

/// The schema URL of the resource: the semantic conventions version whose attributes
/// obs detects (`service.*`, `telemetry.sdk.*`, `host.name`, `process.pid`). The resource
/// SDK spec: "Resource detectors that populate resource attributes according to
/// OpenTelemetry semantic conventions MUST ensure that the resource has a Schema URL set
/// to a value that matches the semantic conventions"; `OTEL_RESOURCE_ATTRIBUTES` has none
/// (its schema is unknown), and Merge keeps the non-empty one.
pub(crate) const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.44.0";

/// The attributes describing this process, in precedence order resolved: detected values,
/// then `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME`, then the builder.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceAttributes {
    attributes: Vec<(String, String)>,
}

impl ResourceAttributes {
    /// Resolves the resource for `config`.
    pub fn from_config(config: &Config) -> ResourceAttributes {
        let mut r = ResourceAttributes {
            attributes: Vec::new(),
        };
        r.set("telemetry.sdk.name", "obs");
        r.set("telemetry.sdk.language", "rust");
        r.set("telemetry.sdk.version", env!("CARGO_PKG_VERSION"));
        let exe = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        r.set("service.name", &default_service_name(exe.as_deref()));
        r.set("service.instance.id", &random_uuid());
        if let Some(host) = host_name() {
            r.set("host.name", &host);
        }
        r.set("process.pid", &std::process::id().to_string());
        for (k, v) in &config.resource_attributes {
            r.set(k, v);
        }
        if let Some(name) = &config.service_name {
            r.set("service.name", name);
        }
        if let Some(version) = &config.service_version {
            r.set("service.version", version);
        }
        // An empty name names nothing: the semantic conventions' fallback for a service
        // that specifies no `service.name` applies (a template whose variable was empty, say).
        if r.get("service.name").is_some_and(str::is_empty) {
            r.set("service.name", &default_service_name(exe.as_deref()));
        }
        r
    }

    /// Sets `key` from a source of higher precedence than those set before. The resource
    /// spec's Merge: "the value of the updating resource MUST be picked (even if the updated
    /// value is empty)".
    fn set(&mut self, key: &str, value: &str) {
        match self.attributes.iter_mut().find(|(k, _)| k == key) {
            Some(kv) => value.clone_into(&mut kv.1),
            None => self.attributes.push((key.to_owned(), value.to_owned())),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `service.name`.
    pub fn service_name(&self) -> &str {
        self.get("service.name").unwrap_or("unknown_service")
    }

    /// All attributes, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub(crate) fn to_proto(&self) -> Resource {
        Resource {
            attributes: self
                .attributes
                .iter()
                .map(|(k, v)| {
                    // `process.pid` is an int in the semantic conventions.
                    let value = match (k.as_str(), v.parse::<i64>()) {
                        ("process.pid", Ok(pid)) => opentelemetry_proto::tonic::common::v1::AnyValue {
                            value: Some(opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(pid)),
                        },
                        _ => string_value(v.as_str()),
                    };
                    KeyValue { key: k.clone(), value: Some(value), ..Default::default() }
                })
                .collect(),
            dropped_attributes_count: 0,
            entity_refs: Vec::new(),
        }
    }
}

/// The `service.name` of a service that names none (semantic conventions, `service.name`):
/// "`unknown_service:` concatenated with the process executable name", and "If the process
/// executable name is not available, the value MUST be set to `unknown_service`".
fn default_service_name(executable: Option<&str>) -> String {
    match executable {
        Some(name) if !name.is_empty() => format!("unknown_service:{name}"),
        _ => "unknown_service".to_owned(),
    }
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// A random (version 4) UUID, as `service.instance.id` recommends.
fn random_uuid() -> String {
    let hi = obs_trace::TraceId::random().to_u128();
    let v = (hi & !(0xf000 << 64) | (0x4000 << 64)) & !(0xc000 << 48) | (0x8000 << 48);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_service_name_has_the_executable_name_when_known() {
        assert_eq!(default_service_name(Some("bash")), "unknown_service:bash");
        assert_eq!(default_service_name(None), "unknown_service");
        assert_eq!(default_service_name(Some("")), "unknown_service");
    }

    #[test]
    fn uuid_is_version_4() {
        let u = random_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
    }
}
