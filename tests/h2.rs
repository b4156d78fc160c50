//! HTTP/2 downstream: h2c with prior knowledge on the plain listener and h2 over TLS chosen
//! by ALPN carry GET and POST with bodies through the same routing and integrations as
//! HTTP/1.1 (backends still receive HTTP/1.1), many concurrent streams share one connection,
//! and limits answer as they do for HTTP/1.1.

mod common;

use std::time::Duration;

use common::h2::{connect_h2_tls, connect_h2c, request, request_with, runtime};
use common::tls::{client_config, https_domain, Pki};
use common::*;

fn api(backend: &Backend) -> ApiSpec {
    ApiSpec::new("petstore")
        .stage("prod", "v1")
        .mock("v1", "GET /hello", 200, "hello h2")
        .proxy(
            "v1",
            "ANY /echo/{id}",
            &format!("{}/svc/{{id}}", backend.url()),
        )
}

#[test]
fn h2c_carries_get_and_post_through_the_pipeline() {
    let backend = Backend::echo();
    let gw = Gateway::start(&ConfigDir::with_api(&api(&backend)));
    let addr = gw.addr();
    runtime().block_on(async move {
        let send = connect_h2c(addr).await;
        let uri = format!("http://{addr}/prod/hello");
        let resp = request(&send, "GET", &uri, b"").await;
        assert_eq!((resp.status, &resp.body[..]), (200, &b"hello h2"[..]));
        assert!(resp.headers.contains_key("x-amzn-requestid"), "{resp:?}");
        assert!(!resp.headers.contains_key("connection"), "{resp:?}");

        let uri = format!("http://{addr}/prod/echo/7?q=1");
        let resp = request(&send, "POST", &uri, b"payload over h2c").await;
        assert_eq!(resp.status, 200, "{resp:?}");
        assert_eq!(&resp.body[..], b"payload over h2c");
        assert_eq!(resp.headers["x-echo-method"], "POST");
        assert_eq!(resp.headers["x-echo-target"], "/svc/7?q=1");

        let resp = request(&send, "GET", &format!("http://{addr}/prod/nothing"), b"").await;
        assert_eq!(resp.status, 403);
        assert_eq!(resp.body, MISSING_AUTH_TOKEN.as_bytes());
    });
    let seen = backend.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("content-length"), Some("16"));
    assert_eq!(seen[0].header("x-forwarded-proto"), Some("http"));
}

#[test]
fn h2_over_tls_is_chosen_by_alpn() {
    let backend = Backend::echo();
    let pki = Pki::new("Test CA");
    let cfg = ConfigDir::with_api(&api(&backend));
    let server = pki.server(&["api.test"]);
    let cfg = https_domain(cfg, "api.test", "a", &server, ("/", "petstore"), "");
    let gw = Gateway::start(&cfg);
    let addr = gw.tls_addr();
    let config = client_config(&pki.ca_pem(), None, &[b"h2", b"http/1.1"]);
    runtime().block_on(async move {
        let (send, alpn) = connect_h2_tls(addr, "api.test", config).await;
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
        let resp = request(&send, "GET", "https://api.test/hello", b"").await;
        assert_eq!((resp.status, &resp.body[..]), (200, &b"hello h2"[..]));
        let body = vec![b'x'; 100_000];
        let resp = request(&send, "PUT", "https://api.test/echo/big", &body).await;
        assert_eq!(resp.status, 200, "{resp:?}");
        assert_eq!(resp.body.len(), body.len());
        assert_eq!(resp.headers["x-echo-method"], "PUT");
        // A body with a declared length streams with that length.
        let len = body.len().to_string();
        let headers = [("content-length", len.as_str())];
        let resp = request_with(&send, "POST", "https://api.test/echo/len", &headers, &body).await;
        assert_eq!((resp.status, resp.body.len()), (200, body.len()));
    });
    let seen = backend.requests();
    assert_eq!(seen[0].header("x-forwarded-proto"), Some("https"));
    // Over one pipe's worth and of unknown length: streamed to the backend chunked.
    assert_eq!(
        seen[0].header("transfer-encoding"),
        Some("chunked"),
        "{:?}",
        seen[0].headers
    );
    assert_eq!(seen[1].header("content-length"), Some("100000"));
}

