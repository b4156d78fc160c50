//! One shard's share of the hosted functions: its workers, its queue of invocations waiting
//! for one, and the hand-over between them. Single-threaded (`Rc`, `RefCell`): the shard's
//! request tasks call [`ShardFunctions::invoke`], the workers' Runtime API tasks
//! ([`super::runtime_api`]) take invocations and give results back, all on the shard.
//!
//! An invocation goes to a worker waiting in `GET .../invocation/next` if there is one;
//! otherwise it waits in the shard's queue, and a new worker is started (a cold start) while
//! the shard has fewer than its share of the function's reserved concurrency. A queue at its
//! bound is Lambda throttling. Past the function's timeout the invocation fails and the worker
//! holding it is killed (its replacement starts on the next invocation that needs one).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ahash::AHashMap;

use super::spawner::{Command, Spawner, WorkerKey};
use super::spec::FunctionSpec;
use crate::metrics::functions::FunctionCells;

/// Consecutive workers that may die before their first invocation before the function's
/// queued invocations are failed instead of retried (a function that cannot start).
const MAX_START_FAILURES: u32 = 3;

/// Why a hosted invocation produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostedError {
    /// Every worker the shard may run is busy and its queue is full (Lambda's
    /// `TooManyRequestsException`).
    #[error("throttled: reserved concurrency reached and the queue is full")]
    Throttled,
    /// No result within the function's timeout; the worker was stopped.
    #[error("Task timed out after {0:?}")]
    Timeout(Duration),
    /// The handler failed (`POST .../invocation/{id}/error`).
    #[error("function error ({kind}): {body}")]
    Function {
        /// `Lambda-Runtime-Function-Error-Type`, or `Unhandled`.
        kind: String,
        /// The error document the runtime posted.
        body: String,
    },
    /// The worker exited while it held the invocation (`Runtime.ExitError`).
    #[error("Runtime exited with error: {0}")]
    Crashed(String),
    /// The worker could not start or failed its init (`Runtime.InitError`).
    #[error("Runtime failed to start: {0}")]
    InitFailed(String),
}

/// The hosted functions of one shard.
pub struct ShardFunctions {
    ctx: Rc<HostCtx>,
    metrics: Arc<crate::metrics::ShardMetrics>,
    pools: RefCell<AHashMap<Box<str>, Rc<FunctionPool>>>,
}

/// What every worker task of the shard shares.
pub(crate) struct HostCtx {
    pub(crate) shard: usize,
    pub(crate) shards: usize,
    pub(crate) spawner: Option<Arc<Spawner>>,
    next_worker: Cell<u64>,
}

/// One function on one shard.
pub(crate) struct FunctionPool {
    /// The current configuration (replaced on reload; workers started with an older one are
    /// retired after their current invocation).
    pub(crate) spec: RefCell<Arc<FunctionSpec>>,
    pub(crate) workers: RefCell<Vec<Rc<Worker>>>,
    pub(crate) queue: RefCell<VecDeque<Rc<Call>>>,
    start_failures: Cell<u32>,
    /// This shard's metric cells of the function.
    pub(crate) cells: Arc<FunctionCells>,
}

impl FunctionPool {
    /// Publishes how many workers hold an invocation (`ConcurrentExecutions`).
    pub(crate) fn update_concurrency(&self) {
        let busy = self
            .workers
            .borrow()
            .iter()
            .filter(|w| matches!(*w.state.borrow(), WorkerState::Busy { .. }))
            .count();
        self.cells.set_concurrent(busy as u64);
    }
}

/// One worker process, as its shard sees it.
pub(crate) struct Worker {
    pub(crate) key: WorkerKey,
    /// The configuration it was started with.
    pub(crate) spec: Arc<FunctionSpec>,
    pub(crate) state: RefCell<WorkerState>,
    /// A parked `GET .../next`.
    pub(crate) waiting: Cell<Option<Waker>>,
    /// When it last finished an invocation (idle workers are stopped after `idle_timeout`).
    pub(crate) last_active: Cell<Instant>,
    /// When the process was asked for (its first `next` tells the runtime's start time).
    pub(crate) started_at: Instant,
    /// The spawner reported the process's exit: the Runtime API port closes.
    pub(crate) exit_reported: Cell<bool>,
    /// The Runtime API's accept loop, woken to close the port.
    pub(crate) port_waker: Cell<Option<Waker>>,
}

/// Where a worker is in its life.
pub(crate) enum WorkerState {
    /// Started, not yet asked for an invocation.
    Starting,
    /// Between invocations.
    Ready,
    /// Holding an invocation; `handed`: the worker has received it.
    Busy { call: Rc<Call>, handed: bool },
    /// Exited or killed.
    Dead,
}

