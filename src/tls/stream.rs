//! rustls on a monoio socket.
//!
//! rustls is a state machine with no I/O of its own: ciphertext goes in with `read_tls`, out
//! with `write_tls`. This type moves that ciphertext through io_uring with owned buffers and
//! exposes plaintext through monoio's rent traits, so every HTTP/1 helper that is generic over
//! `AsyncReadRent`/`AsyncWriteRent` works unchanged over TLS. It is written here rather than
//! taken from `monoio-rustls` because the idle wait between requests must be cancellable when
//! a shard drains (`CancelableAsyncReadRent`), which that crate does not offer, and because the
//! server side picks its `ServerConfig` per SNI (see [`accept`]).

use std::io::{self, Read, Write};
use std::ops::{Deref, DerefMut};

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut, RawBuf};
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelHandle, CancelableAsyncReadRent,
};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::server::{Acceptor, ClientHello};
use rustls::{ConnectionCommon, ServerConfig, ServerConnection, SideData};
use std::sync::Arc;

/// Ciphertext receive buffer: one maximum TLS record plus header room.
const TLS_BUF: usize = 18 * 1024;

/// A TLS connection over a TCP socket, either side (`C` is rustls' `ServerConnection` or
/// `ClientConnection`).
pub struct TlsStream<C> {
    io: TcpStream,
    conn: C,
    /// Ciphertext received; `rbuf[rpos..]` is not yet handed to rustls.
    rbuf: Vec<u8>,
    rpos: usize,
    /// Ciphertext staged for one socket write.
    wbuf: Vec<u8>,
    /// Decrypted bytes rustls holds, as of the last record processed.
    plain_avail: usize,
    /// The peer sent `close_notify`.
    peer_closed: bool,
}

/// Why a TLS handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer closed, the socket failed, or the peer broke the protocol.
    #[error("tls handshake: {0}")]
    Io(#[from] io::Error),
    /// No certificate is configured for the name the client asked for.
    #[error("no certificate for server name {0:?}")]
    UnknownName(Option<String>),
}

