//! Hosted Lambda functions' metrics, per shard, under Lambda's CloudWatch names:
//! `Invocations`, `Errors`, `Throttles`, `Duration`, `ConcurrentExecutions`, plus cold starts
//! (Lambda reports those as `Init Duration` in its logs). Rendered as
//! `tollgate_lambda_{invocations,errors,throttles,cold_starts}_total`,
//! `tollgate_lambda_concurrent_executions` and `tollgate_lambda_duration_seconds`, labelled by
//! function and summed over shards.
//!
//! A shard finds (or creates) a function's cells once, under the table's mutex, and keeps the
//! `Arc`; every invocation after that touches only the cells' atomics, written by that shard
//! alone (see [`bump`]).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::histogram::{bump, Histogram, HistogramTotals};

/// One function's counters on one shard.
#[derive(Debug, Default)]
pub struct FunctionCells {
    invocations: AtomicU64,
    errors: AtomicU64,
    throttles: AtomicU64,
    cold_starts: AtomicU64,
    concurrent: AtomicU64,
    duration: Histogram,
}

impl FunctionCells {
    /// An invocation ended after `took`; `error`: it produced no result (handler error,
    /// timeout, crash).
    pub fn invoked(&self, took: Duration, error: bool) {
        bump(&self.invocations, 1);
        if error {
            bump(&self.errors, 1);
        }
        self.duration.observe(took);
    }

    /// An invocation refused for want of a worker or queue room.
    pub fn throttled(&self) {
        bump(&self.throttles, 1);
    }

    /// A worker was started for an invocation.
    pub fn cold_start(&self) {
        bump(&self.cold_starts, 1);
    }

    /// Sets how many of the shard's workers hold an invocation.
    pub fn set_concurrent(&self, n: u64) {
        self.concurrent.store(n, Ordering::Relaxed);
    }
}

/// A shard's function cells, by function name.
#[derive(Debug, Default)]
pub struct FunctionTable {
    cells: Mutex<Vec<(Box<str>, Arc<FunctionCells>)>>,
}

impl FunctionTable {
    /// The cells of `function`, created on first use (the only time a shard takes the lock
    /// for it).
    pub fn cells(&self, function: &str) -> Arc<FunctionCells> {
        let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = cells.iter().find(|(n, _)| &**n == function) {
            return Arc::clone(c);
        }
        let c = Arc::new(FunctionCells::default());
        cells.push((function.into(), Arc::clone(&c)));
        c
    }

    fn each(&self, mut f: impl FnMut(&str, &FunctionCells)) {
        let cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        for (name, c) in cells.iter() {
            f(name, c);
        }
    }
}

/// One function's counters summed over shards.
#[derive(Debug, Default)]
struct Totals {
    invocations: u64,
    errors: u64,
    throttles: u64,
    cold_starts: u64,
    concurrent: u64,
    duration: HistogramTotals,
}

/// Appends the functions' families to a scrape.
pub fn render(out: &mut String, tables: &[&FunctionTable]) {
    let mut totals: Vec<(String, Totals)> = Vec::new();
    for table in tables {
        table.each(|name, c| {
            let i = match totals.iter().position(|(n, _)| n == name) {
                Some(i) => i,
                None => {
                    totals.push((name.to_owned(), Totals::default()));
                    totals.len() - 1
                }
            };
            let t = &mut totals[i].1;
            let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
            t.invocations += load(&c.invocations);
            t.errors += load(&c.errors);
            t.throttles += load(&c.throttles);
            t.cold_starts += load(&c.cold_starts);
            t.concurrent += load(&c.concurrent);
            c.duration.add_to(&mut t.duration);
        });
    }
    if totals.is_empty() {
        return;
    }
    type Of = fn(&Totals) -> u64;
    let families: [(&str, &str, &str, Of); 5] = [
        (
            "tollgate_lambda_invocations_total",
            "Invocations of hosted functions (Lambda Invocations).",
            "counter",
            |t| t.invocations,
        ),
        (
            "tollgate_lambda_errors_total",
            "Invocations that produced no result: handler error, timeout, crash (Lambda Errors).",
            "counter",
            |t| t.errors,
        ),
        (
            "tollgate_lambda_throttles_total",
            "Invocations refused: every worker busy and the queue full (Lambda Throttles).",
            "counter",
            |t| t.throttles,
        ),
        (
            "tollgate_lambda_cold_starts_total",
            "Workers started for an invocation.",
            "counter",
            |t| t.cold_starts,
        ),
        (
            "tollgate_lambda_concurrent_executions",
            "Workers holding an invocation (Lambda ConcurrentExecutions).",
            "gauge",
            |t| t.concurrent,
        ),
    ];
    for (name, help, kind, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (function, t) in &totals {
            let _ = write!(out, "{name}{{function=\"");
            super::exposition::escape_into(out, function);
            let _ = writeln!(out, "\"}} {}", value(t));
        }
    }
    let name = "tollgate_lambda_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time from handing the event to a worker to its result (Lambda Duration).\n# TYPE {name} histogram"
    );
    for (function, t) in &totals {
        let mut label = String::from("function=\"");
        super::exposition::escape_into(&mut label, function);
        label.push('"');
        super::exposition::histogram_lines(out, name, &label, &t.duration);
    }
}
