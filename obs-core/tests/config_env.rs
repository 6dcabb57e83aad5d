//! Every supported `OTEL_*` variable, its default, and what an unparsable value does.

use std::collections::HashMap;
use std::time::Duration;

use obs_core::metrics::ExemplarFilter;
use obs_core::trace::{RpcConventions, Sampler};
use obs_core::{
    AttributeLimits, Compression, Config, ExporterKind, InitError, Protocol, Signal, SpanLimits,
    TemporalityPreference,
};

fn config(vars: &[(&str, &str)]) -> Config {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_lookup(&move |k| map.get(k).cloned())
}

fn warned(c: &Config, var: &str, value: &str) -> bool {
    c.warnings
        .iter()
        .any(|w| w.contains(var) && w.contains(value))
}

#[test]
fn defaults_follow_the_spec() {
    let c = config(&[]);
    assert!(!c.sdk_disabled);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    for s in Signal::ALL {
        assert_eq!(c.exporter(s), ExporterKind::Otlp);
        let o = c.otlp(s);
        assert_eq!(o.protocol, Protocol::HttpProtobuf);
        assert_eq!(
            o.endpoint,
            format!("http://localhost:4318/v1/{}", s.as_str())
        );
        assert_eq!(o.timeout, Duration::from_secs(10));
        assert_eq!(o.compression, Compression::None);
        assert!(o.headers.is_empty());
    }
    assert_eq!(c.sampler, Sampler::default());
    assert_eq!(c.span_batch, obs_core::BatchSettings::SPANS);
    assert_eq!(c.log_batch, obs_core::BatchSettings::LOGS);
    assert_eq!(c.metric_export_interval, Duration::from_secs(60));
    assert_eq!(c.metric_export_timeout, Duration::from_secs(30));
    assert_eq!(c.exemplar_filter, ExemplarFilter::TraceBased);
    assert_eq!(c.metrics_temporality, TemporalityPreference::Cumulative);
    assert_eq!(c.log_filter, "info");
    assert_eq!(c.metrics_addr, None);
    assert_eq!(c.span_limits, SpanLimits::DEFAULT);
    assert_eq!(c.log_limits, AttributeLimits::DEFAULT);
    assert_eq!(
        (
            c.span_limits.attributes.count,
            c.span_limits.attributes.value_length
        ),
        (128, None)
    );
    for s in Signal::ALL {
        assert_eq!(c.otlp(s).max_request_bytes, 4 * 1024 * 1024);
    }
}

#[test]
fn propagators_choose_the_w3c_and_b3_formats_and_others_are_warned_about() {
    use obs_core::trace::Propagators;
    const TRACE_CONTEXT: Propagators = Propagators {
        trace_context: true,
        ..Propagators::NONE
    };
    const BAGGAGE: Propagators = Propagators {
        baggage: true,
        ..Propagators::NONE
    };
    const B3: Propagators = Propagators {
        b3: true,
        ..Propagators::NONE
    };
    const B3_MULTI: Propagators = Propagators {
        b3_multi: true,
        ..Propagators::NONE
    };
    // Listed after B3, `tracecontext` wins when both come.
    const B3_THEN_W3C: Propagators = Propagators {
        b3: true,
        trace_context_last: true,
        ..Propagators::W3C
    };
    assert_eq!(config(&[]).propagators, Propagators::W3C);
    for (value, chosen) in [
        ("tracecontext,baggage", Propagators::W3C),
        ("Baggage, TraceContext", Propagators::W3C),
        (" tracecontext , baggage,", Propagators::W3C),
        ("tracecontext,tracecontext", TRACE_CONTEXT),
        ("baggage", BAGGAGE),
        ("none", Propagators::NONE),
        ("NONE", Propagators::NONE),
        ("b3", B3),
        ("B3", B3),
        ("b3multi", B3_MULTI),
        ("B3Multi", B3_MULTI),
        (
            "b3,b3multi",
            Propagators {
                b3_multi: true,
                ..B3
            },
        ),
        (
            "tracecontext,baggage,b3",
            Propagators {
                b3: true,
                ..Propagators::W3C
            },
        ),
        (
            "tracecontext,b3multi,baggage",
            Propagators {
                b3_multi: true,
                ..Propagators::W3C
            },
        ),
        ("b3,tracecontext,baggage", B3_THEN_W3C),
        ("baggage, b3 ,tracecontext", B3_THEN_W3C),
        // The last place counts, as a composite of the list would extract.
        (
            "tracecontext,b3,tracecontext",
            Propagators {
                baggage: false,
                ..B3_THEN_W3C
            },
        ),
        (
            "b3,tracecontext,b3multi",
            Propagators {
                b3: true,
                b3_multi: true,
                ..TRACE_CONTEXT
            },
        ),
    ] {
        let c = config(&[("OTEL_PROPAGATORS", value)]);
        assert!(c.warnings.is_empty(), "{value}: {:?}", c.warnings);
        assert_eq!(c.propagators, chosen, "{value}");
    }
    // A format obs does not implement is warned about; the others listed are used.
    let c = config(&[("OTEL_PROPAGATORS", "b3multi,tracecontext,xray")]);
    assert_eq!(
        c.propagators,
        Propagators {
            b3_multi: true,
            trace_context_last: true,
            ..TRACE_CONTEXT
        }
    );
    let [warning] = c.warnings.as_slice() else {
        panic!("one warning: {:?}", c.warnings);
    };
    assert!(
        warning.contains(": xray not supported;"),
        "b3multi is supported: {warning}"
    );
    assert!(warning.ends_with("using b3multi,tracecontext"), "{warning}");
    // Nothing usable listed: the setting is ignored, as the spec says of an enum value not
    // recognized, and the default used.
    let c = config(&[("OTEL_PROPAGATORS", "jaeger, ottrace")]);
    assert_eq!(c.propagators, Propagators::W3C);
    let [warning] = c.warnings.as_slice() else {
        panic!("one warning: {:?}", c.warnings);
    };
    assert!(
        warning.contains("jaeger, ottrace not supported"),
        "{warning}"
    );
    assert!(warning.ends_with("using tracecontext,baggage"), "{warning}");
    // `none` means no propagator: beside others it means nothing.
    let c = config(&[("OTEL_PROPAGATORS", "none,baggage")]);
    assert_eq!(c.propagators, BAGGAGE);
    assert!(warned(&c, "OTEL_PROPAGATORS", "none,baggage"));
    let c = config(&[("OTEL_PROPAGATORS", "b3,none,baggage")]);
    assert_eq!(
        c.propagators,
        Propagators {
            baggage: true,
            ..B3
        }
    );
    assert!(
        c.warnings[0].ends_with("using baggage,b3"),
        "{:?}",
        c.warnings
    );
    // The builder's choice wins, B3 included.
    let c = obs_core::builder()
        .propagators(Propagators::NONE)
        .config_with(&|k| (k == "OTEL_PROPAGATORS").then(|| "tracecontext".to_owned()))
        .unwrap();
    assert_eq!(c.propagators, Propagators::NONE);
    let c = obs_core::builder()
        .propagators(B3_MULTI)
        .config_with(&|k| (k == "OTEL_PROPAGATORS").then(|| "tracecontext".to_owned()))
        .unwrap();
    assert_eq!(c.propagators, B3_MULTI);
}

#[test]
fn attribute_limits_take_the_specific_variable_then_the_general_one() {
    let c = config(&[
        ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100"),
        ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "200"),
        ("OTEL_SPAN_EVENT_COUNT_LIMIT", "5"),
        ("OTEL_SPAN_LINK_COUNT_LIMIT", "3"),
        ("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "0"),
    ]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(
        c.span_limits,
        SpanLimits {
            attributes: AttributeLimits {
                count: 10,
                value_length: Some(200),
            },
            event_count: 5,
            event_attribute_count: 10,
            link_count: 3,
            link_attribute_count: 10,
        }
    );
    // Zero is a limit (keep none), not an error.
    assert_eq!(
        c.log_limits,
        AttributeLimits {
            count: 0,
            value_length: Some(100),
        }
    );
    let c = config(&[
        ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "64"),
        ("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "4"),
        ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "6"),
        ("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", "16"),
    ]);
    assert_eq!(c.span_limits.attributes.count, 64);
    assert_eq!(c.span_limits.event_attribute_count, 4);
    assert_eq!(c.span_limits.link_attribute_count, 6);
    assert_eq!(c.span_limits.link_count, 128);
    assert_eq!(
        c.log_limits.count, 128,
        "the span variable is for spans only"
    );
    assert_eq!(c.log_limits.value_length, Some(16));
    assert_eq!(c.span_limits.attributes.value_length, None);
}

#[test]
fn an_unparsable_limit_is_warned_about_and_the_fallback_used() {
    let c = config(&[
        ("OTEL_ATTRIBUTE_COUNT_LIMIT", "20"),
        ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "-1"),
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "lots"),
    ]);
    assert!(warned(&c, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "-1"));
    assert!(warned(&c, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "lots"));
    assert_eq!(c.span_limits.attributes.count, 20);
    assert_eq!(c.span_limits.attributes.value_length, None);
}

