//! Configuration of traffic management: the account throttle and usage store
//! (`gateway.toml`), stage throttles and per-method throttles (API files: a stage's
//! `throttle` and the `throttling_*` fields of its `method_settings`), usage plans
//! (`usage_plans.toml`) and API keys (`api_keys.toml` plus `api_keys/*.toml`, where
//! `tollgate keys import` writes).
//!
//! Like the rest of the control plane, every problem is reported as `file:line: field:
//! message` and checking carries on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ahash::{AHashMap, AHashSet};
use serde::Deserialize;
use toml::Spanned;

use super::error::{join_key, Sink};
use super::load::{self, Source};
use super::method_settings::MethodEntry;
use super::model::{ApiFile, Entries, GatewayFile, StageModel};
use super::validate::ValidApi;
use crate::throttle::quota::MAX_LIMIT;
use crate::throttle::{Limit, Period, QuotaSpec, UsageSettings, ACCOUNT_DEFAULT};

/// Usage plans file, in the configuration folder.
pub const PLANS_FILE: &str = "usage_plans.toml";
/// Main API keys file, in the configuration folder.
pub const KEYS_FILE: &str = "api_keys.toml";
/// Folder of further key files (imports), in the configuration folder.
pub const KEYS_DIR: &str = "api_keys";
/// Largest `burst_limit`.
const MAX_BURST: i64 = 1_000_000_000;

/// `throttle = { rate_limit = 100, burst_limit = 50 }` (AWS `rateLimit`, `burstLimit`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleModel {
    /// Steady requests per second (may be fractional).
    pub rate_limit: Spanned<f64>,
    /// Bucket size.
    pub burst_limit: Spanned<i64>,
}

/// `[usage]` of `gateway.toml`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UsageSection {
    /// redb file, relative to the configuration folder (default `usage.redb`).
    pub store: Option<Spanned<String>>,
    /// How often counters are written (1..=60000, default 1000).
    pub flush_interval_ms: Option<Spanned<i64>>,
}

/// `usage_plans.toml`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PlansFile {
    /// `[plans.ID]`.
    #[serde(default)]
    pub plans: Entries<Spanned<String>, PlanModel>,
}

/// `[plans.ID]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanModel {
    /// Human name.
    pub name: Option<Spanned<String>>,
    /// Free text.
    pub description: Option<Spanned<String>>,
    /// Per-key throttle.
    pub throttle: Option<ThrottleModel>,
    /// Per-key quota.
    pub quota: Option<QuotaModel>,
    /// Stages the plan covers.
    #[serde(default)]
    pub stages: Vec<PlanStageModel>,
}

/// `quota = { limit = 1000, period = "DAY", offset = 0 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaModel {
    /// Requests per period.
    pub limit: Spanned<i64>,
    /// `DAY`, `WEEK` or `MONTH`.
    pub period: Spanned<String>,
    /// WEEK: first weekday (0 = Sunday); MONTH: first day of month - 1.
    pub offset: Option<Spanned<i64>>,
}

/// `[[plans.ID.stages]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanStageModel {
    /// API id.
    pub api: Spanned<String>,
    /// Stage name.
    pub stage: Spanned<String>,
    /// Per-key per-method throttles, keyed `"METHOD /path"` as in the deployment.
    #[serde(default)]
    pub method_throttle: Entries<Spanned<String>, ThrottleModel>,
}

/// `api_keys.toml` and `api_keys/*.toml`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    /// `[keys.ID]`.
    #[serde(default)]
    pub keys: Entries<Spanned<String>, KeyModel>,
}

/// `[keys.ID]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyModel {
    /// Human name.
    pub name: Option<Spanned<String>>,
    /// The secret clients send in `x-api-key` (20 to 128 printable ASCII characters).
    pub value: Spanned<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Free text.
    pub description: Option<Spanned<String>>,
    /// Usage plan ids.
    #[serde(default)]
    pub usage_plans: Vec<Spanned<String>>,
}

