//! Operations on the ledger table: everything votechain reads from or writes to it.
//!
//! Writes: [`Ledger::append`] (ChainWriter only). Reads: checkpoints and chain tips
//! (consistent, for a ChainWriter resuming), vote_id markers (dedup, receipts), and
//! whole chains page by page (`verify`).

use super::items::{self, Checkpoint, Item, VoteItem};
use super::{ErrorClass, classify, describe};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use std::collections::{HashMap, HashSet};
use votechain_core::chain::Tip;
use votechain_core::linking::Chained;
use votechain_core::model::Election;

#[derive(Debug, Clone, thiserror::Error)]
#[error("DynamoDB {op} failed ({class:?}): {detail}")]
pub struct LedgerError {
    pub op: &'static str,
    pub class: ErrorClass,
    pub detail: String,
}

impl LedgerError {
    fn from_sdk<E>(
        op: &'static str,
        e: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> LedgerError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug,
    {
        LedgerError {
            op,
            class: classify(e),
            detail: describe(e),
        }
    }
    fn corrupt(op: &'static str, e: items::ItemError) -> LedgerError {
        LedgerError {
            op,
            class: ErrorClass::Fatal,
            detail: e.to_string(),
        }
    }
}

/// Outcome of one append transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    Committed,
    /// A condition failed: the checkpoint moved, a seq or a vote_id exists already.
    /// Carries DynamoDB's cancellation reason codes, one per action.
    ConditionFailed(Vec<String>),
}

#[derive(Clone)]
pub struct Ledger {
    pub db: Client,
    pub table: String,
}

/// Vote items per page of a chain read ([`Ledger::chain_page`]): about DynamoDB's 1 MB page
/// of vote items (~420 bytes each), so on DynamoDB the limit adds no round trip. DynamoDB
/// Local needs it: a Query without a limit reads every item of its key range there, and a
/// range that starts at the first vote costs every page as much as the chain so far (a page
/// of a million-vote chain took 25 s; docs/performance.md).
pub const CHAIN_PAGE_ITEMS: i32 = 2_500;

impl Ledger {
    pub fn new(db: Client, table: impl Into<String>) -> Ledger {
        Ledger {
            db,
            table: table.into(),
        }
    }

