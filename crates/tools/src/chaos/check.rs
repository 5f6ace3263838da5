//! The chaos checker: after a scenario, with every fault cleared, does the system hold
//! what it promises?
//! - every vote_id that got 202 is chained exactly once (lost = 0, duplicated = 0);
//! - nothing is chained that was never submitted (phantom = 0);
//! - seq is contiguous and every hash verifies (`verify`);
//! - the served results equal the recount (Kafka, chain and read model agree).

use super::load::Book;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use votechain::config::Config;
use votechain::dynamo::ledger::{Ledger, LedgerError};
use votechain::verify::read_chain;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    pub submitted: u64,
    pub acknowledged: u64,
    pub chained: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub phantom: u64,
    pub verify_intact: bool,
    pub recount_agrees: bool,
    pub problems: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.phantom == 0
            && self.verify_intact
            && self.recount_agrees
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("reading the ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("election '{0}' is not served by the config")]
    UnknownElection(String),
}

/// Every vote_id in the election's chains, with repeats.
async fn chained_ids(
    ledger: &Ledger,
    election: &str,
    chains: u32,
) -> Result<Vec<String>, LedgerError> {
    let mut out = vec![];
    for c in 0..chains {
        let id = |it: &votechain::dynamo::items::Item| {
            it.get("vote_id").and_then(|v| v.as_s().ok()).cloned()
        };
        read_chain(ledger, election, c, chains, |it| out.extend(id(it))).await?;
    }
    Ok(out)
}

pub async fn check(
    cfg: &Config,
    ledger: &Ledger,
    election: &str,
    book: &Book,
    settle: Duration,
) -> Result<Verdict, CheckError> {
    let Some(e) = cfg.registry().get(election).cloned() else {
        return Err(CheckError::UnknownElection(election.into()));
    };
    let chains = e.chains;
    // Let the pipeline drain: every acknowledged vote chained, or the settle time is over.
    let deadline = tokio::time::Instant::now() + settle;
    let mut ids = chained_ids(ledger, election, chains).await?;
    loop {
        let set: BTreeSet<&String> = ids.iter().collect();
        if book.acknowledged.iter().all(|v| set.contains(v))
            || tokio::time::Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        ids = chained_ids(ledger, election, chains).await?;
    }
    // One more look after a pause, so straggling duplicates would show.
    tokio::time::sleep(Duration::from_secs(1)).await;
    ids = chained_ids(ledger, election, chains).await?;
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for v in &ids {
        *counts.entry(v).or_default() += 1;
    }
    let mut v = Verdict {
        submitted: book.submitted.len() as u64,
        acknowledged: book.acknowledged.len() as u64,
        chained: counts.len() as u64,
        ..Verdict::default()
    };
    v.lost = book
        .acknowledged
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .count() as u64;
    v.duplicated = counts.values().map(|n| n - 1).sum();
    v.phantom = counts
        .keys()
        .filter(|id| !book.submitted.contains_key(**id))
        .count() as u64;
    for id in book
        .acknowledged
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .take(5)
    {
        v.problems
            .push(format!("acknowledged but not chained: {id}"));
    }
    for (id, n) in counts.iter().filter(|(_, n)| **n > 1).take(5) {
        v.problems.push(format!("chained {n} times: {id}"));
    }
    let report = votechain::verify::verify_election(ledger, &e).await?;
    v.verify_intact = report.intact;
    v.problems
        .extend(report.problems.iter().take(5).map(|p| p.to_string()));
    // The read model catches up, then all three counts must agree.
    let deadline = tokio::time::Instant::now() + settle;
    loop {
        match votechain::recount::recount(cfg, ledger, election, Duration::from_secs(30)).await {
            Ok(r) if r.agree => {
                v.recount_agrees = true;
                break;
            }
            Ok(r) if tokio::time::Instant::now() > deadline => {
                v.problems.extend(r.mismatches.iter().take(5).cloned());
                break;
            }
            Err(e) if tokio::time::Instant::now() > deadline => {
                v.problems.push(format!("recount failed: {e}"));
                break;
            }
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    Ok(v)
}
