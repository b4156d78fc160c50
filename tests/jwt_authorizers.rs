//! Cognito user pool and JWT authorizers with tokens minted at test time by PyJWT, verified
//! against a key set served by the test (and rotated by it): ID and access tokens, scopes,
//! expiry on the test clock, tampering, unknown keys, the claims the integration sees, and
//! config errors.

mod common;

use std::time::Duration;

use common::auth::*;
use common::clock::*;
use common::lambda::*;
use common::traffic::assert_error;
use common::*;
use serde_json::{json, Value};

const UNAUTHORIZED: &str = r#"{"message":"Unauthorized"}"#;
const EXPIRED: &str = r#"{"message":"The incoming token has expired"}"#;
/// The frozen clock of these tests, Unix seconds.
const NOW: u64 = 1_796_000_000;

/// API `petstore`, stage `prod`: `GET /pets` (AWS_PROXY echoing `requestContext.authorizer`)
/// and `GET /admin` (MOCK, scopes `pets/admin`), both behind authorizer `pool` (`table`).
fn api(table: &str, kind: &str) -> ApiSpec {
    let uri = function_uri("app");
    let lambda = format!("{{ type = \"AWS_PROXY\", uri = {} }}", toml_str(&uri));
    ApiSpec::new("petstore")
        .stage("prod", "v1")
        .method_toml(
            "v1",
            "GET /pets",
            &lambda,
            &format!("authorizer = \"pool\"\nauthorization_type = \"{kind}\""),
        )
        .method_toml(
            "v1",
            "GET /admin",
            "{ type = \"MOCK\", status = 200, body = \"admin\" }",
            "authorizer = \"pool\"\nauthorization_scopes = [\"pets/admin\", \"pets/root\"]",
        )
        .table(table)
}

fn cognito_table(jwks: &JwksServer) -> String {
    format!(
        "[authorizers.pool]\ntype = \"COGNITO_USER_POOLS\"\nprovider_arns = [\"arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_Test\"]\nissuer = {}\n",
        toml_str(&jwks.issuer())
    )
}

fn start(app: &Backend, api: &ApiSpec) -> (ConfigDir, Gateway) {
    let cfg = ConfigDir::with_api(api)
        .gateway_extra(&lambda_section(app))
        .default_api("petstore");
    let gw = start_frozen(&cfg, NOW * 1000);
    (cfg, gw)
}

fn id_claims(iss: &str, extra: Value) -> Value {
    let mut c = json!({"iss": iss, "sub": "u-1", "token_use": "id", "aud": "client-1",
        "iat": NOW - 10, "exp": NOW + 60, "email": "ann@example.com",
        "cognito:groups": ["admins", "staff"], "email_verified": true});
    if let (Some(c), Value::Object(extra)) = (c.as_object_mut(), extra) {
        c.extend(extra);
    }
    c
}

fn bearer(gw: &Gateway, path: &str, token: &str) -> Response {
    Req::get(path)
        .header("Authorization", token)
        .send(gw.addr())
}

