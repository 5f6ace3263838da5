//! `votechain-verify`: the tool an auditor or a voter runs offline. Built on
//! `votechain-core` alone (no network, no Kafka, no AWS SDK), so what it checks does not
//! depend on trusting the node, its database or its operators.
//!
//! `votechain-verify chain FILE`: recomputes every hash of a chain export written by
//! `votechain export` and checks every link, every seq and every vote_id. Exit 0 intact,
//! 1 broken, 2 when the file cannot be checked at all.

use clap::{Parser, Subcommand};
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;
use votechain_core::export::verify_export;

#[derive(Parser)]
#[command(
    name = "votechain-verify",
    version,
    about = "Offline verification of votechain artifacts"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Verifies a chain export (`votechain export`): every hash, link, seq and vote_id.
    Chain {
        /// The export file (`-`: standard input).
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Chain { file, json } => chain(&file, json),
    }
}

fn chain(file: &PathBuf, json: bool) -> ExitCode {
    let report = if file.as_os_str() == "-" {
        verify_export(std::io::stdin().lock())
    } else {
        match std::fs::File::open(file) {
            Ok(f) => verify_export(BufReader::new(f)),
            Err(e) => return fail(&format!("cannot open {}: {e}", file.display())),
        }
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(&e.to_string()),
        }
    } else {
        println!("{}", report.text());
    }
    if report.intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}
