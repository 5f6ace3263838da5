//! `votechain audit`: an auditor's check of an election's transparency logs, trusting
//! nothing but the manifest (its log key and origins) and the witness policy.
//!
//! For every chain: fetch the published checkpoint over HTTP and check the log's
//! signature and the witness quorum; check it extends the last checkpoint this auditor
//! saw (kept in its state directory; a smaller size or another root at the old size is a
//! rollback or a fork); fetch every tile and entry bundle and rebuild the tree from the
//! entries (every tile must be exactly what the entries give, and the root the
//! checkpoint's). With DynamoDB access, also: recompute every chain hash (as `verify`
//! does) and check the log's entries are exactly the chain's hashes, naming the first
//! index that differs. That last check is what catches a database rewritten consistently
//! (every later hash recomputed), which `verify` alone cannot see.

use crate::dynamo::ledger::Ledger;
use crate::verify::{ChainChecker, read_chain, stored};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use votechain_core::checkpoint::{Checkpoint, WitnessPolicy, log_verifier, verify_published};
use votechain_core::manifest::Manifest;
use votechain_core::merkle::{self, Hash};
use votechain_core::tiles::{self, Edge, Kind, Tile};

/// What to audit and where.
pub struct Audit<'a> {
    /// The log's HTTP prefix root, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    pub manifest: &'a Manifest,
    pub policy: WitnessPolicy,
    /// Where the last checkpoint seen per chain is kept (created if missing).
    pub state_dir: PathBuf,
    /// With it, the chains themselves are checked against their logs.
    pub ledger: Option<Ledger>,
}

/// One chain's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChainAudit {
    pub chain: u32,
    pub size: u64,
    pub root: String,
    pub problems: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("fetching {url}: {detail}")]
    Fetch { url: String, detail: String },
    #[error("state directory {0}: {1}")]
    State(String, std::io::Error),
    #[error("the manifest's log key is malformed")]
    Key,
    #[error(transparent)]
    Ledger(#[from] crate::dynamo::ledger::LedgerError),
}

