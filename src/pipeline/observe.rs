//! The reporting phase: after the response is sent, the request is counted in the shard's
//! metrics and, if its stage logs, rendered and queued for the access-log writer.
//!
//! Which series counts a request follows API Gateway: a routed request counts under its API,
//! stage, method and resource; a request that reached a stage but matched no method (403
//! Missing Authentication Token) counts under the stage with method and resource `-` (AWS
//! counts it in the stage's metrics, under no method); a request that reached no stage
//! (unknown API or stage, unparsable) counts in the node's `unrouted` counters only.

use std::time::{Instant, SystemTime};

use crate::access_log::{Record, RequestFacts};
use crate::http::RequestHead;
use crate::metrics::Outcome;
use crate::pipeline::context::RequestCtx;
use crate::pipeline::request_filter::{self, Route};
use crate::router::Params;
use crate::server::client::ClientConn;
use crate::server::shard::ShardCtx;
use crate::snapshot::{Api, Snapshot, Stage};

/// Where a request is reported.
#[derive(Debug, Clone, Copy)]
pub enum Target<'s> {
    /// A stage and, if one matched, the method's metric series.
    Stage {
        /// The API.
        api: &'s Api,
        /// The stage.
        stage: &'s Stage,
        /// The series counting the request.
        series: u32,
        /// The configured method and resource path, if a method matched.
        method: Option<(&'s str, &'s str)>,
    },
    /// No stage was reached.
    Unrouted,
}

impl<'s> Target<'s> {
    /// The API the request reached, if any.
    pub fn api(&self) -> Option<&'s Api> {
        match self {
            Target::Stage { api, .. } => Some(api),
            Target::Unrouted => None,
        }
    }

    /// The target of a routed request.
    pub fn routed(route: &Route<'s>) -> Self {
        Target::Stage {
            api: route.api,
            stage: route.stage,
            series: route.stage.metrics.method(route.method.index),
            method: Some((&route.method.http_method, &route.method.resource_path)),
        }
    }

    /// The target of a request answered with a gateway error before or during routing: its
    /// method if routing succeeds after all (the error was e.g. 413), else its stage, else
    /// none. Runs only on the error path.
    pub fn of_error(snapshot: &'s Snapshot, head: &RequestHead, base: &[u8], draw: u32) -> Self {
        let Ok(path) = std::str::from_utf8(head.path.get(base)) else {
            return Target::Unrouted;
        };
        let host = head.host.map(|h| h.get(base));
        let mut params = Params::default();
        let method = head.method.get(base);
        if let Ok(route) = request_filter::route(snapshot, host, method, path, &mut params, draw) {
            return Target::routed(&route);
        }
        match request_filter::stage_of(snapshot, host, path, draw) {
            Some((api, stage, _)) => Target::Stage {
                api,
                stage,
                series: stage.metrics.unmatched,
                method: None,
            },
            None => Target::Unrouted,
        }
    }
}

/// Copies what the access log needs from the request head, if the target stage logs: the
/// receive buffer holding the head is reused while the response is produced.
pub fn capture(facts: &mut RequestFacts, target: Target<'_>, head: &RequestHead, base: &[u8]) {
    if let Target::Stage { stage, .. } = target {
        if stage.access_log.is_some() {
            facts.capture(head, base);
        }
    }
}

/// Reports a finished request: metrics always, the access log when the stage has one.
pub fn finish(shard: &ShardCtx, conn: &ClientConn, ctx: &RequestCtx, target: Target<'_>) {
    let Target::Stage {
        api,
        stage,
        series,
        method,
    } = target
    else {
        shard.metrics.record_unrouted(ctx.status);
        return;
    };
    let latency = ctx.sent_at.unwrap_or_else(Instant::now) - ctx.start;
    let outcome = Outcome {
        status: ctx.status,
        latency,
        integration_latency: ctx.integration_latency,
        cache_hit: ctx.cache.map(|c| c == crate::cache::CacheOutcome::Hit),
    };
    let Some(log) = &stage.access_log else {
        shard.metrics.record(series, &outcome);
        return;
    };
    let facts = &conn.log_facts;
    let record = Record {
        request_id: &ctx.request_id,
        source: conn.peer,
        user_agent: facts.user_agent(),
        api_key: ctx.api_key.get(),
        http_method: facts.method(),
        resource_path: method.map(|(_, resource)| resource),
        path: facts.path(),
        status: ctx.status,
        response_length: ctx.response_body_bytes,
        request_time: facts.time.unwrap_or_else(SystemTime::now),
        integration_latency: ctx.integration_latency,
        response_latency: latency,
        http_minor: facts.minor,
        stage: &stage.name,
        api_id: &api.id,
        domain_name: facts.host(),
        error: ctx.error,
        client_cert: conn.client_cert.as_deref(),
        authorizer: ctx.identity.is_authorized().then_some(&ctx.identity),
        error_message: ctx.error_message.as_deref(),
    };
    shard
        .access_log
        .send(log.destination_id, |buf| log.template.render(buf, &record));
    // Counted last, so a scrape that sees the request also sees whether its record was
    // dropped.
    shard.metrics.record(series, &outcome);
}
