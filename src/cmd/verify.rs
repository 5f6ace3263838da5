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
    /// Number of chains of the election; default: from the config's election.
    #[arg(long)]
    chains: Option<u32>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let cfg = super::load_with_endpoint(&a.config, a.endpoint)?;
    let chains = super::chains_of(&cfg, &a.election, a.chains, &a.config)?;
    let report = verify_election(&super::ledger(&cfg).await, &a.election, chains).await?;
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
