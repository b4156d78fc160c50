//! Integrations: what answers a routed request.
//!
//! The compiled integration settings live in [`crate::snapshot::Integration`]; this module
//! holds the code that runs them. `MOCK` answers from the snapshot; `HTTP_PROXY` forwards over
//! the shard's own keep-alive pool of backend connections (`upstream::pool`). `AWS_PROXY` and `HTTP` join as
//! further modules here and variants there.

pub mod aws_proxy;
pub mod http_proxy;
pub mod mock;
