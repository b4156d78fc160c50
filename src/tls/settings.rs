//! `[tls]` and `[[domain]]` → listeners and a [`Domains`] table, on the control plane.
//!
//! Certificates, keys and truststores are read here, while a configuration is loaded (at
//! start and on SIGHUP), never on a shard. Each domain gets its own `rustls::ServerConfig`
//! (its certificate, and its client verifier when it has a truststore); all of them share one
//! session ticketer and one session cache for the life of the process, so a client resumes
//! its session on any shard and across reloads.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ahash::AHashMap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ProducesTickets, StoresServerSessions, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use toml::Spanned;

use super::backend::BackendTls;
use super::domains::{Domain, Domains, Mapping};
use super::model::{BackendTlsSection, DomainModel, DomainsFile, MappingModel, TlsSection};
use crate::config::error::{line_of, Sink};
use crate::config::load::Source;
use crate::config::model::{GatewayFile, ServerSection};
use crate::snapshot::Api;

/// What the `[tls]`, `[[domain]]` and `[backend_tls]` sections compile to.
#[derive(Debug)]
pub struct EdgeSettings {
    /// HTTPS listeners (need a restart to change, like plain ones).
    pub listen: Vec<SocketAddr>,
    /// Custom domains, for handshakes and routing.
    pub domains: Domains,
    /// Client configurations for `https://` backends.
    pub backend: BackendTls,
}

/// ALPN protocols offered, most preferred first.
pub fn alpn_protocols() -> Vec<Vec<u8>> {
    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
}

/// Session resumption state shared by every shard and every reload.
struct Resumption {
    ticketer: Option<Arc<dyn ProducesTickets>>,
    cache: Arc<dyn StoresServerSessions>,
}

fn resumption() -> &'static Resumption {
    static SHARED: OnceLock<Resumption> = OnceLock::new();
    SHARED.get_or_init(|| Resumption {
        ticketer: rustls::crypto::ring::Ticketer::new().ok(),
        cache: rustls::server::ServerSessionMemoryCache::new(16 * 1024),
    })
}

/// The crypto provider every configuration uses (ring: pure Rust/asm, no C toolchain).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// Checks and compiles the TLS settings of `gateway` (files relative to `dir`); mappings must
/// name APIs and stages of `apis`. Problems go to `sink`.
pub(crate) fn compile(
    dir: &Path,
    gateway: Option<&Source<GatewayFile>>,
    apis: &AHashMap<Box<str>, Api>,
    sink: &mut Sink,
) -> EdgeSettings {
    let Some(src) = gateway else {
        return EdgeSettings {
            listen: Vec::new(),
            domains: Domains::default(),
            backend: BackendTls {
                default: default_backend_config(),
                by_host: AHashMap::new(),
            },
        };
    };
    let server = &src.model.server;
    let mut check = Check::new(dir, &src.path, &src.text, server, sink);
    let backend = check.backend(&src.model.backend_tls);
    let tls = &src.model.tls;
    let listen = check.listen(tls);
    let versions = check.policy(tls);
    let mut domains = Vec::new();
    check.domains(&src.model.domain, versions, apis, &mut domains);
    let files = read_domain_files(dir, check.sink);
    for file in &files {
        let mut other = Check::new(dir, &file.path, &file.text, server, check.sink);
        other.domains(&file.model.domain, versions, apis, &mut domains);
    }
    let configured =
        src.model.domain.len() + files.iter().map(|f| f.model.domain.len()).sum::<usize>();
    if !listen.is_empty() && configured == 0 {
        let at = tls.listen.as_ref().map(|l| src.line(l)).unwrap_or(None);
        let message = "an HTTPS listener needs at least one [[domain]] with a certificate";
        check.sink.at(&src.path, at, "tls.listen", message);
    }
    let default = check.default_domain(tls, &domains);
    EdgeSettings {
        listen,
        domains: Domains::new(domains, default),
        backend,
    }
}

/// Backend TLS trusting the system's CAs and presenting no client certificate: what an
/// `https://` integration gets when `[backend_tls]` says nothing.
fn default_backend_config() -> Arc<ClientConfig> {
    backend_config(system_roots())
}

/// A backend client configuration trusting `roots`, without a client certificate.
fn backend_config(roots: RootCertStore) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    match config {
        Ok(c) => Arc::new(with_backend_alpn(c)),
        // The ring provider always supports the default versions.
        Err(_) => unreachable!("ring supports TLS 1.2 and 1.3"),
    }
}