#[test]
fn many_concurrent_streams_on_one_connection() {
    let backend = Backend::echo();
    let gw = Gateway::start(&ConfigDir::with_api(&api(&backend)));
    let addr = gw.addr();
    const STREAMS: usize = 300;
    runtime().block_on(async move {
        let send = connect_h2c(addr).await;
        // One round trip first: until the server's SETTINGS arrive a client may assume no
        // stream limit, and streams over the limit are refused (REFUSED_STREAM).
        let warmup = request(&send, "GET", &format!("http://{addr}/prod/hello"), b"").await;
        assert_eq!(warmup.status, 200);
        let mut tasks = Vec::new();
        for i in 0..STREAMS {
            let send = send.clone();
            tasks.push(tokio::spawn(async move {
                let uri = format!("http://{addr}/prod/echo/{i}");
                let body = format!("body of stream {i}");
                let resp = request(&send, "POST", &uri, body.as_bytes()).await;
                (i, resp)
            }));
        }
        for task in tasks {
            let (i, resp) = task.await.expect("stream task");
            assert_eq!(resp.status, 200, "stream {i}: {resp:?}");
            assert_eq!(resp.body, format!("body of stream {i}").into_bytes());
            assert_eq!(resp.headers["x-echo-target"], format!("/svc/{i}").as_str());
        }
    });
    assert_eq!(backend.requests().len(), STREAMS);
}

#[test]
fn a_burst_of_streams_reuses_its_backend_connections_beyond_max_idle() {
    // Many streams on one connection end together: the pool keeps their backend connections
    // for the next burst even beyond `pool_max_idle_per_backend`, instead of closing all but
    // one and reconnecting (the connect/close churn that dominated HTTP/2's CPU cost).
    const WAVE: usize = 8;
    let arrived = std::sync::Arc::new((std::sync::Mutex::new(0usize), std::sync::Condvar::new()));
    let gate = std::sync::Arc::clone(&arrived);
    // Each request is answered once its whole wave reached the backend, so every wave holds
    // WAVE backend connections at once.
    let backend = Backend::start(move |req| {
        let (count, cv) = &*gate;
        let mut n = count.lock().unwrap();
        *n += 1;
        let wave_end = n.div_ceil(WAVE) * WAVE;
        cv.notify_all();
        let _ = cv
            .wait_timeout_while(n, Duration::from_secs(10), |n| *n < wave_end)
            .unwrap();
        Reply::ok(req.target.clone())
    });
    let cfg = ConfigDir::with_api(&api(&backend)).limit("pool_max_idle_per_backend", 1);
    let gw = Gateway::start(&cfg);
    let addr = gw.addr();
    runtime().block_on(async move {
        let send = connect_h2c(addr).await;
        let warmup = request(&send, "GET", &format!("http://{addr}/prod/hello"), b"").await;
        assert_eq!(warmup.status, 200);
        for wave in 0..3 {
            let mut tasks = Vec::new();
            for i in 0..WAVE {
                let send = send.clone();
                tasks.push(tokio::spawn(async move {
                    let uri = format!("http://{addr}/prod/echo/{wave}-{i}");
                    (i, request(&send, "GET", &uri, b"").await)
                }));
            }
            for task in tasks {
                let (i, resp) = task.await.expect("stream task");
                assert_eq!(resp.status, 200, "wave {wave} stream {i}: {resp:?}");
                assert_eq!(resp.body, format!("/svc/{wave}-{i}").into_bytes());
            }
        }
    });
    assert_eq!(backend.requests().len(), 3 * WAVE);
    assert_eq!(
        backend.connections(),
        WAVE,
        "three bursts of {WAVE} streams should share {WAVE} backend connections"
    );
}

#[test]
fn oversized_h2_body_and_headers_get_413_and_431_like_http1() {
    let backend = Backend::echo();
    let cfg = ConfigDir::with_api(&api(&backend)).limit("max_body_bytes", 1000);
    let gw = Gateway::start(&cfg);
    let addr = gw.addr();
    runtime().block_on(async move {
        let send = connect_h2c(addr).await;
        let uri = format!("http://{addr}/prod/echo/1");
        let resp = request(&send, "POST", &uri, &[b'z'; 1001]).await;
        assert_eq!(resp.status, 413, "{resp:?}");
        assert_eq!(resp.body, REQUEST_TOO_LONG.as_bytes());
        // The connection still serves.
        let resp = request(&send, "POST", &uri, &[b'z'; 1000]).await;
        assert_eq!((resp.status, resp.body.len()), (200, 1000));
        // Headers are held to the same 10,240-byte limit as HTTP/1.1 (AWS's).
        let big = "v".repeat(11_000);
        let resp = request_with(&send, "GET", &uri, &[("x-big", &big)], b"").await;
        assert_eq!(resp.status, 431, "{resp:?}");
        let resp = request(&send, "GET", &format!("http://{addr}/prod/hello"), b"").await;
        assert_eq!(resp.status, 200);
    });
    assert_eq!(backend.requests().len(), 1);
}

