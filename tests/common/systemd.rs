//! A stand-in for systemd's notification socket: a Unix datagram socket the test binds and
//! names in the gateway's `NOTIFY_SOCKET`, collecting what the node tells its supervisor.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The socket and everything received on it so far.
pub struct NotifySocket {
    _dir: tempfile::TempDir,
    path: PathBuf,
    socket: UnixDatagram,
    received: Vec<String>,
}

impl NotifySocket {
    pub fn bind() -> NotifySocket {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        NotifySocket {
            _dir: dir,
            path,
            socket,
            received: Vec::new(),
        }
    }

    /// The value for `NOTIFY_SOCKET`.
    pub fn path(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }

    /// Waits up to `timeout` for a message for which `want` holds and returns it; every message
    /// read meanwhile is kept in [`NotifySocket::received`].
    pub fn wait_for(&mut self, timeout: Duration, want: impl Fn(&str) -> bool) -> Option<String> {
        let end = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok()?;
            match self.socket.recv(&mut buf) {
                Ok(n) => {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    self.received.push(msg.clone());
                    if want(&msg) {
                        return Some(msg);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Messages received between now and `window` from now.
    pub fn collect(&mut self, window: Duration) -> Vec<String> {
        let start = self.received.len();
        let _ = self.wait_for(window, |_| false);
        self.received[start..].to_vec()
    }

    /// Everything received.
    pub fn received(&self) -> &[String] {
        &self.received
    }
}
