//! Phase 1b, after routing: API keys, throttling and quotas, in AWS's order.
//!
//! 1. a method with `apiKeyRequired` needs an enabled key (`x-api-key`) that belongs to a
//!    usage plan covering the stage, else 403 `Forbidden`;
//! 2. throttles, most specific first: the plan's per-key per-method limit, the plan's per-key
//!    limit, the stage's per-method (or default) limit, the account limit. Every level that
//!    applies must have a token, else 429 `Too Many Requests`;
//! 3. the plan's quota for the key, else 429 `Limit Exceeded`; an admitted keyed request is
//!    counted in the key's usage.
//!
//! Everything here is an index into the snapshot's tables plus shard-local reads and writes;
//! see `throttle` for how the buckets stay node-wide.

use crate::gateway_response::GatewayResponse;
use crate::metrics::ThrottleLevel;
use crate::pipeline::request_filter::Route;
use crate::snapshot::Snapshot;
use crate::throttle::{Binding, BindingKey, Traffic};

/// Why a request was refused: the response to send and, for a throttle, which level
/// refused it (counted in `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// What the caller gets.
    pub response: GatewayResponse,
    /// The throttling level that had no token, if a throttle refused.
    pub level: Option<ThrottleLevel>,
}

impl From<GatewayResponse> for Refusal {
    fn from(response: GatewayResponse) -> Self {
        Refusal {
            response,
            level: None,
        }
    }
}

/// Admits or refuses a routed request on `shard`; `api_key` is the `x-api-key` header.
pub fn check(
    shard: usize,
    snapshot: &Snapshot,
    route: &Route<'_>,
    api_key: Option<&[u8]>,
) -> Result<(), Refusal> {
    let traffic = &snapshot.traffic;
    let method = route.method.traffic;
    let now = traffic.live.clock.mono_ns();
    let keyed = match method.api_key_required {
        true => Some(authorize(traffic, &route.stage.traffic.bindings, api_key)?),
        false => None,
    };
    if let Some((binding, key)) = keyed {
        if let Some(j) = binding
            .overrides
            .iter()
            .position(|&m| m == route.method.index)
        {
            let bucket = Some(key.method_base + j as u32);
            acquire(traffic, shard, now, bucket, ThrottleLevel::UsagePlanMethod)?;
        }
        let per_key = traffic.key_plans.get(key.key_plan as usize);
        let bucket = per_key.and_then(|kp| kp.bucket);
        acquire(traffic, shard, now, bucket, ThrottleLevel::UsagePlan)?;
    }
    let stage_level = route
        .stage
        .traffic
        .method_buckets
        .get(route.method.index as usize)
        .copied()
        .flatten();
    acquire(traffic, shard, now, stage_level, ThrottleLevel::Stage)?;
    acquire(traffic, shard, now, traffic.account, ThrottleLevel::Account)?;
    if let Some((_, key)) = keyed {
        let kp = key.key_plan as usize;
        let today = traffic.live.clock.unix_day();
        if let Some(quota) = traffic.live.quotas.get(kp).and_then(Option::as_ref) {
            if !quota.try_admit(shard, today) {
                return Err(GatewayResponse::LimitExceeded.into());
            }
        }
        if let Some(usage) = traffic.live.usage.get(kp) {
            // First count since the last flush on this shard: queue it for the flusher.
            if usage.record(shard, today) {
                if let Some(dirty) = &traffic.live.dirty {
                    let _ = dirty.send(std::sync::Arc::clone(usage));
                }
            }
        }
    }
    Ok(())
}

/// The plan binding and key entry of a valid key, or 403.
fn authorize<'t>(
    traffic: &Traffic,
    bindings: &'t [Binding],
    api_key: Option<&[u8]>,
) -> Result<(&'t Binding, BindingKey), GatewayResponse> {
    let sent = api_key.ok_or(GatewayResponse::Forbidden)?;
    let index = traffic.keys.find(sent).ok_or(GatewayResponse::Forbidden)?;
    if !traffic.keys.get(index).is_some_and(|k| k.enabled) {
        return Err(GatewayResponse::Forbidden);
    }
    bindings
        .iter()
        .find_map(|b| b.keys.get(&index).map(|k| (b, *k)))
        .ok_or(GatewayResponse::Forbidden)
}

