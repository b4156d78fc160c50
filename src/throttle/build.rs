//! Compiling the validated traffic configuration into a [`Traffic`] of small indices, and
//! each stage's [`StageTraffic`].
//!
//! Bucket ids name what they limit (`stage petstore/prod GET /pets`, `plan gold key k1`), so
//! that a reload finds the live bucket of an unchanged setting again.

use ahash::AHashMap;

use super::keys::{ApiKey, KeyTable};
use super::{
    Binding, BindingKey, BucketSpec, KeyPlan, Limit, PlanInfo, StageTraffic, Traffic, UsageSettings,
};
use crate::config::traffic::{ValidKey, ValidPlan, ValidTraffic};

/// Collects buckets while APIs are compiled, then yields the [`Traffic`].
#[derive(Debug)]
pub struct TrafficBuilder {
    account: Option<u32>,
    buckets: Vec<BucketSpec>,
    plans: Vec<ValidPlan>,
    keys: Vec<ValidKey>,
    plan_infos: Vec<PlanInfo>,
    key_plans: Vec<KeyPlan>,
    usage: UsageSettings,
    /// Stage method buckets by id: a canary (`snapshot::Canary`) compiles its stage's
    /// buckets again and must get the same ones, so its requests count against the stage.
    stage_buckets: AHashMap<String, u32>,
}

impl TrafficBuilder {
    /// Starts from the checked configuration: account bucket, plans, keys, per-key buckets.
    pub fn new(v: ValidTraffic) -> Self {
        let mut b = TrafficBuilder {
            account: None,
            buckets: Vec::new(),
            plan_infos: v
                .plans
                .iter()
                .map(|p| PlanInfo {
                    id: p.id.as_str().into(),
                    quota: p.quota,
                    key_plans: Vec::new(),
                })
                .collect(),
            plans: v.plans,
            keys: v.keys,
            key_plans: Vec::new(),
            usage: v.usage,
            stage_buckets: AHashMap::new(),
        };
        b.account = v.account.map(|l| b.bucket("account".into(), l));
        for k in 0..b.keys.len() {
            for pi in 0..b.keys[k].plans.len() {
                let p = b.keys[k].plans[pi];
                let bucket = b.plans[p].throttle.map(|l| {
                    let id = format!("plan {} key {}", b.plans[p].id, b.keys[k].id);
                    b.bucket(id, l)
                });
                b.plan_infos[p].key_plans.push(b.key_plans.len() as u32);
                b.key_plans.push(KeyPlan {
                    plan: p as u32,
                    key: k as u32,
                    bucket,
                });
            }
        }
        b
    }

    fn bucket(&mut self, id: String, limit: Limit) -> u32 {
        self.buckets.push(BucketSpec {
            id: id.into(),
            limit,
        });
        (self.buckets.len() - 1) as u32
    }

    /// A stage's buckets and plan bindings. `default` is the stage's `throttle`,
    /// `per_method` the throttles of its `method_settings` entries (`"METHOD /path"`, limit),
    /// and `methods` lists the deployment's methods as (method index, `"METHOD /path"`).
    pub fn stage(
        &mut self,
        api: &str,
        stage: &str,
        default: Option<Limit>,
        per_method: &[(String, Limit)],
        methods: &[(u32, String)],
    ) -> StageTraffic {
        let method_buckets = crate::config::method_settings::by_method_index(methods, |key| {
            let limit = per_method
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, l)| *l)
                .or(default);
            limit.map(|l| {
                let id = format!("stage {api}/{stage} {key}");
                match self.stage_buckets.get(&id) {
                    Some(&known) => known,
                    None => {
                        let made = self.bucket(id.clone(), l);
                        self.stage_buckets.insert(id, made);
                        made
                    }
                }
            })
        });
        let bindings = (0..self.plans.len())
            .filter_map(|p| self.binding(p, api, stage, methods))
            .collect();
        StageTraffic {
            method_buckets,
            bindings,
        }
    }

    /// Plan `p`'s view of the stage, if the plan covers it.
    fn binding(
        &mut self,
        p: usize,
        api: &str,
        stage: &str,
        methods: &[(u32, String)],
    ) -> Option<Binding> {
        let entry = self.plans[p]
            .stages
            .iter()
            .find(|s| s.api == api && s.stage == stage)?;
        let overrides: Vec<(u32, String, Limit)> = entry
            .method_throttle
            .iter()
            .filter_map(|(key, l)| {
                let (i, _) = methods.iter().find(|(_, k)| k == key)?;
                Some((*i, key.clone(), *l))
            })
            .collect();
        let mut keys = AHashMap::new();
        for kp in self.plan_infos[p].key_plans.clone() {
            let key = self.key_plans[kp as usize].key as usize;
            let method_base = self.buckets.len() as u32;
            for (_, method, l) in &overrides {
                let id = format!(
                    "plan {} key {} {api}/{stage} {method}",
                    self.plans[p].id, self.keys[key].id
                );
                self.bucket(id, *l);
            }
            keys.insert(
                key as u32,
                BindingKey {
                    key_plan: kp,
                    method_base,
                },
            );
        }
        Some(Binding {
            plan: p as u32,
            overrides: overrides.iter().map(|(i, _, _)| *i).collect(),
            keys,
        })
    }

    /// The finished traffic configuration (not yet linked to live state).
    pub fn finish(self) -> Traffic {
        let keys = self
            .keys
            .into_iter()
            .map(|k| ApiKey {
                id: k.id.into(),
                value: k.value.into_bytes().into(),
                enabled: k.enabled,
            })
            .collect();
        Traffic {
            account: self.account,
            buckets: self.buckets,
            keys: KeyTable::new(keys),
            plans: self.plan_infos,
            key_plans: self.key_plans,
            usage: self.usage,
            live: Default::default(),
        }
    }
}
