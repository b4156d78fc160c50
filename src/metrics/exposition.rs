//! Prometheus text exposition (format 0.0.4) of a [`NodeMetrics`].
//!
//! Hand-written rather than through a client library: the values are already aggregated
//! numbers and the library's registry would only add a second copy of every series. Names
//! follow API Gateway's metric names (`Count` → `tollgate_count`, `4XXError` →
//! `tollgate_4xx_error`, ...); label values are escaped as the format requires.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::histogram::{HistogramTotals, BOUNDS_NANOS};
use super::series::{self, SeriesKey};
use super::{NodeMetrics, SeriesTotals, ShardMetrics, ThrottleLevel};

/// A metric family: name, help text, and how to get its value.
type Family<F> = (&'static str, &'static str, F);
type CounterOf = fn(&SeriesTotals) -> u64;
type HistogramOf = fn(&SeriesTotals) -> &HistogramTotals;
type UnroutedOf = fn(&super::Unrouted) -> &AtomicU64;

/// `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything the node reports; `generation` is the snapshot being served.
pub fn render(node: &NodeMetrics, generation: u64) -> String {
    // Series that never counted a request are left out (as CloudWatch has no datapoint
    // without traffic): a large configuration would otherwise make every scrape carry ~50
    // lines per configured method. A series, once present, stays present.
    let (keys, totals): (Vec<SeriesKey>, Vec<SeriesTotals>) = series::all()
        .into_iter()
        .enumerate()
        .map(|(i, key)| (key, node.series_totals(i)))
        .filter(|(_, t)| t.count > 0)
        .unzip();
    let mut out = String::with_capacity(4096 + keys.len() * 4096);
    let counters: [Family<CounterOf>; 5] = [
        ("tollgate_count", "Requests (AWS Count).", |t| t.count),
        (
            "tollgate_4xx_error",
            "Responses with a 4xx status (AWS 4XXError).",
            |t| t.error_4xx,
        ),
        (
            "tollgate_5xx_error",
            "Responses with a 5xx status (AWS 5XXError).",
            |t| t.error_5xx,
        ),
        (
            "tollgate_cache_hit_count",
            "Requests served from the cache (AWS CacheHitCount).",
            |t| t.cache_hit,
        ),
        (
            "tollgate_cache_miss_count",
            "Cacheable requests the cache could not serve (AWS CacheMissCount).",
            |t| t.cache_miss,
        ),
    ];
    for (name, help, value) in counters {
        family(&mut out, name, help, "counter");
        for (key, t) in keys.iter().zip(&totals) {
            sample(&mut out, name, "", key, None, value(t));
        }
    }
    let histograms: [Family<HistogramOf>; 2] = [
        (
            "tollgate_latency_seconds",
            "Time from the complete request head to the end of the response (AWS Latency).",
            |t| &t.latency,
        ),
        (
            "tollgate_integration_latency_seconds",
            "Time from calling the integration to its response head (AWS IntegrationLatency).",
            |t| &t.integration_latency,
        ),
    ];
    for (name, help, value) in histograms {
        family(&mut out, name, help, "histogram");
        for (key, t) in keys.iter().zip(&totals) {
            histogram(&mut out, name, key, value(t));
        }
    }
    gauges(&mut out, node, generation);
    let tables: Vec<&super::functions::FunctionTable> =
        node.shards.iter().map(|s| &s.functions).collect();
    super::functions::render(&mut out, &tables);
    let ws: Vec<&super::websocket::WsTable> = node.shards.iter().map(|s| &s.websocket).collect();
    super::websocket::render(&mut out, &ws);
    out
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample line with the series' labels (and `le` for histogram buckets).
fn sample(out: &mut String, name: &str, suffix: &str, key: &SeriesKey, le: Option<&str>, v: u64) {
    let _ = write!(out, "{name}{suffix}{{api=\"");
    escape_into(out, &key.api);
    out.push_str("\",stage=\"");
    escape_into(out, &key.stage);
    out.push_str("\",method=\"");
    escape_into(out, &key.method);
    out.push_str("\",resource=\"");
    escape_into(out, &key.resource);
    out.push('"');
    if let Some(le) = le {
        let _ = write!(out, ",le=\"{le}\"");
    }
    let _ = writeln!(out, "}} {v}");
}

fn histogram(out: &mut String, name: &str, key: &SeriesKey, h: &HistogramTotals) {
    let mut labels = String::with_capacity(128);
    labels_only(&mut labels, key);
    histogram_lines(out, name, &labels, h);
}

/// A histogram's `_bucket`, `_sum` and `_count` lines with `labels` (already escaped).
pub(super) fn histogram_lines(out: &mut String, name: &str, labels: &str, h: &HistogramTotals) {
    let mut cumulative = 0;
    for (i, n) in h.buckets.iter().enumerate() {
        cumulative += n;
        let le = match BOUNDS_NANOS.get(i) {
            Some(&b) => seconds(b),
            None => "+Inf".to_string(),
        };
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", seconds(h.sum_nanos));
    let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
}

fn labels_only(out: &mut String, key: &SeriesKey) {
    out.push_str("api=\"");
    escape_into(out, &key.api);
    out.push_str("\",stage=\"");
    escape_into(out, &key.stage);
    out.push_str("\",method=\"");
    escape_into(out, &key.method);
    out.push_str("\",resource=\"");
    escape_into(out, &key.resource);
    out.push('"');
}

/// Nanoseconds as decimal seconds (`0.00005`, `2.5`, `30`).
fn seconds(nanos: u64) -> String {
    let s = format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Escapes a label value: backslash, double quote and line feed.
pub fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A gauge with one sample per shard, labelled `shard`.
fn shard_gauge(
    out: &mut String,
    node: &NodeMetrics,
    name: &str,
    help: &str,
    value: impl Fn(&ShardMetrics) -> u64,
) {
    family(out, name, help, "gauge");
    for (i, s) in node.shards.iter().enumerate() {
        let _ = writeln!(out, "{name}{{shard=\"{i}\"}} {}", value(s));
    }
}

fn gauges(out: &mut String, node: &NodeMetrics, generation: u64) {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    shard_gauge(
        out,
        node,
        "tollgate_open_connections",
        "Client connections open, per shard.",
        |s| load(&s.open_connections),
    );
    shard_gauge(
        out,
        node,
        "tollgate_parked_connections",
        "Client connections waiting for a request with their buffers back in the pool, per shard.",
        |s| load(&s.parked_connections),
    );
    family(
        out,
        "tollgate_snapshot_generation",
        "Generation of the configuration being served.",
        "gauge",
    );
    let _ = writeln!(out, "tollgate_snapshot_generation {generation}");
    family(
        out,
        "tollgate_config_reloads_total",
        "Configuration reloads applied.",
        "counter",
    );
    let _ = writeln!(
        out,
        "tollgate_config_reloads_total {}",
        load(&node.reloads.applied)
    );
    family(
        out,
        "tollgate_config_reload_failures_total",
        "Configuration reloads refused (invalid files).",
        "counter",
    );
    let _ = writeln!(
        out,
        "tollgate_config_reload_failures_total {}",
        load(&node.reloads.failed)
    );
    if let Some(link) = node.cluster.get() {
        cluster(out, link);
    }
    family(
        out,
        "tollgate_throttled_requests_total",
        "Requests refused with 429, per throttling level.",
        "counter",
    );
    for level in ThrottleLevel::ALL {
        let n = node.sum(|s| load(&s.throttled[level as usize]));
        let _ = writeln!(
            out,
            "tollgate_throttled_requests_total{{level=\"{}\"}} {n}",
            level.as_str()
        );
    }
    family(
        out,
        "tollgate_access_log_dropped_total",
        "Access-log records dropped because the writer's queue was full.",
        "counter",
    );
    let _ = writeln!(
        out,
        "tollgate_access_log_dropped_total {}",
        node.sum(|s| load(&s.access_log_dropped))
    );
    let unrouted: [Family<UnroutedOf>; 3] = [
        (
            "tollgate_unrouted_count",
            "Requests that reached no API stage (unknown API or stage, unparsable request).",
            |u| &u.count,
        ),
        (
            "tollgate_unrouted_4xx_error",
            "Requests that reached no API stage, answered with a 4xx status.",
            |u| &u.error_4xx,
        ),
        (
            "tollgate_unrouted_5xx_error",
            "Requests that reached no API stage, answered with a 5xx status.",
            |u| &u.error_5xx,
        ),
    ];
    for (name, help, field) in unrouted {
        family(out, name, help, "counter");
        let _ = writeln!(out, "{name} {}", node.sum(|s| load(field(&s.unrouted))));
    }
}

/// Cluster mode: the link to Redis and the fleet as this node sees them.
fn cluster(out: &mut String, link: &crate::cluster::Link) {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let gauges: [(&str, &str, &str, u64); 5] = [
        (
            "tollgate_cluster_redis_up",
            "Whether Redis answered the last sync (0: this node enforces its share of every limit).",
            "gauge",
            u64::from(link.healthy()),
        ),
        (
            "tollgate_cluster_nodes",
            "Live nodes of the fleet, from their heartbeats.",
            "gauge",
            link.nodes(),
        ),
        (
            "tollgate_cluster_fallbacks_total",
            "Times this node lost Redis and fell back to its share of every limit.",
            "counter",
            load(&link.fallbacks),
        ),
        (
            "tollgate_cluster_redis_errors_total",
            "Failed Redis round trips.",
            "counter",
            load(&link.errors),
        ),
        (
            "tollgate_cluster_syncs_total",
            "Lease round trips Redis answered.",
            "counter",
            load(&link.syncs),
        ),
    ];
    for (name, help, kind, value) in gauges {
        family(out, name, help, kind);
        let _ = writeln!(out, "{name} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Outcome;
    use std::time::Duration;

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        escape_into(&mut s, "a\"b\\c\nd");
        assert_eq!(s, r#"a\"b\\c\nd"#);
    }

    #[test]
    fn seconds_are_decimal() {
        assert_eq!(seconds(50_000), "0.00005");
        assert_eq!(seconds(2_500_000_000), "2.5");
        assert_eq!(seconds(30_000_000_000), "30");
        assert_eq!(seconds(0), "0");
    }

    #[test]
    fn a_series_is_rendered_with_cumulative_buckets() {
        let node = NodeMetrics::new(1);
        let id = series::intern("expo-test", "prod", "GET", "/a\"b");
        let o = Outcome {
            status: 404,
            latency: Duration::from_micros(70),
            integration_latency: None,
            cache_hit: None,
        };
        node.shard(0).record(id, &o);
        node.shard(0).record(
            id,
            &Outcome {
                status: 200,
                latency: Duration::from_secs(40),
                ..o
            },
        );
        let text = render(&node, 3);
        let labels = r#"api="expo-test",stage="prod",method="GET",resource="/a\"b""#;
        assert!(
            text.contains(&format!("tollgate_count{{{labels}}} 2\n")),
            "{text}"
        );
        assert!(text.contains(&format!("tollgate_4xx_error{{{labels}}} 1\n")));
        assert!(text.contains(&format!(
            "tollgate_latency_seconds_bucket{{{labels},le=\"0.00005\"}} 0\n"
        )));
        assert!(text.contains(&format!(
            "tollgate_latency_seconds_bucket{{{labels},le=\"0.0001\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "tollgate_latency_seconds_bucket{{{labels},le=\"30\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "tollgate_latency_seconds_bucket{{{labels},le=\"+Inf\"}} 2\n"
        )));
        assert!(text.contains(&format!("tollgate_latency_seconds_count{{{labels}}} 2\n")));
        assert!(text.contains(&format!(
            "tollgate_latency_seconds_sum{{{labels}}} 40.00007\n"
        )));
        assert!(text.contains("tollgate_snapshot_generation 3\n"));
    }
}