/// One invocation.
pub(crate) struct Call {
    pub(crate) request_id: String,
    /// The event, shared with the `next` answer that carries it (no copy per hand-over).
    pub(crate) payload: Rc<[u8]>,
    /// `Lambda-Runtime-Deadline-Ms`.
    pub(crate) deadline_unix_ms: u64,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub(crate) arn: String,
    outcome: RefCell<Option<Result<Vec<u8>, HostedError>>>,
    waker: Cell<Option<Waker>>,
}

impl Call {
    /// Delivers the result; the first one counts.
    pub(crate) fn complete(&self, outcome: Result<Vec<u8>, HostedError>) {
        let mut slot = self.outcome.borrow_mut();
        if slot.is_none() {
            *slot = Some(outcome);
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
    }

    fn is_complete(&self) -> bool {
        self.outcome.borrow().is_some()
    }
}

impl ShardFunctions {
    /// Shard `shard` of `shards`; `spawner` starts worker processes (`None`: hosting is off
    /// and every invocation fails to start).
    pub fn new(
        shard: usize,
        shards: usize,
        spawner: Option<Arc<Spawner>>,
        metrics: Arc<crate::metrics::ShardMetrics>,
    ) -> Self {
        ShardFunctions {
            metrics,
            ctx: Rc::new(HostCtx {
                shard,
                shards,
                spawner,
                next_worker: Cell::new(0),
            }),
            pools: RefCell::new(AHashMap::new()),
        }
    }

    /// Invokes `spec` with `payload` (the event) and waits for its result.
    pub async fn invoke(
        &self,
        spec: &Arc<FunctionSpec>,
        qualifier: Option<&str>,
        payload: &[u8],
        request_id: &str,
    ) -> Result<Vec<u8>, HostedError> {
        let pool = self.pool(spec);
        let deadline_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            + spec.timeout.as_millis() as u64;
        let call = Rc::new(Call {
            request_id: request_id.to_owned(),
            payload: Rc::from(payload),
            deadline_unix_ms,
            arn: spec.arn(qualifier),
            outcome: RefCell::new(None),
            waker: Cell::new(None),
        });
        let started = Instant::now();
        if let Err(e) = dispatch(&self.ctx, &pool, &call) {
            if e == HostedError::Throttled {
                pool.cells.throttled();
            }
            return Err(e);
        }
        pool.update_concurrency();
        let done = std::future::poll_fn(|cx| {
            if let Some(outcome) = call.outcome.borrow_mut().take() {
                return Poll::Ready(outcome);
            }
            call.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        });
        let outcome = match monoio::time::timeout(spec.timeout, done).await {
            Ok(outcome) => outcome,
            Err(_) => {
                abandon(&self.ctx, &pool, &call);
                Err(HostedError::Timeout(spec.timeout))
            }
        };
        pool.cells.invoked(started.elapsed(), outcome.is_err());
        pool.update_concurrency();
        outcome
    }

    /// Housekeeping, about once a second: applies the current configurations (retiring
    /// workers of changed ones), starts this shard's share of each function's `prewarm`
    /// workers that are not running, and stops idle workers beyond it after `idle_timeout`.
    pub fn maintain(&self, specs: &[Arc<FunctionSpec>]) {
        for spec in specs {
            let want = FunctionSpec::share(spec.prewarm, self.ctx.shards, self.ctx.shard, false);
            let pool = self.pool(spec);
            while (live(&pool) as u32) < want {
                if !start_worker(&self.ctx, &pool) {
                    break;
                }
            }
            let idle: Vec<Rc<Worker>> = pool
                .workers
                .borrow()
                .iter()
                .filter(|w| {
                    matches!(*w.state.borrow(), WorkerState::Ready)
                        && has_waiter(w)
                        && w.last_active.get().elapsed() >= spec.idle_timeout
                })
                .cloned()
                .collect();
            let mut alive = live(&pool) as u32;
            for w in idle {
                if alive <= want {
                    break;
                }
                tracing::info!(function = %spec.name, worker = w.key.id, "stopping idle worker");
                kill(&self.ctx, &w);
                alive -= 1;
            }
        }
    }