/// The checked traffic configuration.
#[derive(Debug, Default)]
pub struct ValidTraffic {
    /// Account-level throttle.
    pub account: Option<Limit>,
    /// Store settings.
    pub usage: UsageSettings,
    /// Usage plans in file order.
    pub plans: Vec<ValidPlan>,
    /// Keys in file order.
    pub keys: Vec<ValidKey>,
}

/// A checked usage plan.
#[derive(Debug)]
pub struct ValidPlan {
    /// Plan id.
    pub id: String,
    /// Per-key throttle.
    pub throttle: Option<Limit>,
    /// Per-key quota.
    pub quota: Option<QuotaSpec>,
    /// Stages covered.
    pub stages: Vec<ValidPlanStage>,
}

/// A stage of a plan.
#[derive(Debug)]
pub struct ValidPlanStage {
    /// API id.
    pub api: String,
    /// Stage name.
    pub stage: String,
    /// `("METHOD /path", limit)`.
    pub method_throttle: Vec<(String, Limit)>,
}

/// A checked key.
#[derive(Debug)]
pub struct ValidKey {
    /// Key id.
    pub id: String,
    /// Secret.
    pub value: String,
    /// Enabled.
    pub enabled: bool,
    /// Indices into [`ValidTraffic::plans`].
    pub plans: Vec<usize>,
}

/// A `rate_limit` (requests per second, may be fractional), or why it is invalid; `name` is
/// the setting's name as written, for the message.
fn rate_of(name: &str, rate: f64) -> Result<f64, String> {
    if !rate.is_finite() || rate < 0.0 {
        return Err(format!("{name} must be 0 or more, got {rate}"));
    }
    Ok(rate)
}

/// A `burst_limit` (bucket size), or why it is invalid; `name` as for [`rate_of`].
fn burst_of(name: &str, burst: i64) -> Result<u64, String> {
    if !(0..=MAX_BURST).contains(&burst) {
        return Err(format!(
            "{name} must be between 0 and {MAX_BURST}, got {burst}"
        ));
    }
    Ok(burst as u64)
}

/// A throttle's settings, or the reason they are invalid (`true` when the rate is at fault).
pub fn limit_of(m: &ThrottleModel) -> Result<Limit, (bool, String)> {
    let rate = rate_of("rate_limit", *m.rate_limit.get_ref()).map_err(|e| (true, e))?;
    let burst = burst_of("burst_limit", *m.burst_limit.get_ref()).map_err(|e| (false, e))?;
    Ok(Limit { rate, burst })
}

/// Checks a throttle, reporting at `field.rate_limit` / `field.burst_limit`.
fn check_limit<T>(
    src: &Source<T>,
    sink: &mut Sink,
    field: &str,
    m: &ThrottleModel,
) -> Option<Limit> {
    match limit_of(m) {
        Ok(l) => Some(l),
        Err((on_rate, message)) => {
            let (line, name) = if on_rate {
                (src.line(&m.rate_limit), "rate_limit")
            } else {
                (src.line(&m.burst_limit), "burst_limit")
            };
            sink.at(&src.path, line, format!("{field}.{name}"), message);
            None
        }
    }
}