/// The system's trusted CAs, read at each load (start and SIGHUP) so that an updated
/// `ca-certificates` takes effect on reload, as for nginx. `SSL_CERT_FILE` and `SSL_CERT_DIR`
/// override the distribution's bundle. A system with no usable CA (a minimal container) gets
/// the Mozilla roots built into the binary instead of trusting nothing, and the log says so.
fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "reading the system's trusted CAs");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::warn!(
            ignored,
            "unparsable certificates in the system's trusted CAs"
        );
    }
    if added == 0 {
        tracing::warn!("no trusted CA found on the system; backends are verified against the built-in Mozilla roots");
        return RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// Stands in for a backend configuration that had an error: the load is refused, so it is
/// never used, and building it reads no file.
fn refused() -> Arc<ClientConfig> {
    backend_config(RootCertStore::empty())
}

/// Backends are spoken to in HTTP/1.1.
fn with_backend_alpn(mut config: ClientConfig) -> ClientConfig {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Folder of extra domain files, next to `gateway.toml`.
pub const DOMAINS_DIR: &str = "domains";

/// The `*.toml` files of `domains/` in name order (none when the folder does not exist).
fn read_domain_files(dir: &Path, sink: &mut Sink) -> Vec<Source<DomainsFile>> {
    let folder = dir.join(DOMAINS_DIR);
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            sink.at(&folder, None, "", format!("cannot read domain folder: {e}"));
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.ends_with(".toml") && !n.starts_with('.')) && !p.is_dir()
        })
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| crate::config::load::read_file::<DomainsFile>(p, sink))
        .collect()
}

/// Checks one file's TLS settings, reporting problems with that file's lines.
struct Check<'a> {
    dir: &'a Path,
    path: &'a Path,
    text: &'a str,
    server: &'a ServerSection,
    sink: &'a mut Sink,
    /// The system's trusted CAs, once read.
    system: Option<RootCertStore>,
}

impl<'a> Check<'a> {
    fn new(
        dir: &'a Path,
        path: &'a Path,
        text: &'a str,
        server: &'a ServerSection,
        sink: &'a mut Sink,
    ) -> Self {
        Check {
            dir,
            path,
            text,
            server,
            sink,
            system: None,
        }
    }

    fn error<T>(&mut self, at: &Spanned<T>, field: &str, message: impl Into<String>) {
        let line = Some(line_of(self.text, at.span().start));
        self.sink.at(self.path, line, field, message);
    }

