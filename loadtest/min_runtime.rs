//! The smallest Lambda runtime, as a `provided`-style `bootstrap` binary: it speaks the
//! Runtime API (`AWS_LAMBDA_RUNTIME_API`) over one keep-alive connection and answers every
//! event with a fixed proxy result. It starts in about a millisecond, so the cold-start
//! measurement (`loadtest/runtime_alone.py`) shows what the gateway adds without a full
//! runtime's start-up noise.
//!
//!     cargo build --release --example min_runtime
use std::io::{Read, Write};
use std::net::TcpStream;

const RESULT: &[u8] =
    br#"{"statusCode":200,"headers":{"Content-Type":"text/plain"},"body":"hello"}"#;

/// Sends `request` and reads one answer; returns its head (the body is read and dropped).
fn exchange(sock: &mut TcpStream, request: &[u8]) -> std::io::Result<String> {
    sock.write_all(request)?;
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length = header(&head, "content-length").map_or(0, |v| v.parse().unwrap_or(0));
    let mut have = data.len() - head_end;
    while have < length {
        let n = sock.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        have += n;
    }
    Ok(head)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn main() -> std::io::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").map_err(std::io::Error::other)?;
    let mut sock = TcpStream::connect(api)?;
    sock.set_nodelay(true)?;
    loop {
        let head = exchange(
            &mut sock,
            b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: r\r\n\r\n",
        )?;
        let id = header(&head, "lambda-runtime-aws-request-id").unwrap_or("");
        let request = format!(
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: r\r\nContent-Length: {}\r\n\r\n",
            RESULT.len()
        );
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(RESULT);
        exchange(&mut sock, &bytes)?;
    }
}
