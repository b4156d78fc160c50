//! HTTP/2 test client: the `h2` crate on a current-thread tokio runtime, over plain TCP
//! (h2c with prior knowledge) or TLS with ALPN `h2`.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::net::TcpStream;

use super::IO_TIMEOUT;

/// A response as the client saw it.
#[derive(Debug)]
pub struct H2Response {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

/// A single-threaded tokio runtime for one test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Opens an h2c connection (prior knowledge) and drives it in the background.
pub async fn connect_h2c(addr: SocketAddr) -> SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = h2::client::handshake(tcp).await.expect("h2c handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

/// Opens an HTTP/2 connection over TLS (`config` must offer ALPN `h2`), and returns the
/// protocol ALPN agreed with the sender.
pub async fn connect_h2_tls(
    addr: SocketAddr,
    sni: &str,
    config: Arc<rustls::ClientConfig>,
) -> (SendRequest<Bytes>, Option<Vec<u8>>) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).expect("server name");
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("tls handshake");
    let alpn = tls.get_ref().1.alpn_protocol().map(|p| p.to_vec());
    let (send, conn) = h2::client::handshake(tls).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, alpn)
}

/// Sends one request (`body` empty: no DATA frames) and reads the whole response.
pub async fn request(
    send: &SendRequest<Bytes>,
    method: &str,
    uri: &str,
    body: &[u8],
) -> H2Response {
    request_with(send, method, uri, &[], body).await
}

/// Like [`request`] with extra request headers.
pub async fn request_with(
    send: &SendRequest<Bytes>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> H2Response {
    let fut = async {
        let mut send = send.clone().ready().await.expect("connection ready");
        let mut req = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(()).expect("request");
        let (resp, mut stream) = send.send_request(req, body.is_empty()).expect("send");
        if !body.is_empty() {
            stream
                .send_data(Bytes::copy_from_slice(body), true)
                .expect("send body");
        }
        let resp = resp.await.expect("response");
        let (parts, mut recv) = resp.into_parts();
        let mut body = Vec::new();
        while let Some(chunk) = recv.data().await {
            let chunk = chunk.expect("body chunk");
            let _ = recv.flow_control().release_capacity(chunk.len());
            body.extend_from_slice(&chunk);
        }
        H2Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    };
    tokio::time::timeout(IO_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("h2 {method} {uri} timed out"))
}

/// Raw HTTP/2 frames over a blocking socket, for conformance and abuse tests that the `h2`
/// client would refuse to send.
pub mod raw {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};

    use super::IO_TIMEOUT;

    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const CONTINUATION: u8 = 0x9;
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;

    /// One received frame.
    #[derive(Debug)]
    pub struct Frame {
        pub kind: u8,
        pub flags: u8,
        pub stream: u32,
        pub payload: Vec<u8>,
    }

    /// A frame's bytes.
    pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// HPACK integer with an `n`-bit prefix whose high bits are `first`.
    fn int(out: &mut Vec<u8>, first: u8, n: u32, mut v: usize) {
        let max = (1usize << n) - 1;
        if v < max {
            out.push(first | v as u8);
            return;
        }
        out.push(first | max as u8);
        v -= max;
        while v >= 128 {
            out.push((v % 128) as u8 | 0x80);
            v /= 128;
        }
        out.push(v as u8);
    }

    /// HPACK block of literal fields without indexing (no Huffman).
    pub fn hpack(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in fields {
            out.push(0x00);
            int(&mut out, 0, 7, name.len());
            out.extend_from_slice(name.as_bytes());
            int(&mut out, 0, 7, value.len());
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    /// A GET's header block for `path` on `authority`.
    pub fn get_block(authority: &str, path: &str) -> Vec<u8> {
        hpack(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", authority),
            (":path", path),
        ])
    }

    /// An h2c connection that has sent the preface and an empty SETTINGS.
    pub struct RawConn {
        pub sock: TcpStream,
    }

    impl RawConn {
        pub fn open(addr: SocketAddr) -> RawConn {
            let sock = TcpStream::connect(addr).expect("connect");
            sock.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
            let mut conn = RawConn { sock };
            conn.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
            conn.send(&frame(SETTINGS, 0, 0, &[]));
            conn
        }

        /// Writes bytes; errors (the server already closed) are ignored.
        pub fn send(&mut self, bytes: &[u8]) -> bool {
            self.sock.write_all(bytes).is_ok()
        }

        /// The next frame, or `None` at end of stream, error or timeout.
        pub fn read(&mut self) -> Option<Frame> {
            let mut head = [0u8; 9];
            self.sock.read_exact(&mut head).ok()?;
            let len = (head[0] as usize) << 16 | (head[1] as usize) << 8 | head[2] as usize;
            let mut payload = vec![0u8; len];
            self.sock.read_exact(&mut payload).ok()?;
            let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            Some(Frame {
                kind: head[3],
                flags: head[4],
                stream,
                payload,
            })
        }

        /// Reads (and drops) frames until the server closes the connection: `true`, or until
        /// a read times out: `false`.
        pub fn closed_by_server(&mut self) -> bool {
            let mut buf = [0u8; 4096];
            loop {
                match self.sock.read(&mut buf) {
                    Ok(0) => return true,
                    Ok(_) => {}
                    Err(e) => {
                        return !matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        )
                    }
                }
            }
        }

        /// Reads frames until one matches `want` (returned) or the connection ends (`None`).
        pub fn read_until(&mut self, want: impl Fn(&Frame) -> bool) -> Option<Frame> {
            while let Some(f) = self.read() {
                if want(&f) {
                    return Some(f);
                }
            }
            None
        }
    }

    /// The settings in a SETTINGS payload, as (identifier, value).
    pub fn settings(payload: &[u8]) -> Vec<(u16, u32)> {
        payload
            .chunks_exact(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect()
    }

    /// The error code of a GOAWAY payload.
    pub fn goaway_code(payload: &[u8]) -> u32 {
        payload
            .get(4..8)
            .map_or(u32::MAX, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}
