//! Byte plumbing shared by both sides of a proxied exchange: a receive buffer that is filled
//! by io_uring reads and consumed by the parsers, body readers for every framing, and writes
//! with deadlines.
//!
//! monoio's I/O takes buffers by value (the kernel owns them while an operation is in flight),
//! so helpers here move a `Vec` into the operation and put it back afterwards. A write or read
//! that times out loses its buffer with the cancelled operation; callers close the connection
//! then, so a fresh empty buffer is put in its place.

use std::io;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};

use crate::http::{ChunkedDecoder, Decoded, HttpError};

/// Why moving bytes failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The peer did not send or accept bytes in time.
    #[error("timed out")]
    Timeout,
    /// The peer closed before the message was complete.
    #[error("connection closed mid-message")]
    Closed,
    /// A socket error.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The body's framing was malformed.
    #[error("{0}")]
    Http(#[from] HttpError),
    /// The body went past the configured limit.
    #[error("body over the size limit")]
    TooLarge,
}

/// Awaits `$fut` for at most `$timeout`: `Some(output)`, or `None` when the time ran out.
/// Unlike `monoio::time::timeout` the future and its timer are pinned where they are built,
/// not moved into a wrapper and again into the awaiting state: those copies were ~1,500
/// instructions of `memcpy` per proxied request (callgrind), the timer alone being 640 bytes.
macro_rules! within {
    ($timeout:expr, $fut:expr) => {{
        let mut fut = std::pin::pin!($fut);
        let mut sleep = std::pin::pin!(monoio::time::sleep($timeout));
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(out) = std::future::Future::poll(fut.as_mut(), cx) {
                return std::task::Poll::Ready(Some(out));
            }
            std::future::Future::poll(sleep.as_mut(), cx).map(|()| None)
        })
        .await
    }};
}

/// Receive buffer: `buf[pos..]` holds bytes received and not yet consumed.
#[derive(Debug)]
pub struct InBuf {
    buf: Vec<u8>,
    pos: usize,
}

/// Smallest free space a read is given; below it the buffer is compacted or grown.
const MIN_READ: usize = 4096;

impl InBuf {
    /// A buffer with `capacity` bytes reserved once, reused for the connection's life.
    pub fn with_capacity(capacity: usize) -> Self {
        InBuf {
            buf: Vec::with_capacity(capacity),
            pos: 0,
        }
    }

    /// Bytes received and not consumed.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Offset of `pending()` inside the whole buffer; ranges from body readers are absolute.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The whole buffer, for absolute ranges handed out by [`BodyReader`].
    pub fn raw(&self) -> &[u8] {
        &self.buf
    }

    /// Empties the buffer and hands it out to be written directly: an HTTP/2 stream's head
    /// is copied in by `RequestHead::from_h2` instead of being received as bytes.
    pub fn reset_for_head(&mut self) -> &mut Vec<u8> {
        self.pos = 0;
        self.buf.clear();
        &mut self.buf
    }

