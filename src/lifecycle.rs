//! Process signals: SIGHUP reloads the configuration, SIGUSR1 reopens the access logs
//! (logrotate), SIGUSR2 upgrades the binary without dropping a connection (`crate::upgrade`),
//! SIGTERM and SIGINT drain and stop.
//!
//! Signals are received on the main thread (never on a shard), which does the reload work
//! itself: reading and compiling files is blocking work that must stay off the shards.

use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

use crate::reload::{ReloadOutcome, Reloader};
use crate::systemd::Notifier;
use crate::upgrade::{Outcome, Upgrader};

/// The signals the gateway acts on, registered before the gateway reports ready so that no
/// early signal takes the default action (terminating the process).
pub struct SignalWatch {
    signals: Signals,
}

impl SignalWatch {
    /// Registers the handlers.
    pub fn register() -> std::io::Result<Self> {
        Ok(SignalWatch {
            signals: Signals::new([SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGUSR2])?,
        })
    }

    /// Serves signals until one asks for shutdown or a new binary took over, then raises
    /// `shutdown` for the shards. SIGUSR1 raises `reopen_logs` for the access-log writer.
    /// systemd hears of reloads (`RELOADING=1`, then `READY=1`), of the stop, and of the
    /// new main process. Returns whether the node handed over to a new binary.
    pub fn run(
        mut self,
        reloader: &Reloader,
        (shutdown, reopen_logs): (&AtomicBool, &AtomicBool),
        notifier: &Notifier,
        upgrader: Option<&Upgrader>,
    ) -> bool {
        for signal in self.signals.forever() {
            match signal {
                SIGHUP => {
                    tracing::info!("SIGHUP: reloading configuration");
                    notifier.reloading();
                    let status = match reloader.reload_and_log() {
                        ReloadOutcome::Applied { generation, .. } => {
                            format!("serving generation {generation}")
                        }
                        ReloadOutcome::Rejected { generation, .. } => format!(
                            "serving generation {generation}; the last reload was rejected (see the log)"
                        ),
                    };
                    release_freed_memory();
                    notifier.ready(&status);
                }
                SIGUSR2 => {
                    tracing::info!("SIGUSR2: starting the binary again to take over the listeners");
                    let Some(upgrader) = upgrader else {
                        tracing::error!("upgrade refused: this node cannot start a new binary (see the start-up log)");
                        continue;
                    };
                    if let Outcome::HandedOver(_) = upgrader.run(reloader.generation()) {
                        shutdown.store(true, Ordering::Release);
                        return true;
                    }
                }
                SIGUSR1 => {
                    tracing::info!("SIGUSR1: reopening access logs");
                    reopen_logs.store(true, Ordering::Release);
                }
                SIGTERM | SIGINT => {
                    tracing::info!(
                        signal,
                        "stopping: no new connections, draining in-flight requests"
                    );
                    notifier.stopping();
                    shutdown.store(true, Ordering::Release);
                    return false;
                }
                _ => {}
            }
        }
        false
    }
}

/// Hands the pages a configuration load freed (parsed files, the resource model, compile
/// scratch) back to the kernel now, on the thread that did the load: mimalloc otherwise keeps
/// them in that thread's heap until it allocates again, and the main thread rarely does
/// (measured with 100,000 API keys: 280 MB at the load's peak, 94 to 281 MB left afterwards
/// depending on timing; tuning.md, "Configured keys without traffic").
pub fn release_freed_memory() {
    // SAFETY: mi_collect takes no pointers; it frees and purges the calling thread's heap.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// For a `pre_exec` hook (between fork and exec, so only async-signal-safe calls): marks
/// every descriptor from 3 up close-on-exec, then clears the flag on `keep`. io_uring's
/// accept (monoio's, as the kernel's default) creates connections *without* `O_CLOEXEC`, so
/// without this a new process would inherit every client connection open at that moment
/// and hold it open after this process closed it: the client would wait for an end that
/// never comes.
pub fn close_on_exec_except(keep: &[std::os::fd::RawFd]) -> std::io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: raw syscalls on descriptor numbers; no memory is touched.
    unsafe {
        let marked = libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        );
        if marked != 0 {
            // Kernels before 5.11: the open descriptors, as /proc lists them.
            mark_listed_fds_cloexec()?;
        }
        for &fd in keep {
            if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Marks every descriptor from 3 up that `/proc/self/fd` lists close-on-exec, reading the
/// directory with raw `getdents64` into a stack buffer: no allocation, so it may run between
/// fork and exec.
fn mark_listed_fds_cloexec() -> std::io::Result<()> {
    // SAFETY: open/getdents64/fcntl/close on a buffer we own; records are read within the
    // length getdents64 returned, at the offsets and lengths the kernel wrote.
    unsafe {
        let dir = libc::open(
            c"/proc/self/fd".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if dir < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut buf = [0u8; 4096];
        loop {
            let n = libc::syscall(libc::SYS_getdents64, dir, buf.as_mut_ptr(), buf.len());
            if n <= 0 {
                break;
            }
            let mut at = 0usize;
            while at < n as usize {
                // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; }
                let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
                let mut fd: libc::c_int = 0;
                let mut digits = 0;
                for &b in &buf[at + 19..at + reclen] {
                    if !b.is_ascii_digit() {
                        break;
                    }
                    fd = fd * 10 + libc::c_int::from(b - b'0');
                    digits += 1;
                }
                if digits > 0 && fd > 2 && fd != dir {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
                at += reclen.max(1);
            }
        }
        libc::close(dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    /// Whether `fd` is marked close-on-exec.
    fn cloexec(fd: i32) -> bool {
        // SAFETY: F_GETFD only reads the descriptor's flags.
        unsafe { libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC != 0 }
    }

    #[test]
    fn the_proc_listing_marks_open_descriptors() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = socket.as_raw_fd();
        // SAFETY: clearing the flag of a descriptor this test owns.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        assert!(!cloexec(fd));
        super::mark_listed_fds_cloexec().unwrap();
        assert!(cloexec(fd));
    }
}
