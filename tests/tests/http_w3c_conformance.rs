//! The official W3C Trace Context test suite (Level 2, strict) passes against
//! `trace-context-service`: runs `scripts/w3c-conformance.sh` and expects all 41 cases to pass.

use std::path::Path;
use std::process::Command;

#[test]
fn w3c_trace_context_suite_passes_all_41_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new("bash")
        .arg(root.join("scripts/w3c-conformance.sh"))
        .env(
            "W3C_VENV",
            std::env::var_os("W3C_VENV").unwrap_or_else(|| root.join(".tools/venv").into()),
        )
        .output()
        .expect("run scripts/w3c-conformance.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success()
            && stdout
                .lines()
                .any(|l| l == "41 passed, 0 failed, 0 skipped"),
        "W3C suite failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
