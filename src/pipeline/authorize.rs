//! Phases 2 and 3: the API's resource policy, then the method's authorizer, combined as API
//! Gateway combines them (developer guide, "How API Gateway resource policies affect
//! authorization workflow"):
//!
//! - **resource policy only** (`NONE`): the policy must explicitly allow; an implicit or
//!   explicit deny is 403 naming the method ARN;
//! - **Lambda authorizer** (`CUSTOM`): an explicit deny of the resource policy refuses the
//!   request *before* the authorizer is invoked; otherwise the authorizer's policy and the
//!   resource policy decide together (table A, same account): any `Deny` wins, and either
//!   one's `Allow` is enough.
//!
//! The authorizer's result is cached per shard by its identity sources
//! (`auth::cache`); a cached policy is evaluated again against this request's method ARN.
//! A method with neither a resource policy nor an authorizer never enters this phase (the
//! pipeline checks a compiled flag first).

use std::net::SocketAddr;
use std::rc::Rc;

use crate::auth::lambda::{self, AuthorizerKind, Grant, IdentityFacts, LambdaAuthorizer};
use crate::auth::policy::{Decision, PolicyRequest};
use crate::auth::{arn, jwt, Authorization, Authorizer, JwtAuthorizer};
use crate::gateway_response::GatewayResponse;
use crate::http::BodyFraming;
use crate::http::RequestHead;
use crate::integration::aws_proxy::{self, LambdaRequest};
use crate::integration::http_proxy::RequestInfo;
use crate::pipeline::context::RequestCtx;
use crate::pipeline::request_filter::{self, Route};
use crate::router::Params;
use crate::server::client::ClientConn;
use crate::server::shard::ShardCtx;
use crate::snapshot::Snapshot;

/// The action every request asks for (`execute-api:Invoke`).
const INVOKE: &str = "execute-api:Invoke";

/// Whether the request needs this phase at all.
pub fn needed(route: &Route<'_>) -> bool {
    route.api.auth.policy.is_some() || route.method.authorization != Authorization::None
}

/// The connection facts authorization reads.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    /// The client's address (`aws:SourceIp`).
    pub peer: SocketAddr,
    /// Over TLS (`aws:SecureTransport`).
    pub secure: bool,
    /// The verified client certificate, for the `REQUEST` event.
    pub client_cert: Option<&'a crate::tls::subject::ClientCert>,
    /// The request body when it was read before authorization (`AWS_IAM` methods: the
    /// signature covers it); empty otherwise.
    pub body: &'a [u8],
}