    /// The shard's pool of `spec`'s function, created on first use; a changed configuration
    /// replaces the pool's and retires the idle workers started with the old one.
    fn pool(&self, spec: &Arc<FunctionSpec>) -> Rc<FunctionPool> {
        let mut pools = self.pools.borrow_mut();
        let pool = pools.entry(spec.name.clone()).or_insert_with(|| {
            Rc::new(FunctionPool {
                spec: RefCell::new(Arc::clone(spec)),
                workers: RefCell::new(Vec::new()),
                queue: RefCell::new(VecDeque::new()),
                start_failures: Cell::new(0),
                cells: self.metrics.functions.cells(&spec.name),
            })
        });
        if **pool.spec.borrow() != **spec {
            *pool.spec.borrow_mut() = Arc::clone(spec);
            retire_stale(&self.ctx, pool);
        }
        Rc::clone(pool)
    }
}

/// Workers of `pool` not dead.
fn live(pool: &FunctionPool) -> usize {
    pool.workers
        .borrow()
        .iter()
        .filter(|w| !matches!(*w.state.borrow(), WorkerState::Dead))
        .count()
}

/// Gives `call` to a waiting worker, or queues it (starting a worker when the shard may).
fn dispatch(
    ctx: &Rc<HostCtx>,
    pool: &Rc<FunctionPool>,
    call: &Rc<Call>,
) -> Result<(), HostedError> {
    let spec = Arc::clone(&pool.spec.borrow());
    let waiting = pool
        .workers
        .borrow()
        .iter()
        .find(|w| {
            Arc::ptr_eq(&w.spec, &spec)
                && matches!(*w.state.borrow(), WorkerState::Ready)
                && has_waiter(w)
        })
        .cloned();
    if let Some(worker) = waiting {
        *worker.state.borrow_mut() = WorkerState::Busy {
            call: Rc::clone(call),
            handed: false,
        };
        if let Some(w) = worker.waiting.take() {
            w.wake();
        }
        return Ok(());
    }
    if pool.queue.borrow().len() >= spec.queue as usize {
        return Err(HostedError::Throttled);
    }
    pool.queue.borrow_mut().push_back(Rc::clone(call));
    let limit = FunctionSpec::share(spec.concurrency, ctx.shards, ctx.shard, true) as usize;
    let (coming, current) = {
        let workers = pool.workers.borrow();
        let current: Vec<&Rc<Worker>> = workers
            .iter()
            .filter(|w| !matches!(*w.state.borrow(), WorkerState::Dead))
            .collect();
        // Workers that will ask for the queue's next invocation soon: those starting, and
        // those between a result and their next `next` (current configuration only).
        let coming = current
            .iter()
            .filter(|w| match *w.state.borrow() {
                WorkerState::Starting => true,
                WorkerState::Ready => Arc::ptr_eq(&w.spec, &spec),
                _ => false,
            })
            .count();
        (coming, current.len())
    };
    // A worker coming will take a queued invocation; start more only for the rest.
    if current < limit && coming < pool.queue.borrow().len() {
        if !start_worker(ctx, pool) {
            pool.queue.borrow_mut().retain(|c| !Rc::ptr_eq(c, call));
            return Err(HostedError::InitFailed(
                "cannot open a Runtime API port".into(),
            ));
        }
        pool.cells.cold_start();
    }
    Ok(())
}

fn has_waiter(worker: &Worker) -> bool {
    let w = worker.waiting.take();
    let has = w.is_some();
    worker.waiting.set(w);
    has
}

/// Starts one worker of `pool`: its Runtime API port on this shard, then the process.
fn start_worker(ctx: &Rc<HostCtx>, pool: &Rc<FunctionPool>) -> bool {
    let Some(spawner) = ctx.spawner.clone() else {
        return false;
    };
    let listener = match monoio::net::TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot open a Runtime API port: {e}");
            return false;
        }
    };
    let Ok(addr) = listener.local_addr() else {
        return false;
    };
    let id = ctx.next_worker.get();
    ctx.next_worker.set(id + 1);
    let spec = Arc::clone(&pool.spec.borrow());
    let worker = Rc::new(Worker {
        key: WorkerKey {
            shard: ctx.shard,
            id,
        },
        spec: Arc::clone(&spec),
        state: RefCell::new(WorkerState::Starting),
        waiting: Cell::new(None),
        last_active: Cell::new(Instant::now()),
        started_at: Instant::now(),
        exit_reported: Cell::new(false),
        port_waker: Cell::new(None),
    });
    pool.workers.borrow_mut().push(Rc::clone(&worker));
    tracing::info!(function = %spec.name, shard = ctx.shard, worker = id, runtime_api = %addr, "starting worker (cold start)");
    monoio::spawn(super::runtime_api::serve(
        listener,
        Rc::clone(&worker),
        Rc::clone(pool),
        Rc::clone(ctx),
    ));
    spawner.send(Command::Start {
        key: worker.key,
        spec,
        runtime_api: addr,
    });
    true
}

