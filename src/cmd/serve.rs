//! `votechain run`: runs the roles named in a config file (one pod's part of the
//! topology) until Ctrl-C or SIGTERM. [`serve`] is shared with `votechain dev`.

use anyhow::{Result, bail};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use votechain::config::Config;
use votechain::dynamo;
use votechain::runtime::Node;
use votechain::tables;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    config: PathBuf,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let cfg = super::load(&a.config)?;
    if cfg.kafka.local {
        bail!("kafka.local is for `votechain dev`; `run` needs kafka.bootstrap_servers");
    }
    serve(cfg).await
}

/// Creates tables when talking to DynamoDB Local, starts the node, waits for Ctrl-C /
/// SIGTERM (exit 0 after a graceful shutdown) or the root supervisor's death (exit 3).
pub async fn serve(cfg: Config) -> Result<ExitCode> {
    if cfg.dynamodb.endpoint.is_some() {
        let db = dynamo::client(&cfg.dynamodb).await;
        tables::ensure_all(&db, &cfg.dynamodb).await?;
    }
    let elections: Vec<String> = cfg.elections.iter().map(|e| e.id.clone()).collect();
    let node = Node::start(cfg).await?;
    // Never fail the node over its stdout (a closed pipe): these lines are for people.
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "votechain listening on http://{} (elections: {})",
        node.http_addr,
        elections.join(", ")
    );
    if let Some(e) = elections.first() {
        let _ = writeln!(
            out,
            "try: curl -s -XPOST http://{}/v1/elections/{e}/votes -H 'Authorization: Bearer dev-key' -d '{{\"vote_id\":\"'$(cat /proc/sys/kernel/random/uuid)'\",\"candidate_id\":\"alice\",\"region_id\":\"north\"}}'",
            node.http_addr
        );
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut watch = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = watch.tick() => if !node.is_alive() {
                tracing::error!("root supervisor stopped (a child exceeded its restart intensity); exiting");
                return Ok(ExitCode::from(3));
            }
        }
    }
    tracing::info!("shutting down: intake first, then writers drain");
    node.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
