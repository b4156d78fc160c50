//! The writer thread: the only place access-log bytes touch a file or stdout.
//!
//! Shards render a record into a buffer and hand it over with `try_send` on a bounded
//! channel of their own (one per shard, so shards never contend on a shared queue); a full
//! queue drops the record (counted per shard) instead of blocking the shard. Buffers come back
//! to the shard through a second channel, so the steady state allocates nothing. SIGUSR1 raises a flag the writer checks between batches: every file is reopened
//! (logrotate's `create` mode: the old file was renamed, a new one is started).
//!
//! Files are opened by the first record for them, and closed once no snapshot still being
//! served names them (a reload moved or removed the stage's log) and every record queued for
//! them is written: see [`DestinationTracker`].

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use ahash::{AHashMap, AHashSet};
use crossbeam_channel::{bounded, unbounded, Receiver, Sender, TryRecvError, TrySendError};

use super::StageAccessLog;
use crate::metrics::ShardMetrics;
use crate::snapshot::Snapshot;

/// Queue length per shard when `server.access_log_queue` is not set.
pub const DEFAULT_QUEUE: usize = 8192;
/// Buffers above this capacity are not recycled (one huge record must not pin memory).
const MAX_RECYCLED: usize = 16 * 1024;
/// How often the writer empties the queues (and looks at the reopen flag). At 100,000
/// records per second on a shard a tick queues 1,000 records, well within the default queue.
const TICK: Duration = Duration::from_millis(10);
/// Longest shutdown waits for the writer to flush.
const FLUSH_ON_EXIT: Duration = Duration::from_secs(2);

/// Where records go: `stdout`, `stderr` or an absolute file path, numbered process-wide so a
/// record carries a small number instead of a shared, reference-counted path.
pub fn destination_id(destination: &str) -> u32 {
    let mut names = destinations().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = names.iter().position(|n| **n == *destination) {
        return i as u32;
    }
    names.push(destination.into());
    (names.len() - 1) as u32
}

fn destinations() -> &'static Mutex<Vec<Box<str>>> {
    static NAMES: OnceLock<Mutex<Vec<Box<str>>>> = OnceLock::new();
    NAMES.get_or_init(Mutex::default)
}

fn destination_name(id: u32) -> Option<Box<str>> {
    let names = destinations().lock().unwrap_or_else(|e| e.into_inner());
    names.get(id as usize).cloned()
}

/// One rendered record (a line without its line feed) and where it goes.
struct Entry {
    destination: u32,
    line: Vec<u8>,
}

/// A stage's access-log settings as the writer follows them: their destination, and a weak
/// reference that dies with the last snapshot holding the settings.
type Lease = (u32, Weak<StageAccessLog>);

/// One shard's pair of channels, writer side.
struct Lane {
    entries: Receiver<Entry>,
    recycle: Sender<Vec<u8>>,
    /// All of the shard's senders are gone and the queue is empty.
    closed: bool,
}

/// The node's access-log queues (one per shard) and writer thread, created in `server::run`.
pub struct AccessLogQueue {
    /// Shard sides, by shard id.
    lanes: Vec<(Sender<Entry>, Receiver<Vec<u8>>)>,
    leases: Sender<Vec<Lease>>,
    reopen: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl AccessLogQueue {
    /// Starts the writer with one queue of `capacity` records for each of `shards` shards.
    pub fn start(capacity: usize, shards: usize) -> io::Result<Self> {
        let mut lanes = Vec::with_capacity(shards);
        let mut writer_lanes = Vec::with_capacity(shards);
        for _ in 0..shards.max(1) {
            let (sender, entries) = bounded::<Entry>(capacity.max(1));
            let (recycle, free) = bounded::<Vec<u8>>(capacity.clamp(1, 1024));
            lanes.push((sender, free));
            writer_lanes.push(Lane {
                entries,
                recycle,
                closed: false,
            });
        }
        let (leases, lease_rx) = unbounded::<Vec<Lease>>();
        let (done_tx, done) = bounded::<()>(1);
        let reopen = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let flags = (Arc::clone(&reopen), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                Writer::default().run(&mut writer_lanes, &lease_rx, &flags.0, &flags.1);
                let _ = done_tx.send(());
            })?;
        Ok(AccessLogQueue {
            lanes,
            leases,
            reopen,
            stop,
            done,
            thread: Some(thread),
        })
    }

