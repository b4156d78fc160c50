//! Request coalescing within one shard: while one request (the leader) fetches a missing
//! entry, later misses for the same key wait for it instead of calling the backend too.
//!
//! Single-threaded, so a hand-written waker list in an `Rc` is all it takes (no channel, no
//! atomics). The leader's [`Leader`] guard wakes the waiters when it is dropped, whatever
//! happened: entry stored, backend failed, response too large, or the client went away and
//! the task was dropped. Waiters then look the key up again and, on a miss, go to the backend
//! themselves.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use ahash::AHashMap;

/// One fetch in flight.
#[derive(Debug, Default)]
struct Slot {
    done: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

/// The fetches in flight on one shard, by key hash (a hash collision only makes an unrelated
/// request wait once and then look up its own key, never answer with another key's entry).
#[derive(Debug, Default, Clone)]
pub struct Inflight(Rc<RefCell<AHashMap<u64, Rc<Slot>>>>);

/// What a miss should do.
pub enum Role {
    /// No fetch in flight: fetch, and wake the waiters when done (drop the guard).
    Leader(Leader),
    /// Another request is fetching: wait for it, then look again.
    Waiter(Wait),
}

impl Inflight {
    /// Joins the fetch of `hash`, or starts one.
    pub fn join(&self, hash: u64) -> Role {
        let mut map = self.0.borrow_mut();
        if let Some(slot) = map.get(&hash) {
            return Role::Waiter(Wait(Rc::clone(slot)));
        }
        let slot = Rc::new(Slot::default());
        map.insert(hash, Rc::clone(&slot));
        Role::Leader(Leader {
            map: self.clone(),
            hash,
            slot,
        })
    }

    /// Number of fetches in flight (tests, introspection).
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }
}

/// Held by the request that fetches; dropping it releases the waiters.
pub struct Leader {
    map: Inflight,
    hash: u64,
    slot: Rc<Slot>,
}

impl Drop for Leader {
    fn drop(&mut self) {
        {
            let mut map = self.map.0.borrow_mut();
            if map
                .get(&self.hash)
                .is_some_and(|s| Rc::ptr_eq(s, &self.slot))
            {
                map.remove(&self.hash);
            }
        }
        self.slot.done.set(true);
        for waker in self.slot.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }
}

/// Resolves when the leader is done.
pub struct Wait(Rc<Slot>);

impl Future for Wait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.done.get() {
            return Poll::Ready(());
        }
        let mut waiters = self.0.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_miss_waits_and_is_released_when_the_leader_drops() {
        let inflight = Inflight::default();
        let Role::Leader(leader) = inflight.join(1) else {
            panic!("first miss leads");
        };
        let Role::Waiter(mut wait) = inflight.join(1) else {
            panic!("second miss waits");
        };
        assert!(
            matches!(inflight.join(2), Role::Leader(_)),
            "other keys lead"
        );
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
        drop(leader);
        assert!(Pin::new(&mut wait).poll(&mut cx).is_ready());
        assert!(inflight.is_empty());
        assert!(matches!(inflight.join(1), Role::Leader(_)));
    }
}
