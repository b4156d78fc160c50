//! Zero-downtime binary upgrades (`SIGUSR2`): the listeners pass to a new process, the old
//! one drains and exits, and no client sees a failed request; a new binary that cannot start
//! leaves the old one serving; usage and quotas continue across the hand-over.

mod common;

use std::time::Duration;

use common::clock::*;
use common::systemd::NotifySocket;
use common::traffic::*;
use common::upgrade::*;
use common::*;

/// A MOCK route, and one proxied to a backend that takes 20 ms (requests in flight while the
/// old process drains).
fn api(backend: &Backend) -> ApiSpec {
    ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "pets")
        .proxy("v1", "GET /slow", &format!("{}/slow", backend.url()))
}

/// The node's configuration for `api`. The account throttle is raised far above what the
/// load generators can send: they run unpaced, and on a fast machine outran the default
/// 10,000 req/s (burst 5,000), so requests got 429s that have nothing to do with upgrades.
fn config(api: &ApiSpec) -> ConfigDir {
    ConfigDir::with_api(api)
        .gateway_extra("\n[throttle]\nrate_limit = 10000000\nburst_limit = 5000000\n")
}

fn slow_backend() -> Backend {
    Backend::start(|_| Reply::ok("slow").delay(Duration::from_millis(20)))
}

/// Waits for the process to exit after its drain, and checks it said so.
fn assert_drained(gw: &Gateway, pid: u32) {
    assert!(
        wait_gone(pid, Duration::from_secs(20)),
        "pid {pid} did not exit after handing over\n{}",
        gw.logs_text()
    );
}

#[test]
fn three_upgrades_under_load_fail_no_request() {
    let backend = slow_backend();
    let cfg = config(&api(&backend));
    let mut gw = Gateway::start(&cfg);
    let fast = Target {
        addr: gw.addr(),
        path: "/prod/pets".into(),
        body: "pets".into(),
    };
    let slow = Target {
        path: "/prod/slow".into(),
        body: "slow".into(),
        ..fast.clone()
    };
    let load = Load::start(&fast, 4, 2, 2);
    let slow_load = Load::start(&slow, 4, 0, 1);
    assert!(
        load.wait_more(200),
        "no traffic before the upgrade\n{}",
        gw.logs_text()
    );

    let mut pid = gw.pid();
    let mut successors = Vec::new();
    for _ in 0..3 {
        let next = upgrade(&gw, pid);
        assert_ne!(next.pid, pid);
        // The new process serves while the old one drains, then the old one is gone.
        assert!(
            load.wait_more(200),
            "no traffic after the upgrade\n{}",
            gw.logs_text()
        );
        if pid == gw.pid() {
            assert_eq!(gw.wait_exit(Duration::from_secs(20)).code(), Some(0));
        } else {
            assert_drained(&gw, pid);
        }
        // The new process takes the next upgrade once it has heard the old one's end.
        let drained = successors.len() + 1;
        assert!(
            wait_for_count(&gw, "the old process has drained and exited", drained),
            "{}",
            gw.logs_text()
        );
        pid = next.pid;
        successors.push(next);
    }
    assert!(slow_load.wait_more(20));
    let fast_report = load.stop();
    let slow_report = slow_load.stop();
    for report in [&fast_report, &slow_report] {
        assert!(
            report.failures.is_empty(),
            "{} failed requests: {:?}\n{}",
            report.failures.len(),
            &report.failures[..report.failures.len().min(10)],
            gw.logs_text()
        );
    }
    assert!(fast_report.http1_keep_alive > 0 && fast_report.http1_new_connection > 0);
    assert!(fast_report.h2 > 0 && slow_report.h2 > 0 && slow_report.http1_keep_alive > 0);
    // Each old process drained and said so; the last one serves alone.
    assert!(
        wait_for_count(&gw, "shutdown complete", 3),
        "{}",
        gw.logs_text()
    );
    assert!(
        wait_for_count(&gw, "the old process has drained and exited", 3),
        "{}",
        gw.logs_text()
    );
    assert_eq!(gw.logs_text().matches("shutdown complete").count(), 3);
    assert!(successors.last().unwrap().alive());
    get(gw.addr(), "/prod/pets").assert(200, "pets");
}

