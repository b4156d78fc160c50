//! Where WebSocket connections live, and how `@connections` calls reach them.
//!
//! A connection lives on the shard that accepted it, in that shard's [`LocalConnections`]
//! (a slab: no lock, only that shard touches it). Its id encodes the shard and the slot
//! ([`ConnectionId`]), so a `@connections` call that arrives on any shard knows where to go:
//! on the same shard it is served at once; on another it is put in that shard's bounded
//! [`Mailbox`] (a lock-free queue) and the shard's mailbox task, woken from this thread,
//! serves it and hands the outcome back through an [`Answer`]. A full mailbox answers
//! `429` rather than wait (AWS answers `LimitExceededException` when its own limits are hit).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::task::{Poll, Waker};

use atomic_waker::AtomicWaker;

/// Commands a mailbox holds at most; beyond that a call is refused at once.
const MAILBOX: usize = 4096;
/// Outbound messages a connection may have queued (not yet written to a slow client); a post
/// past it is refused (`LimitExceededException`), not buffered without bound.
pub const OUTBOX_MAX: usize = 256;
/// Bytes a connection may have queued, whatever their count.
pub const OUTBOX_MAX_BYTES: usize = 1 << 20;
/// How long a call waits for another shard's answer (a shard that stopped answers nothing).
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A connection's id as clients and backends see it: 11 bytes in URL-safe base64 with its
/// padding, the shape of AWS's ids (`L0SM9cOFvHcCIhw=`, `e_d2EewNLPECIGw=`: 16 characters
/// ending in one `=`, in AWS's developer guide and real events, e.g. aws-lambda-go's
/// `apigw-websocket-request-*.json`): shard (2 bytes), slot (4) and a random tag (5) that
/// makes a reused slot's old id stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionId {
    /// Shard that holds the connection.
    pub shard: u16,
    /// Slot in the shard's table.
    pub slot: u32,
    /// Random bits, checked against the slot's current holder.
    pub tag: u64,
}

impl ConnectionId {
    /// The id's text form.
    pub fn encode(&self) -> String {
        let mut raw = [0u8; 11];
        raw[..2].copy_from_slice(&self.shard.to_be_bytes());
        raw[2..6].copy_from_slice(&self.slot.to_be_bytes());
        raw[6..].copy_from_slice(&self.tag.to_be_bytes()[3..]);
        data_encoding::BASE64URL.encode(&raw)
    }

    /// Reads an id; `None` for text that is not one of ours (the caller answers 410, as AWS
    /// does for an id it does not know).
    pub fn decode(text: &str) -> Option<ConnectionId> {
        let raw = data_encoding::BASE64URL.decode(text.as_bytes()).ok()?;
        let raw: [u8; 11] = raw.try_into().ok()?;
        let mut tag = [0u8; 8];
        tag[3..].copy_from_slice(&raw[6..]);
        Some(ConnectionId {
            shard: u16::from_be_bytes([raw[0], raw[1]]),
            slot: u32::from_be_bytes([raw[2], raw[3], raw[4], raw[5]]),
            tag: u64::from_be_bytes(tag),
        })
    }
}

/// What `GetConnection` reports (times in Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// When the handshake completed.
    pub connected_at_ms: u64,
    /// When the client last sent a message.
    pub last_active_ms: u64,
    /// `Identity.SourceIp`.
    pub source_ip: Box<str>,
    /// `Identity.UserAgent` (empty when the client sent none).
    pub user_agent: Box<str>,
}

/// A `@connections` call.
#[derive(Debug)]
pub enum Command {
    /// `PostToConnection`: send `data` as one message (text when it is UTF-8, else binary).
    Post(Vec<u8>),
    /// `GetConnection`.
    Info,
    /// `DeleteConnection`: close the connection.
    Delete,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Posted or deleted.
    Done,
    /// The connection's facts.
    Info(ConnectionInfo),
    /// No such connection (any more): `410 GoneException`.
    Gone,
    /// Too much is queued already (the connection's outbox, or the shard's mailbox).
    LimitExceeded,
}

/// One call's result, set once by the shard that served it and awaited by the caller.
#[derive(Default)]
pub struct Answer {
    outcome: OnceLock<Outcome>,
    waker: AtomicWaker,
}

impl Answer {
    fn set(&self, outcome: Outcome) {
        let _ = self.outcome.set(outcome);
        self.waker.wake();
    }

