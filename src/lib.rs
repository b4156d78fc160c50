//! Tollgate: a self-hosted API gateway with Amazon API Gateway semantics, built as one
//! independent shard per CPU core on an io_uring runtime.
//!
//! Control plane: [`config`] parses, validates and compiles files into a [`snapshot::Snapshot`];
//! [`reload`] publishes snapshots to shards; [`lifecycle`] turns signals into reloads and
//! shutdowns; [`admin`] serves health checks and cache flushes. Data plane: [`server`] runs the shards and their
//! connections; each request goes through the [`pipeline`] phases, which use [`router`],
//! [`integration`] (with Lambda functions hosted on the node by [`function`]), [`wire`] and the [`http`] codec, and answer errors with
//! [`gateway_response`]s. Everything that decides by time (throttling, quotas, cache TTLs)
//! reads the node's one [`clock`]: real time, or the frozen test clock.

pub mod access_log;
pub mod admin;
pub mod alloc;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod control;
pub mod cors;
pub mod exchange;
pub mod function;
pub mod gateway_response;
pub mod http;
pub mod integration;
pub mod lifecycle;
pub mod mapping;
pub mod metrics;
pub mod pipeline;
pub mod reload;
pub mod router;
pub mod server;
pub mod snapshot;
pub mod systemd;
pub mod template;
#[cfg(test)]
mod testing;
pub mod throttle;
pub mod tls;
pub mod upgrade;
pub mod upstream;
pub mod validate;
pub mod wire;
pub mod ws;
