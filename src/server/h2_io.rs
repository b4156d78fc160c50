//! A client socket (plain, or with its rustls session) as tokio's poll-based `AsyncRead` and
//! `AsyncWrite`, which the `h2` crate needs.
//!
//! io_uring operations own their buffers, so a poll-based reader cannot lend its buffer to
//! the kernel. The socket is split into owned halves; a read or write in flight is a boxed
//! future that owns its half and its buffer and gives both back when it completes, so a read
//! and a write can be in flight at once (h2 waits for frames while its writes drain) without
//! any shared mutable borrow. rustls is only ever called synchronously from `poll_*`, between
//! those operations.
//!
//! Writes are batched: `poll_write` only appends to a buffer, and `poll_flush` hands what has
//! gathered to one socket write, reporting it flushed while that write is in flight (the h2
//! crate flushes before buffering each DATA frame of 1 KiB or more, and waiting there for the
//! socket cost one write per frame, serialised across all streams). Frames produced meanwhile
//! gather behind the write in flight, up to [`WRITE_HIGH_WATER`], and go out together once it
//! completes; its completion wakes the connection task, whose next poll flushes again.
//! `poll_shutdown` still waits until every byte is written.

use std::future::Future;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use monoio::io::{AsyncReadRent, AsyncWriteRentExt, OwnedReadHalf, OwnedWriteHalf, Splitable};
use monoio::net::TcpStream;
use rustls::ServerConnection;
use tokio::io::ReadBuf;

/// Read buffer size (ciphertext or plaintext).
const READ_BUF: usize = 16 * 1024;
/// Bytes gathered behind a write in flight beyond which `poll_write` waits for it: the h2
/// crate's send side gets back-pressure from the socket instead of growing this buffer.
pub const WRITE_HIGH_WATER: usize = 64 * 1024;
/// Capacity a write buffer keeps once emptied: a burst's larger buffers are given back, so
/// an idle connection holds little.
const KEPT_CAPACITY: usize = 2 * READ_BUF;

type Reader = OwnedReadHalf<TcpStream>;
type Writer = OwnedWriteHalf<TcpStream>;
type ReadOp = Pin<Box<dyn Future<Output = (io::Result<usize>, Vec<u8>, Reader)>>>;
type WriteOp = Pin<Box<dyn Future<Output = (io::Result<()>, Vec<u8>, Writer)>>>;

/// The adapter.
pub struct H2Io {
    reader: Option<Reader>,
    read_op: Option<ReadOp>,
    /// Bytes received; `rbuf[rpos..]` not yet consumed (plaintext, or ciphertext for rustls).
    rbuf: Vec<u8>,
    rpos: usize,
    eof: bool,
    writer: Option<Writer>,
    write_op: Option<WriteOp>,
    /// Bytes accepted from h2 and not yet handed to a write (plaintext).
    pending: Vec<u8>,
    /// The buffer the next write takes: ciphertext staging over TLS, a spare to swap with
    /// `pending` otherwise (the write in flight owns the other one).
    wbuf: Vec<u8>,
    tls: Option<Box<ServerConnection>>,
    closing: bool,
}

impl H2Io {
    /// Wraps `socket`; `received` bytes were already read from it (and not consumed), and
    /// `tls` is the session when the socket carries TLS.
    pub fn new(socket: TcpStream, received: Vec<u8>, tls: Option<Box<ServerConnection>>) -> Self {
        let (reader, writer) = socket.into_split();
        let mut rbuf = received;
        rbuf.reserve(READ_BUF.saturating_sub(rbuf.len()));
        H2Io {
            reader: Some(reader),
            read_op: None,
            rbuf,
            rpos: 0,
            eof: false,
            writer: Some(writer),
            write_op: None,
            pending: Vec::with_capacity(READ_BUF),
            wbuf: Vec::with_capacity(READ_BUF),
            tls,
            closing: false,
        }
    }

