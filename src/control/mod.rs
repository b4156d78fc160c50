//! The control plane: the `apigateway` REST API (what `aws apigateway ...` and boto3 call
//! with `--endpoint-url`) on the admin listener, over one resource model in AWS's shapes
//! ([`model`]), kept in an embedded store ([`store`]) and compiled into the snapshot by the
//! same compile as the API files ([`emit`] writes each API in the file format;
//! `config::load_with` compiles files and these together; `reload::Reloader::apply` publishes).
//!
//! A call that changes what is served (a deployment taken by a stage, a stage moved, created
//! or deleted, an API deleted) answers only after the new snapshot compiled, the store
//! committed, and every shard was handed the new snapshot through the same lock-free swap as
//! SIGHUP: nothing in flight is dropped. A change that does not compile is refused with
//! `BadRequestException` naming the problem, and nothing changes. Changes to the working copy
//! (resources, methods, integrations) are stored and reach callers with the next deployment,
//! as on AWS.
//!
//! Every call must be SigV4-signed for the service `apigateway` with the administrator key of
//! `[control]` (`config::control`; the admin listener holds its other AWS operations to the
//! same key); APIs defined in files are listed and readable but not changeable here (the file
//! owns them). Rest APIs and their resources, methods, integrations, deployments, stages (with
//! canaries), usage plans, API keys, OpenAPI import and export are here ([`ops`]); every change
//! is in the audit log ([`audit`]).
//!
//! Not yet here (issue 14 lists them): authorizers, models, validators, gateway responses,
//! domain names, client certificates, documentation. (Tags: APIs and stages, [`ops::tags`].)

pub mod audit;
pub mod emit;
pub mod error;
pub mod ids;
pub mod model;
pub mod openapi;
pub mod ops;
pub mod patch;
pub mod store;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::auth::iam::{self, AccessKey, IamUser, Identities, SigError, SigningKeys};
use crate::config::control::ControlSettings;
use crate::config::load::ExtraSource;
use crate::reload::{ApplyError, ManagedApis, Reloader};
use error::ApiError;
use ops::{Apis, Ctx, Reply};

/// The service control-plane calls are signed for (botocore's `apigateway` model has no
/// `signingName`, so its endpoint prefix).
pub const SERVICE: &str = "apigateway";

/// A call as it arrived on the admin listener.
pub struct Request<'a> {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE`.
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    /// The query after `?` (empty when none).
    pub query: &'a str,
    /// Every header.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
    /// The caller's address (for the audit log).
    pub peer: Option<std::net::SocketAddr>,
    /// `x-amzn-RequestId` of the answer.
    pub request_id: &'a str,
}

/// What to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Status.
    pub status: u16,
    /// `x-amzn-ErrorType` of a refusal.
    pub error_type: Option<&'static str>,
    /// JSON body (empty for 202/204 deletes).
    pub body: Vec<u8>,
    /// The body's media type when it is not JSON.
    pub content_type: Option<&'static str>,
}

impl From<Result<Reply, ApiError>> for Response {
    fn from(result: Result<Reply, ApiError>) -> Self {
        match result {
            Ok(Reply {
                status,
                raw: Some((content_type, body)),
                ..
            }) => Response {
                status,
                error_type: None,
                body,
                content_type: Some(content_type),
            },
            Ok(reply) => Response {
                status: reply.status,
                error_type: None,
                body: reply
                    .body
                    .map(|b| b.to_string().into_bytes())
                    .unwrap_or_default(),
                content_type: None,
            },
            Err(e) => Response {
                status: e.status,
                error_type: Some(e.kind),
                body: e.body().into_bytes(),
                content_type: None,
            },
        }
    }
}

/// The APIs, usage plans and keys, and their emitted definitions, changed together.
#[derive(Debug, Default)]
struct State {
    apis: Apis,
    traffic: model::TrafficState,
    /// API id → its definition in the file format (APIs with at least one stage).
    emitted: BTreeMap<String, ExtraSource>,
    /// The plans and keys as `usage_plans.toml` and `api_keys.toml` texts.
    emitted_traffic: Vec<ExtraSource>,
    /// The store's version this state was read at or written as ([`store::Store::version`]).
    version: u64,
}

