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
use super::lambda::ValidLambda;
use super::uri::{self, Resolver};
use super::validate::{
    LambdaPlan, MappedPlan, ProxyPlan, ValidApi, ValidIntegration, ValidMethod, ValidStage,
    Validated,
};
use crate::mapping::Mapping;
use crate::metrics::series::StageSeries;
use crate::router::{HttpMethod, Router};
use crate::snapshot::{
    Api, AwsProxyIntegration, FunctionHost, HttpProxyIntegration, Integration, MappedBackend,
    MappedIntegration, Method, Snapshot, Stage,
};
use crate::throttle::build::TrafficBuilder;
use crate::throttle::MethodTraffic;

/// Builds the snapshot; problems found on the way (undefined stage variables, bad URIs after
/// substitution, unresolvable hosts) go to `sink`.
pub(crate) fn compile(mut validated: Validated, generation: u64, sink: &mut Sink) -> Snapshot {
    let mut resolver = Resolver::default();
    let mut traffic = TrafficBuilder::new(std::mem::take(&mut validated.traffic));
    let lambda = std::mem::take(&mut validated.lambda);
    let functions = std::mem::take(&mut validated.functions);
    let settings = lambda.settings();
    let region = std::mem::take(&mut validated.region);
    let mut ctx = Ctx {
        resolver: &mut resolver,
        sink,
        lambda: &lambda,
        functions: &functions,
        lambda_used: None,
        region: &region,
        account: &settings.account_id,
    };
    let (ws, rest): (Vec<ValidApi>, Vec<ValidApi>) = validated
        .apis
        .into_iter()
        .partition(|api| api.websocket.is_some());
    let ws_apis = ws
        .into_iter()
        .filter_map(|api| {
            let api = compile_ws_api(api, &mut ctx)?;
            Some((api.id.clone(), Arc::new(api)))
        })
        .collect();
    let apis = rest
        .into_iter()
        .map(|api| {
            let api = compile_api(api, &mut ctx, &mut traffic);
            (api.id.clone(), api)
        })
        .collect();
    if let (Some((file, line, field)), false) = (ctx.lambda_used.take(), lambda.has_credentials()) {
        let message = "AWS_PROXY needs credentials to sign Lambda calls: set [lambda] access_key_id and secret_access_key, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a shared credentials file";
        ctx.sink.at(&file, line, field, message);
    }
    Snapshot {
        generation,
        limits: validated.limits,
        routing: validated.routing,
        apis,
        traffic: traffic.finish(),
        domains: crate::tls::Domains::default(),
        backend_tls: None,
        lambda: Arc::new(settings),
        functions: functions.into(),
        identities: Arc::default(),
        has_iam_methods: false,
        ws_apis,
        ws_limits: validated.ws_limits,
        region: region.as_str().into(),
    }
}

/// A WebSocket API: each stage's routes, with the stage's variables applied to its
/// functions (as an `AWS_PROXY` method's).
fn compile_ws_api(api: ValidApi, ctx: &mut Ctx<'_>) -> Option<crate::ws::WsApi> {
    use crate::ws::api::{WsIntegration, WsRoute, WsStage};
    let file = api.file;
    let mut stages = AHashMap::new();
    for s in &api.stages {
        let deployment = &api.deployments[s.deployment];
        let mut routes = AHashMap::new();
        for r in &deployment.routes {
            let integration = match &r.integration {
                ValidIntegration::Mock(mock) => {
                    WsIntegration::Mock(crate::snapshot::MockIntegration {
                        status: mock.status,
                        headers: mock.headers.clone(),
                        body: mock.body.clone(),
                    })
                }
                ValidIntegration::AwsProxy(plan) => {
                    match lambda_function(&file, plan, &s.variables, ctx) {
                        Ok(function) => WsIntegration::Lambda(function),
                        Err(message) => {
                            let field = format!("stages.{}: {}", s.name, plan.field);
                            ctx.sink.at(&file, plan.line, field, message);
                            continue;
                        }
                    }
                }
                // Refused by validation.
                _ => continue,
            };
            use crate::metrics::websocket::ROUTE;
            let route = WsRoute {
                key: r.key.as_str().into(),
                integration,
                two_way: r.two_way,
                series: crate::metrics::series::intern(&api.id, &s.name, ROUTE, &r.key),
                authorizer: r.authorizer,
            };
            routes.insert(r.key.as_str().into(), Arc::new(route));
        }
        let stage = WsStage {
            name: s.name.as_str().into(),
            deployment_id: deployment.id.as_str().into(),
            routes,
            variables: sorted_variables(&s.variables),
            no_route_series: crate::metrics::series::intern(
                &api.id,
                &s.name,
                crate::metrics::websocket::ROUTE,
                crate::metrics::websocket::NO_ROUTE,
            ),
            authorizers: authorizers(&file, &api.id, s, &api.auth.authorizers, ctx),
        };
        stages.insert(s.name.as_str().into(), stage);
    }
    Some(crate::ws::WsApi {
        id: api.id.into(),
        selection: api.websocket?,
        region: ctx.region.into(),
        account: ctx.account.into(),
        stages,
    })
}

