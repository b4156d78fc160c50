//! Phase 1: checks that need the parsed head, then routing as API Gateway does it.
//!
//! The API comes from the `Host` (`{api-id}.execute-api.{domain}`, else the default API), the
//! stage from the first path segment, and the method from the stage's resource tree. Every
//! step is a hash lookup or a walk down the tree, so the cost does not grow with the number of
//! APIs or routes.

use crate::gateway_response::GatewayResponse;
use crate::http::BodyFraming;
use crate::router::{HttpMethod, Params};
use crate::snapshot::{Api, Limits, Method, Snapshot, Stage};

/// The result of routing: which stage and method serve the request.
#[derive(Debug, Clone, Copy)]
pub struct Route<'s> {
    /// The API.
    pub api: &'s Api,
    /// The stage.
    pub stage: &'s Stage,
    /// The method, with its integration.
    pub method: &'s Method,
    /// Where the path within the stage starts in the request path (after `/{stage}`, or
    /// after a custom domain's base path): method ARNs and events need it.
    pub stage_path_at: usize,
}

impl Route<'_> {
    /// The path within the stage of `full_path` (the path this route was found for).
    pub fn stage_path<'p>(&self, full_path: &'p str) -> &'p str {
        full_path
            .get(self.stage_path_at..)
            .filter(|p| !p.is_empty())
            .unwrap_or("/")
    }
}

/// Rejects a body that announces more than the payload limit before any of it is read.
pub fn check_body_limit(framing: BodyFraming, limits: &Limits) -> Result<(), GatewayResponse> {
    match framing {
        BodyFraming::Length(n) if n > limits.max_body_bytes => Err(GatewayResponse::RequestTooLong),
        _ => Ok(()),
    }
}

/// Finds the method serving `method path` on `host`, filling `params` with path parameters;
/// `canary_draw` picks a stage's canary (`Stage::pick`).
pub fn route<'s, 'p>(
    snapshot: &'s Snapshot,
    host: Option<&[u8]>,
    method: &[u8],
    path: &'p str,
    params: &mut Params<'s, 'p>,
    canary_draw: u32,
) -> Result<Route<'s>, GatewayResponse> {
    let (api, stage, resource_path) = stage_of(snapshot, host, path, canary_draw)
        .ok_or(GatewayResponse::MissingAuthenticationToken)?;
    let method = stage
        .router
        .find(HttpMethod::from_request(method), resource_path, params)
        .ok_or(GatewayResponse::MissingAuthenticationToken)?;
    // `resource_path` is a suffix of `path`, or "/" for a stage named without a path.
    let stage_path_at = match path.ends_with(resource_path) {
        true => path.len() - resource_path.len(),
        false => path.len(),
    };
    Ok(Route {
        api,
        stage,
        method,
        stage_path_at,
    })
}

/// The API and stage a request is addressed to, and its path within the stage: shared by
/// routing and by the reporting of requests that match no method, so that both agree on
/// which stage's metrics and access log a request belongs to.
///
/// A custom domain's base path mapping picks the API and stage (the URL has no stage
/// segment) and never falls back to the default API; other hosts pick the API by
/// [`select_api`] and the stage by the first path segment.
pub fn stage_of<'s, 'p>(
    snapshot: &'s Snapshot,
    host: Option<&[u8]>,
    path: &'p str,
    canary_draw: u32,
) -> Option<(&'s Api, &'s Stage, &'p str)> {
    if !snapshot.domains.is_empty() {
        if let Some(domain) = host.and_then(|h| snapshot.domains.lookup(strip_port(h))) {
            let (mapping, resource_path) = domain.map(path)?;
            let api = snapshot.apis.get(&mapping.api)?;
            let stage = api.stages.get(&mapping.stage)?.pick(canary_draw);
            return Some((api, stage, resource_path));
        }
    }
    let api = select_api(snapshot, host)?;
    let (stage_name, resource_path) = split_stage(path);
    let stage = api.stages.get(stage_name)?.pick(canary_draw);
    Some((api, stage, resource_path))
}