#[test]
fn builder_limits_win_over_the_environment() {
    let env: HashMap<&str, &str> = [("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "3")].into();
    let spans = SpanLimits {
        attributes: AttributeLimits {
            count: 50,
            value_length: Some(1000),
        },
        ..SpanLimits::DEFAULT
    };
    let logs = AttributeLimits {
        count: 7,
        value_length: None,
    };
    let c = obs_core::builder()
        .span_limits(spans)
        .log_limits(logs)
        .max_request_bytes(1 << 20)
        .config_with(&|k| env.get(k).map(|v| (*v).to_owned()))
        .expect("valid");
    assert_eq!((c.span_limits, c.log_limits), (spans, logs));
    for s in Signal::ALL {
        assert_eq!(c.otlp(s).max_request_bytes, 1 << 20);
    }
}

#[test]
fn sdk_disabled() {
    assert!(config(&[("OTEL_SDK_DISABLED", "TRUE")]).sdk_disabled);
    assert!(!config(&[("OTEL_SDK_DISABLED", "false")]).sdk_disabled);
    let c = config(&[("OTEL_SDK_DISABLED", "yes")]);
    assert!(!c.sdk_disabled && warned(&c, "OTEL_SDK_DISABLED", "yes"));
}

/// `OTEL_SDK_DISABLED` turns every exporter off, the Prometheus pull exporter too: it bound
/// `localhost:9464` all the same (and failed `init` when that port was taken). obs's own
/// `OBS_METRICS_ADDR` is not an SDK exporter and still serves `/metrics`.
#[test]
fn a_disabled_sdk_serves_no_prometheus_exporter() {
    let disabled_prometheus = [
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
    ];
    assert_eq!(config(&disabled_prometheus).metrics_addr, None);
    let env: HashMap<&str, &str> = disabled_prometheus.into_iter().collect();
    let get = |k: &str| env.get(k).map(|v| (*v).to_owned());
    let c = obs_core::builder()
        .sdk_disabled(false)
        .config_with(&get)
        .unwrap();
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9464".parse().unwrap()));
    let prometheus = |k: &str| (k == "OTEL_METRICS_EXPORTER").then(|| "prometheus".to_owned());
    let c = obs_core::builder()
        .sdk_disabled(true)
        .config_with(&prometheus)
        .unwrap();
    assert_eq!(c.metrics_addr, None);
    let c = config(&[
        ("OTEL_SDK_DISABLED", "true"),
        ("OBS_METRICS_ADDR", "127.0.0.1:9999"),
    ]);
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9999".parse().unwrap()));
}

/// A metrics exporter chosen in code wins over `OTEL_METRICS_EXPORTER`, so the Prometheus
/// exporter that variable names serves no `/metrics`: its listener on 9464 (bound by `init`,
/// which fails if the port is taken) would run beside the OTLP push the code chose.
/// `OBS_METRICS_ADDR`, obs's own listener, still serves.
#[test]
fn a_metrics_exporter_chosen_in_code_serves_no_prometheus_exporter() {
    let prometheus = |k: &str| (k == "OTEL_METRICS_EXPORTER").then(|| "prometheus".to_owned());
    for kind in [
        ExporterKind::Otlp,
        ExporterKind::Console,
        ExporterKind::None,
    ] {
        let c = obs_core::builder()
            .exporter(Signal::Metrics, kind)
            .config_with(&prometheus)
            .unwrap();
        assert_eq!(
            (c.metrics_exporter, c.metrics_addr),
            (kind, None),
            "{kind:?}"
        );
    }
    // Another signal's exporter in code leaves the variable's choice for metrics.
    let c = obs_core::builder()
        .exporter(Signal::Traces, ExporterKind::None)
        .config_with(&prometheus)
        .unwrap();
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9464".parse().unwrap()));
    let own = |k: &str| match k {
        "OTEL_METRICS_EXPORTER" => Some("prometheus".to_owned()),
        "OBS_METRICS_ADDR" => Some("127.0.0.1:9999".to_owned()),
        _ => None,
    };
    let c = obs_core::builder()
        .exporter(Signal::Metrics, ExporterKind::Otlp)
        .config_with(&own)
        .unwrap();
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9999".parse().unwrap()));
}

/// An exporter chosen in code replaces `OTEL_{SIGNAL}_EXPORTER` for every signal, not only
/// for metrics: the variable is not read, so no warning says which exporter runs by it
/// ("using otlp") when the code's runs.
#[test]
fn exporter_variables_an_exporter_in_code_replaces_are_not_warned_about() {
    let env = |k: &str| match k {
        "OTEL_TRACES_EXPORTER" => Some("zipkin".to_owned()),
        "OTEL_LOGS_EXPORTER" => Some("console,otlp".to_owned()),
        "OTEL_METRICS_EXPORTER" => Some("jaeger".to_owned()),
        _ => None,
    };
    let c = obs_core::builder()
        .exporter(Signal::Traces, ExporterKind::None)
        .exporter(Signal::Logs, ExporterKind::Otlp)
        .exporter(Signal::Metrics, ExporterKind::Console)
        .config_with(&env)
        .unwrap();
    assert_eq!(
        [Signal::Traces, Signal::Logs, Signal::Metrics].map(|s| c.exporter(s)),
        [
            ExporterKind::None,
            ExporterKind::Otlp,
            ExporterKind::Console
        ]
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // A signal whose exporter the code leaves to the variable still reads it.
    let c = obs_core::builder()
        .exporter(Signal::Traces, ExporterKind::None)
        .config_with(&env)
        .unwrap();
    assert!(
        !warned(&c, "OTEL_TRACES_EXPORTER", "zipkin"),
        "{:?}",
        c.warnings
    );
    assert!(warned(&c, "OTEL_LOGS_EXPORTER", "otlp"), "{:?}", c.warnings);
    assert_eq!(c.exporter(Signal::Logs), ExporterKind::Console);
}

/// A `/metrics` address set in code replaces `OBS_METRICS_ADDR` and the Prometheus
/// exporter's host and port: they are not read (nor their host names resolved), so no
/// warning says where `/metrics` would be served ("no /metrics listener", "using
/// localhost") when it is served at the code's address.
#[test]
fn metrics_address_variables_an_address_in_code_replaces_are_not_warned_about() {
    let addr: std::net::SocketAddr = "127.0.0.1:9999".parse().unwrap();
    let envs: [&[(&str, &str)]; 2] = [
        &[("OBS_METRICS_ADDR", "nowhere")],
        &[
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", "a port"),
        ],
    ];
    for env in envs {
        let get = |k: &str| {
            env.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        };
        let c = obs_core::builder()
            .metrics_addr(addr)
            .config_with(&get)
            .unwrap();
        assert_eq!(c.metrics_addr, Some(addr));
        assert!(c.warnings.is_empty(), "{env:?}: {:?}", c.warnings);
        // Without an address in code, the variables count, and are warned about.
        let c = obs_core::builder().config_with(&get).unwrap();
        assert!(!c.warnings.is_empty(), "{env:?}");
    }
}

/// An endpoint set in code replaces the endpoint variables of the signals it is for, so no
/// warning about those variables is given: each told where telemetry would go (a root path,
/// a doubled `/v1/traces`, the default for a bad value), and none of it did.
#[test]
fn endpoint_variables_an_endpoint_in_code_replaces_are_not_warned_about() {
    let env: HashMap<&str, &str> = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/v1/traces"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4318"),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://l:4318"),
    ]
    .into_iter()
    .collect();
    let get = |k: &str| env.get(k).map(|v| (*v).to_owned());
    let c = obs_core::builder()
        .otlp_endpoint("http://b:4318")
        .config_with(&get)
        .unwrap();
    assert_eq!(c.traces_otlp.endpoint, "http://b:4318/v1/traces");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);

    // One signal's endpoint in code: the others' variables still count, and are warned about.
    let c = obs_core::builder()
        .otlp_signal_endpoint(Signal::Traces, "http://b:4318/v1/traces")
        .config_with(&get)
        .unwrap();
    assert_eq!(c.traces_otlp.endpoint, "http://b:4318/v1/traces");
    assert_eq!(c.logs_otlp.endpoint, "http://l:4318");
    assert!(
        !warned(&c, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "t:4318"),
        "{:?}",
        c.warnings
    );
    assert!(
        warned(&c, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "l:4318"),
        "{:?}",
        c.warnings
    );
    assert!(
        warned(&c, "OTEL_EXPORTER_OTLP_ENDPOINT", "/v1/traces"),
        "{:?}",
        c.warnings
    );

    // A bad one, and a path gRPC does not use.
    let bad = |k: &str| match k {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("ftp://c".to_owned()),
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" => Some("http://m:4317/v1/metrics".to_owned()),
        _ => None,
    };
    let c = obs_core::builder()
        .protocol(Protocol::Grpc)
        .otlp_endpoint("http://b:4317")
        .config_with(&bad)
        .unwrap();
    assert_eq!(c.metrics_otlp.endpoint, "http://b:4317");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn service_name_and_resource_attributes() {
    let c = config(&[
        ("OTEL_SERVICE_NAME", "orders"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=ignored, deployment.environment=prod,team=a%20b",
        ),
    ]);
    assert_eq!(c.service_name.as_deref(), Some("orders"));
    assert!(
        c.resource_attributes
            .contains(&("team".to_owned(), "a b".to_owned()))
    );
    let r = obs_core::ResourceAttributes::from_config(&c);
    assert_eq!(
        r.service_name(),
        "orders",
        "OTEL_SERVICE_NAME wins over the attributes"
    );
    assert_eq!(r.get("deployment.environment"), Some("prod"));
    for key in [
        "service.instance.id",
        "telemetry.sdk.name",
        "telemetry.sdk.version",
        "host.name",
        "process.pid",
    ] {
        assert!(r.get(key).is_some(), "{key}");
    }
    // A bad member discards the whole value, as the spec says.
    let c = config(&[("OTEL_RESOURCE_ATTRIBUTES", "a=1,broken")]);
    assert!(c.resource_attributes.is_empty() && warned(&c, "OTEL_RESOURCE_ATTRIBUTES", "broken"));
    let r = obs_core::ResourceAttributes::from_config(&config(&[]));
    assert!(
        r.service_name().starts_with("unknown_service:"),
        "{}",
        r.service_name()
    );
}

/// The resource spec: "The `,` and `=` characters in keys and values MUST be percent
/// encoded", so keys are decoded as values are.
#[test]
fn resource_attribute_keys_are_percent_decoded_like_values() {
    let c = config(&[(
        "OTEL_RESOURCE_ATTRIBUTES",
        "team%2Cunit=a%2Cb,k%3Dv=1,service%2Ename=orders",
    )]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(
        c.resource_attributes,
        vec![
            ("team,unit".to_owned(), "a,b".to_owned()),
            ("k=v".to_owned(), "1".to_owned()),
            ("service.name".to_owned(), "orders".to_owned()),
        ]
    );
    assert_eq!(
        obs_core::ResourceAttributes::from_config(&c).service_name(),
        "orders"
    );
    // A key that does not decode is an error like a value that does not: the whole value is
    // discarded.
    let c = config(&[("OTEL_RESOURCE_ATTRIBUTES", "a=1,b%zz=2")]);
    assert!(c.resource_attributes.is_empty());
    assert!(warned(&c, "OTEL_RESOURCE_ATTRIBUTES", "b%zz=2"));
}

/// A `%` takes two hex digits (RFC 3986 §2.1): `%+1` or `%-1` is no escape (a sign that
/// integer parsing would take), so the value is malformed, in a resource attribute as in a
/// header.
#[test]
fn a_percent_escape_takes_two_hex_digits_and_no_sign() {
    for bad in ["a=%+1", "a=%+f", "a=%-1", "a=% 1", "a=%1"] {
        let c = config(&[("OTEL_RESOURCE_ATTRIBUTES", bad)]);
        assert!(
            c.resource_attributes.is_empty(),
            "{bad}: {:?}",
            c.resource_attributes
        );
        assert!(warned(&c, "OTEL_RESOURCE_ATTRIBUTES", bad), "{bad}");
        let c = config(&[("OTEL_EXPORTER_OTLP_HEADERS", bad)]);
        assert!(c.otlp(Signal::Traces).headers.is_empty(), "{bad}");
    }
    let c = config(&[("OTEL_RESOURCE_ATTRIBUTES", "a=%2b%2B")]);
    assert_eq!(
        c.resource_attributes,
        vec![("a".to_owned(), "++".to_owned())]
    );
}

/// The resource spec's Merge: "the value of the updating resource MUST be picked (even if
/// the updated value is empty)". An empty `service.name` names nothing, so the semantic
/// conventions' fallback applies (a template whose variable was empty, say) rather than
/// naming the service "".
#[test]
fn an_empty_resource_attribute_value_replaces_a_value_but_names_no_service() {
    let c = config(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=,host.name=,team=")]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let r = obs_core::ResourceAttributes::from_config(&c);
    assert!(
        r.service_name().starts_with("unknown_service:"),
        "{:?}",
        r.service_name()
    );
    assert_eq!(
        r.get("host.name"),
        Some(""),
        "the detected host name is replaced"
    );
    assert_eq!(r.get("team"), Some(""), "a new key keeps its empty value");
    let c = obs_core::builder()
        .resource_attribute("team", "")
        .config_with(&|k| (k == "OTEL_RESOURCE_ATTRIBUTES").then(|| "team=a".to_owned()))
        .unwrap();
    assert_eq!(
        obs_core::ResourceAttributes::from_config(&c).get("team"),
        Some(""),
        "code's empty value wins over the variable's"
    );
    // An empty `service.name` from code names no service, so `OTEL_SERVICE_NAME` (applied
    // after the attributes) still names it.
    let c = obs_core::builder()
        .resource_attribute("service.name", "")
        .config_with(&|k| (k == "OTEL_SERVICE_NAME").then(|| "orders".to_owned()))
        .unwrap();
    assert_eq!(
        obs_core::ResourceAttributes::from_config(&c).service_name(),
        "orders"
    );
    // Without one, the fallback applies as for no name at all.
    let c = obs_core::builder()
        .resource_attribute("service.name", "")
        .config_with(&|_| None)
        .unwrap();
    assert!(
        obs_core::ResourceAttributes::from_config(&c)
            .service_name()
            .starts_with("unknown_service:")
    );
    // The last `service.name` from code counts, as with any attribute: an empty one after
    // a name takes it back, and the variable's name (else the fallback) applies.
    for (env, expected) in [(Some("orders"), "orders"), (None, "unknown_service:")] {
        let c = obs_core::builder()
            .resource_attribute("service.name", "checkout")
            .resource_attribute("service.name", "")
            .config_with(&|k| env.filter(|_| k == "OTEL_SERVICE_NAME").map(str::to_owned))
            .unwrap();
        let r = obs_core::ResourceAttributes::from_config(&c);
        assert!(r.service_name().starts_with(expected), "{env:?}: {r:?}");
    }
}

#[test]
fn exporters() {
    let c = config(&[
        ("OTEL_TRACES_EXPORTER", "console"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "otlp"),
    ]);
    assert_eq!(c.traces_exporter, ExporterKind::Console);
    assert_eq!(c.metrics_exporter, ExporterKind::None);
    assert_eq!(c.logs_exporter, ExporterKind::Otlp);
    let c = config(&[("OTEL_TRACES_EXPORTER", "zipkin")]);
    assert_eq!(c.traces_exporter, ExporterKind::Otlp);
    assert!(warned(&c, "OTEL_TRACES_EXPORTER", "zipkin"));
}

/// The spec allows a comma-separated list; obs runs one exporter per signal: the first. A
/// repeat of it is no conflict, and another one's warning names the exporter in use.
#[test]
fn an_exporter_list_runs_the_first_and_names_it_when_others_are_left_out() {
    let c = config(&[
        ("OTEL_TRACES_EXPORTER", "otlp, OTLP"),
        ("OTEL_LOGS_EXPORTER", "console,otlp"),
        ("OTEL_METRICS_EXPORTER", "zipkin,prometheus,console"),
    ]);
    assert_eq!(c.traces_exporter, ExporterKind::Otlp);
    assert_eq!(c.logs_exporter, ExporterKind::Console);
    assert_eq!(c.metrics_exporter, ExporterKind::None);
    assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
    assert!(warned(&c, "OTEL_LOGS_EXPORTER", "otlp"), "{:?}", c.warnings);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("OTEL_LOGS_EXPORTER") && w.ends_with("using console")),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("OTEL_METRICS_EXPORTER") && w.ends_with("using prometheus")),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings
            .iter()
            .filter(|w| w.contains("OTEL_METRICS_EXPORTER"))
            .all(|w| w.ends_with("using prometheus")),
        "an unknown one before it names it too: {:?}",
        c.warnings
    );
}

