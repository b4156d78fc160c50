//! The byte stream under a client connection: a plain socket or TLS over one.
//!
//! An enum rather than a generic parameter: the HTTP/1 code (`wire`, the pipeline, the
//! proxy) stays one monomorphization, and the plain path costs one predictable branch per
//! I/O call. TLS state is boxed so a plain connection does not carry its size.

use std::io;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, CancelHandle, CancelableAsyncReadRent};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::ServerConnection;

use crate::server::h2_stream::H2Stream;
use crate::tls::TlsStream;

/// A client's transport.
pub enum ClientStream {
    /// Plain HTTP.
    Plain(TcpStream),
    /// HTTPS.
    Tls(Box<TlsStream<ServerConnection>>),
    /// One HTTP/2 stream: reads return its request body's DATA; responses are sent with
    /// [`H2Stream::send`], never written as bytes.
    H2(Box<H2Stream>),
}

impl ClientStream {
    /// Lets go of transport buffers while the connection idles, if nothing is buffered in
    /// them; `false` leaves everything as it was (the connection must not park then).
    pub fn park(&mut self) -> bool {
        match self {
            ClientStream::Plain(_) => true,
            ClientStream::Tls(s) => s.park(),
            ClientStream::H2(_) => false,
        }
    }

    /// Takes transport buffers again after [`ClientStream::park`].
    pub fn unpark(&mut self) {
        if let ClientStream::Tls(s) = self {
            s.unpark();
        }
    }

    /// Waits until the socket has bytes to read (or has closed), holding no buffer: a poll on
    /// io_uring, readiness on epoll. An HTTP/2 stream never parks and has no socket.
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            ClientStream::Plain(s) => s.readable(false).await,
            ClientStream::Tls(s) => s.readable().await,
            ClientStream::H2(_) => Err(not_bytes()),
        }
    }

    /// Disables Nagle on the socket (responses are written whole).
    pub fn set_nodelay(&self) {
        if let ClientStream::Plain(s) = self {
            let _ = s.set_nodelay(true);
        }
    }
}

impl AsyncReadRent for ClientStream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ClientStream::Plain(s) => s.read(buf).await,
            ClientStream::Tls(s) => s.read(buf).await,
            ClientStream::H2(h) => h.read_into(buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ClientStream::Plain(s) => s.readv(buf).await,
            ClientStream::Tls(s) => s.readv(buf).await,
            ClientStream::H2(_) => (Ok(0), buf),
        }
    }
}

impl CancelableAsyncReadRent for ClientStream {
    async fn cancelable_read<T: IoBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        match self {
            ClientStream::Plain(s) => s.cancelable_read(buf, c).await,
            ClientStream::Tls(s) => s.cancelable_read(buf, c).await,
            ClientStream::H2(h) => h.read_into(buf).await,
        }
    }

    async fn cancelable_readv<T: IoVecBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        match self {
            ClientStream::Plain(s) => s.cancelable_readv(buf, c).await,
            ClientStream::Tls(s) => s.cancelable_readv(buf, c).await,
            ClientStream::H2(_) => (Ok(0), buf),
        }
    }
}

impl AsyncWriteRent for ClientStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ClientStream::Plain(s) => s.write(buf).await,
            ClientStream::Tls(s) => s.write(buf).await,
            ClientStream::H2(_) => (Err(not_bytes()), buf),
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ClientStream::Plain(s) => s.writev(buf).await,
            ClientStream::Tls(s) => s.writev(buf).await,
            ClientStream::H2(_) => (Err(not_bytes()), buf),
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Plain(s) => s.flush().await,
            ClientStream::Tls(s) => s.flush().await,
            ClientStream::H2(_) => Ok(()),
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Plain(s) => s.shutdown().await,
            ClientStream::Tls(s) => s.shutdown().await,
            ClientStream::H2(_) => Ok(()),
        }
    }
}

/// What writing bytes to an HTTP/2 stream fails with: its responses go through
/// [`H2Stream::send`] as fields and DATA, so a byte write means a caller took the wrong path.
fn not_bytes() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "an HTTP/2 stream takes responses, not bytes",
    )
}