impl State {
    /// The state `store` holds, at its current version.
    fn read(store: &store::Store) -> Result<State, store::StoreError> {
        let version = store.version()?;
        let apis = store.load()?;
        let traffic = store.load_traffic()?;
        let emitted = apis
            .values()
            .filter(|s| !s.stages.is_empty())
            .map(|s| (s.api.id.clone(), emit::source(s)))
            .collect();
        Ok(State {
            emitted_traffic: emit::traffic_sources(&traffic),
            apis,
            traffic,
            emitted,
            version,
        })
    }

    /// Everything the reloader compiles beside the files.
    fn sources(&self) -> Vec<ExtraSource> {
        let apis = self.emitted.values().cloned();
        apis.chain(self.emitted_traffic.iter().cloned()).collect()
    }
}

/// The control plane of one node.
pub struct ControlPlane {
    store: store::Store,
    state: Mutex<State>,
    /// What the reloader compiles beside the files; replaced only inside `Reloader::apply`.
    committed: ArcSwap<Vec<ExtraSource>>,
    admin: Identities,
    account: String,
    audit: audit::AuditLog,
}

impl ManagedApis for ControlPlane {
    fn sources(&self) -> Arc<Vec<ExtraSource>> {
        self.committed.load_full()
    }
}

impl ControlPlane {
    /// Opens the store of `settings` and emits what it holds; `account` words AWS's messages.
    pub fn open(settings: &ControlSettings, account: &str) -> Result<Arc<Self>, store::StoreError> {
        let store = store::Store::new(&settings.store);
        let state = State::read(&store)?;
        let committed = ArcSwap::from_pointee(state.sources());
        let admin = match &settings.credentials {
            None => Identities::default(),
            Some(c) => {
                let arn: Box<str> = format!("arn:aws:iam::{account}:root").into();
                let user = Arc::new(IamUser {
                    name: "admin".into(),
                    user_id: iam::user_id(&arn),
                    arn,
                    account: account.into(),
                    policy: None,
                });
                let key = AccessKey {
                    secret: c.secret_access_key.as_str().into(),
                    session_token: None,
                    user,
                };
                Identities::new([(c.access_key_id.as_str().into(), key)])
            }
        };
        Ok(Arc::new(ControlPlane {
            store,
            state: Mutex::new(state),
            committed,
            admin,
            account: account.to_string(),
            audit: audit::AuditLog::new(&settings.audit_log),
        }))
    }