/// The spec's pull exporter for metrics: nothing pushed, `/metrics` served at
/// `OTEL_EXPORTER_PROMETHEUS_HOST`:`OTEL_EXPORTER_PROMETHEUS_PORT` (`localhost:9464`).
#[test]
fn the_prometheus_metrics_exporter_serves_metrics_instead_of_pushing() {
    let c = config(&[("OTEL_METRICS_EXPORTER", "prometheus")]);
    assert_eq!(c.metrics_exporter, ExporterKind::None, "nothing pushed");
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9464".parse().unwrap()));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = config(&[
        ("OTEL_METRICS_EXPORTER", "Prometheus"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "9100"),
    ]);
    assert_eq!(c.metrics_addr, Some("0.0.0.0:9100".parse().unwrap()));
    let c = config(&[
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "[::1]"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "port"),
    ]);
    assert_eq!(c.metrics_addr, Some("[::1]:9464".parse().unwrap()));
    assert!(warned(&c, "OTEL_EXPORTER_PROMETHEUS_PORT", "port"));
    // obs's own variable wins; the host and port are the exporter's defaults only.
    let c = config(&[
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OBS_METRICS_ADDR", "127.0.0.1:9999"),
    ]);
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9999".parse().unwrap()));
    // Without it, the host and port mean nothing.
    let c = config(&[("OTEL_EXPORTER_PROMETHEUS_PORT", "9100")]);
    assert_eq!(c.metrics_addr, None);
    // Prometheus exports metrics only.
    let c = config(&[("OTEL_TRACES_EXPORTER", "prometheus")]);
    assert_eq!(c.traces_exporter, ExporterKind::Otlp);
    assert!(warned(&c, "OTEL_TRACES_EXPORTER", "prometheus"));
}

#[test]
fn endpoints_protocols_and_per_signal_overrides() {
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "http://logs:9999/custom/path",
        ),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:4317"),
    ]);
    assert_eq!(c.traces_otlp.endpoint, "http://collector:4318/v1/traces");
    assert_eq!(
        c.logs_otlp.endpoint, "http://logs:9999/custom/path",
        "per-signal URL used as is"
    );
    assert_eq!(c.metrics_otlp.protocol, Protocol::Grpc);
    assert_eq!(c.metrics_otlp.endpoint, "http://metrics:4317");

    let c = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    assert_eq!(c.traces_otlp.endpoint, "http://localhost:4317");
    let c = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
    assert_eq!(c.traces_otlp.protocol, Protocol::HttpProtobuf);
    assert!(warned(&c, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"));
    let c = config(&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp")]);
    assert!(warned(&c, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp"));
    let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")]);
    assert!(warned(&c, "OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"));
    assert_eq!(c.traces_otlp.endpoint, "http://localhost:4318/v1/traces");
    let c = config(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x")]);
    assert!(warned(&c, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x"));
}

/// A port that is not a number from 0 to 65535 is refused: `http::Uri` takes it, and the
/// connectors then fell back to port 80 without a word. An empty port is the scheme's
/// default, as the OTLP exporter spec says.
#[test]
fn an_endpoint_with_a_bad_port_is_refused() {
    for bad in ["http://h:99999", "http://h:-1", "http://h:43l7"] {
        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", bad)]);
        assert_eq!(
            c.traces_otlp.endpoint, "http://localhost:4318/v1/traces",
            "{bad}"
        );
        assert!(
            warned(&c, "OTEL_EXPORTER_OTLP_ENDPOINT", bad),
            "{:?}",
            c.warnings
        );
        let built = obs_core::builder()
            .otlp_signal_endpoint(Signal::Traces, bad)
            .config_with(&|_| None);
        assert!(built.is_err(), "{bad}");
    }
    for good in [
        "http://h:",
        "http://[::1]",
        "http://[::1]:4318",
        "http://user:pw@h",
        "http://user:pw@h:4318",
    ] {
        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", good)]);
        assert!(c.warnings.is_empty(), "{good}: {:?}", c.warnings);
        assert_eq!(c.traces_otlp.endpoint, format!("{good}/v1/traces"));
    }
}

/// The OTLP exporter spec has a gRPC endpoint take gRPC's own `host:port` form and the
/// `insecure` option apply to it alone: `http://` if set to true, else `https://` (TLS). A
/// scheme, when written, wins; OTLP/HTTP endpoints are always URLs.
#[test]
fn a_grpc_endpoint_without_a_scheme_follows_insecure() {
    let grpc = ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    let c = config(&[
        grpc,
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "TRUE"),
    ]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    for o in [&c.traces_otlp, &c.metrics_otlp, &c.logs_otlp] {
        assert_eq!(o.endpoint, "http://collector:4317");
    }
    let c = config(&[
        grpc,
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "[::1]:4317"),
        ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "true"),
    ]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.traces_otlp.endpoint, "http://[::1]:4317");

    // Secure unless told otherwise: TLS, which needs the `tls` feature.
    let secure = config(&[grpc, ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")]);
    let falsy = config(&[
        grpc,
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "false"),
    ]);
    for c in [&secure, &falsy] {
        if cfg!(feature = "tls") {
            assert!(c.warnings.is_empty(), "{:?}", c.warnings);
            assert_eq!(c.traces_otlp.endpoint, "https://collector:4317");
        } else {
            assert!(
                c.warnings.iter().any(|w| w.contains("collector:4317")
                    && w.contains("OTEL_EXPORTER_OTLP_INSECURE=true")
                    && w.contains("tls")),
                "{:?}",
                c.warnings
            );
            assert_eq!(c.traces_otlp.endpoint, "http://localhost:4317");
        }
    }

    // The per-signal setting wins over the general one.
    let c = config(&[
        grpc,
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
        ("OTEL_EXPORTER_OTLP_LOGS_INSECURE", "false"),
        ("OTEL_EXPORTER_OTLP_METRICS_INSECURE", "true"),
    ]);
    assert_eq!(c.traces_otlp.endpoint, "http://collector:4317");
    assert_eq!(c.metrics_otlp.endpoint, "http://collector:4317");
    let logs = if cfg!(feature = "tls") {
        "https://collector:4317"
    } else {
        "http://localhost:4317"
    };
    assert_eq!(c.logs_otlp.endpoint, logs);

    // A scheme wins over `insecure`.
    let c = config(&[
        grpc,
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "false"),
    ]);
    assert_eq!(c.traces_otlp.endpoint, "http://collector:4317");

    // Not a boolean: warned about, and false.
    let c = config(&[
        grpc,
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "yes"),
    ]);
    assert!(warned(&c, "OTEL_EXPORTER_OTLP_INSECURE", "yes"));
    assert_ne!(c.traces_otlp.endpoint, "http://collector:4317");

    // Over http/protobuf a `host:port` is no URL: warned about, and the next setting used.
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
    ]);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("collector:4318") && w.contains("only OTLP/gRPC")),
        "{:?}",
        c.warnings
    );
    assert_eq!(c.traces_otlp.endpoint, "http://localhost:4318/v1/traces");
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "metrics:4318"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "traces:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
    ]);
    assert!(warned(
        &c,
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "using OTEL_EXPORTER_OTLP_ENDPOINT"
    ));
    assert_eq!(c.metrics_otlp.endpoint, "http://general:4318/v1/metrics");
    assert_eq!(c.traces_otlp.endpoint, "http://traces:4317");

    // Not a `host:port`: no port, a path, a port that is not a number.
    for bad in ["collector", "collector:4317/x", "collector:43l7", ":4317"] {
        let c = config(&[
            grpc,
            ("OTEL_EXPORTER_OTLP_ENDPOINT", bad),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
        ]);
        assert!(warned(&c, "OTEL_EXPORTER_OTLP_ENDPOINT", bad), "{bad}");
        assert_eq!(c.traces_otlp.endpoint, "http://localhost:4317", "{bad}");
    }
}

/// Each per-signal variable applies to its own signal only, metrics included (whose
/// headers and timeout no other test sets).
#[test]
fn each_signal_reads_its_own_headers_and_timeout() {
    for signal in ["TRACES", "METRICS", "LOGS"] {
        let headers = format!("OTEL_EXPORTER_OTLP_{signal}_HEADERS");
        let timeout = format!("OTEL_EXPORTER_OTLP_{signal}_TIMEOUT");
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "all=1"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            (&headers, "only=2"),
            (&timeout, "700"),
        ]);
        for (name, otlp) in [
            ("TRACES", &c.traces_otlp),
            ("METRICS", &c.metrics_otlp),
            ("LOGS", &c.logs_otlp),
        ] {
            let (header, ms) = if name == signal {
                (("only".to_owned(), "2".to_owned()), 700)
            } else {
                (("all".to_owned(), "1".to_owned()), 2500)
            };
            assert_eq!(otlp.headers, vec![header], "{signal} set, {name} read");
            assert_eq!(
                otlp.timeout,
                Duration::from_millis(ms),
                "{signal} set, {name} read"
            );
        }
    }
}

#[test]
fn headers_timeout_compression() {
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret%3D1,tenant=a"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x=1"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "700"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none"),
    ]);
    assert_eq!(
        c.metrics_otlp.headers,
        vec![
            ("api-key".into(), "secret=1".into()),
            ("tenant".into(), "a".into())
        ]
    );
    assert_eq!(c.traces_otlp.headers, vec![("x".into(), "1".into())]);
    assert_eq!(c.traces_otlp.timeout, Duration::from_millis(2500));
    assert_eq!(c.logs_otlp.timeout, Duration::from_millis(700));
    assert_eq!(c.traces_otlp.compression, Compression::Gzip);
    assert_eq!(c.metrics_otlp.compression, Compression::None);
    for (k, v) in [
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-1"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "zip"),
    ] {
        let c = config(&[(k, v)]);
        assert!(warned(&c, k, v), "{k}={v}: {:?}", c.warnings);
    }
    // Header values are withheld from warnings (see a_bad_header_is_skipped_and_the_others_kept).
    for (k, v) in [
        ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "=x"),
    ] {
        let c = config(&[(k, v)]);
        assert!(warned(&c, k, "member 1"), "{k}={v}: {:?}", c.warnings);
    }
}

