//! Custom domain names as the data plane sees them: which TLS configuration answers a
//! ClientHello's SNI, and which `(api, stage)` a request's `Host` and base path select.
//!
//! Names are matched exactly first, then as a wildcard covering one label (`*.example.com`
//! covers `a.example.com`, not `example.com` nor `a.b.example.com`), as certificates are.

use std::sync::Arc;

use ahash::AHashMap;
use rustls::ServerConfig;

/// One custom domain, compiled.
#[derive(Debug)]
pub struct Domain {
    /// Name as configured (lower case; `*.` for wildcards).
    pub name: Box<str>,
    /// The TLS configuration for handshakes naming this domain (certificate, client CAs).
    pub tls: Arc<ServerConfig>,
    /// Base path mappings, longest base path first.
    pub mappings: Vec<Mapping>,
    /// Whether clients must present a certificate (mutual TLS).
    pub client_auth: bool,
}

/// A base path mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Path prefix without slashes at either end (`v1`, `a/b`); empty for `/`.
    pub base_path: Box<str>,
    /// API id.
    pub api: Box<str>,
    /// Stage name.
    pub stage: Box<str>,
}

/// Every custom domain of a snapshot.
#[derive(Debug, Default)]
pub struct Domains {
    exact: AHashMap<Box<str>, Arc<Domain>>,
    /// Keyed by what follows `*.`.
    wildcard: AHashMap<Box<str>, Arc<Domain>>,
    /// Answers handshakes for names no domain covers (and without SNI), unless `None`.
    default: Option<Arc<Domain>>,
}

impl Domains {
    /// A table of `domains`; `default` answers unknown names (refused when `None`).
    pub fn new(domains: Vec<Arc<Domain>>, default: Option<Arc<Domain>>) -> Self {
        let mut table = Domains {
            default,
            ..Domains::default()
        };
        for d in domains {
            match d.name.strip_prefix("*.") {
                Some(suffix) => table.wildcard.insert(suffix.into(), d),
                None => table.exact.insert(d.name.clone(), d),
            };
        }
        table
    }

    /// True when no custom domain is configured (routing skips the lookup).
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty()
    }

    /// How many custom domains (names and wildcards) are configured, for `--check`.
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len()
    }

    /// The domain covering `name` (a host without port, any case).
    pub fn lookup(&self, name: &[u8]) -> Option<&Arc<Domain>> {
        let mut lower = [0u8; 256];
        let dst = lower.get_mut(..name.len())?;
        dst.copy_from_slice(name);
        dst.make_ascii_lowercase();
        let name = std::str::from_utf8(dst).ok()?;
        let name = name.strip_suffix('.').unwrap_or(name);
        if let Some(d) = self.exact.get(name) {
            return Some(d);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent)
    }

    /// The TLS configuration for a ClientHello naming `sni`; `None` refuses the handshake.
    pub fn tls_for(&self, sni: Option<&str>) -> Option<Arc<ServerConfig>> {
        self.handshake_domain(sni).map(|d| Arc::clone(&d.tls))
    }

    /// The domain whose configuration answers a ClientHello naming `sni` (the default domain
    /// for unknown names unless they are refused).
    pub fn handshake_domain(&self, sni: Option<&str>) -> Option<&Arc<Domain>> {
        sni.and_then(|name| self.lookup(name.as_bytes()))
            .or(self.default.as_ref())
    }

    /// Refuses a request whose `Host` names a mutual-TLS domain that the connection's TLS
    /// session (`session_domain`, `None` on plain connections) was not set up for: otherwise
    /// a client could handshake for another name, or skip TLS, and reach an API whose
    /// domain demands a client certificate (domain fronting).
    pub fn check_host(
        &self,
        session_domain: Option<&str>,
        host: Option<&[u8]>,
    ) -> Result<(), crate::gateway_response::GatewayResponse> {
        if self.is_empty() {
            return Ok(());
        }
        let Some(target) = host.and_then(|h| self.lookup(strip_port(h))) else {
            return Ok(());
        };
        if !target.client_auth || session_domain == Some(&*target.name) {
            Ok(())
        } else {
            Err(crate::gateway_response::GatewayResponse::MisdirectedRequest)
        }
    }
}

/// `host:port` → `host` (IPv6 literals keep their brackets).
fn strip_port(host: &[u8]) -> &[u8] {
    match host.iter().rposition(|&b| b == b':') {
        Some(i) if !host[i..].contains(&b']') => &host[..i],
        _ => host,
    }
}

