//! The `[tls]` section and `[[domain]]` entries of `gateway.toml`, as read from the file.
//!
//! Like the rest of the configuration model they only describe the shape of the file; values
//! are checked and certificates read in [`super::settings`].

use serde::Deserialize;
use toml::Spanned;

/// `[tls]`: HTTPS listeners and the policy every TLS handshake follows.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// HTTPS listeners as `"ip:port"` strings (none by default: plain HTTP only).
    pub listen: Option<Spanned<Vec<Spanned<String>>>>,
    /// `"TLS_1_2"` (TLS 1.2 and 1.3, the default) or `"TLS_1_3"` (TLS 1.3 only), as API
    /// Gateway's security policies.
    pub security_policy: Option<Spanned<String>>,
    /// What a handshake for a name no domain covers gets: `"default"` (the default domain's
    /// certificate, the default) or `"refuse"` (an `unrecognized_name` alert).
    pub unknown_sni: Option<Spanned<String>>,
    /// Domain whose certificate answers unknown names (default: the first `[[domain]]`).
    pub default_domain: Option<Spanned<String>>,
}

/// `[[domain]]`: a custom domain name with its certificate and base path mappings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainModel {
    /// `api.example.com`, or a wildcard `*.example.com` covering one label.
    pub name: Spanned<String>,
    /// PEM certificate chain (leaf first), relative to the configuration folder.
    pub cert: Spanned<String>,
    /// PEM private key of the leaf certificate, relative to the configuration folder.
    pub key: Spanned<String>,
    /// PEM bundle of CAs trusted to sign client certificates; when set, clients must present
    /// a certificate they signed (mutual TLS).
    pub truststore: Option<Spanned<String>>,
    /// Base path mappings, `{ base_path = "v1", api = "petstore", stage = "prod" }`.
    #[serde(default)]
    pub mappings: Vec<MappingModel>,
}

/// One base path mapping: requests under `base_path` go to `(api, stage)`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingModel {
    /// `"/"` (or `""`) for the whole domain, else one or more path segments (`"v1"`).
    pub base_path: Spanned<String>,
    /// API id.
    pub api: Spanned<String>,
    /// Stage of that API.
    pub stage: Spanned<String>,
}

/// `[backend_tls]`: how the gateway connects to `https://` integration backends.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BackendTlsSection {
    /// PEM bundle of CAs trusted for backend certificates, relative to the configuration
    /// folder (default: the system's trusted CAs, as `SSL_CERT_FILE`/`SSL_CERT_DIR` or the
    /// distribution's bundle name them).
    pub ca_file: Option<Spanned<String>>,
    /// PEM certificate chain the gateway presents to backends that ask for one.
    pub client_cert: Option<Spanned<String>>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<Spanned<String>>,
    /// Settings for particular backend hosts (`[[backend_tls.hosts]]`); fields they leave out
    /// come from the section.
    #[serde(default)]
    pub hosts: Vec<BackendHostTls>,
}

/// `[[backend_tls.hosts]]`: TLS settings for one backend host name (or IP address).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendHostTls {
    /// Host as written in `https://` integration URIs.
    pub host: Spanned<String>,
    /// PEM bundle of CAs trusted for this host's certificate.
    pub ca_file: Option<Spanned<String>>,
    /// PEM certificate chain presented to this host.
    pub client_cert: Option<Spanned<String>>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<Spanned<String>>,
}

/// A file of `domains/` (next to `gateway.toml`): more `[[domain]]` entries, for operators who
/// keep each domain (or group of domains) in a file of its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainsFile {
    /// The domains of this file.
    #[serde(default)]
    pub domain: Vec<DomainModel>,
}
