//! `votechain loadgen`: polling-station clients against a running votechain, each with a
//! durable outbox and retries under the same vote_id. Exit 0 when every acknowledged vote
//! was seen chained.

use anyhow::{Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use votechain_tools::loadgen::{self, LoadOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Without a key file or `VOTECHAIN_STATION_KEY`: `dev-key`, `votechain dev`'s.
    #[command(flatten)]
    endpoint: super::client::Endpoint,
    /// Elections to vote in (repeatable; default: every open election the server lists).
    #[arg(long)]
    election: Vec<String>,
    /// Target votes/s over all clients (0: as fast as possible).
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Run for this many seconds...
    #[arg(long)]
    duration_s: Option<u64>,
    /// ...or until this many new votes were sent (default: 2000 when neither is given).
    #[arg(long)]
    votes: Option<u64>,
    #[arg(long, default_value_t = 16)]
    clients: u32,
    /// Share of submissions that re-send an acknowledged vote_id.
    #[arg(long, default_value_t = 0.05)]
    resubmit_share: f64,
    /// Per-attempt client timeout (poor connectivity: make it short).
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Share of answers the client pretends it never got (it retries).
    #[arg(long, default_value_t = 0.0)]
    drop_answer_share: f64,
    #[arg(long, default_value = ".local/loadgen-outbox.jsonl")]
    outbox: PathBuf,
    /// Never compact the outbox, so it keeps every vote with its choice (for checks that
    /// compare the ledger with what was cast; a polling station never does this).
    #[arg(long)]
    outbox_keep_history: bool,
    /// Only resend what the outbox still holds from an earlier (crashed) run.
    #[arg(long)]
    resume_only: bool,
    #[arg(long)]
    json: bool,
    /// Check the receipts of this many acknowledged votes, chosen at random (default:
    /// every one; a million-vote run checks a sample and leaves the count to `verify`).
    #[arg(long)]
    receipt_sample: Option<usize>,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    if !(0.0..=0.9).contains(&a.resubmit_share)
        || !(0.0..=0.9).contains(&a.drop_answer_share)
        || a.clients == 0
    {
        bail!(
            "--resubmit-share and --drop-answer-share must be within 0..=0.9, --clients at least 1"
        );
    }
    let votes = if a.duration_s.is_none() && a.votes.is_none() {
        Some(2000)
    } else {
        a.votes
    };
    let opts = LoadOptions {
        key: a.endpoint.key(Some("dev-key"))?,
        url: a.endpoint.url,
        ca_file: a.endpoint.ca_file,
        elections: a.election,
        rate: a.rate,
        duration: a.duration_s.map(Duration::from_secs),
        votes,
        clients: a.clients,
        resubmit_share: a.resubmit_share,
        timeout: Duration::from_millis(a.timeout_ms),
        drop_answer_share: a.drop_answer_share,
        outbox: a.outbox,
        resume_only: a.resume_only,
        keep_history: a.outbox_keep_history,
        progress: !a.json,
        receipt_sample: a.receipt_sample,
    };
    let r = loadgen::run(opts).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?)
    } else {
        println!("{r}")
    }
    Ok(if r.chained == r.receipts_checked {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
