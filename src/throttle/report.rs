//! The usage report of the admin listener, shaped like AWS's `GET
//! /usageplans/{usagePlanId}/usage?keyId=&startDate=&endDate=`:
//! `{"usagePlanId", "startDate", "endDate", "items": {"<keyId>": [[used, remaining], ...]}}`
//! with one pair per day. `remaining` is what was left of the quota period at the end of that
//! day (the quota limit minus the period's usage up to and including that day); a plan
//! without a quota reports 0 like AWS.

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
                let rows = key_rows(store, &key.id, plan_id, plan.quota, start, end)
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
        "items": items,
    }))
}

/// `[used, remaining]` for each day of `start..=end`.
fn key_rows(
    store: &super::Store,
    key: &str,
    plan: &str,
    quota: Option<QuotaSpec>,
    start: u32,
    end: u32,
) -> Result<Vec<Value>, super::StoreError> {
    let first = quota.map_or(start, |q| q.period_start(start).min(start));
    let daily = store.daily(key, plan, first, end)?;
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
        let rows = key_rows(&store, "k", "p", Some(weekly), mon, mon + 7).unwrap();
        assert_eq!(rows[0], json!([2, 8]));
        assert_eq!(rows[1], json!([3, 5]));
        assert_eq!(rows[2], json!([0, 5]));
        assert_eq!(rows[7], json!([1, 9]));
        let none = key_rows(&store, "k", "p", None, mon - 1, mon - 1).unwrap();
        assert_eq!(none, vec![json!([4, 0])]);
    }
}
