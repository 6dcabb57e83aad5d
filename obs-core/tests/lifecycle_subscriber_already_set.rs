//! Another global `tracing` subscriber installed first: `init` says so instead of panicking.

#[test]
fn init_reports_an_existing_global_subscriber() {
    tracing::subscriber::set_global_default(tracing_subscriber::registry())
        .expect("first subscriber");
    let err = obs_core::builder()
        .sdk_disabled(true)
        .json_logs(false)
        .init()
        .err();
    assert_eq!(err, Some(obs_core::InitError::SubscriberAlreadySet));
    // The message says what to do about it, not only what happened.
    let message = obs_core::InitError::SubscriberAlreadySet.to_string();
    assert!(message.contains("remove that call"), "{message}");
    // The failed init left nothing half-started: a corrected retry is not refused as a
    // second init (it fails for the same subscriber reason, not AlreadyInitialized).
    let again = obs_core::builder()
        .sdk_disabled(true)
        .json_logs(false)
        .init()
        .err();
    assert_eq!(again, Some(obs_core::InitError::SubscriberAlreadySet));
}
