//! A client layer that can't know its server's address (a generated client built with
//! `new(channel)` sends only the path, and `with_server_address` was not called) says so
//! on stderr, once per layer: the RPC conventions require `server.address` on client
//! spans. obs's diagnostics go to stderr, so each case runs in a child process whose stderr
//! the test reads.

use std::convert::Infallible;
use std::process::Command;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use obs_tonic::GrpcClientLayer;
use tower::{ServiceBuilder, ServiceExt};

const CHILD: &str = "OBS_TONIC_SERVER_ADDRESS_CHILD";
const WARNING: &str = "has no server address";

/// Three calls through one layer, configured with a server address or not.
fn child_body(with_address: bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut layer = GrpcClientLayer::new().with_registry(&obs_metrics::Registry::new());
    if with_address {
        layer = layer.with_server_address("orders", Some(50051));
    }
    let client = ServiceBuilder::new().layer(layer).service_fn(
        |request: Request<tonic::body::Body>| async move {
            request.into_body().collect().await.unwrap();
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            let frame = http_body::Frame::<Bytes>::trailers(trailers);
            let body =
                http_body_util::StreamBody::new(futures_util::stream::iter([Ok::<_, Infallible>(
                    frame,
                )]));
            Ok::<_, Infallible>(Response::new(body))
        },
    );
    for _ in 0..3 {
        let request = Request::post("/shop.v1.Orders/Get")
            .body(tonic::body::Body::new(Full::new(Bytes::from_static(&[
                0, 0, 0, 0, 0,
            ]))))
            .unwrap();
        let response = runtime.block_on(client.clone().oneshot(request)).unwrap();
        runtime
            .block_on(response.into_body().collect())
            .expect("body");
    }
}

fn child_stderr(test: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("child test process");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[test]
fn a_client_layer_without_a_server_address_warns_once() {
    if std::env::var_os(CHILD).is_some() {
        return child_body(false);
    }
    let stderr = child_stderr("a_client_layer_without_a_server_address_warns_once");
    assert_eq!(stderr.matches(WARNING).count(), 1, "{stderr}");
    assert!(stderr.contains("with_server_address"), "{stderr}");
    assert!(stderr.contains("/shop.v1.Orders/Get"), "{stderr}");
}

#[test]
fn a_client_layer_with_a_server_address_says_nothing() {
    if std::env::var_os(CHILD).is_some() {
        return child_body(true);
    }
    let stderr = child_stderr("a_client_layer_with_a_server_address_says_nothing");
    assert!(!stderr.contains(WARNING), "{stderr}");
}