#[test]
fn samplers() {
    let c = config(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
    ]);
    assert_eq!(
        c.sampler,
        Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(0.25)))
    );
    assert_eq!(
        config(&[("OTEL_TRACES_SAMPLER", "always_off")]).sampler,
        Sampler::AlwaysOff
    );
    let c = config(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "lots"),
    ]);
    assert_eq!(
        c.sampler,
        Sampler::TraceIdRatio(1.0),
        "as if the argument were unset"
    );
    assert!(warned(&c, "OTEL_TRACES_SAMPLER_ARG", "lots"));
    let c = config(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "2"),
    ]);
    assert_eq!(
        c.sampler,
        Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(1.0)))
    );
    assert!(warned(&c, "OTEL_TRACES_SAMPLER_ARG", "2"));
    // X-Ray's centralized sampling (a third-party protocol) is not supported: the default.
    let c = config(&[("OTEL_TRACES_SAMPLER", "xray")]);
    assert!(warned(&c, "OTEL_TRACES_SAMPLER", "xray"));
    assert_eq!(c.sampler, Sampler::default());
}

/// `jaeger_remote` and `parentbased_jaeger_remote` (SDK environment variables spec): the
/// argument's `endpoint`, `pollingIntervalMs` and `initialSamplingRate`, each defaulted
/// alone when missing or bad (and a bad one warned about).
#[test]
fn jaeger_remote_samplers_take_their_list_argument() {
    use obs_core::trace::JaegerRemoteConfig;
    let c = config(&[("OTEL_TRACES_SAMPLER", "jaeger_remote")]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(
        matches!(c.sampler, Sampler::JaegerRemote(_)),
        "{:?}",
        c.sampler
    );
    assert_eq!(
        c.sampler.jaeger_remote().unwrap().config(),
        &JaegerRemoteConfig::default()
    );
    let c = config(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_jaeger_remote"),
        (
            "OTEL_TRACES_SAMPLER_ARG",
            "endpoint=http://jaeger:14250,pollingIntervalMs=5000,initialSamplingRate=0.25",
        ),
    ]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let Sampler::ParentBased(root) = &c.sampler else {
        panic!("{:?}", c.sampler)
    };
    assert_eq!(
        root.jaeger_remote().unwrap().config(),
        &JaegerRemoteConfig {
            endpoint: "http://jaeger:14250".to_owned(),
            polling_interval: Duration::from_secs(5),
            initial_sampling_rate: 0.25,
        }
    );
    let c = config(&[
        ("OTEL_TRACES_SAMPLER", "Jaeger_Remote"),
        (
            "OTEL_TRACES_SAMPLER_ARG",
            "endpoint=jaeger,pollingIntervalMs=soon,initialSamplingRate=0.5",
        ),
    ]);
    let remote = c.sampler.jaeger_remote().expect("jaeger_remote");
    assert_eq!(
        remote.config(),
        &JaegerRemoteConfig {
            initial_sampling_rate: 0.5,
            ..Default::default()
        },
        "the good part kept"
    );
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(warned(&c, "OTEL_TRACES_SAMPLER_ARG", "endpoint=\"jaeger\""));
    assert!(warned(
        &c,
        "OTEL_TRACES_SAMPLER_ARG",
        "pollingIntervalMs=\"soon\""
    ));
}

/// The spec: invalid or unrecognized `OTEL_TRACES_SAMPLER_ARG` input "MUST be logged". A
/// ratio given to a sampler that takes none (or with no sampler named) sampled everything
/// without a word, while the ratio read as if it applied.
#[test]
fn a_sampler_argument_nothing_uses_is_warned_about() {
    for sampler in ["always_on", "parentbased_always_on", "Always_Off"] {
        let c = config(&[
            ("OTEL_TRACES_SAMPLER", sampler),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ]);
        assert!(
            warned(&c, "OTEL_TRACES_SAMPLER_ARG", "0.1"),
            "{sampler}: {:?}",
            c.warnings
        );
        assert!(c.warnings[0].contains(sampler), "{:?}", c.warnings);
    }
    let c = config(&[("OTEL_TRACES_SAMPLER_ARG", "0.1")]);
    assert_eq!(c.sampler, Sampler::default());
    assert!(
        warned(&c, "OTEL_TRACES_SAMPLER_ARG", "0.1"),
        "{:?}",
        c.warnings
    );
    let c = config(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
    ]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn batch_processors_and_metric_interval() {
    let c = config(&[
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "2000"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1024"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "50"),
        ("OTEL_BLRP_EXPORT_TIMEOUT", "1000"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "200"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "900"),
    ]);
    assert_eq!(c.span_batch.schedule_delay, Duration::from_millis(100));
    assert_eq!(c.span_batch.export_timeout, Duration::from_millis(2000));
    assert_eq!(c.span_batch.max_queue_size, 4096);
    assert_eq!(c.span_batch.max_export_batch_size, 1024);
    assert_eq!(c.log_batch.schedule_delay, Duration::from_millis(50));
    assert_eq!(c.log_batch.export_timeout, Duration::from_millis(1000));
    assert_eq!(c.log_batch.max_queue_size, 100);
    assert_eq!(
        c.log_batch.max_export_batch_size, 100,
        "capped at the queue size"
    );
    assert!(warned(&c, "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "200"));
    assert_eq!(c.metric_export_interval, Duration::from_millis(1500));
    assert_eq!(c.metric_export_timeout, Duration::from_millis(900));
    let c = config(&[("OTEL_METRIC_EXPORT_INTERVAL", "0")]);
    assert_eq!(
        c.metric_export_interval,
        Duration::from_secs(60),
        "zero would never end"
    );
    for (k, v) in [
        ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "-5"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "1.5"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "x"),
        ("OTEL_BLRP_EXPORT_TIMEOUT", "x"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1m"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "y"),
    ] {
        let c = config(&[(k, v)]);
        assert!(warned(&c, k, v), "{k}={v}: {:?}", c.warnings);
    }
}

/// The spec's batch size default (512) must be at most the queue: a smaller queue set alone
/// takes the batch size down with it, with no warning about a variable nobody set.
#[test]
fn a_queue_smaller_than_the_default_batch_caps_it_quietly() {
    let c = config(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "64"),
    ]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(
        (
            c.span_batch.max_queue_size,
            c.span_batch.max_export_batch_size
        ),
        (100, 100)
    );
    assert_eq!(
        (
            c.log_batch.max_queue_size,
            c.log_batch.max_export_batch_size
        ),
        (64, 64)
    );
}

#[test]
fn log_filter_metrics_addr_and_log_format() {
    let c = config(&[
        ("RUST_LOG", "warn,orders=debug"),
        ("OBS_METRICS_ADDR", "127.0.0.1:9464"),
    ]);
    assert_eq!(c.log_filter, "warn,orders=debug");
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9464".parse().unwrap()));
    let c = config(&[
        ("RUST_LOG", "[[["),
        ("OBS_METRICS_ADDR", "nowhere"),
        ("OBS_LOG_FORMAT", "xml"),
    ]);
    assert_eq!(c.log_filter, "info");
    assert!(warned(&c, "RUST_LOG", "[[["));
    assert!(warned(&c, "OBS_METRICS_ADDR", "nowhere"));
    assert!(warned(&c, "OBS_LOG_FORMAT", "xml"));
    assert!(!config(&[("OBS_LOG_FORMAT", "none")]).json_logs);
}

/// `localhost:9464` is how the Prometheus exporter's own default reads, and what a user
/// coming from it writes: a host name with a port is resolved, as
/// `OTEL_EXPORTER_PROMETHEUS_HOST` is; what is neither is warned about as serving nothing.
#[test]
fn metrics_addr_takes_a_host_name_with_a_port() {
    let c = config(&[("OBS_METRICS_ADDR", "localhost:9464")]);
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9464".parse().unwrap()));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = config(&[("OBS_METRICS_ADDR", "[::1]:9464")]);
    assert_eq!(c.metrics_addr, Some("[::1]:9464".parse().unwrap()));
    for bad in [":9464", "9464", "localhost", "localhost:http"] {
        let c = config(&[("OBS_METRICS_ADDR", bad)]);
        assert_eq!(c.metrics_addr, None, "{bad}");
        let warning = c.warnings.join("\n");
        assert!(warned(&c, "OBS_METRICS_ADDR", bad), "{bad}: {warning}");
        assert!(warning.contains("no /metrics listener"), "{warning}");
    }
}

#[test]
fn traces_filter_takes_target_level_directives() {
    assert_eq!(config(&[]).traces_filter, "info");
    let c = config(&[("OBS_TRACES_FILTER", "warn,orders=debug")]);
    assert_eq!(c.traces_filter, "warn,orders=debug");
    // Span and field directives are for log filters; spans are traced by target and level.
    let c = config(&[("OBS_TRACES_FILTER", "[request{id=1}]=trace")]);
    assert_eq!(c.traces_filter, "info");
    assert!(warned(&c, "OBS_TRACES_FILTER", "[request{id=1}]=trace"));
    // `Targets` reads these as targets no span has: they would match nothing, silently.
    for directive in [
        "[request]=debug",
        "[]=debug",
        "{id}=trace",
        "orders[x]=debug",
    ] {
        let c = config(&[("OBS_TRACES_FILTER", &format!("warn,{directive}"))]);
        assert_eq!(c.traces_filter, "warn", "{directive}");
        assert!(warned(&c, "OBS_TRACES_FILTER", directive), "{c:?}");
        let err = obs_core::builder()
            .traces_filter(directive)
            .config_with(&|_| None)
            .unwrap_err();
        assert!(err.to_string().contains("span and field"), "{err}");
    }
}

/// One bad directive costs only itself, as in `EnvFilter::from_env` (`parse_lossy`): the
/// others are kept, and the warning names the one left out.
#[test]
fn a_bad_directive_is_left_out_and_the_others_kept() {
    let c = config(&[("RUST_LOG", "info,my_crate=debug,bad=[[[")]);
    assert_eq!(c.log_filter, "info,my_crate=debug");
    let [warning] = c.warnings.as_slice() else {
        panic!("one warning: {:?}", c.warnings);
    };
    assert!(warning.contains("\"bad=[[[\""), "{warning}");
    assert!(
        warning.contains("RUST_LOG=\"info,my_crate=debug\""),
        "{warning}"
    );
    // Span directives stay with the log filter.
    let c = config(&[("RUST_LOG", "warn,[request{id=1}]=trace,x=[[[")]);
    assert_eq!(c.log_filter, "warn,[request{id=1}]=trace");
    // Each bad one is named; the traces filter, `target=level` only, keeps its good ones.
    let c = config(&[(
        "OBS_TRACES_FILTER",
        "orders=debug,[request{id=1}]=trace,warn,a=b=c",
    )]);
    assert_eq!(c.traces_filter, "orders=debug,warn");
    assert!(warned(&c, "OBS_TRACES_FILTER", "\"[request{id=1}]=trace\""));
    assert!(warned(&c, "OBS_TRACES_FILTER", "\"a=b=c\""));
    // Nothing good: the default.
    let c = config(&[("RUST_LOG", "[[[,x=[[[")]);
    assert_eq!(c.log_filter, "info");
    assert!(warned(&c, "RUST_LOG", "using RUST_LOG=\"info\""));
    // In code, a bad directive is an error that names it.
    let err = obs_core::builder()
        .log_filter("info,my_crate=debug,bad=[[[")
        .config_with(&|_| None)
        .unwrap_err();
    assert!(err.to_string().contains("\"bad=[[[\""), "{err}");
}

#[test]
fn unsampled_spans_follow_the_json_logs_unless_set() {
    use obs_core::trace::UnsampledSpans;
    assert_eq!(config(&[]).unsampled_spans, None);
    let c = config(&[("OBS_UNSAMPLED_SPANS", "skip")]);
    assert_eq!(c.unsampled_spans, Some(UnsampledSpans::Skip));
    let c = config(&[("OBS_UNSAMPLED_SPANS", "keep")]);
    assert_eq!(c.unsampled_spans, Some(UnsampledSpans::Keep));
    let c = config(&[("OBS_UNSAMPLED_SPANS", "sometimes")]);
    assert_eq!(c.unsampled_spans, None);
    assert!(warned(&c, "OBS_UNSAMPLED_SPANS", "sometimes"));
    let built = obs_core::builder()
        .unsampled_spans(UnsampledSpans::Keep)
        .config()
        .unwrap();
    assert_eq!(built.unsampled_spans, Some(UnsampledSpans::Keep));
}

#[test]
fn exemplar_filter_takes_the_spec_values_and_the_builder_wins() {
    const VAR: &str = "OTEL_METRICS_EXEMPLAR_FILTER";
    for (value, filter) in [
        ("always_on", ExemplarFilter::AlwaysOn),
        ("ALWAYS_OFF", ExemplarFilter::AlwaysOff),
        (" Trace_Based ", ExemplarFilter::TraceBased),
        ("", ExemplarFilter::TraceBased),
    ] {
        let c = config(&[(VAR, value)]);
        assert!(c.warnings.is_empty(), "{value:?}: {:?}", c.warnings);
        assert_eq!(c.exemplar_filter, filter, "{value:?}");
    }
    // The spec's names only, not the enum's: an unknown value warns once, default used.
    for bad in ["alwayson", "AlwaysOn", "parentbased_always_on"] {
        let c = config(&[(VAR, bad)]);
        assert_eq!(c.exemplar_filter, ExemplarFilter::TraceBased, "{bad}");
        assert!(warned(&c, VAR, bad), "{bad}: {:?}", c.warnings);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    }
    let env = |k: &str| (k == VAR).then(|| "always_on".to_owned());
    for filter in [ExemplarFilter::AlwaysOff, ExemplarFilter::TraceBased] {
        let c = obs_core::builder()
            .exemplar_filter(filter)
            .config_with(&env)
            .unwrap();
        assert_eq!(c.exemplar_filter, filter);
    }
    let c = obs_core::builder().config_with(&env).unwrap();
    assert_eq!(c.exemplar_filter, ExemplarFilter::AlwaysOn);
}

#[test]
fn tail_sampling_is_off_unless_a_latency_is_set() {
    use obs_core::trace::TailSampling;
    use std::time::Duration;
    assert_eq!(config(&[]).tail_sampling, None);
    let c = config(&[("OBS_TAIL_SAMPLING_LATENCY_MS", "250")]);
    assert_eq!(
        c.tail_sampling,
        Some(TailSampling::new(Duration::from_millis(250)))
    );
    let c = config(&[
        ("OBS_TAIL_SAMPLING_LATENCY_MS", "250"),
        ("OBS_TAIL_SAMPLING_RATIO", "0.1"),
    ]);
    assert_eq!(c.tail_sampling.map(|t| t.keep_ratio()), Some(0.1));
    // Bad values are warned about: a bad latency leaves tail sampling off, a bad ratio
    // leaves the baseline at 0, and a ratio alone does nothing.
    let c = config(&[("OBS_TAIL_SAMPLING_LATENCY_MS", "fast")]);
    assert_eq!(c.tail_sampling, None);
    assert!(warned(&c, "OBS_TAIL_SAMPLING_LATENCY_MS", "fast"));
    let c = config(&[
        ("OBS_TAIL_SAMPLING_LATENCY_MS", "250"),
        ("OBS_TAIL_SAMPLING_RATIO", "1.5"),
    ]);
    assert_eq!(c.tail_sampling.as_ref().map(|t| t.keep_ratio()), Some(0.0));
    assert!(warned(&c, "OBS_TAIL_SAMPLING_RATIO", "1.5"));
    let c = config(&[("OBS_TAIL_SAMPLING_RATIO", "0.5")]);
    assert_eq!(c.tail_sampling, None);
    assert!(warned(&c, "OBS_TAIL_SAMPLING_RATIO", "0.5"));
    let built = obs_core::builder()
        .tail_sampling(TailSampling::new(Duration::from_secs(1)))
        .config()
        .unwrap();
    assert_eq!(
        built.tail_sampling,
        Some(TailSampling::new(Duration::from_secs(1)))
    );
}

/// Only sampled spans reach the tail sampler: with a head sampler that samples nothing it
/// keeps nothing, not even a failed trace, which is said rather than left to be found out.
#[test]
fn tail_sampling_behind_a_head_sampler_that_samples_nothing_is_warned_about() {
    use obs_core::trace::{Sampler, TailSampling};
    use std::time::Duration;
    let env = |sampler: &'static str, arg: &'static str| {
        move |k: &str| match k {
            "OBS_TAIL_SAMPLING_LATENCY_MS" => Some("250".to_owned()),
            "OTEL_TRACES_SAMPLER" => Some(sampler.to_owned()),
            "OTEL_TRACES_SAMPLER_ARG" => Some(arg.to_owned()),
            _ => None,
        }
    };
    let tail_warned = |c: &Config| c.warnings.iter().any(|w| w.contains("tail sampling"));
    for (sampler, arg) in [("always_off", ""), ("traceidratio", "0")] {
        let c = obs_core::builder().config_with(&env(sampler, arg)).unwrap();
        assert!(tail_warned(&c), "{sampler} {arg}: {:?}", c.warnings);
    }
    let c = obs_core::builder()
        .sampler(Sampler::AlwaysOff)
        .tail_sampling(TailSampling::new(Duration::from_secs(1)))
        .config_with(&|_| None)
        .unwrap();
    assert!(tail_warned(&c), "{:?}", c.warnings);
    // A head sampler that lets some traces through is a choice, not a mistake: callers'
    // sampled traces (parentbased_always_off), or a share of them.
    for (sampler, arg) in [
        ("parentbased_always_off", ""),
        ("traceidratio", "0.1"),
        ("parentbased_always_on", ""),
    ] {
        let c = obs_core::builder().config_with(&env(sampler, arg)).unwrap();
        assert!(!tail_warned(&c), "{sampler} {arg}: {:?}", c.warnings);
    }
    // Without tail sampling, always_off is no mistake either.
    let c = obs_core::builder()
        .config_with(&|k| (k == "OTEL_TRACES_SAMPLER").then(|| "always_off".to_owned()))
        .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn process_and_runtime_metric_switches() {
    let c = config(&[]);
    assert!(c.process_metrics && c.runtime_metrics);
    let c = config(&[
        ("OBS_PROCESS_METRICS", "false"),
        ("OBS_RUNTIME_METRICS", "FALSE"),
    ]);
    assert!(!c.process_metrics && !c.runtime_metrics);
    let c = config(&[("OBS_PROCESS_METRICS", "off")]);
    assert!(c.process_metrics && warned(&c, "OBS_PROCESS_METRICS", "off"));
}

#[test]
fn metrics_temporality_preference() {
    const VAR: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
    for (value, expected) in [
        ("cumulative", TemporalityPreference::Cumulative),
        ("Delta", TemporalityPreference::Delta),
        ("LOWMEMORY", TemporalityPreference::LowMemory),
    ] {
        let c = config(&[(VAR, value)]);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(c.metrics_temporality, expected, "{value}");
    }
    let c = config(&[(VAR, "low_memory")]);
    assert_eq!(c.metrics_temporality, TemporalityPreference::Cumulative);
    assert!(warned(&c, VAR, "low_memory"));
    let get = |name: &str| (name == VAR).then(|| "delta".to_owned());
    let built = obs_core::builder()
        .metrics_temporality(TemporalityPreference::LowMemory)
        .config_with(&get)
        .unwrap();
    assert_eq!(
        built.metrics_temporality,
        TemporalityPreference::LowMemory,
        "the builder wins"
    );
}

#[test]
fn an_exponential_histogram_aggregation_is_warned_about() {
    const VAR: &str = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION";
    let c = config(&[(VAR, "Explicit_Bucket_Histogram")]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    for value in ["base2_exponential_bucket_histogram", "exponential"] {
        let c = config(&[(VAR, value)]);
        assert!(warned(&c, VAR, value), "{:?}", c.warnings);
        assert!(
            c.warnings[0].contains("using explicit_bucket_histogram"),
            "{:?}",
            c.warnings
        );
    }
}

#[test]
fn span_events_switch() {
    assert!(!config(&[]).span_events);
    assert!(config(&[("OBS_SPAN_EVENTS", "true")]).span_events);
    let c = config(&[("OBS_SPAN_EVENTS", "yes")]);
    assert!(!c.span_events && warned(&c, "OBS_SPAN_EVENTS", "yes"));
    let get = |name: &str| (name == "OBS_SPAN_EVENTS").then(|| "true".to_owned());
    let built = obs_core::builder()
        .span_events(false)
        .config_with(&get)
        .unwrap();
    assert!(!built.span_events, "the builder wins");
}

#[test]
fn builder_wins_over_the_environment() {
    let env: HashMap<&str, &str> = [
        ("OTEL_SERVICE_NAME", "from-env"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
        ("OTEL_TRACES_SAMPLER", "always_off"),
    ]
    .into_iter()
    .collect();
    let get = move |k: &str| env.get(k).map(|v| (*v).to_owned());
    let c = obs_core::builder()
        .service_name("from-code")
        .protocol(Protocol::Grpc)
        .otlp_endpoint("http://127.0.0.1:4317")
        .sampler(Sampler::AlwaysOn)
        .config_with(&get)
        .unwrap();
    assert_eq!(c.service_name.as_deref(), Some("from-code"));
    assert_eq!(c.traces_otlp.endpoint, "http://127.0.0.1:4317");
    assert_eq!(c.traces_otlp.protocol, Protocol::Grpc);
    assert_eq!(c.sampler, Sampler::AlwaysOn);
    // With only the protocol set in code, the default endpoint follows it.
    let c = obs_core::builder()
        .protocol(Protocol::Grpc)
        .config_with(&|_| None)
        .unwrap();
    assert_eq!(c.logs_otlp.endpoint, "http://localhost:4317");
}

/// What the builder's doc promises: a setting for all signals wins over the per-signal
/// variables too; `otlp_signal_endpoint` over both.
#[test]
fn builder_settings_for_all_signals_win_over_per_signal_variables() {
    let env: HashMap<&str, &str> = [
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://env-traces:4318/v1/traces",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1000"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
    ]
    .into_iter()
    .collect();
    let get = move |k: &str| env.get(k).map(|v| (*v).to_owned());
    let c = obs_core::builder()
        .otlp_endpoint("http://code:4317")
        .protocol(Protocol::Grpc)
        .otlp_timeout(Duration::from_secs(3))
        .compression(Compression::Gzip)
        .otlp_signal_endpoint(Signal::Logs, "http://code-logs:4317")
        .config_with(&get)
        .unwrap();
    let traces = &c.traces_otlp;
    assert_eq!(traces.endpoint, "http://code:4317");
    assert_eq!(traces.protocol, Protocol::Grpc);
    assert_eq!(traces.timeout, Duration::from_secs(3));
    assert_eq!(traces.compression, Compression::Gzip);
    assert_eq!(c.logs_otlp.endpoint, "http://code-logs:4317");
}

#[test]
fn invalid_builder_values_are_errors_that_name_the_setting() {
    let none = |_: &str| None;
    let mut cases: Vec<(obs_core::Builder, &str)> = vec![
        (
            obs_core::builder().otlp_endpoint("localhost:4317"),
            "otlp_endpoint",
        ),
        (
            obs_core::builder().sampler(Sampler::TraceIdRatio(1.5)),
            "sampler",
        ),
        (obs_core::builder().service_name(" "), "service_name"),
        // The common spec: an attribute key "MUST be a non-null and non-empty string".
        (
            obs_core::builder().resource_attribute("", "x"),
            "resource_attribute",
        ),
        (obs_core::builder().log_filter("[[["), "log_filter"),
        (
            obs_core::builder().traces_filter("orders=loud"),
            "traces_filter",
        ),
        (
            obs_core::builder().metric_export_interval(Duration::ZERO),
            "metric_export_interval",
        ),
        (
            obs_core::builder().otlp_header("bad header", "v"),
            "otlp_header",
        ),
        (
            obs_core::builder().otlp_header("x-key", "line\nbreak"),
            "otlp_header",
        ),
        (
            obs_core::builder().span_batch(obs_core::BatchSettings {
                max_export_batch_size: 10_000,
                ..obs_core::BatchSettings::SPANS
            }),
            "span_batch",
        ),
        (
            obs_core::builder().log_batch(obs_core::BatchSettings {
                max_queue_size: obs_core::BatchSettings::MAX_QUEUE_SIZE + 1,
                ..obs_core::BatchSettings::LOGS
            }),
            "log_batch",
        ),
        (
            obs_core::builder().max_request_bytes(0),
            "max_request_bytes",
        ),
        (obs_core::builder().max_queue_bytes(0), "max_queue_bytes"),
        // "For ever" as `Duration::MAX` overflowed when added to the current time.
        (
            obs_core::builder().otlp_timeout(Duration::MAX),
            "otlp_timeout",
        ),
        (
            obs_core::builder().span_batch(obs_core::BatchSettings {
                schedule_delay: Duration::MAX,
                ..obs_core::BatchSettings::SPANS
            }),
            "span_batch",
        ),
        (
            obs_core::builder().log_batch(obs_core::BatchSettings {
                export_timeout: Duration::MAX,
                ..obs_core::BatchSettings::LOGS
            }),
            "log_batch",
        ),
        (
            obs_core::builder().metric_export_interval(Duration::MAX),
            "metric_export_interval",
        ),
        (
            obs_core::builder().shutdown_timeout(Duration::MAX),
            "shutdown_timeout",
        ),
    ];
    // Without the `tls` feature, `https://` is refused (tests/tests/tls_config.rs has it on).
    let https = obs_core::builder().otlp_endpoint("https://secure:4317");
    if cfg!(feature = "tls") {
        assert!(https.config_with(&none).is_ok());
    } else {
        cases.push((https, "otlp_endpoint"));
    }
    for (b, setting) in cases {
        match b.config_with(&none) {
            Err(e @ InitError::InvalidSetting { .. }) => {
                assert!(e.to_string().contains(setting), "{e}");
            }
            other => panic!("{setting}: expected an error, got {other:?}"),
        }
    }
}

#[test]
fn a_bad_general_otlp_variable_is_warned_about_once() {
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "abc"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
    ];
    let c = config(&vars);
    for (k, _) in vars {
        let n = c.warnings.iter().filter(|w| w.contains(k)).count();
        assert_eq!(n, 1, "{k}: {:?}", c.warnings);
    }
}

/// A bad per-signal value leaves the general variable in force, and its warning says so
/// rather than promising the default.
#[test]
fn a_bad_per_signal_value_is_warned_about_naming_the_general_variable_used() {
    let general = [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ];
    let bad = [
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://collector:4317"),
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "-1"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "zstd"),
    ];
    let c = config(&[general.as_slice(), bad.as_slice()].concat());
    assert_eq!(c.traces_otlp.protocol, Protocol::Grpc);
    assert_eq!(c.traces_otlp.endpoint, "http://collector:4317");
    assert_eq!(c.logs_otlp.timeout, Duration::from_millis(2000));
    assert_eq!(c.metrics_otlp.compression, Compression::Gzip);
    assert_eq!(c.warnings.len(), bad.len(), "{:?}", c.warnings);
    for ((name, value), (general, _)) in bad.into_iter().zip(general) {
        let warning = c
            .warnings
            .iter()
            .find(|w| w.contains(name))
            .unwrap_or_else(|| panic!("{name}: {:?}", c.warnings));
        assert!(warning.contains(value), "{warning}");
        assert!(warning.ends_with(&format!("using {general}")), "{warning}");
    }
    // Without the general variable, the default is what is used.
    let c = config(&[("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "-1")]);
    assert!(
        c.warnings[0].ends_with("using the default"),
        "{:?}",
        c.warnings
    );
    // OTLP/JSON is named as unsupported, not as an unknown protocol.
    let c = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "HTTP/JSON")]);
    assert!(
        c.warnings[0].contains("OTLP/JSON (http/json) is not supported"),
        "{:?}",
        c.warnings
    );
}

/// A gRPC call goes to the service's own path (`/opentelemetry.proto.collector.../Export`),
/// so a path in a gRPC endpoint is not used; it was dropped without a word.
#[test]
fn a_path_in_a_grpc_endpoint_is_warned_about() {
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gateway:4317/otlp"),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:4317/"),
    ]);
    assert_eq!(c.traces_otlp.endpoint, "http://gateway:4317/otlp");
    let [warning] = c.warnings.as_slice() else {
        panic!("one warning, for the general variable: {:?}", c.warnings);
    };
    assert!(
        warning.contains("OTEL_EXPORTER_OTLP_ENDPOINT") && warning.contains("/otlp"),
        "{warning}"
    );
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://collector:4317/v1/traces",
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://c:4318/v1/metrics",
        ),
    ]);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(warned(
        &c,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "/v1/traces"
    ));
}

