//! `votechain replay`: rebuilds an election's projection from the Kafka log into a new
//! table through the `Replay` actor; switches the query role to it only if it equals the
//! chain's counts. Exit 0 switched, 1 not.

use anyhow::{Result, bail};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use votechain::actors::replay::{Replay, ReplayMsg, ReplayOutcome};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    election: String,
    /// Start offsets per partition, `P:OFFSET,...` (default: the beginning of each).
    #[arg(long, value_parser = parse_offsets)]
    from_offsets: Option<BTreeMap<i32, i64>>,
    #[command(flatten)]
    target: super::Target,
    /// Longest time projections may stay frozen during the handover.
    #[arg(long, default_value_t = 60)]
    freeze_timeout_s: u64,
    #[arg(long)]
    json: bool,
}

fn parse_offsets(s: &str) -> Result<BTreeMap<i32, i64>, String> {
    s.split(',')
        .map(|kv| {
            let (p, o) = kv
                .split_once(':')
                .ok_or_else(|| format!("'{kv}' is not PARTITION:OFFSET"))?;
            let p = p
                .trim()
                .parse()
                .map_err(|_| format!("bad partition '{p}'"))?;
            let o = o.trim().parse().map_err(|_| format!("bad offset '{o}'"))?;
            Ok((p, o))
        })
        .collect()
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
        from_offsets: a.from_offsets.unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_or_say_what_is_wrong() {
        assert_eq!(
            parse_offsets("0:5, 2:7").unwrap(),
            BTreeMap::from([(0, 5), (2, 7)])
        );
        assert!(
            parse_offsets("0=5")
                .unwrap_err()
                .contains("PARTITION:OFFSET")
        );
        assert!(parse_offsets("x:5").unwrap_err().contains("bad partition"));
    }
}
