//! Running under systemd (`Type=notify`, `packaging/tollgate.service`): the node says
//! `READY=1` once every shard serves, `RELOADING=1` then `READY=1` around a SIGHUP (also a
//! rejected one), `STOPPING=1` on SIGTERM, and pings the watchdog only while every shard's
//! event loop turns. systemd is played by a Unix datagram socket bound by the test.
//! The stuck-shard test needs the test-only `test-faults` feature (README's test command).

mod common;
use common::systemd::NotifySocket;
use common::*;
use std::time::Duration;

fn api() -> ApiSpec {
    ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "[]")
}

#[test]
fn the_node_tells_systemd_when_it_is_ready_reloading_and_stopping() {
    let mut notify = NotifySocket::bind();
    let cfg = ConfigDir::with_api(&api()).shards(2);
    let mut gw = Gateway::start_with_env(cfg.path(), &[("NOTIFY_SOCKET", notify.path())]);
    let ready = notify
        .wait_for(LOG_TIMEOUT, |m| m.contains("READY=1"))
        .unwrap_or_else(|| panic!("no READY=1; got {:?}", notify.received()));
    assert!(
        ready.contains("STATUS=serving generation 1 on 2 shards"),
        "{ready}"
    );
    get(gw.addr(), "/prod/pets").assert(200, "[]");
    // No watchdog was asked for (no WATCHDOG_USEC): no pings.
    assert!(notify.collect(Duration::from_millis(300)).is_empty());

    gw.signal(libc::SIGHUP);
    let reloading = notify
        .wait_for(LOG_TIMEOUT, |m| m.contains("RELOADING=1"))
        .expect("RELOADING=1 on SIGHUP");
    let usec = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(usec.is_some_and(|u| u > 0), "{reloading}");
    let again = notify
        .wait_for(LOG_TIMEOUT, |m| m.contains("READY=1"))
        .expect("READY=1 after the reload");
    assert!(again.contains("STATUS=serving generation 2"), "{again}");

    // A rejected reload keeps the old config, and systemd hears the node is ready again.
    cfg.write_api(
        "petstore",
        "id = \"petstore\"\n[stages.prod]\ndeployment = \"nope\"\n",
    );
    gw.signal(libc::SIGHUP);
    notify
        .wait_for(LOG_TIMEOUT, |m| m.contains("RELOADING=1"))
        .expect("RELOADING=1 on the second SIGHUP");
    let kept = notify
        .wait_for(LOG_TIMEOUT, |m| m.contains("READY=1"))
        .expect("READY=1 after a rejected reload");
    assert!(
        kept.contains("generation 2; the last reload was rejected"),
        "{kept}"
    );
    // The log says what to do, once.
    assert!(gw
        .wait_for_log(0, "and reload again", LOG_TIMEOUT)
        .is_some());
    let advice = gw.logs_text().matches("and reload again").count();
    assert_eq!(advice, 1, "{}", gw.logs_text());
    get(gw.addr(), "/prod/pets").assert(200, "[]");

    gw.terminate();
    notify
        .wait_for(LOG_TIMEOUT, |m| m.contains("STOPPING=1"))
        .expect("STOPPING=1 on SIGTERM");
    assert!(gw.wait_exit(LOG_TIMEOUT).success());
}

#[test]
fn without_notify_socket_the_node_runs_as_before() {
    let cfg = ConfigDir::with_api(&api()).shards(1);
    let gw = Gateway::start_with_env(cfg.path(), &[("WATCHDOG_USEC", "1000000")]);
    get(gw.addr(), "/prod/pets").assert(200, "[]");
    assert!(!gw.logs_text().contains("watchdog"), "{}", gw.logs_text());
}

