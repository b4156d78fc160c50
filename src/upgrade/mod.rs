//! Zero-downtime binary upgrades, as nginx does them on `SIGUSR2`: the running node starts
//! its binary again (the file as it is now, so a newly installed version) and hands it its
//! listening sockets; the new process serves on them beside the old one, which then stops
//! accepting, drains and exits. No connection is refused or reset: the sockets never close,
//! so connections queued in their backlogs are accepted by whichever process is there.
//!
//! The steps ([`channel`] carries the messages):
//! 1. old: `SIGUSR2` → spawns the binary with the listener descriptors (and one end of a socket
//!    pair) left open across `exec`, named in [`LISTEN_FDS_ENV`] and [`CHANNEL_FD_ENV`];
//! 2. new: loads and checks the configuration, adopts the listeners → `prepared`;
//! 3. old: flushes usage and closes the store (one owner at a time) → `released`;
//! 4. new: opens the store, starts its shards on the adopted listeners → `serving`;
//! 5. old: tells systemd the new main PID, stops accepting, drains, and sends what its
//!    last requests counted (`usage`) before it exits.
//!
//! A new binary that exits, stalls or fails before step 4 leaves the old one serving (it
//! takes the store back if it had let go of it), with the refusal logged once.

pub mod channel;

use std::ffi::OsString;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use channel::{Channel, ChannelError, Message};

use crate::systemd::Notifier;
use crate::throttle::TrafficNode;

/// `fd:kind` pairs (`5:http,6:tls,7:admin`) of the listeners a new process inherits.
pub const LISTEN_FDS_ENV: &str = "TOLLGATE_LISTEN_FDS";
/// The descriptor of the new process's end of the upgrade channel.
pub const CHANNEL_FD_ENV: &str = "TOLLGATE_UPGRADE_FD";

/// How long the new process may take to load its configuration (100,000 API keys load in
/// about 3 s on these machines; tuning.md) and to start serving once it has the store.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(60);
const SERVE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Plain HTTP/1.1 and h2c (`[server] listen`).
    Http,
    /// TLS (`[server] tls_listen`).
    Tls,
    /// The admin listener.
    Admin,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Tls => "tls",
            Kind::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [Kind::Http, Kind::Tls, Kind::Admin]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