mod conformance {
    //! Hand-made frames: what h2spec-style checks and known floods do, and that a misbehaving
    //! connection never hurts another one on the same gateway.
    use super::*;
    use common::h2::raw::*;

    fn gateway() -> (Backend, Gateway) {
        let backend = Backend::echo();
        let gw = Gateway::start(&ConfigDir::with_api(&api(&backend)).shards(1));
        (backend, gw)
    }

    /// A normal request on a fresh connection still works.
    fn still_serves(gw: &Gateway) {
        let mut ok = RawConn::open(gw.addr());
        ok.send(&frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            1,
            &get_block("gw", "/prod/hello"),
        ));
        let data = ok.read_until(|f| f.kind == DATA && f.stream == 1);
        assert_eq!(data.map(|f| f.payload), Some(b"hello h2".to_vec()));
    }

    #[test]
    fn a_response_of_known_length_ends_with_its_last_data_frame() {
        // No empty DATA frame just to carry END_STREAM: one frame less per response.
        let (_backend, gw) = gateway();
        let mut conn = RawConn::open(gw.addr());
        for stream in [1, 3] {
            conn.send(&frame(
                HEADERS,
                END_HEADERS | END_STREAM,
                stream,
                &get_block("gw", "/prod/hello"),
            ));
            // Any DATA frame: an empty one left over from stream 1 would show up here.
            let data = conn.read_until(|f| f.kind == DATA).expect("DATA frame");
            assert_eq!((data.stream, &data.payload[..]), (stream, &b"hello h2"[..]));
            assert_eq!(data.flags & END_STREAM, END_STREAM, "{data:?}");
        }
    }

    #[test]
    fn settings_advertise_the_limits_and_ping_is_answered() {
        let (_b, gw) = gateway();
        let mut conn = RawConn::open(gw.addr());
        let settings_frame = conn
            .read_until(|f| f.kind == SETTINGS && f.flags & ACK == 0)
            .expect("server SETTINGS");
        let values = settings(&settings_frame.payload);
        assert!(
            values.contains(&(0x3, 128)),
            "MAX_CONCURRENT_STREAMS: {values:?}"
        );
        assert!(
            values.contains(&(0x6, 16 * 1024)),
            "MAX_HEADER_LIST_SIZE: {values:?}"
        );
        conn.send(&frame(PING, 0, 0, b"12345678"));
        let pong = conn.read_until(|f| f.kind == PING).expect("PING ACK");
        assert_eq!(
            (pong.flags & ACK, &pong.payload[..]),
            (ACK, &b"12345678"[..])
        );
    }

    #[test]
    fn data_on_stream_zero_is_a_connection_error() {
        let (_b, gw) = gateway();
        let mut conn = RawConn::open(gw.addr());
        conn.send(&frame(DATA, 0, 0, b"nope"));
        let goaway = conn.read_until(|f| f.kind == GOAWAY).expect("GOAWAY");
        assert_eq!(goaway_code(&goaway.payload), 0x1, "PROTOCOL_ERROR");
        still_serves(&gw);
    }

    #[test]
    fn continuation_flood_is_cut_off_and_others_are_served() {
        let (_b, gw) = gateway();
        let mut conn = RawConn::open(gw.addr());
        conn.send(&frame(HEADERS, 0, 1, &get_block("gw", "/prod/hello")));
        let junk = hpack(&[("x-junk", &"j".repeat(4000))]);
        let mut sent = 0usize;
        // 4 MiB of header block, far above the 16 KiB limit, unless the server stops us first.
        while sent < 4 << 20 && conn.send(&frame(CONTINUATION, 0, 1, &junk)) {
            sent += junk.len();
        }
        let end = conn.read_until(|f| f.kind == GOAWAY || f.kind == HEADERS);
        let end = end.expect("no GOAWAY after an oversized header block");
        assert_eq!(
            (end.kind, goaway_code(&end.payload)),
            (GOAWAY, 0xb),
            "{end:?}"
        );
        still_serves(&gw);
    }

    #[test]
    fn ping_and_settings_floods_do_not_hurt_other_connections() {
        let (_b, gw) = gateway();
        let mut flood = RawConn::open(gw.addr());
        let mut burst = Vec::new();
        for i in 0..20_000u64 {
            burst.extend(frame(PING, 0, 0, &i.to_be_bytes()));
            burst.extend(frame(SETTINGS, 0, 0, &[0x0, 0x4, 0x0, 0x1, 0x0, 0x0]));
        }
        let mut reader = RawConn {
            sock: flood.sock.try_clone().expect("clone socket"),
        };
        // Write the flood and drain whatever comes back on threads of their own: the server
        // may throttle the flooding connection, which must not block this test.
        let writer = std::thread::spawn(move || flood.send(&burst));
        let drain = std::thread::spawn(move || while reader.read().is_some() {});
        still_serves(&gw);
        let _ = writer.join();
        drop(gw);
        let _ = drain.join();
    }

    #[test]
    fn idle_connections_get_goaway_then_close_even_if_the_client_never_answers() {
        let backend = Backend::echo();
        let cfg = ConfigDir::with_api(&api(&backend))
            .limit("idle_timeout_ms", 200)
            .limit("header_timeout_ms", 200);
        let gw = Gateway::start(&cfg);
        let mut conn = RawConn::open(gw.addr());
        // This client acknowledges nothing (not even the GOAWAY's PING).
        let goaway = conn
            .read_until(|f| f.kind == GOAWAY)
            .expect("GOAWAY when idle");
        assert_eq!(goaway_code(&goaway.payload), 0, "NO_ERROR");
        assert!(conn.closed_by_server(), "the connection stays open");
    }

    #[test]
    fn rapid_reset_flood_does_not_hurt_other_connections() {
        let (backend, gw) = gateway();
        let mut conn = RawConn::open(gw.addr());
        let mut burst = Vec::new();
        for i in 0..2000u32 {
            let id = 2 * i + 1;
            let block = get_block("gw", "/prod/echo/x");
            burst.extend(frame(HEADERS, END_HEADERS | END_STREAM, id, &block));
            burst.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes()));
        }
        conn.send(&burst);
        let goaway = conn.read_until(|f| f.kind == GOAWAY).expect("GOAWAY");
        assert_eq!(
            goaway_code(&goaway.payload),
            0xb,
            "ENHANCE_YOUR_CALM: {goaway:?}"
        );
        still_serves(&gw);
        assert!(
            backend.requests().len() < 2000,
            "every reset stream reached the backend"
        );
    }
}

