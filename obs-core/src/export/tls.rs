//! TLS to an `https://` endpoint (feature `tls`): rustls, verifying the receiver against the
//! configured CA certificates or else the system's roots, with a client certificate when one
//! is configured (mutual TLS). The files are PEM, read when `init` runs.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;

/// The checked PEM contents of a [`TlsFiles`].
pub(crate) struct TlsMaterial {
    certificate: Option<Vec<u8>>,
    identity: Option<Identity>,
}

/// A client certificate (chain) and its private key, PEM.
struct Identity {
    chain: Vec<u8>,
    key: Vec<u8>,
}

impl TlsMaterial {
    /// Reads and checks every file `files` names.
    pub(crate) fn load(files: &TlsFiles) -> Result<TlsMaterial, String> {
        let material = TlsMaterial {
            certificate: read_certificate(files)?,
            identity: read_identity(files)?,
        };
        // What building a configuration would check, without reading the system's roots: the
        // HTTP client reads them once, for its own, and tonic reads them for a gRPC channel.
        material.configured_roots()?;
        material.check_client_auth()?;
        Ok(material)
    }

    /// Whether `files.certificate`, if set, can be read and holds certificates.
    pub(crate) fn check_certificate(files: &TlsFiles) -> Result<(), String> {
        read_certificate(files).map(drop)
    }

    /// Whether the client certificate and key, if set, are set together, readable and a pair.
    pub(crate) fn check_identity(files: &TlsFiles) -> Result<(), String> {
        TlsMaterial {
            certificate: None,
            identity: read_identity(files)?,
        }
        .check_client_auth()
    }

    /// Whether the client key fits the client certificate, if there is one.
    fn check_client_auth(&self) -> Result<(), String> {
        self.client_auth(rustls_builder()?.with_root_certificates(rustls::RootCertStore::empty()))
            .map(drop)
    }

    /// The configured CA certificates as trusted roots; `None` when none are configured.
    fn configured_roots(&self) -> Result<Option<rustls::RootCertStore>, String> {
        let Some(pem) = &self.certificate else {
            return Ok(None);
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in certificates(pem) {
            roots
                .add(cert)
                .map_err(|e| format!("a CA certificate is not usable: {e}"))?;
        }
        Ok(Some(roots))
    }

    /// The configuration of an HTTP/1.1 client (`hyper-rustls` sets the ALPN protocol).
    pub(crate) fn rustls_config(&self) -> Result<rustls::ClientConfig, String> {
        let builder = rustls_builder()?;
        let roots = match self.configured_roots()? {
            Some(roots) => roots,
            // A system without roots gets an empty store: every export then fails, counted,
            // with rustls's "invalid peer certificate: UnknownIssuer", and the application runs
            // on; `OTEL_EXPORTER_OTLP_CERTIFICATE` is the remedy.
            None => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                roots
            }
        };
        self.client_auth(builder.with_root_certificates(roots))
    }

    /// The configuration of a gRPC channel: tonic's own TLS, so that it also works when the
    /// application's build enables other tonic TLS features.
    pub(crate) fn tonic_config(&self) -> tonic::transport::ClientTlsConfig {
        let config = tonic::transport::ClientTlsConfig::new();
        let config = match &self.certificate {
            Some(pem) => config.ca_certificate(tonic::transport::Certificate::from_pem(pem)),
            None => config.with_native_roots(),
        };
        match &self.identity {
            Some(id) => config.identity(tonic::transport::Identity::from_pem(&id.chain, &id.key)),
            None => config,
        }
    }

    fn client_auth(
        &self,
        builder: rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>,
    ) -> Result<rustls::ClientConfig, String> {
        match &self.identity {
            None => Ok(builder.with_no_client_auth()),
            Some(id) => {
                let key = PrivateKeyDer::from_pem_slice(&id.key)
                    .map_err(|e| format!("no usable private key: {e}"))?;
                builder
                    .with_client_auth_cert(certificates(&id.chain).collect(), key)
                    .map_err(|e| format!("the client certificate and key are not usable: {e}"))
            }
        }
    }
}

/// A configuration that trusts no server: the connector of an `http://` endpoint needs one,
/// and never uses it.
pub(crate) fn trusting_nobody() -> Result<rustls::ClientConfig, String> {
    Ok(rustls_builder()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth())
}

/// The process's default crypto provider if the application installed one, else ring.
fn rustls_builder()
-> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>, String> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS is not available: {e}"))
}

fn certificates(pem: &[u8]) -> impl Iterator<Item = CertificateDer<'static>> + '_ {
    CertificateDer::pem_slice_iter(pem).filter_map(Result::ok)
}

/// The file's contents if it holds at least one PEM certificate and nothing malformed.
fn read_certificates(path: &Path) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        cert.map_err(|e| format!("{}: {e}", path.display()))?;
        count += 1;
    }
    if count == 0 {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(pem)
}

fn read_certificate(files: &TlsFiles) -> Result<Option<Vec<u8>>, String> {
    files
        .certificate
        .as_deref()
        .map(read_certificates)
        .transpose()
}

fn read_identity(files: &TlsFiles) -> Result<Option<Identity>, String> {
    match (&files.client_certificate, &files.client_key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            let cert = read_certificates(cert)?;
            let key_pem =
                std::fs::read(key).map_err(|e| format!("cannot read {}: {e}", key.display()))?;
            PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| format!("{} holds no usable private key: {e}", key.display()))?;
            Ok(Some(Identity {
                chain: cert,
                key: key_pem,
            }))
        }
        (Some(_), None) => Err("a client certificate needs its key".to_owned()),
        (None, Some(_)) => Err("a client key needs its certificate".to_owned()),
    }
}