/// What compiling methods needs besides the method itself.
struct Ctx<'a> {
    resolver: &'a mut Resolver,
    sink: &'a mut Sink,
    lambda: &'a ValidLambda,
    /// Functions hosted on the node.
    functions: &'a [Arc<crate::function::FunctionSpec>],
    /// The first `AWS_PROXY` compiled (file, line, field): such a configuration needs
    /// credentials.
    lambda_used: Option<(std::path::PathBuf, Option<usize>, String)>,
    /// Region and account of the APIs' ARNs.
    region: &'a str,
    account: &'a str,
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
    authorization: crate::auth::Authorization,
    authorization_scopes: Box<[Box<str>]>,
    validation: Option<Arc<crate::validate::Validation>>,
    cors: bool,
}

enum PreparedBody {
    /// The same for every stage.
    Shared(Arc<Method>),
    /// An `HTTP_PROXY` or `HTTP` whose URI uses stage variables.
    PerStage(ProxyPlan, Wrap),
    /// An `AWS_PROXY` or `AWS`, whose function may name stage variables.
    Lambda(LambdaPlan, Wrap),
}

/// What a backend fixed for a stage becomes: a proxy integration, or a non-proxy one with
/// its (shared) mapping.
enum Wrap {
    Proxy,
    Mapped(Arc<Mapping>, Box<str>),
}

impl Wrap {
    fn http(&self, target: HttpProxyIntegration) -> Integration {
        match self {
            Wrap::Proxy => Integration::HttpProxy(target),
            Wrap::Mapped(mapping, method) => Integration::Mapped(MappedIntegration {
                backend: MappedBackend::Http {
                    target,
                    method: method.clone(),
                },
                mapping: Arc::clone(mapping),
            }),
        }
    }

    fn lambda(&self, function: AwsProxyIntegration) -> Integration {
        match self {
            Wrap::Proxy => Integration::AwsProxy(function),
            Wrap::Mapped(mapping, _) => Integration::Mapped(MappedIntegration {
                backend: MappedBackend::Lambda(function),
                mapping: Arc::clone(mapping),
            }),
        }
    }
}

