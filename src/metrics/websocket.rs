//! WebSocket APIs' metrics as API Gateway reports them per API, stage and route (developer
//! guide, "Monitoring WebSocket API execution with CloudWatch metrics"): `ConnectCount`
//! (messages sent to the `$connect` route's integration), `MessageCount` (messages from
//! clients, counted on their route), `IntegrationError` (the integration answered 4XX/5XX),
//! `ClientError` (a 4XX before any integration: a message no route takes), `ExecutionError`
//! (the integration could not be called or did not answer in time) and `IntegrationLatency`.
//!
//! Series are numbered by [`super::series`] like REST methods (method label [`ROUTE`],
//! resource label the route key), and each shard counts in its own table, written only by
//! that shard.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use super::histogram::{bump, Histogram, HistogramTotals};
use super::series::{self, SeriesKey};
use super::{SEGMENT, SEGMENTS};

/// The `method` label of a route's series (no HTTP method is spelled so).
pub const ROUTE: &str = "$route";
/// The route key of messages no route took.
pub const NO_ROUTE: &str = "-";

/// What happened to one message or `$connect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Sent to the `$connect` route's integration, which answered with this status.
    Connect { status: u16, latency: Duration },
    /// A client's message that the route's integration answered with this status.
    Message { status: u16, latency: Duration },
    /// The integration failed or timed out (`ExecutionError`); `connect` for `$connect`.
    Failed { connect: bool, latency: Duration },
    /// A message no route took (`ClientError`).
    NoRoute,
}

/// One route's counters on one shard.
#[derive(Debug, Default)]
struct Cells {
    connects: AtomicU64,
    messages: AtomicU64,
    integration_errors: AtomicU64,
    client_errors: AtomicU64,
    execution_errors: AtomicU64,
    integration_latency: Histogram,
}

impl Cells {
    fn record(&self, event: Event) {
        let (latency, status) = match event {
            Event::Connect { status, latency } => {
                bump(&self.connects, 1);
                (latency, status)
            }
            Event::Message { status, latency } => {
                bump(&self.messages, 1);
                (latency, status)
            }
            Event::Failed { connect, latency } => {
                bump(
                    if connect {
                        &self.connects
                    } else {
                        &self.messages
                    },
                    1,
                );
                bump(&self.execution_errors, 1);
                self.integration_latency.observe(latency);
                return;
            }
            Event::NoRoute => {
                bump(&self.messages, 1);
                bump(&self.client_errors, 1);
                return;
            }
        };
        if (400..600).contains(&status) {
            bump(&self.integration_errors, 1);
        }
        self.integration_latency.observe(latency);
    }
}

/// A route summed over shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub connects: u64,
    pub messages: u64,
    pub integration_errors: u64,
    pub client_errors: u64,
    pub execution_errors: u64,
    pub integration_latency: HistogramTotals,
}

/// A shard's table of route counters, blocks allocated on first use.
#[derive(Debug)]
pub struct WsTable {
    segments: Box<[OnceLock<Box<[Cells]>>]>,
}

impl Default for WsTable {
    fn default() -> Self {
        WsTable {
            segments: (0..SEGMENTS).map(|_| OnceLock::new()).collect(),
        }
    }
}

impl WsTable {
    /// Counts `event` in route series `series`.
    pub fn record(&self, series: u32, event: Event) {
        let id = (series as usize).min(SEGMENTS * SEGMENT - 1);
        let segment = self.segments[id / SEGMENT]
            .get_or_init(|| (0..SEGMENT).map(|_| Cells::default()).collect());
        segment[id % SEGMENT].record(event);
    }

    fn add_to(&self, series: usize, acc: &mut Totals) {
        let Some(c) = self.segments.get(series / SEGMENT).and_then(|s| s.get()) else {
            return;
        };
        let c = &c[series % SEGMENT];
        acc.connects += c.connects.load(Ordering::Relaxed);
        acc.messages += c.messages.load(Ordering::Relaxed);
        acc.integration_errors += c.integration_errors.load(Ordering::Relaxed);
        acc.client_errors += c.client_errors.load(Ordering::Relaxed);
        acc.execution_errors += c.execution_errors.load(Ordering::Relaxed);
        c.integration_latency.add_to(&mut acc.integration_latency);
    }
}

/// Appends the WebSocket families (routes that counted something) to a scrape.
pub fn render(out: &mut String, tables: &[&WsTable]) {
    let routes: Vec<(SeriesKey, Totals)> = series::all()
        .into_iter()
        .enumerate()
        .filter(|(_, key)| &*key.method == ROUTE)
        .map(|(i, key)| {
            let mut acc = Totals::default();
            for t in tables {
                t.add_to(i, &mut acc);
            }
            (key, acc)
        })
        .filter(|(_, t)| t.connects + t.messages > 0)
        .collect();
    type Of = fn(&Totals) -> u64;
    let counters: [(&str, &str, Of); 5] = [
        (
            "tollgate_websocket_connect_count",
            "Messages sent to the $connect route integration (AWS ConnectCount).",
            |t| t.connects,
        ),
        (
            "tollgate_websocket_message_count",
            "Messages from clients (AWS MessageCount).",
            |t| t.messages,
        ),
        (
            "tollgate_websocket_integration_error",
            "Integration answers with a 4XX or 5XX status (AWS IntegrationError).",
            |t| t.integration_errors,
        ),
        (
            "tollgate_websocket_client_error",
            "4XX answers before any integration ran (AWS ClientError).",
            |t| t.client_errors,
        ),
        (
            "tollgate_websocket_execution_error",
            "Integrations that failed or timed out (AWS ExecutionError).",
            |t| t.execution_errors,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (key, t) in &routes {
            let _ = writeln!(out, "{name}{{{}}} {}", labels(key), value(t));
        }
    }
    let name = "tollgate_websocket_integration_latency_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time the route's integration took (AWS IntegrationLatency)."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (key, t) in &routes {
        super::exposition::histogram_lines(out, name, &labels(key), &t.integration_latency);
    }
}

fn labels(key: &SeriesKey) -> String {
    let mut out = String::from("api=\"");
    super::exposition::escape_into(&mut out, &key.api);
    out.push_str("\",stage=\"");
    super::exposition::escape_into(&mut out, &key.stage);
    out.push_str("\",route=\"");
    super::exposition::escape_into(&mut out, &key.resource);
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_count_as_aws_defines_the_metrics() {
        let table = WsTable::default();
        let ms = Duration::from_millis(1);
        table.record(
            3,
            Event::Connect {
                status: 200,
                latency: ms,
            },
        );
        table.record(
            3,
            Event::Message {
                status: 502,
                latency: ms,
            },
        );
        table.record(
            3,
            Event::Failed {
                connect: false,
                latency: ms,
            },
        );
        table.record(3, Event::NoRoute);
        let mut t = Totals::default();
        table.add_to(3, &mut t);
        assert_eq!(
            (
                t.connects,
                t.messages,
                t.integration_errors,
                t.execution_errors,
                t.client_errors
            ),
            (1, 3, 1, 1, 1)
        );
        assert_eq!(t.integration_latency.buckets.iter().sum::<u64>(), 3);
    }
}
