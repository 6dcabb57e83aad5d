//! `trace-context-service` as `scripts/w3c-conformance.sh` runs it: started in the
//! background, ended with `kill` (SIGTERM), and failing clearly when its port is taken.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_trace-context-service");
const TIMEOUT: Duration = Duration::from_secs(20);

mod support;

/// Waits for `child` to exit, at most `TIMEOUT`; kills it and fails past that.
fn wait_bounded(child: &mut Child) -> std::process::ExitStatus {
    support::wait_bounded(child, TIMEOUT, "trace-context-service")
}

#[test]
fn sigterm_stops_it_with_status_zero() {
    let mut child = Command::new(BIN)
        .args(["--addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start trace-context-service");
    let stdout = child.stdout.take().expect("stdout is piped");
    // The first line says it listens, so the signal handler is installed by then; read on
    // a thread so that a silent service fails the test instead of hanging it.
    let (sender, first_line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    let line = first_line.recv_timeout(TIMEOUT);
    if !matches!(&line, Ok(l) if l.starts_with("listening on http://127.0.0.1:")) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("unexpected first line: {line:?}");
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let status = wait_bounded(&mut child);
    assert!(status.success(), "SIGTERM ended it with {status:?}");
}

#[test]
fn a_busy_port_is_named_in_the_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = taken.local_addr().expect("its address").to_string();
    let mut child = Command::new(BIN)
        .args(["--addr", &addr])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trace-context-service");
    let status = wait_bounded(&mut child);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "it served on a taken port: {stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "the error does not name {addr}: {stderr}"
    );
}
