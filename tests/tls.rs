//! HTTPS at the edge, through real handshakes with certificates generated at test time: SNI
//! picks each domain's certificate (wildcards too), base path mappings route, unknown names
//! get the default certificate or are refused, mutual TLS accepts only clients signed by the
//! domain's truststore, SIGHUP swaps certificates without dropping open connections, and bad
//! certificate files are configuration errors naming the file.

mod common;

use common::tls::{
    client_config, domain_toml, https_domain, insecure_config, tls12_only_config, write_cert,
    Issued, Pki, TlsBackend, TlsConn,
};
use common::*;

const TLS_LISTEN: &str = "\n[tls]\nlisten = [\"127.0.0.1:0\"]\n";

fn mock_api(id: &str, routes: &[(&str, &str)]) -> ApiSpec {
    let mut api = ApiSpec::new(id).stage("prod", "v1");
    for (route, body) in routes {
        api = api.mock("v1", route, 200, body);
    }
    api
}

fn get_host(path: &str, host: &str) -> Req {
    Req::get(path).header("Host", host)
}

/// Three domains (two names and a wildcard), each mapped at `/` to its own API; `options` are
/// extra `[tls]` lines.
fn three_domains(pki: &Pki, options: &str) -> (ConfigDir, [Issued; 3]) {
    let certs = [
        pki.server(&["a.test"]),
        pki.server(&["b.test"]),
        pki.server(&["*.wild.test"]),
    ];
    let cfg = ConfigDir::new()
        .api(&mock_api("apia", &[("GET /", "api a")]))
        .api(&mock_api("apib", &[("GET /", "api b")]))
        .api(&mock_api("apiw", &[("GET /", "api wild")]));
    for (file, cert) in ["a", "b", "w"].iter().zip(&certs) {
        write_cert(&cfg, file, cert);
    }
    let map = |api: &str| {
        format!("mappings = [{{ base_path = \"/\", api = \"{api}\", stage = \"prod\" }}]")
    };
    let extra = format!(
        "{TLS_LISTEN}{options}\n{}{}{}",
        domain_toml("a.test", "a", &map("apia")),
        domain_toml("b.test", "b", &map("apib")),
        domain_toml("*.wild.test", "w", &map("apiw")),
    );
    (cfg.gateway_extra(&extra), certs)
}

#[test]
fn sni_picks_each_domains_certificate_and_the_host_its_api() {
    let pki = Pki::new("Test CA");
    let (cfg, certs) = three_domains(&pki, "");
    let gw = Gateway::start(&cfg);
    let trust = client_config(&pki.ca_pem(), None, &[b"http/1.1"]);
    for (name, cert, body) in [
        ("a.test", &certs[0], "api a"),
        ("b.test", &certs[1], "api b"),
        ("x.wild.test", &certs[2], "api wild"),
    ] {
        let mut conn = TlsConn::connect(gw.tls_addr(), name, trust.clone())
            .unwrap_or_else(|e| panic!("handshake for {name}: {e}\n{}", gw.logs_text()));
        assert!(
            conn.peer_cert() == cert.cert_der,
            "wrong certificate for {name}"
        );
        assert_eq!(conn.alpn().as_deref(), Some(&b"http/1.1"[..]));
        conn.roundtrip(&get_host("/", name)).assert(200, body);
        // Keep-alive: a second request on the same session.
        conn.roundtrip(&get_host("/", name)).assert(200, body);
    }
}

#[test]
fn base_path_mappings_select_api_and_stage() {
    let pki = Pki::new("Test CA");
    let cert = pki.server(&["api.test"]);
    let cfg = ConfigDir::new()
        .api(&mock_api("root", &[("GET /pets", "root pets")]))
        .api(&mock_api(
            "one",
            &[("GET /pets", "one pets"), ("GET /", "one root")],
        ));
    write_cert(&cfg, "api", &cert);
    let mappings = "mappings = [\n  { base_path = \"/\", api = \"root\", stage = \"prod\" },\n  { base_path = \"v1\", api = \"one\", stage = \"prod\" },\n]";
    let cfg = cfg.gateway_extra(&format!(
        "{TLS_LISTEN}{}",
        domain_toml("api.test", "api", mappings)
    ));
    let gw = Gateway::start(&cfg);
    let trust = client_config(&pki.ca_pem(), None, &[]);
    let mut conn = TlsConn::connect(gw.tls_addr(), "api.test", trust).expect("handshake");
    conn.roundtrip(&get_host("/v1/pets", "api.test"))
        .assert(200, "one pets");
    conn.roundtrip(&get_host("/v1", "api.test"))
        .assert(200, "one root");
    conn.roundtrip(&get_host("/pets", "api.test"))
        .assert(200, "root pets");
    conn.roundtrip(&get_host("/v1/owners", "api.test"))
        .assert_missing_auth_token();
    // The stage is not part of the URL on a custom domain.
    conn.roundtrip(&get_host("/prod/pets", "api.test"))
        .assert_missing_auth_token();
    // The Host header routes on plain listeners too; other hosts keep path-style routing.
    get_host("/v1/pets", "api.test:80")
        .send(gw.addr())
        .assert(200, "one pets");
    get_host("/prod/pets", "other.test")
        .send(gw.addr())
        .assert(200, "root pets");
}

