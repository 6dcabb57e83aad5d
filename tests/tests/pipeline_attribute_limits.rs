//! Attribute limits (OpenTelemetry SDK "Attribute Limits" / "Span Limits"): attributes,
//! events and links beyond the counts are dropped and counted, long strings are cut, and a
//! real collector passes the result on as sent.

use std::time::Duration;

use obs_core::opentelemetry::KeyValue;
use obs_core::testing::ReceiverConfig;
use obs_core::trace::{SpanContext, SpanExt, SpanId, TraceFlags, TraceId};
use obs_core::{AttributeLimits, SpanLimits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_cut_spans_and_log_records_before_the_collector() {
    let (receiver, collector, builder) =
        obs_tests::pipeline::via_collector("limits-test", ReceiverConfig::default()).await;
    let telemetry = builder
        .span_events(true)
        .span_limits(SpanLimits {
            attributes: AttributeLimits {
                count: 2,
                value_length: Some(5),
            },
            event_count: 2,
            event_attribute_count: 1,
            link_count: 2,
            link_attribute_count: 1,
        })
        .log_limits(AttributeLimits {
            count: 1,
            value_length: Some(3),
        })
        .init()
        .expect("init");

    tracing::info_span!(
        "report",
        customer = "Zoë Ångström",
        pages = 12_i64,
        format = "pdf",
        locale = "de-DE"
    )
    .in_scope(|| {
        for step in ["layout", "render", "upload"] {
            tracing::info!(step, size = 1_i64, "step done");
        }
        for n in 1..=3_u64 {
            let linked = SpanContext {
                trace_id: TraceId::from_u128(u128::from(n)),
                span_id: SpanId::from_u64(n),
                flags: TraceFlags::SAMPLED,
                is_remote: true,
                ..Default::default()
            };
            tracing::Span::current().add_link(
                linked,
                vec![
                    KeyValue::new("queue", "invoices-high"),
                    KeyValue::new("n", n as i64),
                ],
            );
        }
    });

    let spans = receiver
        .store()
        .wait_for_spans(
            |s| s.iter().any(|s| s.name() == "report"),
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|e| collector.fail(e));
    let logs = receiver
        .store()
        .wait_for_logs(|l| l.len() >= 3, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| collector.fail(e));
    telemetry.shutdown().await.expect("shutdown");

    let report = spans.iter().find(|s| s.name() == "report").expect("report");
    // The first two fields set are kept, the string cut to five characters, not bytes.
    let keys: Vec<&str> = report
        .span
        .attributes
        .iter()
        .map(|kv| kv.key.as_str())
        .collect();
    assert_eq!(keys, ["customer", "pages"]);
    assert_eq!(report.attribute_str("customer"), Some("Zoë Å"));
    assert_eq!(report.span.dropped_attributes_count, 2);
    assert_eq!(report.span.events.len(), 2);
    assert_eq!(report.span.dropped_events_count, 1);
    for event in &report.span.events {
        assert_eq!(event.attributes.len(), 1, "{event:?}");
        assert_eq!(event.dropped_attributes_count, 1, "{event:?}");
    }
    // The first two links, each with its first attribute, cut; the rest counted.
    assert_eq!(report.span.dropped_links_count, 1);
    let linked: Vec<String> = report
        .span
        .links
        .iter()
        .map(|l| obs_core::testing::to_hex(&l.span_id))
        .collect();
    assert_eq!(linked, ["0000000000000001", "0000000000000002"]);
    for link in &report.span.links {
        assert_eq!(
            obs_core::testing::attribute_str(&link.attributes, "queue"),
            Some("invoi")
        );
        assert_eq!(link.attributes.len(), 1, "{link:?}");
        assert_eq!(link.dropped_attributes_count, 1, "{link:?}");
        assert_eq!(link.flags & 0x300, 0x300, "known to be remote: {link:?}");
    }

    let mut steps: Vec<&str> = Vec::new();
    for log in logs.iter().filter(|l| l.body_str() == Some("step done")) {
        // `step` is the first field; `size` is dropped and counted.
        assert_eq!(log.record.attributes.len(), 1, "{:?}", log.record);
        assert_eq!(log.record.dropped_attributes_count, 1, "{:?}", log.record);
        steps.extend(log.attribute_str("step"));
    }
    steps.sort_unstable();
    assert_eq!(steps, ["lay", "ren", "upl"]);
}