#[test]
fn a_new_binary_that_exits_at_start_leaves_the_old_one_serving() {
    let backend = slow_backend();
    let cfg = config(&api(&backend));
    // The node runs from a copy of the binary, which the test then replaces as a package
    // upgrade would (a new file renamed over the old path).
    let bin_dir = tempfile::tempdir().unwrap();
    let exe = bin_dir.path().join("tollgate");
    std::fs::copy(tollgate_bin(), &exe).unwrap();
    let gw = Gateway::start_with_binary(&exe, cfg.path(), &[]);
    let broken = bin_dir.path().join("tollgate.new");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho 'new binary: cannot start' >&2\nexit 3\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&broken, &exe).unwrap();

    let target = Target {
        addr: gw.addr(),
        path: "/prod/pets".into(),
        body: "pets".into(),
    };
    let load = Load::start(&target, 2, 1, 1);
    assert!(load.wait_more(100));
    let refusal = refused_upgrade(&gw, gw.pid());
    assert!(refusal.contains("exited (exit status: 3)"), "{refusal}");
    assert!(
        refusal.contains("goes on serving generation 1"),
        "{refusal}"
    );
    gw.assert_logged("new binary: cannot start");
    assert!(
        load.wait_more(100),
        "the old process stopped serving\n{}",
        gw.logs_text()
    );

    // A configuration the new process refuses: the same, with its errors in the log.
    std::fs::copy(tollgate_bin(), &broken).unwrap();
    std::fs::rename(&broken, &exe).unwrap();
    cfg.write_api("petstore", "this is not toml");
    let refusal = refused_upgrade(&gw, gw.pid());
    assert!(refusal.contains("exited (exit status: 1)"), "{refusal}");
    gw.assert_logged("petstore.toml");
    assert!(load.wait_more(100));

    // Fixed: the same node upgrades.
    cfg.write_api("petstore", &api(&backend).to_string());
    let next = upgrade(&gw, gw.pid());
    assert!(load.wait_more(100));
    let report = load.stop();
    assert!(report.failures.is_empty(), "{:?}", &report.failures);
    assert!(next.alive());
    assert_eq!(gw.logs_text().matches("upgrade refused").count(), 2);
}

const KEY: &str = "kkkkkkkkkkkkkkkkkkkkkkkk";

#[test]
fn usage_and_quotas_continue_across_an_upgrade_without_loss_or_double_counting() {
    let cfg = ConfigDir::new().default_api("shop");
    cfg.write_api(
        "shop",
        r#"id = "shop"
[stages.prod]
deployment = "v1"

[deployments.v1.methods."GET /keyed"]
api_key_required = true
integration = { type = "MOCK", status = 200, body = "keyed" }
"#,
    );
    cfg.write_file(
        "usage_plans.toml",
        &plan_toml(
            "gold",
            "shop",
            "prod",
            r#"quota = { limit = 500, period = "DAY" }"#,
        ),
    );
    cfg.write_file("api_keys.toml", &key_toml("k", KEY, true, &["gold"]));
    let gw = start_frozen(&cfg, day_ms("2026-11-23", 100));
    let keyed_req = Req::get("/prod/keyed").header("x-api-key", KEY);
    assert_eq!(
        statuses(8, || keyed(gw.addr(), "/prod/keyed", KEY)),
        [200; 8]
    );
    // Three keep-alive connections to the old process, used once before the upgrade and once
    // while it drains: those three it counts after it has handed the store over.
    let mut kept: Vec<Conn> = (0..3).map(|_| Conn::connect(gw.addr())).collect();
    for conn in &mut kept {
        conn.roundtrip(&keyed_req).assert(200, "keyed");
    }
    let next = upgrade(&gw, gw.pid());
    // The old process answers on its connections until its shards see the drain (their next
    // housekeeping tick), then once more with `Connection: close`. Paced, so that the
    // quota is not what ends the loop.
    let mut after_release = 0;
    for conn in &mut kept {
        loop {
            std::thread::sleep(Duration::from_millis(5));
            let resp = conn.roundtrip(&keyed_req);
            resp.assert(200, "keyed");
            after_release += 1;
            if resp.connection_has("close") {
                break;
            }
        }
    }
    assert!(wait_gone(gw.pid(), Duration::from_secs(20)));
    // Its last counts reached the new process (logged once the old one closed the channel).
    assert!(wait_for_count(
        &gw,
        "the old process has drained and exited",
        1
    ));
    // 8 + 3 + what the old process counted after it released the store: the rest of the 500
    // is left for the new one, not one more or less.
    let left = 500 - 11 - after_release;
    let mut conn = Conn::connect(gw.addr());
    let after: Vec<u16> = statuses(left + 1, || conn.roundtrip(&keyed_req));
    let mut want = vec![200; left];
    want.push(429);
    assert_eq!(after, want, "{after_release} counted while draining");
    assert_limit_exceeded(&keyed(gw.addr(), "/prod/keyed", KEY));
    let report = usage_report(
        &gw,
        "gold",
        "keyId=k&startDate=2026-11-23&endDate=2026-11-23",
    );
    assert_eq!(report["values"]["k"], serde_json::json!([[500, 0]]));
    assert!(next.alive());
}

