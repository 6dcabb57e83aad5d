//! A hand-written HTTP/1.1 server side for receivers that must answer what no real
//! collector would (a partial success, a 503 with `Retry-After`): reads one request.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;

/// Reads one request from `stream`, head then its `Content-Length` body; the body, or
/// `None` if the client closed or sent less than it announced.
pub fn read_request_body(stream: &TcpStream) -> Option<Vec<u8>> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}
