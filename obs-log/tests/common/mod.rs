//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)] // each test binary uses its own subset

use std::sync::{Arc, Mutex};

/// A writer that keeps every byte, shareable with the layer.
pub type Captured = Arc<Mutex<Vec<u8>>>;

pub fn captured() -> Captured {
    Arc::new(Mutex::new(Vec::new()))
}

/// The captured output, split into lines (each without its `\n`).
pub fn lines(out: &Captured) -> Vec<String> {
    let bytes = out.lock().unwrap().clone();
    let text = String::from_utf8(bytes).expect("lines are UTF-8");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "last line ends with a newline"
    );
    text.lines().map(str::to_owned).collect()
}

/// Each captured line parsed as a JSON object.
pub fn objects(out: &Captured) -> Vec<serde_json::Map<String, serde_json::Value>> {
    lines(out)
        .iter()
        .map(|l| match serde_json::from_str(l) {
            Ok(serde_json::Value::Object(o)) => o,
            other => panic!("not a JSON object: {l:?} ({other:?})"),
        })
        .collect()
}

/// Replaces the variable timestamp (checked for RFC 3339 shape) by `<ts>`.
pub fn mask_timestamp(line: &str, key: &str) -> String {
    let needle = format!("\"{key}\":\"");
    let start = line.find(&needle).expect("timestamp key") + needle.len();
    let ts = &line[start..start + 30];
    let b = ts.as_bytes();
    assert!(
        b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && b[19] == b'.'
            && b[29] == b'Z',
        "RFC 3339 with nanoseconds: {ts}"
    );
    assert!(ts.bytes().filter(u8::is_ascii_digit).count() == 23, "{ts}");
    format!("{}<ts>{}", &line[..start], &line[start + 30..])
}

/// An `io::Write` into a [`Captured`] buffer, for writers that take ownership.
pub struct VecWriter(pub Captured);

impl std::io::Write for VecWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An error whose cause is its source, as `thiserror`'s `#[source]` makes them.
#[derive(Debug)]
pub struct RequestFailed(pub std::io::Error);

impl std::fmt::Display for RequestFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request failed")
    }
}

impl std::error::Error for RequestFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A value whose `Display` and `Debug` panic after writing part of their text, as a buggy
/// user type may (an index out of bounds, an `unwrap` on `None`).
pub struct PanicsWhenFormatted;

impl std::fmt::Display for PanicsWhenFormatted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("half \"written")?;
        panic!("formatting a PanicsWhenFormatted");
    }
}

impl std::fmt::Debug for PanicsWhenFormatted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A value whose `Display` and `Debug` write part of it, then return an error (as one that
/// passes on the error of a nested `write!` does), without panicking.
pub struct FailsHalfway;

impl std::fmt::Display for FailsHalfway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("half written")?;
        Err(std::fmt::Error)
    }
}

impl std::fmt::Debug for FailsHalfway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