#[test]
fn systemd_hears_the_new_main_pid_from_the_old_one() {
    let backend = slow_backend();
    let cfg = config(&api(&backend));
    let mut notify = NotifySocket::bind();
    let gw = Gateway::start_with_env(cfg.path(), &[("NOTIFY_SOCKET", notify.path())]);
    assert!(notify
        .wait_for(LOG_TIMEOUT, |m| m.contains("READY=1"))
        .is_some());
    let next = upgrade(&gw, gw.pid());
    let handed = notify
        .wait_for(LOG_TIMEOUT, |m| m.contains("MAINPID="))
        .unwrap_or_else(|| panic!("no MAINPID= notification\n{}", gw.logs_text()));
    assert!(
        handed.contains(&format!("MAINPID={}\n", next.pid)),
        "{handed:?}"
    );
    assert!(handed.contains("READY=1"), "{handed:?}");
    get(gw.addr(), "/prod/pets").assert(200, "pets");
}

#[test]
fn an_idle_connection_to_the_old_process_ends_when_it_drains() {
    // The new process inherits the listeners only: a keep-alive connection of the old one that
    // sends nothing more is closed after the drain's grace, and the client sees the end.
    let backend = slow_backend();
    let cfg = config(&api(&backend));
    let gw = Gateway::start(&cfg);
    let mut idle = Conn::connect(gw.addr());
    idle.roundtrip(&Req::get("/prod/pets")).assert(200, "pets");
    let next = upgrade(&gw, gw.pid());
    assert!(
        idle.closed_within(Duration::from_secs(5)),
        "the old process's idle connection stayed open\n{}",
        gw.logs_text()
    );
    assert!(wait_gone(gw.pid(), Duration::from_secs(10)));
    get(gw.addr(), "/prod/pets").assert(200, "pets");
    assert!(next.alive());
}

#[test]
fn https_listeners_are_handed_over_too() {
    use common::tls::{client_config, https_domain, Pki, TlsConn};
    let backend = slow_backend();
    let pki = Pki::new("Test CA");
    let cfg = https_domain(
        ConfigDir::new().api(&api(&backend)),
        "shop.test",
        "shop",
        &pki.server(&["shop.test"]),
        ("/", "petstore"),
        "",
    );
    let gw = Gateway::start(&cfg);
    let tls_addr = gw.tls_addr();
    let config = client_config(&pki.ca_pem(), None, &[b"http/1.1"]);
    let req = Req::get("/pets").header("Host", "shop.test");
    let mut before = TlsConn::connect(tls_addr, "shop.test", config.clone()).unwrap();
    before.roundtrip(&req).assert(200, "pets");
    let next = upgrade(&gw, gw.pid());
    // The old process's TLS connection gets its answers until it closes with the drain.
    loop {
        let resp = before.roundtrip(&req);
        resp.assert(200, "pets");
        if resp.connection_has("close") {
            break;
        }
    }
    assert!(wait_gone(gw.pid(), Duration::from_secs(10)));
    let mut after = TlsConn::connect(tls_addr, "shop.test", config).unwrap();
    after.roundtrip(&req).assert(200, "pets");
    assert!(next.alive());
}

#[test]
fn a_second_upgrade_waits_until_the_first_old_process_has_drained() {
    let backend = Backend::start(|_| Reply::ok("slow").delay(Duration::from_millis(1500)));
    let cfg = config(&api(&backend));
    let gw = Gateway::start(&cfg);
    let addr = gw.addr();
    // A request in flight keeps the first process draining (and sending its counts).
    let in_flight = spawn(move || get(addr, "/prod/slow"));
    assert!(backend.wait_requests(1, LOG_TIMEOUT));
    let second = upgrade(&gw, gw.pid());
    let refusal = refused_upgrade(&gw, second.pid);
    assert!(refusal.contains("still draining"), "{refusal}");
    in_flight.join().unwrap().assert(200, "slow");
    assert!(wait_gone(gw.pid(), Duration::from_secs(10)));
    assert!(wait_for_count(
        &gw,
        "the old process has drained and exited",
        1
    ));
    let third = upgrade(&gw, second.pid);
    assert!(wait_gone(second.pid, Duration::from_secs(10)));
    get(gw.addr(), "/prod/pets").assert(200, "pets");
    assert!(third.alive());
}
