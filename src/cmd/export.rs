//! `votechain export`: writes an election's chains as a chain export (JSON Lines, the
//! format of `votechain_core::export`) for auditors who verify offline with
//! `votechain-verify chain FILE`, without access to DynamoDB.
//!
//! CONFIDENTIAL: the export pairs every vote_id with its choice and salt, so whoever holds
//! a voter's receipt and the export learns that voter's choice. The file is written 0600
//! (also over an existing one), line 1 says so first, and it is never published: the
//! public artifact is the election record.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use votechain::dynamo::items;
use votechain::verify::read_chain;
use votechain_core::export::{Header, Line};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    election: String,
    /// The file to write (`-`: standard output).
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// DynamoDB endpoint (DynamoDB Local); default: the config's, else AWS.
    #[arg(long)]
    endpoint: Option<String>,
    #[arg(long, default_value = "config/dev.toml")]
    config: PathBuf,
    /// v1 elections only: the number of chains (v2 elections read it from the manifest).
    #[arg(long)]
    chains: Option<u32>,
}

/// `path` created (or emptied) readable by its owner only, whatever it was before.
fn create_owner_only(path: &std::path::Path) -> Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let cfg = super::load_with_endpoint(&a.config, a.endpoint)?;
    let ledger = super::ledger(&cfg).await;
    let election = super::election_of(&cfg, &ledger, &a.election, a.chains).await?;
    let chains = election.chains;
    let mut out: Box<dyn Write> = if a.out.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(create_owner_only(&a.out)?)
    };
    let mut out = std::io::BufWriter::new(&mut out);
    writeln!(
        out,
        "{}",
        serde_json::to_string(&Header::new(&a.election, chains, election.rule))?
    )?;
    let (mut written, mut unreadable, mut failed) = (0u64, 0u64, None);
    for c in 0..chains {
        read_chain(&ledger, &a.election, c, chains, |it| {
            let key = |k: &str| {
                it.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            match items::parse_vote(it) {
                Ok(v) => match serde_json::to_string(&Line::new(&key("pk"), &key("sk"), &v)) {
                    Ok(line) if failed.is_none() => {
                        failed = writeln!(out, "{line}").err();
                        written += 1;
                    }
                    _ => {}
                },
                Err(_) => unreadable += 1,
            }
        })
        .await?;
    }
    if let Some(e) = failed {
        return Err(e).context("writing the export");
    }
    out.flush()?;
    eprintln!(
        "exported {written} vote(s) of {} in {chains} chain(s)",
        a.election
    );
    if unreadable > 0 {
        eprintln!(
            "{unreadable} item(s) could not be read as votes and are not in the export; `votechain verify` names them"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
