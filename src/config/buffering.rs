//! Request buffering per stage and method: `request_buffer_bytes` on a stage, and in its
//! `method_settings` entries, override the node's `[limits] request_buffer_bytes`.
//!
//! Tollgate's own setting (AWS API Gateway always reads request bodies whole; its payload
//! limit is 10 MB): a streaming integration (`HTTP_PROXY`) reads a body up to this size before
//! it chooses and connects a backend, as nginx's `proxy_request_buffering`, and streams a
//! longer one. A stage that proxies uploads can stream from the first byte (`0`), a method
//! that must be replayable on a stale pooled connection can buffer more.

use toml::Spanned;

use super::error::Sink;
use super::load::Source;
use super::method_settings::MethodEntry;
use super::model::{ApiFile, StageModel};

/// Largest buffer accepted: AWS's payload limit.
const MAX_BUFFER: i64 = 10 * 1024 * 1024;

/// A stage's checked buffering settings.
#[derive(Debug, Clone, Default)]
pub struct ValidBuffering {
    /// The stage's own size, if set.
    pub stage: Option<u64>,
    /// `method_settings` entries that set one: `("METHOD /path", bytes)`.
    pub methods: Vec<(String, u64)>,
}

/// Checks a stage's `request_buffer_bytes` and those of its `method_settings` entries.
pub(crate) fn stage(
    src: &Source<ApiFile>,
    sink: &mut Sink,
    stage_field: &str,
    model: &StageModel,
    methods: &[MethodEntry<'_>],
) -> ValidBuffering {
    let mut check = |value: &Spanned<i64>, field: String| {
        let n = *value.get_ref();
        if (0..=MAX_BUFFER).contains(&n) {
            return Some(n as u64);
        }
        let message = format!("must be between 0 and {MAX_BUFFER} bytes (10 MiB), got {n}");
        sink.at(&src.path, src.line(value), field, message);
        None
    };
    let stage = model
        .request_buffer_bytes
        .as_ref()
        .and_then(|v| check(v, format!("{stage_field}.request_buffer_bytes")));
    let methods = methods
        .iter()
        .filter_map(|e| {
            let value = e.settings.request_buffer_bytes.as_ref()?;
            let bytes = check(value, format!("{}.request_buffer_bytes", e.field))?;
            Some((e.key.to_string(), bytes))
        })
        .collect();
    ValidBuffering { stage, methods }
}

/// The stage's table, by method index (`Method::index`): the method's own size, else the
/// stage's; `None` where neither is set (the node's limit applies). Empty when nothing is set.
pub(crate) fn compile(valid: &ValidBuffering, methods: &[(u32, String)]) -> Box<[Option<u64>]> {
    if valid.stage.is_none() && valid.methods.is_empty() {
        return Box::default();
    }
    let table = super::method_settings::by_method_index(methods, |key| {
        let own = valid
            .methods
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, b)| *b);
        own.or(valid.stage)
    });
    table.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_overrides_its_stage_and_unset_methods_fall_back() {
        let methods = [(0, "GET /a".to_string()), (2, "POST /b".to_string())];
        let valid = ValidBuffering {
            stage: Some(100),
            methods: vec![("POST /b".into(), 0)],
        };
        assert_eq!(&*compile(&valid, &methods), &[Some(100), None, Some(0)]);
        let only_method = ValidBuffering {
            stage: None,
            methods: vec![("GET /a".into(), 7)],
        };
        assert_eq!(&*compile(&only_method, &methods), &[Some(7), None, None]);
        assert!(compile(&ValidBuffering::default(), &methods).is_empty());
    }
}
