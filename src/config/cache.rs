//! Stage cache settings: file model, checks and compilation.
//!
//! Names follow AWS's stage and method settings in snake case: on a stage
//! `cache_cluster_enabled`, `cache_cluster_size` (GB), `cache_ttl_in_seconds`,
//! `caching_enabled`, `require_authorization_for_cache_control`,
//! `unauthorized_cache_control_header_strategy`, overridden per method in
//! `[stages.NAME.method_settings."METHOD /path"]` (see [`super::method_settings`], which also
//! holds the method's throttle); on a deployment's method
//! `cache_key_parameters = ["method.request.querystring.NAME", "method.request.header.NAME"]`.

use std::fmt;
use std::hash::{Hash, Hasher};

use serde::de::{Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::error::Sink;
use super::load::Source;
use super::method_settings::MethodEntry;
use super::model::{ApiFile, StageModel};
use super::uri::PathParam;
use crate::cache::{
    KeyParam, MethodCacheSettings, StageCache, UnauthorizedStrategy, CLUSTER_SIZES,
};

/// Range of `cache_ttl_in_seconds` (AWS: 0 to 3600; 0 disables caching).
const TTL_RANGE: (i64, i64) = (0, 3600);
/// AWS's spellings of the strategies, for messages.
const STRATEGIES: &str =
    "FAIL_WITH_403, SUCCEED_WITH_RESPONSE_HEADER or SUCCEED_WITHOUT_RESPONSE_HEADER";

/// `cache_cluster_size` as written: AWS spells sizes as strings ("0.5"), people write numbers
/// (0.5, 118); both are accepted and compared as text.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSize(pub String);

impl<'de> Deserialize<'de> for CacheSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = CacheSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a cache size in GB: {}", CLUSTER_SIZES.join(", "))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CacheSize, E> {
                Ok(CacheSize(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<CacheSize, E> {
                Ok(CacheSize(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<CacheSize, E> {
                Ok(CacheSize(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<CacheSize, E> {
                Ok(CacheSize(v.to_string()))
            }
        }
        d.deserialize_any(SizeVisitor)
    }
}

/// A stage's checked cache settings.
#[derive(Debug, Clone, Default)]
pub struct ValidStageCache {
    /// `cache_cluster_enabled`.
    pub enabled: bool,
    /// Capacity in bytes (from `cache_cluster_size`, default 0.5 GB).
    pub capacity_bytes: u64,
    /// Stage-wide settings.
    pub defaults: MethodCacheSettings,
    /// Per-method overrides: (method, resource path, settings).
    pub overrides: Vec<(String, String, MethodCacheSettings)>,
}

/// Checks of one stage's cache settings, with the cache fields of its `method_settings`
/// entries (whose keys are already checked); problems go to `sink`.
pub(crate) fn stage(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    stage_field: &str,
    model: &StageModel,
    methods: &[MethodEntry<'_>],
) -> ValidStageCache {
    let mut check = Check { src, sink };
    let size = match &model.cache_cluster_size {
        None => 0.5,
        Some(s) => check.size(s, &format!("{stage_field}.cache_cluster_size")),
    };
    let defaults = check.settings(
        CacheFields {
            enabled: model.caching_enabled,
            ttl: &model.cache_ttl_in_seconds,
            require_authorization: model.require_authorization_for_cache_control,
            strategy: &model.unauthorized_cache_control_header_strategy,
        },
        stage_field,
        &MethodCacheSettings::default(),
    );
    let mut overrides = Vec::new();
    for entry in methods.iter().filter(|e| e.settings.has_cache_settings()) {
        let m = entry.settings;
        let fields = CacheFields {
            enabled: m.caching_enabled,
            ttl: &m.cache_ttl_in_seconds,
            require_authorization: m.require_authorization_for_cache_control,
            strategy: &m.unauthorized_cache_control_header_strategy,
        };
        let settings = check.settings(fields, &entry.field, &defaults);
        overrides.push((entry.method.to_string(), entry.path.to_string(), settings));
    }
    ValidStageCache {
        enabled: model.cache_cluster_enabled.unwrap_or(false),
        capacity_bytes: (size * 1024.0 * 1024.0 * 1024.0) as u64,
        defaults,
        overrides,
    }
}

/// A method's `cache_key_parameters`, checked.
pub(crate) fn key_params(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    method_field: &str,
    names: &[Spanned<String>],
    params: &[PathParam],
) -> Box<[KeyParam]> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let field = format!("{method_field}.cache_key_parameters[{i}]");
        match key_param(name.get_ref(), params) {
            Ok(Some(p)) if !out.contains(&p) => out.push(p),
            Ok(_) => {}
            Err(message) => sink.at(&src.path, src.line(name), field, message),
        }
    }
    out.into()
}

/// One cache key parameter; `Ok(None)` for path parameters, which are always in the key.
fn key_param(name: &str, params: &[PathParam]) -> Result<Option<KeyParam>, String> {
    let valid_token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if let Some(q) = name.strip_prefix("method.request.querystring.") {
        if !q.is_empty() && !q.contains(['&', '=', '#', ' ']) {
            return Ok(Some(KeyParam::Query(q.into())));
        }
    } else if let Some(h) = name.strip_prefix("method.request.header.") {
        if valid_token(h) {
            return Ok(Some(KeyParam::Header(h.to_ascii_lowercase().into())));
        }
    } else if let Some(p) = name.strip_prefix("method.request.path.") {
        if params.iter().any(|x| x.name == p) {
            return Ok(None);
        }
        return Err(format!(
            "`{name}`: the resource has no path parameter `{p}`"
        ));
    }
    Err(format!(
        "`{name}` is not a cache key parameter: use method.request.querystring.NAME, method.request.header.NAME or method.request.path.NAME"
    ))
}

/// The snapshot's cache of a stage, or `None` when the stage does not cache.
pub(crate) fn compile_stage(
    api_id: &str,
    stage_name: &str,
    deployment_id: &str,
    valid: &ValidStageCache,
) -> Option<Box<StageCache>> {
    if !valid.enabled {
        return None;
    }
    // `DefaultHasher::new()` hashes alike in every call, so equal settings give equal
    // fingerprints in every snapshot of this process.
    let mut h = std::hash::DefaultHasher::new();
    deployment_id.hash(&mut h);
    valid.capacity_bytes.hash(&mut h);
    valid.defaults.hash(&mut h);
    valid.overrides.hash(&mut h);
    Some(Box::new(StageCache {
        id: format!("{api_id}/{stage_name}").into(),
        key_id: format!("{api_id}/{stage_name}").into(),
        fingerprint: h.finish(),
        capacity_bytes: valid.capacity_bytes,
        defaults: valid.defaults.clone(),
        overrides: valid
            .overrides
            .iter()
            .map(|(m, p, s)| (m.as_str().into(), p.as_str().into(), s.clone()))
            .collect(),
    }))
}

struct Check<'a> {
    src: &'a Source<ApiFile>,
    sink: &'a mut Sink,
}

/// The cache fields a stage and a `method_settings` entry share (serde's `flatten` cannot be
/// combined with `deny_unknown_fields`, so each model declares them itself).
struct CacheFields<'m> {
    enabled: Option<bool>,
    ttl: &'m Option<Spanned<i64>>,
    require_authorization: Option<bool>,
    strategy: &'m Option<Spanned<String>>,
}

impl Check<'_> {
    /// Checked settings from `fields`, each missing one taken from `base`.
    fn settings(
        &mut self,
        fields: CacheFields<'_>,
        field: &str,
        base: &MethodCacheSettings,
    ) -> MethodCacheSettings {
        MethodCacheSettings {
            enabled: fields.enabled.or(base.enabled),
            ttl_secs: self.ttl(fields.ttl, field, base.ttl_secs),
            require_authorization: fields
                .require_authorization
                .unwrap_or(base.require_authorization),
            strategy: self.strategy(fields.strategy, field, base.strategy),
        }
    }

    fn error<T>(&mut self, at: &Spanned<T>, field: &str, message: impl Into<String>) {
        let line = self.src.line(at);
        self.sink.at(&self.src.path, line, field, message);
    }

    fn size(&mut self, size: &Spanned<CacheSize>, field: &str) -> f64 {
        let text = &size.get_ref().0;
        let value = text.parse::<f64>().ok();
        let known = CLUSTER_SIZES
            .iter()
            .filter_map(|s| s.parse::<f64>().ok())
            .find(|gb| Some(*gb) == value);
        match known {
            Some(gb) => gb,
            None => {
                let message = format!(
                    "`{text}` is not a cache cluster size: use one of {} (GB)",
                    CLUSTER_SIZES.join(", ")
                );
                self.error(size, field, message);
                0.5
            }
        }
    }

    fn ttl(&mut self, ttl: &Option<Spanned<i64>>, field: &str, default: u32) -> u32 {
        let Some(ttl) = ttl else {
            return default;
        };
        let n = *ttl.get_ref();
        if (TTL_RANGE.0..=TTL_RANGE.1).contains(&n) {
            return n as u32;
        }
        let message = format!("must be between 0 and 3600 seconds, got {n}");
        self.error(ttl, &format!("{field}.cache_ttl_in_seconds"), message);
        default
    }

    fn strategy(
        &mut self,
        value: &Option<Spanned<String>>,
        field: &str,
        default: UnauthorizedStrategy,
    ) -> UnauthorizedStrategy {
        let Some(value) = value else {
            return default;
        };
        match UnauthorizedStrategy::parse(value.get_ref()) {
            Some(s) => s,
            None => {
                let message = format!("`{}` is not a strategy: use {STRATEGIES}", value.get_ref());
                let field = format!("{field}.unauthorized_cache_control_header_strategy");
                self.error(value, &field, message);
                default
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads a one-API directory whose API file is `api`.
    fn load_api(api: &str) -> crate::snapshot::Snapshot {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("gateway.toml"),
            "[server]\nlisten = [\"127.0.0.1:0\"]\nshards = 2\ndefault_api = \"petstore\"\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("apis")).unwrap();
        std::fs::write(dir.path().join("apis/petstore.toml"), api).unwrap();
        match crate::config::load(dir.path(), 1) {
            Ok(loaded) => loaded.snapshot,
            Err(e) => panic!("{e}"),
        }
    }

    const API: &str = r#"id = "petstore"
[stages.prod]
deployment = "v1"
cache_cluster_enabled = true
cache_cluster_size = "1.6"
cache_ttl_in_seconds = 120
unauthorized_cache_control_header_strategy = "FAIL_WITH_403"
[stages.prod.method_settings."GET /pets/{id}"]
cache_ttl_in_seconds = 5
[stages.dev]
deployment = "v1"
[deployments.v1.methods."GET /pets/{id}"]
integration = { type = "HTTP_PROXY", uri = "http://127.0.0.1:9/pets/{id}" }
cache_key_parameters = ["method.request.querystring.type", "method.request.header.X-Tenant", "method.request.path.id"]
"#;

    #[test]
    fn stage_and_method_settings_compile_into_the_snapshot() {
        let snapshot = load_api(API);
        let api = &snapshot.apis["petstore"];
        assert!(api.stages["dev"].cache.is_none(), "off by default");
        let cache = api.stages["prod"].cache.as_deref().expect("prod caches");
        assert_eq!(&*cache.id, "petstore/prod");
        assert_eq!(
            cache.capacity_bytes,
            (1.6 * 1024.0 * 1024.0 * 1024.0) as u64
        );
        assert_eq!(cache.defaults.ttl_secs, 120);
        assert_eq!(cache.defaults.strategy, UnauthorizedStrategy::FailWith403);
        assert!(cache.defaults.require_authorization);
        let (method, path, settings) = &cache.overrides[0];
        assert_eq!((&**method, &**path), ("GET", "/pets/{id}"));
        // The override changes the TTL and inherits the rest from the stage.
        assert_eq!(settings.ttl_secs, 5);
        assert_eq!(settings.strategy, UnauthorizedStrategy::FailWith403);
        let mut params = crate::router::Params::default();
        let m = api.stages["prod"]
            .router
            .find(Some(crate::router::HttpMethod::Get), "/pets/1", &mut params)
            .unwrap();
        assert_eq!(cache.settings_for(m).ttl_secs, 5);
        assert_eq!(
            &*m.cache_key,
            &[
                KeyParam::Query("type".into()),
                KeyParam::Header("x-tenant".into())
            ]
        );
    }

    #[test]
    fn fingerprints_change_with_settings_and_deployment_only() {
        let a = load_api(API);
        let b = load_api(&API.replace(
            "[stages.dev]",
            "[stages.qa]\ndeployment = \"v1\"\n[stages.dev]",
        ));
        let c = load_api(&API.replace("cache_ttl_in_seconds = 120", "cache_ttl_in_seconds = 121"));
        let fp = |s: &crate::snapshot::Snapshot| {
            s.apis["petstore"].stages["prod"]
                .cache
                .as_ref()
                .unwrap()
                .fingerprint
        };
        assert_eq!(fp(&a), fp(&b));
        assert_ne!(fp(&a), fp(&c));
        // A method_settings entry that only throttles is not a cache setting: adding one
        // must not flush the stage's cache on reload.
        let post = format!(
            "{API}[deployments.v1.methods.\"POST /pets\"]\nintegration = {{ type = \"MOCK\" }}\n"
        );
        let throttled = post.replace(
            "[stages.dev]",
            "[stages.prod.method_settings.\"POST /pets\"]\nthrottling_rate_limit = 1\nthrottling_burst_limit = 1\n[stages.dev]",
        );
        assert_eq!(fp(&load_api(&post)), fp(&load_api(&throttled)));
        let cache = load_api(&throttled);
        let cache = cache.apis["petstore"].stages["prod"]
            .cache
            .as_deref()
            .unwrap();
        assert_eq!(
            cache.overrides.len(),
            1,
            "only GET /pets/{{id}} overrides the cache"
        );
    }

    #[test]
    fn key_parameters_follow_aws_names() {
        let params = vec![PathParam {
            name: "id".into(),
            greedy: false,
        }];
        assert_eq!(
            key_param("method.request.querystring.type", &params),
            Ok(Some(KeyParam::Query("type".into())))
        );
        assert_eq!(
            key_param("method.request.header.Accept", &params),
            Ok(Some(KeyParam::Header("accept".into())))
        );
        assert_eq!(key_param("method.request.path.id", &params), Ok(None));
        assert!(key_param("method.request.path.nope", &params).is_err());
        assert!(key_param("querystring.type", &params).is_err());
        assert!(key_param("method.request.header.bad name", &params).is_err());
    }
}
