//! Scenarios that each need a process of their own (`init` is once per process): the test
//! runs itself again in a child process, with [`CHILD`] naming the scenario, and the child
//! runs the scenario instead of spawning.

use std::process::Command;

/// Set in a child process to the scenario it runs.
pub const CHILD: &str = "OBS_TEST_CHILD";

/// The scenario this process runs as a child, if it is one.
pub fn scenario() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// Runs this binary's test `test` in a child process for `scenario`, with `env` set, and
/// checks that it passed without a panic anywhere (also in obs's own threads); the child's
/// output is in the message when it did not. Returns the child's stdout.
pub fn in_child(test: &str, scenario: &str, env: &[(&str, String)]) -> String {
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("child test process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "{scenario}:\n{stdout}\n{stderr}"
    );
    stdout.into_owned()
}
