//! Idle connections give their buffers back (issue 19): a keep-alive connection quiet for a
//! few housekeeping ticks returns its receive, response and header buffers to its shard's pool
//! and waits for readiness only (`tollgate_parked_connections` counts them), then takes buffers
//! again when its next request arrives. Each test runs on the io_uring driver and on the epoll
//! fallback (`TOLLGATE_IO_DRIVER=epoll`): plain keep-alive, pipelined requests, TLS, h2, and
//! 10,000 connections sending at once, parking together and waking together.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::h2::{connect_h2c, request, runtime};
use common::metrics::{scrape, scrape_when};
use common::tls::{client_config, https_domain, Pki, TlsConn};
use common::*;

/// The drivers every test runs on.
const DRIVERS: [&str; 2] = ["io_uring", "epoll"];

fn api() -> ApiSpec {
    ApiSpec::new("idle")
        .stage("prod", "v1")
        .mock("v1", "GET /a", 200, "first")
        .mock("v1", "GET /b", 200, "second")
}

/// Starts the gateway on `cfg` with the I/O `driver`, and checks that it says which.
fn start(cfg: &ConfigDir, driver: &str) -> Gateway {
    let gw = Gateway::start_with_env(cfg.path(), &[("TOLLGATE_IO_DRIVER", driver)]);
    let expected = if driver == "epoll" {
        "driver=epoll"
    } else {
        "driver=io_uring"
    };
    gw.assert_logged(expected);
    gw
}

/// Waits until `n` connections are parked; panics with what the gauge said otherwise.
fn wait_parked(gw: &Gateway, n: u64) {
    let m = scrape_when(gw, |m| m.count("tollgate_parked_connections", &[]) == n);
    let got = m.count("tollgate_parked_connections", &[]);
    assert_eq!(got, n, "parked connections; logs:\n{}", gw.logs_text());
}

#[test]
fn a_keep_alive_connection_serves_after_parking_alone_and_pipelined() {
    for driver in DRIVERS {
        let gw = start(&ConfigDir::with_api(&api()), driver);
        let mut conn = Conn::connect(gw.addr());
        conn.roundtrip(&Req::get("/prod/a")).assert(200, "first");
        wait_parked(&gw, 1);

        conn.roundtrip(&Req::get("/prod/b")).assert(200, "second");
        wait_parked(&gw, 1);

        // Two requests in one write wake the parked connection; both are answered, in order.
        let mut both = Req::get("/prod/a").to_bytes();
        both.extend_from_slice(&Req::get("/prod/b").to_bytes());
        conn.write(&both);
        conn.read_response().assert(200, "first");
        conn.read_response().assert(200, "second");
        wait_parked(&gw, 1);
        drop(conn);
        wait_parked(&gw, 0);
    }
}

#[test]
fn a_request_arriving_in_pieces_on_a_parked_connection_is_served() {
    for driver in DRIVERS {
        let gw = start(&ConfigDir::with_api(&api()), driver);
        let mut conn = Conn::connect(gw.addr());
        conn.roundtrip(&Req::get("/prod/a")).assert(200, "first");
        wait_parked(&gw, 1);
        let bytes = Req::get("/prod/b").to_bytes();
        let (head, rest) = bytes.split_at(7);
        conn.write(head);
        std::thread::sleep(Duration::from_millis(300));
        conn.write(rest);
        conn.read_response().assert(200, "second");
    }
}

#[test]
fn a_parked_connection_still_closes_at_its_idle_timeout() {
    for driver in DRIVERS {
        let cfg = ConfigDir::with_api(&api()).limit("idle_timeout_ms", 600);
        let gw = start(&cfg, driver);
        let mut conn = Conn::connect(gw.addr());
        conn.roundtrip(&Req::get("/prod/a")).assert(200, "first");
        let started = std::time::Instant::now();
        wait_parked(&gw, 1);
        conn.assert_closed();
        let waited = started.elapsed();
        // The deadline is kept to the housekeeping tick (50 ms) and never early.
        assert!(
            waited >= Duration::from_millis(550),
            "closed after {waited:?}, before the 600 ms idle timeout"
        );
        wait_parked(&gw, 0);
    }
}

#[test]
fn a_drain_answers_a_last_request_on_a_parked_connection_and_closes_the_others_after_the_grace() {
    for driver in DRIVERS {
        // A drain timeout far above the 1 s grace: the exit time tells which one ended it.
        let cfg = ConfigDir::with_api(&api()).limit("drain_timeout_ms", 20_000);
        let mut gw = start(&cfg, driver);
        let mut quiet = Conn::connect(gw.addr());
        let mut last = Conn::connect(gw.addr());
        quiet.roundtrip(&Req::get("/prod/a")).assert(200, "first");
        last.roundtrip(&Req::get("/prod/a")).assert(200, "first");
        wait_parked(&gw, 2);
        let began = std::time::Instant::now();
        gw.signal(libc::SIGTERM);
        assert!(gw.wait_for_log(0, "stopping", LOG_TIMEOUT).is_some());
        // Each shard begins its drain on its next housekeeping tick (50 ms).
        std::thread::sleep(Duration::from_millis(200));
        let resp = last.roundtrip(&Req::get("/prod/b"));
        resp.assert(200, "second");
        assert_eq!(resp.header("connection"), Some("close"), "{resp:?}");
        last.assert_closed();
        quiet.assert_closed();
        assert!(gw.wait_exit(Duration::from_secs(10)).success());
        let took = began.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "{driver}: the drain took {took:?}: parked connections waited for the drain timeout"
        );
    }
}

