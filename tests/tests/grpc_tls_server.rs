//! A tonic server serving TLS, with tonic's TLS (`Server::tls_config`) or with an acceptor
//! of its own: its server spans name the client's connection either way. tonic knows the
//! connections of an acceptor of the server's own as `TlsConnectInfo` only, a type only
//! its TLS features define.
//!
//! Current-thread runtime: the server's tasks run on the test's thread and see its default
//! subscriber.

mod grpc_common;

use grpc_common::spans::{attribute, capture, of_kind, take_spans};
use grpc_common::{Catalog, CatalogClient, Item, ItemRequest, items};
use obs_tonic::GrpcClientLayer;
use obs_trace::opentelemetry::trace::SpanKind;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic::{Request, Response};

#[tokio::test(flavor = "current_thread")]
async fn a_tls_server_span_names_the_client_whoever_terminates_tls() {
    let (sink, _guard) = capture();
    let pki = obs_tests::tls::Pki::generate("grpc-tls-server");
    let ca = std::fs::read_to_string(&pki.ca).expect("CA certificate");
    for own_acceptor in [false, true] {
        let catalog = Catalog::new(
            |request: Request<ItemRequest>| async move {
                let id = request.into_inner().id;
                Ok(Response::new(Item {
                    id,
                    name: String::new(),
                }))
            },
            |_request: Request<ItemRequest>| async { Ok(Response::new(items(0, 0))) },
        );
        let addr = catalog.serve_tls(&pki, own_acceptor).await;
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&ca))
            .domain_name("localhost");
        let channel = Channel::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(tls)
            .expect("client TLS configuration")
            .connect_lazy();
        let mut client = CatalogClient::on_channel(channel, addr, GrpcClientLayer::new());
        let item = client
            .get(Request::new(ItemRequest { id: 7, count: 0 }))
            .await;
        assert_eq!(item.unwrap().id, 7, "own acceptor: {own_acceptor}");

        let spans = take_spans(&sink, 2).await;
        let server = of_kind(&spans, SpanKind::Server);
        assert_eq!(
            attribute(server, "client.address").as_deref(),
            Some("127.0.0.1"),
            "own acceptor: {own_acceptor}, {server:#?}"
        );
        // The client's ephemeral port, not the server's.
        let port: u16 = attribute(server, "client.port")
            .expect("client.port")
            .parse()
            .unwrap();
        assert_ne!(port, addr.port());
        assert_eq!(
            attribute(server, "server.port"),
            Some(addr.port().to_string())
        );
    }
}
