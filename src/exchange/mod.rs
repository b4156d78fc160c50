//! The exchange: what an integration hands back to the pipeline instead of writing to the
//! client itself.
//!
//! A [`Reply`] is a status, a header list and a body; only the responder
//! (`pipeline::respond`) turns it into wire bytes, adding what the gateway owes every response
//! (`Date`, `x-amzn-RequestId`, framing, `HEAD` handling) and counting what was sent. Leaf
//! integrations (`MOCK`, `AWS_PROXY`) return a `Reply` or a
//! [`GatewayResponse`]; `HTTP_PROXY` streams both ways: it reads the client's body through a
//! [`BodySource`] and hands back the backend connection, whose body the pipeline relays.

pub mod request;

use crate::gateway_response::GatewayResponse;

pub use request::{BodyState, BufferPool, Request, RequestView, Spares};

/// A complete response produced by an integration.
#[derive(Debug)]
pub struct Reply<'a> {
    /// Status code.
    pub status: u16,
    /// Headers, in order. Names the gateway owns are remapped by the responder.
    pub headers: Headers<'a>,
    /// The body.
    pub body: Body<'a>,
}

/// A reply's header list: borrowed from the snapshot (`MOCK`) or built per request.
#[derive(Debug)]
pub enum Headers<'a> {
    /// Configured headers.
    Config(&'a [(Box<str>, Box<str>)]),
    /// Headers built for this request (a Lambda result's).
    Owned(Vec<(String, String)>),
}

impl Headers<'_> {
    /// The headers as `(name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let (config, owned) = match self {
            Headers::Config(c) => (*c, &[][..]),
            Headers::Owned(o) => (&[][..], o.as_slice()),
        };
        config
            .iter()
            .map(|(n, v)| (&**n, &**v))
            .chain(owned.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    }
}

/// A reply's body.
#[derive(Debug)]
pub enum Body<'a> {
    /// Borrowed from the snapshot.
    Config(&'a [u8]),
    /// Built for this request.
    Owned(Vec<u8>),
}

impl Body<'_> {
    /// The body's bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Body::Config(b) => b,
            Body::Owned(b) => b,
        }
    }
}

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Malformed or over the payload limit: answer with this response.
    Refused(GatewayResponse),
    /// The client went away or stalled.
    Gone,
}

/// The client's request body as a streaming integration reads it, without seeing the client
/// connection (the pipeline implements it over the connection's receive buffer).
#[allow(async_fn_in_trait)]
pub trait BodySource {
    /// Appends the body bytes already received to `out`, chunk-framed when `chunked`.
    fn take(&mut self, out: &mut Vec<u8>, chunked: bool) -> Result<(), BodyError>;
    /// Whether the whole body has been taken.
    fn is_done(&self) -> bool;
    /// Body bytes taken so far.
    fn bytes_read(&self) -> u64;
    /// Waits for more of the body (sending `100 Continue` first when the client waits for it).
    async fn read_more(&mut self) -> Result<(), BodyError>;
}

/// Who is calling, as the authorization phases (resource policy, authorizers, IAM) establish it
/// and later phases read it: the API key phase, `$context.authorizer.*`, the Lambda event's
/// `requestContext.authorizer`. Anonymous until an authorizer runs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `principalId` an authorizer returned.
    pub principal_id: Option<std::rc::Rc<str>>,
    /// The authorizer's `context` map (string, number and boolean values as strings). Shared
    /// with the cached grant: a cache hit copies no string.
    pub authorizer_context: SharedPairs,
    /// `usageIdentifierKey`: the API key an authorizer supplied; it replaces `x-api-key`
    /// when the API's `apiKeySource` is `AUTHORIZER`.
    pub usage_identifier_key: Option<std::rc::Rc<str>>,
    /// Milliseconds the authorizer's function took, when an authorizer ran
    /// (`requestContext.authorizer.integrationLatency`; 0 for a cached result).
    pub authorizer_latency_ms: Option<u64>,
    /// The verified token's claims (Cognito user pool and JWT authorizers), as strings:
    /// `$context.authorizer.claims.*`, `requestContext.authorizer.claims`.
    pub claims: SharedPairs,
    /// The IAM caller of an `AWS_IAM` method, once its signature is verified.
    pub iam: Option<IamCaller>,
}

/// An authenticated IAM caller, as `$context.identity` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamCaller {
    /// `accessKey`.
    pub access_key: Box<str>,
    /// `user` and `caller`: the user's unique id (`AIDA...`).
    pub user_id: Box<str>,
    /// `userArn`.
    pub user_arn: Box<str>,
    /// `accountId`: the caller's account.
    pub account_id: Box<str>,
    /// Whether the caller's policies allow `execute-api:InvalidateCache` on the method (a
    /// `Cache-Control: max-age=0` of theirs then refreshes the stage cache entry).
    pub may_invalidate_cache: bool,
}

/// Name/value pairs shared with the cache entry they came from (a cache hit copies no
/// string); an empty list is no allocation at all, so an anonymous request pays nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedPairs(Option<std::rc::Rc<[Pair]>>);

/// One name/value pair of an authorizer's context or a token's claims.
pub type Pair = (Box<str>, Box<str>);

impl std::ops::Deref for SharedPairs {
    type Target = [Pair];

    fn deref(&self) -> &Self::Target {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl From<std::rc::Rc<[Pair]>> for SharedPairs {
    fn from(pairs: std::rc::Rc<[Pair]>) -> Self {
        SharedPairs(Some(pairs))
    }
}

impl From<Vec<Pair>> for SharedPairs {
    fn from(pairs: Vec<Pair>) -> Self {
        SharedPairs(Some(pairs.into()))
    }
}

impl Identity {
    /// Whether an authorizer established anything (a principal or claims).
    pub fn is_authorized(&self) -> bool {
        self.principal_id.is_some() || !self.claims.is_empty() || self.iam.is_some()
    }
}
