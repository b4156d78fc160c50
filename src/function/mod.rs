//! Lambda functions hosted on the node: unchanged Lambda functions (any runtime client that
//! speaks the Lambda Runtime API, e.g. Python's `awslambdaric` or a `provided` runtime's
//! `bootstrap`) run as worker processes beside the gateway and answer `AWS_PROXY`
//! integrations whose function ARN names them, warm, in milliseconds.
//!
//! Thread-per-core all the way: each shard owns its share of every function's workers
//! ([`host::ShardFunctions`]) and serves each of its workers the Runtime API on a loopback port
//! of its own ([`runtime_api`]), so an invocation never crosses threads. Only starting,
//! killing and reaping processes happens off the shards, on the node's [`spawner`] thread
//! (a `fork`/`exec` and `waitpid` must not block a shard); it tells a shard that a worker
//! exited by calling that worker's Runtime API port, so the shard learns it in its own event
//! loop like any other request.

pub mod host;
pub mod invoke_api;
pub mod runtime_api;
pub mod spawner;
pub mod spec;

pub use host::{HostedError, ShardFunctions};
pub use spawner::Spawner;
pub use spec::FunctionSpec;
