//! A TLS handshake the receiver refuses (here: no client certificate where mutual TLS is
//! required) costs the application nothing but the telemetry: exports fail, every span is
//! counted as dropped, nothing panics, and shutdown reports the failure.

use std::time::Duration;

use obs_core::testing::{OtlpReceiver, ReceiverConfig};
use obs_core::{Protocol, Signal};
use obs_tests::collector::Collector;
use obs_tests::tls::{Pki, TlsProxy};
use obs_tests::wait::poll_blocking;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_handshake_only_drops_and_counts() {
    let receiver = OtlpReceiver::start(ReceiverConfig::default())
        .await
        .expect("receiver");
    let collector = Collector::start(&receiver.grpc_endpoint());
    let pki = Pki::generate("refused");
    let proxy = TlsProxy::start(&pki, &collector.grpc_endpoint).await;
    let telemetry = obs_tests::pipeline::quick_batches(obs_core::builder())
        .service_name("tls-refused")
        .protocol(Protocol::Grpc)
        .otlp_endpoint(proxy.endpoint.clone())
        // The server is trusted, but no client certificate is presented.
        .otlp_certificate(&pki.ca)
        .otlp_timeout(Duration::from_millis(500))
        .shutdown_timeout(Duration::from_secs(5))
        .json_logs(false)
        .init()
        .expect("init");

    for i in 0..3 {
        tracing::info_span!("refused", index = i).in_scope(|| {});
    }
    let failed = tokio::task::block_in_place(|| {
        poll_blocking(Duration::from_secs(20), Duration::from_millis(50), || {
            telemetry
                .counts()
                .into_iter()
                .find(|c| c.signal == Signal::Traces && c.dropped_export_failed >= 3)
        })
    })
    .expect("the three spans are counted as failed exports");
    assert_eq!(failed.exported, 0, "{failed:?}");
    // The proxy counts a refusal on its own task, after sending the alert: maybe later.
    let refused = tokio::task::block_in_place(|| {
        poll_blocking(Duration::from_secs(20), Duration::from_millis(50), || {
            (proxy.refused() >= 1).then_some(())
        })
    });
    assert!(refused.is_some(), "the proxy refused the handshake");
    assert_eq!(proxy.accepted(), 0);

    // The spans' failures were counted above; at shutdown the metrics' final push fails.
    let err = telemetry
        .shutdown()
        .await
        .expect_err("nothing could be delivered");
    assert!(
        err.failures.iter().any(|f| f.signal == Signal::Metrics),
        "{err}"
    );
    assert!(receiver.store().spans().is_empty(), "nothing arrived");
}
