//! One module per command of the `votechain` binary: each has its clap `Args` and a `run`
//! that does the work through the library and formats the output. `main.rs` only parses
//! and dispatches. Helpers shared by several commands live here.

pub mod actors;
pub mod dev;
pub mod dlq;
pub mod election;
pub mod export;
pub mod keygen;
pub mod recount;
pub mod replay;
pub mod serve;
pub mod setup;
pub mod tool;
pub mod verify;

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use votechain::config::Config;
use votechain::dynamo::{self, ledger::Ledger};

/// `votechain dev` writes its embedded cluster's bootstrap servers here for `replay`/`recount`.
pub const DEV_BOOTSTRAP_FILE: &str = ".local/dev-kafka-bootstrap";

pub fn load(path: &Path) -> Result<Config> {
    Config::load(path).with_context(|| format!("loading {}", path.display()))
}

/// Loads a config and points it at `endpoint` (DynamoDB Local) when one is given.
pub fn load_with_endpoint(path: &Path, endpoint: Option<String>) -> Result<Config> {
    let mut cfg = load(path)?;
    if endpoint.is_some() {
        cfg.dynamodb.endpoint = endpoint;
        cfg.dynamodb.local_credentials = true;
    }
    Ok(cfg)
}

/// The ledger of a config's DynamoDB.
pub async fn ledger(cfg: &Config) -> Ledger {
    Ledger::new(
        dynamo::client(&cfg.dynamodb).await,
        cfg.dynamodb.ledger_table.clone(),
    )
}

/// The number of chains of `election`: given, or from the config.
pub fn chains_of(cfg: &Config, election: &str, given: Option<u32>, config: &Path) -> Result<u32> {
    match given.or_else(|| cfg.registry().get(election).map(|e| e.chains)) {
        Some(c) => Ok(c),
        None => anyhow::bail!(
            "election '{election}' is not in {}; pass --chains N",
            config.display()
        ),
    }
}

/// Where an offline command finds Kafka and DynamoDB.
#[derive(clap::Args)]
pub struct Target {
    #[arg(long, default_value = "config/dev.toml")]
    config: PathBuf,
    /// DynamoDB endpoint (DynamoDB Local); default: the config's, else AWS.
    #[arg(long)]
    endpoint: Option<String>,
    /// Kafka bootstrap servers; default: the config's, or the running `votechain dev`'s.
    #[arg(long)]
    kafka_bootstrap: Option<String>,
}

impl Target {
    /// The config and ledger, for commands that need DynamoDB only (not Kafka).
    pub async fn open_ledger(&self) -> Result<(Config, Ledger)> {
        let cfg = load_with_endpoint(&self.config, self.endpoint.clone())?;
        let ledger = ledger(&cfg).await;
        Ok((cfg, ledger))
    }

    pub async fn open(&self) -> Result<(Config, Ledger)> {
        let mut cfg = load_with_endpoint(&self.config, self.endpoint.clone())?;
        if let Some(b) = &self.kafka_bootstrap {
            cfg.kafka.bootstrap_servers = b.clone();
        } else if cfg.kafka.embedded {
            cfg.kafka.bootstrap_servers = std::fs::read_to_string(DEV_BOOTSTRAP_FILE)
                .map(|s| s.trim().to_string())
                .with_context(|| format!("{DEV_BOOTSTRAP_FILE} not found: is `votechain dev` running? (or pass --kafka-bootstrap)"))?;
        }
        let ledger = ledger(&cfg).await;
        Ok((cfg, ledger))
    }
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
