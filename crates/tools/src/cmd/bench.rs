//! `votechain bench`: ours against the raw backends in one run (ratios), written as a
//! Markdown report (default `docs/benchmarks.md`).

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Votes per measure.
    #[arg(long, default_value_t = 3000)]
    votes: u64,
    #[arg(long, default_value = "docs/benchmarks.md")]
    out: PathBuf,
    /// Seconds of steady load for the projection-lag measure (at 80 % of peak).
    #[arg(long, default_value_t = 20)]
    lag_seconds: u64,
    /// Seconds the writer is held at its peak with the publisher beside it (the publisher's
    /// pace; the measure is 60 s).
    #[arg(long, default_value_t = 60)]
    pace_seconds: u64,
    /// Entries of the log the audit measure chains, publishes and audits (one chain).
    #[arg(long, default_value_t = 100_000)]
    audit_entries: u64,
    /// Use a running DynamoDB Local instead of starting one. Every measure then shares it,
    /// the like-for-like ChainWriter baseline included, whose stream slows the ledger's
    /// (see docs/performance.md): the ChainWriter rows are only fair without this option.
    #[arg(long)]
    dynamodb_endpoint: Option<String>,
    /// Skip the peak-RSS measure of a `votechain dev` process (it needs port 8080).
    #[arg(long)]
    no_dev_rss: bool,
    /// Instead of the ratios: ChainWriter votes/s by chains (1..16) under the fault proxy's
    /// DynamoDB partition-limit model, written to docs/benchmarks-partition-model.md
    /// unless --out says otherwise.
    #[arg(long)]
    partition_model: bool,
    /// The model's limits are DynamoDB's times this (so DynamoDB Local is never the bound).
    #[arg(long, default_value_t = 0.04)]
    model_scale: f64,
    /// Seconds of votes (at the model's limit) per point.
    #[arg(long, default_value_t = 20)]
    model_seconds: u64,
    /// Partitions of `votes` for the model's run. Chains map to partitions by hash, so
    /// with about as many partitions as chains some share a ChainWriter, whose transactions
    /// then wait for the more throttled chain (docs/performance.md).
    #[arg(long, default_value_t = 64)]
    model_partitions: u32,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; benchmark with `cargo build --release --bins`");
    }
    // As the operator typed it: `votechain bench ...` runs this binary (cmd/tool.rs).
    let command = ["votechain".to_string()]
        .into_iter()
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let progress = |s: &str| eprintln!("bench: {s}...");
    if a.partition_model {
        if !(a.model_scale > 0.0 && a.model_scale <= 1.0)
            || a.model_seconds == 0
            || !(1..=64).contains(&a.model_partitions)
        {
            anyhow::bail!(
                "--model-scale must be in (0, 1], --model-seconds > 0, --model-partitions 1..=64"
            );
        }
        let r = votechain_tools::bench::run_partition_model(
            a.model_scale,
            a.model_seconds,
            a.model_partitions,
            a.dynamodb_endpoint,
            progress,
        )
        .await?;
        let out = if a.out == std::path::Path::new("docs/benchmarks.md") {
            PathBuf::from("docs/benchmarks-partition-model.md")
        } else {
            a.out
        };
        let md = r.markdown(&command);
        std::fs::write(&out, &md)?;
        println!("{md}\nwritten to {}", out.display());
        return Ok(ExitCode::SUCCESS);
    }
    let bin = if a.no_dev_rss {
        None
    } else {
        Some(votechain_tools::node_binary().map_err(anyhow::Error::msg)?)
    };
    let options = votechain_tools::bench::Options {
        votes: a.votes,
        lag_seconds: a.lag_seconds,
        pace_seconds: a.pace_seconds,
        audit_entries: a.audit_entries,
        dynamodb_endpoint: a.dynamodb_endpoint,
        dev_binary: bin,
    };
    let r = votechain_tools::bench::run(options, progress).await?;
    let md = r.markdown(&command);
    std::fs::write(&a.out, &md)?;
    println!("{md}\nwritten to {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