    /// The sending side for shard `id`, dropping into `metrics` when its queue is full.
    pub fn shard_sender(&self, id: usize, metrics: Arc<ShardMetrics>) -> ShardLog {
        let (sender, free) = &self.lanes[id % self.lanes.len()];
        ShardLog {
            sender: sender.clone(),
            free: free.clone(),
            metrics,
        }
    }

    /// The control plane's handle for telling the writer which destinations the snapshots it
    /// publishes write to, so that files no longer written to can be closed.
    pub fn tracker(&self) -> DestinationTracker {
        DestinationTracker {
            leases: self.leases.clone(),
        }
    }

    /// Asks the writer to reopen every file (SIGUSR1).
    pub fn reopen_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.reopen)
    }

    /// Lets the writer write out what is queued and stop; called once the shards have stopped.
    /// Waits a bounded time so a stuck destination cannot block exit.
    pub fn shutdown(self) {
        let AccessLogQueue {
            stop, done, thread, ..
        } = self;
        // An explicit flag rather than waiting for every sender to be dropped: a task the
        // runtime leaks at exit could keep a shard's sender alive.
        stop.store(true, Ordering::Release);
        match done.recv_timeout(FLUSH_ON_EXIT) {
            Ok(()) => {
                if let Some(t) = thread {
                    let _ = t.join();
                }
            }
            Err(_) => tracing::warn!("access-log writer did not finish flushing; exiting anyway"),
        }
    }
}

/// Tells the writer which destinations a snapshot writes to, so that it can close a file once
/// no snapshot still being served writes to it (a reload moved or removed a stage's log);
/// without this the descriptor would leak until the next SIGUSR1, and a deleted or rotated
/// file's space would not be freed.
///
/// The writer does not learn this from reload events but from the snapshots' lifetimes: it
/// keeps a weak reference to each stage's [`StageAccessLog`]. A request queues its record
/// before it drops the snapshot it runs on, so once every such reference is dead, every record
/// for the destination is already in a queue; the writer writes those out, then closes the
/// file. Shards do nothing more than drop their snapshot, as they always did.
#[derive(Clone)]
pub struct DestinationTracker {
    leases: Sender<Vec<Lease>>,
}

impl DestinationTracker {
    /// Registers the access logs of `snapshot`. Must be called before `snapshot` is published
    /// (so before any record for it can be queued, and before the snapshot it replaces can
    /// die): the writer then never sees a destination unused between the two. Registering
    /// also makes the writer retry a destination it failed to open.
    pub fn track(&self, snapshot: &Snapshot) {
        let leases: Vec<Lease> = snapshot
            .apis
            .values()
            .flat_map(|api| api.stages.values())
            .filter_map(|stage| stage.access_log.as_ref())
            .map(|log| (log.destination_id, Arc::downgrade(log)))
            .collect();
        if !leases.is_empty() {
            // A writer that is gone (the process is exiting) has nothing left to close.
            let _ = self.leases.send(leases);
        }
    }
}

/// A shard's handle on the queue.
pub struct ShardLog {
    sender: Sender<Entry>,
    free: Receiver<Vec<u8>>,
    metrics: Arc<ShardMetrics>,
}

impl ShardLog {
    /// Renders a record with `render` into a recycled buffer and queues it for `destination`;
    /// never blocks: a full queue drops the record and counts the drop.
    pub fn send(&self, destination: u32, render: impl FnOnce(&mut Vec<u8>)) {
        if self.sender.is_full() {
            self.metrics.record_access_log_dropped();
            return;
        }
        let mut line = self
            .free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(512));
        render(&mut line);
        match self.sender.try_send(Entry { destination, line }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.metrics.record_access_log_dropped();
            }
        }
    }
}

/// An open destination, buffered so that one tick's records cost one write system call
/// (stdout is line-buffered by itself, which would be one per record).
struct Sink(io::BufWriter<Box<dyn Write + Send>>);