#[test]
fn a_bad_per_signal_timeout_falls_back_to_the_general_one() {
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "abc"),
    ]);
    assert_eq!(c.traces_otlp.timeout, Duration::from_millis(2000));
    assert!(warned(&c, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "abc"));
}

#[test]
fn enum_values_are_case_insensitive() {
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "GRPC"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "None"),
        ("OTEL_TRACES_EXPORTER", "Console"),
        ("OTEL_METRICS_EXPORTER", "NONE"),
        ("OTEL_LOGS_EXPORTER", "OTLP"),
        ("OTEL_TRACES_SAMPLER", "TraceIdRatio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
        ("OBS_LOG_FORMAT", "None"),
        ("OBS_UNSAMPLED_SPANS", "Keep"),
        ("OTEL_METRICS_EXEMPLAR_FILTER", "Always_Off"),
    ]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.traces_otlp.protocol, Protocol::Grpc);
    assert_eq!(c.traces_otlp.compression, Compression::Gzip);
    assert_eq!(c.logs_otlp.compression, Compression::None);
    assert_eq!(c.traces_exporter, ExporterKind::Console);
    assert_eq!(c.metrics_exporter, ExporterKind::None);
    assert_eq!(c.logs_exporter, ExporterKind::Otlp);
    assert_eq!(c.sampler, Sampler::TraceIdRatio(0.5));
    assert!(!c.json_logs);
    assert_eq!(
        c.unsampled_spans,
        Some(obs_core::trace::UnsampledSpans::Keep)
    );
    assert_eq!(c.exemplar_filter, ExemplarFilter::AlwaysOff);
}