#[test]
fn unknown_server_name_gets_the_default_certificate() {
    let pki = Pki::new("Test CA");
    let (cfg, certs) = three_domains(&pki, "default_domain = \"b.test\"");
    let gw = Gateway::start(&cfg);
    let conn = TlsConn::connect(gw.tls_addr(), "unknown.test", insecure_config())
        .unwrap_or_else(|e| panic!("handshake: {e}\n{}", gw.logs_text()));
    assert!(
        conn.peer_cert() == certs[1].cert_der,
        "not the default certificate"
    );
}

#[test]
fn unknown_server_name_is_refused_when_configured() {
    let pki = Pki::new("Test CA");
    let (cfg, certs) = three_domains(&pki, "unknown_sni = \"refuse\"");
    let gw = Gateway::start(&cfg);
    let refused = TlsConn::connect(gw.tls_addr(), "unknown.test", insecure_config());
    assert!(refused.is_err(), "handshake for an unknown name succeeded");
    let known = TlsConn::connect(gw.tls_addr(), "a.test", insecure_config()).expect("a.test");
    assert!(known.peer_cert() == certs[0].cert_der);
}

/// A domain requiring client certificates signed by `client_ca`.
fn mtls_gateway(server_ca: &Pki, client_ca: &Pki) -> (ConfigDir, Gateway) {
    let cfg = ConfigDir::new().api(&mock_api("secure", &[("GET /", "secret")]));
    let cfg = secure_domain(cfg, server_ca, client_ca);
    let gw = Gateway::start(&cfg);
    (cfg, gw)
}

/// `secure.test`, mapped to API `secure`, requiring client certificates from `client_ca`.
fn secure_domain(cfg: ConfigDir, server_ca: &Pki, client_ca: &Pki) -> ConfigDir {
    cfg.write_file("certs/clients.pem", &client_ca.ca_pem());
    let server = server_ca.server(&["secure.test"]);
    let truststore = "truststore = \"certs/clients.pem\"";
    https_domain(
        cfg,
        "secure.test",
        "s",
        &server,
        ("/", "secure"),
        truststore,
    )
}

#[test]
fn mutual_tls_accepts_a_client_signed_by_the_truststore() {
    let (server_ca, client_ca) = (Pki::new("Server CA"), Pki::new("Client CA"));
    let (_cfg, gw) = mtls_gateway(&server_ca, &client_ca);
    let client = client_ca.client("client-1");
    let config = client_config(&server_ca.ca_pem(), Some(&client), &[]);
    let mut conn = TlsConn::connect(gw.tls_addr(), "secure.test", config).expect("handshake");
    conn.roundtrip(&get_host("/", "secure.test"))
        .assert(200, "secret");
}

#[test]
fn mutual_tls_refuses_clients_without_a_certificate_or_with_a_foreign_one() {
    let (server_ca, client_ca, other_ca) = (
        Pki::new("Server CA"),
        Pki::new("Client CA"),
        Pki::new("Other CA"),
    );
    let (_cfg, gw) = mtls_gateway(&server_ca, &client_ca);
    let none = client_config(&server_ca.ca_pem(), None, &[]);
    let foreign = other_ca.client("intruder");
    let bad = client_config(&server_ca.ca_pem(), Some(&foreign), &[]);
    for (what, config) in [("no certificate", none), ("foreign certificate", bad)] {
        // With TLS 1.3 the client finishes its side first; the refusal arrives as an alert
        // instead of the response.
        let outcome = TlsConn::connect(gw.tls_addr(), "secure.test", config)
            .and_then(|mut c| c.try_roundtrip(&get_host("/", "secure.test")));
        assert!(outcome.is_err(), "{what}: got {outcome:?}");
    }
}

