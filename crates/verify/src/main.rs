//! `votechain-verify`: the tool an auditor or a voter runs offline. Built on
//! `votechain-core` alone (no network, no Kafka, no AWS SDK), so what it checks does not
//! depend on trusting the node, its database or its operators.
//!
//! `votechain-verify chain FILE`: recomputes every hash of a chain export written by
//! `votechain export` and checks every link, every seq and every vote_id. Exit 0 intact,
//! 1 broken, 2 when the file cannot be checked at all.
//!
//! `votechain-verify receipt FILE --candidate C --region R [--salt S]`: a voter's check
//! that their receipt (the JSON of `GET .../votes/{vote_id}`) holds the ballot they cast.
//! Exit 0 when it does, 1 when it does not, 2 when it cannot be checked.

use clap::{Parser, Subcommand};
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;
use votechain_core::export::verify_export;
use votechain_core::receipt::{Ballot, Receipt, ReceiptError};

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
    /// Checks that a receipt holds your ballot: your choice and the salt of your 202 answer.
    Receipt {
        /// The receipt JSON (`-`: standard input).
        file: PathBuf,
        #[arg(long)]
        candidate: String,
        #[arg(long)]
        region: String,
        /// The salt of the 202 answer (v2 elections).
        #[arg(long)]
        salt: Option<String>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Chain { file, json } => chain(&file, json),
        Cmd::Receipt {
            file,
            candidate,
            region,
            salt,
        } => receipt(&file, &candidate, &region, salt.as_deref()),
    }
}

fn receipt(file: &PathBuf, candidate: &str, region: &str, salt: Option<&str>) -> ExitCode {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin().lock())
    } else {
        std::fs::read_to_string(file)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => return fail(&format!("cannot read {}: {e}", file.display())),
    };
    let r: Receipt = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => return fail(&format!("not a receipt: {e}")),
    };
    let ballot = Ballot {
        candidate_id: candidate,
        region_id: region,
        salt,
    };
    match votechain_core::receipt::check(&r, &ballot) {
        Ok(()) => {
            println!(
                "receipt holds your ballot: {} chain {} seq {} (hash {})",
                r.election_id, r.chain, r.seq, r.hash
            );
            ExitCode::SUCCESS
        }
        Err(e @ ReceiptError::Mismatch { .. }) => {
            println!("receipt does NOT hold this ballot: {e}");
            ExitCode::from(1)
        }
        Err(e) => fail(&e.to_string()),
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
