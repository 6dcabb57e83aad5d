//! Formatting baggage (`Display`, as `info!(%baggage)` does) sends nothing: the members it
//! leaves out past the W3C limits are not counted as dropped ([`BaggageDrops`] counts what
//! a header sent or received loses). Its own test binary: the counters are process-wide.

use obs_trace::{Baggage, BaggageDrops, MAX_BAGGAGE_MEMBERS};

#[test]
fn formatting_baggage_counts_no_drop_and_sending_it_counts_each_once() {
    let mut baggage = Baggage::new();
    for i in 0..=MAX_BAGGAGE_MEMBERS {
        baggage.insert(format!("k{i}"), "v").unwrap();
    }
    let before = BaggageDrops::now();
    let shown = baggage.to_string();
    let _ = format!("{baggage} {baggage}");
    assert_eq!(BaggageDrops::now(), before, "formatting is no send");
    // What is shown is what would be sent: the first 64 members.
    assert_eq!(shown.split(',').count(), MAX_BAGGAGE_MEMBERS);
    assert!(!shown.contains(&format!("k{MAX_BAGGAGE_MEMBERS}=")));

    // A header written for sending leaves out the 65th member, counted once.
    let mut header = String::new();
    baggage.write_header(&mut header);
    assert_eq!(header, shown);
    assert_eq!(BaggageDrops::now().over_limit, before.over_limit + 1);
}
