//! Per-stage access logs: `$context` formats (JSON by default) written to a file or stdout
//! by a writer thread; a full queue drops and counts instead of stalling; SIGUSR1 reopens.

mod common;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::metrics::{scrape, scrape_when};
use common::*;

/// Reads `path` until it holds at least `n` complete lines (at most [`LOG_TIMEOUT`]); returns
/// them.
fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + LOG_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        let lines: Vec<String> = complete.lines().map(str::to_string).collect();
        if lines.len() >= n || Instant::now() >= deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn log_line(destination: &Path, format: Option<&str>) -> String {
    let dest = toml_str(destination.to_str().unwrap());
    match format {
        None => format!("access_log = {{ destination = {dest} }}"),
        Some(f) => format!(
            "access_log = {{ destination = {dest}, format = {} }}",
            toml_str(f)
        ),
    }
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn json_lines_match_the_requests_sent() {
    let backend = Backend::start(|_| Reply::ok("from backend"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.log");
    let api = reported_api(&backend)
        .stage_toml("prod", &log_line(&file, None))
        .stage("dev", "v1");
    let gw = Gateway::start(&ConfigDir::with_api(&api).shards(2));

    let sent = [
        (
            Req::get("/prod/pets").header("User-Agent", "probe/1.0"),
            "GET",
            "/pets",
            200,
        ),
        (Req::get("/prod/pets/7?x=1"), "GET", "/pets/{petId}", 404),
        (
            Req::post("/prod/up/a/b", "data"),
            "POST",
            "/up/{proxy+}",
            200,
        ),
        (Req::get("/prod/nothing"), "GET", "-", 403),
    ];
    let mut expected = Vec::new();
    for (req, method, resource, status) in &sent {
        let resp = req.send(gw.addr());
        assert_eq!(resp.status, *status);
        let id = resp.header("x-amzn-requestid").unwrap().to_string();
        expected.push((id, *method, *resource, *status, resp.body.len()));
    }
    // Not logged: the dev stage has no access log, an unknown stage reaches no stage.
    get(gw.addr(), "/dev/pets").assert(200, "[]");
    get(gw.addr(), "/nostage/pets").assert_missing_auth_token();

    let lines = wait_lines(&file, expected.len());
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    for (id, method, resource, status, len) in &expected {
        let line = lines
            .iter()
            .map(|l| json(l))
            .find(|v| v["requestId"] == id.as_str())
            .unwrap_or_else(|| panic!("no line for request {id}: {lines:#?}"));
        assert_eq!(line["httpMethod"], *method, "{line}");
        assert_eq!(line["resourcePath"], *resource, "{line}");
        assert_eq!(line["status"], status.to_string(), "{line}");
        assert_eq!(line["responseLength"], len.to_string(), "{line}");
        assert_eq!(line["ip"], "127.0.0.1");
        assert_eq!(line["protocol"], "HTTP/1.1");
        let time = line["requestTime"].as_str().unwrap();
        assert!(time.ends_with(" +0000") && time.len() == 26, "{time}");
        let proxied = *resource == "/up/{proxy+}";
        let integration = line["integrationLatency"].as_str().unwrap();
        assert_eq!(integration != "-", proxied, "{line}");
        assert!(line["responseLatency"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok());
    }
}

#[test]
fn custom_formats_render_every_variable_to_stdout() {
    let format = "$context.requestId|$context.identity.sourceIp|$context.identity.userAgent|\
        $context.identity.apiKey|$context.httpMethod|$context.resourcePath|$context.path|\
        $context.status|$context.responseLength|$context.protocol|$context.stage|\
        $context.apiId|$context.domainName|$context.integrationLatency|$context.error.message|\
        $context.error.responseType";
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .stage_toml(
            "prod",
            &format!(
                "access_log = {{ destination = \"stdout\", format = {} }}",
                toml_str(format)
            ),
        )
        .mock("v1", "GET /pets/{petId}", 200, "pet");
    let gw = Gateway::start(&ConfigDir::with_api(&api));
    let from = gw.log_len();
    let resp = Req::new("GET", "/prod/pets/12?q=1")
        .header("Host", "shop.example")
        .header("User-Agent", "agent \"x\"")
        .send(gw.addr());
    resp.assert(200, "pet");
    let id = resp.header("x-amzn-requestid").unwrap();
    let (_, line) = gw
        .wait_for_log(from, id, LOG_TIMEOUT)
        .unwrap_or_else(|| panic!("no access-log line\n{}", gw.logs_text()));
    assert_eq!(
        line,
        format!(
            "{id}|127.0.0.1|agent \"x\"|-|GET|/pets/{{petId}}|/prod/pets/12|200|3|HTTP/1.1|prod|petstore|shop.example|-|-|-"
        )
    );

    // A gateway response: no resource, and the error's message and type.
    let resp = Req::new("DELETE", "/prod/pets").send(gw.addr());
    resp.assert_missing_auth_token();
    let id = resp.header("x-amzn-requestid").unwrap();
    let (_, line) = gw
        .wait_for_log(from, id, LOG_TIMEOUT)
        .unwrap_or_else(|| panic!("no access-log line\n{}", gw.logs_text()));
    let len = MISSING_AUTH_TOKEN.len();
    assert_eq!(
        line,
        format!(
            "{id}|127.0.0.1|-|-|DELETE|-|/prod/pets|403|{len}|HTTP/1.1|prod|petstore|localhost|-|Missing Authentication Token|MISSING_AUTHENTICATION_TOKEN"
        )
    );
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_stalling() {
    let dir = tempfile::tempdir().unwrap();
    let fifo: PathBuf = dir.path().join("stalled.fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .stage_toml("prod", &log_line(&fifo, Some("$context.requestId")))
        .mock("v1", "GET /pets", 200, "[]");
    let queue = 4;
    let gw = Gateway::start(
        &ConfigDir::with_api(&api)
            .shards(2)
            .server_line(&format!("access_log_queue = {queue}")),
    );

    // Nobody reads the FIFO: the writer blocks opening it with the first record, the queue
    // fills, and every further record is dropped. Requests are still answered.
    let sent = 40;
    let mut conn = Conn::connect(gw.addr());
    for _ in 0..sent {
        conn.roundtrip(&Req::get("/prod/pets")).assert(200, "[]");
    }
    let m = scrape_when(&gw, |m| m.count("tollgate_count", &[]) >= sent);
    let dropped = m.count("tollgate_access_log_dropped_total", &[]);
    // The writer took one record (or none yet) off the queue before blocking.
    assert!(
        (sent - queue - 1..=sent - queue).contains(&dropped),
        "dropped {dropped} of {sent} with a queue of {queue}\n{}",
        m.text
    );

    // Once a reader appears the writer delivers the records it accepted: all but the dropped.
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let fifo = std::io::BufReader::new(std::fs::File::open(&fifo).unwrap());
        // Ends at EOF, when the gateway (the FIFO's writer) is gone.
        for line in std::io::BufRead::lines(fifo) {
            let _ = tx.send(line.unwrap());
        }
    });
    for i in 0..sent - dropped {
        rx.recv_timeout(LOG_TIMEOUT)
            .unwrap_or_else(|_| panic!("only {i} of {} records arrived", sent - dropped));
    }
    assert_eq!(
        scrape(&gw).count("tollgate_access_log_dropped_total", &[]),
        dropped
    );
    drop(gw);
    reader.join().unwrap();
    assert!(rx.try_iter().next().is_none(), "more records than accepted");
}

#[test]
fn sigusr1_reopens_the_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.log");
    let rotated = dir.path().join("access.log.1");
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .stage_toml(
            "prod",
            &log_line(&file, Some("$context.requestId $context.status")),
        )
        .mock("v1", "GET /pets", 200, "[]");
    let gw = Gateway::start(&ConfigDir::with_api(&api));
    for _ in 0..3 {
        get(gw.addr(), "/prod/pets").assert(200, "[]");
    }
    assert_eq!(wait_lines(&file, 3).len(), 3);

    std::fs::rename(&file, &rotated).unwrap();
    let from = gw.log_len();
    gw.signal(libc::SIGUSR1);
    gw.wait_for_log(from, "access logs reopened", LOG_TIMEOUT)
        .unwrap_or_else(|| panic!("no reopen logged\n{}", gw.logs_text()));
    let resp = get(gw.addr(), "/prod/pets");
    let id = resp.header("x-amzn-requestid").unwrap();
    let fresh = wait_lines(&file, 1);
    assert_eq!(fresh, vec![format!("{id} 200")]);
    assert_eq!(wait_lines(&rotated, 3).len(), 3);
}

#[test]
fn bad_access_log_settings_are_reported_with_file_and_line() {
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .stage_toml(
            "prod",
            "access_log = { destination = \"logs/a.log\", format = \"$context.status\" }",
        )
        .stage("dev", "v1")
        .stage_toml(
            "dev",
            "access_log = { destination = \"stdout\", format = \"$context.stauts\" }",
        )
        .mock("v1", "GET /pets", 200, "[]");
    let cfg = ConfigDir::with_api(&api).server_line("access_log_queue = 0");
    let out = run_check(cfg.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stages.prod.access_log.destination: `logs/a.log` is not"),
        "{err}"
    );
    assert!(
        err.contains("stages.dev.access_log.format: unknown variable `$context.stauts`"),
        "{err}"
    );
    assert!(err.contains("gateway.toml:"), "{err}");
    assert!(
        err.contains("server.access_log_queue: must be between 1 and"),
        "{err}"
    );
    assert!(err.contains("petstore.toml:6: stages.prod"), "{err}");
    assert!(err.contains("petstore.toml:10: stages.dev"), "{err}");
}

fn request_id(resp: &Response) -> String {
    resp.header("x-amzn-requestid")
        .unwrap_or_else(|| panic!("no x-amzn-requestid: {resp:?}"))
        .to_string()
}

#[test]
fn a_reload_moves_the_log_to_its_new_destination_and_closes_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("a.log"), dir.path().join("b.log"));
    // A backend that holds its answer until the test opens the gate: a request that started
    // on the old configuration and ends on the new one.
    let gate = Gate::new();
    let backend = {
        let gate = gate.clone();
        Backend::start(move |_| {
            gate.wait(IO_TIMEOUT);
            Reply::ok("slow")
        })
    };
    let spec = |file: &Path| {
        ApiSpec::new("petstore")
            .stage("prod", "v1")
            .stage_toml("prod", &log_line(file, Some("$context.requestId")))
            .mock("v1", "GET /pets", 200, "[]")
            .proxy("v1", "GET /slow", &format!("{}/slow", backend.url()))
    };
    let cfg = ConfigDir::with_api(&spec(&first)).shards(2);
    let gw = Gateway::start(&cfg);
    let before = get(gw.addr(), "/prod/pets");
    before.assert(200, "[]");
    assert_eq!(wait_lines(&first, 1), vec![request_id(&before)]);
    assert!(gw.has_open(&first), "{:?}", gw.open_files());

    let addr = gw.addr();
    let slow = std::thread::spawn(move || get(addr, "/prod/slow"));
    assert!(
        backend.wait_requests(1, IO_TIMEOUT),
        "the slow request never left"
    );
    cfg.write_api("petstore", &spec(&second).to_string());
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });
    let after = get(gw.addr(), "/prod/pets");
    after.assert(200, "[]");
    assert_eq!(wait_lines(&second, 1), vec![request_id(&after)]);

    // The request routed before the reload is logged where the configuration it ran on
    // said, and only then is the old file closed.
    gate.open();
    let slow = slow.join().unwrap();
    slow.assert(200, "slow");
    assert_eq!(
        wait_lines(&first, 2),
        vec![request_id(&before), request_id(&slow)]
    );
    assert!(
        gw.wait_closed(&first, LOG_TIMEOUT),
        "{} still open after the reload: {:?}",
        first.display(),
        gw.open_files()
    );
    assert!(gw.has_open(&second), "{:?}", gw.open_files());
    assert_eq!(wait_lines(&second, 1), vec![request_id(&after)]);
    assert_eq!(wait_lines(&first, 2).len(), 2);
}