/// Why an upgrade, or taking one over, failed.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The inherited descriptors are not what the environment says.
    #[error("{LISTEN_FDS_ENV}/{CHANNEL_FD_ENV}: {0}")]
    Inherit(String),
    /// The conversation with the other process failed.
    #[error("{0}")]
    Channel(#[from] ChannelError),
    /// The new process could not be started.
    #[error("cannot start {exe}: {source}")]
    Spawn {
        /// The binary.
        exe: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The new process exited before it served.
    #[error("the new binary exited ({0}) before it served")]
    Exited(std::process::ExitStatus),
    /// The store could not be handed over.
    #[error("{0}")]
    Store(#[from] crate::throttle::StoreError),
}

/// The old side: what it needs to start its successor.
#[derive(Debug)]
pub struct Upgrader {
    exe: PathBuf,
    args: Vec<OsString>,
    /// Duplicates of the listeners (the same sockets): owned here, so the numbers handed to
    /// the new process always name them.
    listeners: Vec<(Kind, OwnedFd)>,
    traffic: Arc<TrafficNode>,
    notifier: Arc<Notifier>,
    /// Raised while the process this one took over from still drains into it.
    predecessor_running: Arc<AtomicBool>,
}

/// How an upgrade ended for the old process.
#[derive(Debug)]
pub enum Outcome {
    /// The new process (this pid) serves; drain and exit ([`TrafficNode::shutdown`] closes
    /// the usage line after the last flush).
    HandedOver(u32),
    /// The old process goes on serving (the reason is logged).
    Refused,
}

impl Upgrader {
    /// `exe`: [`started_from`], read at start. `listeners`: duplicates of every listening
    /// descriptor of this process. `predecessor_running`: the flag [`Takeover::serving`]
    /// lowers (never raised in a node that started on its own).
    pub fn new(
        exe: PathBuf,
        listeners: Vec<(Kind, OwnedFd)>,
        traffic: Arc<TrafficNode>,
        notifier: Arc<Notifier>,
        predecessor_running: Arc<AtomicBool>,
    ) -> Upgrader {
        Upgrader {
            exe,
            args: std::env::args_os().skip(1).collect(),
            listeners,
            traffic,
            notifier,
            predecessor_running,
        }
    }

    /// Runs an upgrade on the main thread (blocking: it waits for the new process).
    pub fn run(&self, generation: u64) -> Outcome {
        // As nginx refuses a new binary while the old master still runs: the store would
        // pass on while the oldest process still sends its counts here.
        if self.predecessor_running.load(Ordering::Acquire) {
            tracing::error!(
                "upgrade refused: the process this one took over from is still draining; send SIGUSR2 again once it has exited (log: `the old process has drained and exited`)"
            );
            return Outcome::Refused;
        }
        match self.hand_over() {
            Ok(pid) => {
                self.notifier.hand_over(pid);
                tracing::info!(
                    new_pid = pid,
                    "upgrade: pid {pid} serves on the same listeners; this process stops accepting and drains"
                );
                Outcome::HandedOver(pid)
            }
            Err((step, e)) => {
                tracing::error!(
                    "upgrade refused ({step}): {e}; pid {} goes on serving generation {generation}. Fix the new binary or its configuration (`tollgate --check DIR`) and send SIGUSR2 again",
                    std::process::id()
                );
                Outcome::Refused
            }
        }
    }

    /// Steps 1–4 of the module doc; on failure, which step and why.
    fn hand_over(&self) -> Result<u32, (&'static str, UpgradeError)> {
        let (ours, theirs) = UnixStream::pair()
            .map_err(|e| ("opening the upgrade channel", ChannelError::Io(e).into()))?;
        let mut child = self
            .spawn(&theirs)
            .map_err(|e| ("starting the new binary", e))?;
        // Only the child holds its end now, so its exit closes the channel.
        drop(theirs);
        let pid = child.id();
        let mut channel = Channel::new(ours)
            .map_err(|e| ("opening the upgrade channel", ChannelError::Io(e).into()))?;
        if let Err(e) = channel.expect(&Message::Prepared, PREPARE_TIMEOUT) {
            return Err((
                "waiting for the new binary to load its configuration",
                abandon(&mut child, e),
            ));
        }
        let sink = channel.usage_sink().map_err(|e| {
            (
                "opening the upgrade channel",
                abandon(&mut child, ChannelError::Io(e)),
            )
        })?;
        if let Err(e) = self.traffic.release_store() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(("handing over the usage store", e.into()));
        }
        let served = channel
            .send(&Message::Released)
            .and_then(|()| channel.expect(&Message::Serving, SERVE_TIMEOUT));
        if let Err(e) = served {
            let e = abandon(&mut child, e);
            if let Err(store) = self.traffic.reclaim_store() {
                tracing::error!("taking the usage store back: {store}");
            }
            return Err(("waiting for the new binary to serve", e));
        }
        // Only now, with the main thread done writing: what was counted since the release,
        // and all that follows, goes to the new process, which outlives this one.
        self.traffic.forward_to(Box::new(sink));
        drop(channel);
        Ok(pid)
    }

    /// Starts the binary with the listeners and `theirs` inherited.
    fn spawn(&self, theirs: &UnixStream) -> Result<Child, UpgradeError> {
        let channel_fd = theirs.as_raw_fd();
        let fds: Vec<RawFd> = self
            .listeners
            .iter()
            .map(|(_, fd)| fd.as_raw_fd())
            .chain([channel_fd])
            .collect();
        let listed: Vec<String> = self
            .listeners
            .iter()
            .map(|(kind, fd)| format!("{}:{}", fd.as_raw_fd(), kind.name()))
            .collect();
        let mut command = Command::new(&self.exe);
        command
            .args(&self.args)
            .env(LISTEN_FDS_ENV, listed.join(","))
            .env(CHANNEL_FD_ENV, channel_fd.to_string())
            // The watchdog belongs to whichever process is systemd's main one; the new process
            // pings once the old one has named it (`MAINPID=`).
            .env_remove("WATCHDOG_PID");
        // SAFETY: only close_range and fcntl, which are async-signal-safe, run between fork
        // and exec.
        unsafe {
            command.pre_exec(move || crate::lifecycle::close_on_exec_except(&fds));
        }
        command.spawn().map_err(|source| UpgradeError::Spawn {
            exe: self.exe.display().to_string(),
            source,
        })
    }
}

/// The path of this process's binary, to read as early as possible: once a package replaces
/// the file, `/proc/self/exe` names the old one with ` (deleted)` appended (removed here:
/// the path is what an upgrade starts again).
pub fn started_from() -> std::io::Result<PathBuf> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let exe = std::env::current_exe()?;
    let bytes = exe.as_os_str().as_bytes();
    Ok(match bytes.strip_suffix(b" (deleted)") {
        Some(path) => PathBuf::from(OsString::from_vec(path.to_vec())),
        None => exe,
    })
}

