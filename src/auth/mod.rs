//! Who may call: the compiled authorization of APIs and methods, and the leaves that decide.
//!
//! - [`policy`]: IAM policy documents (a REST API's resource policy; the policy a Lambda
//!   authorizer returns), compiled once into matchers;
//! - [`arn`]: the method ARN a request is decided on;
//! - [`lambda`]: Lambda authorizers (`TOKEN`, `REQUEST`): identity sources, the event, the
//!   result;
//! - [`jwt`]: Cognito user pool and JWT authorizers' token checks; [`jwks`]: their issuers'
//!   key sets, fetched off the request path;
//! - [`iam`]: `AWS_IAM`, SigV4 verification against the local identity store;
//! - [`cache`]: each shard's cache of authorizer results.
//!
//! The pipeline's authorization phase (`pipeline::authorize`) calls these in AWS's order and
//! combines their answers ("How API Gateway resource policies affect authorization workflow",
//! developer guide); nothing here touches a connection.

pub mod arn;
pub mod cache;
pub mod iam;
pub mod jwks;
pub mod jwt;
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
    /// `CUSTOM` or `COGNITO_USER_POOLS`: the stage's authorizer with this index
    /// (`Stage::authorizers`).
    Authorizer(u16),
    /// `AWS_IAM`: a SigV4 signature of a user of the identity store.
    Iam,
}

/// An authorizer of an API.
#[derive(Debug)]
pub enum Authorizer {
    /// `TOKEN` or `REQUEST`: a Lambda function decides.
    Lambda(LambdaAuthorizer),
    /// `COGNITO_USER_POOLS` (or a generic JWT issuer): a signed token decides.
    Jwt(JwtAuthorizer),
}

impl Authorizer {
    /// Its name in the API file.
    pub fn name(&self) -> &str {
        match self {
            Authorizer::Lambda(l) => &l.name,
            Authorizer::Jwt(j) => &j.name,
        }
    }
}

/// A Cognito user pool authorizer, or a JWT authorizer for any OIDC issuer.
#[derive(Debug)]
pub struct JwtAuthorizer {
    /// Its name in the API file.
    pub name: Box<str>,
    /// The header holding the token (`identitySource`, default `Authorization`).
    pub header: Box<str>,
    /// `iss` of accepted tokens.
    pub issuer: Box<str>,
    /// Accepted `aud` / `client_id` values; empty: any.
    pub audiences: Box<[Box<str>]>,
    /// The issuer's key set.
    pub keys: Arc<jwks::JwksSource>,
    /// Leeway of the time claims, seconds.
    pub leeway_secs: u64,
    /// Cognito's rules (`token_use`); `false` for a generic JWT issuer.
    pub cognito: bool,
}

/// A stage's authorizers, by the index methods refer to them with.
pub type StageAuthorizers = Box<[Arc<Authorizer>]>;
