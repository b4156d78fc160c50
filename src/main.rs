//! The `tollgate` command: run the gateway, or check a configuration directory.

use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
usage:
  tollgate [--config DIR]    run the gateway on DIR (default: config)
  tollgate --check DIR       validate DIR and exit 0 (valid) or 1 (invalid)
  tollgate --version
";

/// What the command line asks for.
enum Command {
    Run(PathBuf),
    Check(PathBuf),
    Version,
    Help,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut command = Command::Run(PathBuf::from("config"));
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

fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
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
        Command::Run(dir) => {
            init_logging();
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