    /// Waits for the outcome.
    pub async fn wait(&self) -> Outcome {
        std::future::poll_fn(|cx| {
            if let Some(o) = self.outcome.get() {
                return Poll::Ready(o.clone());
            }
            self.waker.register(cx.waker());
            match self.outcome.get() {
                Some(o) => Poll::Ready(o.clone()),
                None => Poll::Pending,
            }
        })
        .await
    }
}

/// A call queued for another shard.
struct Letter {
    id: ConnectionId,
    scope: Scope,
    command: Command,
    answer: Arc<Answer>,
}

/// A letter dropped unanswered (its shard stopped) answers `Gone`, so no caller waits on it.
impl Drop for Letter {
    fn drop(&mut self) {
        if self.answer.outcome.get().is_none() {
            self.answer.set(Outcome::Gone);
        }
    }
}

/// The API and stage a `@connections` call was made on: a connection of another API or
/// stage is not there for it (its id is not a capability across APIs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub api: Box<str>,
    pub stage: Box<str>,
}

/// One shard's inbox of calls from other shards.
struct Mailbox {
    queue: crossbeam_channel::Sender<Letter>,
    inbox: crossbeam_channel::Receiver<Letter>,
    waker: AtomicWaker,
}

/// The node's mailboxes, one per shard.
pub struct Registry {
    shards: Box<[Mailbox]>,
}

impl Registry {
    /// Mailboxes for `shards` shards.
    pub fn new(shards: usize) -> Self {
        let shards = (0..shards)
            .map(|_| {
                let (queue, inbox) = crossbeam_channel::bounded(MAILBOX);
                Mailbox {
                    queue,
                    inbox,
                    waker: AtomicWaker::new(),
                }
            })
            .collect();
        Registry { shards }
    }

    /// Queues `command` for the shard that holds `id`; `None` when that shard does not exist
    /// (an id from another node or made up: gone) or its mailbox is full.
    fn send(
        &self,
        id: ConnectionId,
        scope: Scope,
        command: Command,
    ) -> Result<Arc<Answer>, Outcome> {
        let mailbox = self.shards.get(id.shard as usize).ok_or(Outcome::Gone)?;
        let answer = Arc::new(Answer::default());
        let letter = Letter {
            id,
            scope,
            command,
            answer: Arc::clone(&answer),
        };
        if let Err(refused) = mailbox.queue.try_send(letter) {
            // Answered here, not by the letter's drop.
            let letter = refused.into_inner();
            letter.answer.set(Outcome::LimitExceeded);
            return Err(Outcome::LimitExceeded);
        }
        mailbox.waker.wake();
        Ok(answer)
    }
}

/// What a session and the shard share about one connection.
pub struct Shared {
    /// Messages to send, in order (text when UTF-8, else binary), and their bytes.
    outbox: RefCell<VecDeque<Vec<u8>>>,
    outbox_bytes: Cell<usize>,
    /// The API and stage the connection was made to.
    scope: Scope,
    /// Set by `DeleteConnection` (or the drain): the session closes.
    close: Cell<bool>,
    /// Set once the handshake completed: before, the connection is not there for
    /// `@connections` ("calling @connections during $connect ... returns 410", AWS
    /// knowledge center, "410 Gone error from API Gateway").
    open: Cell<bool>,
    /// The session's task, woken when there is something to send or to close.
    waker: Cell<Option<Waker>>,
    /// Connection facts for `GetConnection`; `connectedAt` is when the upgrade request
    /// arrived.
    pub connected_at_ms: u64,
    pub last_active_ms: Cell<u64>,
    pub source_ip: Box<str>,
    pub user_agent: Box<str>,
}

impl Shared {
    /// The shared state of a connection that just completed its handshake.
    pub fn new(
        connected_at_ms: u64,
        source_ip: Box<str>,
        user_agent: Box<str>,
        scope: Scope,
    ) -> Self {
        Shared {
            outbox: RefCell::default(),
            outbox_bytes: Cell::new(0),
            scope,
            close: Cell::new(false),
            open: Cell::new(false),
            waker: Cell::new(None),
            connected_at_ms,
            last_active_ms: Cell::new(connected_at_ms),
            source_ip,
            user_agent,
        }
    }

    /// The next message to send.
    pub fn next_out(&self) -> Option<Vec<u8>> {
        let next = self.outbox.borrow_mut().pop_front()?;
        self.outbox_bytes
            .set(self.outbox_bytes.get().saturating_sub(next.len()));
        Some(next)
    }

    /// Marks the handshake complete.
    pub fn opened(&self) {
        self.open.set(true);
    }

