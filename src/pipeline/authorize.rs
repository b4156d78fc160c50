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
use crate::exchange::RequestView;
use crate::gateway_response::GatewayResponse;
use crate::http::BodyFraming;
use crate::http::RequestHead;
use crate::integration::aws_proxy;
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
    // A token authorizer without a resource policy needs no method ARN.
    if let (None, Authorization::Authorizer(i)) = (&auth.policy, route.method.authorization) {
        if let Some(Authorizer::Jwt(j)) = route.stage.authorizers.get(i as usize).map(|a| &**a) {
            let scopes = &route.method.authorization_scopes;
            ctx.identity.claims = jwt(shard, j, scopes, head, base).await?.into();
            return Ok(());
        }
    }
    let full_path = std::str::from_utf8(head.path.get(base)).unwrap_or("/");
    let path = route.stage_path(full_path);
    // The ARN names the method the request reached: a `HEAD` served by a `GET` method is
    // decided as that `GET` (so a Deny on GET cannot be walked around with HEAD); an `ANY`
    // method is decided by the request's own verb.
    let method = match &*route.method.http_method {
        "ANY" => std::str::from_utf8(head.method.get(base)).unwrap_or("GET"),
        configured => configured,
    };
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
    let facts = PolicyRequest {
        action: INVOKE,
        resource: &method_arn,
        principal: None,
        source_ip: caller.peer.ip(),
        secure: caller.secure,
        user_agent: None,
        referer: None,
    };
    let facts = headed(facts, auth.policy.as_ref(), head, base);
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
            ctx.identity.claims = jwt(shard, j, scopes, head, base).await?.into();
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
    let by_authorizer = grant
        .policy
        .evaluate(&headed(facts, Some(&grant.policy), head, base));
    ctx.identity = crate::exchange::Identity {
        principal_id: Some(grant.principal_id.clone()),
        authorizer_context: grant.context.clone().into(),
        usage_identifier_key: grant.usage_identifier_key.clone(),
        authorizer_latency_ms: Some(if cached { 0 } else { grant.latency_ms }),
        claims: Default::default(),
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
    shard: &ShardCtx,
    snapshot: &Snapshot,
    conn: &mut ClientConn,
    req: RequestInfo,
) -> Result<(), Option<GatewayResponse>> {
    let worth_reading = {
        let (head, base) = (&conn.head, conn.inbuf.pending());
        let mut params = Params::default();
        let path = std::str::from_utf8(head.path.get(base)).unwrap_or("/");
        let host = head.host.map(|h| h.get(base));
        let method = head.method.get(base);
        match request_filter::route(snapshot, host, method, path, &mut params, req.canary_draw) {
            Ok(r) if r.method.authorization == Authorization::Iam => {
                // Only a request that can still authenticate gets its body read: the rest is
                // refused by `iam` without it (with the same error, which does not need it).
                let headers = header_list(head, base);
                let signed = signed_request(head, base, &headers, &[]);
                let now = shard.clock.unix_secs();
                let region = &r.api.auth.region;
                crate::auth::iam::precheck(&snapshot.identities, &signed, region, now).is_ok()
            }
            _ => false,
        }
    };
    if !worth_reading {
        return Ok(());
    }
    read_signed_bytes(conn, req, &snapshot.limits).await
}

/// Reads a signed request's body into the receive buffer after its head (an `AWS_IAM`
/// method's, or a `@connections` call's). `Err(Some(r))`: answer `r`; `Err(None)`: the
/// client went away.
pub(crate) async fn read_signed_bytes(
    conn: &mut ClientConn,
    req: RequestInfo,
    limits: &crate::snapshot::Limits,
) -> Result<(), Option<GatewayResponse>> {
    if req.framing == BodyFraming::None {
        return Ok(());
    }
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
    use crate::auth::iam;
    let headers = header_list(head, base);
    let req = signed_request(head, base, &headers, caller.body);
    let auth = &route.api.auth;
    let now = shard.clock.unix_secs();
    let verified = iam::verify(
        &snapshot.identities,
        &shard.iam_keys,
        &req,
        &auth.region,
        now,
    );
    let who = verified.map_err(|e| signature_refusal(e, ctx))?;
    let user = who.user;
    let facts = PolicyRequest {
        principal: Some(&user.arn),
        user_agent: header_text(head, base, "user-agent"),
        referer: header_text(head, base, "referer"),
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
        // Asked for only by a request that may want it (the stage cache reads it then).
        may_invalidate_cache: head.header(base, "cache-control").is_some()
            && decide(&invalidate).is_none(),
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

/// What a request whose signature failed is answered (AWS's wording in `ctx`'s message):
/// `AWS_IAM` methods and `@connections` calls alike.
pub(crate) fn signature_refusal(
    e: crate::auth::iam::SigError,
    ctx: &mut RequestCtx,
) -> GatewayResponse {
    use crate::auth::iam::SigError;
    use crate::gateway_response::SignatureError;
    let (kind, message) = match e {
        SigError::Missing => return GatewayResponse::MissingAuthenticationToken,
        SigError::Incomplete(m) => (SignatureError::Incomplete, m),
        SigError::UnknownKey => (
            SignatureError::UnknownKey,
            "The security token included in the request is invalid.".to_string(),
        ),
        SigError::Mismatch(m) | SigError::Expired(m) => (SignatureError::Invalid, m),
    };
    ctx.error_message = Some(message.into());
    GatewayResponse::SignatureRejected(kind)
}

/// `facts` with `aws:UserAgent` and `aws:Referer`, looked up only for a policy that tests
/// them.
fn headed<'a>(
    facts: PolicyRequest<'a>,
    policy: Option<&crate::auth::Policy>,
    head: &RequestHead,
    base: &'a [u8],
) -> PolicyRequest<'a> {
    match policy.is_some_and(crate::auth::Policy::reads_headers) {
        true => PolicyRequest {
            user_agent: header_text(head, base, "user-agent"),
            referer: header_text(head, base, "referer"),
            ..facts
        },
        false => facts,
    }
}

