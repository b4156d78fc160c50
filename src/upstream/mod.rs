//! Outbound calls a shard makes on behalf of a request, other than `HTTP_PROXY` streaming:
//! the Lambda Invoke API client and the AWS Signature Version 4 signer it uses.

pub mod client;
pub mod invoke;
pub mod pool;
pub mod sigv4;
