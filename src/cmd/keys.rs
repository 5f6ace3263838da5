//! `votechain keys create|rotate|revoke|list --file F`: the station keys file that ingest
//! re-reads without a restart (`ingest.keys_file`; in `deploy/` a Kubernetes Secret).
//!
//! `create --station ID [--election E]... [--region R]...` makes a 256-bit key from the OS
//! CSPRNG, prints it once on standard output (hand it to the station; it is stored
//! nowhere), and adds its SHA-256 with its scope to the file. `rotate` does the same for
//! an existing station, replacing its digest (the old key stops working at the next
//! reload). `--votes-per-s` and `--max-votes` set the key's own rate and cap per election
//! (otherwise `ingest.key_votes_per_s` and `ingest.key_max_votes`). `revoke` removes the station's entry. The file is rewritten atomically.

use anyhow::{Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use votechain::keys::{KeysFile, create};

#[derive(clap::Subcommand)]
pub enum KeysCmd {
    /// A new station key: printed once, its digest and scope added to the file.
    Create(Scope),
    /// A new key for an existing station; its old key stops working at the next reload.
    Rotate(Scope),
    /// Removes a station's key.
    Revoke {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        station: String,
    },
    /// The stations in the file and their scopes (no key, no digest).
    List {
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(clap::Args)]
pub struct Scope {
    /// The keys file (created if missing).
    #[arg(long)]
    file: PathBuf,
    /// The station's id: recorded in the audit event of each of its votes.
    #[arg(long)]
    station: String,
    /// An election the key may vote in (repeat; none: every election).
    #[arg(long = "election")]
    elections: Vec<String>,
    /// A region the key may vote for (repeat; none: every region).
    #[arg(long = "region")]
    regions: Vec<String>,
    /// The key's own quota in votes/s (default: ingest.key_votes_per_s).
    #[arg(long)]
    votes_per_s: Option<u32>,
    /// The key's own cap of distinct votes per election (default: ingest.key_max_votes;
    /// 0: none). Counted per station: a rotated key keeps its station's count.
    #[arg(long)]
    max_votes: Option<u64>,
}

fn open(file: &std::path::Path) -> Result<KeysFile> {
    if file.exists() {
        let f = KeysFile::read(file)?;
        f.entries(file)?;
        Ok(f)
    } else {
        Ok(KeysFile::default())
    }
}

pub fn run(cmd: KeysCmd) -> Result<ExitCode> {
    match cmd {
        KeysCmd::Create(s) => issue(s, false),
        KeysCmd::Rotate(s) => issue(s, true),
        KeysCmd::Revoke { file, station } => {
            let mut f = open(&file)?;
            let before = f.keys.len();
            f.keys.retain(|k| k.id != station);
            if f.keys.len() == before {
                bail!("no key for station '{station}' in {}", file.display());
            }
            f.write(&file)?;
            eprintln!("revoked {station}: refused from the next reload");
            Ok(ExitCode::SUCCESS)
        }
        KeysCmd::List { file } => {
            for k in open(&file)?.keys {
                let all = |v: &Vec<String>| {
                    if v.is_empty() {
                        "all".to_string()
                    } else {
                        v.join(",")
                    }
                };
                let or_default = |v: Option<String>| v.unwrap_or_else(|| "default".into());
                println!(
                    "{}  elections: {}  regions: {}  votes/s: {}  max votes: {}",
                    k.id,
                    all(&k.elections),
                    all(&k.regions),
                    or_default(k.votes_per_s.map(|n| n.to_string())),
                    or_default(k.max_votes.map(|n| n.to_string())),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn issue(s: Scope, rotate: bool) -> Result<ExitCode> {
    if s.station.trim().is_empty() {
        bail!("--station must name the station");
    }
    let mut f = open(&s.file)?;
    let at = f.keys.iter().position(|k| k.id == s.station);
    match (at.is_some(), rotate) {
        (true, false) => bail!(
            "station '{}' already has a key; `votechain keys rotate` replaces it",
            s.station
        ),
        (false, true) => bail!("station '{}' has no key to rotate", s.station),
        _ => {}
    }
    let (key, mut entry) = create(&s.station, &s.elections, &s.regions);
    entry.votes_per_s = s.votes_per_s;
    entry.max_votes = s.max_votes;
    match at {
        Some(i) => f.keys[i] = entry,
        None => f.keys.push(entry),
    }
    f.write(&s.file)?;
    // The key itself goes to standard output only, once; the rest to standard error.
    println!("{key}");
    eprintln!(
        "{} {}: its digest is in {} (ingest re-reads it); the key above is shown only now",
        if rotate { "rotated" } else { "created" },
        s.station,
        s.file.display()
    );
    Ok(ExitCode::SUCCESS)
}
