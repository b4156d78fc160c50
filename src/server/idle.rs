//! Connections waiting for their next request, watched by one timing wheel per shard.
//!
//! An idle keep-alive connection should cost next to nothing (issue 19: nginx holds about
//! 0.5 KiB per idle connection; Tollgate held 35 KiB of buffers, task and timer). Two things
//! make that so:
//! - **No timer per wait.** A wait between requests registers its deadline here with a few
//!   `Cell` writes instead of inserting a monoio timer (640 bytes inline, and a clock read and
//!   a timer-wheel insertion per request). The shard's housekeeping tick advances the wheel;
//!   a wait whose deadline passed is cancelled through its connection's [`Canceller`], which
//!   completes the read with `ECANCELED` and loses no byte that arrived meanwhile.
//! - **No buffers while quiet.** A wait still quiet after [`PARK_AFTER_TICKS`] is cancelled the
//!   same way with [`Wake::Park`]: the connection returns its buffers to the shard's pool and
//!   waits for readiness only (a poll, which holds no buffer), then takes buffers again. A
//!   busy keep-alive connection, whose next request comes within microseconds, never parks and
//!   pays nothing for any of this.
//!
//! The wheel has [`SLOTS`] buckets of one housekeeping tick each. An entry is a slot due at a
//! tick; a deadline past the wheel's span is examined when the span ends and put back. Entries
//! are checked lazily: a connection that became busy again, or whose wait was replaced by a
//! later one, leaves a stale entry that is dropped when its bucket comes round, so the request
//! path never searches the wheel.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Waker;
use std::time::{Duration, Instant};

use monoio::io::{CancelHandle, Canceller};

/// Length of one wheel tick: the shard's housekeeping period.
pub const TICK: Duration = Duration::from_millis(TICK_MS);
const TICK_MS: u64 = 50;

/// Buckets in the wheel: 512 ticks, about 25 s, before a later deadline goes round again.
const SLOTS: usize = 512;

/// Ticks a wait stays quiet before its connection gives its buffers back: 2–3 ticks (100 to
/// 150 ms) after the response. Short enough that a mostly idle client (a phone, a browser tab)
/// holds nothing; long enough that a client sending a request every few milliseconds keeps
/// its buffers instead of cycling them through the pool.
pub const PARK_AFTER_TICKS: u64 = 2;

/// Why a wait between requests was woken by the shard rather than by its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Quiet for [`PARK_AFTER_TICKS`]: give the buffers back and wait for readiness.
    Park,
    /// The wait's deadline (idle or header timeout) passed.
    Expired,
    /// The shard started draining.
    Drain,
}

/// One connection's registration with the wheel, kept for the connection's life.
#[derive(Default)]
pub struct IdleSlot {
    /// Whether the connection is waiting for its next request now.
    waiting: Cell<bool>,
    /// Whether the connection gave its buffers back and waits for readiness.
    parked: Cell<bool>,
    /// Tick at which a quiet wait parks.
    park_at: Cell<u64>,
    /// Tick at which the wait expires.
    deadline: Cell<u64>,
    /// The tick of this slot's live wheel entry, if it has one.
    queued_at: Cell<Option<u64>>,
    /// What the shard woke the wait for; `None` until it does.
    woke: Cell<Option<Wake>>,
    /// Cancels the wait's read (a read is cancelled, not dropped, so that bytes it already
    /// received come back with it).
    canceller: RefCell<Canceller>,
    /// Wakes a parked connection's readiness wait (a poll may simply be dropped).
    waker: RefCell<Option<Waker>>,
}

impl IdleSlot {
    /// A slot for a new connection.
    pub fn new() -> Rc<Self> {
        Rc::new(IdleSlot::default())
    }

    /// The handle to give the wait's read.
    pub fn handle(&self) -> CancelHandle {
        self.canceller.borrow().handle()
    }

    /// Takes what the shard woke the wait for, if it did.
    pub fn take_wake(&self) -> Option<Wake> {
        self.woke.take()
    }

    /// What the shard woke the wait for, left in place.
    pub fn wake(&self) -> Option<Wake> {
        self.woke.get()
    }

    /// The wait is over (bytes came, or the connection gives up): the wheel's entry goes stale.
    pub fn finish(&self) {
        self.waiting.set(false);
        self.parked.set(false);
        self.woke.set(None);
        self.waker.borrow_mut().take();
    }