#[test]
fn cognito_id_tokens_are_verified_and_their_claims_reach_the_integration() {
    let keys = jwt_keys(&[("RS256", "rsa-1"), ("ES256", "ec-1"), ("RS256", "rotated")]);
    let jwks = JwksServer::start(&[&keys[0], &keys[1]]);
    let app = auth_and_app_server(|_| Reply::status(500));
    let (_cfg, gw) = start(&app, &api(&cognito_table(&jwks), "COGNITO_USER_POOLS"));
    let iss = jwks.issuer();
    let tokens = mint(&[
        (&keys[0], id_claims(&iss, json!({}))),
        (&keys[1], id_claims(&iss, json!({"sub": "u-ec"}))),
        (&keys[0], id_claims("https://other.example/pool", json!({}))),
        (
            &keys[0],
            id_claims(&iss, json!({"token_use": "access", "scope": "pets/admin"})),
        ),
        (&keys[2], id_claims(&iss, json!({"sub": "u-rotated"}))),
    ]);

    let resp = get(gw.addr(), "/prod/pets");
    assert_error(&resp, 401, UNAUTHORIZED, "UnauthorizedException");

    let resp = bearer(&gw, "/prod/pets", &tokens[0]);
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    let seen: Value = serde_json::from_str(&resp.body_str()).unwrap();
    let claims = &seen["claims"];
    assert_eq!(claims["sub"], "u-1");
    assert_eq!(claims["email"], "ann@example.com");
    assert_eq!(claims["email_verified"], "true");
    assert_eq!(claims["cognito:groups"], "admins,staff");
    assert_eq!(claims["token_use"], "id");
    assert!(
        claims["exp"].as_str().unwrap().ends_with(" UTC 2026"),
        "{claims}"
    );
    assert!(seen.get("principalId").is_none());

    // `Bearer` prefix, and an ES256 key of the same set.
    let resp = bearer(&gw, "/prod/pets", &format!("Bearer {}", tokens[1]));
    assert_eq!(resp.status, 200, "{}", resp.body_str());

    // Edited claims under the original signature; `alg: none`; an HMAC algorithm on an RSA
    // key; no kid; no exp; another issuer; an access token where an ID token is due.
    let b64 = |v: &Value| data_encoding::BASE64URL_NOPAD.encode(v.to_string().as_bytes());
    let parts: Vec<&str> = tokens[0].split('.').collect();
    let forged_claims = b64(&id_claims(&iss, json!({"sub": "admin"})));
    let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "rsa-1"})),
        parts[1]
    );
    let hmac = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "HS256", "kid": "rsa-1"})),
        parts[1],
        parts[2]
    );
    let no_kid = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "RS256"})),
        parts[1],
        parts[2]
    );
    let mut no_exp = id_claims(&iss, json!({}));
    no_exp.as_object_mut().unwrap().remove("exp");
    let no_exp = mint(&[(&keys[0], no_exp)]).remove(0);
    let bad_ones = [
        forged,
        none,
        hmac,
        no_kid,
        no_exp,
        tokens[2].clone(),
        tokens[3].clone(),
        "not-a-jwt".into(),
    ];
    for bad in bad_ones {
        let resp = bearer(&gw, "/prod/pets", &bad);
        assert_error(&resp, 401, UNAUTHORIZED, "UnauthorizedException");
    }

    // A key the set does not have yet: refused after one fetch; published: accepted, after
    // another fetch (key rotation).
    let before = jwks.fetches();
    let resp = bearer(&gw, "/prod/pets", &tokens[4]);
    assert_error(&resp, 401, UNAUTHORIZED, "UnauthorizedException");
    assert_eq!(jwks.fetches(), before + 1);
    // Again at once: refused without waiting for another fetch (a shard remembers the key as
    // unknown while the set is unchanged), and a fetch is asked for.
    let resp = bearer(&gw, "/prod/pets", &tokens[4]);
    assert_error(&resp, 401, UNAUTHORIZED, "UnauthorizedException");
    jwks.publish(&[&keys[0], &keys[2]]);
    // Forced fetches are at least 1 s apart: the rotated key is accepted once one ran.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let accepted = loop {
        let resp = bearer(&gw, "/prod/pets", &tokens[4]);
        if resp.status == 200 || std::time::Instant::now() > deadline {
            break resp;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(accepted.status, 200, "{}", accepted.body_str());
    let before = jwks.fetches();
    // Known keys cost no fetch.
    bearer(&gw, "/prod/pets", &tokens[0]);
    bearer(&gw, "/prod/pets", &tokens[4]);
    assert_eq!(jwks.fetches(), before);

    // Expiry on the test clock: valid until exp, then AWS's expired message.
    advance_clock(&gw, Duration::from_secs(59));
    assert_eq!(bearer(&gw, "/prod/pets", &tokens[0]).status, 200);
    advance_clock(&gw, Duration::from_secs(1));
    let resp = bearer(&gw, "/prod/pets", &tokens[0]);
    assert_error(&resp, 401, EXPIRED, "UnauthorizedException");
    assert!(authorizer_calls(&app).is_empty());
}

#[test]
fn scopes_need_an_access_token_holding_one_of_them() {
    let keys = jwt_keys(&[("RS256", "k")]);
    let jwks = JwksServer::start(&[&keys[0]]);
    let app = auth_and_app_server(|_| Reply::status(500));
    let (_cfg, gw) = start(&app, &api(&cognito_table(&jwks), "COGNITO_USER_POOLS"));
    let iss = jwks.issuer();
    let access = |scope: &str| {
        json!({"iss": iss, "sub": "u", "token_use": "access", "client_id": "client-1",
               "scope": scope, "exp": NOW + 60, "iat": NOW})
    };
    let tokens = mint(&[
        (&keys[0], access("openid pets/root")),
        (&keys[0], access("openid pets/read")),
        (&keys[0], id_claims(&iss, json!({}))),
    ]);
    bearer(&gw, "/prod/admin", &tokens[0]).assert(200, "admin");
    // Without the scope, or with an ID token: 401, as REST APIs' Cognito authorizer answers.
    for t in &tokens[1..] {
        let resp = bearer(&gw, "/prod/admin", t);
        assert_error(&resp, 401, UNAUTHORIZED, "UnauthorizedException");
    }
}

