//! `AWS_IAM` methods: requests signed by botocore's SigV4 signer (headers and presigned URLs)
//! for users of `identities.toml`, on the test clock; the body covered by the signature; the
//! errors AWS answers for missing, malformed, wrong, stale and unknown-key signatures; the
//! identity policies and the resource policy deciding together; `$context.identity` in the
//! Lambda event.

mod common;

use std::time::Duration;

use common::auth::*;
use common::clock::*;
use common::lambda::*;
use common::traffic::assert_error;
use common::*;
use serde_json::{json, Value};

/// The frozen clock: 2026-12-01T12:00:00Z.
const NOW_MS: u64 = 1_796_126_400_000;
const AMZ_DATE: &str = "20261201T120000Z";
const ALICE: (&str, &str) = ("AKIAALICE0000000001", "alice-secret-key/0123456789");
const BOB: (&str, &str) = ("AKIABOB00000000001", "bob-secret-key/01234567890");
const CAROL: (&str, &str) = ("AKIACAROL000000001", "carol-secret-key/0123456789");
const DAVE: (&str, &str) = ("AKIADAVE0000000001", "dave-secret-key/01234567890");
const ERIN: (&str, &str) = ("AKIAERIN0000000001", "erin-secret-key/01234567890");

const IDENTITIES: &str = r#"
[users.alice]
policy = '''{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
  "Resource": "arn:aws:execute-api:us-east-1:111122223333:petstore/prod/*"}]}'''
access_keys = [{ id = "AKIAALICE0000000001", secret = "alice-secret-key/0123456789" }]

[users.bob]
access_keys = [{ id = "AKIABOB00000000001", secret = "bob-secret-key/01234567890" }]

[users.carol]
policy = '''{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "execute-api:*", "Resource": "*"},
  {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:petstore/*/POST/*"}]}'''
access_keys = [{ id = "AKIACAROL000000001", secret = "carol-secret-key/0123456789" }]

# Another account's users: Dave's own policy allows the API, Erin has none.
[users.dave]
account_id = "444455556666"
policy = '''{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
  "Resource": "arn:aws:execute-api:us-east-1:111122223333:petstore/*"}]}'''
access_keys = [{ id = "AKIADAVE0000000001", secret = "dave-secret-key/01234567890" }]

[users.erin]
account_id = "444455556666"
access_keys = [{ id = "AKIAERIN0000000001", secret = "erin-secret-key/01234567890" }]
"#;

/// API `petstore`, stage `prod`: `GET /pets` (MOCK) and `POST /pets` (AWS_PROXY echoing the
/// event's `requestContext.identity` and `body`), both `AWS_IAM`; `GET /open` without.
fn api(extra_line: Option<&str>) -> ApiSpec {
    let uri = function_uri("app");
    let lambda = format!("{{ type = \"AWS_PROXY\", uri = {} }}", toml_str(&uri));
    let mut api = ApiSpec::new("petstore");
    if let Some(line) = extra_line {
        api = api.api_line(line);
    }
    api.stage("prod", "v1")
        .method_toml(
            "v1",
            "GET /pets",
            "{ type = \"MOCK\", status = 200, body = \"pets\" }",
            "authorization_type = \"AWS_IAM\"",
        )
        .method_toml(
            "v1",
            "POST /pets",
            &lambda,
            "authorization_type = \"AWS_IAM\"",
        )
        .mock("v1", "GET /open", 200, "open")
}

fn start(extra_line: Option<&str>) -> (ConfigDir, Backend, Gateway) {
    let app = invoke_server(|event| {
        result(json!({"statusCode": 200, "body": json!({
            "identity": event["requestContext"]["identity"], "body": event["body"]}).to_string()}))
    });
    let cfg = ConfigDir::with_api(&api(extra_line))
        .gateway_extra(&lambda_section(&app))
        .default_api("petstore");
    cfg.write_file("identities.toml", IDENTITIES);
    let gw = start_frozen(&cfg, NOW_MS);
    (cfg, app, gw)
}

