//! The control plane (issue 14) driven by the real AWS CLI: APIs created from nothing,
//! deployed, called, changed, redeployed and rolled back; AWS's errors; SigV4 refusals;
//! what survives a `kill -9`; APIs owned by files.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::control::{self, call, each, text, Cli};
use common::{ApiSpec, Backend, Gateway, Reply};

#[test]
fn an_api_made_with_the_cli_serves_once_deployed_and_rolls_back() {
    let config = control::config();
    let gw = Gateway::start(&config);
    let cli = Cli::new(&gw);
    let (api, root) = cli.create_api("pets");
    let pets = cli.create_resource(&api, &root, "pets");
    cli.mock_get(&api, &pets, r#"{"version": 1, "stage": "$context.stage"}"#);
    // Not deployed yet: the API has no stage, so the gateway does not know the path.
    assert_eq!(call(&gw, &api, "prod", "/pets").0, 403);
    let first = cli.deploy(&api, "prod");
    assert_eq!(
        call(&gw, &api, "prod", "/pets"),
        (200, r#"{"version": 1, "stage": "prod"}"#.to_string())
    );

    // A change to the working copy reaches callers only with the next deployment.
    cli.mock_response(&api, &pets, r#"{"version": 2}"#);
    assert_eq!(
        call(&gw, &api, "prod", "/pets").1,
        r#"{"version": 1, "stage": "prod"}"#
    );
    let second = cli.deploy(&api, "prod");
    assert_eq!(call(&gw, &api, "prod", "/pets").1, r#"{"version": 2}"#);
    let listed = cli.run(&["get-deployments", "--rest-api-id", &api]);
    let ids: Vec<String> = each(&listed, "items", "id");
    assert_eq!(ids, [first.clone(), second.clone()]);

    // Rollback is an UpdateStage of deploymentId.
    let stage = cli
        .update_stage(
            &api,
            "prod",
            &[&format!("op=replace,path=/deploymentId,value={first}")],
        )
        .expect("update-stage");
    assert_eq!(stage["deploymentId"], first.as_str());
    assert_eq!(
        call(&gw, &api, "prod", "/pets").1,
        r#"{"version": 1, "stage": "prod"}"#
    );

    // A second stage on the newer deployment, with a variable; then the stage goes.
    cli.run(&[
        "create-stage",
        "--rest-api-id",
        &api,
        "--stage-name",
        "beta",
        "--deployment-id",
        &second,
        "--variables",
        "color=blue",
    ]);
    assert_eq!(call(&gw, &api, "beta", "/pets").1, r#"{"version": 2}"#);
    let stages = cli.run(&["get-stages", "--rest-api-id", &api]);
    let names: Vec<String> = each(&stages, "item", "stageName");
    assert_eq!(names, ["beta", "prod"]);
    assert_eq!(stages["item"][0]["variables"]["color"], "blue");
    assert_eq!(stages["item"][0]["cacheClusterStatus"], "NOT_AVAILABLE");
    assert_eq!(
        cli.run(&[
            "delete-stage",
            "--rest-api-id",
            &api,
            "--stage-name",
            "beta"
        ]),
        serde_json::Value::Null
    );
    assert_eq!(call(&gw, &api, "beta", "/pets").0, 403);
    assert_eq!(call(&gw, &api, "prod", "/pets").0, 200);

    // The method as GetMethod embeds it, with AWS's defaults.
    let method = cli.run(&[
        "get-method",
        "--rest-api-id",
        &api,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
    ]);
    assert_eq!(method["apiKeyRequired"], false);
    assert_eq!(method["methodIntegration"]["type"], "MOCK");
    assert_eq!(method["methodIntegration"]["timeoutInMillis"], 29000);
    assert_eq!(
        method["methodIntegration"]["passthroughBehavior"],
        "WHEN_NO_MATCH"
    );
    assert_eq!(method["methodIntegration"]["cacheNamespace"], pets.as_str());
    assert_eq!(
        method["methodIntegration"]["integrationResponses"]["200"]["selectionPattern"],
        ""
    );
    assert_eq!(method["methodResponses"]["200"]["statusCode"], "200");
    let resources = cli.run(&["get-resources", "--rest-api-id", &api]);
    let paths: Vec<String> = each(&resources, "items", "path");
    assert_eq!(paths, ["/", "/pets"]);
    assert_eq!(
        resources["items"][1]["resourceMethods"]["GET"],
        serde_json::json!({})
    );

    // Deleting the API stops serving it.
    cli.run(&["delete-rest-api", "--rest-api-id", &api]);
    assert_eq!(call(&gw, &api, "prod", "/pets").0, 403);
    cli.fails(&["get-rest-api", "--rest-api-id", &api]).assert(
        "NotFoundException",
        &format!("Invalid API identifier specified 123456789012:{api}"),
    );
}

/// A YAML OpenAPI 3 document as a person writes one, with API Gateway's extensions.
const YAML_API: &str = r#"
openapi: 3.0.1
info: {title: imported, version: "7"}
paths:
  /pets/{petId}:
    get:
      parameters:
        - {name: petId, in: path, required: true}
      responses:
        "200": {description: ok}
      x-amazon-apigateway-integration:
        type: mock
        requestTemplates: {application/json: '{"statusCode": 200}'}
        responses:
          default:
            statusCode: "200"
            responseTemplates: {application/json: '{"pet": "$input.params(''petId'')"}'}
x-amazon-apigateway-gateway-responses:
  DEFAULT_4XX: {statusCode: 400}
"#;

#[test]
fn openapi_documents_import_export_and_import_again() {
    let config = control::config();
    let gw = Gateway::start(&config);
    let cli = Cli::new(&gw);
    let dir = config.path();
    std::fs::write(dir.join("api.yaml"), YAML_API).unwrap();
    let body = format!("fileb://{}", dir.join("api.yaml").display());
    // A warning refuses the import under --fail-on-warnings, and comes back without it.
    cli.fails(&["import-rest-api", "--fail-on-warnings", "--body", &body])
        .assert(
            "BadRequestException",
            "x-amazon-apigateway-gateway-responses is not imported yet",
        );
    let imported = cli.run(&["import-rest-api", "--body", &body]);
    assert_eq!(imported["name"], "imported");
    assert_eq!(imported["version"], "7");
    assert_eq!(
        imported["warnings"][0],
        "x-amazon-apigateway-gateway-responses is not imported yet"
    );
    let api = text(&imported["id"]);
    cli.deploy(&api, "prod");
    assert_eq!(
        call(&gw, &api, "prod", "/pets/42"),
        (200, r#"{"pet": "42"}"#.to_string())
    );

    // Export it (JSON, with integrations), import the export as a second API: same answers,
    // and its export has the same paths.
    let exported = dir.join("export.json");
    let first = cli.export((&api, "prod"), "oas30", Some("integrations"), &exported);
    assert_eq!(first["openapi"], "3.0.1");
    let op = &first["paths"]["/pets/{petId}"]["get"];
    assert_eq!(op["x-amazon-apigateway-integration"]["type"], "mock");
    assert_eq!(
        op["x-amazon-apigateway-integration"]["passthroughBehavior"],
        "when_no_match"
    );
    assert_eq!(op["parameters"][0]["name"], "petId");
    let again = cli.run(&[
        "import-rest-api",
        "--body",
        &format!("fileb://{}", exported.display()),
    ]);
    let copy = text(&again["id"]);
    assert!(again.get("warnings").is_none());
    cli.deploy(&copy, "prod");
    assert_eq!(
        call(&gw, &copy, "prod", "/pets/7"),
        (200, r#"{"pet": "7"}"#.to_string())
    );
    let second = cli.export(
        (&copy, "prod"),
        "oas30",
        Some("integrations"),
        &dir.join("export2.json"),
    );
    assert_eq!(first["paths"], second["paths"]);
    assert_eq!(first["info"], second["info"]);

    // Swagger 2.0 without extensions has no integrations.
    let swagger = cli.export((&api, "prod"), "swagger", None, &dir.join("swagger.json"));
    assert_eq!(swagger["swagger"], "2.0");
    assert_eq!(swagger["basePath"], "/prod");
    assert!(swagger["paths"]["/pets/{petId}"]["get"]
        .get("x-amazon-apigateway-integration")
        .is_none());

    // PutRestApi: merge adds a path, overwrite leaves only the document's.
    let extra = r#"{"openapi": "3.0.1", "info": {"title": "imported"}, "paths": {"/health": {"get": {
        "responses": {"200": {"description": "ok"}},
        "x-amazon-apigateway-integration": {"type": "MOCK", "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
          "responses": {"default": {"statusCode": "200", "responseTemplates": {"application/json": "up"}}}}}}}}"#;
    std::fs::write(dir.join("extra.json"), extra).unwrap();
    let extra_body = format!("fileb://{}", dir.join("extra.json").display());
    cli.run(&[
        "put-rest-api",
        "--rest-api-id",
        &api,
        "--mode",
        "merge",
        "--body",
        &extra_body,
    ]);
    let paths = |id: &str| -> Vec<String> {
        let r = cli.run(&["get-resources", "--rest-api-id", id]);
        each(&r, "items", "path")
    };
    assert_eq!(paths(&api), ["/", "/health", "/pets", "/pets/{petId}"]);
    cli.deploy(&api, "prod");
    assert_eq!(call(&gw, &api, "prod", "/health").1, "up");
    assert_eq!(call(&gw, &api, "prod", "/pets/1").0, 200);
    cli.run(&[
        "put-rest-api",
        "--rest-api-id",
        &api,
        "--mode",
        "overwrite",
        "--body",
        &extra_body,
    ]);
    assert_eq!(paths(&api), ["/", "/health"]);
    cli.deploy(&api, "prod");
    assert_eq!(call(&gw, &api, "prod", "/pets/1").0, 403);
    cli.fails(&[
        "import-rest-api",
        "--body",
        &format!("fileb://{}", dir.join("gateway.toml").display()),
    ])
    .assert("BadRequestException", "Invalid OpenAPI input");
}

#[test]
fn an_openapi_file_in_the_api_folder_is_an_api_definition() {
    let config = control::config();
    // An export's stage: servers[0].variables.basePath.default.
    let yaml = YAML_API.replace(
        "paths:",
        "servers:\n  - url: http://x/{basePath}\n    variables: {basePath: {default: live}}\npaths:",
    );
    config.write_file("apis/catalog.yaml", &yaml);
    let checked = common::run_check(config.path());
    let summary = String::from_utf8_lossy(&checked.stdout);
    assert!(
        summary.contains("1 API, 1 stage, 1 deployment, 1 method"),
        "{summary}"
    );
    let gw = Gateway::start(&config);
    assert_eq!(
        call(&gw, "catalog", "live", "/pets/5"),
        (200, r#"{"pet": "5"}"#.to_string())
    );
    let listed = Cli::new(&gw).run(&["get-rest-apis"]);
    assert_eq!(listed["items"][0]["id"], "catalog");
    assert_eq!(listed["items"][0]["name"], "imported");
    // `tollgate import` prints the same definition as an API file.
    let out = std::process::Command::new(common::tollgate_bin())
        .args([
            "import",
            config.path().join("apis/catalog.yaml").to_str().unwrap(),
        ])
        .output()
        .expect("tollgate import");
    assert!(out.status.success());
    let toml = String::from_utf8_lossy(&out.stdout);
    assert!(
        toml.contains("id = \"catalog\"") && toml.contains("[stages.live]"),
        "{toml}"
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("warning: x-amazon-apigateway-gateway-responses"));
    // A broken document is a configuration error naming the file.
    config.write_file(
        "apis/broken.json",
        r#"{"openapi": "3.0.1", "info": {}, "paths": {}}"#,
    );
    let failed = common::check_fails(config.path());
    assert!(
        failed.contains("apis/broken.json") && failed.contains("info.title is required"),
        "{failed}"
    );
}

#[test]
fn a_canary_takes_its_share_and_is_promoted() {
    let config = control::config();
    let gw = Gateway::start(&config);
    let cli = Cli::new(&gw);
    let (api, root) = cli.create_api("canaried");
    let pets = cli.create_resource(&api, &root, "pets");
    cli.mock_get(&api, &pets, "base $context.isCanaryRequest");
    let base = cli.deploy(&api, "prod");
    cli.mock_response(
        &api,
        &pets,
        "canary $context.isCanaryRequest $stageVariables.color",
    );
    cli.fails(&["create-deployment", "--rest-api-id", &api, "--canary-settings", "percentTraffic=10"])
        .assert("BadRequestException", "Non null and non empty stageName must be provided for canary deployment. Provided value is null");
    let canary = cli.run(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "prod",
        "--canary-settings",
        "percentTraffic=10,stageVariableOverrides={color=green}",
    ]);
    let canary = text(&canary["id"]);
    let stage = cli.run(&["get-stage", "--rest-api-id", &api, "--stage-name", "prod"]);
    assert_eq!(stage["deploymentId"], base.as_str());
    assert_eq!(
        stage["canarySettings"],
        serde_json::json!({"deploymentId": canary, "percentTraffic": 10.0,
            "stageVariableOverrides": {"color": "green"}, "useStageCache": false})
    );
    // 2,000 requests: about 10 % (binomial, 4.5 standard deviations either side) reach the
    // canary, which sees its variables and knows it is the canary.
    let mut to_canary = 0u64;
    for _ in 0..2000 {
        let (status, body) = call(&gw, &api, "prod", "/pets");
        assert_eq!(status, 200);
        match body.as_str() {
            "canary true green" => to_canary += 1,
            "base false" => {}
            other => panic!("unexpected body {other:?}"),
        }
    }
    assert!(
        (140..=260).contains(&to_canary),
        "{to_canary} of 2000 went to the canary"
    );
    let m = common::metrics::scrape_when(&gw, |m| {
        let canary = m.count("tollgate_count", &[("api", &api), ("stage", "prod/Canary")]);
        let base = m.count("tollgate_count", &[("api", &api), ("stage", "prod")]);
        canary + base >= 2000
    });
    assert_eq!(
        m.count("tollgate_count", &[("api", &api), ("stage", "prod/Canary")]),
        to_canary
    );
    assert_eq!(
        m.count("tollgate_count", &[("api", &api), ("stage", "prod")]),
        2000 - to_canary
    );

    // Promotion as AWS's guide does it: copy the canary's deployment and variables into the
    // stage, then take the canary's share to 0 and remove it.
    cli.update_stage(&api, "prod", &["op=copy,path=/canarySettings/stageVariableOverrides,from=/variables"]).unwrap_err()
        .assert("BadRequestException", "Invalid copy operation with path: /canarySettings/stageVariableOverrides and from /variables.");
    let promoted = cli
        .update_stage(
            &api,
            "prod",
            &[
                "op=copy,path=/deploymentId,from=/canarySettings/deploymentId",
                "op=copy,path=/variables,from=/canarySettings/stageVariableOverrides",
                "op=replace,path=/canarySettings/percentTraffic,value=0.0",
            ],
        )
        .expect("update-stage");
    assert_eq!(promoted["deploymentId"], canary.as_str());
    assert_eq!(promoted["variables"]["color"], "green");
    for _ in 0..50 {
        assert_eq!(call(&gw, &api, "prod", "/pets").1, "canary false green");
    }
    let removed = cli
        .update_stage(&api, "prod", &["op=remove,path=/canarySettings"])
        .expect("update-stage");
    assert!(removed.get("canarySettings").is_none(), "{removed}");
    cli.update_stage(
        &api,
        "prod",
        &["op=copy,path=/deploymentId,from=/canarySettings/deploymentId"],
    )
    .unwrap_err()
    .assert(
        "BadRequestException",
        "Promotion not available. Canary does not exist.",
    );
    cli.run(&[
        "delete-deployment",
        "--rest-api-id",
        &api,
        "--deployment-id",
        &base,
    ]);
}

#[test]
fn usage_plans_and_keys_made_with_the_cli_meter_and_limit_callers() {
    let config = control::config();
    let gw = Gateway::start(&config);
    let cli = Cli::new(&gw);
    let (api, root) = cli.create_api("metered");
    let pets = cli.create_resource(&api, &root, "pets");
    cli.mock_get(&api, &pets, "pets");
    cli.run(&[
        "update-method",
        "--rest-api-id",
        &api,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
        "--patch-operations",
        "op=replace,path=/apiKeyRequired,value=true",
    ]);
    cli.deploy(&api, "prod");
    let plan = cli.run(&[
        "create-usage-plan",
        "--name",
        "gold",
        "--api-stages",
        &format!("apiId={api},stage=prod"),
        "--throttle",
        "burstLimit=100,rateLimit=50",
        "--quota",
        "limit=3,period=DAY",
    ]);
    let plan = text(&plan["id"]);
    let key = cli.run(&[
        "create-api-key",
        "--name",
        "client",
        "--enabled",
        "--value",
        "client-key-0123456789abcdef",
    ]);
    assert_eq!(key["value"], "client-key-0123456789abcdef");
    let key = text(&key["id"]);
    cli.fails(&[
        "create-usage-plan-key",
        "--usage-plan-id",
        &plan,
        "--key-id",
        "nokey",
        "--key-type",
        "API_KEY",
    ])
    .assert("NotFoundException", "Invalid API Key identifier specified");
    let linked = cli.run(&[
        "create-usage-plan-key",
        "--usage-plan-id",
        &plan,
        "--key-id",
        &key,
        "--key-type",
        "API_KEY",
    ]);
    assert_eq!(linked["type"], "API_KEY");
    assert_eq!(linked["name"], "client");

    let host = format!("{api}.execute-api.localhost");
    let with_key = |k: &str| {
        common::request(
            gw.addr(),
            "GET",
            "/prod/pets",
            &[("Host", &host), ("x-api-key", k)],
            b"",
        )
        .status
    };
    assert_eq!(call(&gw, &api, "prod", "/pets").0, 403, "no key");
    assert_eq!(with_key("not-a-key-0123456789abc"), 403);
    for _ in 0..3 {
        assert_eq!(with_key("client-key-0123456789abcdef"), 200);
    }
    assert_eq!(
        with_key("client-key-0123456789abcdef"),
        429,
        "over the quota"
    );

    // GetUsage: the three requests that counted, one day.
    let today = std::process::Command::new("date")
        .args(["-u", "+%F"])
        .output()
        .expect("date");
    let today = String::from_utf8_lossy(&today.stdout).trim().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let usage = loop {
        let usage = cli.run(&[
            "get-usage",
            "--usage-plan-id",
            &plan,
            "--start-date",
            &today,
            "--end-date",
            &today,
        ]);
        if usage["items"][&key][0][0] == 3 || std::time::Instant::now() > deadline {
            break usage;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        usage["items"][&key][0],
        serde_json::json!([3, 0]),
        "{usage}"
    );

    // Listing with and without values; import from CSV; delete.
    let listed = cli.run(&["get-api-keys", "--name-query", "cli", "--include-values"]);
    assert_eq!(listed["items"][0]["value"], "client-key-0123456789abcdef");
    let one = cli.run(&["get-api-key", "--api-key", &key]);
    assert!(one.get("value").is_none(), "{one}");
    let csv = config.path().join("keys.csv");
    std::fs::write(
        &csv,
        format!("Name,Key,Enabled,UsagePlanIds\nimported,imported-key-0123456789ab,true,{plan}\n"),
    )
    .unwrap();
    let imported = cli.run(&[
        "import-api-keys",
        "--format",
        "csv",
        "--body",
        &format!("fileb://{}", csv.display()),
    ]);
    assert_eq!(imported["ids"].as_array().map(Vec::len), Some(1));
    assert_eq!(with_key("imported-key-0123456789ab"), 200);
    let one = cli.run(&[
        "get-usage-plan-key",
        "--usage-plan-id",
        &plan,
        "--key-id",
        &key,
    ]);
    assert_eq!(
        (one["id"].as_str(), one["type"].as_str()),
        (Some(key.as_str()), Some("API_KEY"))
    );
    let plan_keys = cli.run(&["get-usage-plan-keys", "--usage-plan-id", &plan]);
    assert_eq!(plan_keys["items"].as_array().map(Vec::len), Some(2));
    cli.run(&["delete-api-key", "--api-key", &key]);
    assert_eq!(with_key("client-key-0123456789abcdef"), 403);
    cli.fails(&["get-usage-plan", "--usage-plan-id", "nope00"])
        .assert("NotFoundException", "Invalid Usage Plan ID specified");
    let plans = cli.run(&["get-usage-plans"]);
    assert_eq!(
        plans["items"][0]["quota"],
        serde_json::json!({"limit": 3, "offset": 0, "period": "DAY"})
    );
}

#[test]
fn resources_are_renamed_and_moved_with_their_methods() {
    let config = control::config();
    let gw = Gateway::start(&config);
    let cli = Cli::new(&gw);
    let (api, root) = cli.create_api("moving");
    let a = cli.create_resource(&api, &root, "a");
    let b = cli.create_resource(&api, &root, "b");
    let x = cli.create_resource(&api, &a, "x");
    cli.mock_get(&api, &x, "here");
    let update = |id: &str, op: &str| {
        cli.try_run(&[
            "update-resource",
            "--rest-api-id",
            &api,
            "--resource-id",
            id,
            "--patch-operations",
            op,
        ])
    };
    let renamed = update(&x, "op=replace,path=/pathPart,value=y").expect("rename");
    assert_eq!(renamed["path"], "/a/y");
    let moved = update(&x, &format!("op=replace,path=/parentId,value={b}")).expect("move");
    assert_eq!(
        (moved["path"].as_str(), moved["parentId"].as_str()),
        (Some("/b/y"), Some(b.as_str()))
    );
    cli.deploy(&api, "prod");
    assert_eq!(call(&gw, &api, "prod", "/b/y"), (200, "here".to_string()));
    update(&b, &format!("op=replace,path=/parentId,value={x}"))
        .unwrap_err()
        .assert("BadRequestException", "Resources cannot be cyclical.");
    update(&root, "op=replace,path=/pathPart,value=z")
        .unwrap_err()
        .assert(
            "BadRequestException",
            "Root resource cannot update its pathPart.",
        );
    update(&a, "op=replace,path=/invalid,value=z").unwrap_err().assert(
        "BadRequestException",
        "Invalid patch path  '/invalid' specified for op 'replace'. Must be one of: [/parentId, /pathPart]",
    );
    update(&a, "op=replace,path=/pathPart,value=b")
        .unwrap_err()
        .assert(
            "ConflictException",
            "Another resource with the same parent already has this name: b",
        );
}

#[test]
fn apis_and_stages_take_tags() {
    let config = control::config();
    let gw = Gateway::start(&config);
    let cli = Cli::new(&gw);
    let (api, _) = cli.pets_api("tagged", "ok");
    let api_arn = format!("arn:aws:apigateway:us-east-1::/restapis/{api}");
    let stage_arn = format!("{api_arn}/stages/prod");
    cli.run(&[
        "tag-resource",
        "--resource-arn",
        &api_arn,
        "--tags",
        "team=payments,env=prod",
    ]);
    cli.run(&[
        "tag-resource",
        "--resource-arn",
        &stage_arn,
        "--tags",
        "tier=gold",
    ]);
    cli.run(&[
        "untag-resource",
        "--resource-arn",
        &api_arn,
        "--tag-keys",
        "env",
    ]);
    let tags = cli.run(&["get-tags", "--resource-arn", &api_arn]);
    assert_eq!(tags["tags"], serde_json::json!({"team": "payments"}));
    assert_eq!(
        cli.run(&["get-rest-api", "--rest-api-id", &api])["tags"]["team"],
        "payments"
    );
    let stage = cli.run(&["get-stage", "--rest-api-id", &api, "--stage-name", "prod"]);
    assert_eq!(stage["tags"], serde_json::json!({"tier": "gold"}));
    cli.fails(&[
        "get-tags",
        "--resource-arn",
        "arn:aws:apigateway:us-east-1::/apikeys/k",
    ])
    .assert("BadRequestException", "Invalid resource ARN specified");
    cli.fails(&[
        "tag-resource",
        "--resource-arn",
        &api_arn,
        "--tags",
        "aws:x=1",
    ])
    .assert("BadRequestException", "Invalid tag");
    // Tags change nothing served.
    assert_eq!(call(&gw, &api, "prod", "/pets"), (200, "ok".to_string()));
}

#[test]
fn every_change_is_in_the_audit_log_and_reads_are_not() {
    let config = control::config();
    let gw = Gateway::start(&config);
    let cli = Cli::new(&gw);
    let (api, _) = cli.create_api("audited");
    cli.run(&["get-rest-api", "--rest-api-id", &api]);
    cli.fails(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "prod",
    ]);
    Cli::at(gw.admin_addr(), "AKIDSOMEONEELSE", "x").fails(&[
        "delete-rest-api",
        "--rest-api-id",
        &api,
    ]);
    let text = std::fs::read_to_string(config.path().join("control-audit.log")).expect("audit log");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let names: Vec<&str> = records
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["CreateRestApi", "CreateDeployment", "DeleteRestApi"]
    );
    let created = &records[0];
    assert_eq!(created["eventSource"], "apigateway.amazonaws.com");
    assert_eq!(created["userIdentity"]["accessKeyId"], control::ACCESS_KEY);
    assert_eq!(created["sourceIPAddress"], "127.0.0.1");
    assert_eq!(created["requestParameters"]["name"], "audited");
    assert_eq!(created["responseElements"]["id"], api.as_str());
    assert!(created["requestID"]
        .as_str()
        .is_some_and(|id| id.len() == 36));
    assert_eq!(records[1]["errorCode"], "BadRequestException");
    assert_eq!(
        records[1]["errorMessage"],
        "The REST API doesn't contain any methods"
    );
    assert_eq!(records[2]["errorCode"], "UnrecognizedClientException");
    assert_eq!(records[2]["userIdentity"]["accessKeyId"], "AKIDSOMEONEELSE");
    assert_eq!(records[2]["requestParameters"]["restApiId"], api.as_str());
}

#[test]
fn http_proxy_integrations_reach_the_backend_with_stage_variables() {
    let backend = Backend::start(|req| Reply::ok(format!("backend saw {}", req.target)));
    let config = control::config();
    let gw = Gateway::start(&config);
    let cli = Cli::new(&gw);
    let (api, root) = cli.create_api("shop");
    let shop = cli.create_resource(&api, &root, "shop");
    let proxy = cli.create_resource(&api, &shop, "{proxy+}");
    let at = [
        "--rest-api-id",
        api.as_str(),
        "--resource-id",
        proxy.as_str(),
        "--http-method",
        "ANY",
    ];
    let mut put = vec![
        "put-method",
        "--authorization-type",
        "NONE",
        "--request-parameters",
        "method.request.path.proxy=true",
    ];
    put.extend(at);
    cli.run(&put);
    let uri = format!(
        "http://{}/${{stageVariables.prefix}}/{{proxy}}",
        backend.addr()
    );
    let mut integration = vec![
        "put-integration",
        "--type",
        "HTTP_PROXY",
        "--integration-http-method",
        "ANY",
        "--uri",
        &uri,
        "--request-parameters",
        "integration.request.path.proxy=method.request.path.proxy",
    ];
    integration.extend(at);
    let put = cli.run(&integration);
    assert_eq!(put["connectionType"], "INTERNET");
    assert_eq!(put["httpMethod"], "ANY");
    cli.run(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "live",
        "--variables",
        "prefix=v1",
    ]);
    assert_eq!(
        call(&gw, &api, "live", "/shop/items/7?x=1"),
        (200, "backend saw /v1/items/7?x=1".to_string())
    );
    // A variable changed by UpdateStage takes effect at once.
    cli.update_stage(
        &api,
        "live",
        &["op=replace,path=/variables/prefix,value=v2"],
    )
    .expect("update-stage");
    assert_eq!(call(&gw, &api, "live", "/shop/a").1, "backend saw /v2/a");
}

#[test]
fn refusals_carry_aws_error_types_and_messages() {
    let config = control::config();
    let gw = Gateway::start(&config);
    let cli = Cli::new(&gw);
    cli.fails(&["get-rest-api", "--rest-api-id", "nope"])
        .assert(
            "NotFoundException",
            "Invalid API identifier specified 123456789012:nope",
        );
    let (api, root) = cli.create_api("errors");
    cli.fails(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "prod",
    ])
    .assert(
        "BadRequestException",
        "The REST API doesn't contain any methods",
    );
    let pets = cli.create_resource(&api, &root, "pets");
    cli.fails(&[
        "create-resource",
        "--rest-api-id",
        &api,
        "--parent-id",
        &root,
        "--path-part",
        "pets",
    ])
    .assert(
        "ConflictException",
        "Another resource with the same parent already has this name: pets",
    );
    cli.fails(&[
        "create-resource",
        "--rest-api-id",
        &api,
        "--parent-id",
        "nothere",
        "--path-part",
        "x",
    ])
    .assert("NotFoundException", "Invalid Resource identifier specified");
    cli.fails(&[
        "get-method",
        "--rest-api-id",
        &api,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
    ])
    .assert("NotFoundException", "Invalid Method identifier specified");
    cli.run(&[
        "put-method",
        "--rest-api-id",
        &api,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
        "--authorization-type",
        "NONE",
    ]);
    cli.fails(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "prod",
    ])
    .assert("BadRequestException", "No integration defined for method");
    cli.fails(&[
        "get-integration",
        "--rest-api-id",
        &api,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
    ])
    .assert(
        "NotFoundException",
        "Invalid Integration identifier specified",
    );
    cli.fails(&[
        "put-integration",
        "--rest-api-id",
        &api,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
        "--type",
        "HTTPS_PROXY",
    ])
    .assert(
        "ValidationException",
        "Member must satisfy enum value set: [HTTP, MOCK, AWS_PROXY, HTTP_PROXY, AWS]",
    );
    cli.mock_get(&api, &cli.create_resource(&api, &root, "ok"), "{}");
    cli.run(&[
        "delete-method",
        "--rest-api-id",
        &api,
        "--resource-id",
        &pets,
        "--http-method",
        "GET",
    ]);
    let deployment = cli.deploy(&api, "prod");
    cli.fails(&[
        "create-stage",
        "--rest-api-id",
        &api,
        "--stage-name",
        "prod",
        "--deployment-id",
        &deployment,
    ])
    .assert("ConflictException", "Stage already exists");
    cli.fails(&[
        "create-stage",
        "--rest-api-id",
        &api,
        "--stage-name",
        "qa",
        "--deployment-id",
        "zzzzzz",
    ])
    .assert("BadRequestException", "Deployment id does not exist");
    cli.fails(&["get-stage", "--rest-api-id", &api, "--stage-name", "qa"])
        .assert("NotFoundException", "Invalid stage identifier specified");
    cli.update_stage(&api, "prod", &["op=replace,path=/documentation_version,value=1"]).unwrap_err()
        .assert("BadRequestException", "Invalid method setting path: /documentation_version. Must be one of: [/deploymentId, /description,");
    cli.fails(&[
        "update-rest-api",
        "--rest-api-id",
        &api,
        "--patch-operations",
        "op=replace,path=/nonsense,value=1",
    ])
    .assert(
        "BadRequestException",
        "Invalid patch path  '/nonsense' specified for op 'replace'",
    );
    cli.fails(&[
        "delete-deployment",
        "--rest-api-id",
        &api,
        "--deployment-id",
        &deployment,
    ])
    .assert(
        "BadRequestException",
        "Active stages pointing to this deployment must be moved or deleted",
    );
    // A throttle set through methodSettings starts from AWS's defaults.
    let stage = cli
        .update_stage(
            &api,
            "prod",
            &["op=replace,path=/*/*/throttling/rateLimit,value=100"],
        )
        .expect("update-stage");
    let setting = &stage["methodSettings"]["*/*"];
    assert_eq!(
        (
            setting["throttlingRateLimit"].as_f64(),
            setting["throttlingBurstLimit"].as_i64()
        ),
        (Some(100.0), Some(5000))
    );
    assert_eq!(
        setting["unauthorizedCacheControlHeaderStrategy"],
        "SUCCEED_WITH_RESPONSE_HEADER"
    );
}

