//! Configuration reload on SIGHUP: new routes appear, broken configurations are refused while
//! the old one keeps serving, reloads under load lose no request, and a stage can be rolled
//! back to an older deployment.

mod common;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

fn v1() -> ApiSpec {
    ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "pets v1")
}

/// The admin API's view of the serving generation.
fn generation(gw: &Gateway) -> u64 {
    gw.ping()["generation"]
        .as_u64()
        .expect("generation is a number")
}

#[test]
fn admin_ping_reports_status_and_generation() {
    let cfg = ConfigDir::with_api(&v1());
    let gw = Gateway::start(&cfg);
    let ping = gw.ping();
    assert_eq!(ping["status"], "ok", "{ping}");
    assert_eq!(ping["generation"], 1, "{ping}");
}

#[test]
fn reload_adds_a_route() {
    let cfg = ConfigDir::with_api(&v1());
    let gw = Gateway::start(&cfg);
    get(gw.addr(), "/prod/pets").assert(200, "pets v1");
    get(gw.addr(), "/prod/owners").assert_missing_auth_token();

    cfg.write_api(
        "petstore",
        &v1().mock("v1", "GET /owners", 200, "owners").to_string(),
    );
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });

    get(gw.addr(), "/prod/owners").assert(200, "owners");
    get(gw.addr(), "/prod/pets").assert(200, "pets v1");
    assert_eq!(generation(&gw), 2);
}

#[test]
fn an_idle_keep_alive_connection_serves_its_next_request_on_the_new_config() {
    let cfg = ConfigDir::with_api(&v1());
    let gw = Gateway::start(&cfg);
    let mut conn = Conn::connect(gw.addr());
    conn.roundtrip(&Req::get("/prod/pets"))
        .assert(200, "pets v1");

    cfg.write_api(
        "petstore",
        &v1().mock("v1", "GET /owners", 200, "owners").to_string(),
    );
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });

    // The connection was waiting for its next request when the reload landed: that request
    // is routed by the new snapshot, not the one current when the wait began.
    conn.roundtrip(&Req::get("/prod/owners"))
        .assert(200, "owners");
}

#[test]
fn reload_with_a_syntax_error_keeps_the_old_config() {
    let cfg = ConfigDir::with_api(&v1());
    let gw = Gateway::start(&cfg);

    let from = gw.log_len();
    cfg.write_api(
        "petstore",
        "id = \"petstore\"\n[stages.prod\ndeployment = \"v1\"\n",
    );
    assert_eq!(gw.reload(), Reload::Failed);
    assert!(
        gw.wait_for_log(from, "petstore.toml", LOG_TIMEOUT)
            .is_some(),
        "the reload failure does not name the broken file:\n{}",
        gw.logs_text()
    );
    get(gw.addr(), "/prod/pets").assert(200, "pets v1");
    assert_eq!(generation(&gw), 1);

    // Fixing the file makes the next reload succeed.
    cfg.write_api(
        "petstore",
        &v1().mock("v1", "GET /owners", 200, "owners").to_string(),
    );
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });
    get(gw.addr(), "/prod/owners").assert(200, "owners");
}

#[test]
fn reload_with_a_semantic_error_keeps_the_old_config() {
    let cfg = ConfigDir::with_api(&v1());
    let gw = Gateway::start(&cfg);

    // Valid TOML, but stage "prod" names a deployment that does not exist.
    let broken = ApiSpec::new("petstore")
        .stage("prod", "v9")
        .mock("v1", "GET /pets", 200, "pets v1")
        .mock("v1", "GET /owners", 200, "owners");
    cfg.write_api("petstore", &broken.to_string());
    assert_eq!(gw.reload(), Reload::Failed);

    get(gw.addr(), "/prod/pets").assert(200, "pets v1");
    get(gw.addr(), "/prod/owners").assert_missing_auth_token();
    assert_eq!(generation(&gw), 1);
}

#[test]
fn rollback_points_a_stage_at_an_older_deployment() {
    let api = |deployment: &str| {
        ApiSpec::new("petstore")
            .stage("prod", deployment)
            .mock("v1", "GET /pets", 200, "pets v1")
            .mock("v2", "GET /pets", 200, "pets v2")
            .mock("v2", "GET /pets/{petId}", 200, "one pet v2")
    };
    let cfg = ConfigDir::with_api(&api("v2"));
    let gw = Gateway::start(&cfg);
    get(gw.addr(), "/prod/pets").assert(200, "pets v2");
    get(gw.addr(), "/prod/pets/1").assert(200, "one pet v2");

    cfg.write_api("petstore", &api("v1").to_string());
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });
    get(gw.addr(), "/prod/pets").assert(200, "pets v1");
    get(gw.addr(), "/prod/pets/1").assert_missing_auth_token();
}

#[test]
fn reload_under_load_fails_no_request() {
    let backend = Backend::fixed("from backend");
    let config = |body: &str| {
        ApiSpec::new("petstore")
            .stage("prod", "v1")
            .mock("v1", "GET /pets", 200, body)
            .proxy("v1", "GET /up", &format!("{}/up", backend.url()))
    };
    let cfg = ConfigDir::with_api(&config("A"));
    let gw = Gateway::start(&cfg);
    get(gw.addr(), "/prod/pets").assert(200, "A");

    let stop = Arc::new(AtomicBool::new(false));
    let addr = gw.addr();
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let stop = Arc::clone(&stop);
            spawn(move || {
                let mut conn = Conn::connect(addr);
                let mut done = 0usize;
                let mut bad = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let proxied = (done + i).is_multiple_of(4);
                    let resp =
                        conn.roundtrip(&Req::get(if proxied { "/prod/up" } else { "/prod/pets" }));
                    let ok = resp.status == 200
                        && if proxied {
                            resp.body == b"from backend"
                        } else {
                            resp.body == b"A" || resp.body == b"B"
                        };
                    if !ok {
                        bad.push(resp);
                    }
                    done += 1;
                }
                (done, bad)
            })
        })
        .collect();

    for round in 0..5u64 {
        std::thread::sleep(Duration::from_millis(300)); // pacing the reloads, not synchronisation
        cfg.write_api(
            "petstore",
            &config(if round.is_multiple_of(2) { "B" } else { "A" }).to_string(),
        );
        assert_eq!(
            gw.reload(),
            Reload::Reloaded {
                generation: round + 2
            }
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);

    let mut total = 0;
    for c in clients {
        let (done, bad) = c
            .join()
            .expect("client thread panicked (connection error during reload?)");
        assert!(
            bad.is_empty(),
            "{} failed requests during reloads, e.g. {:?}",
            bad.len(),
            bad.first()
        );
        assert!(done > 0);
        total += done;
    }
    assert!(total >= 20, "only {total} requests completed in ~2 s");
    // Five reloads starting from A end on B.
    get(gw.addr(), "/prod/pets").assert(200, "B");
}
