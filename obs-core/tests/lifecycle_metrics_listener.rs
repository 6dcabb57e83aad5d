//! `OBS_METRICS_ADDR` / `Builder::metrics_addr`: `init` serves `/metrics` on its own listener.

use std::io::{Read, Write};
use std::net::TcpStream;

fn get(addr: std::net::SocketAddr, accept: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn init_serves_metrics_on_the_configured_address() {
    let telemetry = obs_core::builder()
        .sdk_disabled(true)
        .json_logs(false)
        .service_name("listener-test")
        .metrics_addr("127.0.0.1:0".parse().unwrap())
        .init()
        .expect("init");
    let addr = telemetry.metrics_addr().expect("listening");
    obs_core::metrics::global()
        .counter("listener_hits", "Hits.")
        .unwrap()
        .inc();

    let text = get(addr, "*/*");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("text/plain; version=0.0.4"), "{text}");
    assert!(text.contains("listener_hits_total 1"), "{text}");
    assert!(
        text.contains("process_resident_memory_bytes "),
        "process metrics are on by default"
    );

    // The resource, as one `target_info`: a gauge in the 0.0.4 format, an info family in
    // OpenMetrics.
    let target_info = |text: &str| {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("target_info"))
            .collect();
        let [line] = lines.as_slice() else {
            panic!("one target_info sample: {text}");
        };
        assert!(line.contains("service_name=\"listener-test\""), "{line}");
        assert!(line.contains("telemetry_sdk_name=\"obs\""), "{line}");
        assert!(line.ends_with("} 1"), "{line}");
    };
    assert!(text.contains("# TYPE target_info gauge\n"), "{text}");
    target_info(&text);

    let om = get(addr, "application/openmetrics-text; version=1.0.0");
    assert!(om.contains("application/openmetrics-text"), "{om}");
    assert!(om.trim_end().ends_with("# EOF"), "{om}");
    assert!(om.contains("# TYPE target info\n"), "{om}");
    target_info(&om);
    telemetry.shutdown_blocking().expect("shutdown");
}
