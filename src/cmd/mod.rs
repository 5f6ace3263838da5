//! One module per command of the `votechain` binary: each has its clap `Args` and a `run`
//! that does the work through the library and formats the output. `main.rs` only parses
//! and dispatches. Helpers shared by several commands live here.

pub mod actors;
pub mod audit;
pub mod dev;
pub mod dlq;
pub mod election;
pub mod export;
pub mod keygen;
pub mod keys;
pub mod log;
pub mod recount;
pub mod replay;
pub mod serve;
pub mod setup;
pub mod tool;
pub mod verify;
pub mod witness;

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use votechain::config::Config;
use votechain::dynamo::{self, ledger::Ledger};
use votechain_core::model::Election;

/// Where `votechain dev` keeps its files (its dev log key, the dev witness's key and state,
/// its Kafka's bootstrap servers): `$VOTECHAIN_DEV_DIR`, else `.local`. A second `dev`
/// (e.g. `scripts/check-live` beside yours) sets it to a folder of its own.
pub fn dev_dir() -> PathBuf {
    std::env::var_os("VOTECHAIN_DEV_DIR").map_or_else(|| PathBuf::from(".local"), PathBuf::from)
}

/// `votechain dev` writes its local Kafka's bootstrap servers here for `replay`/`recount`.
pub fn dev_bootstrap_file() -> PathBuf {
    dev_dir().join("dev-kafka-bootstrap")
}

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

/// The election `id` as a verifier reads it: from its stored manifest (v2; a config that
/// pins another digest is an error), else the config's v1 entry, else a v1 election of
/// `--chains` chains (chains cast before manifests and not in the config).
pub async fn election_of(
    cfg: &Config,
    ledger: &Ledger,
    id: &str,
    chains: Option<u32>,
) -> Result<Election> {
    if let Some(stored) = votechain::manifests::get(ledger, id).await? {
        let pinned = cfg.elections.iter().find(|e| e.id == id);
        if let Some(want) = pinned.and_then(|e| e.manifest_digest.as_ref())
            && *want != stored.digest
        {
            anyhow::bail!(
                "election '{id}': the config expects manifest digest {want}, the stored manifest's is {}",
                stored.digest
            );
        }
        return Ok(stored.manifest.registry_election());
    }
    if let Some(e) = cfg.registry().get(id) {
        let mut e = e.clone();
        e.chains = chains.unwrap_or(e.chains);
        return Ok(e);
    }
    match chains {
        Some(c) => Ok(Election::v1(id, &[], &[], c)),
        None => anyhow::bail!(
            "election '{id}' has no stored manifest and no v1 entry in the config; for v1 chains pass --chains N"
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
        } else if cfg.kafka.local {
            let file = dev_bootstrap_file();
            cfg.kafka.bootstrap_servers = std::fs::read_to_string(&file)
                .map(|s| s.trim().to_string())
                .with_context(|| {
                    format!(
                        "{} not found: is `votechain dev` running? (or pass --kafka-bootstrap)",
                        file.display()
                    )
                })?;
        }
        let ledger = ledger(&cfg).await;
        Ok((cfg, ledger))
    }

    /// Like [`Self::open`], with the config's v2 elections read from their manifests.
    pub async fn open_resolved(&self) -> Result<(Config, Ledger)> {
        let (mut cfg, ledger) = self.open().await?;
        votechain::manifests::resolve(&ledger, &mut cfg).await?;
        Ok((cfg, ledger))
    }
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