impl<C, SD> TlsStream<C>
where
    C: DerefMut + Deref<Target = ConnectionCommon<SD>>,
    SD: SideData,
{
    /// Wraps a connection whose first `rbuf[rpos..]` ciphertext bytes are already received.
    fn from_parts(io: TcpStream, conn: C, rbuf: Vec<u8>, rpos: usize) -> Self {
        TlsStream {
            io,
            conn,
            rbuf,
            rpos,
            wbuf: Vec::with_capacity(TLS_BUF),
            plain_avail: 0,
            peer_closed: false,
        }
    }

    /// The socket, the rustls session and the ciphertext received but not yet given to
    /// rustls: what another I/O adapter (HTTP/2) needs to carry on.
    pub fn into_parts(mut self) -> (TcpStream, C, Vec<u8>) {
        self.rbuf.drain(..self.rpos.min(self.rbuf.len()));
        (self.io, self.conn, self.rbuf)
    }

    /// Frees the ciphertext buffers while the connection idles, if rustls has neither
    /// ciphertext nor plaintext waiting; returns whether it did. What stays is rustls' own
    /// state: keys, sequence numbers, and its deframer buffer, which it never lets shrink
    /// below 4 KiB (tuning.md, "Idle keep-alive connections").
    pub fn park(&mut self) -> bool {
        if self.rpos < self.rbuf.len() || self.plain_avail > 0 || self.conn.wants_write() {
            return false;
        }
        self.rbuf = Vec::new();
        self.rpos = 0;
        self.wbuf = Vec::new();
        true
    }

    /// Takes ciphertext buffers again after [`TlsStream::park`].
    pub fn unpark(&mut self) {
        self.rbuf.reserve(TLS_BUF);
        self.wbuf.reserve(TLS_BUF);
    }

    /// Waits until the socket has bytes to read, holding no buffer.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable(false).await
    }

    /// The rustls connection (peer certificates, ALPN, SNI).
    pub fn session(&self) -> &C {
        &self.conn
    }

    /// Feeds rustls more ciphertext, reading the socket when nothing is buffered. `Ok(0)`
    /// means the peer closed the socket. A protocol error is answered with rustls' alert
    /// before it is returned.
    async fn read_tls(&mut self, cancel: Option<&CancelHandle>) -> io::Result<usize> {
        if self.rpos >= self.rbuf.len() {
            let mut buf = std::mem::take(&mut self.rbuf);
            buf.clear();
            let (res, buf) = match cancel {
                Some(c) => self.io.cancelable_read(buf, c.clone()).await,
                None => self.io.read(buf).await,
            };
            self.rbuf = buf;
            self.rpos = 0;
            if res? == 0 {
                return Ok(0);
            }
        }
        let mut pending = &self.rbuf[self.rpos..];
        let n = self.conn.read_tls(&mut pending)?;
        self.rpos += n;
        match self.conn.process_new_packets() {
            Ok(state) => {
                self.plain_avail = state.plaintext_bytes_to_read();
                self.peer_closed = state.peer_has_closed();
            }
            Err(e) => {
                let _ = self.flush_tls().await;
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
        Ok(n.max(1))
    }

    /// Sends every ciphertext byte rustls has queued.
    async fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.wbuf.clear();
            self.conn.write_tls(&mut self.wbuf)?;
            let buf = std::mem::take(&mut self.wbuf);
            let (res, buf) = self.io.write_all(buf).await;
            self.wbuf = buf;
            res?;
        }
        Ok(())
    }

    /// Runs the handshake to its end.
    pub async fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            self.flush_tls().await?;
            if self.conn.is_handshaking()
                && self.conn.wants_read()
                && self.read_tls(None).await? == 0
            {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        self.flush_tls().await
    }

    /// Reads plaintext into `buf`, waiting for records as needed.
    async fn read_plain<T: IoBufMut>(
        &mut self,
        mut buf: T,
        cancel: Option<&CancelHandle>,
    ) -> BufResult<usize, T> {
        loop {
            if self.plain_avail > 0 {
                let n = self.plain_avail.min(buf.bytes_total());
                // SAFETY: `write_ptr` points to `bytes_total` writable bytes owned by `buf`; the
                // first `n` are zeroed before a slice is made of them, so rustls only ever sees
                // initialised memory, and `set_init` records what it wrote.
                let slice = unsafe {
                    std::ptr::write_bytes(buf.write_ptr(), 0, n);
                    std::slice::from_raw_parts_mut(buf.write_ptr(), n)
                };
                match self.conn.reader().read(slice) {
                    Ok(got) => {
                        self.plain_avail = self.plain_avail.saturating_sub(got);
                        unsafe { buf.set_init(got) };
                        return (Ok(got), buf);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.plain_avail = 0,
                    Err(e) => return (Err(e), buf),
                }
            } else if self.peer_closed {
                return (Ok(0), buf);
            }
            match self.read_tls(cancel).await {
                Ok(0) => return (Ok(0), buf),
                Ok(_) => {}
                Err(e) => return (Err(e), buf),
            }
            // Post-handshake messages (TLS 1.3 tickets, key updates) may need an answer.
            if self.conn.wants_write() {
                if let Err(e) = self.flush_tls().await {
                    return (Err(e), buf);
                }
            }
        }
    }

    /// Encrypts and sends `data`, returning how much of it was taken.
    async fn write_plain(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.conn.writer().write(data)?;
        self.flush_tls().await?;
        Ok(n)
    }
}

impl<C, SD> AsyncReadRent for TlsStream<C>
where
    C: DerefMut + Deref<Target = ConnectionCommon<SD>>,
    SD: SideData,
{
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        self.read_plain(buf, None).await
    }

    async fn readv<T: IoVecBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        // SAFETY: the raw buffer points into `buf`, which outlives the read.
        let n = match unsafe { RawBuf::new_from_iovec_mut(&mut buf) } {
            Some(raw) => self.read_plain(raw, None).await.0,
            None => Ok(0),
        };
        if let Ok(n) = n {
            unsafe { buf.set_init(n) };
        }
        (n, buf)
    }
}

