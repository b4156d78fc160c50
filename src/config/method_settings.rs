//! `[stages.NAME.method_settings."METHOD /path"]`: a stage's per-method settings.
//!
//! AWS keeps one `methodSettings` map per stage, and each entry holds everything that can be
//! overridden for one method: throttling (`throttlingRateLimit`, `throttlingBurstLimit`) and
//! caching (`cachingEnabled`, `cacheTtlInSeconds`, ...). Tollgate mirrors that with one table
//! per method, in snake case, so an operator finds all of a method's overrides in one place and
//! a configuration translates to and from AWS field for field.
//!
//! This module owns the table's shape and its key check (the key must name a method of the
//! stage's deployment); the throttling fields are checked in [`super::traffic`] and the cache
//! fields in [`super::cache`], each from the [`MethodEntry`] list built here, so a bad key is
//! reported once, not once per kind of setting.
//!
//! It also reports the stage-level `method_throttle` table that per-method throttles used to
//! live in, with a message saying where its entries go now.

use std::fmt;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::error::{join_key, Sink};
use super::load::Source;
use super::model::{ApiFile, StageModel};

/// One `[stages.NAME.method_settings."METHOD /path"]` table (AWS `MethodSetting`).
///
/// Every field is optional: what a method leaves out it takes from the stage (`throttle`,
/// `cache_ttl_in_seconds`, ...).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodSettingsModel {
    /// Steady requests per second of the method's own bucket (`throttlingRateLimit`; may be
    /// fractional). Without it the stage's `throttle.rate_limit` is used.
    pub throttling_rate_limit: Option<Spanned<f64>>,
    /// Size of the method's own bucket (`throttlingBurstLimit`). Without it the stage's
    /// `throttle.burst_limit` is used.
    pub throttling_burst_limit: Option<Spanned<i64>>,
    /// Cache this method (default: GET methods only).
    pub caching_enabled: Option<bool>,
    /// TTL of this method's entries, 0..=3600.
    pub cache_ttl_in_seconds: Option<Spanned<i64>>,
    /// Whether `Cache-Control: max-age=0` needs authorization.
    pub require_authorization_for_cache_control: Option<bool>,
    /// What an unauthorized `max-age=0` gets.
    pub unauthorized_cache_control_header_strategy: Option<Spanned<String>>,
    /// Request bytes read before a streaming integration connects (Tollgate's; see
    /// `config::buffering`). Without it the stage's `request_buffer_bytes` is used.
    pub request_buffer_bytes: Option<Spanned<i64>>,
}

impl MethodSettingsModel {
    /// True when the entry overrides a cache setting. Entries that only throttle must not
    /// become cache overrides: those are part of the stage cache's fingerprint, and adding a
    /// throttle to a method would then flush the stage's cache on reload.
    pub fn has_cache_settings(&self) -> bool {
        self.caching_enabled.is_some()
            || self.cache_ttl_in_seconds.is_some()
            || self.require_authorization_for_cache_control.is_some()
            || self.unauthorized_cache_control_header_strategy.is_some()
    }

    /// True when the entry gives the method its own throttle.
    pub fn has_throttle(&self) -> bool {
        self.throttling_rate_limit.is_some() || self.throttling_burst_limit.is_some()
    }
}

/// A `method_settings` entry whose key names a method of the stage's deployment.
#[derive(Debug)]
pub struct MethodEntry<'a> {
    /// The key as written, `"GET /pets"` (what bucket ids and the deployment use).
    pub key: &'a str,
    /// The method part of the key, as written (`GET`, `ANY`).
    pub method: &'a str,
    /// The resource path part of the key.
    pub path: &'a str,
    /// Dotted path of the entry for errors, `stages.prod.method_settings."GET /pets"`.
    pub field: String,
    /// The entry's settings.
    pub settings: &'a MethodSettingsModel,
}

