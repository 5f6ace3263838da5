//! `votechain election create|show|list`: election manifests (contract v2). `create`
//! reads a JSON or TOML file (by its extension), validates it as a whole (every problem
//! at once, nothing stored on any), and stores it once; a second `create` for the same id
//! is refused and leaves the stored manifest as it was.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use votechain::manifests;
use votechain_core::manifest::Manifest;

#[derive(clap::Subcommand)]
pub enum ElectionCmd {
    /// Stores a new election's manifest (JSON, or TOML for a .toml file). Create-only.
    Create {
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        target: super::Target,
    },
    /// Prints an election's stored manifest (its text as created) and digest.
    Show {
        #[arg(long)]
        election: String,
        #[command(flatten)]
        target: super::Target,
    },
    /// Lists the stored manifests: election id and digest.
    List {
        #[command(flatten)]
        target: super::Target,
    },
    /// After the election closed: waits until the logs cover every chained vote, derives
    /// the tally from the verified chains, signs it with the log key (the config's
    /// `publisher.key_files`, or --key) and stores it once. Prints the signed statement.
    Certify {
        #[arg(long)]
        election: String,
        /// The log key (PKCS#8 PEM); default: the config's publisher.key_files entry.
        #[arg(long)]
        key: Option<PathBuf>,
        /// How long to wait for the logs to cover every chained vote.
        #[arg(long, default_value_t = 60)]
        wait_s: u64,
        #[command(flatten)]
        target: super::Target,
    },
}

/// Reads and validates a manifest file: JSON, or TOML when the name ends in `.toml`.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let manifest = if path.extension().is_some_and(|x| x == "toml") {
        use figment::providers::{Format, Toml};
        let m: Manifest = figment::Figment::from(Toml::string(&text))
            .extract()
            .map_err(|e| anyhow::anyhow!("{}: not a manifest: {e}", path.display()))?;
        m.validate().map_err(|problems| {
            anyhow::anyhow!(
                "{}: invalid manifest:\n  - {}",
                path.display(),
                problems.join("\n  - ")
            )
        })?;
        m
    } else {
        Manifest::parse_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
    };
    Ok(manifest)
}

pub async fn run(cmd: ElectionCmd) -> Result<ExitCode> {
    match cmd {
        ElectionCmd::Create { file, target } => {
            let manifest = read_manifest(&file)?;
            let (_, ledger) = target.open_ledger().await?;
            let stored = manifests::create(&ledger, &manifest).await?;
            println!(
                "election {} created, manifest digest {}",
                manifest.election_id, stored.digest
            );
            Ok(ExitCode::SUCCESS)
        }
        ElectionCmd::Show { election, target } => {
            let (_, ledger) = target.open_ledger().await?;
            let Some(stored) = manifests::get(&ledger, &election).await? else {
                bail!("election '{election}' has no stored manifest");
            };
            println!("{}", stored.text);
            eprintln!("digest {}", stored.digest);
            Ok(ExitCode::SUCCESS)
        }
        ElectionCmd::Certify {
            election,
            key,
            wait_s,
            target,
        } => {
            let (cfg, ledger) = target.open_ledger().await?;
            let Some(stored) = manifests::get(&ledger, &election).await? else {
                bail!("election '{election}' has no stored manifest");
            };
            let key = key
                .or_else(|| cfg.publisher.key_files.get(&election).cloned())
                .ok_or_else(|| {
                    anyhow::anyhow!("no log key: pass --key or set publisher.key_files")
                })?;
            let signer = votechain::signer::PemSigner::load(&key)?;
            let logs = votechain::logstore::LogStore {
                db: ledger.db.clone(),
                table: ledger.table.clone(),
            };
            let statement = votechain::certify::certify(
                &ledger,
                &logs,
                &stored.manifest,
                &signer,
                votechain::now_ms(),
                std::time::Duration::from_secs(wait_s),
            )
            .await?;
            print!("{statement}");
            Ok(ExitCode::SUCCESS)
        }
        ElectionCmd::List { target } => {
            let (_, ledger) = target.open_ledger().await?;
            for (id, digest) in manifests::list(&ledger).await? {
                println!("{id} {digest}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