/// Account throttle and usage store settings from `gateway.toml`.
pub(crate) fn gateway_settings(
    dir: &Path,
    g: Option<&Source<GatewayFile>>,
    sink: &mut Sink,
) -> (Option<Limit>, UsageSettings) {
    let mut usage = UsageSettings {
        store: dir.join(crate::throttle::DEFAULT_STORE),
        ..UsageSettings::default()
    };
    let Some(g) = g else {
        return (Some(ACCOUNT_DEFAULT), usage);
    };
    let account = match &g.model.throttle {
        Some(t) => check_limit(g, sink, "throttle", t),
        None => Some(ACCOUNT_DEFAULT),
    };
    let section = &g.model.usage;
    if let Some(store) = &section.store {
        if store.get_ref().is_empty() {
            sink.at(&g.path, g.line(store), "usage.store", "must be a file path");
        }
        usage.store = dir.join(store.get_ref());
    }
    if let Some(ms) = &section.flush_interval_ms {
        let v = *ms.get_ref();
        if (1..=60_000).contains(&v) {
            usage.flush_interval = Duration::from_millis(v as u64);
        } else {
            let message = format!("must be between 1 and 60000, got {v}");
            sink.at(&g.path, g.line(ms), "usage.flush_interval_ms", message);
        }
    }
    (account, usage)
}

/// A stage's default throttle and its per-method throttles, the latter from the
/// `throttling_rate_limit` / `throttling_burst_limit` of its `method_settings` entries (whose
/// keys are already checked against the deployment).
///
/// A method that gives only one of the two takes the other from the stage's `throttle` (as
/// in AWS, a missing method value inherits the stage default); with no stage throttle to take
/// it from, the missing one is reported rather than guessed.
pub(crate) fn stage_throttles(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    stage_field: &str,
    model: &StageModel,
    methods: &[MethodEntry<'_>],
) -> (Option<Limit>, Vec<(String, Limit)>) {
    let default = model
        .throttle
        .as_ref()
        .and_then(|t| check_limit(src, sink, &format!("{stage_field}.throttle"), t));
    let mut limits = Vec::new();
    for entry in methods.iter().filter(|e| e.settings.has_throttle()) {
        if let Some(l) = method_limit(src, sink, model, default, entry) {
            limits.push((entry.key.to_string(), l));
        }
    }
    (default, limits)
}

/// One method's throttle from its `method_settings` entry, missing values taken from the
/// stage's `default`; `None` when a value is invalid or cannot be inherited (reported).
fn method_limit(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    model: &StageModel,
    default: Option<Limit>,
    entry: &MethodEntry<'_>,
) -> Option<Limit> {
    const RATE: &str = "throttling_rate_limit";
    const BURST: &str = "throttling_burst_limit";
    let m = entry.settings;
    let mut report = |at: &Option<usize>, name: &str, message: String| {
        sink.at(&src.path, *at, format!("{}.{name}", entry.field), message);
    };
    let rate = match &m.throttling_rate_limit {
        Some(r) => rate_of(RATE, *r.get_ref())
            .map_err(|e| report(&src.line(r), RATE, e))
            .ok(),
        None => default.map(|d| d.rate),
    };
    let burst = match &m.throttling_burst_limit {
        Some(b) => burst_of(BURST, *b.get_ref())
            .map_err(|e| report(&src.line(b), BURST, e))
            .ok(),
        None => default.map(|d| d.burst),
    };
    // A stage throttle that is there but invalid is reported already: nothing more to say.
    if default.is_none() && model.throttle.is_none() {
        let given = m
            .throttling_rate_limit
            .as_ref()
            .map(|r| src.line(r))
            .or_else(|| m.throttling_burst_limit.as_ref().map(|b| src.line(b)))
            .flatten();
        for (missing, name, other) in [
            (m.throttling_rate_limit.is_none(), RATE, BURST),
            (m.throttling_burst_limit.is_none(), BURST, RATE),
        ] {
            if missing {
                let message = format!(
                    "not set, and the stage has no `throttle` to take it from: set both {name} \
                     and {other}, or the stage's `throttle`"
                );
                report(&given, name, message);
            }
        }
    }
    Some(Limit {
        rate: rate?,
        burst: burst?,
    })
}

/// Reads and checks `usage_plans.toml` and the key files against the validated APIs.
pub(crate) fn plans_and_keys(
    dir: &Path,
    apis: &[ValidApi],
    extra: &[load::ExtraSource],
    sink: &mut Sink,
) -> (Vec<ValidPlan>, Vec<ValidKey>) {
    let plans_path = dir.join(PLANS_FILE);
    let mut plans = match plans_path.exists() {
        true => load::read_file::<PlansFile>(&plans_path, sink)
            .map(|src| check_plans(&src, apis, sink))
            .unwrap_or_default(),
        false => Vec::new(),
    };
    // The control plane's plans and keys (`crate::control::traffic`), beside the files'.
    for e in extra.iter().filter(|e| e.kind == load::ExtraKind::Plans) {
        let Some(src) = parsed::<PlansFile>(e, sink) else {
            continue;
        };
        for plan in check_plans(&src, apis, sink) {
            if plans.iter().any(|p| p.id == plan.id) {
                let message = format!(
                    "usage plan id `{}` is also used in {}",
                    plan.id,
                    plans_path.display()
                );
                sink.at(&e.path, None, join_key("plans", &plan.id), message);
                continue;
            }
            plans.push(plan);
        }
    }
    let mut keys = key_files(dir)
        .iter()
        .filter_map(|p| load::read_file::<KeysFile>(p, sink))
        .collect::<Vec<_>>();
    for e in extra.iter().filter(|e| e.kind == load::ExtraKind::Keys) {
        keys.extend(parsed::<KeysFile>(e, sink));
    }
    let keys = check_keys(&keys, &plans, sink);
    (plans, keys)
}

/// An extra source parsed like the file it stands beside.
fn parsed<T: serde::de::DeserializeOwned>(
    e: &load::ExtraSource,
    sink: &mut Sink,
) -> Option<Source<T>> {
    sink.file_seen(&e.path);
    let model = load::parse_text::<T>(&e.path, &e.text, sink)?;
    Some(Source {
        path: e.path.clone(),
        text: e.text.clone(),
        model,
    })
}

/// `api_keys.toml` (if present) then `api_keys/*.toml` in name order.
pub fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let main = dir.join(KEYS_FILE);
    if main.exists() {
        out.push(main);
    }
    if let Ok(entries) = std::fs::read_dir(dir.join(KEYS_DIR)) {
        let mut more: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy())
                    .is_some_and(|n| n.ends_with(".toml") && !n.starts_with('.'))
                    && !p.is_dir()
            })
            .collect();
        more.sort();
        out.extend(more);
    }
    out
}