#[test]
fn calls_without_the_administrator_key_are_refused() {
    let config = control::config();
    let gw = Gateway::start(&config);
    let admin = gw.admin_addr();
    Cli::at(admin, control::ACCESS_KEY, "wrong-secret")
        .fails(&["get-rest-apis"])
        .assert(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        );
    Cli::at(admin, "AKIDSOMEONEELSE", control::SECRET_KEY)
        .fails(&["create-rest-api", "--name", "x"])
        .assert(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        );
    let unsigned = common::request(admin, "GET", "/restapis", &[], b"");
    assert_eq!(unsigned.status, 403);
    assert_eq!(
        unsigned.header("x-amzn-ErrorType"),
        Some("MissingAuthenticationTokenException")
    );
    assert_eq!(
        unsigned.body_str(),
        r#"{"message":"Missing Authentication Token"}"#
    );
    // Signed by botocore ten minutes ago: expired.
    let date = std::process::Command::new("date")
        .args(["-u", "-d", "-10 min", "+%Y%m%dT%H%M%SZ"])
        .output()
        .expect("date");
    let amz_date = String::from_utf8_lossy(&date.stdout).trim().to_string();
    let host = admin.to_string();
    let signed = common::lambda::python_json(
        "botocore_sign.py",
        &[],
        &serde_json::json!({
            "method": "GET",
            "url": format!("http://{host}/restapis"),
            "headers": {"host": host},
            "access_key": control::ACCESS_KEY,
            "secret_key": control::SECRET_KEY,
            "token": null,
            "region": "us-east-1",
            "service": "apigateway",
            "amz_date": amz_date,
        }),
    );
    let auth = text(&signed["authorization"]);
    let expired = common::request(
        admin,
        "GET",
        "/restapis",
        &[
            ("Host", &host),
            ("X-Amz-Date", &amz_date),
            ("Authorization", &auth),
        ],
        b"",
    );
    assert_eq!(expired.status, 403);
    assert_eq!(
        expired.header("x-amzn-ErrorType"),
        Some("InvalidSignatureException")
    );
    assert!(
        expired.body_str().contains("Signature expired"),
        "{}",
        expired.body_str()
    );
    // With [control] keys, the listener's other AWS operations need a signature too.
    let flush = common::request(
        admin,
        "DELETE",
        "/restapis/x/stages/prod/cache/data",
        &[],
        b"",
    );
    assert_eq!(flush.status, 403);
    assert_eq!(
        flush.header("x-amzn-ErrorType"),
        Some("MissingAuthenticationTokenException")
    );
    let report = "/usageplans/p/usage?startDate=2026-12-01&endDate=2026-12-01";
    assert_eq!(common::request(admin, "GET", report, &[], b"").status, 403);
    let invoke = "/2015-03-31/functions/f/invocations";
    assert_eq!(
        common::request(admin, "POST", invoke, &[], b"{}").status,
        403
    );
    assert_eq!(
        common::get(admin, "/ping").status,
        200,
        "health checks stay open"
    );
    // Nothing was created by the refused calls.
    let listed = Cli::new(&gw).run(&["get-rest-apis"]);
    assert_eq!(listed["items"], serde_json::json!([]));
}