#[cfg(feature = "test-faults")]
#[test]
fn the_watchdog_is_pinged_while_shards_turn_and_withheld_while_one_is_stuck() {
    let mut notify = NotifySocket::bind();
    let cfg = ConfigDir::with_api(&api()).shards(2);
    // WatchdogSec=1s: a check every 500 ms.
    let env = [
        ("NOTIFY_SOCKET", notify.path()),
        ("WATCHDOG_USEC", "1000000"),
    ];
    let gw = Gateway::start_with_env(cfg.path(), &env);
    notify
        .wait_for(LOG_TIMEOUT, |m| m.contains("READY=1"))
        .expect("READY=1");
    let pings = notify.collect(Duration::from_millis(1600));
    let n = pings.iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!(n >= 2, "pings in 1.6 s: {pings:?}");

    // One shard blocks for 2.5 s, as a runaway loop would.
    let addr = gw.addr();
    let blocked = std::thread::spawn(move || {
        Req::get("/prod/pets")
            .header("x-tollgate-test-block-ms", "2500")
            .send(addr)
    });
    let at = gw.log_len();
    let withheld = gw.wait_for_log(at, "withholding the watchdog ping", LOG_TIMEOUT);
    assert!(withheld.is_some(), "{}", gw.logs_text());
    // The check that withheld it came at most a second into the block (two checks 500 ms
    // apart without a beat); the next two checks fall inside the 2.5 s block too.
    // Pings sent before the stall was seen are still queued on the socket: read them first
    // (the next check is 500 ms away).
    notify.collect(Duration::from_millis(20));
    let during = notify.collect(Duration::from_millis(700));
    assert!(
        during.iter().all(|m| m != "WATCHDOG=1"),
        "pinged while a shard was stuck: {during:?}"
    );
    blocked.join().expect("blocked request").assert(200, "[]");
    // Turning again: the pings resume.
    notify
        .wait_for(Duration::from_secs(3), |m| m == "WATCHDOG=1")
        .expect("pings resume once the shard turns");
}

#[test]
fn log_format_json_writes_one_object_per_line() {
    let cfg = ConfigDir::with_api(&api())
        .shards(1)
        .server_line("log_format = \"json\"");
    let gw = Gateway::start(&cfg);
    get(gw.addr(), "/prod/pets").assert(200, "[]");
    let lines = gw.logs();
    assert!(!lines.is_empty());
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
    let ready = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("ready generation=1"))
        });
    assert_eq!(ready.expect("the ready line")["level"], "INFO");
}

#[test]
fn a_bad_log_format_is_a_config_error_with_file_line_and_field() {
    let cfg = ConfigDir::with_api(&api()).server_line("log_format = \"xml\"");
    let out = check_fails(cfg.path());
    assert!(
        out.contains("gateway.toml:")
            && out.contains("server.log_format")
            && out.contains("`xml` is not a log format"),
        "{out}"
    );
}

/// Under systemd stderr is the journal stream (`JOURNAL_STREAM` names it): lines carry their
/// syslog priority and no timestamp.
#[test]
fn journal_lines_carry_their_priority() {
    use std::os::unix::fs::MetadataExt;
    let cfg = ConfigDir::with_api(&api()).shards(1);
    let log_dir = tempfile::tempdir().expect("temp dir");
    let path = log_dir.path().join("stderr");
    let file = std::fs::File::create(&path).expect("log file");
    let meta = file.metadata().expect("stat");
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    let mut child = std::process::Command::new(tollgate_bin())
        .arg("--config")
        .arg(cfg.path())
        .env("RUST_LOG", "info")
        .env("JOURNAL_STREAM", &stream)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(file)
        .spawn()
        .expect("spawn tollgate");
    let deadline = std::time::Instant::now() + LOG_TIMEOUT;
    let text = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains("ready generation=") || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    let ready = text
        .lines()
        .find(|l| l.contains("ready generation="))
        .unwrap_or_else(|| panic!("no ready line:\n{text}"));
    assert!(ready.starts_with("<6> INFO"), "{ready}");
    assert!(!text.contains("\x1b["), "no colours in the journal: {text}");
    // Timestamps are the journal's: the line does not start with a date.
    assert!(!ready.contains("2026-") && !ready.contains("Z "), "{ready}");
}

#[test]
fn a_refused_start_says_what_to_do() {
    let cfg = ConfigDir::with_api(&api()).server_line("log_format = \"xml\"");
    let out = std::process::Command::new(tollgate_bin())
        .arg("--config")
        .arg(cfg.path())
        .output()
        .expect("run tollgate");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("server.log_format"), "{text}");
    assert_eq!(text.matches("and start again").count(), 1, "{text}");
}
