//! systemd's service protocol, spoken without libsystemd: readiness, reload and stop
//! notifications and the watchdog (`sd_notify(3)`: datagrams of `KEY=VALUE` lines to the
//! Unix socket named by `$NOTIFY_SOCKET`, a path or, with a leading `@`, an abstract name).
//!
//! The unit (`config/systemd/tollgate.service`) is `Type=notify`: systemd counts the node started
//! when [`Notifier::ready`] is sent, which [`crate::server::run`] does only after every shard
//! has started its event loop on its listeners with the first snapshot. `WATCHDOG=1` is sent by
//! [`spawn_watchdog`] only while every shard's housekeeping tick keeps turning
//! ([`Heartbeats`]): a shard stuck in a loop or a blocking call stops the pings and systemd
//! restarts the node after `WatchdogSec`. Notifications are sent from the main thread and the
//! watchdog thread, never from a shard.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Environment variables of the service protocol, removed from hosted functions' workers so
/// that they never notify in the node's name.
pub const PROTOCOL_ENV: [&str; 4] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "JOURNAL_STREAM",
];

/// Where notifications go: nowhere when the node does not run under systemd.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` names (none when unset or unusable, logged).
    pub fn from_env() -> Notifier {
        let Some(name) = std::env::var_os("NOTIFY_SOCKET") else {
            return Notifier { socket: None };
        };
        match Self::open(&name) {
            Ok(socket) => Notifier {
                socket: Some(socket),
            },
            Err(e) => {
                tracing::warn!(
                    "NOTIFY_SOCKET={name:?} is unusable, systemd will not hear from the node: {e}"
                );
                Notifier { socket: None }
            }
        }
    }

    fn open(
        name: &std::ffi::OsStr,
    ) -> std::io::Result<(UnixDatagram, std::os::unix::net::SocketAddr)> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = name.as_bytes();
        let addr = match bytes.strip_prefix(b"@") {
            Some(abstract_name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)?
            }
            None => std::os::unix::net::SocketAddr::from_pathname(std::path::Path::new(name))?,
        };
        Ok((UnixDatagram::unbound()?, addr))
    }

    /// Whether notifications go anywhere.
    pub fn is_active(&self) -> bool {
        self.socket.is_some()
    }

    /// Sends `state` (newline-separated `KEY=VALUE` assignments); failures are logged, never
    /// fatal: the node serves whether or not its supervisor listens.
    pub fn notify(&self, state: &str) {
        if let Some((socket, addr)) = &self.socket {
            if let Err(e) = socket.send_to_addr(state.as_bytes(), addr) {
                tracing::warn!("cannot notify systemd ({state:?}): {e}");
            }
        }
    }

    /// `READY=1`: every shard serves.
    pub fn ready(&self, status: &str) {
        self.notify(&format!("READY=1\nSTATUS={status}"));
    }

    /// `RELOADING=1` with the monotonic time systemd (253+) expects beside it.
    pub fn reloading(&self) {
        self.notify(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading the configuration",
            monotonic_usec()
        ));
    }

    /// `MAINPID=`: a new binary (`pid`) serves in this one's place after an upgrade, and is
    /// the process systemd supervises from now on. Sent by the old process: with
    /// `NotifyAccess=main` systemd hears only the main process, which this still is. It
    /// carries a watchdog ping: the new process's own pings counted for nothing until now.
    pub fn hand_over(&self, pid: u32) {
        self.notify(&format!(
            "MAINPID={pid}\nREADY=1\nWATCHDOG=1\nSTATUS=upgraded: pid {pid} serves"
        ));
    }

    /// `STOPPING=1`: draining.
    pub fn stopping(&self) {
        self.notify("STOPPING=1\nSTATUS=draining in-flight requests");
    }
}

/// `CLOCK_MONOTONIC` in microseconds, as `MONOTONIC_USEC` wants it.
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// The watchdog interval systemd asks for (`WATCHDOG_USEC`, when `WATCHDOG_PID` is unset or
/// this process).
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        if pid.to_str().and_then(|p| p.parse::<u32>().ok()) != Some(std::process::id()) {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// One counter per shard, bumped by its housekeeping tick: the proof that its event loop
/// turns. Relaxed atomics: a shard writes only its own slot and the watchdog only reads.
pub struct Heartbeats(Box<[AtomicU64]>);

impl Heartbeats {
    pub fn new(shards: usize) -> Arc<Heartbeats> {
        Arc::new(Heartbeats((0..shards).map(|_| AtomicU64::new(0)).collect()))
    }

    /// Called by shard `id` on each housekeeping tick.
    pub fn beat(&self, id: usize) {
        if let Some(slot) = self.0.get(id) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn read(&self) -> Vec<u64> {
        self.0.iter().map(|s| s.load(Ordering::Relaxed)).collect()
    }
}

/// The shards whose counters did not move between `before` and `now`.
fn stalled(before: &[u64], now: &[u64]) -> Vec<usize> {
    before
        .iter()
        .zip(now)
        .enumerate()
        .filter(|(_, (b, n))| b == n)
        .map(|(id, _)| id)
        .collect()
}

/// Pings systemd's watchdog every half interval while every shard's heartbeat moved since the
/// previous check (a tick is 50 ms, so the check waits at least 200 ms). Stops at `shutdown`;
/// nobody joins it (it may sleep half an interval), the process exits without it.
pub fn spawn_watchdog(
    notifier: Arc<Notifier>,
    interval: Duration,
    heartbeats: Arc<Heartbeats>,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let period = (interval / 2).max(Duration::from_millis(200));
    if period >= interval {
        tracing::warn!(
            "WatchdogSec={interval:?} is shorter than a shard check needs (400 ms); set it to a second or more"
        );
    }
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            let mut before = heartbeats.read();
            let mut reported = false;
            while !shutdown.load(Ordering::Acquire) {
                std::thread::sleep(period);
                let now = heartbeats.read();
                let stuck = stalled(&before, &now);
                if stuck.is_empty() {
                    notifier.notify("WATCHDOG=1");
                    reported = false;
                } else if !reported {
                    tracing::error!(
                        shards = ?stuck,
                        "a shard's event loop has not turned for {period:?}: withholding the watchdog ping so that systemd restarts the node"
                    );
                    reported = true;
                }
                before = now;
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_whose_counter_stands_still_is_stalled() {
        assert_eq!(stalled(&[1, 5, 7], &[2, 5, 9]), vec![1]);
        assert!(stalled(&[1, 2], &[3, 4]).is_empty());
    }

    #[test]
    fn heartbeats_count_per_shard() {
        let h = Heartbeats::new(2);
        h.beat(1);
        h.beat(1);
        h.beat(7); // no such shard: ignored
        assert_eq!(h.read(), vec![0, 2]);
    }
}
