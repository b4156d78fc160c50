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
    let fut = async {
        let mut send = send.clone().ready().await.expect("connection ready");
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .expect("request");
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
