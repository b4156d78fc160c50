//! Renders one template shape of `loadtest/templates/` a given number of times, for
//! `loadtest/template-instructions.sh`, which runs it under callgrind twice (a short and a
//! long run) and reports the difference per render: a count of user-space instructions that,
//! unlike the wall-clock times of `benches/template.rs`, does not move with the machine's
//! noise, so one change can be compared with the one before it.
//!
//! `template_instructions TEMPLATE BODY N` renders TEMPLATE over BODY N times;
//! `template_instructions --parse BODY N` only parses BODY as `$input.path('$')` would.

mod shapes;

use std::process::ExitCode;

/// The gateway's allocator (`src/main.rs`), so allocation costs what it costs on a shard.
#[global_allocator]
static GLOBAL: tollgate::alloc::Allocator = tollgate::alloc::Allocator;
use shapes::{read, Request};
use tollgate::template::{json, Budget, Template};

fn run(args: &[String]) -> Result<usize, String> {
    let [_, what, body, n] = args else {
        return Err("usage: template_instructions (TEMPLATE | --parse) BODY N".into());
    };
    let n: usize = n.parse().map_err(|e| format!("N: {e}"))?;
    let mut req = Request {
        body: read(body)?.into_bytes(),
    };
    let mut total = 0;
    if what == "--parse" {
        for _ in 0..n {
            let doc = json::parse(&req.body).map_err(|e| e.to_string())?;
            total += usize::from(!doc.is_null());
        }
        return Ok(total);
    }
    let template = Template::parse(&read(what)?).map_err(|e| e.to_string())?;
    for _ in 0..n {
        let out = template
            .render(&mut req, Budget::default())
            .map_err(|e| e.to_string())?;
        total += out.len();
    }
    Ok(total)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // Cargo's bench runner passes `--bench`; this program takes its own arguments only.
    if args.iter().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(total) => {
            println!("{total}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
