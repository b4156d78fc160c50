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

use crate::tls::TlsStream;

/// A client's transport.
pub enum ClientStream {
    /// Plain HTTP.
    Plain(TcpStream),
    /// HTTPS.
    Tls(Box<TlsStream<ServerConnection>>),
    /// One HTTP/2 stream's request and response, in memory.
    Memory(MemStream),
}

impl ClientStream {
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
            ClientStream::Memory(m) => m.read_into(buf),
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ClientStream::Plain(s) => s.readv(buf).await,
            ClientStream::Tls(s) => s.readv(buf).await,
            ClientStream::Memory(_) => (Ok(0), buf),
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
            ClientStream::Memory(m) => m.read_into(buf),
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
            ClientStream::Memory(_) => (Ok(0), buf),
        }
    }
}

impl AsyncWriteRent for ClientStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ClientStream::Plain(s) => s.write(buf).await,
            ClientStream::Tls(s) => s.write(buf).await,
            ClientStream::Memory(m) => m.write_from(buf),
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            ClientStream::Plain(s) => s.writev(buf).await,
            ClientStream::Tls(s) => s.writev(buf).await,
            ClientStream::Memory(_) => (Ok(0), buf),
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Plain(s) => s.flush().await,
            ClientStream::Tls(s) => s.flush().await,
            ClientStream::Memory(_) => Ok(()),
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Plain(s) => s.shutdown().await,
            ClientStream::Tls(s) => s.shutdown().await,
            ClientStream::Memory(_) => Ok(()),
        }
    }
}

/// An in-memory exchange: reads return `input` then end; writes are collected in `output`.
/// An HTTP/2 stream's request runs through the HTTP/1.1 pipeline this way (see
/// `server::h2`), so both protocols share one routing and integration path.
pub struct MemStream {
    input: Vec<u8>,
    pos: usize,
    output: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
}

impl MemStream {
    /// A stream that yields `input` and appends what is written to `output`.
    pub fn new(input: Vec<u8>, output: std::rc::Rc<std::cell::RefCell<Vec<u8>>>) -> Self {
        MemStream {
            input,
            pos: 0,
            output,
        }
    }

    fn read_into<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        let rest = &self.input[self.pos..];
        let n = rest.len().min(buf.bytes_total());
        // SAFETY: `n` bytes fit in `buf` (`bytes_total`), and the source is initialised.
        unsafe {
            buf.write_ptr().copy_from_nonoverlapping(rest.as_ptr(), n);
            buf.set_init(n);
        }
        self.pos += n;
        (Ok(n), buf)
    }

    fn write_from<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: `read_ptr`/`bytes_init` describe initialised memory owned by `buf`.
        let data = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        self.output.borrow_mut().extend_from_slice(data);
        (Ok(data.len()), buf)
    }
}