#[test]
fn what_was_acknowledged_survives_kill_9() {
    let config = control::config();
    let mut gw = Gateway::start(&config);
    let cli = Cli::new(&gw);
    let (api, pets) = cli.pets_api("durable", r#"{"kept": true}"#);
    // Acknowledged, not deployed: kept too.
    let later = cli.create_resource(&api, &pets, "later");
    gw.signal(libc::SIGKILL);
    gw.wait_exit(Duration::from_secs(5));
    // The files may refer to what the control plane made: here the path-style API.
    let config = config.default_api(&api);
    let gw = Gateway::start(&config);
    assert_eq!(
        call(&gw, &api, "prod", "/pets"),
        (200, r#"{"kept": true}"#.to_string())
    );
    let path_style = common::get(gw.addr(), "/prod/pets");
    assert_eq!(path_style.body_str(), r#"{"kept": true}"#);
    let checked = common::run_check(config.path());
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let cli = Cli::new(&gw);
    let resources = cli.run(&["get-resources", "--rest-api-id", &api]);
    let ids: Vec<String> = each(&resources, "items", "id");
    assert!(ids.contains(&later), "{ids:?}");
    assert_eq!(cli.run(&["get-rest-apis"])["items"][0]["name"], "durable");
}

#[test]
fn export_writes_the_apis_as_files_that_serve_the_same() {
    let config = control::config();
    let gw = Gateway::start(&config);
    let cli = Cli::new(&gw);
    let (api, _) = cli.pets_api("exported", "from the store");
    drop(gw);
    let out = tempfile::tempdir().expect("tempdir");
    let run = std::process::Command::new(common::tollgate_bin())
        .args([
            "export",
            out.path().to_str().unwrap(),
            "--config",
            config.path().to_str().unwrap(),
        ])
        .output()
        .expect("tollgate export");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let file = out.path().join("apis").join(format!("{api}.toml"));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        file.display().to_string()
    );
    // The file alone, in a configuration without a control plane, serves the same.
    let plain = common::ConfigDir::new();
    plain.write_file(
        &format!("apis/{api}.toml"),
        &std::fs::read_to_string(&file).unwrap(),
    );
    let gw = Gateway::start(&plain);
    assert_eq!(
        call(&gw, &api, "prod", "/pets"),
        (200, "from the store".to_string())
    );
}

#[test]
fn apis_from_files_are_listed_but_only_the_file_changes_them() {
    let file_api = ApiSpec::new("fromfile")
        .stage("prod", "v1")
        .mock("v1", "GET /hi", 200, "hi");
    let config = control::config().api(&file_api);
    let gw = Gateway::start(&config);
    let cli = Cli::new(&gw);
    let listed = cli.run(&["get-rest-apis"]);
    assert_eq!(listed["items"][0]["id"], "fromfile");
    cli.fails(&[
        "create-resource",
        "--rest-api-id",
        "fromfile",
        "--parent-id",
        "x",
        "--path-part",
        "y",
    ])
    .assert(
        "BadRequestException",
        "REST API fromfile is defined in the file",
    );
    cli.fails(&["delete-rest-api", "--rest-api-id", "fromfile"])
        .assert("BadRequestException", "fromfile.toml");
    let got = cli.run(&["get-rest-api", "--rest-api-id", "fromfile"]);
    assert_eq!(got["id"], "fromfile");
    assert_eq!(
        call(&gw, "fromfile", "prod", "/hi"),
        (200, "hi".to_string())
    );
}

#[test]
fn a_change_that_does_not_compile_is_refused_and_changes_nothing() {
    let config = control::config();
    let gw = Gateway::start(&config);
    let cli = Cli::new(&gw);
    let (api, pets) = cli.pets_api("broken", "{\"ok\": 1}");
    // A template that does not parse fails the compile: the deployment is refused.
    cli.mock_response(&api, &pets, "#if($x");
    cli.fails(&[
        "create-deployment",
        "--rest-api-id",
        &api,
        "--stage-name",
        "prod",
    ])
    .assert("BadRequestException", "control-plane/restapis/");
    let listed = cli.run(&["get-deployments", "--rest-api-id", &api]);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(call(&gw, &api, "prod", "/pets").1, "{\"ok\": 1}");
}

#[test]
fn redeploying_under_load_drops_no_request() {
    let config = control::config();
    let gw = Arc::new(Gateway::start(&config));
    let cli = Cli::new(&gw);
    let (api, pets) = cli.pets_api("busy", "v0");
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (gw, stop, api) = (Arc::clone(&gw), Arc::clone(&stop), api.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                seen.push(call(&gw, &api, "prod", "/pets"));
            }
            seen
        })
    };
    for version in 1..=4 {
        cli.mock_response(&api, &pets, &format!("v{version}"));
        cli.deploy(&api, "prod");
    }
    stop.store(true, Ordering::Relaxed);
    let seen = load.join().expect("load thread");
    assert!(seen.len() > 10, "only {} requests ran", seen.len());
    for (status, body) in &seen {
        assert_eq!(*status, 200, "{body}");
        assert!(
            ["v0", "v1", "v2", "v3", "v4"].contains(&body.as_str()),
            "{body}"
        );
    }
    assert_eq!(seen.last().map(|(_, b)| b.as_str()), Some("v4"));
}
