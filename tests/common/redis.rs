//! A real `redis-server` on a loopback port for cluster-mode tests: started per test with no
//! persistence, stopped (SIGKILL) and started again on the same port to play a Redis outage
//! and a restart that lost everything; on TLS only, or as a replica; and a real Redis
//! Sentinel (`redis-server --sentinel`) watching a master, for failovers.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) Redis server on a fixed loopback port.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    password: Option<String>,
    /// An ACL user and its password (the URL names them).
    user: Option<(String, String)>,
    /// More `redis-server` arguments (TLS files, `--replicaof`, ACL users).
    extra: Vec<String>,
    /// Serves TLS only (`--tls-port`, `--port 0`).
    tls: bool,
    /// Its working directory (a replica writes its copy there): never the repository.
    dir: tempfile::TempDir,
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl RedisServer {
    /// Starts a server on a free port; panics (naming the package) without `redis-server`.
    pub fn start() -> RedisServer {
        Self::start_with_password(None)
    }

    /// Starts a server that requires `password` (`requirepass`, the default user's).
    pub fn start_with_password(password: Option<&str>) -> RedisServer {
        Self::start_with(password, Vec::new(), false)
    }

    /// Starts a server serving TLS only, with the certificate and key files given, requiring
    /// client certificates signed by the CA file.
    pub fn start_tls(cert: &Path, key: &Path, ca: &Path) -> RedisServer {
        let files = [
            ("--tls-cert-file", cert),
            ("--tls-key-file", key),
            ("--tls-ca-cert-file", ca),
        ];
        let mut extra: Vec<String> = files
            .iter()
            .flat_map(|(flag, path)| [flag.to_string(), path.display().to_string()])
            .collect();
        extra.extend(["--tls-auth-clients".into(), "yes".into()]);
        Self::start_with(None, extra, true)
    }

    /// Starts a server whose default user is off and whose only user, `user` with
    /// `password`, may touch only keys and channels under `prefix` (Redis 6+ ACLs).
    pub fn start_with_acl_user(user: &str, password: &str, prefix: &str) -> RedisServer {
        // One argument per word: redis-server quotes an argument holding a space, which
        // would make it one (invalid) user name.
        let extra = [
            "--user",
            "default",
            "off",
            "--user",
            user,
            "on",
            &format!(">{password}"),
            &format!("~{prefix}*"),
            &format!("&{prefix}*"),
            "+@all",
        ]
        .map(str::to_string)
        .to_vec();
        let mut server = RedisServer {
            port: free_port(),
            child: None,
            password: None,
            user: Some((user.to_string(), password.to_string())),
            extra,
            tls: false,
            dir: tempfile::tempdir().expect("redis dir"),
        };
        server.restart();
        server
    }

    /// Starts a replica of `master`.
    pub fn start_replica_of(master: &RedisServer) -> RedisServer {
        let extra = vec![
            "--replicaof".into(),
            "127.0.0.1".into(),
            master.port.to_string(),
        ];
        Self::start_with(None, extra, false)
    }

    fn start_with(password: Option<&str>, extra: Vec<String>, tls: bool) -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            child: None,
            password: password.map(str::to_string),
            user: None,
            extra,
            tls,
            dir: tempfile::tempdir().expect("redis dir"),
        };
        server.restart();
        server
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`, with the password when the server requires one.
    pub fn url(&self) -> String {
        if let Some((user, password)) = &self.user {
            return format!("redis://{user}:{password}@127.0.0.1:{}", self.port);
        }
        match &self.password {
            Some(p) => self.url_with_password(p),
            None if self.tls => format!("rediss://127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// `redis://:{password}@127.0.0.1:PORT`.
    pub fn url_with_password(&self, password: &str) -> String {
        format!("redis://:{password}@127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on its port, empty, and waits until it answers `PING`.
    pub fn restart(&mut self) {
        self.stop();
        let mut cmd = Command::new("redis-server");
        let port = self.port.to_string();
        if self.tls {
            cmd.args(["--port", "0", "--tls-port", &port]);
        } else {
            cmd.args(["--port", &port]);
        }
        cmd.args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            // Replicas get their first copy at once, not after Redis's 5 s wait for others.
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra);
        if let Some(p) = &self.password {
            cmd.args(["--requirepass", p]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) must be installed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
            if self.tls && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if self
                .command(&["PING"])
                // A server requiring a password answers an error (-NOAUTH, or -NOPERM with
                // its default user off): it is up all the same.
                .is_some_and(|r| r.starts_with("+PONG") || r.starts_with('-'))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    /// Sends one command (RESP array of bulk strings) and returns the raw first reply line.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        use std::io::{BufRead, BufReader, Write};
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).ok()?;
        Some(line)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Sentinel on a loopback port watching `master` as `mymaster` (quorum 1, down
/// after 300 ms), so that killing the master promotes its replica within a few seconds.
pub struct Sentinel {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Sentinel {
    /// Starts a sentinel for `master` once `replicas` replicas are in sync with it (a
    /// sentinel learns replicas from the master's `INFO`).
    pub fn watch(master: &RedisServer, replicas: usize) -> Sentinel {
        let deadline = Instant::now() + Duration::from_secs(20);
        // Online, not just connected: a replica still waiting for its first full copy
        // would be promoted empty.
        while master.info_replication().matches("state=online").count() < replicas {
            assert!(
                Instant::now() < deadline,
                "replicas never synced: {}",
                master.info_replication()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let dir = tempfile::tempdir().expect("sentinel dir");
        let conf: PathBuf = dir.path().join("sentinel.conf");
        let port = free_port();
        let text = format!(
            "port {port}\nbind 127.0.0.1\nprotected-mode no\n\
             sentinel monitor mymaster 127.0.0.1 {} 1\n\
             sentinel down-after-milliseconds mymaster 300\n\
             sentinel failover-timeout mymaster 2000\n",
            master.port
        );
        std::fs::write(&conf, text).expect("write sentinel.conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server --sentinel");
        let sentinel = Sentinel {
            port,
            child,
            _dir: dir,
        };
        while sentinel.replicas() < replicas {
            assert!(
                Instant::now() < deadline,
                "the sentinel never saw the replicas"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sentinel
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Replicas of `mymaster` the sentinel knows.
    fn replicas(&self) -> usize {
        redis_cli(self.port, &["SENTINEL", "replicas", "mymaster"])
            .lines()
            .filter(|l| *l == "name")
            .count()
    }

    /// The port of the server the sentinel names as master.
    pub fn master_port(&self) -> Option<u16> {
        let out = redis_cli(
            self.port,
            &["SENTINEL", "get-master-addr-by-name", "mymaster"],
        );
        out.lines().nth(1)?.trim().parse().ok()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RedisServer {
    /// `INFO replication`, as text.
    pub fn info_replication(&self) -> String {
        redis_cli(self.port, &["INFO", "replication"])
    }
}

/// Runs `redis-cli -p PORT ARGS...` (Debian's redis-tools, beside redis-server) and returns
/// its output, empty on failure.
fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The `[cluster]` lines of a node of `redis`'s fleet.
pub fn cluster_section(redis: &RedisServer, node_id: &str) -> String {
    format!(
        "[cluster]\nnode_id = \"{node_id}\"\nredis = \"{}\"\nkey_prefix = \"test:\"\n",
        redis.url()
    )
}

/// Waits until the node sees Redis and `nodes` live nodes.
pub fn joined(gw: &super::Gateway, nodes: u64) -> super::metrics::Scrape {
    use super::metrics::scrape_when;
    let m = scrape_when(gw, |m| {
        m.count("tollgate_cluster_redis_up", &[]) == 1
            && m.count("tollgate_cluster_nodes", &[]) == nodes
    });
    assert_eq!(m.count("tollgate_cluster_redis_up", &[]), 1, "{}", m.text);
    assert_eq!(m.count("tollgate_cluster_nodes", &[]), nodes, "{}", m.text);
    m
}
