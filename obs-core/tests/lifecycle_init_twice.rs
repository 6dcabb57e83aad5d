//! `init` is once per process: a second call is an error, never a panic.

#[test]
fn a_second_init_returns_an_error() {
    let first = obs_core::builder()
        .sdk_disabled(true)
        .json_logs(false)
        .init()
        .expect("first init");
    let second = obs_core::builder().json_logs(false).init();
    assert_eq!(second.err(), Some(obs_core::InitError::AlreadyInitialized));
    first.shutdown_blocking().expect("nothing to flush");
}
