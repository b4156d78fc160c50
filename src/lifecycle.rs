//! Process signals: SIGHUP reloads the configuration, SIGTERM and SIGINT drain and stop.
//!
//! Signals are received on the main thread (never on a shard), which does the reload work
//! itself: reading and compiling files is blocking work that must stay off the shards.

use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::reload::Reloader;

/// The signals the gateway acts on, registered before the gateway reports ready so that no
/// early signal takes the default action (terminating the process).
pub struct SignalWatch {
    signals: Signals,
}

impl SignalWatch {
    /// Registers the handlers.
    pub fn register() -> std::io::Result<Self> {
        Ok(SignalWatch {
            signals: Signals::new([SIGHUP, SIGTERM, SIGINT])?,
        })
    }

    /// Serves signals until one asks for shutdown, then raises `shutdown` for the shards.
    pub fn run(mut self, reloader: &Reloader, shutdown: &AtomicBool) {
        for signal in self.signals.forever() {
            match signal {
                SIGHUP => {
                    tracing::info!("SIGHUP: reloading configuration");
                    reloader.reload_and_log();
                }
                SIGTERM | SIGINT => {
                    tracing::info!(
                        signal,
                        "stopping: no new connections, draining in-flight requests"
                    );
                    shutdown.store(true, Ordering::Release);
                    return;
                }
                _ => {}
            }
        }
    }
}
