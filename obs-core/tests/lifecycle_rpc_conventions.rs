//! `OTEL_SEMCONV_STABILITY_OPT_IN` chooses, process-wide, which RPC conventions `init` has
//! the gRPC layers emit. Checked in a child process whose environment sets it (`init` is
//! once per process).

use std::process::Command;

use obs_core::trace::RpcConventions;

#[test]
fn init_sets_the_rpc_conventions_semconv_stability_opt_in_lists() {
    if std::env::var_os("OBS_RPC_CONVENTIONS_CHILD").is_some() {
        assert_eq!(obs_core::trace::rpc_conventions(), RpcConventions::Old);
        let telemetry = obs_core::init().expect("init");
        assert_eq!(obs_core::trace::rpc_conventions(), RpcConventions::Both);
        telemetry.shutdown_blocking().expect("shutdown");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "init_sets_the_rpc_conventions_semconv_stability_opt_in_lists",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OBS_RPC_CONVENTIONS_CHILD", "1")
        .env("OTEL_SEMCONV_STABILITY_OPT_IN", "http,rpc,rpc/dup")
        .env("OTEL_SDK_DISABLED", "true")
        .env("OBS_LOG_FORMAT", "none")
        .output()
        .expect("child test process");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("obs:"),
        "{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
}