    /// Answers one call: authenticates it, runs its operation, and (for changes) compiles,
    /// stores and publishes. `region` is the node's (`[server] region`).
    pub fn handle(
        &self,
        req: &Request<'_>,
        reloader: &Reloader,
        snapshot: &crate::snapshot::Snapshot,
    ) -> Response {
        let region = &*snapshot.region;
        let segments: Vec<String> = req
            .path
            .trim_start_matches('/')
            .split('/')
            .map(|s| {
                String::from_utf8_lossy(&crate::upstream::sigv4::percent_decode(s)).into_owned()
            })
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let accept = req
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("accept"))
            .map_or("", |(_, v)| *v);
        let call = Call {
            method: req.method,
            segments: &segments,
            query: req.query,
            body: req.body,
            yaml: accept.contains("yaml"),
        };
        let op = route(&call);
        let suffix = &*snapshot.routing.execute_api_suffix;
        let result = match self.authenticate(req, region) {
            Err(e) => Err(e),
            Ok(()) => self.run(&op, &call, reloader, (suffix, region)),
        };
        if let Some(Op::Change(_) | Op::ChangeTraffic(_)) = op {
            self.audit(req, &call, &result, region);
        }
        result.into()
    }

    /// Runs a routed operation.
    fn run(
        &self,
        op: &Option<Op>,
        call: &Call<'_>,
        reloader: &Reloader,
        (host_suffix, region): (&str, &str),
    ) -> Result<Reply, ApiError> {
        let ctx = Ctx {
            account: self.account.clone(),
            file_apis: reloader.file_apis(),
            host_suffix: host_suffix.to_string(),
            region: region.to_string(),
        };
        match op {
            Some(Op::Read(read)) => {
                let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                read(&state.apis, &ctx, call)
            }
            Some(Op::ReadTraffic(read)) => {
                let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                read(&state.traffic, &ctx, call)
            }
            Some(Op::Change(change)) => self.change(reloader, |apis, _| change(apis, &ctx, call)),
            Some(Op::ChangeTraffic(change)) => {
                self.change(reloader, |apis, traffic| change(traffic, apis, &ctx, call))
            }
            None => Err(ApiError::not_found(format!(
                "Unknown operation: {} /{}",
                call.method,
                call.segments.join("/")
            ))),
        }
    }

    /// Records a state-changing call (see [`audit`]).
    fn audit(
        &self,
        req: &Request<'_>,
        call: &Call<'_>,
        result: &Result<Reply, ApiError>,
        region: &str,
    ) {
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        let access_key = header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').next());
        // The body only of a call that authenticated (a refused one's is anyone's), and the
        // path's parameters over it: they name what the call acted on.
        let mut request = serde_json::Map::new();
        let authenticated = !matches!(result, Err(e) if e.status == 403);
        if let (true, Ok(serde_json::Value::Object(body))) =
            (authenticated, serde_json::from_slice(call.body))
        {
            request = body;
        }
        request.extend(path_parameters(call.segments));
        let (response, error) = match result {
            Ok(reply) => (reply.body.clone(), None),
            Err(e) => (None, Some((e.kind, e.message.as_str()))),
        };
        self.audit.record(&audit::Event {
            name: &operation_name(call),
            access_key,
            source_ip: req.peer.map(|p| p.ip()),
            user_agent: header("user-agent"),
            request: serde_json::Value::Object(request),
            response,
            error,
            request_id: req.request_id,
            region,
            account: &self.account,
        });
    }

    /// Whether `[control]` names an administrator key (without one every call is refused).
    pub fn has_credentials(&self) -> bool {
        !self.admin.is_empty()
    }

    /// SigV4 for `apigateway` with the administrator key, refusals as AWS words them.
    fn authenticate(&self, req: &Request<'_>, region: &str) -> Result<(), ApiError> {
        self.verify(req, SERVICE, region)
    }

    /// `req` signed for `service` with the administrator key (the admin listener's other AWS
    /// operations: Lambda Invoke is signed for `lambda`).
    pub fn verify(&self, req: &Request<'_>, service: &str, region: &str) -> Result<(), ApiError> {
        let signed = iam::SignedRequest {
            method: req.method,
            path: req.path,
            query: (!req.query.is_empty()).then_some(req.query),
            headers: req.headers,
            body: req.body,
        };
        let now = ids::now_secs().max(0) as u64;
        // A cache of one call: the data plane's key cache is per shard (not `Sync`), and
        // deriving a key per control call (four HMACs) costs nothing at this rate.
        let keys = SigningKeys::new(crate::clock::Clock::default(), 4096);
        match iam::verify_for(service, &self.admin, &keys, &signed, region, now) {
            Ok(_) => Ok(()),
            Err(SigError::Missing) => Err(ApiError::forbidden(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            )),
            Err(SigError::Incomplete(m)) => {
                Err(ApiError::forbidden("IncompleteSignatureException", m))
            }
            Err(SigError::UnknownKey) => Err(ApiError::forbidden(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )),
            Err(SigError::Mismatch(m) | SigError::Expired(m)) => {
                Err(ApiError::forbidden("InvalidSignatureException", m))
            }
        }
    }

    /// Runs `op` on a copy of the APIs; stores what it changed and, if that changes what is
    /// served, compiles and publishes it first (see the module docs). The copy replaces the
    /// APIs only once all of that succeeded.
    fn change(
        &self,
        reloader: &Reloader,
        op: impl FnOnce(&mut Apis, &mut model::TrafficState) -> Result<Reply, ApiError>,
    ) -> Result<Reply, ApiError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Another process (the other side of a binary upgrade) may have changed the file.
        let stored = self
            .store
            .version()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        if stored != state.version {
            *state = State::read(&self.store).map_err(|e| ApiError::internal(e.to_string()))?;
        }
        let mut next = state.apis.clone();
        let mut traffic = state.traffic.clone();
        let reply = op(&mut next, &mut traffic)?;
        let put: Vec<&model::ApiState> = next
            .values()
            .filter(|s| state.apis.get(&s.api.id) != Some(*s))
            .collect();
        let gone: Vec<&str> = state
            .apis
            .keys()
            .filter(|id| !next.contains_key(*id))
            .map(String::as_str)
            .collect();
        let traffic_changed = traffic != state.traffic;
        if put.is_empty() && gone.is_empty() && !traffic_changed {
            return Ok(reply);
        }
        let mut emitted = state.emitted.clone();
        for id in &gone {
            emitted.remove(*id);
        }
        for s in &put {
            if s.stages.is_empty() {
                emitted.remove(&s.api.id);
            } else {
                emitted.insert(s.api.id.clone(), emit::source(s));
            }
        }
        let emitted_traffic = emit::traffic_sources(&traffic);
        let mut candidate = State {
            apis: BTreeMap::new(),
            traffic: model::TrafficState::default(),
            emitted,
            emitted_traffic,
            version: state.version,
        };
        let sources = candidate.sources();
        let serving_changed = sources != state.sources();
        let mut written = state.version;
        let mut commit = || -> Result<(), store::StoreError> {
            let traffic = traffic_changed.then_some(&traffic);
            written = self.store.write(&put, &gone, traffic)?;
            self.committed.store(Arc::new(sources.clone()));
            Ok(())
        };
        if serving_changed {
            match reloader.apply(&sources, commit) {
                Ok(generation) => {
                    tracing::info!("control plane change serving generation={generation}")
                }
                Err(ApplyError::Rejected(errors)) => {
                    return Err(ApiError::bad_request(format!(
                        "The change does not compile; nothing was changed: {errors}"
                    )))
                }
                Err(ApplyError::Commit(e)) => return Err(ApiError::internal(e.to_string())),
            }
        } else {
            commit().map_err(|e| ApiError::internal(e.to_string()))?;
        }
        drop(put);
        candidate.version = written;
        state.version = candidate.version;
        state.apis = next;
        state.traffic = traffic;
        state.emitted = candidate.emitted;
        state.emitted_traffic = candidate.emitted_traffic;
        Ok(reply)
    }
}