#[test]
fn a_drain_right_after_traffic_closes_every_connection_within_the_grace() {
    for driver in DRIVERS {
        let cfg = ConfigDir::with_api(&api()).limit("drain_timeout_ms", 20_000);
        let mut gw = start(&cfg, driver);
        // Last requests spread over the 300 ms before the signal, one every 5 ms: whatever
        // tick the shard sees the shutdown in, some connections are due to park in it.
        let mut conns: Vec<Conn> = (0..60).map(|_| Conn::connect(gw.addr())).collect();
        for c in &mut conns {
            c.roundtrip(&Req::get("/prod/a")).assert(200, "first");
            std::thread::sleep(Duration::from_millis(5));
        }
        let began = std::time::Instant::now();
        gw.signal(libc::SIGTERM);
        for c in &mut conns {
            c.assert_closed();
        }
        assert!(gw.wait_exit(Duration::from_secs(30)).success());
        let took = began.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "{driver}: the drain took {took:?}, as if a waiting connection had been missed"
        );
    }
}

#[test]
fn a_tls_connection_serves_after_parking() {
    for driver in DRIVERS {
        let pki = Pki::new("Test CA");
        let server = pki.server(&["api.test"]);
        let cfg = https_domain(
            ConfigDir::with_api(&api()),
            "api.test",
            "a",
            &server,
            ("/", "idle"),
            "",
        );
        let gw = start(&cfg, driver);
        let trust = client_config(&pki.ca_pem(), None, &[b"http/1.1"]);
        let mut conn = TlsConn::connect(gw.tls_addr(), "api.test", trust).expect("handshake");
        let req = |path: &str| Req::get(path).header("Host", "api.test");
        conn.roundtrip(&req("/a")).assert(200, "first");
        wait_parked(&gw, 1);
        conn.roundtrip(&req("/b")).assert(200, "second");
        wait_parked(&gw, 1);
        conn.roundtrip(&req("/a")).assert(200, "first");
    }
}

/// HTTP/2 connections do not park (the `h2` crate owns their buffers); one that idled past
/// the parking delay still serves.
#[test]
fn an_h2_connection_serves_after_idling() {
    for driver in DRIVERS {
        let gw = start(&ConfigDir::with_api(&api()), driver);
        let addr = gw.addr();
        runtime().block_on(async move {
            let send = connect_h2c(addr).await;
            let resp = request(&send, "GET", &format!("http://{addr}/prod/a"), b"").await;
            assert_eq!((resp.status, &resp.body[..]), (200, &b"first"[..]));
            // Longer than a plain connection takes to park.
            tokio::time::sleep(Duration::from_millis(400)).await;
            let resp = request(&send, "GET", &format!("http://{addr}/prod/b"), b"").await;
            assert_eq!((resp.status, &resp.body[..]), (200, &b"second"[..]));
        });
    }
}

/// Raises this process's soft descriptor limit to its hard limit (the gateway, started
/// afterwards, inherits it) and returns it.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_cur
}

/// Reads one `200 ok`-sized response from a raw socket: until the body `expected` is in.
fn read_reply(stream: &mut TcpStream, expected: &str) -> String {
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    while !(got.starts_with(b"HTTP/1.1 ") && got.ends_with(expected.as_bytes())) {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn ten_thousand_connections_sending_at_once_park_together_and_wake_together() {
    const N: usize = 10_000;
    let limit = raise_fd_limit();
    assert!(
        limit as usize > N + 1000,
        "RLIMIT_NOFILE hard limit {limit}: this test needs more than {} descriptors",
        N + 1000
    );
    for driver in DRIVERS {
        // Opening 10,000 connections one after the other takes longer than the default
        // header timeout the first of them would otherwise be closed by.
        // The account's default burst (5,000) would refuse half of each round with 429.
        let cfg = ConfigDir::with_api(&api())
            .shards(2)
            .limit("header_timeout_ms", 120_000)
            .gateway_extra("[throttle]\nrate_limit = 1000000\nburst_limit = 1000000\n");
        let gw = start(&cfg, driver);
        let mut conns: Vec<TcpStream> = (0..N)
            .map(|i| {
                let s =
                    TcpStream::connect(gw.addr()).unwrap_or_else(|e| panic!("connect {i}: {e}"));
                s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
                s.set_nodelay(true).expect("nodelay");
                // Closed with a reset at the end: 10,000 TIME-WAIT sockets would take the
                // ephemeral ports other tests need.
                socket2::SockRef::from(&s)
                    .set_linger(Some(Duration::ZERO))
                    .expect("linger");
                s
            })
            .collect();
        for round in ["/prod/a", "/prod/b"] {
            let req = Req::get(round).to_bytes();
            for s in &mut conns {
                s.write_all(&req).expect("write");
            }
            let expected = if round == "/prod/a" {
                "first"
            } else {
                "second"
            };
            let replies: Vec<String> = conns.iter_mut().map(|s| read_reply(s, expected)).collect();
            let failed: Vec<&String> = replies
                .iter()
                .filter(|r| !(r.starts_with("HTTP/1.1 200") && r.ends_with(expected)))
                .collect();
            assert!(
                failed.is_empty(),
                "{driver}: {} of {N} requests failed, the first with {:?}",
                failed.len(),
                failed[0]
            );
            wait_parked(&gw, N as u64);
        }
        let open = scrape(&gw).count("tollgate_open_connections", &[]);
        assert_eq!(open, N as u64);
        drop(conns);
        wait_parked(&gw, 0);
    }
}