#[test]
fn large_proxied_responses_stream_within_the_clients_window() {
    // 3 MiB: far more than one stream window (256 KiB) and than the gateway's relay buffer
    // (64 KiB), on two concurrent streams; every byte must arrive in order.
    let big: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let body = big.clone();
    let backend = Backend::start(move |_| Reply::ok(body.clone()));
    let api = ApiSpec::new("petstore").stage("prod", "v1").proxy(
        "v1",
        "GET /big",
        &format!("{}/big", backend.url()),
    );
    let gw = Gateway::start(&ConfigDir::with_api(&api));
    let addr = gw.addr();
    runtime().block_on(async move {
        let send = connect_h2c(addr).await;
        let uri = format!("http://{addr}/prod/big");
        let (a, b) = tokio::join!(
            request(&send, "GET", &uri, b""),
            request(&send, "GET", &uri, b"")
        );
        for resp in [a, b] {
            assert_eq!(resp.status, 200);
            assert!(resp.body == big, "body differs (len {})", resp.body.len());
        }
    });
}

#[test]
fn many_large_responses_interleave_intact_on_one_connection() {
    // Frames of many streams gather behind the socket write in flight and go out together:
    // each stream's bytes must still arrive complete and in order, over h2c and over TLS.
    const STREAMS: usize = 24;
    let backend = Backend::start(|req| {
        let i: usize = req
            .target
            .rsplit('/')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Reply::ok(stream_body(i))
    });
    let pki = Pki::new("Test CA");
    let api = ApiSpec::new("petstore").stage("prod", "v1").proxy(
        "v1",
        "GET /big/{i}",
        &format!("{}/big/{{i}}", backend.url()),
    );
    let cfg = ConfigDir::with_api(&api);
    let server = pki.server(&["api.test"]);
    let cfg = https_domain(cfg, "api.test", "a", &server, ("/", "petstore"), "");
    let gw = Gateway::start(&cfg);
    let (addr, tls_addr) = (gw.addr(), gw.tls_addr());
    let config = client_config(&pki.ca_pem(), None, &[b"h2"]);
    runtime().block_on(async move {
        let h2c = connect_h2c(addr).await;
        let (h2, _) = connect_h2_tls(tls_addr, "api.test", config).await;
        for (send, base) in [
            (h2c, format!("http://{addr}/prod/big")),
            (h2, "https://api.test/big".to_string()),
        ] {
            let warmup = request(&send, "GET", &format!("{base}/0"), b"").await;
            assert_eq!(warmup.body, stream_body(0));
            let mut tasks = Vec::new();
            for i in 0..STREAMS {
                let (send, uri) = (send.clone(), format!("{base}/{i}"));
                tasks.push(tokio::spawn(async move {
                    (i, request(&send, "GET", &uri, b"").await)
                }));
            }
            for task in tasks {
                let (i, resp) = task.await.expect("stream task");
                assert_eq!(resp.status, 200, "{base} stream {i}");
                assert!(
                    resp.body == stream_body(i),
                    "{base} stream {i}: body differs (len {})",
                    resp.body.len()
                );
            }
        }
    });
}