    /// Completes the socket read in flight, or starts one. `Ready(Ok(()))` means new bytes
    /// are in `rbuf` or the peer closed (`eof`).
    fn poll_socket_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.read_op.is_none() {
            let Some(reader) = self.reader.take() else {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            };
            let mut buf = std::mem::take(&mut self.rbuf);
            buf.clear();
            self.rpos = 0;
            self.read_op = Some(Box::pin(async move {
                let mut reader = reader;
                let (res, buf) = reader.read(buf).await;
                (res, buf, reader)
            }));
        }
        let Some(op) = self.read_op.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let (res, buf, reader) = ready!(op.as_mut().poll(cx));
        self.read_op = None;
        self.reader = Some(reader);
        self.rbuf = buf;
        self.rpos = 0;
        if res? == 0 {
            self.eof = true;
        }
        Poll::Ready(Ok(()))
    }

    /// Completes the socket write in flight, if any.
    fn poll_write_done(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(op) = self.write_op.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let (res, mut buf, writer) = ready!(op.as_mut().poll(cx));
        self.write_op = None;
        self.writer = Some(writer);
        buf.clear();
        buf.shrink_to(KEPT_CAPACITY);
        self.wbuf = buf;
        Poll::Ready(res)
    }

    /// Starts writing everything accepted so far (encrypted over TLS) and any records rustls
    /// wants to send of its own (no write may be in flight).
    fn start_write(&mut self) -> io::Result<()> {
        let buf = match self.tls.as_mut() {
            Some(tls) => {
                let mut sent = 0;
                loop {
                    // rustls bounds what it buffers: move its records out as they are made.
                    let n = tls.writer().write(&self.pending[sent..])?;
                    sent += n;
                    let mut drained = false;
                    while tls.wants_write() {
                        tls.write_tls(&mut self.wbuf)?;
                        drained = true;
                    }
                    if sent == self.pending.len() {
                        break;
                    }
                    if n == 0 && !drained {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                }
                self.pending.clear();
                self.pending.shrink_to(KEPT_CAPACITY);
                std::mem::take(&mut self.wbuf)
            }
            None => {
                let spare = std::mem::take(&mut self.wbuf);
                std::mem::replace(&mut self.pending, spare)
            }
        };
        if buf.is_empty() {
            self.wbuf = buf;
            return Ok(());
        }
        let Some(writer) = self.writer.take() else {
            return Err(io::ErrorKind::BrokenPipe.into());
        };
        self.write_op = Some(Box::pin(async move {
            let mut writer = writer;
            let (res, buf) = writer.write_all(buf).await;
            (res.map(|_| ()), buf, writer)
        }));
        Ok(())
    }

    fn has_unsent(&self) -> bool {
        !self.pending.is_empty() || self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Completes the write in flight if it is done, then starts one for whatever is unsent.
    /// `Ready` once nothing waits that a write could take now: a write may still be in
    /// flight, and its completion wakes this task.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.poll_write_done(cx)?.is_pending() {
                return Poll::Ready(Ok(()));
            }
            if !self.has_unsent() {
                return Poll::Ready(Ok(()));
            }
            self.start_write()?;
        }
    }
}

fn invalid(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl tokio::io::AsyncRead for H2Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.read_op.is_none() && this.rpos < this.rbuf.len() {
                let pending = &this.rbuf[this.rpos..];
                match this.tls.as_mut() {
                    Some(tls) => {
                        let mut src = pending;
                        this.rpos += tls.read_tls(&mut src)?;
                        tls.process_new_packets().map_err(invalid)?;
                    }
                    None => {
                        let n = pending.len().min(buf.remaining());
                        buf.put_slice(&pending[..n]);
                        this.rpos += n;
                        return Poll::Ready(Ok(()));
                    }
                }
            }
            if let Some(tls) = this.tls.as_mut() {
                match tls.reader().read(buf.initialize_unfilled()) {
                    Ok(n) => {
                        buf.advance(n);
                        return Poll::Ready(Ok(()));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        return Poll::Ready(Ok(()))
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
                if this.rpos < this.rbuf.len() {
                    continue;
                }
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            ready!(this.poll_socket_read(cx))?;
        }
    }
}

impl tokio::io::AsyncWrite for H2Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.len() >= WRITE_HIGH_WATER {
            ready!(this.poll_send(cx))?;
            if this.pending.len() >= WRITE_HIGH_WATER {
                // Still full: the write in flight was polled, and its completion wakes us.
                return Poll::Pending;
            }
        }
        this.pending.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    /// Hands what has gathered to a socket write and returns without waiting for it (see the
    /// module documentation); an error of an earlier write is reported here.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_send(cx)
    }

    /// Sends close_notify over TLS, then waits until every byte is written.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.closing {
            this.closing = true;
            if let Some(tls) = this.tls.as_mut() {
                tls.send_close_notify();
            }
        }
        loop {
            ready!(this.poll_write_done(cx))?;
            if !this.has_unsent() {
                return Poll::Ready(Ok(()));
            }
            this.start_write()?;
        }
    }
}
