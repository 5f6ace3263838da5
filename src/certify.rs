//! Certification: after an election closes, the log key signs one tally statement
//! (contract v2) naming every chain's published tree and the counts exactly those trees
//! hold. `votechain election certify` runs [`certify`]; the query role serves the stored
//! statement at `GET /v1/elections/{id}/tally`; `votechain audit --tally` re-derives it.
//!
//! The statement is derived from the chains themselves, verified, and only once every
//! chain's published checkpoint covers every chained vote; the chain's entries must be
//! exactly the tree the checkpoint signs. It is stored create-only (`TALLY#{id}`): an
//! election is certified once; certifying again is a no-op when nothing changed and an
//! error otherwise.

use crate::dynamo::ledger::{Ledger, LedgerError};
use crate::logstore::{LogError, LogStore};
use crate::signer::Signer;
use crate::verify::{ChainChecker, read_chain, stored};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use votechain_core::manifest::Manifest;
use votechain_core::merkle;
use votechain_core::tally::{Tally, TallyError};

#[derive(Debug, thiserror::Error)]
pub enum CertifyError {
    #[error(
        "election '{id}' is open until {closes_at_ms} (ms since the epoch); certify after it closes"
    )]
    StillOpen { id: String, closes_at_ms: i64 },
    #[error(
        "chain {chain}: {chained} votes chained, the published log covers {published}; the publisher is behind (or stopped)"
    )]
    NotCovered {
        chain: u32,
        chained: u64,
        published: u64,
    },
    #[error("chain {chain} does not verify or is not its log's tree: {detail}")]
    Chain { chain: u32, detail: String },
    #[error("the signing key is not the manifest's log key")]
    WrongKey,
    #[error("election '{0}' is already certified with another statement")]
    AlreadyCertified(String),
    #[error(transparent)]
    Tally(#[from] TallyError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("DynamoDB: {0}")]
    Call(String),
}

fn key(id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(format!("TALLY#{id}"))),
        ("sk".to_string(), AttributeValue::S("TALLY".into())),
    ])
}

/// The stored tally statement of an election, if certified.
pub async fn stored_statement(ledger: &Ledger, id: &str) -> Result<Option<String>, CertifyError> {
    let item = crate::dynamo::get_consistent(&ledger.db, &ledger.table, key(id))
        .await
        .map_err(|e| CertifyError::Call(crate::dynamo::describe(&e)))?;
    Ok(item
        .as_ref()
        .and_then(|it| it.get("statement"))
        .and_then(|v| v.as_s().ok())
        .cloned())
}

/// Derives the tally from the verified chains, each exactly its published tree.
pub async fn derive(ledger: &Ledger, logs: &LogStore, m: &Manifest) -> Result<Tally, CertifyError> {
    let e = m.registry_election();
    let mut trees = Vec::new();
    let mut choices: Vec<(String, String)> = Vec::new();
    let mut seen = HashSet::new();
    for chain in 0..e.chains {
        let chained = ledger.tip(&e, chain).await?.seq;
        let published = match logs.published(&e.id, chain).await? {
            Some(p) if p.size == chained => p,
            other => {
                return Err(CertifyError::NotCovered {
                    chain,
                    chained,
                    published: other.map_or(0, |p| p.size),
                });
            }
        };
        let mut checker = ChainChecker::new(&e.id, chain, e.chains, e.rule);
        let mut leaves = Vec::new();
        read_chain(ledger, &e.id, chain, e.chains, |it| {
            let s = stored(it);
            if let votechain_core::verify::Stored::Vote { vote, .. } = &s {
                leaves.push(merkle::leaf_hash(&vote.hash));
                choices.push((vote.candidate_id.clone(), vote.region_id.clone()));
            }
            checker.feed(&s, &mut seen);
        })
        .await?;
        if let Some(p) = checker.problems.first() {
            return Err(CertifyError::Chain {
                chain,
                detail: p.to_string(),
            });
        }
        if leaves.len() as u64 != published.size || merkle::root_of(&leaves) != published.root {
            return Err(CertifyError::Chain {
                chain,
                detail: "its votes are not the published tree".into(),
            });
        }
        trees.push((published.size, published.root));
    }
    Ok(Tally::derive(
        m,
        trees,
        choices.iter().map(|(c, r)| (c.as_str(), r.as_str())),
    )?)
}

/// Certifies a closed election: waits up to `wait` for the logs to cover every chained
/// vote, derives the tally, signs it, stores it once. Returns the signed statement.
pub async fn certify(
    ledger: &Ledger,
    logs: &LogStore,
    m: &Manifest,
    signer: &dyn Signer,
    now_ms: i64,
    wait: Duration,
) -> Result<String, CertifyError> {
    if now_ms < m.closes_at_ms {
        return Err(CertifyError::StillOpen {
            id: m.election_id.clone(),
            closes_at_ms: m.closes_at_ms,
        });
    }
    if Some(signer.public_key()) != m.public_key_bytes() {
        return Err(CertifyError::WrongKey);
    }
    let deadline = tokio::time::Instant::now() + wait;
    let tally = loop {
        match derive(ledger, logs, m).await {
            Ok(t) => break t,
            Err(CertifyError::NotCovered { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let text = tally.text();
    let statement = format!("{text}\n{}", signer.sign_line(&text, &m.log_origin));
    let mut item = key(&m.election_id);
    item.insert("statement".into(), AttributeValue::S(statement.clone()));
    let put = ledger
        .db
        .put_item()
        .table_name(&ledger.table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    match put {
        Ok(_) => Ok(statement),
        Err(e) if crate::dynamo::classify(&e) == crate::dynamo::ErrorClass::Conditional => {
            match stored_statement(ledger, &m.election_id).await? {
                Some(s) if s == statement => Ok(s),
                _ => Err(CertifyError::AlreadyCertified(m.election_id.clone())),
            }
        }
        Err(e) => Err(CertifyError::Call(crate::dynamo::describe(&e))),
    }
}