/// A header's value as text.
fn header_text<'a>(head: &RequestHead, base: &'a [u8], name: &str) -> Option<&'a str> {
    head.header(base, name)
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// The request's headers as text (a header that is not UTF-8 is left out, and then cannot
/// be signed).
pub(crate) fn header_list<'a>(head: &RequestHead, base: &'a [u8]) -> Vec<(&'a str, &'a str)> {
    head.headers
        .iter()
        .filter_map(|h| {
            let name = std::str::from_utf8(h.name.get(base)).ok()?;
            let value = std::str::from_utf8(h.value.get(base)).ok()?;
            Some((name, value))
        })
        .collect()
}

/// What a SigV4 verification reads of the request.
pub(crate) fn signed_request<'a>(
    head: &RequestHead,
    base: &'a [u8],
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
) -> crate::auth::iam::SignedRequest<'a> {
    crate::auth::iam::SignedRequest {
        method: std::str::from_utf8(head.method.get(base)).unwrap_or("GET"),
        path: std::str::from_utf8(head.path.get(base)).unwrap_or("/"),
        query: head
            .query
            .and_then(|q| std::str::from_utf8(q.get(base)).ok()),
        headers,
        body,
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
) -> Result<std::rc::Rc<[(Box<str>, Box<str>)]>, GatewayResponse> {
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
            jwt::Rejection::MissingScope => GatewayResponse::ScopeForbidden,
            jwt::Rejection::Invalid(_) | jwt::Rejection::UnknownKey(_) => {
                GatewayResponse::Unauthorized
            }
        }
    };
    let now = shard.clock.unix_secs();
    let source = &authorizer.keys;
    // Keyed by the end of the token's signature, compared whole; the entry names its key set.
    if let Some(hit) = shard.tokens.get(jwt::cache_key(token)) {
        let same = *hit.token == *token && *hit.source == *source.uri;
        if same && hit.generation == source.generation() {
            hit.check(&rules, now).map_err(refuse)?;
            return Ok(std::rc::Rc::clone(&hit.rendered));
        }
    }
    let decoded = jwt::decode(token).map_err(refuse)?;
    let generation = source.generation();
    let mut verified = jwt::verify(&decoded, &source.keys(), &rules, now);
    if let Err(jwt::Rejection::UnknownKey(kid)) = &verified {
        // Key rotation (or the set's first fetch still running): one fetch for all waiting;
        // a key still unknown after it is remembered while the set is unchanged, so that a
        // stream of tokens naming it is refused without waiting.
        let unknown = format!("{}\nunknown kid\n{kid}", source.uri);
        let known_unknown = shard.tokens.get(&unknown);
        if known_unknown.is_some_and(|u| u.generation == generation) {
            // Refused without waiting; the set is fetched again (at most once per gap), and
            // once it changed the next such token waits for nothing or verifies.
            source.want_refresh();
            return Err(refuse(jwt::Rejection::UnknownKey(kid.clone())));
        }
        let keys = source.refreshed(KEY_REFRESH_WAIT).await;
        verified = jwt::verify(&decoded, &keys, &rules, now);
        if let Err(jwt::Rejection::UnknownKey(_)) = &verified {
            let marker = jwt::VerifiedToken::new("", &Default::default(), source);
            shard.tokens.put(&unknown, std::rc::Rc::new(marker), 60_000);
        }
    }
    let claims = verified.map_err(refuse)?;
    let verified = std::rc::Rc::new(jwt::VerifiedToken::new(token, &claims, source));
    let ttl_ms = verified.lifetime(now).min(3600) * 1000;
    if ttl_ms > 0 {
        let key = jwt::cache_key(token);
        shard.tokens.put(key, std::rc::Rc::clone(&verified), ttl_ms);
    }
    Ok(std::rc::Rc::clone(&verified.rendered))
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
        stage_name: &inv.route.stage.name,
        stage_variables: &inv.route.stage.variables,
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
    let req = RequestView {
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
