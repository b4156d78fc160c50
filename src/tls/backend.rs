//! TLS to backends (`https://` integration URIs): the byte stream of a pooled backend
//! connection, plain or TLS, so the proxy code stays one monomorphization.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ahash::AHashMap;
use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use super::TlsStream;

/// How `https://` backends are reached: one client configuration for all of them, and
/// others for particular hosts (`[[backend_tls.hosts]]`).
#[derive(Debug)]
pub struct BackendTls {
    /// Used for hosts without settings of their own.
    pub default: Arc<ClientConfig>,
    /// By lower-case host name or IP address text.
    pub by_host: AHashMap<Box<str>, Arc<ClientConfig>>,
}

impl BackendTls {
    /// The configuration for a backend named `name`.
    pub fn config_for(&self, name: &ServerName<'_>) -> &Arc<ClientConfig> {
        if self.by_host.is_empty() {
            return &self.default;
        }
        let key = match name {
            ServerName::DnsName(d) => d.as_ref().to_ascii_lowercase(),
            ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
            _ => return &self.default,
        };
        self.by_host.get(key.as_str()).unwrap_or(&self.default)
    }
}

/// A backend connection's transport.
pub enum BackendStream {
    /// `http://`.
    Plain(TcpStream),
    /// `https://`.
    Tls(Box<TlsStream<ClientConnection>>),
}

/// Connects to `addr`, with TLS (SNI and certificate check for `name`) when `tls` is given,
/// all within `timeout`.
pub async fn connect(
    addr: SocketAddr,
    tls: Option<(&Arc<ClientConfig>, &ServerName<'static>)>,
    timeout: Duration,
) -> io::Result<BackendStream> {
    let connect = async {
        let socket = TcpStream::connect_addr(addr).await?;
        // Heads and small bodies are written whole; Nagle would only add latency.
        let _ = socket.set_nodelay(true);
        match tls {
            None => Ok(BackendStream::Plain(socket)),
            Some((config, name)) => {
                let stream =
                    super::stream::connect(socket, Arc::clone(config), name.clone()).await?;
                Ok(BackendStream::Tls(Box::new(stream)))
            }
        }
    };
    match monoio::time::timeout(timeout, connect).await {
        Ok(res) => res,
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}

impl AsyncReadRent for BackendStream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            BackendStream::Plain(s) => s.read(buf).await,
            BackendStream::Tls(s) => s.read(buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            BackendStream::Plain(s) => s.readv(buf).await,
            BackendStream::Tls(s) => s.readv(buf).await,
        }
    }
}

impl AsyncWriteRent for BackendStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            BackendStream::Plain(s) => s.write(buf).await,
            BackendStream::Tls(s) => s.write(buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            BackendStream::Plain(s) => s.writev(buf).await,
            BackendStream::Tls(s) => s.writev(buf).await,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            BackendStream::Plain(s) => s.flush().await,
            BackendStream::Tls(s) => s.flush().await,
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            BackendStream::Plain(s) => s.shutdown().await,
            BackendStream::Tls(s) => s.shutdown().await,
        }
    }
}