fn check_plans(src: &Source<PlansFile>, apis: &[ValidApi], sink: &mut Sink) -> Vec<ValidPlan> {
    let mut out = Vec::new();
    for (id, model) in &src.model.plans {
        let field = join_key("plans", id.get_ref());
        if !is_id(id.get_ref()) {
            let message = format!(
                "`{}` is not a valid usage plan id: use 1 to 64 of A-Z a-z 0-9 _ -",
                id.get_ref()
            );
            sink.at(&src.path, src.line(id), &field, message);
        }
        let throttle = model
            .throttle
            .as_ref()
            .and_then(|t| check_limit(src, sink, &format!("{field}.throttle"), t));
        let quota = model
            .quota
            .as_ref()
            .and_then(|q| check_quota(src, sink, &format!("{field}.quota"), q));
        let mut stages: Vec<ValidPlanStage> = Vec::new();
        for (i, s) in model.stages.iter().enumerate() {
            let sfield = format!("{field}.stages[{i}]");
            if let Some(stage) = check_plan_stage(src, sink, &sfield, s, apis) {
                if stages
                    .iter()
                    .any(|o| o.api == stage.api && o.stage == stage.stage)
                {
                    let message = format!("stage {}/{} is listed twice", stage.api, stage.stage);
                    sink.at(&src.path, src.line(&s.stage), sfield, message);
                    continue;
                }
                stages.push(stage);
            }
        }
        out.push(ValidPlan {
            id: id.get_ref().clone(),
            throttle,
            quota,
            stages,
        });
    }
    out
}

