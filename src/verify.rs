//! Reading chains back from DynamoDB for `votechain verify`, `export`, `recount`,
//! `replay` and the chaos checker: [`read_chain`] pages through one chain in seq order
//! with consistent reads; [`stored`] turns a raw item into what the core's `ChainChecker`
//! checks; [`verify_election`] is `votechain verify`.

use crate::dynamo::items::{self, Item};
use crate::dynamo::ledger::{Ledger, LedgerError};
use std::collections::HashSet;
use votechain_core::model::Election;
pub use votechain_core::verify::{ChainChecker, ChainSummary, Problem, Report, Stored};

/// A raw ledger item as the checker sees it: key and fields, or why it is unreadable.
pub fn stored(it: &Item) -> Stored {
    let key = |a: &str| {
        it.get(a)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    match items::parse_vote(it) {
        Ok(vote) => Stored::Vote {
            pk: key("pk"),
            sk: key("sk"),
            vote: Box::new(vote),
        },
        Err(e) => Stored::Unreadable {
            sk: key("sk"),
            detail: e.to_string(),
        },
    }
}

/// Calls `f` with every item of one chain, in seq order (consistent reads).
pub async fn read_chain(
    ledger: &Ledger,
    election: &str,
    chain: u32,
    chains: u32,
    mut f: impl FnMut(&Item),
) -> Result<(), LedgerError> {
    let mut start = None;
    loop {
        let (page, next) = ledger
            .chain_page(election, chain, chains, start, true)
            .await?;
        page.iter().for_each(&mut f);
        match next {
            Some(k) => start = Some(k),
            None => return Ok(()),
        }
    }
}

/// Walks every chain of the election and recomputes every hash under its rule (v2: on
/// the manifest's genesis, salted).
pub async fn verify_election(ledger: &Ledger, e: &Election) -> Result<Report, LedgerError> {
    let mut seen = HashSet::new();
    let mut report = Report::new(&e.id);
    for chain in 0..e.chains {
        let mut checker = ChainChecker::new(&e.id, chain, e.chains, e.rule);
        read_chain(ledger, &e.id, chain, e.chains, |it| {
            checker.feed(&stored(it), &mut seen)
        })
        .await?;
        report.add(checker);
    }
    Ok(report)
}