/// Decides whether the request may go on; fills `ctx.identity` from an authorizer.
#[allow(clippy::too_many_arguments)]
pub async fn check(
    shard: &ShardCtx,
    snapshot: &Snapshot,
    route: &Route<'_>,
    head: &RequestHead,
    base: &[u8],
    params: &Params<'_, '_>,
    caller: Caller<'_>,
    ctx: &mut RequestCtx,
) -> Result<(), GatewayResponse> {
    let auth = &route.api.auth;
    let full_path = std::str::from_utf8(head.path.get(base)).unwrap_or("/");
    let host = head.host.map(|h| h.get(base));
    let path = request_filter::stage_of(snapshot, host, full_path).map_or(full_path, |s| s.2);
    let method = std::str::from_utf8(head.method.get(base)).unwrap_or("GET");
    let mut method_arn = String::with_capacity(96 + path.len());
    let (api, stage) = (&*route.api.id, &*route.stage.name);
    arn::method_arn(
        &mut method_arn,
        &auth.region,
        &auth.account,
        api,
        stage,
        method,
        path,
    );
    let text = |name: &str| {
        head.header(base, name)
            .and_then(|v| std::str::from_utf8(v).ok())
    };
    let facts = PolicyRequest {
        action: INVOKE,
        resource: &method_arn,
        principal: None,
        source_ip: caller.peer.ip(),
        secure: caller.secure,
        user_agent: text("user-agent"),
        referer: text("referer"),
    };
    if route.method.authorization == Authorization::Iam {
        return iam(shard, snapshot, route, head, base, caller, facts, ctx);
    }
    let by_policy = auth.policy.as_ref().map(|p| p.evaluate(&facts));
    let Authorization::Authorizer(index) = route.method.authorization else {
        return match by_policy {
            None | Some(Decision::Allow) => Ok(()),
            Some(d) => Err(policy_denied(ctx, &method_arn, d)),
        };
    };
    if by_policy == Some(Decision::ExplicitDeny) {
        return Err(policy_denied(ctx, &method_arn, Decision::ExplicitDeny));
    }
    let found = route.stage.authorizers.get(index as usize);
    let authorizer = match found.map(|a| &**a) {
        Some(Authorizer::Lambda(l)) => l,
        Some(Authorizer::Jwt(j)) => {
            let scopes = &route.method.authorization_scopes;
            ctx.identity.claims = jwt(shard, j, scopes, head, base).await?;
            // Cognito and a resource policy: "the resource policy is evaluated independently,
            // and an explicit allow is required" (authorization workflow, Cognito table).
            return match by_policy {
                None | Some(Decision::Allow) => Ok(()),
                Some(d) => Err(policy_denied(ctx, &method_arn, d)),
            };
        }
        None => {
            // Compilation refuses a stage whose authorizer failed; this cannot be reached.
            tracing::error!(%api, %stage, "method names authorizer {index}, which the stage lacks");
            return Err(GatewayResponse::InternalError);
        }
    };
    let invocation = Invocation {
        shard,
        snapshot,
        route,
        head,
        base,
        params,
        caller,
        full_path,
        path,
        method_arn: &method_arn,
        ctx,
    };
    let (grant, cached) = grant(authorizer, invocation).await?;
    let by_authorizer = grant.policy.evaluate(&facts);
    ctx.identity = crate::exchange::Identity {
        principal_id: Some(grant.principal_id.clone()),
        authorizer_context: grant.context.clone(),
        usage_identifier_key: grant.usage_identifier_key.clone(),
        authorizer_latency_ms: Some(if cached { 0 } else { grant.latency_ms }),
        claims: Vec::new(),
        iam: None,
    };
    match (by_authorizer, by_policy) {
        (Decision::ExplicitDeny, _) => Err(GatewayResponse::AuthorizerDenied { explicit: true }),
        (Decision::Allow, _) | (Decision::ImplicitDeny, Some(Decision::Allow)) => Ok(()),
        (Decision::ImplicitDeny, _) => Err(GatewayResponse::AuthorizerDenied { explicit: false }),
    }
}

/// Reads the whole body of a request for an `AWS_IAM` method into the receive buffer, after
/// its head, since the signature covers the body's SHA-256 (SigV4's payload hash; API
/// Gateway hashes the body it received). Other requests are left alone. `Err(Some(r))`:
/// answer `r`; `Err(None)`: the client went away.
pub async fn read_signed_body(
    snapshot: &Snapshot,
    conn: &mut ClientConn,
    req: RequestInfo,
) -> Result<(), Option<GatewayResponse>> {
    let is_iam = {
        let base = conn.inbuf.pending();
        let mut params = Params::default();
        let path = std::str::from_utf8(conn.head.path.get(base)).unwrap_or("/");
        let host = conn.head.host.map(|h| h.get(base));
        let method = conn.head.method.get(base);
        request_filter::route(snapshot, host, method, path, &mut params)
            .is_ok_and(|r| r.method.authorization == Authorization::Iam)
    };
    if !is_iam {
        return Ok(());
    }
    let limits = &snapshot.limits;
    let BodyFraming::Length(n) = req.framing else {
        // A body of unknown length (chunked, or HTTP/2 without Content-Length) would have to
        // be decoded before it could be hashed; signed requests carry a Content-Length.
        tracing::debug!("AWS_IAM request without Content-Length refused");
        return Err(Some(GatewayResponse::BadRequest));
    };
    if n > limits.max_body_bytes {
        return Err(Some(GatewayResponse::RequestTooLong));
    }
    let want = req.head_len + n as usize;
    if req.expect_continue && conn.inbuf.pending().len() < want {
        conn.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        crate::wire::write_out(&mut conn.stream, &mut conn.out, limits.send_timeout)
            .await
            .map_err(|_| None)?;
    }
    while conn.inbuf.pending().len() < want {
        match conn.inbuf.fill(&mut conn.stream, limits.body_timeout).await {
            Ok(0) | Err(_) => return Err(None),
            Ok(_) => {}
        }
    }
    Ok(())
}

