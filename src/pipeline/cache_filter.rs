//! Phase 1b, between routing and upstream: the stage cache.
//!
//! For a request the stage caches (cache cluster enabled, method cached, `GET` by default,
//! TTL > 0, any integration but MOCK), [`lookup`] composes the key and either answers from
//! this shard's partition ([`answer`]: stored status, headers and body, with a fresh `Date`
//! and `x-amzn-RequestId` from the response filter) or lets the request go upstream with a
//! [`Fill`]. On the way back the responder (or the proxy, which streams) tees the response into `ctx.cache_capture`
//! ([`capture_head`], [`capture_body`], [`capture_done`]) while streaming it, and [`store`]
//! keeps it if it was complete, 2xx and at most 1 MB.
//!
//! `Cache-Control: max-age=0` refetches and refills the entry when the caller may invalidate
//! the cache; otherwise `unauthorizedCacheControlHeaderStrategy` decides (see
//! `caller_may_invalidate` for who is authorized).
//!
//! MOCK integrations are not cached: they are answered from memory already.

use std::rc::Rc;

use crate::cache::coalesce::{Leader, Role};
use crate::cache::{
    key, CacheOutcome, CachedResponse, Capture, MethodCacheSettings, StageCache,
    UnauthorizedStrategy, IGNORED_INVALIDATION_WARNING,
};
use crate::http::RequestHead;
use crate::integration::http_proxy::RequestInfo;
use crate::pipeline::context::RequestCtx;
use crate::pipeline::request_filter::Route;
use crate::pipeline::response_filter::{self, OutFraming};
use crate::pipeline::{local_response, Next};
use crate::router::Params;
use crate::server::client::ClientConn;
use crate::server::shard::ShardCtx;
use crate::snapshot::{Integration, Limits};

/// What the cache phase decided.
pub enum Lookup<'s> {
    /// Caching does not apply: go upstream as usual.
    Bypass,
    /// Answer with this entry; `warn` adds the ignored-invalidation `Warning` header.
    Hit {
        /// The stored response.
        entry: Rc<CachedResponse>,
        /// Whether an unauthorized `max-age=0` was ignored (`SUCCEED_WITH_RESPONSE_HEADER`).
        warn: bool,
    },
    /// An unauthorized `max-age=0` under `FAIL_WITH_403`.
    Deny,
    /// Go upstream and store the response.
    Miss(Fill<'s>),
}

/// What a miss needs to store the response once it has been relayed.
pub struct Fill<'s> {
    stage: &'s StageCache,
    hash: u64,
    key: Box<[u8]>,
    ttl_ms: u64,
    /// Add the ignored-invalidation `Warning` header to the response.
    pub warn: bool,
    /// Released (waking coalesced waiters) when the fill is stored or dropped.
    _leader: Option<Leader>,
}

/// What a `Cache-Control: max-age=0` amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Invalidation {
    /// No such header.
    None,
    /// Authorized: fetch fresh and refill.
    Refill,
    /// Unauthorized under `FAIL_WITH_403`.
    Deny,
    /// Unauthorized and ignored; `warn` under `SUCCEED_WITH_RESPONSE_HEADER`.
    Ignored { warn: bool },
}

/// Whether the caller may invalidate cache entries.
///
/// AWS grants this to callers whose IAM policy allows `execute-api:InvalidateCache` on the
/// method's ARN; a caller not signed with IAM credentials is unauthorized, whatever its
/// authorizer said. The authorization phase decided it for `AWS_IAM` callers
/// (`IamCaller::may_invalidate_cache`); everyone else is unauthorized, so the strategy applies.
fn caller_may_invalidate(ctx: &RequestCtx) -> bool {
    ctx.identity
        .iam
        .as_ref()
        .is_some_and(|i| i.may_invalidate_cache)
}

fn invalidation(settings: &MethodCacheSettings, asked: bool, ctx: &RequestCtx) -> Invalidation {
    if !asked {
        return Invalidation::None;
    }
    if !settings.require_authorization || caller_may_invalidate(ctx) {
        return Invalidation::Refill;
    }
    match settings.strategy {
        UnauthorizedStrategy::FailWith403 => Invalidation::Deny,
        UnauthorizedStrategy::SucceedWithResponseHeader => Invalidation::Ignored { warn: true },
        UnauthorizedStrategy::SucceedWithoutResponseHeader => Invalidation::Ignored { warn: false },
    }
}

