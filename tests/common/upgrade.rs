//! Binary upgrades as a test sees them: `SIGUSR2` to the serving process, its successor's pid
//! from the log, and load clients that keep requests going through the hand-over and record
//! every request that did not get its answer.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Gateway, Parsed, Response, IO_TIMEOUT, LOG_TIMEOUT};

/// A process that took over from the gateway the test started (it is not the test's child).
/// Dropping it stops it.
pub struct Successor {
    pub pid: u32,
}

impl Successor {
    /// Whether the process still runs.
    pub fn alive(&self) -> bool {
        alive(self.pid)
    }
}

impl Drop for Successor {
    fn drop(&mut self) {
        if !alive(self.pid) {
            return;
        }
        signal(self.pid, libc::SIGTERM);
        if !wait_gone(self.pid, Duration::from_secs(10)) {
            signal(self.pid, libc::SIGKILL);
        }
    }
}

/// Whether `pid` runs (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits up to `timeout` for `pid` to be gone.
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

/// Sends SIGUSR2 to `pid` (the gateway or an earlier successor, whose logs all reach `gw`)
/// and waits for the outcome: the new process, or the refusal line. Panics, with the logs, if
/// neither is logged in time.
fn signal_upgrade(gw: &Gateway, pid: u32) -> Result<Successor, String> {
    let from = gw.log_len();
    signal(pid, libc::SIGUSR2);
    let outcome = gw.wait_for_any_log(
        from,
        &["serves on the same listeners", "upgrade refused"],
        LOG_TIMEOUT * 3,
    );
    let Some((_, line)) = outcome else {
        panic!("no upgrade outcome for pid {pid}\n{}", gw.logs_text());
    };
    if line.contains("upgrade refused") {
        return Err(line);
    }
    let pid = super::number_after(&line, "new_pid=")
        .unwrap_or_else(|| panic!("no new_pid= in {line:?}")) as u32;
    Ok(Successor { pid })
}

/// [`signal_upgrade`] that must hand over; returns the new process.
pub fn upgrade(gw: &Gateway, pid: u32) -> Successor {
    signal_upgrade(gw, pid).unwrap_or_else(|refusal| {
        panic!(
            "upgrade of pid {pid} was refused: {refusal}\n{}",
            gw.logs_text()
        )
    })
}

/// [`signal_upgrade`] that must be refused; returns the refusal line.
pub fn refused_upgrade(gw: &Gateway, pid: u32) -> String {
    match signal_upgrade(gw, pid) {
        Err(refusal) => refusal,
        Ok(next) => panic!(
            "upgrade of pid {pid} handed over to {} instead of being refused\n{}",
            next.pid,
            gw.logs_text()
        ),
    }
}

/// Waits until `needle` has been logged `n` times (at most [`LOG_TIMEOUT`]); false if not.
pub fn wait_for_count(gw: &Gateway, needle: &str, n: usize) -> bool {
    let deadline = Instant::now() + LOG_TIMEOUT;
    while gw.logs_text().matches(needle).count() < n {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
    true
}

/// What the load clients saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Answers with the expected status and body, per client kind.
    pub http1_keep_alive: u64,
    pub http1_new_connection: u64,
    pub h2: u64,
    /// Every request that did not get its expected answer, with what happened instead.
    pub failures: Vec<String>,
}

/// Clients sending requests in a loop until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<LoadReport>>,
    threads: Vec<JoinHandle<()>>,
}

/// What each client asks for and expects back.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub path: String,
    pub body: String,
}

impl Load {
    /// Starts `keep_alive` HTTP/1.1 clients that reuse their connection (and open a new one
    /// when told `Connection: close`), `fresh` that open a connection per request, and `h2`
    /// h2c clients that open a new connection when the old one sends GOAWAY.
    pub fn start(target: &Target, keep_alive: usize, fresh: usize, h2: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(LoadReport::default()));
        let mut threads = Vec::new();
        for i in 0..keep_alive + fresh {
            let (target, stop, report) = (target.clone(), Arc::clone(&stop), Arc::clone(&report));
            threads.push(thread::spawn(move || {
                http1_client(&target, i < keep_alive, &stop, &report)
            }));
        }
        for _ in 0..h2 {
            let (target, stop, report) = (target.clone(), Arc::clone(&stop), Arc::clone(&report));
            threads.push(thread::spawn(move || h2_client(&target, &stop, &report)));
        }
        Load {
            stop,
            report,
            threads,
        }
    }

    /// Answers so far, all kinds together.
    pub fn answered(&self) -> u64 {
        let r = self.report.lock().unwrap();
        r.http1_keep_alive + r.http1_new_connection + r.h2
    }

    /// Waits until `n` more answers than now have come (at most [`LOG_TIMEOUT`]).
    pub fn wait_more(&self, n: u64) -> bool {
        let target = self.answered() + n;
        let deadline = Instant::now() + LOG_TIMEOUT;
        while self.answered() < target {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Stops the clients (each finishes its request) and returns what they saw.
    pub fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::Release);
        for t in self.threads {
            t.join().expect("load client panicked");
        }
        std::mem::take(&mut *self.report.lock().unwrap())
    }
}