#[test]
fn jwt_authorizers_check_the_audience_and_refuse_missing_scopes_with_403() {
    let keys = jwt_keys(&[("ES384", "k")]);
    let jwks = JwksServer::start(&[&keys[0]]);
    let app = auth_and_app_server(|_| Reply::status(500));
    let table = format!(
        "[authorizers.pool]\ntype = \"JWT\"\nissuer = {}\naudiences = [\"api://tollgate\"]\nleeway_seconds = 30\n",
        toml_str(&jwks.issuer())
    );
    let (_cfg, gw) = start(&app, &api(&table, "COGNITO_USER_POOLS"));
    let iss = jwks.issuer();
    let tokens = mint(&[
        (
            &keys[0],
            json!({"iss": iss, "aud": "api://tollgate", "sub": "svc", "exp": NOW - 10}),
        ),
        (
            &keys[0],
            json!({"iss": iss, "aud": "api://other", "sub": "svc", "exp": NOW + 60}),
        ),
        (
            &keys[0],
            json!({"iss": iss, "aud": ["x", "api://tollgate"], "scope": "pets/read", "exp": NOW + 60}),
        ),
    ]);
    // Within the leeway past exp: still accepted.
    assert_eq!(bearer(&gw, "/prod/pets", &tokens[0]).status, 200);
    let resp = bearer(&gw, "/prod/pets", &tokens[1]);
    assert_error(&resp, 401, UNAUTHORIZED, "UnauthorizedException");
    let resp = bearer(&gw, "/prod/admin", &tokens[2]);
    assert_error(
        &resp,
        403,
        r#"{"message":"Forbidden"}"#,
        "ForbiddenException",
    );
}

#[test]
fn token_authorizer_mistakes_are_config_errors() {
    let bad = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .method_toml("v1", "GET /a", "{ type = \"MOCK\" }", "authorizer = \"nopool\"\nauthorization_type = \"CUSTOM\"")
        .method_toml("v1", "GET /b", "{ type = \"MOCK\" }", "authorization_scopes = [\"x\"]")
        .table("[authorizers.nopool]\ntype = \"COGNITO_USER_POOLS\"\n")
        .table("[authorizers.badarn]\ntype = \"COGNITO_USER_POOLS\"\nprovider_arns = [\"arn:aws:iam::1:user/x\"]\n")
        .table("[authorizers.jwt]\ntype = \"JWT\"\nresult_ttl_in_seconds = 5\n");
    let text = check_fails(ConfigDir::with_api(&bad).path());
    assert_mentions(
        &text,
        &[
            "authorizers.nopool.provider_arns",
            "needs provider_arns (its user pool's ARN) or an issuer",
            "authorizers.badarn.provider_arns",
            "is not a user pool ARN",
            "authorizers.jwt.issuer",
            "a JWT authorizer needs an issuer",
            "authorizers.jwt.result_ttl_in_seconds",
            "authorizer `nopool` needs authorization_type COGNITO_USER_POOLS, not CUSTOM",
            "authorization_scopes need a COGNITO_USER_POOLS authorizer",
        ],
    );
}

#[test]
fn a_cognito_caller_also_needs_the_resource_policy_to_allow() {
    let keys = jwt_keys(&[("RS256", "k")]);
    let jwks = JwksServer::start(&[&keys[0]]);
    let app = auth_and_app_server(|_| Reply::status(500));
    // Allows only a network the test client is not on.
    let policy = resource_policy(&[statement(
        "Allow",
        Some(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
    )]);
    let api = api(&cognito_table(&jwks), "COGNITO_USER_POOLS").api_line(&policy_line(&policy));
    let (_cfg, gw) = start(&app, &api);
    let token = mint(&[(&keys[0], id_claims(&jwks.issuer(), json!({})))]).remove(0);
    let resp = bearer(&gw, "/prod/pets", &token);
    assert_eq!(resp.status, 403, "{}", resp.body_str());
    assert!(
        resp.body_str()
            .contains("because no resource-based policy allows the execute-api:Invoke action"),
        "{}",
        resp.body_str()
    );
    // An invalid token is refused first (authentication before the policy).
    let resp = bearer(&gw, "/prod/pets", "not-a-jwt");
    assert_error(&resp, 401, UNAUTHORIZED, "UnauthorizedException");
}
