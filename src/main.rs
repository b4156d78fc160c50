//! The `tollgate` command: run the gateway, or check a configuration directory.

use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: tollgate::alloc::Allocator = tollgate::alloc::Allocator;

const USAGE: &str = "\
usage:
  tollgate [--config DIR]    run the gateway on DIR (default: config)
  tollgate --check DIR       validate DIR and exit 0 (valid) or 1 (invalid)
  tollgate keys import FILE [--config DIR]
                             add the API keys of a CSV file (Name,Key,Enabled,Description,
                             UsagePlanIds) to DIR/api_keys/; all rows or none; apply with SIGHUP
  tollgate export OUT [--config DIR]
                             write the APIs made through the apigateway API as API files
                             under OUT/apis/
  tollgate import FILE       print an OpenAPI document (with API Gateway's extensions) as an API
                             file; or put FILE (.yaml/.yml/.json) in apis/ as it is
  tollgate --version

signals: HUP reloads the configuration, USR1 reopens access logs, USR2 upgrades to the
binary file as it is now without dropping a connection, TERM/INT drain and stop
";

/// What the command line asks for.
enum Command {
    Run(PathBuf),
    Check(PathBuf),
    ImportKeys { csv: PathBuf, dir: PathBuf },
    ImportOpenApi(PathBuf),
    Export { dir: PathBuf, out: PathBuf },
    Version,
    Help,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut command = Command::Run(PathBuf::from("config"));
    let mut args = args.peekable();
    if args.peek().map(String::as_str) == Some("keys") {
        return parse_keys_args(args.skip(1));
    }
    if args.peek().map(String::as_str) == Some("export") {
        let mut dir = PathBuf::from("config");
        let mut out = None;
        let mut rest = args.skip(1);
        while let Some(arg) = rest.next() {
            match arg.as_str() {
                "--config" | "-c" => dir = rest.next().ok_or("--config needs a directory")?.into(),
                other if out.is_none() => out = Some(PathBuf::from(other)),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        let out = out.ok_or("export needs an output directory")?;
        return Ok(Command::Export { dir, out });
    }
    if args.peek().map(String::as_str) == Some("import") {
        let file = args.nth(1).ok_or("import needs an OpenAPI file")?;
        if let Some(extra) = args.next() {
            return Err(format!("unknown argument {extra:?}"));
        }
        return Ok(Command::ImportOpenApi(file.into()));
    }
    while let Some(arg) = args.next() {
        command = match arg.as_str() {
            "--config" | "-c" => {
                Command::Run(args.next().ok_or("--config needs a directory")?.into())
            }
            "--check" | "-t" => {
                Command::Check(args.next().ok_or("--check needs a directory")?.into())
            }
            "--version" | "-V" => Command::Version,
            "--help" | "-h" => Command::Help,
            other => return Err(format!("unknown argument {other:?}")),
        };
    }
    Ok(command)
}

/// `keys import FILE [--config DIR]`.
fn parse_keys_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    if args.next().as_deref() != Some("import") {
        return Err("usage: tollgate keys import FILE [--config DIR]".into());
    }
    let csv: PathBuf = args.next().ok_or("keys import needs a CSV file")?.into();
    let mut dir = PathBuf::from("config");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => dir = args.next().ok_or("--config needs a directory")?.into(),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Command::ImportKeys { csv, dir })
}

/// Starts the node's log: `format` from `gateway.toml`; under systemd (`JOURNAL_STREAM` names
/// our stderr) each line starts with its syslog priority (`<3>` error … `<7>` debug, as
/// `sd-daemon(3)` describes) and carries no timestamp of its own, so `journalctl -p err`
/// filters by level and the journal's clock is the only one.
fn init_logging(format: tollgate::config::LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let journal = journal_is_stderr();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(!journal && std::io::stderr().is_terminal());
    match (format, journal) {
        (tollgate::config::LogFormat::Json, _) => builder.json().init(),
        (tollgate::config::LogFormat::Text, true) => builder
            .event_format(JournalPriority(
                tracing_subscriber::fmt::format().without_time(),
            ))
            .init(),
        (tollgate::config::LogFormat::Text, false) => builder.init(),
    }
}

/// Whether stderr is the journal stream systemd set up (`JOURNAL_STREAM=dev:inode`,
/// systemd.exec(5)).
fn journal_is_stderr() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let stderr = std::fs::metadata("/proc/self/fd/2");
    stderr.is_ok_and(|m| dev.parse() == Ok(m.dev()) && ino.parse() == Ok(m.ino()))
}

/// Prefixes each event with its syslog priority for journald.
struct JournalPriority<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for JournalPriority<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            tracing::Level::ERROR => 3,
            tracing::Level::WARN => 4,
            tracing::Level::INFO => 6,
            _ => 7,
        };
        write!(writer, "<{priority}>")?;
        self.0.format_event(ctx, writer, event)
    }
}

/// `tollgate export OUT [--config DIR]`: the control plane's APIs as API files under
/// `OUT/apis/`.
fn export(dir: &std::path::Path, out: &std::path::Path) -> ExitCode {
    let (settings, _) = tollgate::config::control::peek(dir);
    match tollgate::control::export_files(&settings, out) {
        Ok(files) => {
            for f in &files {
                println!("{}", f.display());
            }
            eprintln!("exported {} API(s)", files.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tollgate export: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `tollgate import FILE`: the OpenAPI document's translation into an API file, on standard
/// output (its id is the file's name; warnings on standard error).
fn import_openapi(file: &std::path::Path) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tollgate import: {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let id = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match tollgate::control::openapi::file_definition(&id, &text) {
        Ok((definition, warnings)) => {
            for w in warnings {
                eprintln!("tollgate import: {}: warning: {w}", file.display());
            }
            print!("{definition}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tollgate import: {}: {}", file.display(), e.message);
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tollgate: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("tollgate {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Check(dir) => match tollgate::config::check(&dir) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                eprintln!("configuration check failed: {}", dir.display());
                ExitCode::FAILURE
            }
        },
        Command::ImportKeys { csv, dir } => {
            match tollgate::config::key_import::import(&csv, &dir) {
                Ok((path, n)) => {
                    println!(
                        "imported {n} API key(s) into {}; send SIGHUP to apply",
                        path.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tollgate keys import: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::ImportOpenApi(file) => import_openapi(&file),
        Command::Export { dir, out } => export(&dir, &out),
        Command::Run(dir) => {
            init_logging(tollgate::config::LogFormat::peek(&dir));
            match tollgate::server::run(&dir) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