/// Decides whether the routed request is answered from the cache. Sets `ctx.cache` to the
/// outcome when caching applies. Concurrent misses for one key wait for the first one's
/// backend call (at most the integration timeout), then look again; if it stored nothing,
/// they all fetch.
pub async fn lookup<'s>(
    shard: &ShardCtx,
    route: &Route<'s>,
    head: &RequestHead,
    base: &[u8],
    params: &Params<'_, '_>,
    ctx: &mut RequestCtx,
) -> Lookup<'s> {
    let Some(stage) = route.stage.cache.as_deref() else {
        return Lookup::Bypass;
    };
    // MOCK answers from memory already; every other integration's 2xx is cacheable (the
    // responder and the proxy tee it into the capture).
    let integration_timeout = match &route.method.integration {
        Integration::Mock(_) => return Lookup::Bypass,
        Integration::HttpProxy(p) => p.timeout,
        Integration::AwsProxy(l) => l.timeout,
        Integration::Mapped(m) => match &m.backend {
            crate::snapshot::MappedBackend::Mock => return Lookup::Bypass,
            crate::snapshot::MappedBackend::Http { target, .. } => target.timeout,
            crate::snapshot::MappedBackend::Lambda(l) => l.timeout,
        },
    };
    let method = head.method.get(base);
    let settings = stage.settings_for(route.method);
    if !settings.caches(method) {
        return Lookup::Bypass;
    }
    let (refill, warn) = match invalidation(settings, key::wants_refresh(head, base), ctx) {
        Invalidation::None => (false, false),
        Invalidation::Refill => (true, false),
        Invalidation::Deny => return Lookup::Deny,
        Invalidation::Ignored { warn } => (false, warn),
    };
    let cache = &shard.cache;
    let m = route.method;
    // A hit is answered without copying the key out of the shard's scratch buffer.
    let (hash, found) = cache.with_key(
        |out| {
            key::compose(
                out,
                &stage.key_id,
                method,
                &m.resource_path,
                params,
                &m.cache_key,
                head,
                base,
            )
        },
        |hash, key| match (!refill).then(|| cache.get(stage, hash, key)).flatten() {
            Some(entry) => (hash, Ok(entry)),
            None => (hash, Err(Box::<[u8]>::from(key))),
        },
    );
    let key = match found {
        Ok(entry) => {
            ctx.cache = Some(CacheOutcome::Hit);
            return Lookup::Hit { entry, warn };
        }
        Err(key) => key,
    };
    ctx.cache = Some(CacheOutcome::Miss);
    let mut fill = Fill {
        stage,
        hash,
        key,
        ttl_ms: u64::from(settings.ttl_secs) * 1000,
        warn,
        _leader: None,
    };
    if refill {
        return Lookup::Miss(fill);
    }
    // Wait for the fetch in flight, if any, up to the integration timeout. When it ends
    // without an entry (backend failure, non-2xx, too large, client gone) or takes too long,
    // every waiter goes to the backend at once rather than one after the other, so an
    // uncacheable answer never serializes the requests for it.
    match cache.inflight.join(hash) {
        Role::Leader(leader) => fill._leader = Some(leader),
        Role::Waiter(wait) => {
            tracing::debug!(
                shard = shard.id,
                "cache miss coalesced: waiting for the fetch in flight"
            );
            let _ = monoio::time::timeout(integration_timeout, wait).await;
            if let Some(entry) = cache.get(stage, hash, &fill.key) {
                ctx.cache = Some(CacheOutcome::Hit);
                return Lookup::Hit { entry, warn };
            }
        }
    }
    Lookup::Miss(fill)
}

/// Answers a hit from memory (the request body, if any, is read and dropped first).
pub async fn answer(
    shard: &ShardCtx,
    conn: &mut ClientConn,
    ctx: &mut RequestCtx,
    req: RequestInfo,
    limits: &Limits,
    entry: Rc<CachedResponse>,
    warn: bool,
) -> Next {
    let minor = req.minor_version;
    local_response(shard, conn, ctx, req, limits, |out, ctx, date| {
        response_filter::status_line(out, entry.status, &entry.reason);
        out.extend_from_slice(&entry.headers);
        if let Some(cors) = &mut ctx.cors {
            for line in entry.headers.split(|&b| b == b'\n') {
                cors.saw(line.split(|&b| b == b':').next().unwrap_or(&[]));
            }
        }
        if warn {
            response_filter::header(out, b"Warning", IGNORED_INVALIDATION_WARNING);
        }
        let framing = match entry.no_body {
            true => OutFraming::NoBody,
            false => OutFraming::Length(entry.body.len() as u64),
        };
        response_filter::finish_head(out, ctx, date, framing, minor);
        ctx.status = entry.status;
        if !entry.no_body && !ctx.is_head {
            out.extend_from_slice(&entry.body);
            ctx.response_body_bytes = entry.body.len() as u64;
        }
    })
    .await
}