    /// Marks `n` pending bytes as used. Their memory stays valid until the next fill.
    pub fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.buf.len());
    }

    /// Makes room for a read of at least [`MIN_READ`] bytes, dropping consumed bytes first and
    /// doubling the buffer when it is full of unconsumed bytes (a head being received; the
    /// head parser enforces the size limit).
    fn make_room(&mut self) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 0 && self.buf.capacity() - self.buf.len() < MIN_READ {
            self.buf.copy_within(self.pos.., 0);
            self.buf.truncate(self.buf.len() - self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < MIN_READ {
            self.buf.reserve(self.buf.capacity().max(MIN_READ));
        }
    }

    /// Reads more bytes from `stream`, appending to the buffer. `Ok(0)` means the peer closed.
    pub async fn fill<S: AsyncReadRent>(
        &mut self,
        stream: &mut S,
        timeout: Duration,
    ) -> Result<usize, WireError> {
        self.make_room();
        let len = self.buf.len();
        let cap = self.buf.capacity();
        let buf = std::mem::take(&mut self.buf);
        match within!(timeout, stream.read(buf.slice_mut(len..cap))) {
            Some((res, slice)) => {
                self.buf = slice.into_inner();
                Ok(res?)
            }
            None => Err(WireError::Timeout),
        }
    }

    /// Like [`fill`](Self::fill) without a deadline, ending (with `Ok(0)`) when `cancel` is
    /// triggered: the idle wheel (`server::idle`) cancels the read when the wait's time is up,
    /// for parking, or for the drain. A cancelled read still returns the bytes it received.
    pub async fn fill_until_canceled<S: monoio::io::CancelableAsyncReadRent>(
        &mut self,
        stream: &mut S,
        cancel: monoio::io::CancelHandle,
    ) -> Result<usize, WireError> {
        self.make_room();
        let len = self.buf.len();
        let cap = self.buf.capacity();
        let buf = std::mem::take(&mut self.buf);
        let (res, slice) = stream
            .cancelable_read(buf.slice_mut(len..cap), cancel)
            .await;
        self.buf = slice.into_inner();
        match res {
            Ok(n) => Ok(n),
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => Ok(0),
            Err(e) => Err(WireError::Io(e)),
        }
    }

    /// Takes the (empty) storage out while the connection idles.
    pub fn take_buf(&mut self) -> Vec<u8> {
        self.pos = 0;
        std::mem::take(&mut self.buf)
    }

    /// Gives storage back after [`InBuf::take_buf`].
    pub fn put_buf(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        self.buf = buf;
        self.pos = 0;
    }

    /// Writes `range` of the buffer to `stream` without copying.
    pub async fn write_range<S: monoio::io::AsyncWriteRent>(
        &mut self,
        stream: &mut S,
        start: usize,
        end: usize,
        timeout: Duration,
    ) -> Result<(), WireError> {
        let buf = std::mem::take(&mut self.buf);
        match within!(timeout, stream.write_all(buf.slice(start..end))) {
            Some((res, slice)) => {
                self.buf = slice.into_inner();
                res.map(|_| ()).map_err(WireError::Io)
            }
            None => Err(WireError::Timeout),
        }
    }
}

/// Writes all of `buf` to `stream` within `timeout` and leaves it as it was, so the same bytes
/// can be sent again (a request replayed on a fresh connection) without a copy. On a timeout
/// the buffer is lost (left empty): the exchange is over then.
pub async fn write_kept<S: monoio::io::AsyncWriteRent>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    timeout: Duration,
) -> Result<(), WireError> {
    let owned = std::mem::take(buf);
    match within!(timeout, stream.write_all(owned)) {
        Some((res, owned)) => {
            *buf = owned;
            res.map(|_| ()).map_err(WireError::Io)
        }
        None => Err(WireError::Timeout),
    }
}

/// Writes all of `out` to `stream` within `timeout` and clears it for reuse.
pub async fn write_out<S: monoio::io::AsyncWriteRent>(
    stream: &mut S,
    out: &mut Vec<u8>,
    timeout: Duration,
) -> Result<(), WireError> {
    if out.is_empty() {
        return Ok(());
    }
    let written = write_kept(stream, out, timeout).await;
    out.clear();
    written
}

/// How a message body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the peer closes (responses only).
    UntilClose,
}

impl From<crate::http::ResponseFraming> for Framing {
    /// How a response body framed as the backend announced it is read.
    fn from(f: crate::http::ResponseFraming) -> Self {
        use crate::http::ResponseFraming as R;
        match f {
            R::None => Framing::None,
            R::Length(n) => Framing::Length(n),
            R::Chunked => Framing::Chunked,
            R::UntilClose => Framing::UntilClose,
        }
    }
}

/// Reads a body of any framing out of an [`InBuf`], one piece at a time, enforcing a limit.
#[derive(Debug)]
pub struct BodyReader {
    framing: Framing,
    remaining: u64,
    decoder: ChunkedDecoder,
    total: u64,
    limit: u64,
    done: bool,
}