/// Stops a new process that did not take over, and says why: its exit status if it exited
/// (a closed channel means it is exiting: it gets a moment to finish), else `e`.
fn abandon(child: &mut Child, e: ChannelError) -> UpgradeError {
    let grace = if matches!(e, ChannelError::Closed) {
        40
    } else {
        0
    };
    for _ in 0..=grace {
        if let Ok(Some(status)) = child.try_wait() {
            return UpgradeError::Exited(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    e.into()
}

/// The new side: what the old process handed over.
#[derive(Debug)]
pub struct Takeover {
    channel: Channel,
    listeners: Vec<(Kind, TcpListener)>,
}

impl Takeover {
    /// The upgrade this process was started for, if any. The variables are removed so that
    /// this process's own children (hosted functions, a later upgrade) do not see them.
    pub fn from_env() -> Result<Option<Takeover>, UpgradeError> {
        let (Some(listed), Some(channel)) = (
            std::env::var_os(LISTEN_FDS_ENV),
            std::env::var_os(CHANNEL_FD_ENV),
        ) else {
            return Ok(None);
        };
        // Called once at start, on the main thread, before any other thread exists.
        std::env::remove_var(LISTEN_FDS_ENV);
        std::env::remove_var(CHANNEL_FD_ENV);
        let bad = |what: String| UpgradeError::Inherit(what);
        let channel_fd = parse_fd(channel.to_str().unwrap_or(""))
            .ok_or_else(|| bad(format!("{channel:?} is no descriptor")))?;
        let channel = UnixStream::from(adopt(channel_fd).map_err(bad)?);
        let mut listeners = Vec::new();
        let mut seen = vec![channel_fd];
        for item in listed
            .to_str()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
        {
            let (fd, kind) = item
                .split_once(':')
                .and_then(|(fd, kind)| Some((parse_fd(fd)?, Kind::parse(kind)?)))
                .ok_or_else(|| bad(format!("{item:?} is not fd:kind")))?;
            if seen.contains(&fd) {
                return Err(bad(format!("descriptor {fd} is named twice")));
            }
            seen.push(fd);
            let owned = adopt(fd).map_err(bad)?;
            if !is_listening(&owned) {
                return Err(bad(format!("descriptor {fd} is not a listening socket")));
            }
            listeners.push((kind, TcpListener::from(owned)));
        }
        let channel =
            Channel::new(channel).map_err(|e| UpgradeError::Channel(ChannelError::Io(e)))?;
        Ok(Some(Takeover { channel, listeners }))
    }

    /// The inherited listeners of one kind (taken: each is adopted once).
    pub fn take(&mut self, kind: Kind) -> Vec<TcpListener> {
        let (taken, rest) = std::mem::take(&mut self.listeners)
            .into_iter()
            .partition(|(k, _)| *k == kind);
        self.listeners = rest;
        taken.into_iter().map(|(_, l)| l).collect()
    }

    /// Step 2: the configuration is loaded and the listeners adopted; waits until the old
    /// process has closed the usage store. A closed channel means the old process is gone,
    /// and its store with it.
    pub fn prepared(&mut self) -> Result<(), UpgradeError> {
        self.channel.send(&Message::Prepared)?;
        match self.channel.expect(&Message::Released, PREPARE_TIMEOUT) {
            Ok(()) | Err(ChannelError::Closed) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Step 4: tells the old process this one serves, then counts what it admits while it
    /// drains (on a thread of its own, until the old process closes the channel) and lowers
    /// `predecessor_running` then. An old process already gone is no error: this one serves
    /// alone.
    ///
    /// While the flag is up the shards submit their accepts again on every tick, and once
    /// after it falls (`server::shard`): a connection the kernel queued while both processes
    /// waited on a listener may wait for a wake-up that went to the old process. io_uring
    /// arms accepts with `EPOLLEXCLUSIVE` (one waiter woken per connection), and a waiter
    /// cancelled after being woken passes nothing on; a new accept takes what is queued at
    /// once. (Seen in `tests/upgrade.rs` before: one connection in about ten runs stayed in a
    /// backlog until the next one arrived.)
    pub fn serving(
        mut self,
        traffic: Arc<TrafficNode>,
        predecessor_running: Arc<AtomicBool>,
    ) -> Result<(), UpgradeError> {
        if let Err(e) = self.channel.send(&Message::Serving) {
            tracing::warn!("upgrade: the old process is gone ({e}); serving alone");
            predecessor_running.store(false, Ordering::Release);
            return Ok(());
        }
        let mut channel = self.channel;
        std::thread::Builder::new()
            .name("upgrade-usage".into())
            .spawn(move || {
                absorb_until_closed(&mut channel, &traffic);
                predecessor_running.store(false, Ordering::Release);
            })
            .map_err(|e| UpgradeError::Channel(ChannelError::Io(e)))?;
        Ok(())
    }
}

/// Adds the old process's counts to `traffic` until it closes the channel. A garbled line is
/// skipped (logged): the lines after it are still whole.
fn absorb_until_closed(channel: &mut Channel, traffic: &TrafficNode) {
    loop {
        match channel.recv(None) {
            Ok(Message::Usage(deltas)) => {
                if let Err(e) = traffic.absorb(&deltas) {
                    tracing::error!("usage the old process counted: {e}");
                }
            }
            Ok(other) => tracing::warn!("upgrade channel: unexpected {other:?}"),
            Err(ChannelError::Closed) => {
                tracing::info!("upgrade: the old process has drained and exited");
                return;
            }
            Err(e @ ChannelError::Garbled(_)) => tracing::error!("upgrade channel: {e}"),
            Err(e) => {
                tracing::error!("upgrade channel: {e}; no more usage from the old process");
                return;
            }
        }
    }
}

/// Whether `fd` is a socket in the listening state (`SO_ACCEPTCONN`).
fn is_listening(fd: &OwnedFd) -> bool {
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `on`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut on as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && on != 0
}

fn parse_fd(s: &str) -> Option<RawFd> {
    s.parse().ok().filter(|fd: &RawFd| *fd > 2)
}

/// Takes ownership of an inherited socket descriptor and marks it close-on-exec again, so
/// that this process's children do not inherit it in turn.
fn adopt(fd: RawFd) -> Result<OwnedFd, String> {
    // SAFETY: fstat only writes into `st`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(format!("descriptor {fd} is not an open socket"));
    }
    // SAFETY: the descriptor is open, a socket, and named once in the environment, which
    // this process reads once: nothing else owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: plain fcntl on a descriptor we own.
    unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok(owned)
}