/// Takes a token from bucket `index` of `level` (none: the level does not apply).
#[inline]
fn acquire(
    traffic: &Traffic,
    shard: usize,
    now: u64,
    index: Option<u32>,
    level: ThrottleLevel,
) -> Result<(), Refusal> {
    match index.and_then(|i| traffic.live.buckets.get(i as usize)) {
        Some(bucket) if !bucket.try_acquire(shard, now) => Err(Refusal {
            response: GatewayResponse::TooManyRequests,
            level: Some(level),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::pipeline::request_filter::route;
    use crate::router::Params;
    use crate::throttle::TrafficNode;

    const KEY: &[u8] = b"aaaaaaaaaaaaaaaaaaaaaaaa";

    /// A linked snapshot: stage burst 3, plan per-key burst 2, key `a` enabled.
    fn snapshot() -> (tempfile::TempDir, Snapshot) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir(p.join("apis")).unwrap();
        std::fs::write(p.join("gateway.toml"), "[server]\ndefault_api = \"shop\"\n").unwrap();
        std::fs::write(
            p.join("apis/shop.toml"),
            "id = \"shop\"\n[stages.prod]\ndeployment = \"v1\"\nthrottle = { rate_limit = 1, burst_limit = 3 }\n\
             [deployments.v1.methods.\"GET /open\"]\nintegration = { type = \"MOCK\" }\n\
             [deployments.v1.methods.\"GET /keyed\"]\napi_key_required = true\nintegration = { type = \"MOCK\" }\n",
        )
        .unwrap();
        std::fs::write(
            p.join("usage_plans.toml"),
            "[plans.gold]\nthrottle = { rate_limit = 1, burst_limit = 2 }\n[[plans.gold.stages]]\napi = \"shop\"\nstage = \"prod\"\n",
        )
        .unwrap();
        std::fs::write(
            p.join("api_keys.toml"),
            "[keys.a]\nvalue = \"aaaaaaaaaaaaaaaaaaaaaaaa\"\nusage_plans = [\"gold\"]\n",
        )
        .unwrap();
        let mut snapshot = crate::config::load(p, 1).unwrap().snapshot;
        TrafficNode::in_memory(2, Clock::fixed(0)).link(&mut snapshot);
        (dir, snapshot)
    }

    fn call(
        s: &Snapshot,
        shard: usize,
        path: &str,
        key: Option<&[u8]>,
    ) -> Result<(), GatewayResponse> {
        refusal(s, shard, path, key).map_err(|r| r.response)
    }

    fn refusal(s: &Snapshot, shard: usize, path: &str, key: Option<&[u8]>) -> Result<(), Refusal> {
        let mut params = Params::default();
        let r = route(s, None, b"GET", path, &mut params, 0).unwrap();
        check(shard, s, &r, key)
    }

    #[test]
    fn keys_are_required_only_where_configured() {
        let (_dir, s) = snapshot();
        assert_eq!(
            call(&s, 0, "/prod/keyed", None),
            Err(GatewayResponse::Forbidden)
        );
        assert_eq!(
            call(&s, 0, "/prod/keyed", Some(b"bbbbbbbbbbbbbbbbbbbbbbbb")),
            Err(GatewayResponse::Forbidden)
        );
        assert_eq!(call(&s, 0, "/prod/keyed", Some(KEY)), Ok(()));
        assert_eq!(call(&s, 1, "/prod/open", None), Ok(()));
    }

    #[test]
    fn the_per_key_level_refuses_before_the_stage_level() {
        let (_dir, s) = snapshot();
        assert_eq!(call(&s, 0, "/prod/keyed", Some(KEY)), Ok(()));
        assert_eq!(call(&s, 1, "/prod/keyed", Some(KEY)), Ok(()));
        assert_eq!(
            refusal(&s, 0, "/prod/keyed", Some(KEY)),
            Err(Refusal {
                response: GatewayResponse::TooManyRequests,
                level: Some(ThrottleLevel::UsagePlan),
            })
        );
        // The refused request took no token from the stage bucket: its third is still there.
        let stage = s
            .traffic
            .buckets
            .iter()
            .position(|b| &*b.id == "stage shop/prod GET /keyed")
            .unwrap();
        let bucket = &s.traffic.live.buckets[stage];
        assert!(bucket.try_acquire(1, 0));
        assert!(!bucket.try_acquire(1, 0));
        assert_eq!(s.traffic.live.usage[0].total(), 2);
    }
}
