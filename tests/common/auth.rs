//! Authorization helpers: Lambda authorizer tables, authorizer results as a function returns
//! them, resource policy documents, and an Invoke API server that plays both the authorizer
//! and the integration's function (telling them apart by the invoked function's name).

#![allow(dead_code)]

use serde_json::{json, Value};

use super::lambda::{function_uri, invoke_server};
use super::{toml_str, Backend, RecordedRequest, Reply};

/// Name of the authorizer function in [`authorizer_toml`]'s URI.
pub const AUTH_FUNCTION: &str = "auth";

/// An `[authorizers.NAME]` table of `kind` (`TOKEN`/`REQUEST`) invoking function `auth`, with
/// `identity_source` and extra lines.
pub fn authorizer_toml(name: &str, kind: &str, identity_source: &str, extra: &str) -> String {
    format!(
        "[authorizers.{name}]\ntype = \"{kind}\"\nuri = {}\nidentity_source = {}\n{extra}\n",
        toml_str(&function_uri(AUTH_FUNCTION)),
        toml_str(identity_source)
    )
}

/// An authorizer result: `effect` on `resource` for `principal`, with `context`.
pub fn policy_result(principal: &str, effect: &str, resource: &str, context: Value) -> Value {
    json!({
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]
        },
        "context": context,
    })
}

/// A resource policy allowing everyone everything, with `extra` statements after it.
pub fn resource_policy(statements: &[Value]) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// One resource policy statement for everyone on every method of the API.
pub fn statement(effect: &str, condition: Option<Value>) -> Value {
    let mut s = json!({
        "Effect": effect,
        "Principal": "*",
        "Action": "execute-api:Invoke",
        "Resource": "execute-api:/*",
    });
    if let Some(c) = condition {
        s["Condition"] = c;
    }
    s
}

/// The `policy = '...'` line of an API file.
pub fn policy_line(json: &str) -> String {
    format!("policy = {}", toml_str(json))
}

/// Whether a recorded invocation was of the authorizer function.
pub fn is_authorizer_call(req: &RecordedRequest) -> bool {
    req.target.contains(&format!("function%3A{AUTH_FUNCTION}/"))
}

/// An Invoke API server: authorizer invocations get `authorizer(event)`, every other function
/// answers 200 with the event's `requestContext.authorizer` as its body.
pub fn auth_and_app_server(
    authorizer: impl Fn(&Value) -> Reply + Send + Sync + 'static,
) -> Backend {
    invoke_server(move |event| {
        if event.get("methodArn").is_some() {
            return authorizer(event);
        }
        let seen = event["requestContext"].get("authorizer").cloned();
        super::lambda::result(json!({
            "statusCode": 200,
            "body": serde_json::to_string(&seen).unwrap_or_default(),
        }))
    })
}

/// A function error as the Invoke API reports it (`X-Amz-Function-Error: Unhandled`).
pub fn function_error(message: &str) -> Reply {
    Reply::ok(json!({"errorMessage": message, "errorType": "Exception"}).to_string())
        .header("Content-Type", "application/json")
        .header("X-Amz-Function-Error", "Unhandled")
}

/// Authorizer invocations the server received.
pub fn authorizer_calls(server: &Backend) -> Vec<Value> {
    server
        .requests()
        .iter()
        .filter(|r| is_authorizer_call(r))
        .map(super::lambda::event_of)
        .collect()
}

/// A signing key made for a test: its private half (PEM) and its public JWK.
#[derive(Debug, Clone)]
pub struct JwtKey {
    pub kid: String,
    pub alg: String,
    pub private_pem: String,
    pub jwk: Value,
}

fn jwt_tool(command: &str, input: &Value) -> Value {
    super::lambda::python_json("jwt_tool.py", &[command], input)
}

/// Fresh key pairs, one per `(alg, kid)`, made by PyJWT's `cryptography` backend.
pub fn jwt_keys(specs: &[(&str, &str)]) -> Vec<JwtKey> {
    let input: Vec<Value> = specs
        .iter()
        .map(|(alg, kid)| json!({"alg": alg, "kid": kid}))
        .collect();
    let out = jwt_tool("keys", &Value::Array(input));
    out.as_array()
        .unwrap()
        .iter()
        .map(|k| JwtKey {
            kid: k["kid"].as_str().unwrap().to_string(),
            alg: k["alg"].as_str().unwrap().to_string(),
            private_pem: k["private_pem"].as_str().unwrap().to_string(),
            jwk: k["jwk"].clone(),
        })
        .collect()
}

/// Tokens signed by PyJWT: one per `(key, claims)`.
pub fn mint(tokens: &[(&JwtKey, Value)]) -> Vec<String> {
    let input: Vec<Value> = tokens
        .iter()
        .map(|(k, claims)| json!({"alg": k.alg, "kid": k.kid, "private_pem": k.private_pem, "claims": claims}))
        .collect();
    let out = jwt_tool("sign", &Value::Array(input));
    out.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// An issuer's key set server: `GET {path}` answers `{"keys": [...]}` with the keys set by
/// [`JwksServer::publish`] (key rotation).
pub struct JwksServer {
    pub backend: Backend,
    keys: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl JwksServer {
    /// Serves `keys`' public halves.
    pub fn start(keys: &[&JwtKey]) -> JwksServer {
        let published = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let shared = std::sync::Arc::clone(&published);
        let backend = Backend::start(move |req| {
            if !req.target.ends_with("/.well-known/jwks.json") {
                return Reply::status(404);
            }
            let keys = shared.lock().unwrap().clone();
            Reply::ok(json!({"keys": keys}).to_string()).header("Content-Type", "application/json")
        });
        let server = JwksServer {
            backend,
            keys: published,
        };
        server.publish(keys);
        server
    }

    /// Replaces the published keys.
    pub fn publish(&self, keys: &[&JwtKey]) {
        *self.keys.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    /// The issuer URL whose key set this serves (`{issuer}/.well-known/jwks.json`).
    pub fn issuer(&self) -> String {
        format!("{}/pool", self.backend.url())
    }

    /// Key set fetches so far.
    pub fn fetches(&self) -> usize {
        self.backend.requests().len()
    }
}