/// `AWS_IAM`: the SigV4 signature names a user of the identity store; then the user's
/// identity-based policy and the resource policy decide together (authorization workflow,
/// IAM tables: in the user's own account either one's Allow suffices; across accounts both
/// must allow; any explicit Deny refuses).
#[allow(clippy::too_many_arguments)]
fn iam(
    shard: &ShardCtx,
    snapshot: &Snapshot,
    route: &Route<'_>,
    head: &RequestHead,
    base: &[u8],
    caller: Caller<'_>,
    facts: PolicyRequest<'_>,
    ctx: &mut RequestCtx,
) -> Result<(), GatewayResponse> {
    use crate::auth::iam::{self, SigError};
    use crate::gateway_response::SignatureError;
    let headers: Vec<(&str, &str)> = head
        .headers
        .iter()
        .filter_map(|h| {
            let name = std::str::from_utf8(h.name.get(base)).ok()?;
            let value = std::str::from_utf8(h.value.get(base)).ok()?;
            Some((name, value))
        })
        .collect();
    let req = iam::SignedRequest {
        method: std::str::from_utf8(head.method.get(base)).unwrap_or("GET"),
        path: std::str::from_utf8(head.path.get(base)).unwrap_or("/"),
        query: head
            .query
            .and_then(|q| std::str::from_utf8(q.get(base)).ok()),
        headers: &headers,
        body: caller.body,
    };
    let auth = &route.api.auth;
    let now = shard.clock.unix_secs();
    let verified = iam::verify(&snapshot.identities, &req, &auth.region, now);
    let who = match verified {
        Ok(who) => who,
        Err(e) => {
            let (kind, message) = match e {
                SigError::Missing => return Err(GatewayResponse::MissingAuthenticationToken),
                SigError::Incomplete(m) => (SignatureError::Incomplete, m),
                SigError::UnknownKey => (
                    SignatureError::UnknownKey,
                    "The security token included in the request is invalid.".to_string(),
                ),
                SigError::Mismatch(m) | SigError::Expired(m) => (SignatureError::Invalid, m),
            };
            ctx.error_message = Some(message.into());
            return Err(GatewayResponse::SignatureRejected(kind));
        }
    };
    let user = who.user;
    let facts = PolicyRequest {
        principal: Some(&user.arn),
        ..facts
    };
    let same_account = *user.account == *auth.account;
    let decide = |facts: &PolicyRequest<'_>| {
        let by_identity = user
            .policy
            .as_ref()
            .map_or(Decision::ImplicitDeny, |p| p.evaluate(facts));
        let by_resource = auth.policy.as_ref().map(|p| p.evaluate(facts));
        iam_refusal(by_identity, by_resource, same_account)
    };
    // `Cache-Control: max-age=0` needs `execute-api:InvalidateCache` on the method (developer
    // guide, "Invalidate an API Gateway cache entry"), decided by the same policies.
    let invalidate = PolicyRequest {
        action: "execute-api:InvalidateCache",
        ..facts
    };
    ctx.identity.iam = Some(crate::exchange::IamCaller {
        access_key: who.access_key.into(),
        user_id: user.user_id.clone(),
        user_arn: user.arn.clone(),
        account_id: user.account.clone(),
        may_invalidate_cache: decide(&invalidate).is_none(),
    });
    match decide(&facts) {
        None => Ok(()),
        Some(tail) => {
            let message = crate::gateway_response::denied_message(&user.arn, facts.resource, tail);
            ctx.error_message = Some(message.into());
            Err(GatewayResponse::IamDenied)
        }
    }
}

