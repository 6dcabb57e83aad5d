//! An axum server that terminates TLS itself (a listener of its own that completes the
//! handshake, as `axum-server`'s `bind_rustls` does): an HTTP/1.1 request carries no scheme
//! (its target is origin-form), so only the layer's configuration can tell that it came
//! over TLS, and `url.scheme` is `https` once told.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use obs_core::opentelemetry::trace::SpanKind;
use obs_core::tower::HttpServerLayer;
use obs_core::trace::{InMemorySpanSink, SpanData, SpanLayer};
use obs_core::tracing_subscriber::prelude::*;
use obs_tests::tls::Pki;
use obs_tests::wait::wait_until;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::server::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A loopback listener whose connections have completed a TLS handshake.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, peer)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Sends one HTTP/1.1 GET for `path` over TLS (trusting the PKI's CA) and returns the
/// reply.
async fn get_over_tls(pki: &Pki, addr: SocketAddr, path: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&pki.ca).expect("CA certificate"))
        .expect("CA root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        addr.port()
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    // The server may close without TLS's close_notify: what was read is the reply.
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut reply)).await;
    String::from_utf8_lossy(&reply).into_owned()
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attribute(key).map(ToString::to_string)
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_terminating_tls_records_https_once_told() {
    let sink = InMemorySpanSink::new();
    let subscriber = obs_core::tracing_subscriber::registry()
        .with(SpanLayer::new().with_sink(Arc::new(sink.clone())));
    let _guard = obs_core::tracing::subscriber::set_default(subscriber);
    let pki = Pki::generate("http-tls-server");
    let registry = obs_core::metrics::Registry::new();
    let mut schemes = Vec::new();
    for tls in [false, true] {
        let router = Router::new()
            .route("/hello", get(|| async { "hello" }))
            .layer(
                HttpServerLayer::new()
                    .with_registry(&registry)
                    .with_tls(tls),
            );
        let listener = TlsListener {
            tcp: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            acceptor: TlsAcceptor::from(Arc::new(pki.server_config())),
        };
        let addr = axum::serve::Listener::local_addr(&listener).unwrap();
        let service = router.into_make_service();
        tokio::spawn(async move { axum::serve(listener, service).await });
        let reply = get_over_tls(&pki, addr, "/hello").await;
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert!(reply.ends_with("hello"), "{reply}");
        let ended = wait_until(Duration::from_secs(10), || !sink.spans().is_empty()).await;
        assert!(ended);
        let span = sink.take().pop().unwrap();
        assert_eq!(span.kind, SpanKind::Server);
        schemes.push(attribute(&span, "url.scheme"));
    }
    // Untold, the layer cannot know: an origin-form target says `http` by default.
    assert_eq!(schemes, [Some("http".to_owned()), Some("https".to_owned())]);
    let labels: Vec<String> = registry
        .collect()
        .into_iter()
        .find(|family| family.name == "http_server_request_duration_seconds")
        .expect("duration family")
        .points
        .into_iter()
        .filter_map(|point| {
            point
                .labels
                .into_iter()
                .find(|(key, _)| key == "url_scheme")
                .map(|(_, value)| value)
        })
        .collect();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert!(labels.contains(&"https".to_owned()), "{labels:?}");
}
