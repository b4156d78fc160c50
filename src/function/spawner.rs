//! The node's worker-process thread: starts hosted-function workers, kills them, reaps them,
//! and forwards their stdout and stderr to the node's log. Shards send it [`Command`]s over a
//! channel and never wait for it; it reports a worker's exit to the worker's shard by calling
//! that worker's Runtime API port ([`EXITED_PATH`]), so the shard learns it in its own loop.
//!
//! Workers die with the node: each is started with `PR_SET_PDEATHSIG = SIGKILL` (tied to this
//! thread, which lives as long as the process), and the thread kills every worker when told to
//! shut down.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::spec::FunctionSpec;

/// The Runtime API path the spawner posts a worker's exit to (not part of AWS's API).
pub const EXITED_PATH: &str = "/tollgate/worker-exited";
/// How often exited children are looked for.
const REAP_EVERY: Duration = Duration::from_millis(20);

/// One worker of one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkerKey {
    /// The shard that owns the worker.
    pub shard: usize,
    /// Its number on that shard.
    pub id: u64,
}

/// What a shard asks of the spawner.
#[derive(Debug)]
pub enum Command {
    /// Start a worker whose Runtime API is at `runtime_api`.
    Start {
        key: WorkerKey,
        spec: Arc<FunctionSpec>,
        runtime_api: SocketAddr,
    },
    /// Kill a worker (past its deadline, or retired).
    Kill(WorkerKey),
    /// Kill every worker and end the thread.
    Shutdown,
}

/// The handle shards hold.
#[derive(Debug, Clone)]
pub struct Spawner {
    tx: Sender<Command>,
}

impl Spawner {
    /// Starts the thread.
    pub fn start() -> std::io::Result<Arc<Spawner>> {
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("tollgate-functions".into())
            .spawn(move || run(rx))?;
        Ok(Arc::new(Spawner { tx }))
    }

    /// Queues a command; never blocks (the channel is unbounded, the commands are rare).
    pub fn send(&self, command: Command) {
        let _ = self.tx.send(command);
    }
}

struct Running {
    child: Child,
    runtime_api: SocketAddr,
    function: Box<str>,
}

fn run(rx: Receiver<Command>) {
    let mut running: HashMap<WorkerKey, Running> = HashMap::new();
    loop {
        match rx.recv_timeout(REAP_EVERY) {
            Ok(Command::Start {
                key,
                spec,
                runtime_api,
            }) => match start(&spec, runtime_api) {
                Ok(child) => {
                    let function = spec.name.clone();
                    running.insert(
                        key,
                        Running {
                            child,
                            runtime_api,
                            function,
                        },
                    );
                }
                Err(e) => {
                    tracing::error!(function = %spec.name, "cannot start worker {:?}: {e}", spec.command);
                    notify(runtime_api, &format!("could not start: {e}"));
                }
            },
            Ok(Command::Kill(key)) => {
                if let Some(r) = running.get_mut(&key) {
                    let _ = r.child.kill();
                }
            }
            Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                for r in running.values_mut() {
                    let _ = r.child.kill();
                    let _ = r.child.wait();
                }
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        reap(&mut running);
    }
}

/// Reports every worker that exited to its shard.
fn reap(running: &mut HashMap<WorkerKey, Running>) {
    let exited: Vec<(WorkerKey, String)> = running
        .iter_mut()
        .filter_map(|(key, r)| match r.child.try_wait() {
            Ok(Some(status)) => Some((*key, status.to_string())),
            Ok(None) => None,
            Err(e) => Some((*key, format!("lost: {e}"))),
        })
        .collect();
    for (key, status) in exited {
        if let Some(r) = running.remove(&key) {
            tracing::info!(function = %r.function, worker = key.id, shard = key.shard, "worker exited ({status})");
            notify(r.runtime_api, &status);
        }
    }
}

/// Starts one worker process with Lambda's environment.
fn start(spec: &FunctionSpec, runtime_api: SocketAddr) -> std::io::Result<Child> {
    let Some((program, args)) = spec.command.split_first() else {
        return Err(std::io::Error::other("empty command"));
    };
    let mut cmd = Process::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = &spec.working_dir {
        cmd.current_dir(dir);
    }
    let task_root = spec
        .working_dir
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    // Lambda's reserved environment variables (Lambda developer guide, "Defined runtime
    // environment variables").
    cmd.env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &*spec.name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        )
        .env("AWS_REGION", &*spec.region)
        .env("AWS_DEFAULT_REGION", &*spec.region)
        .env("LAMBDA_TASK_ROOT", &task_root)
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        )
        .env("AWS_EXECUTION_ENV", "tollgate");
    // The node's own supervisor protocol is not the worker's.
    for name in crate::systemd::PROTOCOL_ENV {
        cmd.env_remove(name);
    }
    if let Some(handler) = &spec.handler {
        cmd.env("_HANDLER", &**handler);
    }
    for (k, v) in spec.env.iter() {
        cmd.env(k, v);
    }
    let memory = u64::from(spec.memory_mb) * 1024 * 1024;
    // SAFETY: the closure runs in the child between fork and exec and only calls
    // async-signal-safe functions (close_range, fcntl, setrlimit, prctl).
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            // No client connection of the node's may stay open in a worker.
            crate::lifecycle::close_on_exec_except(&[])?;
            let limit = libc::rlimit {
                rlim_cur: memory,
                rlim_max: memory,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    if let Some(out) = child.stdout.take() {
        forward(out, &spec.name, "stdout");
    }
    if let Some(err) = child.stderr.take() {
        forward(err, &spec.name, "stderr");
    }
    Ok(child)
}

/// Copies a worker's output into the node's log, line by line, on a thread of its own.
fn forward(pipe: impl Read + Send + 'static, function: &str, stream: &'static str) {
    let function: Box<str> = function.into();
    let _ = std::thread::Builder::new()
        .name(format!("fn-{stream}"))
        .spawn(move || {
            for line in BufReader::new(pipe).lines() {
                match line {
                    Ok(line) => tracing::info!(function = %function, stream, "{line}"),
                    Err(_) => return,
                }
            }
        });
}

/// Tells the shard owning the worker at `runtime_api` that it exited.
fn notify(runtime_api: SocketAddr, status: &str) {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&runtime_api, Duration::from_secs(1))
    else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let request = format!(
        "POST {EXITED_PATH} HTTP/1.1\r\nHost: tollgate\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{status}",
        status.len()
    );
    if s.write_all(request.as_bytes()).is_ok() {
        let mut answer = [0u8; 256];
        let _ = s.read(&mut answer);
    }
}
