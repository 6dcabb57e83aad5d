//! Whether a child process is up on the ports it was given: it listens on each itself.
//!
//! A port chosen by binding port 0 and releasing it is anyone's until the child binds it;
//! another listener (a receiver of a parallel test, or the same port handed out twice) may
//! take it, and then the child exits while a connect check succeeds against the other one.
//! Shared by obs-core's tests and the workspace's `obs-tests`, which include this file and
//! `wait.rs` by path.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ExitStatus};
use std::time::Duration;

use crate::wait::poll_blocking;

/// What [`wait_child_listening`] saw.
#[derive(Debug)]
pub enum Listening {
    /// The child itself listens on every port.
    Ready,
    /// The child exited first: typically, one of its ports was taken between its choice and
    /// the child's bind (or one port was handed out twice).
    Exited(ExitStatus),
    /// Neither happened within the timeout.
    TimedOut,
}

/// Waits, up to `timeout`, until `child` itself listens on 127.0.0.1 on every one of
/// `ports`, or exits. Unlike a connect check, someone else listening on a port the child
/// was given does not count as the child being up.
pub fn wait_child_listening(child: &mut Child, ports: &[u16], timeout: Duration) -> Listening {
    let pid = child.id();
    poll_blocking(timeout, Duration::from_millis(50), || {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(Listening::Exited(status));
        }
        ports
            .iter()
            .all(|&port| listens(pid, port))
            .then_some(Listening::Ready)
    })
    .unwrap_or(Listening::TimedOut)
}

/// Whether the process `pid` holds a socket listening on 127.0.0.1:`port`, from Linux's
/// `/proc`. Without `/proc/net/tcp`, whether anything accepts connections there.
fn listens(pid: u32, port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        return TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok();
    };
    // The address as the kernel prints it (its 32 bits in host byte order), and the port.
    let local = format!("{:08X}:{port:04X}", u32::from_ne_bytes([127, 0, 0, 1]));
    // Fields: sl, local_address, rem_address, st (0A: LISTEN), ..., inode (the tenth).
    let sockets: Vec<String> = table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields.len() > 9 && fields[1] == local && fields[3] == "0A")
        .map(|fields| format!("socket:[{}]", fields[9]))
        .collect();
    if sockets.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| sockets.iter().any(|s| target.as_os_str() == s.as_str()))
    })
}