    /// Remembers the waker of a parked connection's readiness wait.
    pub fn set_waker(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        match slot.as_ref() {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Wakes the wait for `why`: a read is cancelled, a readiness wait woken.
    fn signal(&self, why: Wake) {
        self.woke.set(Some(why));
        if self.parked.get() {
            if let Some(w) = self.waker.borrow_mut().take() {
                w.wake();
            }
        } else {
            let old = std::mem::take(&mut *self.canceller.borrow_mut());
            *self.canceller.borrow_mut() = old.cancel();
        }
    }

    /// Takes the wheel's entry for tick `at` off the slot, and says whether the slot still
    /// waits for the wheel. `false`: a stale entry (replaced by an earlier one), or a
    /// connection busy again or already woken, whose next wait schedules itself.
    fn claim(&self, at: u64) -> bool {
        if self.queued_at.get() != Some(at) {
            return false;
        }
        self.queued_at.set(None);
        self.waiting.get() && self.woke.get().is_none()
    }

    /// When the wheel should look at this slot next.
    fn due(&self) -> u64 {
        if self.parked.get() {
            self.deadline.get()
        } else {
            self.park_at.get().min(self.deadline.get())
        }
    }
}

/// One tick's entries: the tick each is due at, and its slot.
type Bucket = Vec<(u64, Rc<IdleSlot>)>;

/// The shard's wheel of waiting connections.
pub struct IdleWheel {
    start: Instant,
    /// The last tick processed.
    now: Cell<u64>,
    buckets: RefCell<Vec<Bucket>>,
    /// Connections parked now (a gauge for `/metrics`).
    parked: Cell<usize>,
}

/// A wheel's worth of empty buckets.
fn empty_buckets() -> Vec<Bucket> {
    (0..SLOTS).map(|_| Vec::new()).collect()
}

impl Default for IdleWheel {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

impl IdleWheel {
    /// An empty wheel whose tick 0 is `start`.
    pub fn new(start: Instant) -> Self {
        IdleWheel {
            start,
            now: Cell::new(0),
            buckets: RefCell::new(empty_buckets()),
            parked: Cell::new(0),
        }
    }

    /// Connections waiting with their buffers given back.
    pub fn parked(&self) -> usize {
        self.parked.get()
    }

    /// Starts a wait of up to `wait` for `slot`'s connection. The deadline counts from the
    /// last tick processed (no clock read per request), rounded up, plus one tick for the
    /// wheel's clock being up to a tick old: a wait ends up to two ticks late, and early only
    /// if the shard's loop was stalled for more than a tick when it began.
    pub fn begin(&self, slot: &Rc<IdleSlot>, wait: Duration) {
        let now = self.now.get();
        // In u64: a u128 division is a library call, and this runs once per request.
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX / 2);
        let ticks = ms.div_ceil(TICK_MS) + 1;
        slot.waiting.set(true);
        slot.parked.set(false);
        slot.woke.set(None);
        slot.park_at.set(now.saturating_add(PARK_AFTER_TICKS + 1));
        slot.deadline.set(now.saturating_add(ticks));
        self.schedule(slot);
    }

    /// Marks `slot`'s connection as parked (its buffers are back in the pool) and schedules
    /// its deadline.
    pub fn park(&self, slot: &Rc<IdleSlot>) {
        slot.parked.set(true);
        self.parked.set(self.parked.get() + 1);
        self.schedule(slot);
    }

    /// Marks `slot`'s connection as no longer parked (it took buffers again).
    pub fn unpark(&self, slot: &IdleSlot) {
        slot.parked.set(false);
        self.parked.set(self.parked.get().saturating_sub(1));
    }

    /// Keeps `slot`'s wait going with its buffers until its deadline. `park_again`: the
    /// connection woke from parking (bytes came, a request may follow) and parks again once
    /// quiet; otherwise it holds bytes it still needs and must not be asked to park again.
    pub fn hold(&self, slot: &Rc<IdleSlot>, park_again: bool) {
        slot.parked.set(false);
        slot.woke.set(None);
        let park_at = if park_again {
            self.now.get().saturating_add(PARK_AFTER_TICKS + 1)
        } else {
            u64::MAX
        };
        slot.park_at.set(park_at);
        self.schedule(slot);
    }

    /// Makes sure the wheel looks at `slot` by its due tick: an entry due earlier already
    /// does (and reschedules it then).
    fn schedule(&self, slot: &Rc<IdleSlot>) {
        let now = self.now.get();
        let due = slot.due().clamp(now + 1, now + SLOTS as u64 - 1);
        if matches!(slot.queued_at.get(), Some(t) if t <= due) {
            return;
        }
        slot.queued_at.set(Some(due));
        self.buckets.borrow_mut()[due as usize % SLOTS].push((due, Rc::clone(slot)));
    }

    /// Processes every tick up to the present: wakes the waits that are due.
    pub fn advance(&self) {
        let target = self.tick_of(Instant::now());
        while self.now.get() < target {
            let now = self.now.get() + 1;
            self.now.set(now);
            self.process(now);
        }
    }

    /// The tick `at` falls in.
    fn tick_of(&self, at: Instant) -> u64 {
        let elapsed = at.saturating_duration_since(self.start).as_millis() / TICK.as_millis();
        u64::try_from(elapsed).unwrap_or(u64::MAX / 2)
    }

    /// Handles the entries of tick `now`'s bucket.
    fn process(&self, now: u64) {
        let entries = std::mem::take(&mut self.buckets.borrow_mut()[now as usize % SLOTS]);
        for (at, slot) in entries {
            if !slot.claim(at) {
                continue;
            }
            if slot.deadline.get() <= now {
                slot.signal(Wake::Expired);
            } else if !slot.parked.get() && slot.park_at.get() <= now {
                slot.signal(Wake::Park);
            } else {
                self.schedule(&slot);
            }
        }
    }

    /// Wakes every waiting connection for the drain.
    pub fn drain(&self) {
        let buckets = std::mem::replace(&mut *self.buckets.borrow_mut(), empty_buckets());
        for (at, slot) in buckets.into_iter().flatten() {
            if slot.claim(at) {
                slot.signal(Wake::Drain);
            }
        }
    }

    /// Processes tick `now` as if it had come (tests drive the wheel without sleeping).
    #[cfg(test)]
    fn step_to(&self, now: u64) {
        while self.now.get() < now {
            let t = self.now.get() + 1;
            self.now.set(t);
            self.process(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_quiet_wait_parks_after_its_ticks_then_expires_at_its_deadline() {
        let wheel = IdleWheel::new(Instant::now());
        let slot = IdleSlot::new();
        wheel.begin(&slot, ms(1000));
        wheel.step_to(PARK_AFTER_TICKS);
        assert_eq!(slot.wake(), None);
        wheel.step_to(PARK_AFTER_TICKS + 1);
        assert_eq!(slot.take_wake(), Some(Wake::Park));
        wheel.park(&slot);
        assert_eq!(wheel.parked(), 1);
        // 1000 ms = 20 ticks, plus one for the wheel's coarse clock.
        wheel.step_to(20);
        assert_eq!(slot.wake(), None);
        wheel.step_to(21);
        assert_eq!(slot.take_wake(), Some(Wake::Expired));
    }

    #[test]
    fn a_wait_shorter_than_the_park_delay_expires_without_parking() {
        let wheel = IdleWheel::new(Instant::now());
        let slot = IdleSlot::new();
        wheel.begin(&slot, ms(50));
        wheel.step_to(2);
        assert_eq!(slot.take_wake(), Some(Wake::Expired));
    }

    #[test]
    fn a_connection_busy_again_is_left_alone_and_its_next_wait_counts_from_its_start() {
        let wheel = IdleWheel::new(Instant::now());
        let slot = IdleSlot::new();
        wheel.begin(&slot, ms(200));
        wheel.step_to(1);
        slot.finish();
        wheel.step_to(10);
        assert_eq!(slot.wake(), None, "a busy connection is never woken");
        wheel.begin(&slot, ms(200));
        wheel.step_to(10 + PARK_AFTER_TICKS);
        assert_eq!(slot.wake(), None);
        wheel.step_to(10 + PARK_AFTER_TICKS + 1);
        assert_eq!(slot.take_wake(), Some(Wake::Park));
        wheel.park(&slot);
        wheel.step_to(14);
        assert_eq!(slot.wake(), None);
        wheel.step_to(15);
        assert_eq!(slot.take_wake(), Some(Wake::Expired));
    }

    #[test]
    fn a_deadline_beyond_the_wheel_goes_round_again() {
        let wheel = IdleWheel::new(Instant::now());
        let slot = IdleSlot::new();
        let ticks = SLOTS as u64 * 2 + 7;
        wheel.begin(&slot, TICK * (ticks - 1) as u32);
        wheel.step_to(PARK_AFTER_TICKS + 1);
        assert_eq!(slot.take_wake(), Some(Wake::Park));
        wheel.park(&slot);
        wheel.step_to(ticks - 1);
        assert_eq!(slot.wake(), None);
        wheel.step_to(ticks);
        assert_eq!(slot.take_wake(), Some(Wake::Expired));
    }

    #[test]
    fn a_shorter_wait_after_a_longer_one_is_not_woken_late() {
        let wheel = IdleWheel::new(Instant::now());
        let slot = IdleSlot::new();
        wheel.begin(&slot, ms(5000));
        slot.finish();
        // Parking would come at tick 3 from the first wait's entry; this wait ends sooner.
        wheel.begin(&slot, ms(40));
        wheel.step_to(2);
        assert_eq!(slot.take_wake(), Some(Wake::Expired));
    }

    #[test]
    fn drain_wakes_every_waiting_connection_once() {
        let wheel = IdleWheel::new(Instant::now());
        let waiting: Vec<_> = (0..3).map(|_| IdleSlot::new()).collect();
        for s in &waiting {
            wheel.begin(s, ms(60_000));
        }
        let busy = IdleSlot::new();
        wheel.begin(&busy, ms(60_000));
        busy.finish();
        wheel.drain();
        for s in &waiting {
            assert_eq!(s.take_wake(), Some(Wake::Drain));
        }
        assert_eq!(busy.wake(), None);
        wheel.step_to(SLOTS as u64 + 5);
        assert!(waiting.iter().all(|s| s.wake().is_none()));
    }

    #[test]
    fn advance_follows_the_clock() {
        let wheel = IdleWheel::new(Instant::now() - TICK * 10);
        let slot = IdleSlot::new();
        wheel.begin(&slot, ms(1));
        wheel.advance();
        assert!(wheel.now.get() >= 10);
        // begin() counted from tick 0's clock; the entry is due at tick 2.
        assert_eq!(slot.take_wake(), Some(Wake::Expired));
    }
}
