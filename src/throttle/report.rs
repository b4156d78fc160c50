//! The usage report of the admin listener, shaped like AWS's `GET
//! /usageplans/{usagePlanId}/usage?keyId=&startDate=&endDate=`:
//! `{"usagePlanId", "startDate", "endDate", "values": {"<keyId>": [[used, remaining], ...]}}`
//! (`values` on the wire: botocore's `Usage.items` has `locationName: values`, and SDKs read
//! that key)
//! with one pair per day. `remaining` is what was left of the quota period at the end of that
//! day (the quota limit minus the period's usage up to and including that day); a plan
//! without a quota reports 0 like AWS.
//!
//! In cluster mode the report is the fleet's: the other nodes' counts come from the fleet's
//! usage book in Redis (`cluster::usage`) and are added to this node's own store. With Redis
//! unreachable the report falls back to this node's own record, and says so in the log.

use serde_json::{json, Map, Value};

use super::quota::{parse_day, QuotaSpec};
use super::TrafficNode;
use crate::snapshot::Snapshot;

/// Longest range of days a report may cover (AWS: 90 days).
const MAX_DAYS: u32 = 90;

/// Status and JSON body of a usage request; `query` is the raw query string.
pub fn usage(node: &TrafficNode, snapshot: &Snapshot, plan_id: &str, query: &str) -> (u16, String) {
    match build(node, snapshot, plan_id, query) {
        Ok(v) => (200, v.to_string()),
        Err((status, message)) => (status, json!({ "message": message }).to_string()),
    }
}

fn build(
    node: &TrafficNode,
    snapshot: &Snapshot,
    plan_id: &str,
    query: &str,
) -> Result<Value, (u16, String)> {
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    let bad = |m: &str| (400, m.to_string());
    let start_s = param("startDate").ok_or_else(|| bad("startDate is required (YYYY-MM-DD)"))?;
    let end_s = param("endDate").ok_or_else(|| bad("endDate is required (YYYY-MM-DD)"))?;
    let start = parse_day(start_s).ok_or_else(|| bad("startDate must be YYYY-MM-DD"))?;
    let end = parse_day(end_s).ok_or_else(|| bad("endDate must be YYYY-MM-DD"))?;
    if end < start || end - start >= MAX_DAYS {
        return Err(bad(
            "endDate must be on or after startDate, at most 90 days later",
        ));
    }
    let traffic = &snapshot.traffic;
    let plan = traffic
        .plans
        .iter()
        .find(|p| &*p.id == plan_id)
        .ok_or_else(|| (404, format!("Invalid Usage Plan ID specified: {plan_id}")))?;
    node.flush().map_err(|e| (500, e.to_string()))?;
    let first = plan
        .quota
        .map_or(start, |q| q.period_start(start).min(start));
    let others = others_of(node, plan_id, first, end);
    let key_filter = param("keyId");
    let items = node
        .using_store(|store| {
            let mut items = Map::new();
            for &kp in &plan.key_plans {
                let Some(key) = traffic
                    .key_plans
                    .get(kp as usize)
                    .and_then(|kp| traffic.keys.get(kp.key))
                else {
                    continue;
                };
                if key_filter.is_some_and(|k| k != &*key.id) {
                    continue;
                }
                let range = Range { start, end, first };
                let rows = key_rows(store, &key.id, plan_id, plan.quota, range, &others)
                    .map_err(|e| (500, e.to_string()))?;
                items.insert(key.id.to_string(), Value::Array(rows));
            }
            Ok(items)
        })
        .ok_or_else(|| (503, "usage is not stored on this node".to_string()))??;
    Ok(json!({
        "usagePlanId": plan_id,
        "startDate": start_s,
        "endDate": end_s,
        "values": items,
    }))
}

/// Requests the other nodes of the fleet counted, by (key id, day); empty when the node is
/// alone or Redis is unreachable (the report is then this node's own).
fn others_of(node: &TrafficNode, plan: &str, first: u32, last: u32) -> Others {
    let Some(link) = node.fleet() else {
        return Others::new();
    };
    crate::cluster::usage::others(link, plan, first, last).unwrap_or_else(|e| {
        tracing::warn!("usage report of plan {plan} shows this node's usage only: the fleet's book in Redis is unreachable ({e})");
        Others::new()
    })
}

/// Other nodes' requests by (key id, day).
type Others = ahash::AHashMap<(String, u32), u64>;

/// The days of a report, and the first day read (the start of the quota period holding
/// `start`, for `remaining`).
#[derive(Debug, Clone, Copy)]
struct Range {
    start: u32,
    end: u32,
    first: u32,
}

/// `[used, remaining]` for each day of `start..=end`, this node's count plus `others`.
fn key_rows(
    store: &super::Store,
    key: &str,
    plan: &str,
    quota: Option<QuotaSpec>,
    range: Range,
    others: &Others,
) -> Result<Vec<Value>, super::StoreError> {
    let Range { start, end, first } = range;
    let mut daily = store.daily(key, plan, first, end)?;
    if !others.is_empty() {
        for (day, n) in (first..).zip(daily.iter_mut()) {
            *n += others.get(&(key.to_string(), day)).copied().unwrap_or(0);
        }
    }
    let mut rows = Vec::with_capacity((end - start + 1) as usize);
    for day in start..=end {
        let used = daily[(day - first) as usize];
        let remaining = quota.map_or(0, |q| {
            let from = q.period_start(day);
            let spent: u64 = (from..=day).map(|d| daily[(d - first) as usize]).sum();
            q.limit.saturating_sub(spent)
        });
        rows.push(json!([used, remaining]));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throttle::quota::Period;
    use crate::throttle::Store;

    #[test]
    fn remaining_counts_down_within_a_period_and_resets_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("u.redb")).unwrap();
        let mon = parse_day("2026-11-23").unwrap();
        // Sunday before (previous week), Monday, Tuesday, next Monday.
        store
            .add(&[
                ("k".into(), "p".into(), mon - 1, 4),
                ("k".into(), "p".into(), mon, 2),
                ("k".into(), "p".into(), mon + 1, 3),
                ("k".into(), "p".into(), mon + 7, 1),
            ])
            .unwrap();
        let weekly = QuotaSpec {
            limit: 10,
            period: Period::Week,
            offset: 1,
        };
        let first = weekly.period_start(mon);
        let week = Range {
            start: mon,
            end: mon + 7,
            first,
        };
        let mut others = Others::new();
        others.insert(("k".into(), mon + 1), 1);
        let rows = key_rows(&store, "k", "p", Some(weekly), week, &others).unwrap();
        assert_eq!(rows[0], json!([2, 8]));
        assert_eq!(rows[1], json!([4, 4]), "another node's request counts");
        assert_eq!(rows[2], json!([0, 4]));
        assert_eq!(rows[7], json!([1, 9]));
        let day = Range {
            start: mon - 1,
            end: mon - 1,
            first: mon - 1,
        };
        let none = key_rows(&store, "k", "p", None, day, &Others::new()).unwrap();
        assert_eq!(none, vec![json!([4, 0])]);
    }
}
