//! `votechain replay`: rebuilds an election's projection from the Kafka log into a new
//! table through the `Replay` actor; switches the query role to it only if it equals the
//! chain's counts. Exit 0 switched, 1 not. It always reads each partition from its start:
//! the chain's rule (tips, the vote_ids already chained) is only known from there, so a
//! replay from later offsets could never match (the `--from-offsets` option is gone).

use anyhow::{Result, bail};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use votechain::actors::replay::{Replay, ReplayMsg, ReplayOutcome};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    election: String,
    #[command(flatten)]
    target: super::Target,
    /// Longest time projections may stay frozen during the handover.
    #[arg(long, default_value_t = 60)]
    freeze_timeout_s: u64,
    #[arg(long)]
    json: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let (cfg, ledger) = a.target.open_resolved().await?;
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} replay [{bar:40}] {pos}/{len} records  {per_sec}  ETA {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    let actor = Replay {
        config: Arc::new(cfg),
        ledger,
        election: a.election,
        freeze_timeout: Duration::from_secs(a.freeze_timeout_s),
        progress: Some(pb),
    };
    let (r, _) = ractor::Actor::spawn(None, actor, ())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let out = match r.call(ReplayMsg::Run, None).await {
        Ok(ractor::rpc::CallResult::Success(res)) => res?,
        other => bail!("replay actor failed: {other:?}"),
    };
    if a.json {
        super::print_json(&out)?;
    } else {
        print(&out);
    }
    Ok(if out.switched {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print(out: &ReplayOutcome) {
    println!(
        "replayed {} records: {} votes of {} ({} duplicates, {} conflicts, {} invalid skipped) into {}",
        out.records_read,
        out.votes,
        out.election_id,
        out.duplicates,
        out.conflicts,
        out.invalid,
        out.table
    );
    if out.switched {
        println!(
            "checked against the chain: equal. The query role now serves {} (thresholds {:?}).",
            out.table, out.thresholds
        );
        return;
    }
    println!(
        "NOT switched: the rebuilt projection differs from the chain; the active projection is untouched."
    );
    for (l, a, b) in &out.differences {
        println!("  {l}: rebuilt {a}, chain {b}");
    }
    for p in &out.problems {
        println!("  {p}");
    }
}
