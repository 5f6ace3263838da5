//! `votechain recount`: counts an election from Kafka, from the chain (verifying it) and
//! from the read model, side by side. Exit 0 only when all three agree.

use anyhow::Result;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    election: String,
    #[command(flatten)]
    target: super::Target,
    #[arg(long)]
    json: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let (cfg, ledger) = a.target.open_resolved().await?;
    let r =
        votechain::recount::recount(&cfg, &ledger, &a.election, Duration::from_secs(60)).await?;
    if a.json {
        super::print_json(&r)?;
    } else {
        println!("{r}");
    }
    Ok(if r.agree {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
