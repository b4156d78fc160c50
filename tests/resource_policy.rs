//! Resource policies: source-address conditions from both sides of each CIDR (clients bound
//! to other loopback addresses), explicit deny over allow, the `execute-api:/` shorthand, the
//! masked ARN in AWS's denial, and how a policy combines with a Lambda authorizer.

mod common;

use std::net::IpAddr;

use common::auth::*;
use common::lambda::*;
use common::traffic::*;
use common::*;
use serde_json::json;

/// API `shop`, stage `prod`: `GET /items` and `POST /items` (MOCK), with `policy`.
fn shop(policy: &str) -> ApiSpec {
    ApiSpec::new("shop")
        .api_line(&policy_line(policy))
        .stage("prod", "v1")
        .mock("v1", "GET /items", 200, "items")
        .mock("v1", "POST /items", 201, "made")
        .mock("v1", "GET /", 200, "root")
}

fn from(gw: &Gateway, ip: &str, req: Req) -> Response {
    let ip: IpAddr = ip.parse().unwrap();
    Conn::connect_from(gw.addr(), ip).roundtrip(&req)
}

fn denied(arn_tail: &str, explicit: bool) -> String {
    let why = if explicit {
        "with an explicit deny in a resource-based policy"
    } else {
        "because no resource-based policy allows the execute-api:Invoke action"
    };
    json!({"Message": format!("User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:********3333:shop/prod/{arn_tail} {why}")}).to_string()
}

fn start(api: &ApiSpec) -> (ConfigDir, Gateway) {
    start_on(api, "127.0.0.1:0")
}

/// The gateway serving `api` on `listen`; the account of the ARNs is `[lambda] account_id`.
fn start_on(api: &ApiSpec, listen: &str) -> (ConfigDir, Gateway) {
    let cfg = ConfigDir::with_api(api)
        .listen_on(listen)
        .gateway_extra("\n[lambda]\naccount_id = \"111122223333\"\n")
        .default_api("shop");
    let gw = Gateway::start(&cfg);
    (cfg, gw)
}

#[test]
fn source_ip_conditions_hold_on_both_sides_of_each_cidr() {
    let policy = resource_policy(&[
        statement(
            "Allow",
            Some(json!({"IpAddress": {"aws:SourceIp": ["127.0.0.0/24", "127.0.2.7"]}})),
        ),
        statement(
            "Deny",
            Some(json!({"IpAddress": {"aws:SourceIp": "127.0.0.128/25"}})),
        ),
    ]);
    let (_cfg, gw) = start(&shop(&policy));
    from(&gw, "127.0.0.1", Req::get("/prod/items")).assert(200, "items");
    from(&gw, "127.0.0.127", Req::get("/prod/items")).assert(200, "items");
    from(&gw, "127.0.2.7", Req::get("/prod/items")).assert(200, "items");
    // Outside every allowed block: implicitly denied.
    for ip in ["127.0.1.0", "127.0.2.8"] {
        let resp = from(&gw, ip, Req::get("/prod/items"));
        assert_error(
            &resp,
            403,
            &denied("GET/items", false),
            "AccessDeniedException",
        );
    }
    // Inside the allowed /24 and the denied /25: the deny wins.
    for ip in ["127.0.0.128", "127.0.0.255"] {
        let resp = from(&gw, ip, Req::post("/prod/items", "x"));
        assert_error(
            &resp,
            403,
            &denied("POST/items", true),
            "AccessDeniedException",
        );
    }
    // The root resource's ARN ends in `GET/`.
    let resp = from(&gw, "127.0.1.1", Req::get("/prod/"));
    assert_error(&resp, 403, &denied("GET/", false), "AccessDeniedException");
}

#[test]
fn negated_conditions_and_shorthand_resources() {
    // Everyone may read; writing is denied unless from 127.0.0.9.
    let policy = resource_policy(&[
        json!({"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/prod/GET/*"}),
        json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "execute-api:*", "Resource": "execute-api:/*/POST/items"}),
        json!({"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*/POST/*",
               "Condition": {"NotIpAddress": {"aws:SourceIp": "127.0.0.9/32"}}}),
    ]);
    let (_cfg, gw) = start(&shop(&policy));
    from(&gw, "127.0.0.1", Req::get("/prod/items")).assert(200, "items");
    from(&gw, "127.0.0.9", Req::post("/prod/items", "x")).assert(201, "made");
    let resp = from(&gw, "127.0.0.1", Req::post("/prod/items", "x"));
    assert_error(
        &resp,
        403,
        &denied("POST/items", true),
        "AccessDeniedException",
    );
}