#[test]
fn the_verified_client_certificate_is_in_the_access_log() {
    let (server_ca, client_ca) = (Pki::new("Server CA"), Pki::new("Client CA"));
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("access.log");
    let format = r#"{"subject":"$context.identity.clientCert.subjectDN","issuer":"$context.identity.clientCert.issuerDN","serial":"$context.identity.clientCert.serialNumber","from":"$context.identity.clientCert.validity.notBefore","until":"$context.identity.clientCert.validity.notAfter","pem":"$context.identity.clientCert.clientCertPem"}"#;
    let access_log = format!(
        "access_log = {{ destination = {}, format = {} }}",
        toml_str(log.to_str().expect("utf-8 temp path")),
        toml_str(format)
    );
    let api = mock_api("secure", &[("GET /", "secret")]).stage_toml("prod", &access_log);
    let cfg = secure_domain(ConfigDir::new().api(&api), &server_ca, &client_ca);
    let gw = Gateway::start(&cfg);
    let client = client_ca.client("client-1");
    let config = client_config(&server_ca.ca_pem(), Some(&client), &[]);
    let mut conn = TlsConn::connect(gw.tls_addr(), "secure.test", config).expect("handshake");
    conn.roundtrip(&get_host("/", "secure.test"))
        .assert(200, "secret");

    let deadline = std::time::Instant::now() + LOG_TIMEOUT;
    let line = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().next().filter(|_| text.ends_with('\n')) {
            break line.to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no access log line");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
    // The certificate's RDN order, as API Gateway shows it; rcgen's default validity.
    assert_eq!(v["subject"], "O=Tollgate Tests,CN=client-1", "{line}");
    assert_eq!(v["issuer"], "CN=Client CA", "{line}");
    assert_eq!(v["from"], "Jan  1 00:00:00 1975 GMT", "{line}");
    assert_eq!(v["until"], "Jan  1 00:00:00 4096 GMT", "{line}");
    let serial = v["serial"].as_str().unwrap_or_default();
    assert!(
        !serial.is_empty() && serial != "-",
        "no serial number: {line}"
    );
    assert_eq!(v["pem"].as_str(), Some(client.cert_pem.as_str()), "{line}");
}

#[test]
fn sighup_swaps_the_certificate_and_keeps_open_connections() {
    let pki = Pki::new("Test CA");
    let (old, new) = (pki.server(&["a.test"]), pki.server(&["a.test"]));
    let cfg = ConfigDir::new().api(&mock_api("apia", &[("GET /", "api a")]));
    let cfg = https_domain(cfg, "a.test", "a", &old, ("/", "apia"), "");
    let gw = Gateway::start(&cfg);
    let trust = client_config(&pki.ca_pem(), None, &[]);
    let mut open = TlsConn::connect(gw.tls_addr(), "a.test", trust.clone()).expect("handshake");
    assert!(open.peer_cert() == old.cert_der);
    open.roundtrip(&get_host("/", "a.test"))
        .assert(200, "api a");

    write_cert(&cfg, "a", &new);
    assert!(
        matches!(gw.reload(), Reload::Reloaded { .. }),
        "{}",
        gw.logs_text()
    );

    // A new client (no session to resume, which would skip the certificate).
    let trust = client_config(&pki.ca_pem(), None, &[]);
    let fresh = TlsConn::connect(gw.tls_addr(), "a.test", trust).expect("handshake after reload");
    assert!(
        fresh.peer_cert() == new.cert_der,
        "reload did not swap the certificate"
    );
    open.roundtrip(&get_host("/", "a.test"))
        .assert(200, "api a");

    // A key that does not fit is refused by the reload; the last good certificate stays.
    cfg.write_file("certs/a.key", &old.key_pem);
    assert!(matches!(gw.reload(), Reload::Failed), "{}", gw.logs_text());
    gw.assert_logged("certs/a.key");
    let trust = client_config(&pki.ca_pem(), None, &[]);
    let after = TlsConn::connect(gw.tls_addr(), "a.test", trust).expect("handshake");
    assert!(after.peer_cert() == new.cert_der);
}

#[test]
fn mismatched_or_missing_key_is_a_config_error_naming_the_file() {
    let pki = Pki::new("Test CA");
    let (a, b) = (pki.server(&["a.test"]), pki.server(&["b.test"]));
    let cfg = ConfigDir::new().api(&mock_api("apia", &[("GET /", "api a")]));
    cfg.write_file("certs/a.pem", &a.cert_pem);
    cfg.write_file("certs/a.key", &b.key_pem);
    let extra = format!(
        "{TLS_LISTEN}{}{}",
        domain_toml("a.test", "a", ""),
        domain_toml("c.test", "missing", "")
    );
    let cfg = cfg.gateway_extra(&extra);
    let out = run_check(cfg.path());
    let stderr =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("domain[0].key") && stderr.contains("certs/a.key"),
        "{stderr}"
    );
    assert!(
        stderr.contains("domain[1].cert") && stderr.contains("certs/missing.pem"),
        "{stderr}"
    );
}

