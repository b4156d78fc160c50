//! `$connect` authorization: a WebSocket API authorizes connections, not messages, with a
//! `REQUEST` Lambda authorizer on its `$connect` route (developer guide, "Controlling access
//! to WebSocket APIs with Lambda REQUEST authorizers"). A leaf, as REST's authorizers are:
//! it takes the upgrade request and returns the grant, or the handshake's status.
//!
//! As for REST: a missing identity source is 401 without invoking the function; the function
//! answering `Unauthorized` is 401; a policy that does not allow `execute-api:Invoke` on
//! `arn:aws:execute-api:{region}:{account}:{api}/{stage}/$connect` is 403 ("If authorization
//! fails on $connect ... the client will receive a 401 or 403 response"); a function that
//! fails or answers something else is 500. Grants are cached per identity, as REST's are.

use std::rc::Rc;

use super::api::{WsApi, WsStage, CONNECT};
use super::event::{self, ConnectionFacts};
use crate::auth::lambda::{self, Grant, IdentityFacts, LambdaAuthorizer, Refusal};
use crate::auth::policy::{Decision, PolicyRequest};
use crate::http::RequestHead;
use crate::server::shard::ShardCtx;
use crate::snapshot::Snapshot;

/// What the handshake needs of the upgrade request.
pub struct Upgrade<'a> {
    pub head: &'a RequestHead,
    pub base: &'a [u8],
    pub headers: &'a [(String, String)],
    pub query: &'a [(String, String)],
    pub peer: std::net::IpAddr,
    pub secure: bool,
}

/// The grant of `authorizer` for this connection, or the handshake's status.
pub async fn connect(
    shard: &ShardCtx,
    snapshot: &Snapshot,
    api: &WsApi,
    stage: &WsStage,
    authorizer: &LambdaAuthorizer,
    upgrade: &Upgrade<'_>,
    facts: &ConnectionFacts<'_>,
) -> Result<Rc<Grant>, u16> {
    let method_arn = format!(
        "arn:aws:execute-api:{}:{}:{}/{}/{CONNECT}",
        api.region, api.account, api.id, stage.name
    );
    let path = std::str::from_utf8(upgrade.head.path.get(upgrade.base)).unwrap_or("/");
    let identity = IdentityFacts {
        head: upgrade.head,
        base: upgrade.base,
        stage_name: &stage.name,
        stage_variables: &stage.variables,
        source_ip: facts.source_ip,
        full_path: path,
        resource_path: CONNECT,
        api_id: &api.id,
    };
    let mut key = String::with_capacity(authorizer.scope.len() + 64);
    key.push_str(&authorizer.scope);
    lambda::identity(authorizer, &identity, &mut key).map_err(|lambda::Unauthorized| 401u16)?;
    let cacheable = authorizer.ttl_ms > 0 && !authorizer.identity_sources.is_empty();
    let cached = cacheable.then(|| shard.authorizers.get(&key)).flatten();
    let grant = match cached {
        Some(grant) => grant,
        None => {
            let grant = invoke(
                shard,
                snapshot,
                stage,
                authorizer,
                upgrade,
                facts,
                &method_arn,
            )
            .await?;
            if cacheable {
                shard
                    .authorizers
                    .put(&key, Rc::clone(&grant), authorizer.ttl_ms);
            }
            grant
        }
    };
    let request = PolicyRequest {
        action: "execute-api:Invoke",
        resource: &method_arn,
        principal: None,
        source_ip: upgrade.peer,
        secure: upgrade.secure,
        user_agent: upgrade
            .head
            .header(upgrade.base, "user-agent")
            .and_then(|v| std::str::from_utf8(v).ok()),
        referer: None,
    };
    match grant.policy.evaluate(&request) {
        Decision::Allow => Ok(grant),
        Decision::ExplicitDeny | Decision::ImplicitDeny => Err(403),
    }
}

/// Invokes the authorizer's function with the `REQUEST` event.
async fn invoke(
    shard: &ShardCtx,
    snapshot: &Snapshot,
    stage: &WsStage,
    authorizer: &LambdaAuthorizer,
    upgrade: &Upgrade<'_>,
    facts: &ConnectionFacts<'_>,
    method_arn: &str,
) -> Result<Rc<Grant>, u16> {
    let request_id = super::session::request_id(shard);
    let now = shard.clock.unix_ms();
    let payload = event::write_authorizer(
        facts,
        upgrade.headers,
        upgrade.query,
        method_arn,
        &request_id,
        now,
        &stage.variables,
    );
    let invoker = crate::pipeline::upstream::invoker(shard, snapshot, &authorizer.function);
    // Boxed: the invocation's state is large and only a cache miss needs it.
    let answered = Box::pin(lambda::authorize(
        authorizer,
        invoker,
        &payload,
        &request_id,
        now,
    ))
    .await;
    match answered {
        Ok(grant) => Ok(Rc::new(grant)),
        Err(Refusal::Unauthorized) => Err(401),
        Err(Refusal::Configuration(why)) => {
            tracing::warn!(authorizer = %authorizer.name, "{why}");
            Err(500)
        }
    }
}