#[test]
fn a_reload_that_removes_the_access_log_closes_the_deleted_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.log");
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "[]");
    let logged = api
        .clone()
        .stage_toml("prod", &log_line(&file, Some("$context.requestId")));
    let cfg = ConfigDir::with_api(&logged).shards(2);
    let gw = Gateway::start(&cfg);
    let resp = get(gw.addr(), "/prod/pets");
    assert_eq!(wait_lines(&file, 1), vec![request_id(&resp)]);

    // The operator deletes the log and turns access logging off: the space on disk is
    // only freed once the gateway closes the file.
    std::fs::remove_file(&file).unwrap();
    assert!(gw.has_open(&file), "{:?}", gw.open_files());
    cfg.write_api("petstore", &api.to_string());
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });
    assert!(
        gw.wait_closed(&file, LOG_TIMEOUT),
        "the deleted log is still open: {:?}",
        gw.open_files()
    );
    get(gw.addr(), "/prod/pets").assert(200, "[]");
    assert!(
        !file.exists(),
        "no log was configured, yet the file came back"
    );
}

#[test]
fn a_reload_that_adds_an_access_log_opens_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.log");
    let api = ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "[]");
    let cfg = ConfigDir::with_api(&api).shards(2);
    let gw = Gateway::start(&cfg);
    get(gw.addr(), "/prod/pets").assert(200, "[]");

    let logged = api.stage_toml("prod", &log_line(&file, Some("$context.requestId")));
    cfg.write_api("petstore", &logged.to_string());
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });
    let resp = get(gw.addr(), "/prod/pets");
    resp.assert(200, "[]");
    assert_eq!(wait_lines(&file, 1), vec![request_id(&resp)]);
    assert!(gw.has_open(&file), "{:?}", gw.open_files());
}

