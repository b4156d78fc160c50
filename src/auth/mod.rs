//! Who may call: the compiled authorization of APIs and methods, and the leaves that decide.
//!
//! - [`policy`]: IAM policy documents (a REST API's resource policy; the policy a Lambda
//!   authorizer returns), compiled once into matchers;
//! - [`arn`]: the method ARN a request is decided on;
//! - [`lambda`]: Lambda authorizers (`TOKEN`, `REQUEST`): identity sources, the event, the
//!   result;
//! - [`cache`]: each shard's cache of authorizer results.
//!
//! The pipeline's authorization phase (`pipeline::authorize`) calls these in AWS's order and
//! combines their answers ("How API Gateway resource policies affect authorization workflow",
//! developer guide); nothing here touches a connection.

pub mod arn;
pub mod cache;
pub mod lambda;
pub mod policy;

use std::sync::Arc;

pub use lambda::LambdaAuthorizer;
pub use policy::{Decision, Policy};

/// An API's authorization settings.
#[derive(Debug, Default)]
pub struct ApiAuth {
    /// The resource policy (AWS `RestApi.policy`), with `execute-api:/` resources expanded.
    pub policy: Option<Policy>,
    /// Where the API key of a request comes from (`RestApi.apiKeySource`).
    pub api_key_source: ApiKeySource,
    /// Region of the API's ARNs (`[server] region`).
    pub region: Box<str>,
    /// Account of the API's ARNs (`[lambda] account_id`).
    pub account: Box<str>,
}

/// `apiKeySource`: `HEADER` (`x-api-key`, the default) or `AUTHORIZER` (the Lambda
/// authorizer's `usageIdentifierKey`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ApiKeySource {
    /// The `x-api-key` header.
    #[default]
    Header,
    /// The authorizer's `usageIdentifierKey`.
    Authorizer,
}

/// How one method is authorized (`Method.authorizationType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Authorization {
    /// `NONE`: only the resource policy, if the API has one.
    #[default]
    None,
    /// `CUSTOM`: the stage's Lambda authorizer with this index (`Stage::authorizers`).
    Custom(u16),
}

/// A stage's Lambda authorizers, by the index methods refer to them with.
pub type StageAuthorizers = Box<[Arc<LambdaAuthorizer>]>;
