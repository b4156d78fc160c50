//! A real `redis-server` on a loopback port for cluster-mode tests: started per test with no
//! persistence, stopped (SIGKILL) and started again on the same port to play a Redis outage
//! and a restart that lost everything.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) Redis server on a fixed loopback port.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    password: Option<String>,
}

impl RedisServer {
    /// Starts a server on a free port; panics (naming the package) without `redis-server`.
    pub fn start() -> RedisServer {
        Self::start_with_password(None)
    }

    /// Starts a server that requires `password` (`requirepass`, the default user's).
    pub fn start_with_password(password: Option<&str>) -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let mut server = RedisServer {
            port,
            child: None,
            password: password.map(str::to_string),
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:PORT`, with the password when the server requires one.
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => self.url_with_password(p),
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
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"]);
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
            if self
                .command(&["PING"])
                // A server requiring a password answers -NOAUTH: it is up all the same.
                .is_some_and(|r| r.starts_with("+PONG") || r.starts_with("-NOAUTH"))
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