/// Picks the API from the `Host` header: host-style names select by id, anything else gets
/// the default API (path style).
pub fn select_api<'s>(snapshot: &'s Snapshot, host: Option<&[u8]>) -> Option<&'s Api> {
    with_api_id(snapshot, host, |id| snapshot.apis.get(id))
}

/// Runs `find` with the API id the `Host` names: its host-style id, else the default API.
/// REST and WebSocket APIs (`crate::ws`) are found by the same rule.
pub(crate) fn with_api_id<'s, T: 's>(
    snapshot: &'s Snapshot,
    host: Option<&[u8]>,
    find: impl FnOnce(&str) -> Option<&'s T>,
) -> Option<&'s T> {
    if let Some(id) = host.and_then(|h| host_style_api_id(h, &snapshot.routing.execute_api_suffix))
    {
        // A host-style name for an unknown API must not fall back to the default API. Host
        // names are case-insensitive and API ids are lower case (config validation).
        let mut lower = [0u8; 64];
        let id = lower.get_mut(..id.len()).map(|dst| {
            dst.copy_from_slice(id);
            dst.make_ascii_lowercase();
            &*dst
        })?;
        return std::str::from_utf8(id).ok().and_then(find);
    }
    find(snapshot.routing.default_api.as_deref()?)
}

/// The `{api-id}` of a host-style `Host` value, compared case-insensitively; `None` when the
/// host is not of that form. The id is returned as sent (ids are matched as configured).
fn host_style_api_id<'h>(host: &'h [u8], suffix: &str) -> Option<&'h [u8]> {
    let name = strip_port(host);
    let suffix = suffix.as_bytes();
    if name.len() <= suffix.len() {
        return None;
    }
    let (id, tail) = name.split_at(name.len() - suffix.len());
    if !tail.eq_ignore_ascii_case(suffix) || id.contains(&b'.') {
        return None;
    }
    Some(id)
}

/// `host:port` → `host` (IPv6 literals in brackets keep their brackets).
fn strip_port(host: &[u8]) -> &[u8] {
    match host.iter().rposition(|&b| b == b':') {
        Some(i) if !host[i..].contains(&b']') => &host[..i],
        _ => host,
    }
}

/// `/prod/pets/1` → (`prod`, `/pets/1`); `/prod` → (`prod`, `/`).
pub(crate) fn split_stage(path: &str) -> (&str, &str) {
    let rest = path.strip_prefix('/').unwrap_or(path);
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_is_the_first_segment() {
        assert_eq!(split_stage("/prod/pets/1"), ("prod", "/pets/1"));
        assert_eq!(split_stage("/prod"), ("prod", "/"));
        assert_eq!(split_stage("/prod/"), ("prod", "/"));
        assert_eq!(split_stage("/"), ("", "/"));
    }

    #[test]
    fn host_style_names_select_by_id() {
        let s = ".execute-api.localhost";
        assert_eq!(
            host_style_api_id(b"petstore.execute-api.localhost", s),
            Some(&b"petstore"[..])
        );
        assert_eq!(
            host_style_api_id(b"PetStore.Execute-API.localhost:8080", s),
            Some(&b"PetStore"[..])
        );
        assert_eq!(host_style_api_id(b"localhost:8080", s), None);
        assert_eq!(host_style_api_id(b".execute-api.localhost", s), None);
        assert_eq!(host_style_api_id(b"a.b.execute-api.localhost", s), None);
    }

    #[test]
    fn ports_are_ignored() {
        assert_eq!(strip_port(b"example.com:80"), b"example.com");
        assert_eq!(strip_port(b"[::1]:80"), b"[::1]");
        assert_eq!(strip_port(b"[::1]"), b"[::1]");
    }

    #[test]
    fn announced_oversized_bodies_are_refused() {
        let limits = Limits {
            max_body_bytes: 10,
            ..Limits::default()
        };
        assert_eq!(
            check_body_limit(BodyFraming::Length(11), &limits),
            Err(GatewayResponse::RequestTooLong)
        );
        assert_eq!(check_body_limit(BodyFraming::Length(10), &limits), Ok(()));
        assert_eq!(check_body_limit(BodyFraming::Chunked, &limits), Ok(()));
    }
}