impl Audit<'_> {
    /// Audits every chain; a chain with problems does not stop the others.
    pub async fn run(&self) -> Result<Vec<ChainAudit>, AuditError> {
        let http = reqwest::Client::new();
        let mut out = Vec::new();
        for chain in 0..self.manifest.chains {
            out.push(self.chain(&http, chain).await?);
        }
        Ok(out)
    }

    fn prefix(&self, chain: u32) -> String {
        format!(
            "{}/v1/elections/{}/chains/{chain}/log",
            self.base_url.trim_end_matches('/'),
            self.manifest.election_id
        )
    }

    async fn get(&self, http: &reqwest::Client, url: String) -> Result<Vec<u8>, AuditError> {
        let fail = |detail: String| AuditError::Fetch {
            url: url.clone(),
            detail,
        };
        let r = http
            .get(&url)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !r.status().is_success() {
            return Err(fail(format!("HTTP {}", r.status())));
        }
        Ok(r.bytes().await.map_err(|e| fail(e.to_string()))?.to_vec())
    }

    async fn chain(&self, http: &reqwest::Client, chain: u32) -> Result<ChainAudit, AuditError> {
        let origin = self.manifest.log_origin_of_chain(chain);
        let key = self.manifest.public_key_bytes().ok_or(AuditError::Key)?;
        let note = self
            .get(http, format!("{}/checkpoint", self.prefix(chain)))
            .await?;
        let note = String::from_utf8_lossy(&note).into_owned();
        let mut result = ChainAudit {
            chain,
            size: 0,
            root: String::new(),
            problems: vec![],
        };
        let cp = match verify_published(&note, &origin, &log_verifier(&origin, &key), &self.policy)
        {
            Ok(cp) => cp,
            Err(e) => {
                result.problems.push(format!("checkpoint: {e}"));
                return Ok(result);
            }
        };
        (result.size, result.root) = (cp.size, votechain_core::chain::to_hex(&cp.root));
        let mut fetched = std::collections::HashMap::new();
        for t in tiles::tiles_of(cp.size) {
            let data = self
                .get(http, format!("{}/{}", self.prefix(chain), t.path()))
                .await?;
            fetched.insert(t, data);
        }
        let entries = match rebuild(&cp, &fetched) {
            Ok(e) => e,
            Err(p) => {
                result.problems.push(p);
                return Ok(result);
            }
        };
        if let Some(p) = self.against_last_seen(chain, &cp, &entries)? {
            result.problems.push(p);
        }
        if let Some(ledger) = &self.ledger {
            result
                .problems
                .extend(self.against_chain(ledger, chain, &entries).await?);
        }
        if result.problems.is_empty() {
            self.save_seen(chain, &cp)?;
        }
        Ok(result)
    }

    fn seen_path(&self, chain: u32) -> PathBuf {
        self.state_dir
            .join(&self.manifest.election_id)
            .join(format!("chain-{chain}.checkpoint"))
    }

    /// The last checkpoint seen must be a prefix of this one: same root at its size.
    fn against_last_seen(
        &self,
        chain: u32,
        cp: &Checkpoint,
        entries: &[Hash],
    ) -> Result<Option<String>, AuditError> {
        let path = self.seen_path(chain);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AuditError::State(path.display().to_string(), e)),
        };
        let Ok(seen) = Checkpoint::parse(&text) else {
            return Ok(Some(format!("{}: not a checkpoint", path.display())));
        };
        if seen.size > cp.size {
            return Ok(Some(format!(
                "rollback: the log is at size {}, this auditor saw size {} before",
                cp.size, seen.size
            )));
        }
        let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        let old_root = merkle::tree_hash(&leaves[..], seen.size).expect("all leaves at hand");
        Ok((old_root != seen.root).then(|| {
            format!(
                "fork: the tree of size {} now has another root than the checkpoint seen before",
                seen.size
            )
        }))
    }

    fn save_seen(&self, chain: u32, cp: &Checkpoint) -> Result<(), AuditError> {
        let path = self.seen_path(chain);
        let err = |e| AuditError::State(path.display().to_string(), e);
        let dir = path.parent().expect("a file in a directory");
        std::fs::create_dir_all(dir).map_err(err)?;
        write_atomically(&path, cp.text().as_bytes()).map_err(err)
    }

    /// The chain read from DynamoDB, verified, must be exactly the log's entries.
    async fn against_chain(
        &self,
        ledger: &Ledger,
        chain: u32,
        entries: &[Hash],
    ) -> Result<Vec<String>, AuditError> {
        let e = self.manifest.registry_election();
        let mut checker = ChainChecker::new(&e.id, chain, e.chains, e.rule);
        let mut hashes = Vec::new();
        let mut seen = HashSet::new();
        read_chain(ledger, &e.id, chain, e.chains, |it| {
            let s = stored(it);
            if let votechain_core::verify::Stored::Vote { vote, .. } = &s {
                hashes.push(vote.hash);
            }
            checker.feed(&s, &mut seen);
        })
        .await?;
        let mut problems: Vec<String> = checker
            .problems
            .iter()
            .take(5)
            .map(|p| format!("chain: {p}"))
            .collect();
        if let Some(i) = (0..entries.len()).find(|&i| hashes.get(i) != Some(&entries[i])) {
            problems.push(format!(
                "chain {chain} differs from its log at index {i} (seq {}): the ledger was rewritten after it was logged",
                i + 1
            ));
        }
        Ok(problems)
    }
}

/// Rebuilds the tree from the fetched entry bundles: every tile must be what the entries
/// give, and the root the checkpoint's. Returns the entries.
fn rebuild(
    cp: &Checkpoint,
    fetched: &std::collections::HashMap<Tile, Vec<u8>>,
) -> Result<Vec<Hash>, String> {
    let mut entries = Vec::with_capacity(cp.size as usize);
    let mut bundles: Vec<&Tile> = fetched.keys().filter(|t| t.kind == Kind::Entries).collect();
    bundles.sort();
    for t in bundles {
        let got =
            tiles::parse_bundle(t.width, &fetched[t]).map_err(|e| format!("{}: {e}", t.path()))?;
        entries.extend(got);
    }
    let mut edge = Edge::default();
    let written = edge.append(&entries);
    for w in written.iter().chain(edge.partials().iter()) {
        if fetched.get(&w.tile) != Some(&w.data) {
            return Err(format!(
                "tile {} is not what the log's entries give",
                w.tile.path()
            ));
        }
    }
    if edge.size() != cp.size || edge.root() != cp.root {
        return Err("the entries do not give the checkpoint's root".into());
    }
    Ok(entries)
}

/// Writes `data` to a temporary file beside `path`, fsyncs it, and renames it over `path`.
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
