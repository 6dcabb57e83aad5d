//! A variable whose value is not UTF-8 (a Latin-1 `é` in `OTEL_SERVICE_NAME`, say) reads as
//! unset, as `std::env::var` has it, and is warned about rather than ignored silently.
//! Checked in a child process, since only the process environment can hold such a value
//! (spawned here, not by `support/child.rs`, whose variables are `String`s).
#![cfg(unix)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

#[test]
fn a_value_that_is_not_utf8_is_warned_about() {
    if std::env::var_os("OBS_NOT_UTF8_CHILD").is_some() {
        // The parent below set the variables for this child process.
        let from_env = obs_core::Config::from_env();
        let from_builder = obs_core::builder().config().expect("a config");
        for config in [from_env, from_builder] {
            assert_eq!(config.service_name, None);
            for warning in &config.warnings {
                println!("WARNING {warning}");
            }
            println!("END");
        }
        return;
    }
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "a_value_that_is_not_utf8_is_warned_about",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OBS_NOT_UTF8_CHILD", "1")
        .env("OTEL_SERVICE_NAME", OsStr::from_bytes(b"caf\xe9"))
        .env("OTEL_TRACES_SAMPLER", OsStr::from_bytes(b"always_off\xff"))
        .output()
        .expect("child test process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Once per config, each variable once. (The harness may print its own words before a
    // line.)
    for name in ["OTEL_SERVICE_NAME", "OTEL_TRACES_SAMPLER"] {
        let warned: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains("WARNING ") && l.contains(name))
            .collect();
        assert_eq!(warned.len(), 2, "{name}:\n{stdout}");
        assert!(warned[0].contains("not valid UTF-8"), "{}", warned[0]);
    }
    assert_eq!(
        stdout.lines().filter(|l| l.ends_with("END")).count(),
        2,
        "{stdout}"
    );
}