/// A gateway proxying `GET /secure` to an HTTPS origin on `port`, with `backend_tls` lines.
fn https_proxy_gateway(
    port: u16,
    backend_tls: &str,
    files: &[(&str, String)],
) -> (ConfigDir, Gateway) {
    let api = ApiSpec::new("petstore").stage("prod", "v1").proxy(
        "v1",
        "GET /secure",
        &format!("https://localhost:{port}/svc"),
    );
    let cfg = ConfigDir::with_api(&api);
    for (name, contents) in files {
        cfg.write_file(name, contents);
    }
    let cfg = cfg.gateway_extra(&format!("\n[backend_tls]\n{backend_tls}\n"));
    let gw = Gateway::start(&cfg);
    (cfg, gw)
}

#[test]
fn https_backend_with_a_private_ca_and_a_client_certificate() {
    let (backend_ca, gateway_ca) = (Pki::new("Backend CA"), Pki::new("Gateway CA"));
    let origin = TlsBackend::start(
        &backend_ca.server(&["localhost"]),
        Some(&gateway_ca.ca_pem()),
    );
    let me = gateway_ca.client("tollgate-gw");
    let files = [
        ("certs/backend-ca.pem", backend_ca.ca_pem()),
        ("certs/gw.pem", me.cert_pem.clone()),
        ("certs/gw.key", me.key_pem.clone()),
    ];
    let settings = "ca_file = \"certs/backend-ca.pem\"\nclient_cert = \"certs/gw.pem\"\nclient_key = \"certs/gw.key\"";
    let (_cfg, gw) = https_proxy_gateway(origin.port(), settings, &files);
    let mut conn = Conn::connect(gw.addr());
    for _ in 0..2 {
        // Keep-alive on the client side; the backend connection may come from the pool.
        conn.send(&Req::get("/prod/secure"));
        conn.read_response().assert(200, "GET /svc as tollgate-gw");
    }

    // Without the gateway's client certificate the origin refuses the handshake.
    let files = [("certs/backend-ca.pem", backend_ca.ca_pem())];
    let (_cfg, gw) =
        https_proxy_gateway(origin.port(), "ca_file = \"certs/backend-ca.pem\"", &files);
    let resp = Req::get("/prod/secure").send(gw.addr());
    assert_eq!(resp.status, 502, "{resp:?}");

    // The same settings scoped to the backend host, other hosts keeping the public roots.
    let files = [
        ("certs/backend-ca.pem", backend_ca.ca_pem()),
        ("certs/gw.pem", me.cert_pem.clone()),
        ("certs/gw.key", me.key_pem.clone()),
    ];
    let per_host = format!("[[backend_tls.hosts]]\nhost = \"localhost\"\n{settings}");
    let (_cfg, gw) = https_proxy_gateway(origin.port(), &per_host, &files);
    Req::get("/prod/secure")
        .send(gw.addr())
        .assert(200, "GET /svc as tollgate-gw");
}

#[test]
fn https_backend_with_an_untrusted_certificate_is_a_502() {
    let backend_ca = Pki::new("Backend CA");
    let origin = TlsBackend::start(&backend_ca.server(&["localhost"]), None);
    // Default roots (the built-in public CAs) do not include the test CA.
    let (_cfg, gw) = https_proxy_gateway(origin.port(), "", &[]);
    let resp = Req::get("/prod/secure").send(gw.addr());
    assert_eq!(resp.status, 502, "{resp:?}");
    assert_eq!(resp.body_str(), INTERNAL_SERVER_ERROR);
    // Trusting the CA makes it work.
    let files = [("certs/ca.pem", backend_ca.ca_pem())];
    let (_cfg, gw) = https_proxy_gateway(origin.port(), "ca_file = \"certs/ca.pem\"", &files);
    Req::get("/prod/secure")
        .send(gw.addr())
        .assert(200, "GET /svc as anonymous");
}