/// How an IAM caller's identity policy and the API's resource policy combine (authorization
/// workflow, tables A and B): `None` to allow, else the tail of AWS's denial message.
fn iam_refusal(
    by_identity: Decision,
    by_resource: Option<Decision>,
    same_account: bool,
) -> Option<&'static str> {
    match (by_identity, by_resource) {
        (Decision::ExplicitDeny, _) => Some("with an explicit deny in an identity-based policy"),
        (_, Some(Decision::ExplicitDeny)) => {
            Some("with an explicit deny in a resource-based policy")
        }
        (Decision::Allow, _) | (_, Some(Decision::Allow)) if same_account => None,
        (Decision::Allow, Some(Decision::Allow)) => None,
        (Decision::Allow, _) => {
            Some("because no resource-based policy allows the execute-api:Invoke action")
        }
        _ => Some("because no identity-based policy allows the execute-api:Invoke action"),
    }
}

/// How long a request that names an unknown signing key waits for its issuer's key set to be
/// fetched again.
const KEY_REFRESH_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// A Cognito user pool / JWT authorizer: the token in its header, verified against the
/// issuer's key set (fetched again, once, when the token names a key the set lacks); the
/// claims on success.
async fn jwt(
    shard: &ShardCtx,
    authorizer: &JwtAuthorizer,
    scopes: &[Box<str>],
    head: &RequestHead,
    base: &[u8],
) -> Result<Vec<(Box<str>, Box<str>)>, GatewayResponse> {
    let token = head
        .header(base, &authorizer.header)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::trim)
        // `Bearer <token>` works as well as the bare token (Cognito developer guide: tokens
        // are sent "as bearer tokens to an Authorization header").
        .map(|t| match t.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("bearer ") => t[7..].trim_start(),
            _ => t,
        })
        .filter(|t| !t.is_empty())
        .ok_or(GatewayResponse::Unauthorized)?;
    let rules = jwt::Rules {
        issuer: &authorizer.issuer,
        audiences: &authorizer.audiences,
        leeway_secs: authorizer.leeway_secs,
        scopes,
        cognito: authorizer.cognito,
    };
    let refuse = |why: jwt::Rejection| {
        tracing::debug!(authorizer = %authorizer.name, "token refused: {why:?}");
        match why {
            jwt::Rejection::Expired => GatewayResponse::TokenExpired,
            // REST APIs' Cognito authorizer: "Otherwise, the call fails with a 401
            // Unauthorized response" (developer guide, "Integrate a REST API with an Amazon
            // Cognito user pool"); HTTP APIs' JWT authorizer answers 403 Forbidden.
            jwt::Rejection::MissingScope if authorizer.cognito => GatewayResponse::Unauthorized,
            jwt::Rejection::MissingScope => GatewayResponse::Forbidden,
            jwt::Rejection::Invalid(_) | jwt::Rejection::UnknownKey(_) => {
                GatewayResponse::Unauthorized
            }
        }
    };
    let decoded = jwt::decode(token).map_err(refuse)?;
    let now = shard.clock.unix_secs();
    let mut verified = jwt::verify(&decoded, &authorizer.keys.keys(), &rules, now);
    if let Err(jwt::Rejection::UnknownKey(_)) = verified {
        // Key rotation (or the set's first fetch still running): one fetch for all waiting.
        let keys = authorizer.keys.refreshed(KEY_REFRESH_WAIT).await;
        verified = jwt::verify(&decoded, &keys, &rules, now);
    }
    let claims = verified.map_err(refuse)?;
    Ok(claims
        .iter()
        .map(|(k, v)| (k.as_str().into(), jwt::claim_text(k, v).into()))
        .collect())
}

/// A resource policy's refusal, its message naming the method ARN.
fn policy_denied(ctx: &mut RequestCtx, method_arn: &str, decision: Decision) -> GatewayResponse {
    let explicit = decision == Decision::ExplicitDeny;
    let message = crate::gateway_response::policy_denied_message(method_arn, explicit);
    ctx.error_message = Some(message.into());
    GatewayResponse::PolicyDenied { explicit }
}

