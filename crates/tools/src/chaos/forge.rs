//! Forged ledger writes, for testing the checker itself: [`duplicate_at_tip`] appends to a
//! chain, straight into DynamoDB and past the writer, a vote whose vote_id is already
//! chained, correctly linked (so `verify`'s hashes still hold and only the duplicate
//! check can catch it). The production writer is never altered for this.

use votechain::dynamo::items::{self, VoteItem};
use votechain::dynamo::ledger::{Ledger, LedgerError};
use votechain::verify::read_chain;

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    #[error("chain {0} is empty: nothing to duplicate")]
    Empty(u32),
    #[error("PutItem: {0}")]
    Put(String),
}

/// Appends a copy of the chain's first vote (same vote_id and choice) at seq tip + 1.
/// Returns the duplicated vote_id.
pub async fn duplicate_at_tip(
    ledger: &Ledger,
    election: &str,
    chain_no: u32,
    chains: u32,
) -> Result<String, ForgeError> {
    let mut votes: Vec<VoteItem> = Vec::new();
    read_chain(ledger, election, chain_no, chains, |it| {
        votes.extend(items::parse_vote(it).ok())
    })
    .await?;
    let (Some(first), Some(last)) = (votes.first(), votes.last()) else {
        return Err(ForgeError::Empty(chain_no));
    };
    // Same vote_id, choice and salt (so the same hash rule), linked on the tip.
    let mut forged = VoteItem {
        seq: last.seq + 1,
        prev_hash: last.hash,
        kafka_offset: last.kafka_offset,
        ..first.clone()
    };
    forged.hash = forged.hash_on(&forged.prev_hash);
    let put = ledger
        .db
        .put_item()
        .table_name(&ledger.table)
        .set_item(Some(items::vote_item(&forged, chains)));
    put.send()
        .await
        .map_err(|e| ForgeError::Put(votechain::dynamo::describe(&e)))?;
    Ok(forged.vote_id)
}