#[test]
fn the_signal_path_goes_before_the_query_string() {
    let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4318?x=1")]);
    assert_eq!(c.traces_otlp.endpoint, "http://h:4318/v1/traces?x=1");
    let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4318/base/?x=1&y=2")]);
    assert_eq!(c.logs_otlp.endpoint, "http://h:4318/base/v1/logs?x=1&y=2");
    let c = obs_core::builder()
        .otlp_endpoint("http://h:4318/p?k=v")
        .config_with(&|_| None)
        .unwrap();
    assert_eq!(c.metrics_otlp.endpoint, "http://h:4318/p/v1/metrics?k=v");
}

/// The spec lets an exporter ignore URL components other than scheme, host, port and path; a
/// fragment is ignored, not left in front of `/v1/{signal}`, where it swallowed the signal's
/// path (`http://h:4318/otlp#x/v1/traces` is a request to `/otlp`).
#[test]
fn a_fragment_in_the_base_endpoint_is_ignored() {
    let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4318/otlp#x")]);
    assert_eq!(c.traces_otlp.endpoint, "http://h:4318/otlp/v1/traces");
    let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4318/?k=v#x")]);
    assert_eq!(c.logs_otlp.endpoint, "http://h:4318/v1/logs?k=v");
}

#[test]
fn a_bad_header_is_skipped_and_the_others_kept() {
    let c = config(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "api key=x,k=%0Ax,tenant=a,novalue,x-key=1",
    )]);
    assert_eq!(
        c.traces_otlp.headers,
        vec![("tenant".into(), "a".into()), ("x-key".into(), "1".into())]
    );
    // Each bad member is named by its place and key; its value is withheld, as header values
    // are API keys and the warning goes to stderr, into the logs (a member with no `=` may be a
    // key pasted alone: none of it is shown).
    assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
    for (place, key) in [("1", "\"api key\""), ("2", "\"k\""), ("4", "")] {
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("OTEL_EXPORTER_OTLP_HEADERS")
                    && w.contains(&format!("member {place}"))
                    && w.contains(key)),
            "member {place}: {:?}",
            c.warnings
        );
    }
    for secret in ["=x", "%0Ax", "novalue"] {
        assert!(
            c.warnings.iter().all(|w| !w.contains(secret)),
            "{secret} shown: {:?}",
            c.warnings
        );
    }
    // A per-signal value with no good member leaves the general one in force.
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_HEADERS", "tenant=a"),
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "bad name=1"),
    ]);
    assert_eq!(c.logs_otlp.headers, vec![("tenant".into(), "a".into())]);
    assert!(warned(
        &c,
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        "\"bad name\""
    ));
}

