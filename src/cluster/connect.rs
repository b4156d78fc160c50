//! Connections to the fleet's Redis: one server named by a URL (`redis://`, or `rediss://`
//! for TLS with the configured CA and client certificate), or the master that Redis
//! Sentinel names, found again after every failure so that a failover is followed.
//!
//! Sentinel discovery follows Redis's guidelines for Sentinel clients
//! (<https://redis.io/docs/latest/develop/reference/sentinel-clients/>): ask each sentinel
//! in turn `SENTINEL get-master-addr-by-name`, take the first answer, connect, and check with
//! `ROLE` that the server really is a master (a sentinel may answer from before a failover).
//! It is written here on the `redis` crate's connections, not with the crate's own Sentinel
//! client, because every connect, read and write here must have a timeout (a slow Redis is a
//! failed Redis) and the crate's sentinel queries have none.

use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use super::ClusterSettings;

/// Longest wait for a connection or an answer: a slow Redis is a failed Redis.
pub const IO_TIMEOUT: Duration = Duration::from_millis(250);

/// Why no connection to the fleet's Redis could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server (or a sentinel) refused, failed or timed out.
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    /// No sentinel named a master.
    #[error("no sentinel named a master for `{master}` ({why})")]
    NoMaster {
        /// The master's name.
        master: String,
        /// The last sentinel's failure.
        why: String,
    },
    /// The server a sentinel named is not (or no longer) the master.
    #[error("{addr}, named by the sentinels as master `{master}`, is a {role}")]
    NotMaster {
        /// The master's name.
        master: String,
        /// Where the sentinels pointed.
        addr: String,
        /// What `ROLE` said it is.
        role: String,
    },
}

/// A connection to the fleet's Redis (the master, with Sentinel), with a timeout on the
/// connect and on every read and write: the worker's, the subscriber's and the usage
/// report's (a Redis that accepts and never answers must not hold a thread that shutdown
/// joins).
pub fn open(settings: &ClusterSettings) -> Result<redis::Connection, ConnectError> {
    open_master(settings).map(|(conn, _)| conn)
}

/// A connection to the server at `host:port`, which must say it is the master.
fn master_at(
    host: &str,
    port: u16,
    settings: &ClusterSettings,
) -> Result<redis::Connection, ConnectError> {
    // Without a `redis` URL the master is spoken to as the sentinels are: TLS if they use it
    // (credentials must not go out in the clear because no template was given).
    let template = if settings.redis.is_empty() {
        let tls = settings
            .sentinels
            .iter()
            .any(|u| u.starts_with("rediss://"));
        let scheme = if tls { "rediss" } else { "redis" };
        // The address is set below; this only carries the scheme.
        format!("{scheme}://127.0.0.1").into_connection_info()?
    } else {
        settings.redis.as_str().into_connection_info()?
    };
    let addr = match template.addr() {
        ConnectionAddr::TcpTls { insecure, .. } => ConnectionAddr::TcpTls {
            host: host.to_string(),
            port,
            insecure: *insecure,
            tls_params: None,
        },
        _ => ConnectionAddr::Tcp(host.to_string(), port),
    };
    let mut conn = dial(template.set_addr(addr), settings)?;
    let role = role(&mut conn)?;
    if role != "master" {
        return Err(ConnectError::NotMaster {
            master: settings.sentinel_master.clone(),
            addr: format!("{host}:{port}"),
            role,
        });
    }
    Ok(conn)
}

/// Whether the sentinels still name `connected` as the master (checked with each
/// heartbeat: a master cut off from the sentinels keeps answering the nodes that reach it,
/// and writing there while the others write to the new master would split the books).
/// An unanswered question is no answer: the connection is kept.
///
/// Any sentinel naming it is enough: one that has not seen the failover yet (and names a
/// server the node could not use, so `open_master` skipped its answer) must not make every
/// heartbeat drop the connection. A sentinel that drops packets costs its connect timeout.
pub fn still_master(settings: &ClusterSettings, connected: &(String, u16)) -> bool {
    let mut contradicted = false;
    for url in &settings.sentinels {
        match ask_sentinel(url, settings) {
            Ok(named) if &named == connected => return true,
            Ok(_) => contradicted = true,
            Err(_) => {}
        }
    }
    !contradicted
}

/// A connection to the master and, with Sentinel, where it is. Each sentinel is asked in
/// turn: one that names a server that is gone or no longer the master (it has not seen the
/// failover yet) must not keep the node from the others' answer.
pub fn open_master(
    settings: &ClusterSettings,
) -> Result<(redis::Connection, Option<(String, u16)>), ConnectError> {
    if settings.sentinels.is_empty() {
        let info = settings.redis.as_str().into_connection_info()?;
        return Ok((dial(info, settings)?, None));
    }
    let mut last = None;
    for sentinel in &settings.sentinels {
        match ask_sentinel(sentinel, settings)
            .and_then(|(host, port)| Ok((master_at(&host, port, settings)?, (host, port))))
        {
            Ok((conn, at)) => return Ok((conn, Some(at))),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| ConnectError::NoMaster {
        master: settings.sentinel_master.clone(),
        why: "no sentinel configured".into(),
    }))
}

/// Connects to `info`, with the configured certificates when it is a TLS address.
fn dial(
    info: ConnectionInfo,
    settings: &ClusterSettings,
) -> Result<redis::Connection, ConnectError> {
    let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
    let client = match (&settings.tls, tls) {
        (Some(certs), true) => redis::Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls: certs
                    .client
                    .as_ref()
                    .map(|(cert, key)| redis::ClientTlsConfig {
                        client_cert: cert.clone(),
                        client_key: key.clone(),
                    }),
                root_cert: certs.root_cert.clone(),
            },
        )?,
        _ => redis::Client::open(info)?,
    };
    let conn = client.get_connection_with_timeout(IO_TIMEOUT)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(conn)
}

/// One sentinel's answer to `SENTINEL get-master-addr-by-name`.
fn ask_sentinel(url: &str, settings: &ClusterSettings) -> Result<(String, u16), ConnectError> {
    let no_master = |why: String| ConnectError::NoMaster {
        master: settings.sentinel_master.clone(),
        why,
    };
    let mut conn = dial(url.into_connection_info()?, settings)?;
    let named: Option<(String, String)> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(&settings.sentinel_master)
        .query(&mut conn)?;
    let (host, port) = named.ok_or_else(|| no_master("a sentinel does not know it".into()))?;
    let port = port
        .parse()
        .map_err(|_| no_master(format!("a sentinel answered port `{port}`")))?;
    Ok((host, port))
}

/// The first element of `ROLE`'s answer: `master`, `slave` or `sentinel`.
fn role(conn: &mut redis::Connection) -> Result<String, ConnectError> {
    let answer: Vec<redis::Value> = redis::cmd("ROLE").query(conn)?;
    Ok(match answer.first() {
        Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(redis::Value::SimpleString(s)) => s.clone(),
        _ => "server of unknown role".into(),
    })
}