    /// Whether the connection was asked to close.
    pub fn closing(&self) -> bool {
        self.close.get()
    }

    /// Whether the session has something to do besides reading.
    pub fn has_work(&self) -> bool {
        self.close.get() || !self.outbox.borrow().is_empty()
    }

    /// Registers the session's task to be woken by [`Shared::notify`].
    pub fn set_waker(&self, waker: &Waker) {
        self.waker.set(Some(waker.clone()));
    }

    fn notify(&self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Asks the session to close (it sends the close frame and runs `$disconnect`).
    pub fn request_close(&self) {
        self.close.set(true);
        self.notify();
    }

    fn info(&self) -> ConnectionInfo {
        ConnectionInfo {
            connected_at_ms: self.connected_at_ms,
            last_active_ms: self.last_active_ms.get(),
            source_ip: self.source_ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }

    fn serve(&self, scope: &Scope, command: Command) -> Outcome {
        if self.close.get() || !self.open.get() || *scope != self.scope {
            return Outcome::Gone;
        }
        match command {
            Command::Post(data) => {
                let mut outbox = self.outbox.borrow_mut();
                let bytes = self.outbox_bytes.get() + data.len();
                if outbox.len() >= OUTBOX_MAX || bytes > OUTBOX_MAX_BYTES {
                    return Outcome::LimitExceeded;
                }
                self.outbox_bytes.set(bytes);
                outbox.push_back(data);
                drop(outbox);
                self.notify();
                Outcome::Done
            }
            Command::Info => Outcome::Info(self.info()),
            Command::Delete => {
                self.request_close();
                Outcome::Done
            }
        }
    }
}

/// One slot of a shard's table.
struct Slot {
    tag: u64,
    conn: Option<Rc<Shared>>,
}

/// A shard's side of the registry: its connections and its mailbox.
pub struct LocalConnections {
    shard: u16,
    registry: Arc<Registry>,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
    /// Sessions waiting with their buffers in the shard's pool (housekeeping returns freed
    /// pages to the kernel after a wave of them, as for idle HTTP connections).
    parked: Cell<usize>,
}

impl LocalConnections {
    /// Shard `shard`'s table.
    pub fn new(shard: usize, registry: Arc<Registry>) -> Self {
        LocalConnections {
            shard: shard as u16,
            registry,
            slots: RefCell::default(),
            free: RefCell::default(),
            parked: Cell::new(0),
        }
    }

    /// Registers a connection; its id until [`LocalConnections::remove`].
    pub fn insert(&self, conn: Rc<Shared>, tag: u64) -> ConnectionId {
        let tag = tag & 0xff_ffff_ffff;
        let mut slots = self.slots.borrow_mut();
        let slot = match self.free.borrow_mut().pop() {
            Some(i) => {
                slots[i as usize] = Slot {
                    tag,
                    conn: Some(conn),
                };
                i
            }
            None => {
                slots.push(Slot {
                    tag,
                    conn: Some(conn),
                });
                (slots.len() - 1) as u32
            }
        };
        ConnectionId {
            shard: self.shard,
            slot,
            tag,
        }
    }

    /// Forgets a connection (its id is gone from now on).
    pub fn remove(&self, id: ConnectionId) {
        let mut slots = self.slots.borrow_mut();
        if let Some(slot) = slots.get_mut(id.slot as usize) {
            if slot.tag == id.tag && slot.conn.is_some() {
                slot.conn = None;
                self.free.borrow_mut().push(id.slot);
            }
        }
    }

    fn find(&self, id: ConnectionId) -> Option<Rc<Shared>> {
        let slots = self.slots.borrow();
        let slot = slots.get(id.slot as usize)?;
        (slot.tag == id.tag).then(|| slot.conn.clone()).flatten()
    }

    /// Runs a `@connections` call from this shard: at once when the connection is here, else
    /// through the holder's mailbox.
    pub async fn call(&self, id: ConnectionId, scope: Scope, command: Command) -> Outcome {
        if id.shard == self.shard {
            return match self.find(id) {
                Some(conn) => conn.serve(&scope, command),
                None => Outcome::Gone,
            };
        }
        match self.registry.send(id, scope, command) {
            Ok(answer) => monoio::time::timeout(ANSWER_TIMEOUT, answer.wait())
                .await
                .unwrap_or(Outcome::LimitExceeded),
            Err(outcome) => outcome,
        }
    }

    /// Serves the calls other shards queued, until the shard ends: the shard's mailbox task.
    pub async fn serve_mailbox(&self) {
        let Some(mailbox) = self.registry.shards.get(self.shard as usize) else {
            return;
        };
        loop {
            let letter = std::future::poll_fn(|cx| {
                if let Ok(letter) = mailbox.inbox.try_recv() {
                    return Poll::Ready(letter);
                }
                mailbox.waker.register(cx.waker());
                match mailbox.inbox.try_recv() {
                    Ok(letter) => Poll::Ready(letter),
                    Err(_) => Poll::Pending,
                }
            })
            .await;
            let mut letter = letter;
            let command = std::mem::replace(&mut letter.command, Command::Info);
            let outcome = match self.find(letter.id) {
                Some(conn) => conn.serve(&letter.scope, command),
                None => Outcome::Gone,
            };
            letter.answer.set(outcome);
        }
    }

    /// Asks every connection to close (the shard drains).
    pub fn close_all(&self) {
        let conns: Vec<Rc<Shared>> = self
            .slots
            .borrow()
            .iter()
            .filter_map(|s| s.conn.clone())
            .collect();
        for conn in conns {
            conn.request_close();
        }
    }

    /// Counts a session that parked its buffers (`true`) or took them again (`false`).
    pub fn count_parked(&self, parked: bool) {
        let n = self.parked.get();
        self.parked
            .set(if parked { n + 1 } else { n.saturating_sub(1) });
    }

    /// Sessions parked now.
    pub fn parked(&self) -> usize {
        self.parked.get()
    }

    /// Connections open on this shard.
    pub fn len(&self) -> usize {
        self.slots.borrow().len() - self.free.borrow().len()
    }

    /// Whether no connection is open on this shard.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back_and_look_like_aws_ids() {
        let id = ConnectionId {
            shard: 3,
            slot: 70_000,
            tag: 0xab_cdef_0123,
        };
        let text = id.encode();
        assert_eq!(text.len(), 16);
        assert!(text.ends_with('='));
        assert_eq!(ConnectionId::decode(&text), Some(id));
        assert_eq!(ConnectionId::decode("nope"), None);
        assert_eq!(ConnectionId::decode("L0SM9cOFvHcCIhw"), None);
    }

    #[test]
    fn a_reused_slot_makes_the_old_id_stale() {
        let local = LocalConnections::new(0, Arc::new(Registry::new(1)));
        let conn = || Rc::new(Shared::new(1, "127.0.0.1".into(), "".into(), scope()));
        let first = local.insert(conn(), 1);
        local.remove(first);
        let second = local.insert(conn(), 2);
        assert_eq!(first.slot, second.slot);
        assert!(local.find(first).is_none());
        assert!(local.find(second).is_some());
        assert_eq!(local.len(), 1);
    }

    #[test]
    fn posts_queue_until_the_outbox_is_full_and_a_closed_connection_is_gone() {
        let shared = Shared::new(5, "10.0.0.1".into(), "ua".into(), scope());
        let s = scope();
        assert_eq!(
            shared.serve(&s, Command::Info),
            Outcome::Gone,
            "not open yet"
        );
        shared.opened();
        let other = Scope {
            api: "other".into(),
            stage: "prod".into(),
        };
        assert_eq!(
            shared.serve(&other, Command::Info),
            Outcome::Gone,
            "another API's call"
        );
        for _ in 0..OUTBOX_MAX {
            assert_eq!(
                shared.serve(&s, Command::Post(b"x".to_vec())),
                Outcome::Done
            );
        }
        let post = |n: usize| Command::Post(vec![b'x'; n]);
        assert_eq!(shared.serve(&s, post(1)), Outcome::LimitExceeded);
        assert_eq!(shared.next_out().as_deref(), Some(&b"x"[..]));
        assert_eq!(
            shared.serve(&s, post(OUTBOX_MAX_BYTES)),
            Outcome::LimitExceeded,
            "bytes"
        );
        assert_eq!(shared.serve(&s, Command::Delete), Outcome::Done);
        assert_eq!(shared.serve(&s, Command::Info), Outcome::Gone);
    }

    fn scope() -> Scope {
        Scope {
            api: "chat".into(),
            stage: "prod".into(),
        }
    }

    #[test]
    fn a_letter_its_shard_never_reads_answers_gone() {
        let registry = Registry::new(2);
        let id = ConnectionId {
            shard: 1,
            slot: 0,
            tag: 1,
        };
        let answer = registry.send(id, scope(), Command::Info).unwrap();
        drop(registry);
        assert_eq!(answer.outcome.get(), Some(&Outcome::Gone));
    }
}