/// What invoking an authorizer needs of the request.
struct Invocation<'a, 'r> {
    shard: &'a ShardCtx,
    snapshot: &'a Snapshot,
    route: &'a Route<'r>,
    head: &'a RequestHead,
    base: &'a [u8],
    params: &'a Params<'r, 'a>,
    caller: Caller<'a>,
    full_path: &'a str,
    path: &'a str,
    method_arn: &'a str,
    ctx: &'a RequestCtx,
}

/// The authorizer's grant for this caller: from the shard's cache, or by invoking it (and
/// caching what it returned). `true` with a cached grant.
async fn grant(
    authorizer: &LambdaAuthorizer,
    inv: Invocation<'_, '_>,
) -> Result<(Rc<Grant>, bool), GatewayResponse> {
    let shard = inv.shard;
    let mut ip = [0u8; 64];
    let source_ip = crate::http::write_ip(&mut ip, inv.caller.peer.ip());
    let facts = IdentityFacts {
        head: inv.head,
        base: inv.base,
        stage: inv.route.stage,
        source_ip,
        full_path: inv.full_path,
        resource_path: &inv.route.method.resource_path,
        api_id: &inv.route.api.id,
    };
    let mut key = String::with_capacity(authorizer.scope.len() + 64);
    key.push_str(&authorizer.scope);
    let token = lambda::identity(authorizer, &facts, &mut key)
        .map_err(|lambda::Unauthorized| GatewayResponse::Unauthorized)?;
    // With no identity source (a REQUEST authorizer with caching off) every request is sent.
    let cacheable = authorizer.ttl_ms > 0 && !authorizer.identity_sources.is_empty();
    if cacheable {
        if let Some(grant) = shard.authorizers.get(&key) {
            return Ok((grant, true));
        }
    }
    let request_id = std::str::from_utf8(&inv.ctx.request_id).unwrap_or("");
    let start_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut event = shard.buffers.take(1024);
    match (authorizer.kind, token) {
        (AuthorizerKind::Token, Some(token)) => {
            lambda::write_token_event(token, inv.method_arn, &mut event)
        }
        _ => request_event(&inv, source_ip, request_id, start_unix_ms, &mut event),
    }
    let invoker = super::upstream::invoker(shard, inv.snapshot, &authorizer.function);
    // Boxed: the invocation's state is large and only a cache miss needs it.
    let answered = Box::pin(lambda::authorize(
        authorizer,
        invoker,
        &event,
        request_id,
        start_unix_ms,
    ))
    .await;
    shard.buffers.give(event);
    let grant = match answered {
        Ok(grant) => Rc::new(grant),
        Err(refusal) => {
            if let lambda::Refusal::Configuration(why) = &refusal {
                tracing::warn!(authorizer = %authorizer.name, "{why}");
            }
            return Err(refusal.response());
        }
    };
    if cacheable {
        shard
            .authorizers
            .put(&key, Rc::clone(&grant), authorizer.ttl_ms);
    }
    Ok((grant, false))
}

/// The `REQUEST` authorizer's event: the proxy event's view of the request, without a body.
fn request_event(
    inv: &Invocation<'_, '_>,
    source_ip: &str,
    request_id: &str,
    start_unix_ms: u64,
    out: &mut Vec<u8>,
) {
    let params: Vec<(Box<str>, String)> = inv
        .params
        .iter()
        .map(|(k, v)| (Box::from(k), v.to_string()))
        .collect();
    let req = LambdaRequest {
        head: inv.head,
        base: inv.base,
        full_path: inv.full_path,
        path: inv.path,
        params: &params,
        api: inv.route.api,
        stage: inv.route.stage,
        method: inv.route.method,
        request_id,
        source_ip,
        start_unix_ms,
        body: None,
        client_cert: inv.caller.client_cert,
        secure: inv.caller.secure,
        authorizer: None,
        api_key: None,
    };
    let account = &inv.snapshot.lambda.account_id;
    aws_proxy::write_authorizer_event(&req, account, inv.method_arn, out);
}