    /// Compiles `models` into `out`, refusing names already there.
    fn domains(
        &mut self,
        models: &[DomainModel],
        versions: &'static [&'static SupportedProtocolVersion],
        apis: &AHashMap<Box<str>, Api>,
        out: &mut Vec<Arc<Domain>>,
    ) {
        for (i, model) in models.iter().enumerate() {
            if let Some(d) = self.domain(i, model, versions, apis) {
                if out.iter().any(|o| o.name == d.name) {
                    let message = format!("domain `{}` is configured twice", d.name);
                    self.error(&model.name, &format!("domain[{i}].name"), message);
                }
                out.push(Arc::new(d));
            }
        }
    }

    fn listen(&mut self, tls: &TlsSection) -> Vec<SocketAddr> {
        let Some(list) = &tls.listen else {
            return Vec::new();
        };
        let mut addrs = Vec::new();
        for (i, item) in list.get_ref().iter().enumerate() {
            match item.get_ref().parse::<SocketAddr>() {
                Ok(addr) if self.taken(addr) => {
                    let message = format!(
                        "`{addr}` is also a plain listener or the admin address: with \
                         SO_REUSEPORT both would share its connections"
                    );
                    self.error(item, &format!("tls.listen[{i}]"), message);
                }
                Ok(addr) => addrs.push(addr),
                Err(_) => {
                    let message = format!(
                        "`{}` is not an \"ip:port\" address (e.g. \"0.0.0.0:8443\")",
                        item.get_ref()
                    );
                    self.error(item, &format!("tls.listen[{i}]"), message);
                }
            }
        }
        addrs
    }

    /// Whether `addr` (a fixed port) is already a plain or admin listener.
    fn taken(&self, addr: SocketAddr) -> bool {
        let server = self.server;
        let plain = server.listen.iter().flat_map(|l| l.get_ref().iter());
        addr.port() != 0
            && plain
                .chain(server.admin.iter())
                .filter_map(|s| s.get_ref().parse::<SocketAddr>().ok())
                .any(|other| {
                    other.port() == addr.port()
                        && (other.ip() == addr.ip()
                            || other.ip().is_unspecified()
                            || addr.ip().is_unspecified())
                })
    }

    fn policy(&mut self, tls: &TlsSection) -> &'static [&'static SupportedProtocolVersion] {
        static TLS12: [&SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        let Some(policy) = &tls.security_policy else {
            return &TLS12;
        };
        match policy.get_ref().as_str() {
            "TLS_1_2" => &TLS12,
            "TLS_1_3" => &TLS13,
            other => {
                let message = format!("must be \"TLS_1_2\" or \"TLS_1_3\", got \"{other}\"");
                self.error(policy, "tls.security_policy", message);
                &TLS12
            }
        }
    }

    fn default_domain(&mut self, tls: &TlsSection, domains: &[Arc<Domain>]) -> Option<Arc<Domain>> {
        let refuse = match &tls.unknown_sni {
            None => false,
            Some(v) => match v.get_ref().as_str() {
                "default" => false,
                "refuse" => true,
                other => {
                    let message = format!("must be \"default\" or \"refuse\", got \"{other}\"");
                    self.error(v, "tls.unknown_sni", message);
                    false
                }
            },
        };
        let chosen = match &tls.default_domain {
            None => domains.first().cloned(),
            Some(name) => {
                let want = name.get_ref().to_ascii_lowercase();
                let found = domains.iter().find(|d| *d.name == *want).cloned();
                if found.is_none() {
                    let message = format!("no [[domain]] is named `{}`", name.get_ref());
                    self.error(name, "tls.default_domain", message);
                }
                found
            }
        };
        if refuse {
            None
        } else {
            chosen
        }
    }

    fn domain(
        &mut self,
        i: usize,
        model: &DomainModel,
        versions: &'static [&'static SupportedProtocolVersion],
        apis: &AHashMap<Box<str>, Api>,
    ) -> Option<Domain> {
        let field = format!("domain[{i}]");
        let name = model.name.get_ref().to_ascii_lowercase();
        if !is_domain_name(&name) {
            let message = format!(
                "`{}` is not a domain name (e.g. \"api.example.com\" or \"*.example.com\")",
                model.name.get_ref()
            );
            self.error(&model.name, &format!("{field}.name"), message);
        }
        let mut mappings = Vec::with_capacity(model.mappings.len());
        for (j, m) in model.mappings.iter().enumerate() {
            if let Some(mapping) = self.mapping(&format!("{field}.mappings[{j}]"), m, apis) {
                if mappings
                    .iter()
                    .any(|o: &Mapping| o.base_path == mapping.base_path)
                {
                    let message = format!("base path `{}` is mapped twice", m.base_path.get_ref());
                    self.error(
                        &m.base_path,
                        &format!("{field}.mappings[{j}].base_path"),
                        message,
                    );
                }
                mappings.push(mapping);
            }
        }
        mappings.sort_by_key(|m| std::cmp::Reverse(m.base_path.len()));
        let tls = self.server_config(&field, model, versions)?;
        Some(Domain {
            name: name.into(),
            tls,
            mappings,
            client_auth: model.truststore.is_some(),
        })
    }

    fn mapping(
        &mut self,
        field: &str,
        m: &MappingModel,
        apis: &AHashMap<Box<str>, Api>,
    ) -> Option<Mapping> {
        let base = m.base_path.get_ref().trim_matches('/');
        if base.split('/').any(|s| s.is_empty()) && !base.is_empty()
            || base.bytes().any(|b| b <= b' ' || b == b'?' || b == b'#')
        {
            let message = format!(
                "`{}` is not a base path (\"/\" or segments such as \"v1\")",
                m.base_path.get_ref()
            );
            self.error(&m.base_path, &format!("{field}.base_path"), message);
            return None;
        }
        let Some(api) = apis.get(m.api.get_ref().as_str()) else {
            let message = format!("no API has id `{}`", m.api.get_ref());
            self.error(&m.api, &format!("{field}.api"), message);
            return None;
        };
        if !api.stages.contains_key(m.stage.get_ref().as_str()) {
            let message = format!("API `{}` has no stage `{}`", api.id, m.stage.get_ref());
            self.error(&m.stage, &format!("{field}.stage"), message);
            return None;
        }
        Some(Mapping {
            base_path: base.into(),
            api: m.api.get_ref().as_str().into(),
            stage: m.stage.get_ref().as_str().into(),
        })
    }

    /// Reads the domain's PEM files and builds its `ServerConfig`; every unreadable,
    /// empty or mismatched file is reported with its path.
    fn server_config(
        &mut self,
        field: &str,
        model: &DomainModel,
        versions: &'static [&'static SupportedProtocolVersion],
    ) -> Option<Arc<ServerConfig>> {
        let certs = self.certs(&model.cert, &format!("{field}.cert"));
        let key = self.key(&model.key, &format!("{field}.key"));
        let roots = match &model.truststore {
            Some(t) => Some(self.roots(t, &format!("{field}.truststore"))?),
            None => None,
        };
        let (certs, key) = (certs?, key?);
        let provider = provider();
        let builder = match ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
        {
            Ok(b) => b,
            Err(e) => {
                self.error(&model.name, &format!("{field}.name"), e.to_string());
                return None;
            }
        };
        let builder = match roots {
            None => builder.with_no_client_auth(),
            Some(roots) => {
                match WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()
                {
                    Ok(v) => builder.with_client_cert_verifier(v),
                    Err(e) => {
                        let at = model.truststore.as_ref().unwrap_or(&model.name);
                        let message = format!("unusable truststore: {e}");
                        self.error(at, &format!("{field}.truststore"), message);
                        return None;
                    }
                }
            }
        };
        let mut config = match builder.with_single_cert(certs, key) {
            Ok(c) => c,
            Err(e) => {
                let message = format!(
                    "key {} does not fit certificate {}: {e}",
                    self.path(&model.key).display(),
                    self.path(&model.cert).display()
                );
                self.error(&model.key, &format!("{field}.key"), message);
                return None;
            }
        };
        let shared = resumption();
        config.alpn_protocols = alpn_protocols();
        config.session_storage = Arc::clone(&shared.cache);
        if let Some(t) = &shared.ticketer {
            config.ticketer = Arc::clone(t);
        }
        Some(Arc::new(config))
    }

    /// `[backend_tls]`: trusted CAs (a file, or the system's) and an optional client
    /// certificate, for all backends and per host; problems are reported and the default
    /// configuration used in their place.
    fn backend(&mut self, section: &BackendTlsSection) -> BackendTls {
        let default = self.client_config(
            "backend_tls",
            section.ca_file.as_ref(),
            section.client_cert.as_ref(),
            section.client_key.as_ref(),
        );
        let mut by_host = AHashMap::new();
        for (i, h) in section.hosts.iter().enumerate() {
            let field = format!("backend_tls.hosts[{i}]");
            let config = self.client_config(
                &field,
                h.ca_file.as_ref().or(section.ca_file.as_ref()),
                h.client_cert.as_ref().or(section.client_cert.as_ref()),
                h.client_key.as_ref().or(section.client_key.as_ref()),
            );
            let host = h
                .host
                .get_ref()
                .trim_matches(['[', ']'])
                .to_ascii_lowercase();
            if by_host.insert(host.into_boxed_str(), config).is_some() {
                let message = format!("host `{}` is listed twice", h.host.get_ref());
                self.error(&h.host, &format!("{field}.host"), message);
            }
        }
        BackendTls { default, by_host }
    }

    /// One backend client configuration; `field` prefixes error fields.
    fn client_config(
        &mut self,
        field: &str,
        ca_file: Option<&Spanned<String>>,
        client_cert: Option<&Spanned<String>>,
        client_key: Option<&Spanned<String>>,
    ) -> Arc<ClientConfig> {
        let roots = match ca_file {
            None => self.system_roots(),
            Some(ca) => match self.roots(ca, &format!("{field}.ca_file")) {
                Some(roots) => roots,
                None => return refused(),
            },
        };
        let builder = match ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
        {
            Ok(b) => b.with_root_certificates(roots),
            Err(_) => return refused(),
        };
        let config = match (client_cert, client_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let certs = self.certs(cert, &format!("{field}.client_cert"));
                let private = self.key(key, &format!("{field}.client_key"));
                let (Some(certs), Some(private)) = (certs, private) else {
                    return refused();
                };
                match builder.with_client_auth_cert(certs, private) {
                    Ok(c) => c,
                    Err(e) => {
                        let message = format!(
                            "key {} does not fit certificate {}: {e}",
                            self.path(key).display(),
                            self.path(cert).display()
                        );
                        self.error(key, &format!("{field}.client_key"), message);
                        return refused();
                    }
                }
            }
            (Some(at), None) | (None, Some(at)) => {
                let message = "client_cert and client_key must be given together";
                self.error(at, field, message);
                return refused();
            }
        };
        Arc::new(with_backend_alpn(config))
    }

    /// The system's CAs, read once per load however many backend settings use them.
    fn system_roots(&mut self) -> RootCertStore {
        self.system.get_or_insert_with(system_roots).clone()
    }

    fn path(&self, value: &Spanned<String>) -> PathBuf {
        self.dir.join(value.get_ref())
    }

    fn certs(
        &mut self,
        value: &Spanned<String>,
        field: &str,
    ) -> Option<Vec<CertificateDer<'static>>> {
        let path = self.path(value);
        let certs: Result<Vec<_>, _> = match CertificateDer::pem_file_iter(&path) {
            Ok(iter) => iter.collect(),
            Err(e) => Err(e),
        };
        match certs {
            Ok(certs) if !certs.is_empty() => Some(certs),
            Ok(_) => {
                let message = format!("no PEM certificate in {}", path.display());
                self.error(value, field, message);
                None
            }
            Err(e) => {
                let message = format!("cannot read certificates from {}: {e}", path.display());
                self.error(value, field, message);
                None
            }
        }
    }

    fn key(&mut self, value: &Spanned<String>, field: &str) -> Option<PrivateKeyDer<'static>> {
        let path = self.path(value);
        match PrivateKeyDer::from_pem_file(&path) {
            Ok(key) => Some(key),
            Err(e) => {
                let message = format!("cannot read a private key from {}: {e}", path.display());
                self.error(value, field, message);
                None
            }
        }
    }

    fn roots(&mut self, value: &Spanned<String>, field: &str) -> Option<RootCertStore> {
        let certs = self.certs(value, field)?;
        let mut roots = RootCertStore::empty();
        for cert in certs {
            if let Err(e) = roots.add(cert) {
                let message = format!("bad CA certificate in {}: {e}", self.path(value).display());
                self.error(value, field, message);
                return None;
            }
        }
        Some(roots)
    }
}