    /// The partition's checkpoint, read consistently. `None` before the first write.
    pub async fn checkpoint(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Option<Checkpoint>, LedgerError> {
        let key = items::key(items::checkpoint_pk(topic, partition), items::CHECKPOINT_SK);
        let item = super::get_consistent(&self.db, &self.table, key)
            .await
            .map_err(|e| LedgerError::from_sdk("GetItem(checkpoint)", &e))?;
        item.as_ref()
            .map(items::parse_checkpoint)
            .transpose()
            .map_err(|e| LedgerError::corrupt("GetItem(checkpoint)", e))
    }

    /// The chain's last vote, read consistently; its rule's genesis when the chain is empty.
    pub async fn tip(&self, e: &Election, chain: u32) -> Result<Tip, LedgerError> {
        let (election_id, chains) = (e.id.as_str(), e.chains);
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :vote)")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(items::chain_pk(election_id, chain, chains)),
            )
            .expression_attribute_values(":vote", AttributeValue::S("VOTE#".into()))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| LedgerError::from_sdk("Query(tip)", &e))?;
        match out.items().first() {
            None => Ok(e.tip0(chain)),
            Some(it) => {
                let v = items::parse_vote(it).map_err(|e| LedgerError::corrupt("Query(tip)", e))?;
                Ok(Tip {
                    seq: v.seq,
                    hash: v.hash,
                })
            }
        }
    }

    /// Which of these `(election_id, vote_id)` pairs already have a marker, with the choice
    /// it records (consistent reads).
    pub async fn chained_vote_ids(&self, ids: &[(String, String)]) -> Result<Chained, LedgerError> {
        let mut found = Chained::new();
        // BatchGetItem refuses duplicate keys; a batch often holds a vote and its resubmission.
        let unique: Vec<&(String, String)> =
            ids.iter().collect::<HashSet<_>>().into_iter().collect();
        for chunk in unique.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|(e, v)| items::key(items::marker_pk(e, v), items::MARKER_SK))
                .collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .projection_expression("election_id, vote_id, choice")
                    .build()
                    .expect("keys set"),
            );
            let mut attempt = 0u32;
            while let Some(ka) = pending.take() {
                let out = self
                    .db
                    .batch_get_item()
                    .request_items(&self.table, ka)
                    .send()
                    .await
                    .map_err(|e| LedgerError::from_sdk("BatchGetItem(markers)", &e))?;
                for it in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if let (Some(AttributeValue::S(e)), Some(AttributeValue::S(v))) =
                        (it.get("election_id"), it.get("vote_id"))
                    {
                        found.insert((e.clone(), v.clone()), items::marker_choice(it));
                    }
                }
                pending = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
                if pending.is_some() {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(
                        (10u64 << attempt.min(6)).min(1_000),
                    ))
                    .await;
                }
            }
        }
        Ok(found)
    }

    /// Appends votes and moves the partition checkpoint from `expected` to `next`, atomically.
    /// Each vote item and marker must not exist; the checkpoint must still say `expected`
    /// (or not exist when `expected` is `None`). `token` makes a retried call idempotent;
    /// `updated_at_ms` is part of the request, so it is fixed with the token by the caller.
    #[allow(clippy::too_many_arguments)]
    pub async fn append(
        &self,
        votes: &[(VoteItem, u32)],
        topic: &str,
        partition: i32,
        expected: Option<i64>,
        next: i64,
        writer_id: &str,
        instance: &str,
        token: &str,
        updated_at_ms: i64,
    ) -> Result<AppendOutcome, LedgerError> {
        let mut actions = Vec::with_capacity(votes.len() * 2 + 1);
        for (v, chains) in votes {
            for item in [items::vote_item(v, *chains), items::marker_item(v)] {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .expect("complete put");
                actions.push(TransactWriteItem::builder().put(put).build());
            }
        }
        let mut upd = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::key(
                items::checkpoint_pk(topic, partition),
                items::CHECKPOINT_SK,
            )))
            .update_expression(
                "SET next_offset = :next, writer_id = :w, instance = :i, updated_at_ms = :now",
            )
            .expression_attribute_values(":i", AttributeValue::S(instance.into()))
            .expression_attribute_values(":next", AttributeValue::N(next.to_string()))
            .expression_attribute_values(":w", AttributeValue::S(writer_id.into()))
            // Stamped once per token: a retry with the same token must send the same
            // request, or DynamoDB answers IdempotentParameterMismatch.
            .expression_attribute_values(":now", AttributeValue::N(updated_at_ms.to_string()));
        upd = match expected {
            None => upd.condition_expression("attribute_not_exists(pk)"),
            Some(off) => upd
                .condition_expression("next_offset = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(off.to_string())),
        };
        actions.push(
            TransactWriteItem::builder()
                .update(upd.build().expect("complete update"))
                .build(),
        );
        debug_assert!(actions.len() <= 100);
        match self
            .db
            .transact_write_items()
            .set_transact_items(Some(actions))
            .client_request_token(token)
            .send()
            .await
        {
            Ok(_) => Ok(AppendOutcome::Committed),
            Err(e) => {
                let codes = super::cancellation_codes(&e);
                if !codes.is_empty() {
                    if codes.iter().any(|c| c == "ConditionalCheckFailed") {
                        return Ok(AppendOutcome::ConditionFailed(codes));
                    }
                    // Throttling or conflict inside the transaction: retryable.
                    let kind = codes
                        .iter()
                        .find_map(|c| super::retryable_code(c))
                        .unwrap_or("transaction_canceled");
                    return Err(LedgerError {
                        op: "TransactWriteItems",
                        class: ErrorClass::Retry(kind),
                        detail: codes.join(","),
                    });
                }
                Err(LedgerError::from_sdk("TransactWriteItems", &e))
            }
        }
    }

    /// The chained vote with this id, via its marker; `None` while not chained.
    pub async fn receipt(
        &self,
        election_id: &str,
        vote_id: &str,
        chains: u32,
    ) -> Result<Option<VoteItem>, LedgerError> {
        let key = items::key(items::marker_pk(election_id, vote_id), items::MARKER_SK);
        let item = super::get_consistent(&self.db, &self.table, key)
            .await
            .map_err(|e| LedgerError::from_sdk("GetItem(marker)", &e))?;
        let Some(marker) = item.as_ref() else {
            return Ok(None);
        };
        let (chain, seq) =
            items::parse_marker(marker).map_err(|e| LedgerError::corrupt("GetItem(marker)", e))?;
        let key = items::key(
            items::chain_pk(election_id, chain, chains),
            items::vote_sk(seq),
        );
        let item = super::get_consistent(&self.db, &self.table, key)
            .await
            .map_err(|e| LedgerError::from_sdk("GetItem(vote)", &e))?;
        item.as_ref()
            .map(items::parse_vote)
            .transpose()
            .map_err(|e| LedgerError::corrupt("GetItem(vote)", e))
    }

    /// Records that the Kafka record at `offset`, another ballot under the chained
    /// `vote_id`, was refused as a conflict (received by ingest at `at_ms`). Idempotent: the
    /// offsets are a set, so a record the writer sees again after a restart counts once.
    pub async fn record_refusal(
        &self,
        election_id: &str,
        vote_id: &str,
        offset: i64,
        at_ms: i64,
    ) -> Result<(), LedgerError> {
        self.db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::key(
                items::refused_pk(election_id, vote_id),
                items::REFUSED_SK,
            )))
            .update_expression(
                "ADD offsets :o SET first_at_ms = if_not_exists(first_at_ms, :t), last_at_ms = :t",
            )
            .expression_attribute_values(":o", AttributeValue::Ns(vec![offset.to_string()]))
            .expression_attribute_values(":t", AttributeValue::N(at_ms.to_string()))
            .send()
            .await
            .map_err(|e| LedgerError::from_sdk("UpdateItem(refused)", &e))?;
        Ok(())
    }

    /// The refused resubmissions under `vote_id` ([`Ledger::record_refusal`]), if any.
    pub async fn refusals(
        &self,
        election_id: &str,
        vote_id: &str,
    ) -> Result<Option<items::Refusals>, LedgerError> {
        let key = items::key(items::refused_pk(election_id, vote_id), items::REFUSED_SK);
        let item = super::get_consistent(&self.db, &self.table, key)
            .await
            .map_err(|e| LedgerError::from_sdk("GetItem(refused)", &e))?;
        item.as_ref()
            .map(items::parse_refusals)
            .transpose()
            .map_err(|e| LedgerError::corrupt("GetItem(refused)", e))
    }

    /// One page of a chain's raw items in seq order, starting after `start` (a last-evaluated
    /// key), at most [`CHAIN_PAGE_ITEMS`].
    pub async fn chain_page(
        &self,
        election_id: &str,
        chain: u32,
        chains: u32,
        start: Option<HashMap<String, AttributeValue>>,
        consistent: bool,
    ) -> Result<(Vec<Item>, Option<HashMap<String, AttributeValue>>), LedgerError> {
        let (e, limit) = (election_id, CHAIN_PAGE_ITEMS);
        self.chain_page_of(e, chain, chains, start, consistent, limit)
            .await
    }

    /// [`Ledger::chain_page`] with at most `limit` items a page (tests use smaller pages).
    pub async fn chain_page_of(
        &self,
        election_id: &str,
        chain: u32,
        chains: u32,
        start: Option<HashMap<String, AttributeValue>>,
        consistent: bool,
        limit: i32,
    ) -> Result<(Vec<Item>, Option<HashMap<String, AttributeValue>>), LedgerError> {
        // Every sk that begins with "VOTE#" (a malformed one too, for verify to report),
        // from the page's start key on: "VOTE$" follows "VOTE#..." in byte order.
        let from = start
            .as_ref()
            .and_then(|k| k.get("sk"))
            .and_then(|v| v.as_s().ok())
            .map_or("VOTE#", |sk| sk.as_str())
            .to_string();
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(items::chain_pk(election_id, chain, chains)),
            )
            .expression_attribute_values(":from", AttributeValue::S(from))
            .expression_attribute_values(":to", AttributeValue::S("VOTE$".into()))
            .scan_index_forward(true)
            .consistent_read(consistent)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| LedgerError::from_sdk("Query(chain)", &e))?;
        Ok((out.items().to_vec(), out.last_evaluated_key().cloned()))
    }

    /// Up to `limit` vote items of a chain after seq `after`, in seq order, read
    /// consistently (the log publisher follows a chain with it). An unreadable item is an
    /// error: the log never skips a vote.
    pub async fn votes_after(
        &self,
        e: &Election,
        chain: u32,
        after: u64,
        limit: i32,
    ) -> Result<Vec<VoteItem>, LedgerError> {
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(items::chain_pk(&e.id, chain, e.chains)),
            )
            .expression_attribute_values(":from", AttributeValue::S(items::vote_sk(after + 1)))
            .expression_attribute_values(":to", AttributeValue::S(items::vote_sk(u64::MAX)))
            .scan_index_forward(true)
            .consistent_read(true)
            .limit(limit)
            .send()
            .await
            .map_err(|err| LedgerError::from_sdk("Query(votes after)", &err))?;
        out.items()
            .iter()
            .map(items::parse_vote)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| LedgerError::corrupt("Query(votes after)", err))
    }
}
