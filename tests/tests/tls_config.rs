//! TLS settings (obs-core's `tls` feature): the spec's certificate variables, per signal, and
//! the builder's; bad files are a warning from the environment and an error from the builder.

use std::path::PathBuf;

use obs_core::{Config, InitError, Signal};
use obs_tests::tls::Pki;

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(&|name| {
        let (_, value) = vars.iter().find(|(k, _)| *k == name)?;
        Some((*value).to_owned())
    })
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("UTF-8 temporary path")
}

#[test]
fn https_endpoints_are_accepted_with_the_tls_feature() {
    let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318")]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.traces_otlp.endpoint, "https://collector:4318/v1/traces");
    let b = obs_core::builder().otlp_signal_endpoint(Signal::Logs, "https://logs:443/v1/logs");
    assert_eq!(
        b.config_with(&|_| None).expect("valid").logs_otlp.endpoint,
        "https://logs:443/v1/logs"
    );
}

#[test]
fn certificate_variables_apply_per_signal() {
    let pki = Pki::generate("env");
    let other = Pki::generate("env-other");
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&pki.ca)),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            path(&pki.client_certificate),
        ),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", path(&pki.client_key)),
        ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", path(&other.ca)),
    ]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(
        c.traces_otlp.tls.certificate.as_deref(),
        Some(pki.ca.as_path())
    );
    assert_eq!(
        c.logs_otlp.tls.certificate.as_deref(),
        Some(pki.ca.as_path())
    );
    assert_eq!(
        c.metrics_otlp.tls.certificate.as_deref(),
        Some(other.ca.as_path()),
        "the per-signal variable wins"
    );
    assert_eq!(
        c.metrics_otlp.tls.client_key.as_deref(),
        Some(pki.client_key.as_path()),
        "each variable falls back on its own"
    );
}

#[test]
fn a_bad_certificate_variable_is_warned_about_once_and_left_out() {
    let pki = Pki::generate("env-bad");
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
        // A key is not a certificate.
        (
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            path(&pki.client_key),
        ),
        // A certificate without its key.
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            path(&pki.client_certificate),
        ),
    ]);
    let about = |needle: &str| c.warnings.iter().filter(|w| w.contains(needle)).count();
    assert_eq!(
        about("OTEL_EXPORTER_OTLP_CERTIFICATE="),
        1,
        "{:?}",
        c.warnings
    );
    assert_eq!(
        about("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE="),
        1,
        "{:?}",
        c.warnings
    );
    assert_eq!(about("needs its key"), 1, "{:?}", c.warnings);
    for signal in Signal::ALL {
        assert_eq!(
            c.otlp(signal).tls,
            obs_core::TlsFiles::default(),
            "{signal:?}"
        );
    }
}

/// A bad per-signal certificate is treated as unset, as every other per-signal variable: the
/// general one verifies the receiver, not the system's roots (which refuse a private CA).
#[test]
fn a_bad_per_signal_certificate_falls_back_to_the_general_one() {
    let pki = Pki::generate("env-fallback");
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&pki.ca)),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            "/nonexistent/ca.pem",
        ),
    ]);
    assert_eq!(
        c.traces_otlp.tls.certificate.as_deref(),
        Some(pki.ca.as_path())
    );
    let [warning] = c.warnings.as_slice() else {
        panic!("one warning: {:?}", c.warnings);
    };
    assert!(
        warning.contains("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE")
            && warning.ends_with("using OTEL_EXPORTER_OTLP_CERTIFICATE"),
        "{warning}"
    );
}

#[test]
fn bad_tls_files_from_the_builder_are_errors_that_name_the_setting() {
    let pki = Pki::generate("builder");
    let other = Pki::generate("builder-other");
    let none = |_: &str| None;
    let cases: Vec<(obs_core::Builder, &str, &str)> = vec![
        (
            obs_core::builder().otlp_certificate("/nonexistent/ca.pem"),
            "otlp_certificate",
            "cannot read",
        ),
        (
            obs_core::builder().otlp_certificate(&pki.client_key),
            "otlp_certificate",
            "no PEM certificate",
        ),
        (
            obs_core::builder().otlp_client_identity(&pki.client_certificate, &pki.ca),
            "otlp_client_identity",
            "private key",
        ),
        (
            // Another certificate's key.
            obs_core::builder().otlp_client_identity(&pki.client_certificate, &other.client_key),
            "otlp_client_identity",
            "not usable",
        ),
    ];
    for (b, setting, why) in cases {
        match b.config_with(&none) {
            Err(e @ InitError::InvalidSetting { .. }) => {
                let text = e.to_string();
                assert!(text.contains(setting) && text.contains(why), "{text}");
            }
            other => panic!("{setting}: expected an error, got {other:?}"),
        }
    }
    let good = obs_core::builder()
        .otlp_certificate(&pki.ca)
        .otlp_client_identity(&pki.client_certificate, &pki.client_key)
        .config_with(&none)
        .expect("valid files");
    assert_eq!(
        good.traces_otlp.tls.client_certificate,
        Some(PathBuf::from(&pki.client_certificate))
    );
}