/// What the store of `settings` holds, as the definitions the compile reads beside the
/// files (for `tollgate --check`, which checks the node's whole configuration).
pub fn stored_sources(settings: &ControlSettings) -> Result<Vec<ExtraSource>, store::StoreError> {
    let store = store::Store::new(&settings.store);
    let apis = store.load()?;
    let traffic = store.load_traffic()?;
    let mut sources: Vec<ExtraSource> = apis
        .values()
        .filter(|s| !s.stages.is_empty())
        .map(emit::source)
        .collect();
    sources.extend(emit::traffic_sources(&traffic));
    Ok(sources)
}

/// `tollgate export`: every API the store of `settings` holds, written as an API file
/// `{out}/apis/{id}.toml` (what its stages serve; an API without a stage has nothing to
/// serve and is written with none). Returns the files written.
pub fn export_files(
    settings: &ControlSettings,
    out: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>, String> {
    let apis = store::Store::new(&settings.store)
        .load()
        .map_err(|e| e.to_string())?;
    let dir = out.join("apis");
    let store_dir = settings.store.parent().unwrap_or(std::path::Path::new("."));
    let same = |a: &std::path::Path, b: &std::path::Path| {
        a.canonicalize()
            .ok()
            .is_some_and(|a| b.canonicalize().ok() == Some(a))
    };
    if same(out, store_dir) {
        // The files would define the store's APIs a second time: the next start refuses
        // both ids.
        return Err(format!(
            "{} holds the store itself: export to another folder, then move the files and delete the APIs from the store",
            out.display()
        ));
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for state in apis.values() {
        let id = &state.api.id;
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "the store holds an API id that is not a file name: {id:?}"
            ));
        }
        let path = dir.join(format!("{id}.toml"));
        let header = format!(
            "# Exported from the control plane ({}): API {} \"{}\".\n",
            settings.store.display(),
            state.api.id,
            state.api.name
        );
        let text = header + &emit::source(state).text;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// A call, decoded for the operations.
struct Call<'a> {
    method: &'a str,
    segments: &'a [&'a str],
    query: &'a str,
    body: &'a [u8],
    /// `Accept` asks for YAML (exports).
    yaml: bool,
}

