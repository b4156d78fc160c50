//! The byte stream under a client connection: a plain socket or TLS over one.
//!
//! An enum rather than a generic parameter: the HTTP/1 code (`wire`, the pipeline, the
//! proxy) stays one monomorphization, and the plain path costs one predictable branch per
//! I/O call. TLS state is boxed so a plain connection does not carry its size.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};

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
            ClientStream::Memory(m) => m.read_into(buf).await,
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
            ClientStream::Memory(m) => m.read_into(buf).await,
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
            ClientStream::Memory(m) => m.write_from(buf).await,
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

/// An in-memory exchange between an HTTP/2 stream and the HTTP/1.1 pipeline: reads come
/// from the `input` [`Pipe`] (the rewritten request head, then the body as the client sends
/// it) and writes go into the `output` pipe, which the HTTP/2 side drains while the pipeline
/// is still writing (see `server::h2`). Both directions are bounded, so both stream with
/// back-pressure, and both protocols share one routing and integration path.
pub struct MemStream {
    input: Rc<Pipe>,
    output: Rc<Pipe>,
}

/// Bytes a writer may put in a [`Pipe`] ahead of its reader before its writes wait.
pub const PIPE_HIGH_WATER: usize = 64 * 1024;

/// A single-task, bounded byte pipe between the HTTP/1.1 pipeline and an HTTP/2 stream.
#[derive(Default)]
pub struct Pipe {
    data: RefCell<Vec<u8>>,
    finished: Cell<bool>,
    abandoned: Cell<bool>,
    reader: Cell<Option<Waker>>,
    writer: Cell<Option<Waker>>,
}

impl Pipe {
    /// An empty pipe.
    pub fn new() -> Rc<Pipe> {
        Rc::new(Pipe::default())
    }

    /// The bytes written and not yet consumed.
    pub fn data(&self) -> std::cell::Ref<'_, Vec<u8>> {
        self.data.borrow()
    }

    /// Whether the writer is done (no more bytes will come).
    pub fn is_finished(&self) -> bool {
        self.finished.get()
    }

    /// Drops `n` consumed bytes and lets a waiting writer go on.
    pub fn consume(&self, n: usize) {
        let mut data = self.data.borrow_mut();
        let n = n.min(data.len());
        data.drain(..n);
        drop(data);
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    /// The writer is done.
    pub fn finish(&self) {
        self.finished.set(true);
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    /// The reader is gone (stream reset): writes fail from now on.
    pub fn abandon(&self) {
        self.abandoned.set(true);
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    /// Waits until more than `seen` bytes are buffered or the writer finished.
    pub async fn wait_more(&self, seen: usize) {
        std::future::poll_fn(|cx| {
            if self.data.borrow().len() > seen || self.finished.get() {
                Poll::Ready(())
            } else {
                self.reader.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }

    /// Appends `bytes` once the buffer is below the high-water mark; fails once the reader
    /// abandoned the pipe.
    pub async fn push(&self, bytes: &[u8]) -> io::Result<()> {
        std::future::poll_fn(|cx| {
            if self.abandoned.get() {
                Poll::Ready(Err(io::Error::from(io::ErrorKind::BrokenPipe)))
            } else if self.data.borrow().len() < PIPE_HIGH_WATER {
                Poll::Ready(Ok(()))
            } else {
                self.writer.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await?;
        self.data.borrow_mut().extend_from_slice(bytes);
        if let Some(w) = self.reader.take() {
            w.wake();
        }
        Ok(())
    }
}

impl MemStream {
    /// A stream that reads from `input` and writes into `output`.
    pub fn new(input: Rc<Pipe>, output: Rc<Pipe>) -> Self {
        MemStream { input, output }
    }

    async fn read_into<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        self.input.wait_more(0).await;
        let n = {
            let data = self.input.data();
            let n = data.len().min(buf.bytes_total());
            // SAFETY: `n` bytes fit in `buf` (`bytes_total`), and the source is initialised.
            unsafe {
                buf.write_ptr().copy_from_nonoverlapping(data.as_ptr(), n);
                buf.set_init(n);
            }
            n
        };
        self.input.consume(n);
        (Ok(n), buf)
    }

    async fn write_from<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: `read_ptr`/`bytes_init` describe initialised memory owned by `buf`.
        let data = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let len = data.len();
        match self.output.push(data).await {
            Ok(()) => (Ok(len), buf),
            Err(e) => (Err(e), buf),
        }
    }
}