fn compile_api(api: ValidApi, ctx: &mut Ctx<'_>, traffic: &mut TrafficBuilder) -> Api {
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
                .filter_map(|(i, m)| prepare(&file, i as u32, m, ctx.resolver, ctx.sink))
                .collect(),
            false => Vec::new(),
        })
        .collect();
    let stages = api
        .stages
        .iter()
        .map(|s| {
            let of = (api.id.as_str(), api.auth.authorizers.as_slice());
            let mut stage = stage_variant(&file, of, s, &s.name, (&prepared, &ids), ctx, traffic);
            if let Some(c) = &s.canary {
                let canary = canary_stage(s, c);
                let series = format!("{}/Canary", s.name);
                let mut built =
                    stage_variant(&file, of, &canary, &series, (&prepared, &ids), ctx, traffic);
                // The stage's partition with the stage's fingerprint: a canary fingerprint
                // would make the two drop each other's entries on every switch.
                let stage_deployment = &ids[s.deployment];
                built.cache =
                    super::cache::compile_stage(&api.id, &s.name, stage_deployment, &canary.cache);
                if let Some(cache) = built
                    .cache
                    .as_mut()
                    .filter(|_| c.deployment != s.deployment)
                {
                    cache.key_id = format!("{}@{}", cache.id, ids[c.deployment]).into();
                }
                built.is_canary = true;
                stage.canary = Some(Box::new(crate::snapshot::Canary {
                    threshold: (c.percent / 100.0 * 4_294_967_296.0) as u64,
                    stage: built,
                }));
            }
            (s.name.as_str().into(), stage)
        })
        .collect();
    let form = crate::auth::arn::ApiResources {
        region: ctx.region,
        account: ctx.account,
        api: &api.id,
    };
    let policy = api
        .auth
        .policy
        .as_deref()
        // Checked by `config::auth` already: only the expansion of `execute-api:/` differs.
        .map(|p| crate::auth::Policy::parse(p, &form));
    if let Some(Err(e)) = &policy {
        // Checked already; a policy that fails here must fail the load, never open the API.
        let message = format!("the resource policy is not a valid policy document: {e}");
        ctx.sink.at(&file, None, "policy", message);
    }
    let auth = crate::auth::ApiAuth {
        policy: policy.and_then(Result::ok),
        api_key_source: api.auth.api_key_source,
        region: ctx.region.into(),
        account: ctx.account.into(),
    };
    Api {
        id: api.id.into(),
        stages,
        gateway_responses: (!api.gateway_responses.is_empty())
            .then(|| Arc::new(api.gateway_responses)),
        binary_media_types: api.binary_media_types,
        auth,
        cors: api.cors.map(Arc::new),
    }
}

/// The API's authorizers for one stage: Lambda authorizers' functions with the stage's
/// variables applied and resolved like an `AWS_PROXY`'s; token authorizers with their
/// issuer's shared key set (fetched off the request path, see `auth::jwks`). One that fails
/// is reported (the load fails).
fn authorizers(
    file: &Path,
    api: &str,
    stage: &ValidStage,
    plans: &[super::auth::AuthorizerPlan],
    ctx: &mut Ctx<'_>,
) -> crate::auth::StageAuthorizers {
    use super::auth::AuthorizerPlan;
    use crate::auth::{Authorizer, JwtAuthorizer, LambdaAuthorizer};
    plans
        .iter()
        .filter_map(|plan| match plan {
            AuthorizerPlan::Jwt(j) => Some(Arc::new(Authorizer::Jwt(JwtAuthorizer {
                name: j.name.as_str().into(),
                header: j.header.as_str().into(),
                issuer: j.issuer.as_str().into(),
                audiences: j.audiences.iter().map(|a| a.as_str().into()).collect(),
                keys: crate::auth::jwks::source(&j.jwks_uri),
                leeway_secs: j.leeway_secs,
                cognito: j.cognito,
            }))),
            AuthorizerPlan::Lambda(plan) => {
                match lambda_function(file, &plan.function, &stage.variables, ctx) {
                    Ok(function) => Some(Arc::new(Authorizer::Lambda(LambdaAuthorizer {
                        name: plan.name.as_str().into(),
                        kind: plan.kind,
                        identity_sources: plan.identity_sources.clone(),
                        validation: plan.validation.clone(),
                        ttl_ms: plan.ttl_ms,
                        // The function as resolved for this stage is part of the scope: a
                        // stage variable that changes it must not find the old one's grants.
                        scope: format!(
                            "{api}/{}/{}/{:016x}/{}",
                            stage.name,
                            plan.name,
                            fingerprint(&plan.fingerprint),
                            function.invoke_path
                        )
                        .into(),
                        function,
                    }))),
                    Err(message) => {
                        let message = format!("in stage `{}`: {message}", stage.name);
                        let (line, field) = (plan.function.line, plan.function.field.as_str());
                        ctx.sink.at(file, line, field, message);
                        None
                    }
                }
            }
        })
        .collect()
}