/// A header the builder refuses is named in the error without its value: an API key read
/// from a file with its trailing newline would otherwise be printed by `main`'s `?`.
#[test]
fn a_bad_builder_header_is_an_error_that_withholds_its_value() {
    let err = obs_core::builder()
        .otlp_header("authorization", "Bearer s3cret\n")
        .config_with(&|_| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("authorization"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn a_builder_header_replaces_the_environments_of_the_same_name() {
    let env: HashMap<&str, &str> = [
        ("OTEL_EXPORTER_OTLP_HEADERS", "X-Key=e,tenant=a"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-key=t"),
    ]
    .into_iter()
    .collect();
    let get = move |k: &str| env.get(k).map(|v| (*v).to_owned());
    let c = obs_core::builder()
        .otlp_header("x-key", "b")
        .config_with(&get)
        .unwrap();
    assert_eq!(
        c.logs_otlp.headers,
        vec![("tenant".into(), "a".into()), ("x-key".into(), "b".into())]
    );
    assert_eq!(c.traces_otlp.headers, vec![("x-key".into(), "b".into())]);
}

/// One signal's settings in code win over those for all signals, in code or variables, and
/// leave the other signals alone (a backend that takes each signal under its own dataset).
#[test]
fn a_builder_signal_setting_wins_over_the_general_ones_for_its_signal_only() {
    let env: HashMap<&str, &str> = [
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "x-dataset=env-traces,x-team=a",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "3000"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip"),
    ]
    .into_iter()
    .collect();
    let get = move |k: &str| env.get(k).map(|v| (*v).to_owned());
    let c = obs_core::builder()
        .otlp_header("X-Dataset", "all")
        .otlp_signal_header(Signal::Traces, "x-dataset", "traces")
        .otlp_signal_header(Signal::Metrics, "x-dataset", "metrics")
        .otlp_timeout(Duration::from_secs(20))
        .otlp_signal_timeout(Signal::Metrics, Duration::from_secs(2))
        .compression(Compression::Gzip)
        .otlp_signal_compression(Signal::Logs, Compression::None)
        .config_with(&get)
        .unwrap();
    assert_eq!(
        c.traces_otlp.headers,
        vec![
            ("x-team".into(), "a".into()),
            ("x-dataset".into(), "traces".into())
        ]
    );
    assert_eq!(
        c.metrics_otlp.headers,
        vec![("x-dataset".into(), "metrics".into())]
    );
    assert_eq!(
        c.logs_otlp.headers,
        vec![("X-Dataset".into(), "all".into())]
    );
    assert_eq!(c.traces_otlp.timeout, Duration::from_secs(20));
    assert_eq!(c.metrics_otlp.timeout, Duration::from_secs(2));
    assert_eq!(c.logs_otlp.timeout, Duration::from_secs(20));
    assert_eq!(c.traces_otlp.compression, Compression::Gzip);
    assert_eq!(c.metrics_otlp.compression, Compression::Gzip);
    assert_eq!(c.logs_otlp.compression, Compression::None);

    // The same checks as for all signals, naming the per-signal setting.
    let err = obs_core::builder()
        .otlp_signal_header(Signal::Logs, "authorization", "Bearer s3cret\n")
        .config_with(&|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("otlp_signal_header") && err.contains("authorization"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    let err = obs_core::builder()
        .protocol(Protocol::Grpc)
        .otlp_signal_header(Signal::Metrics, "authorization", "Bearer s3cr\u{e9}t")
        .config_with(&|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("otlp_signal_header") && err.contains("gRPC metadata"),
        "{err}"
    );
    let err = obs_core::builder()
        .otlp_signal_timeout(Signal::Traces, Duration::MAX)
        .config_with(&|_| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("otlp_signal_timeout"), "{err}");
    // A general timeout that every signal's own replaces is still checked.
    let mut builder = obs_core::builder().otlp_timeout(Duration::MAX);
    for signal in Signal::ALL {
        builder = builder.otlp_signal_timeout(signal, Duration::from_secs(1));
    }
    let err = builder.config_with(&|_| None).unwrap_err().to_string();
    assert!(err.contains("otlp_timeout"), "{err}");
}

#[test]
fn a_service_name_from_the_builder_wins_over_every_variable() {
    let env: HashMap<&str, &str> = [
        ("OTEL_SERVICE_NAME", "from-env"),
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes"),
    ]
    .into_iter()
    .collect();
    let get = move |k: &str| env.get(k).map(|v| (*v).to_owned());
    let name = |b: obs_core::Builder| {
        let c = b.config_with(&get).unwrap();
        obs_core::ResourceAttributes::from_config(&c)
            .service_name()
            .to_owned()
    };
    assert_eq!(name(obs_core::builder()), "from-env");
    assert_eq!(
        name(obs_core::builder().resource_attribute("service.name", "attr")),
        "attr"
    );
    assert_eq!(name(obs_core::builder().service_name("named")), "named");
    assert_eq!(
        name(
            obs_core::builder()
                .service_name("named")
                .resource_attribute("service.name", "attr")
        ),
        "named",
        "service_name is the more specific setting"
    );
}

#[test]
fn a_zero_timeout_means_no_limit_and_is_no_error() {
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "0"),
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "0"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "0"),
        ("OTEL_BLRP_EXPORT_TIMEOUT", "0"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "0"),
    ]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    for s in Signal::ALL {
        assert_eq!(c.otlp(s).timeout, Duration::ZERO);
    }
    assert_eq!(c.span_batch.export_timeout, Duration::ZERO);
    assert_eq!(c.log_batch.export_timeout, Duration::ZERO);
    assert_eq!(c.metric_export_timeout, Duration::ZERO);
    let c = obs_core::builder()
        .otlp_timeout(Duration::ZERO)
        .config_with(&|_| None)
        .unwrap();
    assert_eq!(c.traces_otlp.timeout, Duration::ZERO);
}

#[test]
fn a_huge_queue_size_is_capped() {
    const MAX: usize = obs_core::BatchSettings::MAX_QUEUE_SIZE;
    let c = config(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "2147483647"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "2147483647"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "2147483647"),
    ]);
    assert_eq!(c.span_batch.max_queue_size, MAX);
    assert_eq!(c.span_batch.max_export_batch_size, 512);
    assert_eq!(c.log_batch.max_queue_size, MAX);
    assert_eq!(
        c.log_batch.max_export_batch_size, MAX,
        "still at most the queue"
    );
    assert!(warned(&c, "OTEL_BSP_MAX_QUEUE_SIZE", "2147483647"));
    assert!(warned(&c, "OTEL_BLRP_MAX_QUEUE_SIZE", "2147483647"));
    let at_max = obs_core::BatchSettings {
        max_queue_size: MAX,
        ..obs_core::BatchSettings::SPANS
    };
    let c = obs_core::builder()
        .span_batch(at_max)
        .config_with(&|_| None)
        .unwrap();
    assert_eq!(c.span_batch, at_max);
}

#[test]
fn otel_log_level_sets_which_diagnostics_show() {
    use obs_core::trace::diagnostics::Level;
    assert_eq!(config(&[]).diagnostics, Level::Warn);
    for (value, level) in [
        ("none", Level::Off),
        ("OFF", Level::Off),
        ("error", Level::Error),
        ("fatal", Level::Error),
        ("warn", Level::Warn),
        ("Info", Level::Warn),
        ("debug", Level::Warn),
        ("all", Level::Warn),
    ] {
        let c = config(&[("OTEL_LOG_LEVEL", value)]);
        assert_eq!(c.diagnostics, level, "{value}");
        assert!(c.warnings.is_empty(), "{value}: {:?}", c.warnings);
    }
    let c = config(&[("OTEL_LOG_LEVEL", "chatty")]);
    assert_eq!(c.diagnostics, Level::Warn);
    assert!(warned(&c, "OTEL_LOG_LEVEL", "chatty"), "{:?}", c.warnings);
}

/// An HTTP header value may hold a tab or bytes above 0x7F, gRPC ASCII metadata neither:
/// over gRPC such a header is left out with a warning (its value withheld), unless its name
/// ends in `-bin`, which sends any bytes; over HTTP it is kept. From the builder it is an
/// error, like any header the builder can't send.
#[test]
fn a_header_that_is_not_grpc_metadata_is_left_out_of_grpc_exports_with_a_warning() {
    let headers = (
        "OTEL_EXPORTER_OTLP_HEADERS",
        "tab=a%09b,utf8=caf%C3%A9,raw-bin=caf%C3%A9,tenant=a",
    );
    let http = config(&[headers]);
    assert_eq!(http.traces_otlp.headers.len(), 4, "{:?}", http.warnings);
    assert!(http.warnings.is_empty(), "{:?}", http.warnings);

    let grpc = config(&[headers, ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")]);
    let names = |s: &obs_core::OtlpSettings| -> Vec<String> {
        s.headers.iter().map(|(k, _)| k.clone()).collect()
    };
    assert_eq!(names(&grpc.traces_otlp), ["raw-bin", "tenant"]);
    assert_eq!(names(&grpc.logs_otlp), ["tab", "utf8", "raw-bin", "tenant"]);
    for key in ["\"tab\"", "\"utf8\""] {
        assert!(
            grpc.warnings
                .iter()
                .any(|w| w.contains(key) && w.contains("gRPC metadata")),
            "{key}: {:?}",
            grpc.warnings
        );
    }
    assert_eq!(grpc.warnings.len(), 2, "{:?}", grpc.warnings);
    assert!(
        grpc.warnings.iter().all(|w| !w.contains("caf")),
        "{:?}",
        grpc.warnings
    );

    let err = obs_core::builder()
        .protocol(Protocol::Grpc)
        .otlp_header("authorization", "Bearer s3cr\u{e9}t")
        .config_with(&|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("authorization") && err.contains("gRPC metadata"),
        "{err}"
    );
    assert!(!err.contains("s3cr"), "{err}");
    assert!(
        obs_core::builder()
            .protocol(Protocol::HttpProtobuf)
            .otlp_header("authorization", "Bearer s3cr\u{e9}t")
            .config_with(&|_| None)
            .is_ok()
    );
}

#[test]
fn semconv_stability_opt_in_chooses_the_rpc_conventions_and_dup_wins() {
    assert_eq!(config(&[]).rpc_conventions, RpcConventions::Old);
    for (value, chosen) in [
        ("rpc", RpcConventions::Stable),
        (" RPC ", RpcConventions::Stable),
        ("rpc/dup", RpcConventions::Both),
        // RPC README: "`rpc/dup` has higher precedence than `rpc` in case both values are
        // present", in either order.
        ("rpc,rpc/dup", RpcConventions::Both),
        ("rpc/dup, rpc", RpcConventions::Both),
        // The HTTP conventions' values are known (obs-tower emits stable HTTP anyway).
        ("http", RpcConventions::Old),
        ("http/dup,rpc", RpcConventions::Stable),
        (",rpc,,", RpcConventions::Stable),
    ] {
        let c = config(&[("OTEL_SEMCONV_STABILITY_OPT_IN", value)]);
        assert!(c.warnings.is_empty(), "{value}: {:?}", c.warnings);
        assert_eq!(c.rpc_conventions, chosen, "{value}");
    }
    // Another category's value is ignored with a warning; the rest is used.
    let c = config(&[("OTEL_SEMCONV_STABILITY_OPT_IN", "database,rpc/dup,rpcs")]);
    assert_eq!(c.rpc_conventions, RpcConventions::Both);
    let [warning] = c.warnings.as_slice() else {
        panic!("one warning: {:?}", c.warnings);
    };
    assert!(
        warning.contains("database, rpcs not known to obs"),
        "{warning}"
    );
    assert!(warning.ends_with("using rpc/dup"), "{warning}");
    // The builder's choice wins.
    let c = obs_core::builder()
        .rpc_conventions(RpcConventions::Stable)
        .config_with(&|k| (k == "OTEL_SEMCONV_STABILITY_OPT_IN").then(|| "rpc/dup".to_owned()))
        .unwrap();
    assert_eq!(c.rpc_conventions, RpcConventions::Stable);
}

/// A literal `%` (`discount=100%`) is a well-formed pair whose value does not decode: the
/// warning says so and how to write it, rather than "not a key=value pair", in a resource
/// attribute as in a header (whose value stays withheld).
#[test]
fn a_bad_percent_escape_is_warned_about_as_such() {
    let c = config(&[("OTEL_RESOURCE_ATTRIBUTES", "discount=100%")]);
    assert!(c.resource_attributes.is_empty());
    let warning = c.warnings.join("\n");
    assert!(warning.contains("OTEL_RESOURCE_ATTRIBUTES"), "{warning}");
    assert!(warning.contains("%25"), "{warning}");
    assert!(
        !warning.contains("not a list of key=value pairs"),
        "{warning}"
    );

    let c = config(&[("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cr%t,x-team=a")]);
    assert_eq!(
        c.otlp(Signal::Traces).headers,
        vec![("x-team".to_owned(), "a".to_owned())]
    );
    let warning = c.warnings.join("\n");
    assert!(warning.contains("%25"), "{warning}");
    assert!(!warning.contains("not a key=value pair"), "{warning}");
    assert!(
        !warning.contains("s3cr"),
        "a header value is never shown: {warning}"
    );

    // A member without `=` is still said to be one.
    let c = config(&[("OTEL_RESOURCE_ATTRIBUTES", "a=1,b")]);
    let warning = c.warnings.join("\n");
    assert!(warning.contains("not a key=value pair"), "{warning}");
}

/// Over http/protobuf the general endpoint is a base URL, each signal's path appended (OTLP
/// exporter spec): one that already ends with a signal's path, copied from a per-signal
/// example, sends every signal to `.../v1/traces/v1/{signal}`. That is what the spec says
/// to do, so it is done, and said, once, with the variable that takes a full URL.
#[test]
fn a_general_endpoint_ending_with_a_signal_path_is_warned_about() {
    let c = config(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "http://collector:4318/v1/traces/",
    )]);
    assert_eq!(
        c.traces_otlp.endpoint,
        "http://collector:4318/v1/traces/v1/traces"
    );
    let [warning] = c.warnings.as_slice() else {
        panic!("one warning: {:?}", c.warnings);
    };
    assert!(warning.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{warning}");
    assert!(
        warning.contains("http://collector:4318/v1/traces/v1/traces"),
        "{warning}"
    );
    assert!(
        warning.contains("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        "{warning}"
    );
    // A base path of another name is no mistake.
    for endpoint in [
        "http://collector:4318/otlp/v1",
        "http://collector:4318/v1/tracesx",
    ] {
        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)]);
        assert!(c.warnings.is_empty(), "{endpoint}: {:?}", c.warnings);
    }
    // A per-signal endpoint is a full URL: nothing to say.
    let c = config(&[(
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "http://collector:4318/v1/logs",
    )]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

/// `Builder::otlp_endpoint` is the same base URL as `OTEL_EXPORTER_OTLP_ENDPOINT`, and gets
/// the same word when it ends with a signal's path, naming the builder's settings.
#[test]
fn a_builder_endpoint_ending_with_a_signal_path_is_warned_about() {
    let none = |_: &str| None;
    let c = obs_core::builder()
        .otlp_endpoint("http://collector:4318/v1/logs")
        .config_with(&none)
        .unwrap();
    assert_eq!(
        c.logs_otlp.endpoint,
        "http://collector:4318/v1/logs/v1/logs"
    );
    let [warning] = c.warnings.as_slice() else {
        panic!("one warning: {:?}", c.warnings);
    };
    assert!(warning.contains("Builder::otlp_endpoint"), "{warning}");
    assert!(
        warning.contains("otlp_signal_endpoint(Signal::Logs"),
        "{warning}"
    );
    // Over gRPC the path is not used (warned about as such elsewhere), and a plain base
    // URL is no mistake.
    let grpc = obs_core::builder()
        .protocol(obs_core::Protocol::Grpc)
        .otlp_endpoint("http://collector:4317")
        .config_with(&none)
        .unwrap();
    let base = obs_core::builder()
        .otlp_endpoint("http://collector:4318")
        .config_with(&none)
        .unwrap();
    for c in [grpc, base] {
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }
}

/// Credentials in an endpoint's URL (`http://user:password@host`, sent as Basic
/// authorization) are withheld from every warning and error about the endpoint, as header
/// values are: these go to stderr, and so into the logs.
#[test]
fn credentials_in_an_endpoint_are_withheld_from_warnings_and_errors() {
    const SECRET: &str = "s3cret";
    let cases: [&[(&str, &str)]; 3] = [
        // Not a URL obs takes.
        &[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "ftp://ingest:s3cret@collector:4318",
        )],
        // A base URL ending with a signal's path.
        &[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://ingest:s3cret@collector:4318/v1/traces",
        )],
        // A path a gRPC endpoint does not use.
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://ingest:s3cret@collector:4317/otlp",
            ),
        ],
    ];
    for vars in cases {
        let c = config(vars);
        let [warning] = c.warnings.as_slice() else {
            panic!("one warning: {:?}", c.warnings);
        };
        assert!(!warning.contains(SECRET), "{warning}");
        assert!(warning.contains("://***@collector"), "{warning}");
    }
    // A key in the query (some receivers take it there): every value withheld, names kept.
    let c = config(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "http://collector:4318/v1/traces?api_key=s3cret&region=eu&flag#top",
    )]);
    let [warning] = c.warnings.as_slice() else {
        panic!("one warning: {:?}", c.warnings);
    };
    assert!(!warning.contains(SECRET), "{warning}");
    assert!(
        warning.contains("http://collector:4318/v1/traces?api_key=***&region=***&flag#top"),
        "{warning}"
    );
    let none = |_: &str| None;
    let warned = obs_core::builder()
        .otlp_endpoint("http://ingest:s3cret@collector:4318/v1/logs")
        .config_with(&none)
        .unwrap();
    assert!(!format!("{:?}", warned.warnings).contains(SECRET));
    let refused = obs_core::builder()
        .otlp_signal_endpoint(Signal::Logs, "ftp://ingest:s3cret@collector:4318")
        .config_with(&none)
        .expect_err("not an http URL")
        .to_string();
    assert!(!refused.contains(SECRET), "{refused}");
    assert!(refused.contains("ftp://***@collector:4318"), "{refused}");
}