/// Lower-case DNS name, optionally `*.` followed by at least two labels.
fn is_domain_name(name: &str) -> bool {
    let (rest, wildcard) = match name.strip_prefix("*.") {
        Some(rest) => (rest, true),
        None => (name, false),
    };
    let labels: Vec<&str> = rest.split('.').collect();
    !rest.is_empty()
        && rest.len() <= 253
        && (!wildcard || labels.len() >= 2)
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration folder with one API `shop` (stage `prod`), a certificate for
    /// `shop.test` in `certs/`, and `extra` appended to gateway.toml.
    fn dir_with(extra: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("apis")).unwrap();
        std::fs::create_dir_all(dir.path().join("certs")).unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["shop.test".into()]).unwrap();
        std::fs::write(dir.path().join("certs/shop.pem"), cert.cert.pem()).unwrap();
        std::fs::write(
            dir.path().join("certs/shop.key"),
            cert.key_pair.serialize_pem(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("apis/shop.toml"),
            "id = \"shop\"\n[stages.prod]\ndeployment = \"d\"\n\
             [deployments.d.methods.\"GET /\"]\nintegration = { type = \"MOCK\" }\n",
        )
        .unwrap();
        let gateway = format!("[server]\nlisten = [\"127.0.0.1:8080\"]\nshards = 1\n{extra}");
        std::fs::write(dir.path().join("gateway.toml"), gateway).unwrap();
        dir
    }

    const DOMAIN: &str =
        "[[domain]]\nname = \"shop.test\"\ncert = \"certs/shop.pem\"\nkey = \"certs/shop.key\"\n";

    fn errors(extra: &str) -> Vec<String> {
        let dir = dir_with(extra);
        match crate::config::load(dir.path(), 1) {
            Ok(_) => Vec::new(),
            Err(errs) => errs
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect(),
        }
    }

    #[test]
    fn a_valid_domain_compiles_into_the_snapshot() {
        let dir = dir_with(&format!(
            "[tls]\nlisten = [\"127.0.0.1:0\"]\n{DOMAIN}mappings = [{{ base_path = \"v1\", api = \"shop\", stage = \"prod\" }}]\n"
        ));
        let loaded = crate::config::load(dir.path(), 1).unwrap();
        assert_eq!(loaded.node.tls_listen.len(), 1);
        let domain = loaded.snapshot.domains.lookup(b"shop.test").unwrap();
        assert_eq!(domain.mappings[0].base_path.as_ref(), "v1");
        assert!(loaded.snapshot.backend_tls.is_some());
    }

    #[test]
    fn domains_can_live_in_their_own_files() {
        let dir = dir_with("[tls]\nlisten = [\"127.0.0.1:0\"]\n");
        std::fs::create_dir(dir.path().join("domains")).unwrap();
        let file = dir.path().join("domains/shop.toml");
        std::fs::write(
            &file,
            format!(
                "{DOMAIN}mappings = [{{ base_path = \"/\", api = \"shop\", stage = \"prod\" }}]\n"
            ),
        )
        .unwrap();
        let loaded = crate::config::load(dir.path(), 1).unwrap();
        assert!(loaded.snapshot.domains.lookup(b"shop.test").is_some());

        std::fs::write(&file, format!("{DOMAIN}\nmappings = [{{ base_path = \"/\", api = \"gone\", stage = \"prod\" }}]\n")).unwrap();
        let errs = crate::config::load(dir.path(), 1).unwrap_err();
        let err = errs.iter().next().unwrap();
        assert!(err.file.ends_with("domains/shop.toml"), "{err}");
        assert_eq!(
            (err.line, err.field.as_str()),
            (Some(6), "domain[0].mappings[0].api")
        );
    }

    #[test]
    fn bad_settings_name_their_field() {
        let cases = [
            (
                "[tls]\nsecurity_policy = \"TLS_1_0\"\n",
                "tls.security_policy",
            ),
            ("[tls]\nunknown_sni = \"maybe\"\n", "tls.unknown_sni"),
            ("[tls]\nlisten = [\"nope\"]\n", "tls.listen[0]"),
            ("[tls]\nlisten = [\"0.0.0.0:8080\"]\n", "tls.listen[0]"),
            ("[tls]\nlisten = [\"127.0.0.1:0\"]\n", "tls.listen"),
            (
                "[tls]\ndefault_domain = \"other.test\"\n",
                "tls.default_domain",
            ),
        ];
        for (extra, field) in cases {
            let errs = errors(extra);
            assert!(
                errs.iter().any(|e| e.starts_with(field)),
                "{extra}: {errs:?}"
            );
        }
        let bad_mappings = [
            (
                "{ base_path = \"/\", api = \"nope\", stage = \"prod\" }",
                "domain[0].mappings[0].api",
            ),
            (
                "{ base_path = \"/\", api = \"shop\", stage = \"dev\" }",
                "domain[0].mappings[0].stage",
            ),
            (
                "{ base_path = \"a//b\", api = \"shop\", stage = \"prod\" }",
                "domain[0].mappings[0].base_path",
            ),
        ];
        for (mapping, field) in bad_mappings {
            let errs = errors(&format!("{DOMAIN}mappings = [{mapping}]\n"));
            assert!(
                errs.iter().any(|e| e.starts_with(field)),
                "{mapping}: {errs:?}"
            );
        }
        let errs = errors(&format!("{DOMAIN}{}", DOMAIN));
        assert!(
            errs.iter().any(|e| e.contains("configured twice")),
            "{errs:?}"
        );
        let errs = errors("[backend_tls]\nclient_cert = \"certs/shop.pem\"\n");
        assert!(errs.iter().any(|e| e.contains("together")), "{errs:?}");
    }

    #[test]
    fn domain_names_and_wildcards() {
        assert!(is_domain_name("api.example.com"));
        assert!(is_domain_name("*.example.com"));
        assert!(is_domain_name("localhost"));
        assert!(!is_domain_name("*.com"));
        assert!(!is_domain_name("a.*.com"));
        assert!(!is_domain_name("bad_name.com"));
        assert!(!is_domain_name(""));
    }
}
