//! `votechain verify`: walks every chain of an election in DynamoDB and recomputes every
//! hash. Exit 0 only when intact, 1 when broken.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use votechain::verify::verify_election;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    election: String,
    /// DynamoDB endpoint (DynamoDB Local); default: the config's, else AWS.
    #[arg(long)]
    endpoint: Option<String>,
    #[arg(long, default_value = "config/dev.toml")]
    config: PathBuf,
    /// v1 elections only: the number of chains (v2 elections read it from the manifest).
    #[arg(long)]
    chains: Option<u32>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let cfg = super::load_with_endpoint(&a.config, a.endpoint)?;
    let ledger = super::ledger(&cfg).await;
    let election = super::election_of(&cfg, &ledger, &a.election, a.chains).await?;
    let report = verify_election(&ledger, &election).await?;
    if a.json {
        super::print_json(&report)?;
    } else {
        println!("{}", report.text());
    }
    Ok(if report.intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