/// The headers that frame and encode the body obs sends (its length, type, coding) are
/// obs's own: one set by a variable or the builder replaced obs's and broke every export
/// (`content-encoding=gzip` on an uncompressed body, a `content-length` that cut it short,
/// over gRPC an h2 protocol error). It is refused as a bad header is, saying what to use.
#[test]
fn a_header_that_frames_the_body_is_refused() {
    let c = config(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "Content-Encoding=gzip,x-key=1,content-length=5,Content-Type=application/json,\
         transfer-encoding=chunked",
    )]);
    assert_eq!(c.traces_otlp.headers, vec![("x-key".into(), "1".into())]);
    assert_eq!(c.warnings.len(), 4, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("member 1") && c.warnings[0].contains("COMPRESSION"),
        "{:?}",
        c.warnings
    );
    let err = obs_core::builder()
        .otlp_header("Content-Length", "5")
        .config_with(&|_| None)
        .expect_err("obs's own header");
    assert!(err.to_string().contains("otlp_header"), "{err}");
}

/// The reverse mistake: a base URL (`http://collector:4318`) copied into a per-signal
/// variable. Over http/protobuf the spec has it used as is, root path included, so every
/// export got a bare `HTTP 404`; it is still used as is, and said once at init, with the
/// full URL meant and where a base URL goes.
#[test]
fn a_per_signal_endpoint_without_a_path_is_warned_about() {
    for endpoint in ["http://collector:4318", "http://collector:4318/"] {
        let c = config(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)]);
        assert_eq!(c.traces_otlp.endpoint, endpoint, "used as is");
        let [warning] = c.warnings.as_slice() else {
            panic!("{endpoint}: one warning: {:?}", c.warnings);
        };
        assert!(
            warning.contains("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            "{warning}"
        );
        assert!(
            warning.contains("http://collector:4318/v1/traces"),
            "{warning}"
        );
        assert!(warning.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{warning}");
    }
    // Over gRPC the path is not used; a full URL is no mistake.
    for vars in [
        [
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://collector:4317",
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
        ],
        [
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://collector:4318/v1/metrics",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ],
    ] {
        let c = config(&vars);
        assert!(c.warnings.is_empty(), "{vars:?}: {:?}", c.warnings);
    }
    // The builder's per-signal endpoint, named as such.
    let none = |_: &str| None;
    let c = obs_core::builder()
        .otlp_signal_endpoint(Signal::Logs, "http://collector:4318")
        .config_with(&none)
        .unwrap();
    let [warning] = c.warnings.as_slice() else {
        panic!("one warning: {:?}", c.warnings);
    };
    assert!(
        warning.contains("otlp_signal_endpoint(Signal::Logs"),
        "{warning}"
    );
    assert!(
        warning.contains("http://collector:4318/v1/logs"),
        "{warning}"
    );
    assert!(warning.contains("Builder::otlp_endpoint"), "{warning}");
}

/// The spec's variables obs does not implement are warned about when set, not ignored
/// silently: `OTEL_CONFIG_FILE`'s file would take precedence over every other variable
/// ("Declarative configuration"), so a user setting it believes the variables beside it
/// ignored, and the file in force; `OTEL_ENTITIES` reads as if it added to the resource; the
/// obsolete `_SPAN_`/`_METRIC_INSECURE` names as if they made a gRPC endpoint plaintext.
#[test]
fn unsupported_spec_variables_are_warned_about_when_set() {
    for (name, value, using) in [
        (
            "OTEL_CONFIG_FILE",
            "/etc/otel/sdk.yaml",
            "using the environment variables",
        ),
        (
            "OTEL_EXPERIMENTAL_CONFIG_FILE",
            "/etc/otel/sdk.yaml",
            "using the environment variables",
        ),
        (
            "OTEL_ENTITIES",
            "service{service.name=orders}[service.version=1.0]",
            "using no entities",
        ),
        (
            "OTEL_EXPORTER_OTLP_SPAN_INSECURE",
            "true",
            "using OTEL_EXPORTER_OTLP_TRACES_INSECURE",
        ),
        (
            "OTEL_EXPORTER_OTLP_METRIC_INSECURE",
            "true",
            "using OTEL_EXPORTER_OTLP_METRICS_INSECURE",
        ),
    ] {
        let c = config(&[(name, value)]);
        let [warning] = c.warnings.as_slice() else {
            panic!("{name}: one warning: {:?}", c.warnings);
        };
        assert!(
            warning.contains(name) && warning.contains(value),
            "{warning}"
        );
        assert!(warning.contains(using), "{warning}");
        // Empty is unset, as for every variable.
        assert!(config(&[(name, "")]).warnings.is_empty(), "{name}");
    }
    // Nothing else changes: the variables beside them stay in force.
    let c = config(&[
        ("OTEL_CONFIG_FILE", "/etc/otel/sdk.yaml"),
        ("OTEL_SERVICE_NAME", "orders"),
    ]);
    assert_eq!(c.service_name.as_deref(), Some("orders"));
}

/// `otlp/stdout`, the spec's (in-development) OTLP File exporter writing to stdout, asks for
/// OTLP/JSON lines, one request per line: what the console exporter prints. It was refused
/// as "not a supported exporter", and the signal sent over OTLP instead.
#[test]
fn the_otlp_stdout_exporter_is_the_console_one() {
    let c = config(&[
        ("OTEL_TRACES_EXPORTER", "otlp/stdout"),
        ("OTEL_METRICS_EXPORTER", "OTLP/stdout"),
        ("OTEL_LOGS_EXPORTER", " otlp/stdout "),
    ]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    for s in Signal::ALL {
        assert_eq!(c.exporter(s), ExporterKind::Console, "{s:?}");
    }
    // Another exporter beside it is still one too many.
    let c = config(&[("OTEL_TRACES_EXPORTER", "otlp/stdout,otlp")]);
    assert_eq!(c.traces_exporter, ExporterKind::Console);
    assert!(warned(&c, "OTEL_TRACES_EXPORTER", "using otlp/stdout"));
}

/// `logging` is the spec's deprecated name of `console`, kept "for backwards compatibility"
/// and one that "SHOULD NOT be supported by new implementations": obs still prints to stdout
/// with it, and says to use `console`, rather than take it silently.
#[test]
fn the_deprecated_logging_exporter_prints_and_is_warned_about() {
    let c = config(&[("OTEL_TRACES_EXPORTER", "Logging")]);
    assert_eq!(c.traces_exporter, ExporterKind::Console);
    let [warning] = c.warnings.as_slice() else {
        panic!("one warning: {:?}", c.warnings);
    };
    assert!(
        warning.contains("OTEL_TRACES_EXPORTER=logging") && warning.contains("set console"),
        "{warning}"
    );
    assert!(
        config(&[("OTEL_LOGS_EXPORTER", "console")])
            .warnings
            .is_empty()
    );
}

/// The spec: "The environment-based configuration MUST have a direct code configuration
/// equivalent". `OTEL_METRIC_EXPORT_TIMEOUT` had none (its interval had one): the builder's
/// wins over the variable, zero is no limit, and a duration obs can't wait is refused.
#[test]
fn the_metric_export_timeout_has_a_builder_setting_that_wins() {
    let env = |k: &str| (k == "OTEL_METRIC_EXPORT_TIMEOUT").then(|| "900".to_owned());
    let c = obs_core::builder().config_with(&env).unwrap();
    assert_eq!(c.metric_export_timeout, Duration::from_millis(900));
    for timeout in [Duration::from_secs(5), Duration::ZERO] {
        let c = obs_core::builder()
            .metric_export_timeout(timeout)
            .config_with(&env)
            .unwrap();
        assert_eq!(c.metric_export_timeout, timeout);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }
    match obs_core::builder()
        .metric_export_timeout(Duration::MAX)
        .config_with(&env)
    {
        Err(e @ InitError::InvalidSetting { .. }) => {
            assert!(e.to_string().contains("metric_export_timeout"), "{e}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}