/// A body of its own for stream `i`: its length and every byte depend on `i`.
fn stream_body(i: usize) -> Vec<u8> {
    (0..40_000 + i * 7_919)
        .map(|b| ((b * 31 + i * 17) % 251) as u8)
        .collect()
}

#[test]
fn sigterm_lets_an_in_flight_h2_stream_finish() {
    let backend =
        Backend::start(|_| Reply::ok("slow but complete").delay(Duration::from_millis(300)));
    let api = ApiSpec::new("petstore").stage("prod", "v1").proxy(
        "v1",
        "GET /slow",
        &format!("{}/slow", backend.url()),
    );
    let mut gw = Gateway::start(&ConfigDir::with_api(&api));
    let addr = gw.addr();
    let resp = runtime().block_on(async {
        let send = connect_h2c(addr).await;
        let uri = format!("http://{addr}/prod/slow");
        let in_flight = tokio::spawn(async move { request(&send, "GET", &uri, b"").await });
        let reached = tokio::time::timeout(LOG_TIMEOUT, async {
            while backend.requests().is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        reached
            .await
            .expect("the request never reached the backend");
        gw.terminate();
        in_flight.await.expect("request task")
    });
    assert_eq!(
        (resp.status, &resp.body[..]),
        (200, &b"slow but complete"[..])
    );
    let status = gw.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
}

#[test]
fn idle_h2_connections_get_goaway_and_do_not_delay_shutdown() {
    let backend = Backend::echo();
    let cfg = ConfigDir::with_api(&api(&backend)).limit("drain_timeout_ms", 10_000);
    let mut gw = Gateway::start(&cfg);
    let addr = gw.addr();
    let status = runtime().block_on(async move {
        let send = connect_h2c(addr).await;
        let resp = request(&send, "GET", &format!("http://{addr}/prod/hello"), b"").await;
        assert_eq!(resp.status, 200);
        gw.terminate();
        // Wait on another thread so this one keeps the client's connection answering the
        // gateway's GOAWAY and PING.
        let exit = tokio::task::spawn_blocking(move || gw.wait_exit(Duration::from_secs(5)));
        exit.await.expect("wait thread")
    });
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
}

/// The stream is served natively in both directions: a body without `content-length` longer
/// than the request buffer streams to the backend as chunked (a short one gets a
/// `Content-Length`, see the first test), and a chunked backend response reaches the client as
/// DATA frames ending the stream, without HTTP/1.1 framing fields.
#[test]
fn unannounced_bodies_and_chunked_responses_stream_natively() {
    let backend = Backend::start(|req| {
        Reply::ok(Vec::new())
            .chunked(vec![
                b"got ".to_vec(),
                req.body.len().to_string().into_bytes(),
            ])
            .header("x-te", req.header("transfer-encoding").unwrap_or("-"))
            .header("x-cl", req.header("content-length").unwrap_or("-"))
    });
    let cfg = ConfigDir::with_api(&api(&backend)).limit("request_buffer_bytes", 1000);
    let gw = Gateway::start(&cfg);
    let addr = gw.addr();
    runtime().block_on(async move {
        let send = connect_h2c(addr).await;
        let uri = format!("http://{addr}/prod/echo/1");
        let resp = request(&send, "POST", &uri, &[b'q'; 5000]).await;
        assert_eq!(resp.status, 200, "{resp:?}");
        assert_eq!(resp.body, b"got 5000");
        assert_eq!(resp.headers["x-te"], "chunked");
        assert_eq!(resp.headers["x-cl"], "-");
        assert!(resp.headers.get("transfer-encoding").is_none(), "{resp:?}");
        assert!(resp.headers.get("content-length").is_none(), "{resp:?}");
        let resp = request(&send, "POST", &uri, &[b'q'; 500]).await;
        assert_eq!(resp.body, b"got 500");
        assert_eq!(resp.headers["x-te"], "-");
        assert_eq!(resp.headers["x-cl"], "500");
    });
}