impl Sink {
    fn open(name: &str) -> io::Result<Sink> {
        let inner: Box<dyn Write + Send> = match name {
            "stdout" => Box::new(io::stdout()),
            "stderr" => Box::new(io::stderr()),
            path => Box::new(OpenOptions::new().create(true).append(true).open(path)?),
        };
        Ok(Sink(io::BufWriter::with_capacity(64 * 1024, inner)))
    }

    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.0.write_all(line)?;
        self.0.write_all(b"\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The writer thread's state: open destinations by id, those that failed to open (so the
/// error is logged once, not per record), and the destinations of the snapshots alive.
#[derive(Default)]
struct Writer {
    sinks: AHashMap<u32, Sink>,
    failed: AHashSet<u32>,
    leases: Vec<Lease>,
}

impl Writer {
    /// Every [`TICK`], writes out whatever every shard queued, then flushes.
    ///
    /// The writer polls instead of blocking in `recv`: a receiver parked in `recv` must be
    /// woken by the sender, which would cost a shard a futex system call per record whenever
    /// the writer has caught up. Polling keeps `try_send` a few atomic operations; the price
    /// is that records reach the file up to one tick late.
    fn run(
        &mut self,
        lanes: &mut [Lane],
        leases: &Receiver<Vec<Lease>>,
        reopen: &AtomicBool,
        stop: &AtomicBool,
    ) {
        loop {
            std::thread::sleep(TICK);
            // Read before draining, so that everything queued before the stop is written.
            let stopping = stop.load(Ordering::Acquire);
            self.tick(lanes, leases);
            if stopping || lanes.iter().all(|l| l.closed) {
                self.flush();
                return;
            }
            if reopen.swap(false, Ordering::AcqRel) {
                self.flush();
                self.sinks.clear();
                self.failed.clear();
                tracing::info!("access logs reopened");
            }
        }
    }

    /// One round: notes which destinations are still in use, writes out what every shard
    /// queued, flushes, and closes the files no snapshot writes to any more.
    fn tick(&mut self, lanes: &mut [Lane], leases: &Receiver<Vec<Lease>>) {
        // The order of these steps is what makes closing safe.
        //
        // 1. Which stage logs are dead is read before the queues are drained: a request queues
        //    its record before it drops its snapshot, and the fence pairs with the release of
        //    the last reference, so every record for a log seen dead here is already in a
        //    queue and is written below, before its file is closed.
        self.leases.retain(|(_, log)| log.strong_count() > 0);
        fence(Ordering::Acquire);
        // 2. New snapshots are registered after that check: a snapshot is registered before it
        //    is published, so the one that replaced a dead log is already known here, and a
        //    destination it keeps is not closed and reopened for nothing.
        while let Ok(batch) = leases.try_recv() {
            for (id, _) in &batch {
                self.failed.remove(id);
            }
            self.leases.extend(batch);
        }
        // 3. Everything queued so far.
        let mut wrote = false;
        for lane in lanes.iter_mut().filter(|l| !l.closed) {
            loop {
                match lane.entries.try_recv() {
                    Ok(entry) => {
                        self.write(entry, &lane.recycle);
                        wrote = true;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        lane.closed = true;
                        break;
                    }
                }
            }
        }
        if wrote {
            self.flush();
        }
        // 4. Files nobody writes to any more.
        self.close_unused();
    }

    /// Closes (after flushing) every open destination that no live snapshot names, and
    /// forgets failures to open those, so that a later reload naming one tries again.
    fn close_unused(&mut self) {
        let leases = &self.leases;
        let in_use = |id: &u32| leases.iter().any(|(used, _)| used == id);
        self.failed.retain(in_use);
        self.sinks.retain(|id, sink| {
            if in_use(id) {
                return true;
            }
            let name = destination_name(*id).unwrap_or_default();
            if let Err(e) = sink.flush() {
                tracing::error!("access log flush failed: {e}");
            }
            tracing::info!("access log {name} closed: no stage logs to it any more");
            false
        });
    }

    fn write(&mut self, mut entry: Entry, recycle: &Sender<Vec<u8>>) {
        if let Some(sink) = self.sink(entry.destination) {
            if let Err(e) = sink.write_line(&entry.line) {
                tracing::error!("access log write failed: {e}");
            }
        }
        if entry.line.capacity() <= MAX_RECYCLED {
            entry.line.clear();
            let _ = recycle.try_send(entry.line);
        }
    }

    fn sink(&mut self, id: u32) -> Option<&mut Sink> {
        if self.failed.contains(&id) {
            return None;
        }
        if !self.sinks.contains_key(&id) {
            let name = destination_name(id)?;
            match Sink::open(&name) {
                Ok(sink) => {
                    self.sinks.insert(id, sink);
                }
                Err(e) => {
                    tracing::error!(
                        "cannot open access log {name}: {e}; its records are lost until SIGUSR1 or a reload"
                    );
                    self.failed.insert(id);
                    return None;
                }
            }
        }
        self.sinks.get_mut(&id)
    }

    fn flush(&mut self) {
        for sink in self.sinks.values_mut() {
            if let Err(e) = sink.flush() {
                tracing::error!("access log flush failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_reach_the_file_and_are_flushed_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let id = destination_id(path.to_str().unwrap());
        let queue = AccessLogQueue::start(16, 2).unwrap();
        let metrics = Arc::new(ShardMetrics::default());
        let shard = queue.shard_sender(1, Arc::clone(&metrics));
        for i in 0..3 {
            shard.send(id, |buf| {
                buf.extend_from_slice(format!("line {i}").as_bytes())
            });
        }
        drop(shard);
        queue.shutdown();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "line 0\nline 1\nline 2\n");
    }

    /// One shard's queue, driven by hand instead of by the writer thread.
    fn lane() -> (Sender<Entry>, Lane) {
        let (sender, entries) = bounded(16);
        let (recycle, _) = bounded(16);
        let lane = Lane {
            entries,
            recycle,
            closed: false,
        };
        (sender, lane)
    }

    fn stage_log(path: &std::path::Path) -> Arc<StageAccessLog> {
        let destination = path.to_str().unwrap();
        Arc::new(StageAccessLog::compile(destination, Some("$context.status")).unwrap())
    }

    fn queue(shard: &Sender<Entry>, log: &StageAccessLog, line: &str) {
        let entry = Entry {
            destination: log.destination_id,
            line: line.as_bytes().to_vec(),
        };
        shard.try_send(entry).unwrap();
    }

    #[test]
    fn a_file_is_closed_once_no_live_snapshot_names_it_and_its_records_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.log");
        let (shard, mut lanes) = lane();
        let lanes = std::slice::from_mut(&mut lanes);
        let (tracker, registered) = unbounded();
        let mut writer = Writer::default();
        let log = stage_log(&path);
        tracker
            .send(vec![(log.destination_id, Arc::downgrade(&log))])
            .unwrap();

        queue(&shard, &log, "first");
        writer.tick(lanes, &registered);
        assert!(writer.sinks.contains_key(&log.destination_id));
        writer.tick(lanes, &registered);
        assert!(
            writer.sinks.contains_key(&log.destination_id),
            "closed while in use"
        );

        // The last request on the old configuration queues its record, then the snapshot
        // goes: the record is written, then the file closed.
        queue(&shard, &log, "last");
        let id = log.destination_id;
        drop(log);
        writer.tick(lanes, &registered);
        assert!(!writer.sinks.contains_key(&id), "still open");
        assert!(writer.leases.is_empty());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\nlast\n");
    }

    #[test]
    fn a_destination_a_newer_snapshot_still_names_stays_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kept.log");
        let (shard, mut lanes) = lane();
        let lanes = std::slice::from_mut(&mut lanes);
        let (tracker, registered) = unbounded();
        let mut writer = Writer::default();
        let old = stage_log(&path);
        tracker
            .send(vec![(old.destination_id, Arc::downgrade(&old))])
            .unwrap();
        queue(&shard, &old, "old");
        writer.tick(lanes, &registered);

        // A reload keeps the destination: the new snapshot is registered before it is
        // published, the old one dies after.
        let new = stage_log(&path);
        tracker
            .send(vec![(new.destination_id, Arc::downgrade(&new))])
            .unwrap();
        drop(old);
        writer.tick(lanes, &registered);
        assert!(
            writer.sinks.contains_key(&new.destination_id),
            "closed though in use"
        );
        queue(&shard, &new, "new");
        writer.tick(lanes, &registered);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\nnew\n");
    }
}
