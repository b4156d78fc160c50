//! Validated configuration → [`Snapshot`].
//!
//! Deployments are folded into the stages that serve them: each stage gets its own router
//! whose values are `Arc<Method>`s. A method that is the same in every stage (MOCK, or an
//! `HTTP_PROXY` URI without stage variables) is built once and shared by all stages serving
//! its deployment; a URI with stage variables is instantiated per stage. Backend hosts are
//! resolved here, on the control-plane thread, so shards never call DNS. Deployments no stage
//! serves are not compiled (and their hosts not resolved): they only had to be valid.

use std::path::Path;
use std::sync::Arc;

use ahash::AHashMap;

use super::error::Sink;
use super::uri::{self, Resolver};
use super::validate::{ProxyPlan, ValidApi, ValidIntegration, ValidMethod, ValidStage, Validated};
use crate::metrics::series::StageSeries;
use crate::router::{HttpMethod, Router};
use crate::snapshot::{Api, HttpProxyIntegration, Integration, Method, Snapshot, Stage};
use crate::throttle::build::TrafficBuilder;
use crate::throttle::MethodTraffic;

/// Builds the snapshot; problems found on the way (undefined stage variables, bad URIs after
/// substitution, unresolvable hosts) go to `sink`.
pub(crate) fn compile(mut validated: Validated, generation: u64, sink: &mut Sink) -> Snapshot {
    let mut resolver = Resolver::default();
    let mut traffic = TrafficBuilder::new(std::mem::take(&mut validated.traffic));
    let apis = validated
        .apis
        .into_iter()
        .map(|api| {
            let api = compile_api(api, &mut resolver, sink, &mut traffic);
            (api.id.clone(), api)
        })
        .collect();
    Snapshot {
        generation,
        limits: validated.limits,
        routing: validated.routing,
        apis,
        traffic: traffic.finish(),
        domains: crate::tls::Domains::default(),
        backend_tls: None,
    }
}

/// A method ready to be put in stage routers.
struct Prepared {
    /// Everything about the method except its integration.
    head: MethodHead,
    /// Shared by every stage, or instantiated per stage.
    body: PreparedBody,
}

/// The parts of a [`ValidMethod`] every stage needs.
struct MethodHead {
    field: String,
    line: Option<usize>,
    method: HttpMethod,
    method_name: String,
    resource_path: String,
    /// Position in the deployment (per-stage tables are indexed by it).
    index: u32,
    api_key_required: bool,
    cache_key: Box<[crate::cache::KeyParam]>,
}

enum PreparedBody {
    /// The same for every stage.
    Shared(Arc<Method>),
    /// An `HTTP_PROXY` whose URI uses stage variables.
    PerStage(ProxyPlan),
}

fn compile_api(
    api: ValidApi,
    resolver: &mut Resolver,
    sink: &mut Sink,
    traffic: &mut TrafficBuilder,
) -> Api {
    let file = api.file;
    let ids: Vec<String> = api.deployments.iter().map(|d| d.id.clone()).collect();
    let prepared: Vec<Vec<Prepared>> = api
        .deployments
        .into_iter()
        .map(|d| match d.referenced {
            true => d
                .methods
                .into_iter()
                .enumerate()
                .filter_map(|(i, m)| prepare(&file, i as u32, m, resolver, sink))
                .collect(),
            false => Vec::new(),
        })
        .collect();
    let stages = api
        .stages
        .iter()
        .map(|s| {
            let deployment = &prepared[s.deployment];
            let deployment_id = &ids[s.deployment];
            let mut stage = build_stage(&file, s, deployment_id, deployment, resolver, sink);
            let methods: Vec<(u32, String)> = deployment
                .iter()
                .map(|p| {
                    let key = format!("{} {}", p.head.method_name, p.head.resource_path);
                    (p.head.index, key)
                })
                .collect();
            stage.traffic = traffic.stage(&api.id, &s.name, s.throttle, &s.method_limits, &methods);
            stage.metrics = stage_series(&api.id, &s.name, deployment);
            stage.cache = super::cache::compile_stage(&api.id, &s.name, deployment_id, &s.cache);
            (s.name.as_str().into(), stage)
        })
        .collect();
    Api {
        id: api.id.into(),
        stages,
    }
}