/// The entries of a stage's `method_settings` whose keys name a method of the stage's
/// deployment; the others are reported (once, whatever settings they carry).
pub(crate) fn entries<'a>(
    src: &'a Source<ApiFile>,
    sink: &mut Sink,
    stage_field: &str,
    model: &'a StageModel,
) -> Vec<MethodEntry<'a>> {
    // A stage naming a missing deployment is reported on its own; its method keys cannot be
    // checked, so they are taken as written rather than each reported as unknown.
    let deployment = src
        .model
        .deployments
        .iter()
        .find(|(k, _)| k.get_ref() == model.deployment.get_ref());
    let mut out = Vec::new();
    for (key, settings) in &model.method_settings {
        let text = key.get_ref().as_str();
        let field = join_key(&format!("{stage_field}.method_settings"), text);
        let exists =
            deployment.is_none_or(|(_, d)| d.methods.iter().any(|(k, _)| k.get_ref() == text));
        let parsed = text
            .split_once(' ')
            .filter(|(m, p)| !m.is_empty() && p.starts_with('/'));
        match parsed {
            Some((method, path)) if exists => out.push(MethodEntry {
                key: text,
                method,
                path,
                field,
                settings,
            }),
            _ => {
                let message = format!(
                    "`{text}` is not a method of deployment `{}`: use its method key, e.g. \"GET /pets\"",
                    model.deployment.get_ref()
                );
                sink.at(&src.path, src.line(key), field, message);
            }
        }
    }
    out
}

/// Reports a stage's `method_throttle`, which per-method throttles were written in before
/// they joined the other per-method settings: one error per entry, saying where it goes.
pub(crate) fn report_removed_method_throttle(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    stage_key: &Spanned<String>,
    stage_field: &str,
    model: &StageModel,
) {
    let Some(removed) = &model.removed_method_throttle else {
        return;
    };
    let field = format!("{stage_field}.method_throttle");
    if removed.entries.is_empty() {
        let message = format!(
            "`method_throttle` is no longer a stage setting: give each method its throttle in \
             `[{stage_field}.method_settings.\"METHOD /path\"]` with `throttling_rate_limit` \
             and `throttling_burst_limit`"
        );
        let line = src.key_line(&field).or_else(|| src.line(stage_key));
        sink.at(&src.path, line, field, message);
        return;
    }
    for (key, value) in &removed.entries {
        let table = join_key(&format!("{stage_field}.method_settings"), key.get_ref());
        let setting = |old: &str, new: &str| match value.get(old) {
            Some(v) => format!("{new} = {v}"),
            None => new.to_string(),
        };
        let message = format!(
            "`method_throttle` is no longer a stage setting: move this entry to `[{table}]` as \
             `{}` and `{}` (AWS methodSettings throttlingRateLimit/throttlingBurstLimit)",
            setting("rate_limit", "throttling_rate_limit"),
            setting("burst_limit", "throttling_burst_limit"),
        );
        sink.at(
            &src.path,
            src.line(key),
            join_key(&field, key.get_ref()),
            message,
        );
    }
}

/// Whatever a stage's removed `method_throttle` held, read only so that the migration error
/// can point at each entry's line and repeat its values; any shape is accepted, so that the
/// operator gets that error rather than serde's "unknown field" or "invalid type".
#[derive(Debug, Default)]
pub struct RemovedTable {
    /// The table's keys (`"GET /pets"`) with their values; empty when the value was not a
    /// table or an empty one.
    pub entries: Vec<(Spanned<String>, toml::Value)>,
}

impl<'de> Deserialize<'de> for RemovedTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AnyVisitor;
        impl<'de> Visitor<'de> for AnyVisitor {
            type Value = RemovedTable;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any TOML value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RemovedTable, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value::<toml::Value>()?));
                }
                Ok(RemovedTable { entries })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RemovedTable, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(RemovedTable::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<RemovedTable, E> {
                Ok(RemovedTable::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<RemovedTable, E> {
                Ok(RemovedTable::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<RemovedTable, E> {
                Ok(RemovedTable::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<RemovedTable, E> {
                Ok(RemovedTable::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<RemovedTable, E> {
                Ok(RemovedTable::default())
            }
        }
        d.deserialize_any(AnyVisitor)
    }
}

/// A per-stage table indexed by `Method::index` (the stage's methods as `(index, "METHOD
/// /path")`), each slot `value(key)`: how per-method settings (throttle buckets, request
/// buffering) become arrays the shards index without a lookup.
pub(crate) fn by_method_index<T: Clone>(
    methods: &[(u32, String)],
    mut value: impl FnMut(&str) -> Option<T>,
) -> Vec<Option<T>> {
    let size = methods
        .iter()
        .map(|(i, _)| *i as usize + 1)
        .max()
        .unwrap_or(0);
    let mut table = vec![None; size];
    for (index, key) in methods {
        table[*index as usize] = value(key);
    }
    table
}