/// botocore's signature (or, with `"presign": true` in `extra`, presigned URL) of a bodiless
/// `GET target` for `key` at [`AMZ_DATE`].
fn botocore_get(gw: &Gateway, key: (&str, &str), target: &str, extra: Value) -> Value {
    let host = format!("{}", gw.addr());
    let mut input = json!({
        "method": "GET", "url": format!("http://{host}{target}"),
        "headers": {"host": host}, "body_b64": "",
        "access_key": key.0, "secret_key": key.1, "token": null,
        "region": "us-east-1", "service": "execute-api", "amz_date": AMZ_DATE,
    });
    if let (Some(input), Value::Object(extra)) = (input.as_object_mut(), extra) {
        input.extend(extra);
    }
    botocore_sign(&input)
}

/// The request target (path and query) of a presigned URL botocore made.
fn presigned_target(out: &Value) -> String {
    let url = out["url"].as_str().expect("a presigned URL");
    url[url.find("/prod/").expect("the stage's path")..].to_string()
}

/// A request signed by botocore for `key` at `amz_date`.
fn signed(
    gw: &Gateway,
    key: (&str, &str),
    method: &str,
    target: &str,
    body: &str,
    amz_date: &str,
) -> Req {
    let host = format!("{}", gw.addr());
    let out = botocore_sign(&json!({
        "method": method,
        "url": format!("http://{host}{target}"),
        "headers": {"host": host, "content-type": "application/json"},
        "body_b64": data_encoding::BASE64.encode(body.as_bytes()),
        "access_key": key.0, "secret_key": key.1, "token": null,
        "region": "us-east-1", "service": "execute-api", "amz_date": amz_date,
    }));
    Req::new(method, target)
        .header("Host", &host)
        .header("Content-Type", "application/json")
        .header("X-Amz-Date", out["x-amz-date"].as_str().unwrap())
        .header("Authorization", out["authorization"].as_str().unwrap())
        .body(body.as_bytes().to_vec())
}

const INVALID_SIGNATURE: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

fn message(resp: &Response) -> String {
    let v: Value = serde_json::from_str(&resp.body_str()).expect("JSON body");
    v["message"]
        .as_str()
        .or(v["Message"].as_str())
        .unwrap_or("")
        .to_string()
}

#[test]
fn signed_requests_of_allowed_users_pass_and_reach_the_function_with_their_identity() {
    let (_cfg, app, gw) = start(None);
    let resp = get(gw.addr(), "/prod/pets");
    assert_error(
        &resp,
        403,
        r#"{"message":"Missing Authentication Token"}"#,
        "MissingAuthenticationTokenException",
    );
    get(gw.addr(), "/prod/open").assert(200, "open");

    signed(&gw, ALICE, "GET", "/prod/pets?b=2&a=1", "", AMZ_DATE)
        .send(gw.addr())
        .assert(200, "pets");

    let body = r#"{"name": "Rex", "kind": "dog"}"#;
    let resp = signed(&gw, ALICE, "POST", "/prod/pets", body, AMZ_DATE).send(gw.addr());
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    let seen: Value = serde_json::from_str(&resp.body_str()).unwrap();
    assert_eq!(
        seen["body"], body,
        "the body read for the signature reaches the function"
    );
    let id = &seen["identity"];
    assert_eq!(id["accessKey"], ALICE.0);
    assert_eq!(id["userArn"], "arn:aws:iam::111122223333:user/alice");
    assert_eq!(id["accountId"], "111122223333");
    let user = id["user"].as_str().unwrap();
    assert!(user.starts_with("AIDA") && user.len() == 21, "{user}");
    assert_eq!(id["caller"], user);
    assert_eq!(app.requests().len(), 1);
}

