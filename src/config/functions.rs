//! `[functions.NAME]` in `gateway.toml`: Lambda functions the node runs itself (see
//! `crate::function`). An `AWS_PROXY` integration whose function ARN names one (`NAME`,
//! `NAME:ALIAS` with a listed alias, or `$LATEST`, in any ARN form) invokes it on the node;
//! every other function goes to the Invoke API endpoint.
//!
//! ```toml
//! [functions.hello]
//! command = ["python3", "-m", "awslambdaric", "app.handler"]
//! working_dir = "functions/hello"   # relative to the config directory
//! timeout = 3                       # seconds, 1..=900 (Lambda's range and default)
//! memory_size = 128                 # MB, 128..=10240, enforced as RLIMIT_DATA
//! concurrency = 4                   # reserved concurrency: most workers on the node
//! prewarm = 0                       # workers started at boot
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::{join_key, Sink};
use super::load::Source;
use super::model::{Entries, GatewayFile};
use crate::function::FunctionSpec;

/// One `[functions.NAME]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionModel {
    /// The worker's argv.
    pub command: Spanned<Vec<String>>,
    /// `_HANDLER` (runtimes that read it, e.g. `provided` ones).
    pub handler: Option<Spanned<String>>,
    /// The worker's directory (`LAMBDA_TASK_ROOT`), relative to the config directory.
    pub working_dir: Option<Spanned<String>>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: Entries<Spanned<String>, Spanned<String>>,
    /// Seconds, 1..=900 (default 3).
    pub timeout: Option<Spanned<i64>>,
    /// MB, 128..=10240 (default 128).
    pub memory_size: Option<Spanned<i64>>,
    /// Most workers on the node at once (default 10).
    pub concurrency: Option<Spanned<i64>>,
    /// Workers started at boot (default 0).
    pub prewarm: Option<Spanned<i64>>,
    /// Invocations a shard holds waiting for a worker before answering as throttled
    /// (default 100).
    pub queue: Option<Spanned<i64>>,
    /// Seconds an idle worker beyond `prewarm` is kept (default 300).
    pub idle_timeout: Option<Spanned<i64>>,
    /// Qualifiers (`function:NAME:ALIAS` or a version) that name this function.
    #[serde(default)]
    pub aliases: Vec<Spanned<String>>,
}

/// Lambda's defaults and ranges (Lambda developer guide, "Configuring Lambda function
/// options": timeout 3 s, at most 900 s; memory 128 MB to 10,240 MB).
const TIMEOUT_S: (i64, i64, i64) = (1, 900, 3);
const MEMORY_MB: (i64, i64, i64) = (128, 10_240, 128);
const CONCURRENCY: (i64, i64, i64) = (1, 1000, 10);
const PREWARM: (i64, i64, i64) = (0, 1000, 0);
const QUEUE: (i64, i64, i64) = (0, 100_000, 100);
const IDLE_S: (i64, i64, i64) = (1, 86_400, 300);

/// Checks every `[functions.NAME]`; `region` and `account` name their ARNs.
pub(crate) fn gateway_section(
    dir: &Path,
    g: Option<&Source<GatewayFile>>,
    region: &str,
    account: &str,
    sink: &mut Sink,
) -> Vec<Arc<FunctionSpec>> {
    let Some(g) = g else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, model) in &g.model.functions {
        let field = join_key("functions", name.get_ref());
        let before = sink.len();
        let mut int = |v: &Option<Spanned<i64>>, key: &str, (lo, hi, default): (i64, i64, i64)| {
            let Some(v) = v else {
                return default;
            };
            let n = *v.get_ref();
            if !(lo..=hi).contains(&n) {
                let message = format!("must be between {lo} and {hi}, got {n}");
                sink.at(&g.path, g.line(v), format!("{field}.{key}"), message);
            }
            n.clamp(lo, hi)
        };
        let timeout = int(&model.timeout, "timeout", TIMEOUT_S);
        let memory = int(&model.memory_size, "memory_size", MEMORY_MB);
        let concurrency = int(&model.concurrency, "concurrency", CONCURRENCY);
        let prewarm = int(&model.prewarm, "prewarm", PREWARM);
        let queue = int(&model.queue, "queue", QUEUE);
        let idle = int(&model.idle_timeout, "idle_timeout", IDLE_S);
        let name_ok = !name.get_ref().is_empty()
            && name.get_ref().len() <= 64
            && name
                .get_ref()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            let message = format!(
                "`{}` is not a Lambda function name: use 1 to 64 of A-Z a-z 0-9 - _",
                name.get_ref()
            );
            sink.at(&g.path, g.line(name), field.clone(), message);
        }
        if model.command.get_ref().is_empty() {
            let message = "needs the worker's command, e.g. [\"python3\", \"-m\", \"awslambdaric\", \"app.handler\"]";
            sink.at(
                &g.path,
                g.line(&model.command),
                format!("{field}.command"),
                message,
            );
        }
        if prewarm > concurrency {
            let message = format!("prewarm ({prewarm}) is above concurrency ({concurrency})");
            let line = model.prewarm.as_ref().and_then(|p| g.line(p));
            sink.at(&g.path, line, format!("{field}.prewarm"), message);
        }
        let working_dir = model.working_dir.as_ref().map(|d| dir.join(d.get_ref()));
        if let (Some(path), Some(d)) = (&working_dir, &model.working_dir) {
            if !path.is_dir() {
                let message = format!("`{}` is not a directory", path.display());
                sink.at(&g.path, g.line(d), format!("{field}.working_dir"), message);
            }
        }
        if sink.len() != before {
            continue;
        }
        out.push(Arc::new(FunctionSpec {
            name: name.get_ref().as_str().into(),
            command: model.command.get_ref().clone().into_boxed_slice(),
            handler: model.handler.as_ref().map(|h| h.get_ref().as_str().into()),
            working_dir,
            env: model
                .env
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
                .collect(),
            timeout: Duration::from_secs(timeout as u64),
            memory_mb: memory as u32,
            concurrency: concurrency as u32,
            prewarm: prewarm as u32,
            queue: queue as u32,
            idle_timeout: Duration::from_secs(idle as u64),
            aliases: model
                .aliases
                .iter()
                .map(|a| a.get_ref().as_str().into())
                .collect(),
            region: region.into(),
            account_id: account.into(),
        }));
    }
    out
}