impl Domain {
    /// The mapping serving `path` and the path left after its base path (`/v1/pets` with
    /// base path `v1` → `/pets`; `/v1` → `/`).
    pub fn map<'p>(&self, path: &'p str) -> Option<(&Mapping, &'p str)> {
        self.mappings.iter().find_map(|m| {
            if m.base_path.is_empty() {
                return Some((m, path));
            }
            let rest = path.strip_prefix('/')?.strip_prefix(&*m.base_path)?;
            match rest.as_bytes().first() {
                None => Some((m, "/")),
                Some(b'/') => Some((m, rest)),
                Some(_) => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Arc<ServerConfig> {
        let cert = rcgen::generate_simple_self_signed(vec!["x.test".into()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        Arc::new(cfg)
    }

    fn domain(name: &str, maps: &[(&str, &str, &str)]) -> Arc<Domain> {
        let mut mappings: Vec<Mapping> = maps
            .iter()
            .map(|(b, a, s)| Mapping {
                base_path: (*b).into(),
                api: (*a).into(),
                stage: (*s).into(),
            })
            .collect();
        mappings.sort_by_key(|m| std::cmp::Reverse(m.base_path.len()));
        Arc::new(Domain {
            name: name.into(),
            tls: config(),
            mappings,
            client_auth: name.starts_with("secure"),
        })
    }

    #[test]
    fn exact_names_win_over_wildcards_which_cover_one_label() {
        let table = Domains::new(
            vec![domain("api.example.com", &[]), domain("*.example.com", &[])],
            None,
        );
        assert_eq!(
            &*table.lookup(b"API.Example.com").unwrap().name,
            "api.example.com"
        );
        assert_eq!(
            &*table.lookup(b"b.example.com").unwrap().name,
            "*.example.com"
        );
        assert!(table.lookup(b"example.com").is_none());
        assert!(table.lookup(b"a.b.example.com").is_none());
        assert!(table.tls_for(Some("other.test")).is_none());
        assert!(table.tls_for(None).is_none());
    }

    #[test]
    fn unknown_names_get_the_default_when_there_is_one() {
        let d = domain("api.example.com", &[]);
        let table = Domains::new(vec![Arc::clone(&d)], Some(d));
        assert!(table.tls_for(Some("other.test")).is_some());
        assert!(table.tls_for(None).is_some());
    }

    #[test]
    fn mutual_tls_domains_only_serve_their_own_sessions() {
        let table = Domains::new(
            vec![domain("secure.test", &[]), domain("open.test", &[])],
            None,
        );
        let misdirected = Err(crate::gateway_response::GatewayResponse::MisdirectedRequest);
        assert_eq!(
            table.check_host(Some("secure.test"), Some(b"secure.test:443")),
            Ok(())
        );
        assert_eq!(
            table.check_host(Some("open.test"), Some(b"secure.test")),
            misdirected
        );
        assert_eq!(table.check_host(None, Some(b"SECURE.test")), misdirected);
        assert_eq!(
            table.check_host(Some("secure.test"), Some(b"open.test")),
            Ok(())
        );
        assert_eq!(table.check_host(None, Some(b"open.test")), Ok(()));
        assert_eq!(table.check_host(None, Some(b"other.test")), Ok(()));
        assert_eq!(table.check_host(None, None), Ok(()));
    }

    #[test]
    fn base_paths_match_whole_segments_and_longest_first() {
        let d = domain(
            "api.example.com",
            &[
                ("", "root", "prod"),
                ("v1", "one", "dev"),
                ("v1/beta", "beta", "b"),
            ],
        );
        let (m, rest) = d.map("/v1/pets/1").unwrap();
        assert_eq!((&*m.api, rest), ("one", "/pets/1"));
        let (m, rest) = d.map("/v1").unwrap();
        assert_eq!((&*m.api, rest), ("one", "/"));
        let (m, rest) = d.map("/v1/beta/x").unwrap();
        assert_eq!((&*m.api, rest), ("beta", "/x"));
        let (m, rest) = d.map("/v10/x").unwrap();
        assert_eq!((&*m.api, rest), ("root", "/v10/x"));
        let only_v1 = domain("a.test", &[("v1", "one", "dev")]);
        assert!(only_v1.map("/v2/x").is_none());
    }
}