impl BodyReader {
    /// A reader for a body framed as `framing`, refusing more than `limit` bytes.
    pub fn new(framing: Framing, limit: u64) -> Self {
        let remaining = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        BodyReader {
            framing,
            remaining,
            decoder: ChunkedDecoder::new(),
            total: 0,
            limit,
            done: matches!(framing, Framing::None | Framing::Length(0)),
        }
    }

    /// Body bytes handed out so far.
    pub fn bytes_read(&self) -> u64 {
        self.total
    }

    /// Whether the whole body has been read (the connection is in sync for a next message).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Next piece of body as an absolute range into `inbuf.raw()`, valid until the next call;
    /// `None` at the end of the body. Reads from `stream` when the buffer holds nothing usable.
    pub async fn next<S: AsyncReadRent>(
        &mut self,
        stream: &mut S,
        inbuf: &mut InBuf,
        timeout: Duration,
    ) -> Result<Option<(usize, usize)>, WireError> {
        loop {
            if let Some(range) = self.take_buffered(inbuf)? {
                return Ok(Some(range));
            }
            if self.done {
                return Ok(None);
            }
            self.read_more(stream, inbuf, timeout).await?;
        }
    }

    /// Reads more body bytes into `inbuf`; the end of a close-delimited body marks it done.
    pub async fn read_more<S: AsyncReadRent>(
        &mut self,
        stream: &mut S,
        inbuf: &mut InBuf,
        timeout: Duration,
    ) -> Result<(), WireError> {
        let n = inbuf.fill(stream, timeout).await?;
        if n == 0 {
            if self.framing == Framing::UntilClose {
                self.done = true;
                return Ok(());
            }
            return Err(WireError::Closed);
        }
        Ok(())
    }

    /// Takes the next piece the buffer already holds, without reading; `None` when more bytes
    /// are needed or the body is complete (see [`is_done`](Self::is_done)).
    pub fn take_buffered(
        &mut self,
        inbuf: &mut InBuf,
    ) -> Result<Option<(usize, usize)>, WireError> {
        if self.done {
            return Ok(None);
        }
        let start = inbuf.pos();
        let pending = inbuf.pending();
        match self.framing {
            Framing::None => {
                self.done = true;
                Ok(None)
            }
            Framing::Length(_) => {
                if pending.is_empty() {
                    return Ok(None);
                }
                let n = (pending.len() as u64).min(self.remaining) as usize;
                self.remaining -= n as u64;
                self.done = self.remaining == 0;
                inbuf.consume(n);
                self.count(n)?;
                Ok(Some((start, start + n)))
            }
            Framing::UntilClose => {
                if pending.is_empty() {
                    return Ok(None);
                }
                let n = pending.len();
                inbuf.consume(n);
                self.count(n)?;
                Ok(Some((start, start + n)))
            }
            Framing::Chunked => self.take_chunk(inbuf),
        }
    }

    fn take_chunk(&mut self, inbuf: &mut InBuf) -> Result<Option<(usize, usize)>, WireError> {
        loop {
            let start = inbuf.pos();
            let (consumed, decoded) = self.decoder.decode(inbuf.pending())?;
            inbuf.consume(consumed);
            match decoded {
                Decoded::Data { start: s, end: e } => {
                    if e > s {
                        self.count(e - s)?;
                        return Ok(Some((start + s, start + e)));
                    }
                }
                Decoded::NeedMore => return Ok(None),
                Decoded::Done => {
                    self.done = true;
                    return Ok(None);
                }
            }
            if consumed == 0 {
                return Ok(None);
            }
        }
    }

    fn count(&mut self, n: usize) -> Result<(), WireError> {
        self.total += n as u64;
        if self.total > self.limit {
            return Err(WireError::TooLarge);
        }
        Ok(())
    }
}
