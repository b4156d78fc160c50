//! Process lifecycle: graceful shutdown on SIGTERM/SIGINT (in-flight requests finish, new
//! connections are refused, exit 0 with `shutdown complete`) and the drain deadline.

mod common;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::*;

fn slow_api(backend: &Backend) -> ApiSpec {
    ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /pets", 200, "pets")
        .proxy("v1", "GET /slow", &format!("{}/slow", backend.url()))
}

/// Whether a new client can still get an answer: false if the connection is refused, reset or
/// closed without a response.
fn gateway_answers_new_connection(addr: std::net::SocketAddr) -> bool {
    let mut conn = match Conn::try_connect(addr) {
        Ok(c) => c,
        Err(e) => {
            assert_eq!(
                e.kind(),
                ErrorKind::ConnectionRefused,
                "unexpected connect error: {e}"
            );
            return false;
        }
    };
    if conn.try_write(&Req::get("/prod/pets").to_bytes()).is_err() {
        return false;
    }
    !conn.closed_within(Duration::from_secs(2)) || !conn.unread().is_empty()
}

#[test]
fn sigterm_finishes_in_flight_request_then_exits() {
    let backend =
        Backend::start(|_| Reply::ok("slow but complete").delay(Duration::from_millis(500)));
    let cfg = ConfigDir::with_api(&slow_api(&backend)).limit("drain_timeout_ms", 10_000);
    let mut gw = Gateway::start(&cfg);
    let addr = gw.addr();

    let in_flight = spawn(move || get(addr, "/prod/slow"));
    assert!(
        backend.wait_requests(1, LOG_TIMEOUT),
        "the slow request never reached the backend"
    );
    gw.terminate();

    let resp = in_flight.join().expect("in-flight client failed");
    resp.assert(200, "slow but complete");
    assert!(
        !gateway_answers_new_connection(addr),
        "a new connection was served after SIGTERM"
    );

    let status = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    assert!(
        gw.logs().iter().any(|l| l.contains("shutdown complete")),
        "no `shutdown complete` log"
    );
}

#[test]
fn sigint_shuts_down_cleanly() {
    let backend = Backend::fixed("unused");
    let cfg = ConfigDir::with_api(&slow_api(&backend));
    let mut gw = Gateway::start(&cfg);
    get(gw.addr(), "/prod/pets").assert(200, "pets");

    gw.signal(libc::SIGINT);
    let status = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    assert!(
        gw.logs().iter().any(|l| l.contains("shutdown complete")),
        "no `shutdown complete` log"
    );
}

#[test]
fn idle_keep_alive_connections_do_not_delay_shutdown() {
    let backend = Backend::fixed("unused");
    let cfg = ConfigDir::with_api(&slow_api(&backend)).limit("drain_timeout_ms", 10_000);
    let mut gw = Gateway::start(&cfg);
    let mut idle = Conn::connect(gw.addr());
    idle.roundtrip(&Req::get("/prod/pets")).assert(200, "pets");

    let started = Instant::now();
    gw.terminate();
    // An idle connection has nothing in flight: the gateway closes it instead of waiting for the
    // 10 s drain deadline (generous bound: 5 s).
    assert!(
        idle.closed_within(Duration::from_secs(5)),
        "idle keep-alive connection kept open during shutdown"
    );
    let status = gw.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "shutdown took {:?}",
        started.elapsed()
    );
}

#[test]
fn drain_timeout_bounds_shutdown() {
    let backend = Backend::start(|_| Reply::ok("never in time").delay(Duration::from_secs(20)));
    let cfg = ConfigDir::with_api(&slow_api(&backend)).limit("drain_timeout_ms", 300);
    let mut gw = Gateway::start(&cfg);
    let addr = gw.addr();

    let _in_flight = spawn(move || {
        let mut conn = Conn::connect(addr);
        conn.send(&Req::get("/prod/slow"));
        conn.closed_within(Duration::from_secs(15))
    });
    assert!(
        backend.wait_requests(1, LOG_TIMEOUT),
        "the slow request never reached the backend"
    );
    let started = Instant::now();
    gw.terminate();
    // Drain deadline 300 ms, backend answers after 20 s: the process must not wait for it.
    gw.wait_exit(Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(5));
}