fn http1_client(target: &Target, keep_alive: bool, stop: &AtomicBool, report: &Mutex<LoadReport>) {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: upgrade.test\r\n{}\r\n",
        target.path,
        if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        }
    );
    let mut conn: Option<(TcpStream, Vec<u8>)> = None;
    while !stop.load(Ordering::Acquire) {
        let (stream, buf) = match &mut conn {
            Some(c) => c,
            None => match TcpStream::connect(target.addr) {
                Ok(s) => {
                    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    conn.insert((s, Vec::new()))
                }
                Err(e) => {
                    fail(report, format!("connect: {e}"));
                    thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        match exchange(stream, buf, request.as_bytes()) {
            Ok(resp) => {
                let mut r = report.lock().unwrap();
                if resp.status == 200 && resp.body_str() == target.body {
                    if keep_alive {
                        r.http1_keep_alive += 1;
                    } else {
                        r.http1_new_connection += 1;
                    }
                } else {
                    r.failures.push(format!(
                        "HTTP/1.1 answer {} {:?}",
                        resp.status,
                        resp.body_str()
                    ));
                }
                if !keep_alive || resp.connection_has("close") {
                    conn = None;
                }
            }
            Err(e) => {
                fail(report, format!("HTTP/1.1 (keep-alive {keep_alive}): {e}"));
                conn = None;
            }
        }
    }
}

/// Records a request that did not get its expected answer.
fn fail(report: &Mutex<LoadReport>, what: impl Into<String>) {
    report.lock().unwrap().failures.push(what.into());
}

/// Writes one request and reads its response.
fn exchange(stream: &mut TcpStream, buf: &mut Vec<u8>, request: &[u8]) -> Result<Response, String> {
    stream
        .write_all(request)
        .map_err(|e| format!("write: {e}"))?;
    let mut chunk = [0u8; 16 * 1024];
    let mut eof = false;
    loop {
        match Response::parse_partial(buf, false, eof) {
            Parsed::Complete(resp, used) => {
                buf.drain(..used);
                return Ok(resp);
            }
            Parsed::Invalid(e) => return Err(format!("invalid response: {e}")),
            Parsed::Partial if eof => {
                return Err(format!(
                    "closed before a whole response ({} bytes)",
                    buf.len()
                ))
            }
            Parsed::Partial => {}
        }
        match stream.read(&mut chunk) {
            Ok(0) => eof = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// One h2c connection at a time, one stream at a time. A request the server never took
/// (refused before it was sent, or above the GOAWAY's last stream id: RFC 9113 §6.8 says
/// such a request was not processed and may be retried) is sent again on a new connection;
/// any other error is a failure.
fn h2_client(target: &Target, stop: &AtomicBool, report: &Mutex<LoadReport>) {
    let rt = super::h2::runtime();
    rt.block_on(async {
        let mut send: Option<h2::client::SendRequest<bytes::Bytes>> = None;
        while !stop.load(Ordering::Acquire) {
            let conn = match &mut send {
                Some(s) => s,
                None => match tokio::net::TcpStream::connect(target.addr).await {
                    Ok(tcp) => match h2::client::handshake(tcp).await {
                        Ok((s, connection)) => {
                            tokio::spawn(async move {
                                let _ = connection.await;
                            });
                            send.insert(s)
                        }
                        Err(e) => {
                            fail(report, format!("h2 handshake: {e}"));
                            continue;
                        }
                    },
                    Err(e) => {
                        fail(report, format!("h2 connect: {e}"));
                        continue;
                    }
                },
            };
            let mut ready = match conn.clone().ready().await {
                Ok(r) => r,
                Err(_) => {
                    send = None;
                    continue;
                }
            };
            let req = http::Request::get(format!("http://upgrade.test{}", target.path))
                .body(())
                .unwrap();
            let Ok((resp, _)) = ready.send_request(req, true) else {
                send = None;
                continue;
            };
            let outcome = tokio::time::timeout(IO_TIMEOUT, async {
                let resp = resp.await?;
                let status = resp.status().as_u16();
                let mut body = resp.into_body();
                let mut bytes = Vec::new();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk?;
                    let _ = body.flow_control().release_capacity(chunk.len());
                    bytes.extend_from_slice(&chunk);
                }
                Ok::<_, h2::Error>((status, bytes))
            })
            .await;
            match outcome {
                Ok(Ok((200, body))) if body == target.body.as_bytes() => {
                    report.lock().unwrap().h2 += 1
                }
                Ok(Ok((status, body))) => fail(
                    report,
                    format!("h2 answer {status} {:?}", String::from_utf8_lossy(&body)),
                ),
                Ok(Err(e)) if unprocessed(&e) => send = None,
                Ok(Err(e)) => {
                    report
                        .lock()
                        .unwrap()
                        .failures
                        .push(format!("h2 stream: {e}"));
                    send = None;
                }
                Err(_) => {
                    fail(report, "h2 stream timed out");
                    send = None;
                }
            }
        }
    });
}

/// Whether an h2 error says the server never processed the stream.
fn unprocessed(e: &h2::Error) -> bool {
    e.reason() == Some(h2::Reason::REFUSED_STREAM)
        || (e.is_go_away() && e.reason() == Some(h2::Reason::NO_ERROR))
}