#[test]
fn a_policy_combines_with_a_lambda_authorizer_as_aws_table_a() {
    let server = auth_and_app_server(|event| {
        let arn = event["methodArn"].as_str().unwrap_or("");
        match event["authorizationToken"].as_str().unwrap_or("") {
            "allow" => result(policy_result("u", "Allow", arn, json!({}))),
            "deny" => result(policy_result("u", "Deny", arn, json!({}))),
            _ => result(policy_result(
                "u",
                "Allow",
                "arn:aws:execute-api:*:*:other/*",
                json!({}),
            )),
        }
    });
    // The policy allows 127.0.0.0/24 and explicitly denies 127.0.0.66.
    let policy = resource_policy(&[
        statement(
            "Allow",
            Some(json!({"IpAddress": {"aws:SourceIp": "127.0.0.0/24"}})),
        ),
        statement(
            "Deny",
            Some(json!({"IpAddress": {"aws:SourceIp": "127.0.0.66"}})),
        ),
    ]);
    let api = ApiSpec::new("shop")
        .api_line(&policy_line(&policy))
        .stage("prod", "v1")
        .method_toml(
            "v1",
            "GET /items",
            "{ type = \"MOCK\", status = 200, body = \"items\" }",
            "authorizer = \"tok\"",
        )
        .table(&authorizer_toml(
            "tok",
            "TOKEN",
            "method.request.header.Authorization",
            "result_ttl_in_seconds = 0",
        ));
    let cfg = ConfigDir::with_api(&api)
        .shards(1)
        .gateway_extra(&lambda_section(&server))
        .default_api("shop");
    let gw = Gateway::start(&cfg);
    let call = |ip: &str, token: &str| {
        from(
            &gw,
            ip,
            Req::get("/prod/items").header("Authorization", token),
        )
    };

    // Policy deny: refused before the authorizer is invoked.
    let resp = call("127.0.0.66", "allow");
    assert_error(
        &resp,
        403,
        &denied("GET/items", true),
        "AccessDeniedException",
    );
    assert!(authorizer_calls(&server).is_empty());
    // Authorizer allow + policy allow or silent: allowed.
    call("127.0.0.1", "allow").assert(200, "items");
    call("127.0.5.1", "allow").assert(200, "items");
    // Authorizer silent + policy allow: allowed; both silent: denied.
    call("127.0.0.1", "silent").assert(200, "items");
    let resp = call("127.0.5.1", "silent");
    assert_eq!(resp.status, 403);
    assert_eq!(
        resp.header("x-amzn-ErrorType"),
        Some("AccessDeniedException")
    );
    // Authorizer deny wins over the policy's allow.
    let resp = call("127.0.0.1", "deny");
    assert_eq!(resp.status, 403);
    assert!(
        resp.body_str()
            .contains("explicit deny in an identity-based policy"),
        "{}",
        resp.body_str()
    );
    assert_eq!(authorizer_calls(&server).len(), 5);
}

#[test]
fn a_bad_policy_document_is_a_config_error() {
    let api = ApiSpec::new("shop")
        .api_line(&policy_line(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"300.1.1.1/8"}}}]}"#))
        .stage("prod", "v1")
        .mock("v1", "GET /items", 200, "items");
    let cfg = ConfigDir::with_api(&api);
    let text = check_fails(cfg.path());
    assert!(text.contains("shop.toml:3"), "{text}");
    assert!(text.contains("policy"), "{text}");
    assert!(text.contains("Statement[0]: Condition.IpAddress.aws:SourceIp: `300.1.1.1/8` is not an IP address or CIDR block"), "{text}");
}

#[test]
fn a_deny_cannot_be_walked_around_with_slashes_dots_or_head() {
    let policy = resource_policy(&[
        statement("Allow", None),
        json!({"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*/GET/admin"}),
    ]);
    let api = ApiSpec::new("shop")
        .api_line(&policy_line(&policy))
        .stage("prod", "v1")
        .mock("v1", "GET /admin", 200, "admin")
        .mock("v1", "GET /pets/{proxy+}", 200, "pets")
        .mock("v1", "GET /items", 200, "items");
    let (_cfg, gw) = start(&api);
    get(gw.addr(), "/prod/items").assert(200, "items");
    for path in [
        "/prod/admin",
        "/prod/admin/",
        "/prod/pets/../admin",
        "/prod/pets/%2E%2e/admin",
        "/prod/pets/./../admin",
    ] {
        let resp = get(gw.addr(), path);
        assert_error(
            &resp,
            403,
            &denied("GET/admin", true),
            "AccessDeniedException",
        );
    }
    // HEAD served by the GET method is decided as that GET.
    let resp = Req::new("HEAD", "/prod/admin").send(gw.addr());
    assert_eq!(resp.status, 403, "{resp:?}");
}

#[test]
fn ipv6_source_addresses_are_matched_by_ipv6_blocks() {
    let policy = resource_policy(&[
        statement(
            "Allow",
            Some(json!({"IpAddress": {"aws:SourceIp": ["::1/128", "127.0.0.0/8"]}})),
        ),
        statement(
            "Deny",
            Some(
                json!({"IpAddress": {"aws:SourceIp": "::/0"}, "StringLike": {"aws:UserAgent": "blocked/*"}}),
            ),
        ),
    ]);
    let (_cfg, gw) = start_on(&shop(&policy), "[::1]:0");
    assert!(gw.addr().is_ipv6());
    get(gw.addr(), "/prod/items").assert(200, "items");
    // A condition on aws:UserAgent is read from the request's header.
    let resp = Req::get("/prod/items")
        .header("User-Agent", "blocked/1.0")
        .send(gw.addr());
    assert_error(
        &resp,
        403,
        &denied("GET/items", true),
        "AccessDeniedException",
    );
    drop(gw);
    // The same client outside an IPv6-only allow list.
    let policy = resource_policy(&[statement(
        "Allow",
        Some(json!({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}})),
    )]);
    let (_cfg, gw) = start_on(&shop(&policy), "[::1]:0");
    let resp = get(gw.addr(), "/prod/items");
    assert_error(
        &resp,
        403,
        &denied("GET/items", false),
        "AccessDeniedException",
    );
}