/// FNV-1a of an authorizer's settings: stable across processes, so an unchanged authorizer
/// keeps its cache scope across reloads.
fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
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
        authorization: m.authorization,
        authorization_scopes: m.authorization_scopes,
        validation: m.validation,
        cors: m.cors,
    };
    let (plan, wrap) = match m.integration {
        ValidIntegration::Mock(mock) => return Some(shared(head, Integration::Mock(mock))),
        ValidIntegration::Mapped(mapping, MappedPlan::Mock) => {
            let mock = Integration::Mapped(MappedIntegration {
                backend: MappedBackend::Mock,
                mapping,
            });
            return Some(shared(head, mock));
        }
        ValidIntegration::AwsProxy(plan) => {
            let body = PreparedBody::Lambda(plan, Wrap::Proxy);
            return Some(Prepared { head, body });
        }
        ValidIntegration::Mapped(mapping, MappedPlan::Lambda(plan)) => {
            let body = PreparedBody::Lambda(plan, Wrap::Mapped(mapping, "POST".into()));
            return Some(Prepared { head, body });
        }
        ValidIntegration::HttpProxy(plan) => (plan, Wrap::Proxy),
        ValidIntegration::Mapped(mapping, MappedPlan::Http(plan, method)) => {
            (plan, Wrap::Mapped(mapping, method))
        }
    };
    let Some(parsed) = &plan.fixed else {
        let body = PreparedBody::PerStage(plan, wrap);
        return Some(Prepared { head, body });
    };
    let integration = match resolver
        .resolve(&parsed.host, parsed.port)
        .and_then(|addr| Ok((addr, uri::tls_name(parsed)?)))
    {
        Ok((addr, tls_name)) => wrap.http(HttpProxyIntegration {
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
    };
    Some(shared(head, integration))
}

/// A method built once for every stage.
fn shared(head: MethodHead, integration: Integration) -> Prepared {
    let method = Arc::new(method(&head, integration));
    Prepared {
        head,
        body: PreparedBody::Shared(method),
    }
}

/// A snapshot method from its head and integration.
fn method(head: &MethodHead, integration: Integration) -> Method {
    Method {
        resource_path: head.resource_path.as_str().into(),
        resource_id: crate::snapshot::resource_id(&head.resource_path),
        http_method: head.method_name.as_str().into(),
        integration,
        index: head.index,
        traffic: MethodTraffic {
            api_key_required: head.api_key_required,
        },
        cache_key: head.cache_key.clone(),
        authorization: head.authorization,
        authorization_scopes: head.authorization_scopes.clone(),
        validation: head.validation.clone(),
        cors: head.cors,
    }
}

/// One stage: its deployment's methods, instantiated with the stage's variables.
fn build_stage(
    file: &Path,
    stage: &ValidStage,
    deployment_id: &str,
    methods: &[Prepared],
    ctx: &mut Ctx<'_>,
) -> Stage {
    let mut router = Router::default();
    for p in methods {
        let (instantiated, line, field) = match &p.body {
            PreparedBody::Shared(m) => (Ok(Arc::clone(m)), None, ""),
            PreparedBody::PerStage(plan, wrap) => (
                instantiate(plan, &stage.variables, ctx.resolver)
                    .map(|target| Arc::new(method(&p.head, wrap.http(target)))),
                plan.line,
                plan.field.as_str(),
            ),
            PreparedBody::Lambda(plan, wrap) => {
                let lambda = lambda_function(file, plan, &stage.variables, ctx)
                    .map(|f| Arc::new(method(&p.head, wrap.lambda(f))));
                (lambda, plan.line, plan.field.as_str())
            }
        };
        let value = match instantiated {
            Ok(method) => method,
            Err(message) => {
                let message = format!("in stage `{}`: {message}", stage.name);
                ctx.sink.at(file, line, field, message);
                continue;
            }
        };
        if let Err(e) = router.insert(p.head.method, &p.head.resource_path, value) {
            ctx.sink
                .at(file, p.head.line, p.head.field.as_str(), e.to_string());
        }
    }
    let variables = sorted_variables(&stage.variables);
    Stage {
        name: stage.name.as_str().into(),
        deployment_id: deployment_id.into(),
        router,
        traffic: Default::default(),
        metrics: Default::default(),
        access_log: stage.access_log.clone(),
        cache: None,
        request_buffer: Box::default(),
        variables,
        authorizers: Box::default(),
        canary: None,
        is_canary: false,
    }
}

/// One stage (or a canary, as a stage) of `api`: its deployment's methods with its
/// variables, its throttles, metric series named `series`, cache, buffering, authorizers.
fn stage_variant(
    file: &Path,
    (api, plans): (&str, &[super::auth::AuthorizerPlan]),
    s: &ValidStage,
    series: &str,
    (prepared, ids): (&[Vec<Prepared>], &[String]),
    ctx: &mut Ctx<'_>,
    traffic: &mut TrafficBuilder,
) -> Stage {
    let deployment = &prepared[s.deployment];
    let deployment_id = &ids[s.deployment];
    let mut stage = build_stage(file, s, deployment_id, deployment, ctx);
    let methods: Vec<(u32, String)> = deployment
        .iter()
        .map(|p| {
            let key = format!("{} {}", p.head.method_name, p.head.resource_path);
            (p.head.index, key)
        })
        .collect();
    // The stage's own buckets (keyed by API, stage and method): a canary's requests count
    // against the stage's limits, as on AWS (one stage).
    stage.traffic = traffic.stage(api, &s.name, s.throttle, &s.method_limits, &methods);
    stage.metrics = stage_series(api, series, deployment);
    stage.cache = super::cache::compile_stage(api, &s.name, deployment_id, &s.cache);
    stage.request_buffer = super::buffering::compile(&s.buffering, &methods);
    stage.authorizers = authorizers(file, api, s, plans, ctx);
    stage
}

/// A stage's canary as a stage of its own: the canary's deployment and variables, the
/// stage's other settings; the stage cache only with `use_stage_cache` (AWS
/// `useStageCache`; the cache partition is the stage's, keyed by API and stage).
fn canary_stage(s: &ValidStage, c: &super::validate::ValidCanary) -> ValidStage {
    let mut cache = s.cache.clone();
    cache.enabled &= c.use_stage_cache;
    ValidStage {
        name: s.name.clone(),
        deployment: c.deployment,
        variables: c.variables.clone(),
        throttle: s.throttle,
        method_limits: s.method_limits.clone(),
        access_log: s.access_log.clone(),
        cache,
        buffering: s.buffering.clone(),
        canary: None,
    }
}

/// A stage's variables sorted by name (`stageVariables` of Lambda events).
fn sorted_variables(vars: &AHashMap<String, String>) -> Box<[(Box<str>, Box<str>)]> {
    let mut variables: Vec<(Box<str>, Box<str>)> = vars
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    variables.sort();
    variables.into()
}

/// A Lambda function (of an `AWS_PROXY` or an authorizer) for one stage: its URI with the
/// stage's variables, the region's endpoint resolved.
/// A function the node hosts runs here; any other goes to the region's Invoke API (which
/// needs credentials, checked once every method is compiled).
fn lambda_function(
    file: &std::path::Path,
    plan: &LambdaPlan,
    vars: &AHashMap<String, String>,
    ctx: &mut Ctx<'_>,
) -> Result<AwsProxyIntegration, String> {
    let uri = plan.template.substitute(vars)?;
    let target = super::lambda::parse_function_uri(&uri)?;
    let (name, qualifier) = crate::function::spec::function_name(&target.function);
    let hosted = ctx
        .functions
        .iter()
        .find(|f| &*f.name == name && f.answers_to(qualifier));
    let host = match hosted {
        Some(spec) => FunctionHost::Node {
            spec: Arc::clone(spec),
            qualifier: qualifier.map(Into::into),
        },
        None => {
            if ctx.lambda_used.is_none() {
                ctx.lambda_used = Some((file.to_path_buf(), plan.line, plan.field.clone()));
            }
            FunctionHost::Remote(ctx.lambda.endpoint(&target.region, ctx.resolver)?)
        }
    };
    Ok(AwsProxyIntegration {
        invoke_path: super::lambda::invoke_path(&target.function).into(),
        region: target.region.into(),
        function: target.function.into(),
        host,
        timeout: plan.timeout,
    })
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
) -> Result<HttpProxyIntegration, String> {
    let uri = plan.template.substitute(vars)?;
    let parsed =
        uri::parse_http_uri(&uri, &plan.params).map_err(|e| format!("URI `{uri}`: {e}"))?;
    let addr = resolver.resolve(&parsed.host, parsed.port)?;
    let tls_name = uri::tls_name(&parsed)?;
    Ok(HttpProxyIntegration {
        addr,
        host_header: parsed.host_header.into(),
        path: parsed.template,
        timeout: plan.timeout,
        tls_name,
    })
}