#[test]
fn wrong_changed_stale_and_unknown_signatures_are_refused_as_aws_does() {
    let (_cfg, app, gw) = start(None);
    // The body changed after signing.
    let mut req = signed(&gw, ALICE, "POST", "/prod/pets", r#"{"a":1}"#, AMZ_DATE);
    req = req.body(br#"{"a":2}"#.to_vec());
    let resp = req.send(gw.addr());
    assert_eq!(
        (resp.status, resp.header("x-amzn-ErrorType")),
        (403, Some("InvalidSignatureException"))
    );
    let m = message(&resp);
    assert!(m.starts_with(INVALID_SIGNATURE), "{m}");
    assert!(
        m.contains(
            "\n\nThe Canonical String for this request should have been\n'POST\n/prod/pets\n\n"
        ),
        "{m}"
    );
    assert!(m.contains("\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20261201T120000Z\n20261201/us-east-1/execute-api/aws4_request\n"), "{m}");

    let wrong = signed(
        &gw,
        (ALICE.0, "not-alice-secret/0123456789"),
        "GET",
        "/prod/pets",
        "",
        AMZ_DATE,
    );
    let resp = wrong.send(gw.addr());
    assert_eq!(
        resp.header("x-amzn-ErrorType"),
        Some("InvalidSignatureException")
    );
    assert!(message(&resp).starts_with(INVALID_SIGNATURE));

    let unknown = signed(
        &gw,
        ("AKIANOBODY00000001", "whatever-secret-0123"),
        "GET",
        "/prod/pets",
        "",
        AMZ_DATE,
    );
    let resp = unknown.send(gw.addr());
    assert_error(
        &resp,
        403,
        r#"{"message":"The security token included in the request is invalid."}"#,
        "UnrecognizedClientException",
    );

    let resp = Req::get("/prod/pets")
        .header("X-Amz-Date", AMZ_DATE)
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAALICE0000000001/20261201/us-east-1/execute-api/aws4_request")
        .send(gw.addr());
    assert_eq!(
        resp.header("x-amzn-ErrorType"),
        Some("IncompleteSignatureException")
    );
    assert!(message(&resp).starts_with("Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."), "{}", resp.body_str());

    // Five minutes of skew are tolerated, not more.
    advance_clock(&gw, Duration::from_secs(300));
    signed(&gw, ALICE, "GET", "/prod/pets", "", AMZ_DATE)
        .send(gw.addr())
        .assert(200, "pets");
    advance_clock(&gw, Duration::from_secs(1));
    let resp = signed(&gw, ALICE, "GET", "/prod/pets", "", AMZ_DATE).send(gw.addr());
    assert_error(
        &resp,
        403,
        r#"{"message":"Signature expired: 20261201T120000Z is now earlier than 20261201T120001Z (20261201T120501Z - 5 min.)"}"#,
        "InvalidSignatureException",
    );
    assert!(
        app.requests().is_empty(),
        "no refused request reached the function"
    );
}

#[test]
fn presigned_urls_are_accepted() {
    let (_cfg, _app, gw) = start(None);
    let host = format!("{}", gw.addr());
    let out = botocore_get(
        &gw,
        ALICE,
        "/prod/pets?color=brown",
        json!({"presign": true}),
    );
    let target = &*presigned_target(&out);
    assert!(target.contains("X-Amz-Signature="), "{target}");
    Req::get(target)
        .header("Host", &host)
        .send(gw.addr())
        .assert(200, "pets");
    let tampered = target.replace("color=brown", "color=black");
    let resp = Req::get(&tampered).header("Host", &host).send(gw.addr());
    assert_eq!(
        resp.header("x-amzn-ErrorType"),
        Some("InvalidSignatureException")
    );
}

#[test]
fn identity_and_resource_policies_decide_together() {
    let denied = |user: &str, method: &str, tail: &str| {
        json!({"Message": format!("User: arn:aws:iam::111122223333:user/{user} is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:********3333:petstore/prod/{method}/pets {tail}")}).to_string()
    };
    let (_cfg, _app, gw) = start(None);
    // Bob has no policy; Carol's denies POST.
    let resp = signed(&gw, BOB, "GET", "/prod/pets", "", AMZ_DATE).send(gw.addr());
    assert_error(
        &resp,
        403,
        &denied(
            "bob",
            "GET",
            "because no identity-based policy allows the execute-api:Invoke action",
        ),
        "AccessDeniedException",
    );
    signed(&gw, CAROL, "GET", "/prod/pets", "", AMZ_DATE)
        .send(gw.addr())
        .assert(200, "pets");
    let resp = signed(&gw, CAROL, "POST", "/prod/pets", "{}", AMZ_DATE).send(gw.addr());
    assert_error(
        &resp,
        403,
        &denied(
            "carol",
            "POST",
            "with an explicit deny in an identity-based policy",
        ),
        "AccessDeniedException",
    );
    drop(gw);

    // A resource policy that allows Bob by ARN and denies Alice: in one account either
    // policy's Allow suffices, and any Deny refuses.
    let policy = resource_policy(&[
        json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/bob"}, "Action": "execute-api:Invoke", "Resource": "execute-api:/prod/GET/pets"}),
        json!({"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}),
    ]);
    let (_cfg, _app, gw) = start(Some(&policy_line(&policy)));
    signed(&gw, BOB, "GET", "/prod/pets", "", AMZ_DATE)
        .send(gw.addr())
        .assert(200, "pets");
    let resp = signed(&gw, ALICE, "GET", "/prod/pets", "", AMZ_DATE).send(gw.addr());
    assert_error(
        &resp,
        403,
        &denied(
            "alice",
            "GET",
            "with an explicit deny in a resource-based policy",
        ),
        "AccessDeniedException",
    );
}

/// A caller of another account is let in only when both its identity policy and the API's
/// resource policy allow it (developer guide, "How API Gateway resource policies affect
/// authorization workflow", table B: cross-account IAM); either one alone is refused, each
/// with the policy that was missing.
#[test]
fn callers_of_another_account_need_both_policies() {
    let denied = |user: &str, tail: &str| {
        json!({"Message": format!("User: arn:aws:iam::444455556666:user/{user} is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:********3333:petstore/prod/GET/pets {tail}")}).to_string()
    };
    // No resource policy: Dave's own Allow is not enough across accounts.
    let (_cfg, _app, gw) = start(None);
    let resp = signed(&gw, DAVE, "GET", "/prod/pets", "", AMZ_DATE).send(gw.addr());
    let no_resource = "because no resource-based policy allows the execute-api:Invoke action";
    assert_error(
        &resp,
        403,
        &denied("dave", no_resource),
        "AccessDeniedException",
    );
    drop(gw);

    // The resource policy allows both by ARN: Dave passes, Erin lacks an identity policy.
    let policy = resource_policy(&[json!({"Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::444455556666:user/dave", "arn:aws:iam::444455556666:user/erin"]},
        "Action": "execute-api:Invoke", "Resource": "execute-api:/prod/GET/pets"})]);
    let (_cfg, _app, gw) = start(Some(&policy_line(&policy)));
    signed(&gw, DAVE, "GET", "/prod/pets", "", AMZ_DATE)
        .send(gw.addr())
        .assert(200, "pets");
    let resp = signed(&gw, ERIN, "GET", "/prod/pets", "", AMZ_DATE).send(gw.addr());
    let no_identity = "because no identity-based policy allows the execute-api:Invoke action";
    assert_error(
        &resp,
        403,
        &denied("erin", no_identity),
        "AccessDeniedException",
    );
    // A resource policy naming the whole other account lets Dave in as well.
    drop(gw);
    let policy = resource_policy(&[json!({"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": "execute-api:Invoke", "Resource": "execute-api:/*"})]);
    let (_cfg, _app, gw) = start(Some(&policy_line(&policy)));
    signed(&gw, DAVE, "GET", "/prod/pets", "", AMZ_DATE)
        .send(gw.addr())
        .assert(200, "pets");
}

#[test]
fn identity_store_mistakes_are_config_errors() {
    let cfg = ConfigDir::with_api(&api(None));
    cfg.write_file(
        "identities.toml",
        "[users.eve]\naccount_id = \"12\"\npolicy = '{\"Statement\": 3}'\naccess_keys = [{ id = \"short\", secret = \"tiny\" }]\n",
    );
    let text = check_fails(cfg.path());
    assert_mentions(
        &text,
        &[
            "identities.toml:2",
            "`12` is not an AWS account id (12 digits)",
            "users.eve.policy",
            "the identity policy is not a valid policy document",
            "`short` is not an access key id",
            "a secret access key has at least 16 characters",
        ],
    );
}

#[test]
fn only_callers_allowed_invalidate_cache_refresh_a_cached_entry() {
    let backend = common::cache::counting_backend();
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .stage_toml(
            "prod",
            "cache_cluster_enabled = true\ncache_ttl_in_seconds = 300",
        )
        .method_toml(
            "v1",
            "GET /pets",
            &format!(
                "{{ type = \"HTTP_PROXY\", uri = {} }}",
                toml_str(&format!("{}/pets", backend.url()))
            ),
            "authorization_type = \"AWS_IAM\"",
        );
    // One shard: each shard has its own cache partition.
    let cfg = ConfigDir::with_api(&api)
        .shards(1)
        .gateway_extra("\n[lambda]\naccount_id = \"111122223333\"\n")
        .default_api("petstore");
    cfg.write_file("identities.toml", IDENTITIES);
    let gw = start_frozen(&cfg, NOW_MS);
    let call = |key, no_cache: bool| {
        let mut req = signed(&gw, key, "GET", "/prod/pets", "", AMZ_DATE);
        if no_cache {
            req = req.header("Cache-Control", "max-age=0");
        }
        req.send(gw.addr())
    };
    call(ALICE, false).assert(200, "#1");
    call(ALICE, false).assert(200, "#1");
    // Alice may invoke but not invalidate: served from the cache with AWS's warning.
    let resp = call(ALICE, true);
    resp.assert(200, "#1");
    assert!(
        resp.header("Warning")
            .is_some_and(|w| w.starts_with("199 ")),
        "{resp:?}"
    );
    // Carol's policy allows execute-api:* (InvalidateCache too): her max-age=0 refreshes it.
    call(CAROL, true).assert(200, "#2");
    call(ALICE, false).assert(200, "#2");
}

#[test]
fn large_bodies_continue_requests_and_unsigned_hosts() {
    let (_cfg, app, gw) = start(None);
    // A body of many reads, signed whole.
    let big = format!("{{\"blob\":\"{}\"}}", "x".repeat(300_000));
    let resp = signed(&gw, ALICE, "POST", "/prod/pets", &big, AMZ_DATE).send(gw.addr());
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    let seen: Value = serde_json::from_str(&resp.body_str()).unwrap();
    assert_eq!(seen["body"].as_str().map(str::len), Some(big.len()));
    // A client that waits for 100 Continue gets it before the body is read.
    let req = signed(&gw, ALICE, "POST", "/prod/pets", "{\"a\":1}", AMZ_DATE)
        .header("Expect", "100-continue");
    let bytes = req.to_bytes();
    let split = find(&bytes, b"\r\n\r\n").unwrap() + 4;
    let mut conn = Conn::connect(gw.addr());
    conn.write(&bytes[..split]);
    assert!(conn.wait_for_bytes(b"HTTP/1.1 100 Continue\r\n\r\n", Duration::from_secs(5)));
    conn.write(&bytes[split..]);
    let resp = conn.read_final_response();
    assert_eq!(resp.status, 200, "{}", resp.body_str());
    assert_eq!(app.requests().len(), 2);
    // The host must be signed.
    let host = format!("{}", gw.addr());
    let out = botocore_get(&gw, ALICE, "/prod/pets", json!({}));
    let auth = out["authorization"]
        .as_str()
        .unwrap()
        .replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date");
    let resp = Req::get("/prod/pets")
        .header("Host", &host)
        .header("X-Amz-Date", AMZ_DATE)
        .header("Authorization", &auth)
        .send(gw.addr());
    assert_eq!(
        resp.header("x-amzn-ErrorType"),
        Some("IncompleteSignatureException")
    );
    assert!(
        message(&resp).contains("'Host' or ':authority' must be a 'SignedHeader'"),
        "{}",
        resp.body_str()
    );
}

#[test]
fn presigned_urls_expire_with_their_x_amz_expires() {
    let (_cfg, _app, gw) = start(None);
    let host = format!("{}", gw.addr());
    let out = botocore_get(
        &gw,
        ALICE,
        "/prod/pets",
        json!({"presign": true, "expires": 60}),
    );
    let target = presigned_target(&out);
    advance_clock(&gw, Duration::from_secs(60));
    Req::get(&target)
        .header("Host", &host)
        .send(gw.addr())
        .assert(200, "pets");
    advance_clock(&gw, Duration::from_secs(1));
    let resp = Req::get(&target).header("Host", &host).send(gw.addr());
    assert_error(
        &resp,
        403,
        r#"{"message":"Signature expired: 20261201T120000Z is now earlier than 20261201T120001Z (20261201T120101Z - 60 sec.)"}"#,
        "InvalidSignatureException",
    );
}
