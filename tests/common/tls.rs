//! TLS test helpers: a private CA made at test time with `rcgen` (no certificate is checked
//! in), and a blocking HTTPS/1.1 client on rustls that reports which certificate the gateway
//! presented.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore};

use super::{Parsed, Req, Response, IO_TIMEOUT};

/// A certificate authority generated for one test.
pub struct Pki {
    ca: rcgen::Certificate,
    key: rcgen::KeyPair,
}

/// A certificate issued by a [`Pki`], as PEM (for config files) and DER (to compare).
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
}

impl Pki {
    /// A new CA named `cn`.
    pub fn new(cn: &str) -> Pki {
        let key = rcgen::KeyPair::generate().expect("ca key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name = dn(cn);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = params.self_signed(&key).expect("self-sign ca");
        Pki { ca, key }
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A server certificate for `names` (wildcards allowed).
    pub fn server(&self, names: &[&str]) -> Issued {
        let sans = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let mut params = rcgen::CertificateParams::new(sans).expect("server params");
        params.distinguished_name = dn(names[0]);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate whose subject is `CN={cn},O=Tollgate Tests`.
    pub fn client(&self, cn: &str) -> Issued {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Tollgate Tests");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: rcgen::CertificateParams) -> Issued {
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.ca, &self.key)
            .expect("sign leaf");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        }
    }
}

fn dn(cn: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    dn
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Client configuration trusting `ca_pem`, offering `alpn`, presenting `client` if given.
pub fn client_config(ca_pem: &str, client: Option<&Issued>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("ca pem")).expect("add ca");
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    finish(builder, client, alpn)
}

/// Client configuration trusting `ca_pem` that only speaks TLS 1.2.
pub fn tls12_only_config(ca_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("ca pem")).expect("add ca");
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("versions")
        .with_root_certificates(roots);
    finish(builder, None, &[])
}

/// Client configuration that accepts any server certificate (to see which one an unknown name
/// gets).
pub fn insecure_config() -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny));
    finish(builder, None, &[])
}

