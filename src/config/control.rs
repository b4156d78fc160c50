//! `[control]` of `gateway.toml`: the administrator credentials the `apigateway` API on the
//! admin listener verifies SigV4 signatures against, and the embedded store that keeps what
//! that API creates.
//!
//! ```toml
//! [control]
//! access_key_id = "AKIDTOLLGATEADMIN"
//! secret_access_key = "..."
//! store = "control.redb"      # relative to this folder (the default)
//! audit_log = "control-audit.log"   # every state-changing call, as JSON lines
//! ```
//!
//! Without credentials the `apigateway` API refuses every call (AWS's 403
//! `UnrecognizedClientException`, as for a key AWS does not know), and `server.admin` must be
//! a loopback address: an unauthenticated admin listener is only safe where no one else can
//! reach it. Read at start; changes need a restart.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::error::Sink;
use super::load::Source;
use super::model::GatewayFile;

/// The example configuration's secret (`config/gateway.toml`), refused off loopback.
const EXAMPLE_SECRET: &str = "example-secret-change-me";

/// The store's file name when `control.store` is absent.
pub const DEFAULT_STORE: &str = "control.redb";
/// The audit log's file name when `control.audit_log` is absent.
pub const DEFAULT_AUDIT_LOG: &str = "control-audit.log";

/// `[control]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// The administrator's access key id.
    pub access_key_id: Option<Spanned<String>>,
    /// Its secret.
    pub secret_access_key: Option<Spanned<String>>,
    /// The redb file holding APIs created through the `apigateway` API.
    pub store: Option<Spanned<String>>,
    /// The audit log (JSON lines, CloudTrail's record shape) of every call that changes
    /// state; default `control-audit.log` beside this file.
    pub audit_log: Option<Spanned<String>>,
}

impl fmt::Debug for ControlSection {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControlSection")
            .field("access_key_id", &self.access_key_id)
            .field("store", &self.store)
            .field("audit_log", &self.audit_log)
            .finish_non_exhaustive()
    }
}

/// The administrator's key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl fmt::Debug for AdminCredentials {
    /// Never prints the secret (settings are logged when a restart is needed).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// `[control]`, checked and resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ControlSettings {
    /// `None`: every `apigateway` call is refused.
    pub credentials: Option<AdminCredentials>,
    /// The store's path (resolved against the configuration folder).
    pub store: PathBuf,
    /// The audit log's path (resolved likewise).
    pub audit_log: PathBuf,
}

/// What the control plane needs before the configuration is loaded (its APIs compile with
/// the files, and files may refer to them: `default_api`, usage plans): `[control]`'s store
/// and key, and `[lambda] account_id`, read from `dir/gateway.toml` as written. The full
/// load checks and reports the same settings; here a value it would refuse is taken as
/// absent.
pub fn peek(dir: &Path) -> (ControlSettings, String) {
    let text = std::fs::read_to_string(dir.join(super::load::GATEWAY_FILE)).unwrap_or_default();
    let value: toml::Value =
        toml::from_str(&text).unwrap_or(toml::Value::Table(Default::default()));
    let control = value.get("control");
    let field = |name: &str| {
        control
            .and_then(|c| c.get(name)?.as_str())
            .filter(|s| !s.is_empty())
    };
    let credentials = match (field("access_key_id"), field("secret_access_key")) {
        (Some(id), Some(secret)) => Some(AdminCredentials {
            access_key_id: id.to_string(),
            secret_access_key: secret.to_string(),
        }),
        _ => None,
    };
    let settings = ControlSettings {
        credentials,
        store: dir.join(field("store").unwrap_or(DEFAULT_STORE)),
        audit_log: dir.join(field("audit_log").unwrap_or(DEFAULT_AUDIT_LOG)),
    };
    let account = value
        .get("lambda")
        .and_then(|l| l.get("account_id")?.as_str())
        .unwrap_or(super::lambda::DEFAULT_ACCOUNT)
        .to_string();
    (settings, account)
}

/// Reads `[control]`; `admin` is the admin listener's address, which must be loopback when no
/// credentials are configured.
pub(crate) fn section(
    dir: &Path,
    g: Option<&Source<GatewayFile>>,
    admin: Option<std::net::SocketAddr>,
    sink: &mut Sink,
) -> ControlSettings {
    let mut settings = ControlSettings {
        credentials: None,
        store: dir.join(DEFAULT_STORE),
        audit_log: dir.join(DEFAULT_AUDIT_LOG),
    };
    let Some(g) = g else {
        return settings;
    };
    let c = &g.model.control;
    if let Some(store) = &c.store {
        if store.get_ref().is_empty() {
            sink.at(
                &g.path,
                g.line(store),
                "control.store",
                "must be a file path",
            );
        }
        settings.store = dir.join(store.get_ref());
    }
    if let Some(log) = &c.audit_log {
        if log.get_ref().is_empty() {
            sink.at(
                &g.path,
                g.line(log),
                "control.audit_log",
                "must be a file path",
            );
        }
        settings.audit_log = dir.join(log.get_ref());
    }
    match (&c.access_key_id, &c.secret_access_key) {
        (Some(id), Some(secret)) => {
            let off_loopback = admin.is_some_and(|a| !a.ip().is_loopback());
            if off_loopback && secret.get_ref() == EXAMPLE_SECRET {
                let message = "the example configuration's secret is public: set your own before the admin listener leaves loopback";
                sink.at(
                    &g.path,
                    g.line(secret),
                    "control.secret_access_key",
                    message,
                );
            }
            let id_ok =
                !id.get_ref().is_empty() && id.get_ref().bytes().all(|b| b.is_ascii_alphanumeric());
            if !id_ok {
                let message = "must be letters and digits, as AWS access key ids are";
                sink.at(&g.path, g.line(id), "control.access_key_id", message);
            }
            if secret.get_ref().is_empty() {
                let message = "must not be empty";
                sink.at(
                    &g.path,
                    g.line(secret),
                    "control.secret_access_key",
                    message,
                );
            }
            settings.credentials = Some(AdminCredentials {
                access_key_id: id.get_ref().clone(),
                secret_access_key: secret.get_ref().clone(),
            });
        }
        (Some(at), None) => {
            let message = "needs `control.secret_access_key` too";
            sink.at(&g.path, g.line(at), "control.access_key_id", message);
        }
        (None, Some(at)) => {
            let message = "needs `control.access_key_id` too";
            sink.at(&g.path, g.line(at), "control.secret_access_key", message);
        }
        (None, None) => {
            if let (Some(addr), Some(at)) = (admin, &g.model.server.admin) {
                if !addr.ip().is_loopback() {
                    let message = format!(
                        "`{addr}` is not a loopback address: an admin listener reachable from other machines needs `[control]` access_key_id and secret_access_key"
                    );
                    sink.at(&g.path, g.line(at), "server.admin", message);
                }
            }
        }
    }
    settings
}
