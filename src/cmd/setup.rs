//! `votechain setup-tables` and `setup-topics`: create what is missing, idempotently, on
//! DynamoDB (Local or AWS) and on a real Kafka cluster (MSK).

use anyhow::{Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use votechain::dynamo;
use votechain::tables;

#[derive(clap::Args)]
pub struct TablesArgs {
    #[arg(long, default_value = "config/dev.toml")]
    config: PathBuf,
    #[arg(long)]
    endpoint: Option<String>,
}

#[derive(clap::Args)]
pub struct TopicsArgs {
    #[arg(long)]
    config: PathBuf,
}

pub async fn tables(a: TablesArgs) -> Result<ExitCode> {
    let cfg = super::load_with_endpoint(&a.config, a.endpoint)?;
    let db = dynamo::client(&cfg.dynamodb).await;
    tables::ensure_all(&db, &cfg.dynamodb).await?;
    let d = &cfg.dynamodb;
    println!(
        "tables {}, {}, {}, {} ready",
        d.ledger_table, d.lease_table, d.results_table, d.caps_table
    );
    let p = tables::protect_ledger(&db, &d.ledger_table).await?;
    println!(
        "ledger {}: deletion protection {}; point-in-time recovery {}",
        d.ledger_table, p.deletion_protection, p.point_in_time_recovery
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn topics(a: TopicsArgs) -> Result<ExitCode> {
    let cfg = super::load(&a.config)?;
    if cfg.kafka.local {
        bail!(
            "setup-topics is for an existing cluster (kafka.bootstrap_servers); `votechain dev` creates the local one's topics itself"
        );
    }
    votechain::kafka::ensure_topics(&cfg.kafka).await?;
    let k = &cfg.kafka;
    println!(
        "topics {}, {}, {} ready",
        k.votes_topic, k.audit_topic, k.dead_letter_topic
    );
    Ok(ExitCode::SUCCESS)
}
