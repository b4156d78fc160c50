//! Tollgate: a self-hosted API gateway with Amazon API Gateway semantics, built as one
//! independent shard per CPU core on an io_uring runtime.
//!
//! Control plane: [`config`] parses, validates and compiles files into a [`snapshot::Snapshot`];
//! [`reload`] publishes snapshots to shards. Data plane: [`server`] runs the shards and their
//! connections; each request goes through the [`pipeline`] phases, which use [`router`],
//! [`integration`] and the [`http`] codec.

pub mod config;
pub mod http;
pub mod router;
pub mod snapshot;
