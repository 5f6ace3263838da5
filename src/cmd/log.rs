//! `votechain log export --election ID --dir D`: writes every chain's transparency log
//! (the published checkpoint, every tile and entry bundle of its size) as static files
//! under `D/v1/elections/{ID}/chains/{c}/log/`, the same paths the query role serves, so
//! any static host or bucket can serve them and `votechain audit --url` can check them.
//! The manifest goes to `D/v1/elections/{ID}/manifest`.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use votechain::logstore::LogStore;
use votechain::manifests;
use votechain_core::tiles;

#[derive(clap::Subcommand)]
pub enum LogCmd {
    /// Writes the election's logs as static files (C2SP tlog-tiles layout).
    Export {
        #[arg(long)]
        election: String,
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        target: super::Target,
    },
}

fn write(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    std::fs::write(path, data).with_context(|| path.display().to_string())
}

pub async fn run(cmd: LogCmd) -> Result<ExitCode> {
    let LogCmd::Export {
        election,
        dir,
        target,
    } = cmd;
    let (_, ledger) = target.open_ledger().await?;
    let Some(stored) = manifests::get(&ledger, &election).await? else {
        bail!("election '{election}' has no stored manifest");
    };
    let root = dir.join("v1/elections").join(&election);
    write(&root.join("manifest"), stored.text.as_bytes())?;
    let logs = LogStore {
        db: ledger.db.clone(),
        table: ledger.table.clone(),
    };
    let mut files = 1;
    for chain in 0..stored.manifest.chains {
        let Some(cp) = logs.published(&election, chain).await? else {
            eprintln!("chain {chain}: no published checkpoint yet; skipped");
            continue;
        };
        let base = root.join(format!("chains/{chain}/log"));
        let all = tiles::tiles_of(cp.size);
        let fetched = logs.tiles(&election, chain, &all).await?;
        for t in &all {
            let data = fetched
                .get(t)
                .with_context(|| format!("chain {chain}: tile {} is missing", t.path()))?;
            write(&base.join(t.path()), data)?;
            files += 1;
        }
        write(&base.join("checkpoint"), cp.note.as_bytes())?;
        files += 1;
        eprintln!("chain {chain}: size {}, {} tiles", cp.size, all.len());
    }
    eprintln!("wrote {files} files under {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
