//! TLS for the pipeline tests: a throwaway CA that signs a server certificate for 127.0.0.1
//! and a client certificate, and a proxy that terminates TLS (requiring that client
//! certificate) in front of the collector, as an ingress in front of a deployment's
//! collector does. rotel's receivers speak plaintext only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// PEM files of a fresh CA and of a client certificate it signed, in a temporary directory
/// removed on drop, and the server certificate it signed, in memory.
pub struct Pki {
    dir: PathBuf,
    /// The CA certificate: what the app trusts.
    pub ca: PathBuf,
    /// The client certificate, signed by the CA.
    pub client_certificate: PathBuf,
    /// Its private key.
    pub client_key: PathBuf,
    /// The server certificate (for 127.0.0.1 and `localhost`), PEM: what a server under
    /// test serves, with [`server_key_pem`](Self::server_key_pem).
    pub server_certificate_pem: String,
    /// Its private key, PEM.
    pub server_key_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
    ca_der: CertificateDer<'static>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").field("dir", &self.dir).finish()
    }
}

impl Pki {
    /// Generates the CA and both certificates; `name` keeps the directories of parallel
    /// tests apart.
    pub fn generate(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("obs-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("obs test CA {name}"));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");

        let leaf = |usage: ExtendedKeyUsagePurpose| {
            let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
            params
                .subject_alt_names
                .push(SanType::IpAddress([127, 0, 0, 1].into()));
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().expect("key");
            let cert = params.signed_by(&key, &ca).expect("certificate");
            (cert, key)
        };
        let (server_cert, server_key) = leaf(ExtendedKeyUsagePurpose::ServerAuth);
        let (client_cert, client_key) = leaf(ExtendedKeyUsagePurpose::ClientAuth);

        let write = |file: &str, pem: String| {
            let path = dir.join(file);
            std::fs::write(&path, pem).expect("write PEM");
            path
        };
        Pki {
            ca: write("ca.pem", ca.pem()),
            client_certificate: write("client.pem", client_cert.pem()),
            client_key: write("client-key.pem", client_key.serialize_pem()),
            server_certificate_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            server_chain: vec![server_cert.der().clone()],
            server_key: server_key.serialize_der(),
            ca_der: ca.der().clone(),
            dir,
        }
    }
}

impl Pki {
    /// A rustls server configuration serving the server certificate, without client
    /// authentication, offering `h2` (a gRPC server's own TLS acceptor).
    pub fn server_config(&self) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), key)
            .expect("server certificate");
        config.alpn_protocols = vec![b"h2".to_vec()];
        config
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TLS-terminating TCP proxy on a free 127.0.0.1 port: each connection that completes the
/// handshake with a client certificate the CA signed is piped to `upstream`.
#[derive(Debug)]
pub struct TlsProxy {
    /// `https://127.0.0.1:P`.
    pub endpoint: String,
    accepted: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsProxy {
    /// Starts the proxy for `upstream` (`http://127.0.0.1:Q`, a collector's receiver).
    pub async fn start(pki: &Pki, upstream: &str) -> TlsProxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("upstream is http://IP:PORT");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone()).expect("CA root");
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.into(),
            provider.clone(),
        )
        .build()
        .expect("client verifier");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(pki.server_chain.clone(), key)
            .expect("server certificate");
        // gRPC clients offer h2, HTTP/1.1 clients http/1.1; the bytes inside go to the
        // collector, which speaks both in plaintext.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("https://{}", listener.local_addr().expect("address"));
        let accepted = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let (a, r) = (accepted.clone(), refused.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, a, r) = (acceptor.clone(), a.clone(), r.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        r.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    a.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut plain) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        TlsProxy {
            endpoint,
            accepted,
            refused,
            task,
        }
    }

    /// Connections that completed the handshake with a verified client certificate.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections whose handshake failed (an untrusted or missing client certificate, or a
    /// client that did not trust the server).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