/// Builds what can be shared between stages; `None` (reported) when the backend host does
/// not resolve.
fn prepare(
    file: &Path,
    index: u32,
    m: ValidMethod,
    resolver: &mut Resolver,
    sink: &mut Sink,
) -> Option<Prepared> {
    let head = MethodHead {
        field: m.field,
        line: m.line,
        method: m.method,
        method_name: m.method_name,
        resource_path: m.resource_path,
        index,
        api_key_required: m.api_key_required,
        cache_key: m.cache_key,
    };
    let integration = match m.integration {
        ValidIntegration::Mock(mock) => Integration::Mock(mock),
        ValidIntegration::HttpProxy(plan) => match &plan.fixed {
            None => {
                return Some(Prepared {
                    head,
                    body: PreparedBody::PerStage(plan),
                })
            }
            Some(parsed) => match resolver
                .resolve(&parsed.host, parsed.port)
                .and_then(|addr| Ok((addr, uri::tls_name(parsed)?)))
            {
                Ok((addr, tls_name)) => Integration::HttpProxy(HttpProxyIntegration {
                    addr,
                    host_header: parsed.host_header.as_str().into(),
                    path: parsed.template.clone(),
                    timeout: plan.timeout,
                    tls_name,
                }),
                Err(message) => {
                    sink.at(file, plan.line, plan.field, message);
                    return None;
                }
            },
        },
    };
    let method = Arc::new(method(&head, integration));
    Some(Prepared {
        head,
        body: PreparedBody::Shared(method),
    })
}

/// A snapshot method from its head and integration.
fn method(head: &MethodHead, integration: Integration) -> Method {
    Method {
        resource_path: head.resource_path.as_str().into(),
        http_method: head.method_name.as_str().into(),
        integration,
        index: head.index,
        traffic: MethodTraffic {
            api_key_required: head.api_key_required,
        },
        cache_key: head.cache_key.clone(),
    }
}

/// One stage: its deployment's methods, instantiated with the stage's variables.
fn build_stage(
    file: &Path,
    stage: &ValidStage,
    deployment_id: &str,
    methods: &[Prepared],
    resolver: &mut Resolver,
    sink: &mut Sink,
) -> Stage {
    let mut router = Router::default();
    for p in methods {
        let value = match &p.body {
            PreparedBody::Shared(m) => Arc::clone(m),
            PreparedBody::PerStage(plan) => match instantiate(plan, &stage.variables, resolver) {
                Ok(integration) => Arc::new(method(&p.head, integration)),
                Err(message) => {
                    let message = format!("in stage `{}`: {message}", stage.name);
                    sink.at(file, plan.line, plan.field.as_str(), message);
                    continue;
                }
            },
        };
        if let Err(e) = router.insert(p.head.method, &p.head.resource_path, value) {
            sink.at(file, p.head.line, p.head.field.as_str(), e.to_string());
        }
    }
    Stage {
        name: stage.name.as_str().into(),
        deployment_id: deployment_id.into(),
        router,
        traffic: Default::default(),
        metrics: Default::default(),
        access_log: stage.access_log.clone(),
        cache: None,
    }
}

/// Numbers the metric series of a stage's methods (see `metrics::series`).
fn stage_series(api: &str, stage: &str, methods: &[Prepared]) -> StageSeries {
    let heads = methods.iter().map(|p| {
        let h = &p.head;
        (h.index, h.method_name.as_str(), h.resource_path.as_str())
    });
    crate::metrics::series::stage_series(api, stage, heads)
}

/// Substitutes a stage's variables into a URI, parses and resolves the result.
fn instantiate(
    plan: &ProxyPlan,
    vars: &AHashMap<String, String>,
    resolver: &mut Resolver,
) -> Result<Integration, String> {
    let uri = plan.template.substitute(vars)?;
    let parsed =
        uri::parse_http_uri(&uri, &plan.params).map_err(|e| format!("URI `{uri}`: {e}"))?;
    let addr = resolver.resolve(&parsed.host, parsed.port)?;
    let tls_name = uri::tls_name(&parsed)?;
    Ok(Integration::HttpProxy(HttpProxyIntegration {
        addr,
        host_header: parsed.host_header.into(),
        path: parsed.template,
        timeout: plan.timeout,
        tls_name,
    }))
}
