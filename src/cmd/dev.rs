//! `votechain dev`: everything in one process: DynamoDB Local (a child process that dies
//! with us), librdkafka's mock cluster in-process, every role of the config, the demo
//! election.

use anyhow::{Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use votechain::config::Config;
use votechain::dev::DynamoDbLocal;
use votechain::dynamo::{self, ledger::Ledger};
use votechain::kafka::EmbeddedKafka;
use votechain::tables;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "config/dev.toml")]
    config: PathBuf,
    /// Use a DynamoDB (Local) already running at this URL instead of starting one.
    #[arg(long)]
    dynamodb_endpoint: Option<String>,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let mut cfg = super::load(&a.config)?;
    let reused = a.dynamodb_endpoint.is_some();
    let _ddb = match a.dynamodb_endpoint {
        Some(url) => {
            cfg.dynamodb.endpoint = Some(url);
            None
        }
        None => Some(start_dynamodb_local(&mut cfg).await?),
    };
    cfg.dynamodb.local_credentials = true;
    if reused {
        refuse_an_earlier_ledger(&cfg).await?;
    }
    // The mock cluster is not Send: it lives on this (main) task until the end.
    let kafka = EmbeddedKafka::start(&cfg.kafka)?;
    cfg.kafka.bootstrap_servers = kafka.bootstrap_servers();
    tracing::info!(bootstrap = %cfg.kafka.bootstrap_servers, "embedded Kafka started");
    // For `votechain replay` / `recount` run beside this process.
    let bootstrap = &cfg.kafka.bootstrap_servers;
    let _ = std::fs::create_dir_all(".local")
        .and_then(|_| std::fs::write(super::DEV_BOOTSTRAP_FILE, bootstrap));
    let code = super::serve::serve(cfg).await;
    drop(kafka);
    code
}

/// Starts DynamoDB Local on the config's endpoint port (default 8000).
async fn start_dynamodb_local(cfg: &mut Config) -> Result<DynamoDbLocal> {
    let endpoint = cfg.dynamodb.endpoint.as_deref();
    let port = endpoint
        .and_then(|e| e.rsplit(':').next())
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or(8000);
    let d = DynamoDbLocal::start(port).await?;
    tracing::info!(endpoint = %d.endpoint, "DynamoDB Local started");
    cfg.dynamodb.endpoint = Some(d.endpoint.clone());
    Ok(d)
}

/// The embedded Kafka starts empty: a ledger written from an earlier log has checkpoints
/// past its end, and its writers would (rightly) refuse to write.
async fn refuse_an_earlier_ledger(cfg: &Config) -> Result<()> {
    let db = dynamo::client(&cfg.dynamodb).await;
    tables::ensure_all(&db, &cfg.dynamodb).await?;
    let ledger = Ledger::new(db, cfg.dynamodb.ledger_table.clone());
    for p in 0..cfg.kafka.partitions as i32 {
        if let Some(c) = ledger.checkpoint(&cfg.kafka.votes_topic, p).await? {
            bail!(
                "table {} already holds a ledger (partition {p} checkpoint at offset {}) written from an earlier Kafka log, \
                 but `dev` starts an empty embedded Kafka: its writers would refuse to chain. Use a fresh DynamoDB Local \
                 (omit --dynamodb-endpoint), or other table names in the config",
                cfg.dynamodb.ledger_table,
                c.next_offset
            );
        }
    }
    Ok(())
}
