//! `votechain bench`: ours against the raw backends in one run (ratios), written as a
//! Markdown report (default `docs/benchmarks.md`).

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// The ratios' report; the other modes write elsewhere unless --out is given.
const DEFAULT_OUT: &str = "docs/benchmarks.md";

/// `--out`, or a mode's own `default` when --out was left at [`DEFAULT_OUT`].
fn out_path(out: PathBuf, default: &str) -> PathBuf {
    if out == std::path::Path::new(DEFAULT_OUT) {
        PathBuf::from(default)
    } else {
        out
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Votes per measure.
    #[arg(long, default_value_t = 3000)]
    votes: u64,
    #[arg(long, default_value = DEFAULT_OUT)]
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
    /// Only the projector measure (votes produced, chained, then projected), printed and
    /// written to --out (default: not docs/benchmarks.md, but .local/bench-projector.md).
    #[arg(long)]
    projector_only: bool,
    /// Only the projection-lag and end-to-end measure (the writer's peak, then votes over
    /// HTTP at 80 % of it, on 8 chains and on 1), written to --out (default
    /// .local/bench-lag.md).
    #[arg(long)]
    lag_only: bool,
    /// Only ingest's measure (over HTTP, its p99 at half of peak), its raw-produce
    /// baselines and the HTTP floor, written to --out (default .local/bench-ingest.md).
    #[arg(long)]
    ingest_only: bool,
    /// `ingest.producers` of every node the bench starts (1..=8; default: the config's).
    #[arg(long)]
    ingest_producers: Option<usize>,
    /// HTTP clients in flight in ingest's measure and in the HTTP floor's (1..=1024). Each
    /// waits for its vote's transaction before sending the next, so with few clients the
    /// measure times that wait, not ingest's capacity (docs/performance.md: 64 clients gave
    /// 0.30-0.45 of the floor, 256 gave 0.77).
    #[arg(long, default_value_t = 256)]
    ingest_clients: u64,
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
    /// Instead of the ratios: the work one vote costs each backend (metered DynamoDB units,
    /// Streams calls, Kafka bytes, CPU per role) and the capacity model built on it,
    /// written to docs/capacity.md unless --out says otherwise.
    #[arg(long)]
    capacity: bool,
    /// Votes/s offered during the capacity measure (one node runs every role).
    #[arg(long, default_value_t = 600.0)]
    capacity_rate: f64,
    /// Instead of the ratios: a million votes through `votechain dev` (ports 8080 and
    /// 8000), then verify, recount, replay and audit on the result, written to
    /// docs/benchmarks-million.md unless --out says otherwise. Outside CI: about 45 minutes at
    /// the default rate.
    #[arg(long)]
    million: bool,
    /// Votes of the --million run.
    #[arg(long, default_value_t = 1_000_000)]
    million_votes: u64,
    /// Votes/s loadgen offers in the --million run (below the pipeline's peak, so lag
    /// measures the pipeline, not a growing backlog). DynamoDB Local keeps the run's data
    /// on disk, where one chain took about 500 votes/s on the 2-core machine (a backlog
    /// grew at 540).
    #[arg(long, default_value_t = 400)]
    million_rate: u32,
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
        let out = out_path(a.out, "docs/benchmarks-partition-model.md");
        let md = r.markdown(&command);
        std::fs::write(&out, &md)?;
        println!("{md}\nwritten to {}", out.display());
        return Ok(ExitCode::SUCCESS);
    }
    if a.capacity {
        return capacity(a, &command, progress).await;
    }
    if a.million {
        return million(a, &command, progress).await;
    }
    let max = votechain::config::INGEST_MAX_PRODUCERS;
    if a.ingest_producers.is_some_and(|n| !(1..=max).contains(&n)) {
        anyhow::bail!("--ingest-producers must be 1..={max}");
    }
    if !(1..=1024).contains(&a.ingest_clients) {
        anyhow::bail!("--ingest-clients must be 1..=1024");
    }
    let bin = if a.no_dev_rss || a.projector_only || a.lag_only || a.ingest_only {
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
        projector_only: a.projector_only,
        lag_only: a.lag_only,
        ingest_only: a.ingest_only,
        ingest_producers: a.ingest_producers,
        ingest_clients: a.ingest_clients,
    };
    let r = votechain_tools::bench::run(options, progress).await?;
    let md = r.markdown(&command);
    let out = match (a.projector_only, a.lag_only, a.ingest_only) {
        (true, _, _) => out_path(a.out, ".local/bench-projector.md"),
        (_, true, _) => out_path(a.out, ".local/bench-lag.md"),
        (_, _, true) => out_path(a.out, ".local/bench-ingest.md"),
        _ => a.out,
    };
    std::fs::write(&out, &md)?;
    println!("{md}\nwritten to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// `--capacity`: measure the work per vote, then plan 1k, 10k and 100k votes/s.
async fn capacity(a: Args, command: &str, progress: impl Fn(&str)) -> Result<ExitCode> {
    if !(a.capacity_rate > 0.0 && a.capacity_rate <= 2000.0) || a.votes < 1000 {
        anyhow::bail!("--capacity-rate must be in (0, 2000] and --votes at least 1000");
    }
    let w = votechain_tools::bench::run_capacity(
        a.votes,
        a.capacity_rate,
        a.dynamodb_endpoint,
        progress,
    )
    .await?;
    use votechain_tools::capacity;
    let plans: Vec<_> = [1_000.0, 10_000.0, 100_000.0]
        .iter()
        .map(|r| capacity::plan(&w, *r, &capacity::PRICES))
        .collect();
    let md = capacity::markdown(&w, &plans, &capacity::PRICES, command);
    let out = out_path(a.out, "docs/capacity.md");
    std::fs::write(&out, &md)?;
    println!("{md}\nwritten to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// `--million`: a million votes through `votechain dev`.
async fn million(a: Args, command: &str, progress: impl Fn(&str)) -> Result<ExitCode> {
    if a.million_votes < 1000 || a.million_rate == 0 {
        anyhow::bail!("--million-votes must be at least 1000 and --million-rate above 0");
    }
    let o = votechain_tools::bench::MillionOptions {
        votes: a.million_votes,
        rate: a.million_rate,
        clients: 64,
        receipt_sample: 100_000,
        bin: votechain_tools::node_binary().map_err(anyhow::Error::msg)?,
    };
    let r = votechain_tools::bench::run_million(o, progress).await?;
    let md = r.markdown(command);
    let out = out_path(a.out, "docs/benchmarks-million.md");
    std::fs::write(&out, &md)?;
    println!("{md}\nwritten to {}", out.display());
    let failed = r.tools.iter().any(|t| !t.ok) || r.load.chained != r.load.receipts_checked;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