#[test]
fn an_idle_keep_alive_connection_does_not_keep_the_old_file_open() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let spec = |file: &Path| {
        ApiSpec::new("petstore")
            .stage("prod", "v1")
            .stage_toml("prod", &log_line(file, Some("$context.requestId")))
            .mock("v1", "GET /pets", 200, "[]")
    };
    // One shard, and no request after the reload until the file is closed: nothing but the
    // shard itself moves it off the old configuration.
    let cfg = ConfigDir::with_api(&spec(&first)).shards(1);
    let gw = Gateway::start(&cfg);
    let mut conn = Conn::connect(gw.addr());
    let before = conn.roundtrip(&Req::get("/prod/pets"));
    before.assert(200, "[]");
    assert_eq!(wait_lines(&first, 1), vec![request_id(&before)]);

    cfg.write_api("petstore", &spec(&second).to_string());
    assert_eq!(gw.reload(), Reload::Reloaded { generation: 2 });
    assert!(
        gw.wait_closed(&first, LOG_TIMEOUT),
        "{} kept open by an idle connection: {:?}",
        first.display(),
        gw.open_files()
    );
    let after = conn.roundtrip(&Req::get("/prod/pets"));
    after.assert(200, "[]");
    assert_eq!(wait_lines(&second, 1), vec![request_id(&after)]);
    assert_eq!(wait_lines(&first, 1), vec![request_id(&before)]);
}