type ReadFn = fn(&Apis, &Ctx, &Call<'_>) -> Result<Reply, ApiError>;
type ChangeFn = fn(&mut Apis, &Ctx, &Call<'_>) -> Result<Reply, ApiError>;
type ReadTrafficFn = fn(&model::TrafficState, &Ctx, &Call<'_>) -> Result<Reply, ApiError>;
type ChangeTrafficFn =
    fn(&mut model::TrafficState, &Apis, &Ctx, &Call<'_>) -> Result<Reply, ApiError>;

/// A routed operation.
enum Op {
    Read(ReadFn),
    Change(ChangeFn),
    /// Of the usage plans and keys.
    ReadTraffic(ReadTrafficFn),
    /// Of the usage plans and keys (which may refer to the APIs).
    ChangeTraffic(ChangeTrafficFn),
}

/// `?mode=import`: a POST to `/restapis` or `/apikeys` that imports (`ImportRestApi`,
/// `ImportApiKeys`).
fn is_import(call: &Call<'_>) -> bool {
    ops::query_param(call.query, "mode").as_deref() == Some("import")
}

/// The operation's name as the API and CloudTrail give it: the HTTP method's verb (`Create`
/// for POST) and the resource kind the path ends at (`GetRestApis`, `PutIntegrationResponse`,
/// `UpdateStage`).
fn operation_name(call: &Call<'_>) -> String {
    let s = call.segments;
    if call.method == "POST" && s == ["restapis"] && is_import(call) {
        return "ImportRestApi".into();
    }
    if s.first() == Some(&"tags") {
        let name = match call.method {
            "PUT" => "TagResource",
            "DELETE" => "UntagResource",
            _ => "GetTags",
        };
        return name.into();
    }
    if call.method == "POST" && s == ["apikeys"] && is_import(call) {
        return "ImportApiKeys".into();
    }
    let kind = |i: usize| -> (&str, &str) {
        match s.get(i).copied().unwrap_or("") {
            "restapis" => ("RestApi", "RestApis"),
            "resources" => ("Resource", "Resources"),
            "methods" => ("Method", "Methods"),
            "integration" => ("Integration", "Integration"),
            "deployments" => ("Deployment", "Deployments"),
            "stages" => ("Stage", "Stages"),
            "usageplans" => ("UsagePlan", "UsagePlans"),
            "apikeys" => ("ApiKey", "ApiKeys"),
            "keys" => ("UsagePlanKey", "UsagePlanKeys"),
            "responses" if s.get(i.wrapping_sub(1)) == Some(&"integration") => {
                ("IntegrationResponse", "IntegrationResponses")
            }
            "responses" => ("MethodResponse", "MethodResponses"),
            _ => ("Unknown", "Unknown"),
        }
    };
    // A collection ends the path at an odd length, an item at an even one (`integration`
    // has no id: it is an item, and counts for nothing below it).
    let below_integration = s.contains(&"integration") && s.last() != Some(&"integration");
    let length = s.len() - usize::from(below_integration);
    let (collection, noun) = if s.last() == Some(&"integration") {
        (false, kind(s.len() - 1).0)
    } else if length % 2 == 1 {
        let (one, many) = kind(s.len() - 1);
        (true, if call.method == "GET" { many } else { one })
    } else {
        (false, kind(s.len().saturating_sub(2)).0)
    };
    let verb = match (call.method, collection) {
        ("POST", _) => "Create",
        ("GET", _) => "Get",
        ("PUT", _) => "Put",
        ("PATCH", _) => "Update",
        ("DELETE", _) => "Delete",
        _ => "Unknown",
    };
    format!("{verb}{noun}")
}

/// The path's parameters by AWS's names (`restApiId`, `resourceId`, `httpMethod`,
/// `statusCode`, `deploymentId`, `stageName`).
fn path_parameters(segments: &[&str]) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    for pair in segments.chunks(2) {
        let [collection, value] = pair else { continue };
        let name = match *collection {
            "restapis" => "restApiId",
            "resources" => "resourceId",
            "methods" => "httpMethod",
            "responses" => "statusCode",
            "deployments" => "deploymentId",
            "stages" => "stageName",
            "usageplans" => "usagePlanId",
            "apikeys" => "apiKey",
            "keys" => "keyId",
            _ => continue,
        };
        out.insert(name.into(), (*value).into());
    }
    out
}

/// The method-scoped location `segments[1]`, `[3]`, `[5]`.
fn at<'a>(segments: &'a [&'a str]) -> ops::methods::At<'a> {
    ops::methods::At {
        api: segments[1],
        resource: segments[3],
        verb: segments[5],
    }
}

/// The operation for a method and path (AWS's paths, botocore's `requestUri`s).
fn route(call: &Call<'_>) -> Option<Op> {
    use ops::{deployments, imports, keys, methods, plans, resources, restapis, stages, tags};
    use Op::{Change, ChangeTraffic, Read, ReadTraffic};
    let s = call.segments;
    let op = match (call.method, s) {
        ("GET", ["restapis"]) => Read(|a, c, call| restapis::list(a, c, call.query)),
        ("POST", ["restapis"]) if is_import(call) => {
            Change(|a, c, call| imports::import(a, c, call.query, call.body))
        }
        ("POST", ["restapis"]) => Change(|a, c, call| restapis::create(a, c, call.body)),
        ("PUT", ["restapis", _]) => {
            Change(|a, c, call| imports::put(a, c, call.segments[1], call.query, call.body))
        }
        ("GET", ["restapis", _, "stages", _, "exports", _]) => Read(|a, c, call| {
            let s = call.segments;
            imports::export(a, c, (s[1], s[3], s[5]), call.query, call.yaml)
        }),
        ("GET", ["restapis", _]) => Read(|a, c, call| restapis::get(a, c, call.segments[1])),
        ("PATCH", ["restapis", _]) => {
            Change(|a, c, call| restapis::update(a, c, call.segments[1], call.body))
        }
        ("DELETE", ["restapis", _]) => {
            Change(|a, c, call| restapis::delete(a, c, call.segments[1]))
        }
        ("GET", ["restapis", _, "resources"]) => {
            Read(|a, c, call| resources::list(a, c, call.segments[1], call.query))
        }
        ("GET", ["restapis", _, "resources", _]) => {
            Read(|a, c, call| resources::get(a, c, call.segments[1], call.segments[3], call.query))
        }
        ("POST", ["restapis", _, "resources", _]) => Change(|a, c, call| {
            resources::create(a, c, call.segments[1], call.segments[3], call.body)
        }),
        ("PATCH", ["restapis", _, "resources", _]) => Change(|a, c, call| {
            resources::update(a, c, call.segments[1], call.segments[3], call.body)
        }),
        ("DELETE", ["restapis", _, "resources", _]) => {
            Change(|a, c, call| resources::delete(a, c, call.segments[1], call.segments[3]))
        }
        ("PUT", ["restapis", _, "resources", _, "methods", _]) => {
            Change(|a, c, call| methods::put_method(a, c, at(call.segments), call.body))
        }
        ("GET", ["restapis", _, "resources", _, "methods", _]) => {
            Read(|a, _, call| methods::get_method(a, at(call.segments)))
        }
        ("PATCH", ["restapis", _, "resources", _, "methods", _]) => {
            Change(|a, c, call| methods::update_method(a, c, at(call.segments), call.body))
        }
        ("DELETE", ["restapis", _, "resources", _, "methods", _]) => {
            Change(|a, c, call| methods::delete_method(a, c, at(call.segments)))
        }
        ("PUT", ["restapis", _, "resources", _, "methods", _, "responses", _]) => {
            Change(|a, c, call| {
                methods::put_method_response(a, c, at(call.segments), call.segments[7], call.body)
            })
        }
        ("GET", ["restapis", _, "resources", _, "methods", _, "responses", _]) => {
            Read(|a, _, call| methods::get_method_response(a, at(call.segments), call.segments[7]))
        }
        ("DELETE", ["restapis", _, "resources", _, "methods", _, "responses", _]) => {
            Change(|a, c, call| {
                methods::delete_method_response(a, c, at(call.segments), call.segments[7])
            })
        }
        ("PUT", ["restapis", _, "resources", _, "methods", _, "integration"]) => {
            Change(|a, c, call| methods::put_integration(a, c, at(call.segments), call.body))
        }
        ("GET", ["restapis", _, "resources", _, "methods", _, "integration"]) => {
            Read(|a, _, call| methods::get_integration(a, at(call.segments)))
        }
        ("PATCH", ["restapis", _, "resources", _, "methods", _, "integration"]) => {
            Change(|a, c, call| methods::update_integration(a, c, at(call.segments), call.body))
        }
        ("DELETE", ["restapis", _, "resources", _, "methods", _, "integration"]) => {
            Change(|a, c, call| methods::delete_integration(a, c, at(call.segments)))
        }
        ("PUT", ["restapis", _, "resources", _, "methods", _, "integration", "responses", _]) => {
            Change(|a, c, call| {
                let status = call.segments[8];
                methods::put_integration_response(a, c, at(call.segments), status, call.body)
            })
        }
        ("GET", ["restapis", _, "resources", _, "methods", _, "integration", "responses", _]) => {
            Read(|a, _, call| {
                methods::get_integration_response(a, at(call.segments), call.segments[8])
            })
        }
        (
            "DELETE",
            ["restapis", _, "resources", _, "methods", _, "integration", "responses", _],
        ) => Change(|a, c, call| {
            methods::delete_integration_response(a, c, at(call.segments), call.segments[8])
        }),
        ("GET", ["restapis", _, "deployments"]) => {
            Read(|a, c, call| deployments::list(a, c, call.segments[1], call.query))
        }
        ("POST", ["restapis", _, "deployments"]) => {
            Change(|a, c, call| deployments::create(a, c, call.segments[1], call.body))
        }
        ("GET", ["restapis", _, "deployments", _]) => {
            Read(|a, c, call| deployments::get(a, c, call.segments[1], call.segments[3]))
        }
        ("DELETE", ["restapis", _, "deployments", _]) => {
            Change(|a, c, call| deployments::delete(a, c, call.segments[1], call.segments[3]))
        }
        ("GET", ["restapis", _, "stages"]) => {
            Read(|a, c, call| stages::list(a, c, call.segments[1], call.query))
        }
        ("POST", ["restapis", _, "stages"]) => {
            Change(|a, c, call| stages::create(a, c, call.segments[1], call.body))
        }
        ("GET", ["restapis", _, "stages", _]) => {
            Read(|a, c, call| stages::get(a, c, call.segments[1], call.segments[3]))
        }
        ("PATCH", ["restapis", _, "stages", _]) => {
            Change(|a, c, call| stages::update(a, c, call.segments[1], call.segments[3], call.body))
        }
        ("DELETE", ["restapis", _, "stages", _]) => {
            Change(|a, c, call| stages::delete(a, c, call.segments[1], call.segments[3]))
        }
        ("PUT", ["tags", _]) => {
            Change(|a, c, call| tags::tag(a, c, call.segments[1], &c.region, call.body))
        }
        ("DELETE", ["tags", _]) => {
            Change(|a, c, call| tags::untag(a, c, call.segments[1], &c.region, call.query))
        }
        ("GET", ["tags", _]) => Read(|a, c, call| tags::get(a, c, call.segments[1], &c.region)),
        ("POST", ["usageplans"]) => {
            ChangeTraffic(|t, a, c, call| plans::create(t, a, c, call.body))
        }
        ("GET", ["usageplans"]) => ReadTraffic(|t, _, call| plans::list(t, call.query)),
        ("GET", ["usageplans", _]) => ReadTraffic(|t, _, call| plans::get(t, call.segments[1])),
        ("PATCH", ["usageplans", _]) => {
            ChangeTraffic(|t, a, c, call| plans::update(t, a, c, call.segments[1], call.body))
        }
        ("DELETE", ["usageplans", _]) => {
            ChangeTraffic(|t, _, _, call| plans::delete(t, call.segments[1]))
        }
        ("POST", ["usageplans", _, "keys"]) => {
            ChangeTraffic(|t, _, _, call| plans::add_key(t, call.segments[1], call.body))
        }
        ("GET", ["usageplans", _, "keys"]) => {
            ReadTraffic(|t, _, call| plans::keys(t, call.segments[1], call.query))
        }
        ("GET", ["usageplans", _, "keys", _]) => {
            ReadTraffic(|t, _, call| plans::get_key(t, call.segments[1], call.segments[3]))
        }
        ("DELETE", ["usageplans", _, "keys", _]) => {
            ChangeTraffic(|t, _, _, call| plans::remove_key(t, call.segments[1], call.segments[3]))
        }
        ("POST", ["apikeys"]) if is_import(call) => {
            ChangeTraffic(|t, _, _, call| keys::import(t, call.query, call.body))
        }
        ("POST", ["apikeys"]) => ChangeTraffic(|t, _, _, call| keys::create(t, call.body)),
        ("GET", ["apikeys"]) => ReadTraffic(|t, _, call| keys::list(t, call.query)),
        ("GET", ["apikeys", _]) => {
            ReadTraffic(|t, _, call| keys::get(t, call.segments[1], call.query))
        }
        ("PATCH", ["apikeys", _]) => {
            ChangeTraffic(|t, _, _, call| keys::update(t, call.segments[1], call.body))
        }
        ("DELETE", ["apikeys", _]) => {
            ChangeTraffic(|t, _, _, call| keys::delete(t, call.segments[1]))
        }
        _ => return None,
    };
    Some(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(method: &str, path: &str) -> String {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        operation_name(&Call {
            method,
            segments: &segments,
            query: "",
            body: b"",
            yaml: false,
        })
    }

    #[test]
    fn operations_are_named_as_aws_names_them() {
        for (method, path, expected) in [
            ("GET", "/restapis", "GetRestApis"),
            ("POST", "/restapis", "CreateRestApi"),
            ("PATCH", "/restapis/a", "UpdateRestApi"),
            ("POST", "/restapis/a/resources/r", "CreateResource"),
            ("PUT", "/restapis/a/resources/r/methods/GET", "PutMethod"),
            (
                "PUT",
                "/restapis/a/resources/r/methods/GET/responses/200",
                "PutMethodResponse",
            ),
            (
                "PUT",
                "/restapis/a/resources/r/methods/GET/integration",
                "PutIntegration",
            ),
            (
                "DELETE",
                "/restapis/a/resources/r/methods/GET/integration/responses/200",
                "DeleteIntegrationResponse",
            ),
            ("POST", "/restapis/a/deployments", "CreateDeployment"),
            ("GET", "/restapis/a/stages", "GetStages"),
            ("PATCH", "/restapis/a/stages/prod", "UpdateStage"),
        ] {
            assert_eq!(name(method, path), expected, "{method} {path}");
        }
        let p = path_parameters(&["restapis", "a", "stages", "prod"]);
        assert_eq!(p["restApiId"], "a");
        assert_eq!(p["stageName"], "prod");
    }
}