fn finish(
    builder: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>,
    client: Option<&Issued>,
    alpn: &[&[u8]],
) -> Arc<ClientConfig> {
    let mut config = match client {
        Some(c) => {
            let chain = vec![CertificateDer::from(c.cert_der.clone())];
            let key = PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).expect("client key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

#[derive(Debug)]
struct AcceptAny;

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// One HTTPS connection.
pub struct TlsConn {
    stream: rustls::StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl TlsConn {
    /// Connects to `addr` asking for `sni` and completes the handshake.
    pub fn connect(addr: SocketAddr, sni: &str, config: Arc<ClientConfig>) -> io::Result<TlsConn> {
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        let name = ServerName::try_from(sni.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = ClientConnection::new(config, name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(TlsConn {
            stream,
            buf: Vec::new(),
        })
    }

    /// The leaf certificate the gateway presented.
    pub fn peer_cert(&self) -> Vec<u8> {
        self.stream
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default()
    }

    /// Whether the handshake resumed an earlier session (ticket) instead of a full one.
    pub fn resumed(&self) -> bool {
        self.stream.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// The TLS version agreed.
    pub fn version(&self) -> Option<rustls::ProtocolVersion> {
        self.stream.conn.protocol_version()
    }

    /// The protocol agreed by ALPN.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.stream.conn.alpn_protocol().map(|p| p.to_vec())
    }

    /// Sends `req` and reads its response; an error when the gateway ends the session
    /// (refused client certificate) or the connection breaks.
    pub fn try_roundtrip(&mut self, req: &Req) -> io::Result<Response> {
        self.stream.write_all(&req.to_bytes())?;
        self.stream.flush()?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match Response::parse_partial(&self.buf, false, false) {
                Parsed::Complete(resp, used) => {
                    self.buf.drain(..used);
                    return Ok(resp);
                }
                Parsed::Invalid(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                Parsed::Partial => {}
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Like [`TlsConn::try_roundtrip`], panicking on failure.
    pub fn roundtrip(&mut self, req: &Req) -> Response {
        self.try_roundtrip(req)
            .unwrap_or_else(|e| panic!("https request {} failed: {e}", req_line(req)))
    }
}

fn req_line(req: &Req) -> String {
    let bytes = req.to_bytes();
    let end = bytes
        .iter()
        .position(|&b| b == b'\r')
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// `[[domain]]` TOML for `name` with files `certs/{file}.pem|.key`, and optional extra lines.
pub fn domain_toml(name: &str, file: &str, extra: &str) -> String {
    format!(
        "\n[[domain]]\nname = \"{name}\"\ncert = \"certs/{file}.pem\"\nkey = \"certs/{file}.key\"\n{extra}\n"
    )
}

/// `cfg` with an HTTPS listener on a free port and one custom domain `name` serving the
/// certificate `issued` (written as `certs/{file}.pem|.key`), whose base path `mapping.0`
/// maps to stage `prod` of API `mapping.1`; `extra` adds `[[domain]]` lines (a truststore).
pub fn https_domain(
    cfg: super::ConfigDir,
    name: &str,
    file: &str,
    issued: &Issued,
    mapping: (&str, &str),
    extra: &str,
) -> super::ConfigDir {
    write_cert(&cfg, file, issued);
    let (base_path, api) = mapping;
    let lines = format!(
        "mappings = [{{ base_path = \"{base_path}\", api = \"{api}\", stage = \"prod\" }}]\n{extra}"
    );
    cfg.gateway_extra(&format!(
        "\n[tls]\nlisten = [\"127.0.0.1:0\"]\n{}",
        domain_toml(name, file, &lines)
    ))
}

/// Writes `issued` as `certs/{file}.pem` and `certs/{file}.key` into `cfg`.
pub fn write_cert(cfg: &super::ConfigDir, file: &str, issued: &Issued) {
    cfg.write_file(&format!("certs/{file}.pem"), &issued.cert_pem);
    cfg.write_file(&format!("certs/{file}.key"), &issued.key_pem);
}

/// An HTTPS origin on a thread per connection: answers every request `200` with
/// `{method} {target} as {client subject CN or "anonymous"}`, after requiring a client
/// certificate signed by `client_ca` when one is given.
pub struct TlsBackend {
    addr: SocketAddr,
}

impl TlsBackend {
    /// Starts the origin with certificate `cert`.
    pub fn start(cert: &Issued, client_ca: Option<&str>) -> TlsBackend {
        let provider = provider();
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    roots.add(c.expect("ca pem")).expect("add ca");
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .expect("verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).expect("key");
        let config = Arc::new(
            builder
                .with_single_cert(vec![CertificateDer::from(cert.cert_der.clone())], key)
                .expect("server config"),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let config = Arc::clone(&config);
                std::thread::spawn(move || serve_tls_origin(tcp, config));
            }
        });
        TlsBackend { addr }
    }

    /// Port the origin listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

fn serve_tls_origin(tcp: TcpStream, config: Arc<rustls::ServerConfig>) {
    let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut chunk) {
                Ok(n) if n > 0 => {
                    buf.extend_from_slice(&chunk[..n]);
                    continue;
                }
                _ => return,
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let line = head.lines().next().unwrap_or_default().to_string();
        let mut parts = line.split(' ');
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let who = stream
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| cn_of(c))
            .unwrap_or_else(|| "anonymous".to_string());
        let body = format!("{method} {target} as {who}");
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(resp.as_bytes()).is_err() || stream.flush().is_err() {
            return;
        }
    }
}

/// The CN of a certificate made by [`Pki::client`] (found by its value's position in the DER:
/// good enough for test certificates).
fn cn_of(cert: &CertificateDer<'_>) -> String {
    const CN_OID: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x03];
    let der = cert.as_ref();
    let Some(at) = der.windows(5).rposition(|w| w == CN_OID) else {
        return "?".to_string();
    };
    let len = der.get(at + 6).copied().unwrap_or(0) as usize;
    let start = at + 7;
    String::from_utf8_lossy(der.get(start..start + len).unwrap_or_default()).into_owned()
}