#[test]
fn https_backend_trusted_by_the_system_store_needs_no_ca_file() {
    let backend_ca = Pki::new("System CA");
    let origin = TlsBackend::start(&backend_ca.server(&["localhost"]), None);
    let api = ApiSpec::new("petstore").stage("prod", "v1").proxy(
        "v1",
        "GET /secure",
        &format!("https://localhost:{}/svc", origin.port()),
    );
    let cfg = ConfigDir::with_api(&api);
    // The system's trust store, as OpenSSL and nginx's distribution packages name it.
    cfg.write_file("system/ca-bundle.pem", &backend_ca.ca_pem());
    let bundle = cfg.path().join("system/ca-bundle.pem");
    let gw = Gateway::start_with_env(cfg.path(), &[("SSL_CERT_FILE", bundle.to_str().unwrap())]);
    Req::get("/prod/secure")
        .send(gw.addr())
        .assert(200, "GET /svc as anonymous");
}

/// One domain `a.test` mapped to a mock API, with extra `[tls]` lines.
fn one_domain(pki: &Pki, tls_options: &str, shards: usize) -> ConfigDir {
    let cfg = ConfigDir::new()
        .shards(shards)
        .api(&mock_api("apia", &[("GET /", "api a")]));
    write_cert(&cfg, "a", &pki.server(&["a.test"]));
    let map = "mappings = [{ base_path = \"/\", api = \"apia\", stage = \"prod\" }]";
    cfg.gateway_extra(&format!(
        "{TLS_LISTEN}{tls_options}\n{}",
        domain_toml("a.test", "a", map)
    ))
}

#[test]
fn security_policy_sets_the_lowest_tls_version() {
    let pki = Pki::new("Test CA");
    let cfg = one_domain(&pki, "", 1);
    let gw = Gateway::start(&cfg);
    let conn = TlsConn::connect(gw.tls_addr(), "a.test", tls12_only_config(&pki.ca_pem()))
        .expect("TLS 1.2 is accepted by default");
    assert_eq!(conn.version(), Some(rustls::ProtocolVersion::TLSv1_2));
    let modern = TlsConn::connect(
        gw.tls_addr(),
        "a.test",
        client_config(&pki.ca_pem(), None, &[]),
    )
    .expect("TLS 1.3");
    assert_eq!(modern.version(), Some(rustls::ProtocolVersion::TLSv1_3));

    let cfg = one_domain(&pki, "security_policy = \"TLS_1_3\"", 1);
    let gw = Gateway::start(&cfg);
    let old = TlsConn::connect(gw.tls_addr(), "a.test", tls12_only_config(&pki.ca_pem()));
    assert!(old.is_err(), "TLS 1.2 accepted under TLS_1_3");
}

#[test]
fn sessions_resume_on_every_shard() {
    let pki = Pki::new("Test CA");
    let cfg = one_domain(&pki, "", 2);
    let gw = Gateway::start(&cfg);
    // One client (one session store): the first handshake is full, later ones resume with a
    // ticket whichever shard the kernel hands the connection to.
    let client = client_config(&pki.ca_pem(), None, &[]);
    let mut first = TlsConn::connect(gw.tls_addr(), "a.test", client.clone()).expect("handshake");
    // TLS 1.3 tickets arrive after the handshake: one request makes sure they were read.
    first
        .roundtrip(&get_host("/", "a.test"))
        .assert(200, "api a");
    assert!(!first.resumed());
    let mut resumed = 0;
    for _ in 0..8 {
        let mut conn =
            TlsConn::connect(gw.tls_addr(), "a.test", client.clone()).expect("handshake");
        conn.roundtrip(&get_host("/", "a.test"))
            .assert(200, "api a");
        resumed += usize::from(conn.resumed());
    }
    assert_eq!(resumed, 8, "every later handshake resumes");
}