fn check_quota<T>(
    src: &Source<T>,
    sink: &mut Sink,
    field: &str,
    q: &QuotaModel,
) -> Option<QuotaSpec> {
    let limit = *q.limit.get_ref();
    let mut ok = true;
    if !(0..=MAX_LIMIT as i64).contains(&limit) {
        let message = format!("must be between 0 and {MAX_LIMIT}, got {limit}");
        sink.at(
            &src.path,
            src.line(&q.limit),
            format!("{field}.limit"),
            message,
        );
        ok = false;
    }
    let Some(period) = Period::parse(q.period.get_ref()) else {
        let message = format!("`{}` is not DAY, WEEK or MONTH", q.period.get_ref());
        sink.at(
            &src.path,
            src.line(&q.period),
            format!("{field}.period"),
            message,
        );
        return None;
    };
    let offset = q.offset.as_ref().map_or(0, |o| *o.get_ref());
    if !(0..=period.max_offset() as i64).contains(&offset) {
        let message = format!(
            "must be between 0 and {} for period {}, got {offset}",
            period.max_offset(),
            q.period.get_ref()
        );
        let line = q.offset.as_ref().and_then(|o| src.line(o));
        sink.at(&src.path, line, format!("{field}.offset"), message);
        ok = false;
    }
    ok.then_some(QuotaSpec {
        limit: limit as u64,
        period,
        offset: offset as u32,
    })
}

fn check_plan_stage(
    src: &Source<PlansFile>,
    sink: &mut Sink,
    field: &str,
    s: &PlanStageModel,
    apis: &[ValidApi],
) -> Option<ValidPlanStage> {
    let Some(api) = apis.iter().find(|a| a.id == *s.api.get_ref()) else {
        let message = format!("API `{}` is not defined", s.api.get_ref());
        sink.at(&src.path, src.line(&s.api), format!("{field}.api"), message);
        return None;
    };
    let Some(stage) = api.stages.iter().find(|st| st.name == *s.stage.get_ref()) else {
        let message = format!(
            "API `{}` has no stage `{}`",
            s.api.get_ref(),
            s.stage.get_ref()
        );
        sink.at(
            &src.path,
            src.line(&s.stage),
            format!("{field}.stage"),
            message,
        );
        return None;
    };
    let keys: Vec<String> = api.deployments[stage.deployment]
        .methods
        .iter()
        .map(|m| format!("{} {}", m.method_name, m.resource_path))
        .collect();
    let mut method_throttle = Vec::new();
    for (key, t) in &s.method_throttle {
        let mfield = join_key(&format!("{field}.method_throttle"), key.get_ref());
        if !keys.contains(key.get_ref()) {
            let message = format!(
                "method `{}` is not in stage {}/{}",
                key.get_ref(),
                api.id,
                stage.name
            );
            sink.at(&src.path, src.line(key), mfield, message);
            continue;
        }
        if let Some(l) = check_limit(src, sink, &mfield, t) {
            method_throttle.push((key.get_ref().clone(), l));
        }
    }
    Some(ValidPlanStage {
        api: api.id.clone(),
        stage: stage.name.clone(),
        method_throttle,
    })
}

/// Rules for a key value (AWS: at least 20 characters).
pub fn check_key_value(v: &str) -> Result<(), String> {
    if !(20..=128).contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "an API key value must be 20 to 128 printable ASCII characters without spaces, got {} characters",
            v.chars().count()
        ));
    }
    Ok(())
}

