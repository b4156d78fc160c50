//! Fleet-wide stage cache flushes: a flush asked of one node is published on the fleet's
//! Redis channel (by the worker, with its other round trips) and every other node's
//! subscriber applies it to its own cache, so `FlushStageCache` means what it means on AWS:
//! the stage's cache is empty, whichever node serves the next request.
//!
//! A flush asked while Redis is away is kept and published when it returns (other nodes'
//! entries stay until then, or until their TTL). Messages are `{node id} {api}/{stage}`; a
//! node ignores its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::ClusterSettings;
use crate::cache::CacheBoard;

/// Flushes waiting to be published, at most this many (older ones first out).
const MAX_PENDING: usize = 1024;
/// How long the subscriber blocks for a message before it looks at its stop flag.
const POLL: Duration = Duration::from_millis(200);

/// The channel flushes are published on.
pub fn channel(settings: &ClusterSettings) -> String {
    format!("{}cache-flush", settings.key_prefix)
}

/// What the worker keeps between its round trips: flushes asked here, not yet published.
pub struct Outbox {
    asked: crossbeam_channel::Receiver<Box<str>>,
    pending: Vec<Box<str>>,
}

impl Outbox {
    /// An outbox fed by the cache board's fleet channel.
    pub fn new(asked: crossbeam_channel::Receiver<Box<str>>) -> Self {
        Outbox {
            asked,
            pending: Vec::new(),
        }
    }

    /// Publishes every flush asked so far; kept for the next call when Redis fails.
    pub fn publish(
        &mut self,
        conn: &mut redis::Connection,
        settings: &ClusterSettings,
    ) -> Result<(), String> {
        self.pending.extend(self.asked.try_iter());
        if self.pending.len() > MAX_PENDING {
            let extra = self.pending.len() - MAX_PENDING;
            tracing::warn!("cluster: {extra} cache flushes dropped unpublished (Redis away)");
            self.pending.drain(..extra);
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let channel = channel(settings);
        let mut pipe = redis::pipe();
        for id in &self.pending {
            let message = format!("{} {id}", settings.node_id);
            pipe.cmd("PUBLISH").arg(&channel).arg(message).ignore();
        }
        pipe.query::<()>(conn).map_err(|e| e.to_string())?;
        self.pending.clear();
        Ok(())
    }
}

/// Starts the subscriber thread: it applies other nodes' flushes to `board` until `stop`.
pub fn subscribe(
    settings: ClusterSettings,
    board: Arc<CacheBoard>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tollgate-cluster-flush".into())
        .spawn(move || {
            while !stop.load(Ordering::Acquire) {
                if let Err(e) = listen(&settings, &board, &stop) {
                    tracing::warn!("cluster: cache-flush subscription lost ({e}); retrying");
                    std::thread::sleep(POLL);
                }
            }
        })
}

/// One subscription, until an error or `stop`.
fn listen(settings: &ClusterSettings, board: &CacheBoard, stop: &AtomicBool) -> Result<(), String> {
    let mut conn = super::connect::open(settings).map_err(|e| e.to_string())?;
    let mut sub = conn.as_pubsub();
    sub.subscribe(channel(settings))
        .map_err(|e| e.to_string())?;
    sub.set_read_timeout(Some(POLL))
        .map_err(|e| e.to_string())?;
    tracing::info!("cluster: subscribed to the fleet's cache flushes");
    while !stop.load(Ordering::Acquire) {
        let message = match sub.get_message() {
            Ok(m) => m,
            Err(e) if e.is_timeout() => continue,
            Err(e) => return Err(e.to_string()),
        };
        let payload: String = message.get_payload().map_err(|e| e.to_string())?;
        if let Some(id) = foreign(&payload, &settings.node_id) {
            board.flush(id);
            tracing::info!("cache flushed by another node of the fleet stage={id}");
        }
    }
    Ok(())
}

/// The stage id of a flush message another node sent.
fn foreign<'a>(payload: &'a str, me: &str) -> Option<&'a str> {
    let (from, id) = payload.split_once(' ')?;
    (from != me && !id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_applies_other_nodes_flushes_only() {
        assert_eq!(
            foreign("node-a petstore/prod", "node-b"),
            Some("petstore/prod")
        );
        assert_eq!(foreign("node-b petstore/prod", "node-b"), None);
        assert_eq!(foreign("garbage", "node-b"), None);
    }
}