impl<C, SD> CancelableAsyncReadRent for TlsStream<C>
where
    C: DerefMut + Deref<Target = ConnectionCommon<SD>>,
    SD: SideData,
{
    async fn cancelable_read<T: IoBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        self.read_plain(buf, Some(&c)).await
    }

    async fn cancelable_readv<T: IoVecBufMut>(
        &mut self,
        buf: T,
        _c: CancelHandle,
    ) -> BufResult<usize, T> {
        self.readv(buf).await
    }
}

impl<C, SD> AsyncWriteRent for TlsStream<C>
where
    C: DerefMut + Deref<Target = ConnectionCommon<SD>>,
    SD: SideData,
{
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: `read_ptr`/`bytes_init` describe initialised memory owned by `buf`.
        let data = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let res = self.write_plain(data).await;
        (res, buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: the raw buffer points into `buf`, which outlives the write.
        let res = match unsafe { RawBuf::new_from_iovec(&buf) } {
            Some(raw) => self.write(raw).await.0,
            None => Ok(0),
        };
        (res, buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.flush_tls().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        self.flush_tls().await?;
        self.io.shutdown().await
    }
}

/// A fatal `unrecognized_name` alert in a plaintext TLS 1.2 record, sent when the client asks
/// for a name the gateway has no certificate for and unknown names are refused.
const UNRECOGNIZED_NAME_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

/// Reads the ClientHello, asks `pick` for the `ServerConfig` serving its SNI (certificate,
/// client verification), and completes the handshake with it.
pub async fn accept(
    mut io: TcpStream,
    pick: impl FnOnce(&ClientHello<'_>) -> Option<Arc<ServerConfig>>,
) -> Result<TlsStream<ServerConnection>, HandshakeError> {
    let mut acceptor = Acceptor::default();
    let mut rbuf: Vec<u8> = Vec::with_capacity(TLS_BUF);
    let mut rpos = 0;
    let accepted = loop {
        if rpos >= rbuf.len() {
            rbuf.clear();
            rpos = 0;
            let (res, buf) = io.read(rbuf).await;
            rbuf = buf;
            if res? == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
        }
        let mut pending = &rbuf[rpos..];
        rpos += acceptor.read_tls(&mut pending)?;
        match acceptor.accept() {
            Ok(None) => {}
            Ok(Some(accepted)) => break accepted,
            Err((e, mut alert)) => {
                let mut out = Vec::new();
                let _ = alert.write_all(&mut out);
                let _ = io.write_all(out).await;
                return Err(io::Error::new(io::ErrorKind::InvalidData, e).into());
            }
        }
    };
    let hello = accepted.client_hello();
    let Some(config) = pick(&hello) else {
        let name = hello.server_name().map(str::to_owned);
        let _ = io.write_all(UNRECOGNIZED_NAME_ALERT.to_vec()).await;
        return Err(HandshakeError::UnknownName(name));
    };
    let conn = match accepted.into_connection(config) {
        Ok(conn) => conn,
        Err((e, mut alert)) => {
            let mut out = Vec::new();
            let _ = alert.write_all(&mut out);
            let _ = io.write_all(out).await;
            return Err(io::Error::new(io::ErrorKind::InvalidData, e).into());
        }
    };
    let mut stream = TlsStream::from_parts(io, conn, rbuf, rpos);
    stream.handshake().await?;
    Ok(stream)
}

/// Opens a client-side TLS session over `io` (TLS to backends).
pub async fn connect(
    io: TcpStream,
    config: Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
) -> io::Result<TlsStream<rustls::ClientConnection>> {
    let conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut stream = TlsStream::from_parts(io, conn, Vec::with_capacity(TLS_BUF), 0);
    stream.handshake().await?;
    Ok(stream)
}