/// 1 to 64 of `[A-Za-z0-9_-]`.
pub fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_keys(files: &[Source<KeysFile>], plans: &[ValidPlan], sink: &mut Sink) -> Vec<ValidKey> {
    let mut out: Vec<ValidKey> = Vec::new();
    let mut ids: AHashMap<String, PathBuf> = AHashMap::new();
    let mut values: AHashSet<String> = AHashSet::new();
    for src in files {
        for (id, k) in &src.model.keys {
            let field = join_key("keys", id.get_ref());
            let before = sink.len();
            if !is_id(id.get_ref()) {
                let message = format!(
                    "`{}` is not a valid key id: use 1 to 64 of A-Z a-z 0-9 _ -",
                    id.get_ref()
                );
                sink.at(&src.path, src.line(id), &field, message);
            } else if let Some(first) = ids.get(id.get_ref()) {
                let message = format!(
                    "key id `{}` is already used in {}",
                    id.get_ref(),
                    first.display()
                );
                sink.at(&src.path, src.line(id), &field, message);
            }
            if let Err(message) = check_key_value(k.value.get_ref()) {
                sink.at(
                    &src.path,
                    src.line(&k.value),
                    format!("{field}.value"),
                    message,
                );
            } else if !values.insert(k.value.get_ref().clone()) {
                let message = "the same key value is used by another key".to_string();
                sink.at(
                    &src.path,
                    src.line(&k.value),
                    format!("{field}.value"),
                    message,
                );
            }
            let mut key_plans = Vec::new();
            for p in &k.usage_plans {
                match plans.iter().position(|plan| plan.id == *p.get_ref()) {
                    Some(i) => key_plans.push(i),
                    None => {
                        let message = format!("usage plan `{}` is not defined", p.get_ref());
                        sink.at(
                            &src.path,
                            src.line(p),
                            format!("{field}.usage_plans"),
                            message,
                        );
                    }
                }
            }
            if let Some(message) = shared_stage(plans, &key_plans) {
                sink.at(
                    &src.path,
                    src.line(id),
                    format!("{field}.usage_plans"),
                    message,
                );
            }
            ids.insert(id.get_ref().clone(), src.path.clone());
            if sink.len() == before {
                out.push(ValidKey {
                    id: id.get_ref().clone(),
                    value: k.value.get_ref().clone(),
                    enabled: k.enabled.unwrap_or(true),
                    plans: key_plans,
                });
            }
        }
    }
    out
}