/// Starts the capture of a miss's response.
pub fn begin(fill: &Fill<'_>, ctx: &mut RequestCtx) {
    ctx.cache_capture = Some(Box::new(Capture::new(fill.warn)));
}

/// Stores the captured response of a miss, if it qualifies; releases coalesced waiters.
pub fn store(shard: &ShardCtx, fill: Fill<'_>, ctx: &mut RequestCtx) {
    let Some(capture) = ctx.cache_capture.take() else {
        return;
    };
    let expires_at_ms = shard.cache.now_ms().saturating_add(fill.ttl_ms);
    if let Some(entry) = capture.into_entry(fill.key, expires_at_ms) {
        shard.cache.insert(fill.stage, fill.hash, entry);
    }
}

/// Proxy hook, as the response head is written: records status, reason and the relayed
/// header lines (`out[headers_start..]`), and adds the `Warning` header when due.
pub fn capture_head(
    ctx: &mut RequestCtx,
    out: &mut Vec<u8>,
    headers_start: usize,
    status: u16,
    reason: &[u8],
    framing: OutFraming,
) {
    let Some(capture) = ctx.cache_capture.as_deref_mut() else {
        return;
    };
    let body_len = match framing {
        OutFraming::Length(n) => Some(n),
        OutFraming::NoBody => Some(0),
        OutFraming::Chunked | OutFraming::Close => None,
    };
    let no_body = framing == OutFraming::NoBody;
    capture.head(status, reason, &out[headers_start..], body_len, no_body);
    if capture.warn {
        response_filter::header(out, b"Warning", IGNORED_INVALIDATION_WARNING);
    }
}

/// Proxy hook: one piece of the response body.
pub fn capture_body(ctx: &mut RequestCtx, data: &[u8]) {
    if let Some(capture) = ctx.cache_capture.as_deref_mut() {
        capture.body(data);
    }
}

/// Proxy hook: the response was relayed completely.
pub fn capture_done(ctx: &mut RequestCtx) {
    if let Some(capture) = ctx.cache_capture.as_deref_mut() {
        capture.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(require: bool, strategy: UnauthorizedStrategy) -> MethodCacheSettings {
        MethodCacheSettings {
            require_authorization: require,
            strategy,
            ..MethodCacheSettings::default()
        }
    }

    #[test]
    fn invalidation_follows_authorization_and_strategy() {
        let ctx = RequestCtx::new(1, true, false);
        let s = settings(false, UnauthorizedStrategy::FailWith403);
        assert_eq!(invalidation(&s, true, &ctx), Invalidation::Refill);
        assert_eq!(invalidation(&s, false, &ctx), Invalidation::None);
        let s = settings(true, UnauthorizedStrategy::FailWith403);
        assert_eq!(invalidation(&s, true, &ctx), Invalidation::Deny);
        let s = settings(true, UnauthorizedStrategy::SucceedWithResponseHeader);
        assert_eq!(
            invalidation(&s, true, &ctx),
            Invalidation::Ignored { warn: true }
        );
        let s = settings(true, UnauthorizedStrategy::SucceedWithoutResponseHeader);
        assert_eq!(
            invalidation(&s, true, &ctx),
            Invalidation::Ignored { warn: false }
        );
        let mut signed = RequestCtx::new(1, true, false);
        signed.identity.iam = Some(crate::exchange::IamCaller {
            access_key: "AKID".into(),
            user_id: "AIDA".into(),
            user_arn: "arn:aws:iam::1:user/a".into(),
            account_id: "1".into(),
            may_invalidate_cache: true,
        });
        assert_eq!(invalidation(&s, true, &signed), Invalidation::Refill);
    }

    #[test]
    fn captured_head_excludes_the_warning_it_adds() {
        let mut ctx = RequestCtx::new(1, true, false);
        ctx.cache_capture = Some(Box::new(Capture::new(true)));
        let mut out = b"HTTP/1.1 200 OK\r\n".to_vec();
        let start = out.len();
        out.extend_from_slice(b"A: b\r\n");
        capture_head(&mut ctx, &mut out, start, 200, b"OK", OutFraming::Length(2));
        capture_body(&mut ctx, b"hi");
        capture_done(&mut ctx);
        assert!(String::from_utf8_lossy(&out).contains("Warning: 199 "));
        let entry = ctx
            .cache_capture
            .take()
            .unwrap()
            .into_entry(b"k"[..].into(), 9)
            .unwrap();
        assert_eq!(&*entry.headers, b"A: b\r\n");
        assert_eq!(&*entry.body, b"hi");
    }
}
