//! A hosted function as the snapshot holds it (`[functions.NAME]` in `gateway.toml`, checked
//! by `config::functions`).

use std::path::PathBuf;
use std::time::Duration;

/// One hosted function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// `FunctionName` (`AWS_LAMBDA_FUNCTION_NAME`).
    pub name: Box<str>,
    /// The worker's argv, e.g. `["python3", "-m", "awslambdaric", "app.handler"]`.
    pub command: Box<[String]>,
    /// `_HANDLER`, when set.
    pub handler: Option<Box<str>>,
    /// Where the worker runs (`LAMBDA_TASK_ROOT`); the gateway's own directory when unset.
    pub working_dir: Option<PathBuf>,
    /// Extra environment, after the standard Lambda variables.
    pub env: Box<[(String, String)]>,
    /// Deadline of one invocation (Lambda: 1..=900 s, default 3 s).
    pub timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` in MB, enforced as the worker's `RLIMIT_DATA`.
    pub memory_mb: u32,
    /// Reserved concurrency: most workers at once on the node, split between shards.
    pub concurrency: u32,
    /// Workers started at boot, split between shards.
    pub prewarm: u32,
    /// Invocations a shard holds waiting for a worker before it answers as Lambda throttling.
    pub queue: u32,
    /// Idle workers beyond `prewarm` are stopped after this long.
    pub idle_timeout: Duration,
    /// Qualifiers that name this function (`function:NAME:ALIAS`); `$LATEST` always does.
    pub aliases: Box<[Box<str>]>,
    /// `AWS_REGION` of the worker and the region of its ARN.
    pub region: Box<str>,
    /// Account of its ARN.
    pub account_id: Box<str>,
}

impl FunctionSpec {
    /// `arn:aws:lambda:{region}:{account}:function:{name}[:{qualifier}]`, as
    /// `Lambda-Runtime-Invoked-Function-Arn` gives it.
    pub fn arn(&self, qualifier: Option<&str>) -> String {
        let mut arn = format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account_id, self.name
        );
        if let Some(q) = qualifier {
            arn.push(':');
            arn.push_str(q);
        }
        arn
    }

    /// Whether `qualifier` (after `NAME:`) names this function.
    pub fn answers_to(&self, qualifier: Option<&str>) -> bool {
        match qualifier {
            None | Some("$LATEST") => true,
            Some(q) => self.aliases.iter().any(|a| &**a == q),
        }
    }

    /// This shard's share of `total` (reserved concurrency or prewarm) among `shards`: an even
    /// split, the remainder to the first shards, and never less than one worker where a
    /// concurrency is split (every shard must be able to answer).
    pub fn share(total: u32, shards: usize, shard: usize, at_least_one: bool) -> u32 {
        let shards = shards.max(1) as u32;
        let shard = shard as u32;
        let share = total / shards + u32::from(shard < total % shards);
        if at_least_one {
            share.max(1)
        } else {
            share
        }
    }
}

/// The function a Lambda function ARN or name names: `NAME`, `NAME:QUALIFIER`,
/// `ACCOUNT:function:NAME[:QUALIFIER]` or `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`
/// (the forms the Invoke API's `FunctionName` accepts).
pub fn function_name(function: &str) -> (&str, Option<&str>) {
    let rest = match function.find("function:") {
        Some(i) => &function[i + "function:".len()..],
        None => function,
    };
    match rest.split_once(':') {
        Some((name, qualifier)) => (name, Some(qualifier)),
        None => (rest, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_out_of_every_arn_form() {
        assert_eq!(function_name("hello"), ("hello", None));
        assert_eq!(function_name("hello:live"), ("hello", Some("live")));
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:hello:7"),
            ("hello", Some("7"))
        );
        assert_eq!(
            function_name("123456789012:function:hello"),
            ("hello", None)
        );
    }

    #[test]
    fn shares_split_evenly_and_keep_one_per_shard() {
        let shares: Vec<u32> = (0..3).map(|s| FunctionSpec::share(7, 3, s, true)).collect();
        assert_eq!(shares, [3, 2, 2]);
        let shares: Vec<u32> = (0..3).map(|s| FunctionSpec::share(1, 3, s, true)).collect();
        assert_eq!(shares, [1, 1, 1]);
        let shares: Vec<u32> = (0..3)
            .map(|s| FunctionSpec::share(1, 3, s, false))
            .collect();
        assert_eq!(shares, [1, 0, 0]);
    }
}