#[test]
fn large_bodies_cross_many_tls_records_both_ways() {
    let pki = Pki::new("Test CA");
    let backend = Backend::echo();
    let api = ApiSpec::new("petstore").stage("prod", "v1").proxy(
        "v1",
        "POST /echo",
        &format!("{}/echo", backend.url()),
    );
    let server = pki.server(&["a.test"]);
    let cfg = https_domain(
        ConfigDir::new().api(&api),
        "a.test",
        "a",
        &server,
        ("/", "petstore"),
        "",
    );
    let gw = Gateway::start(&cfg);
    let trust = client_config(&pki.ca_pem(), None, &[]);
    let mut conn = TlsConn::connect(gw.tls_addr(), "a.test", trust).expect("handshake");
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    for _ in 0..2 {
        let req = Req::post("/echo", body.clone()).header("Host", "a.test");
        let resp = conn.roundtrip(&req);
        assert_eq!(resp.status, 200);
        assert!(
            resp.body == body,
            "echoed body differs (len {})",
            resp.body.len()
        );
    }
    let chunked = Req::post("/echo", Vec::new())
        .header("Host", "a.test")
        .chunked(vec![b"abc".to_vec(), vec![b'z'; 70_000], b"end".to_vec()]);
    let resp = conn.roundtrip(&chunked);
    assert_eq!((resp.status, resp.body.len()), (200, 70_006));
    let seen = backend.requests();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|r| r.header("x-forwarded-proto") == Some("https")));
}

#[test]
fn a_mutual_tls_domain_cannot_be_reached_through_another_name() {
    let (server_ca, client_ca) = (Pki::new("Server CA"), Pki::new("Client CA"));
    let cfg = ConfigDir::new()
        .api(&mock_api("secure", &[("GET /", "secret")]))
        .api(&mock_api("open", &[("GET /", "public")]));
    write_cert(&cfg, "s", &server_ca.server(&["secure.test"]));
    write_cert(&cfg, "o", &server_ca.server(&["open.test"]));
    cfg.write_file("certs/clients.pem", &client_ca.ca_pem());
    let secure = "truststore = \"certs/clients.pem\"\nmappings = [{ base_path = \"/\", api = \"secure\", stage = \"prod\" }]";
    let open = "mappings = [{ base_path = \"/\", api = \"open\", stage = \"prod\" }]";
    let cfg = cfg.gateway_extra(&format!(
        "{TLS_LISTEN}{}{}",
        domain_toml("secure.test", "s", secure),
        domain_toml("open.test", "o", open)
    ));
    let gw = Gateway::start(&cfg);

    // Handshake for the open name, then ask for the mutual-TLS one: 421, no certificate check
    // was skipped.
    let anonymous = client_config(&server_ca.ca_pem(), None, &[]);
    let mut conn = TlsConn::connect(gw.tls_addr(), "open.test", anonymous).expect("handshake");
    conn.roundtrip(&get_host("/", "open.test"))
        .assert(200, "public");
    let resp = conn.roundtrip(&get_host("/", "secure.test"));
    assert_eq!(resp.status, 421, "{resp:?}");
    assert_eq!(resp.body_str(), r#"{"message":"Misdirected Request"}"#);
    // Plain HTTP cannot reach it either.
    let resp = get_host("/", "secure.test").send(gw.addr());
    assert_eq!(resp.status, 421, "{resp:?}");

    // Over HTTP/2 the same: a stream naming the mutual-TLS domain on this session is refused.
    let anonymous = client_config(&server_ca.ca_pem(), None, &[b"h2"]);
    let addr = gw.tls_addr();
    common::h2::runtime().block_on(async move {
        let (send, _) = common::h2::connect_h2_tls(addr, "open.test", anonymous).await;
        let ok = common::h2::request(&send, "GET", "https://open.test/", b"").await;
        assert_eq!((ok.status, &ok.body[..]), (200, &b"public"[..]));
        let refused = common::h2::request(&send, "GET", "https://secure.test/", b"").await;
        assert_eq!(refused.status, 421, "{refused:?}");
    });

    // A verified client may use its session for both names.
    let client = client_ca.client("client-1");
    let verified = client_config(&server_ca.ca_pem(), Some(&client), &[]);
    let mut conn = TlsConn::connect(gw.tls_addr(), "secure.test", verified).expect("handshake");
    conn.roundtrip(&get_host("/", "secure.test"))
        .assert(200, "secret");
    conn.roundtrip(&get_host("/", "open.test"))
        .assert(200, "public");
}

#[test]
fn idle_tls_connections_do_not_delay_shutdown() {
    let pki = Pki::new("Test CA");
    let cfg = one_domain(&pki, "", 1).limit("drain_timeout_ms", 10_000);
    let mut gw = Gateway::start(&cfg);
    let trust = client_config(&pki.ca_pem(), None, &[]);
    let mut idle = TlsConn::connect(gw.tls_addr(), "a.test", trust).expect("handshake");
    idle.roundtrip(&get_host("/", "a.test"))
        .assert(200, "api a");
    gw.terminate();
    // The idle read is cancelled: no waiting for the 10 s drain deadline (generous bound 5 s).
    let status = gw.wait_exit(std::time::Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
}