/// AWS refuses a key in two plans that cover the same stage: which plan would apply?
pub fn shared_stage(plans: &[ValidPlan], key_plans: &[usize]) -> Option<String> {
    for (i, &a) in key_plans.iter().enumerate() {
        for &b in &key_plans[i + 1..] {
            for s in &plans[a].stages {
                if plans[b]
                    .stages
                    .iter()
                    .any(|t| t.api == s.api && t.stage == s.stage)
                {
                    return Some(format!(
                        "plans `{}` and `{}` both cover stage {}/{}; a key may be in only one plan per stage",
                        plans[a].id, plans[b].id, s.api, s.stage
                    ));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("apis")).unwrap();
        std::fs::write(p.join("gateway.toml"), "[server]\ndefault_api = \"shop\"\n").unwrap();
        std::fs::write(
            p.join("apis/shop.toml"),
            "id = \"shop\"\n[stages.prod]\ndeployment = \"v1\"\n[stages.dev]\ndeployment = \"v1\"\n\
             [deployments.v1.methods.\"GET /a\"]\nintegration = { type = \"MOCK\" }\n",
        )
        .unwrap();
        for (name, text) in files {
            let path = p.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn errors(dir: &Path) -> String {
        match crate::config::check(dir) {
            Ok(summary) => panic!("expected errors, got {summary}"),
            Err(e) => e.to_string(),
        }
    }

    const PLANS: &str = "[plans.gold]\n[[plans.gold.stages]]\napi = \"shop\"\nstage = \"prod\"\n\
                         [plans.silver]\n[[plans.silver.stages]]\napi = \"shop\"\nstage = \"prod\"\n";

    #[test]
    fn key_problems_name_file_line_and_field() {
        let keys = "[keys.a]\nvalue = \"short\"\nusage_plans = [\"gold\"]\n\
                    [keys.b]\nvalue = \"bbbbbbbbbbbbbbbbbbbbbbbb\"\nusage_plans = [\"platinum\"]\n\
                    [keys.c]\nvalue = \"cccccccccccccccccccccccc\"\nusage_plans = [\"gold\", \"silver\"]\n";
        let more = "[keys.d]\nvalue = \"bbbbbbbbbbbbbbbbbbbbbbbb\"\n[keys.a]\nvalue = \"aaaaaaaaaaaaaaaaaaaaaaaa\"\n";
        let dir = dir_with(&[
            ("usage_plans.toml", PLANS),
            ("api_keys.toml", keys),
            ("api_keys/more.toml", more),
        ]);
        let e = errors(dir.path());
        assert!(
            e.contains("api_keys.toml:2: keys.a.value: an API key value must be 20 to 128"),
            "{e}"
        );
        assert!(
            e.contains("api_keys.toml:6: keys.b.usage_plans: usage plan `platinum` is not defined"),
            "{e}"
        );
        assert!(
            e.contains("keys.c.usage_plans: plans `gold` and `silver` both cover stage shop/prod"),
            "{e}"
        );
        assert!(
            e.contains("more.toml:2: keys.d.value: the same key value is used by another key"),
            "{e}"
        );
        assert!(
            e.contains("more.toml:3: keys.a: key id `a` is already used in"),
            "{e}"
        );
        assert!(
            !e.contains("bbbbbbbbbbbbbbbbbbbbbbbb"),
            "a key value is echoed: {e}"
        );
    }

    #[test]
    fn quota_and_account_settings_are_range_checked() {
        let plans = "[plans.gold]\nquota = { limit = 10, period = \"WEEK\", offset = 7 }\n\
                     [plans.silver]\nquota = { limit = 10, period = \"YEAR\" }\n";
        let dir = dir_with(&[("usage_plans.toml", plans)]);
        std::fs::write(
            dir.path().join("gateway.toml"),
            "[server]\ndefault_api = \"shop\"\n[throttle]\nrate_limit = 5\nburst_limit = -1\n[usage]\nflush_interval_ms = 0\n",
        )
        .unwrap();
        let e = errors(dir.path());
        assert!(e.contains("usage_plans.toml:2: plans.gold.quota.offset: must be between 0 and 6 for period WEEK, got 7"), "{e}");
        assert!(
            e.contains(
                "usage_plans.toml:4: plans.silver.quota.period: `YEAR` is not DAY, WEEK or MONTH"
            ),
            "{e}"
        );
        assert!(
            e.contains("gateway.toml:5: throttle.burst_limit: burst_limit must be between 0"),
            "{e}"
        );
        assert!(
            e.contains(
                "gateway.toml:7: usage.flush_interval_ms: must be between 1 and 60000, got 0"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_valid_traffic_configuration_compiles() {
        let keys = "[keys.a]\nvalue = \"aaaaaaaaaaaaaaaaaaaaaaaa\"\nusage_plans = [\"gold\"]\n";
        let dir = dir_with(&[("usage_plans.toml", PLANS), ("api_keys.toml", keys)]);
        let loaded = crate::config::load(dir.path(), 1).unwrap();
        let t = &loaded.snapshot.traffic;
        assert_eq!(t.plans.len(), 2);
        assert_eq!(t.key_plans.len(), 1);
        assert_eq!(t.keys.find(b"aaaaaaaaaaaaaaaaaaaaaaaa"), Some(0));
        assert_eq!(
            t.account.map(|i| t.buckets[i as usize].limit),
            Some(crate::throttle::ACCOUNT_DEFAULT)
        );
        let prod = &loaded.snapshot.apis["shop"].stages["prod"];
        assert_eq!(prod.traffic.bindings.len(), 2);
        assert!(loaded.snapshot.apis["shop"].stages["dev"]
            .traffic
            .bindings
            .is_empty());
    }
}