/// Stops `worker` (deadline passed, retired): marked dead here, killed by the spawner.
pub(crate) fn kill(ctx: &HostCtx, worker: &Worker) {
    *worker.state.borrow_mut() = WorkerState::Dead;
    if let Some(w) = worker.waiting.take() {
        w.wake();
    }
    if let Some(spawner) = &ctx.spawner {
        spawner.send(Command::Kill(worker.key));
    }
}

/// An invocation past its deadline: out of the queue, or its worker killed.
fn abandon(ctx: &HostCtx, pool: &FunctionPool, call: &Rc<Call>) {
    pool.queue.borrow_mut().retain(|c| !Rc::ptr_eq(c, call));
    let holder = pool
        .workers
        .borrow()
        .iter()
        .find(|w| matches!(&*w.state.borrow(), WorkerState::Busy { call: c, .. } if Rc::ptr_eq(c, call)))
        .cloned();
    if let Some(worker) = holder {
        tracing::warn!(function = %worker.spec.name, worker = worker.key.id, request_id = %call.request_id, "invocation timed out; stopping its worker");
        kill(ctx, &worker);
    }
    call.complete(Err(HostedError::Timeout(Duration::ZERO)));
}

/// Retires workers started with an older configuration: idle ones now, busy ones when their
/// invocation ends (see [`finished`]).
fn retire_stale(ctx: &HostCtx, pool: &FunctionPool) {
    let spec = Arc::clone(&pool.spec.borrow());
    for w in pool.workers.borrow().iter() {
        let idle = matches!(
            *w.state.borrow(),
            WorkerState::Ready | WorkerState::Starting
        );
        if !Arc::ptr_eq(&w.spec, &spec) && idle {
            kill(ctx, w);
        }
    }
}

/// A worker finished an invocation: retired if its configuration is no longer current.
pub(crate) fn finished(ctx: &HostCtx, pool: &FunctionPool, worker: &Worker) {
    worker.last_active.set(Instant::now());
    if !Arc::ptr_eq(&worker.spec, &pool.spec.borrow()) {
        kill(ctx, worker);
    } else {
        *worker.state.borrow_mut() = WorkerState::Ready;
    }
    pool.update_concurrency();
}

/// The next queued invocation for `worker`, if its configuration is current.
pub(crate) fn next_queued(pool: &FunctionPool, worker: &Worker) -> Option<Rc<Call>> {
    if !Arc::ptr_eq(&worker.spec, &pool.spec.borrow()) {
        return None;
    }
    let mut queue = pool.queue.borrow_mut();
    while let Some(call) = queue.pop_front() {
        if !call.is_complete() {
            return Some(call);
        }
    }
    None
}

/// The spawner reported the worker's exit: what it held fails; a worker that never asked
/// for an invocation counts as a failed start, and after [`MAX_START_FAILURES`] of them in a
/// row the queued invocations fail rather than wait for workers that cannot start.
pub(crate) fn exited(ctx: &Rc<HostCtx>, pool: &Rc<FunctionPool>, worker: &Worker, status: &str) {
    let before = std::mem::replace(&mut *worker.state.borrow_mut(), WorkerState::Dead);
    pool.workers.borrow_mut().retain(|w| w.key != worker.key);
    match before {
        WorkerState::Busy { call, .. } => {
            call.complete(Err(HostedError::Crashed(status.to_owned())));
        }
        WorkerState::Starting => {
            let failures = pool.start_failures.get() + 1;
            pool.start_failures.set(failures);
            if failures >= MAX_START_FAILURES {
                let failed: Vec<Rc<Call>> = pool.queue.borrow_mut().drain(..).collect();
                for call in failed {
                    call.complete(Err(HostedError::InitFailed(status.to_owned())));
                }
                pool.start_failures.set(0);
                return;
            }
        }
        WorkerState::Ready | WorkerState::Dead => {}
    }
    // Invocations still waiting get a replacement worker, after a pause that grows with
    // consecutive failed starts.
    if !pool.queue.borrow().is_empty() {
        let (ctx, pool) = (Rc::clone(ctx), Rc::clone(pool));
        monoio::spawn(async move {
            let failures = pool.start_failures.get();
            if failures > 0 {
                monoio::time::sleep(Duration::from_millis(50 << failures.min(4))).await;
            }
            if !pool.queue.borrow().is_empty() && live(&pool) == 0 {
                start_worker(&ctx, &pool);
            }
        });
    }
}

/// A worker asked for its first invocation: it started.
pub(crate) fn started(pool: &FunctionPool) {
    pool.start_failures.set(0);
}
