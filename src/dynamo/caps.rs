//! Ingest's vote caps (`ingest.key_max_votes`, or a key's own `max_votes`): how many
//! distinct vote_ids one station may submit in one election, counted exactly however many
//! ingest pods there are.
//!
//! The table `dynamodb.caps_table` (hash key `pk`) holds two kinds of item:
//! - `COUNT#{election}#{station}`: `n`, the distinct vote_ids the station has reserved;
//! - `VOTE#{election}#{vote_id}`: `station`, whose allowance the vote_id took.
//!
//! [`Caps::reserve`] creates the vote_id's item (`attribute_not_exists`) and adds 1 to the
//! station's counter under `n < cap`, in one `TransactWriteItems`, after every other check
//! of the request and before the vote goes to Kafka ([`decide`] reads the outcome):
//! - both conditions hold: a slot is taken ([`Reserved::Counted`]);
//! - the vote_id's item exists: a resubmission, not counted again ([`Reserved::Again`]);
//!   whoever reserved it, the writer chains a vote_id at most once;
//! - only the counter's condition fails: [`CapError::Reached`] (403), nothing written;
//! - two reservations of one station at once conflict (`TransactionConflict`): retried
//!   here a few times, then [`CapError::Unavailable`] (503 `overloaded`: the vote was not
//!   sent to Kafka, so it is certainly not recorded).
//!
//! A reservation whose Kafka transaction then fails stays: the client's retry with the
//! same vote_id passes free, and a vote_id the client abandons keeps its slot. The cap errs
//! toward refusing, never toward exceeding.
//!
//! Why at ingest and not in the writer's transaction: a cap must refuse before the 202 (a
//! vote acknowledged and then dropped would break "202 means it will be counted"), and the
//! ledger must not learn which station cast which vote (the station is only on the audit
//! topic). Why a transaction and not a per-pod counter: ingest pods scale out, and a cap
//! must hold whichever pod a vote reaches.
//!
//! Secrecy: the items hold election, station and vote_id (what the audit topic already
//! records), never the choice. Nothing that counts, verifies or audits reads this table;
//! it is not part of the ledger and may be dropped after the election.

use super::{classify, describe, retryable_code};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use std::collections::HashMap;
use std::time::Duration;

/// How often a reservation that conflicted with another of the same station is retried.
const CONFLICT_RETRIES: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// A new vote_id: one of the station's slots is taken.
    Counted,
    /// The vote_id was reserved before (a resubmission): no slot taken.
    Again,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CapError {
    #[error("this key has submitted its {0} votes for this election")]
    Reached(u64),
    #[error("the vote cap could not be checked: {0}")]
    Unavailable(String),
}

/// What a cancelled reservation's reason codes (vote_id item first, counter second) mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Again,
    Reached,
    Retry(&'static str),
    Fail(String),
}

/// Reads the cancellation reasons of a reservation. The vote_id's own condition decides
/// first: a known vote_id is a resubmission whatever the counter says (a station at its
/// cap may still resend the votes it was granted).
pub fn decide(codes: &[String]) -> Decision {
    let code = |i: usize| codes.get(i).map_or("None", String::as_str);
    if code(0) == "ConditionalCheckFailed" {
        return Decision::Again;
    }
    if code(1) == "ConditionalCheckFailed" {
        return Decision::Reached;
    }
    match codes.iter().find_map(|c| retryable_code(c)) {
        Some(kind) => Decision::Retry(kind),
        None => Decision::Fail(codes.join(",")),
    }
}

/// The caps table.
#[derive(Clone)]
pub struct Caps {
    db: Client,
    table: String,
}

impl Caps {
    pub fn new(db: Client, table: impl Into<String>) -> Caps {
        Caps {
            db,
            table: table.into(),
        }
    }

    /// Reserves `vote_id` against `station`'s cap in `election` (see the module doc).
    pub async fn reserve(
        &self,
        election: &str,
        station: &str,
        vote_id: &str,
        cap: u64,
    ) -> Result<Reserved, CapError> {
        let mut attempt = 0;
        loop {
            let err = match self.transact(election, station, vote_id, cap).await {
                Ok(()) => return Ok(Reserved::Counted),
                Err(e) => e,
            };
            let codes = super::cancellation_codes(&err);
            let decision = if codes.is_empty() {
                match classify(&err) {
                    super::ErrorClass::Retry(kind) => Decision::Retry(kind),
                    _ => Decision::Fail(describe(&err)),
                }
            } else {
                decide(&codes)
            };
            match decision {
                Decision::Again => return Ok(Reserved::Again),
                Decision::Reached => return Err(CapError::Reached(cap)),
                Decision::Retry(_) if attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    let jitter = rand::random::<u64>() % 20;
                    tokio::time::sleep(Duration::from_millis(10 * attempt as u64 + jitter)).await;
                }
                Decision::Retry(kind) => return Err(CapError::Unavailable(kind.to_string())),
                Decision::Fail(detail) => return Err(CapError::Unavailable(detail)),
            }
        }
    }

    async fn transact(
        &self,
        election: &str,
        station: &str,
        vote_id: &str,
        cap: u64,
    ) -> Result<
        (),
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
            aws_sdk_dynamodb::config::http::HttpResponse,
        >,
    > {
        let s = |v: String| AttributeValue::S(v);
        let claim = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("VOTE#{election}#{vote_id}")))
            .item("station", s(station.into()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("complete put");
        let count = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("COUNT#{election}#{station}")))
            .update_expression("ADD n :one")
            .condition_expression("attribute_not_exists(n) OR n < :cap")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":cap", AttributeValue::N(cap.to_string()))
            .build()
            .expect("complete update");
        self.db
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(claim).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await
            .map(|_| ())
    }

    /// The distinct vote_ids `station` has reserved in `election` (0 before its first).
    pub async fn count(&self, election: &str, station: &str) -> Result<u64, CapError> {
        let key = HashMap::from([(
            "pk".to_string(),
            AttributeValue::S(format!("COUNT#{election}#{station}")),
        )]);
        let item = super::get_consistent(&self.db, &self.table, key)
            .await
            .map_err(|e| CapError::Unavailable(describe(&e)))?;
        Ok(item
            .as_ref()
            .and_then(|it| it.get("n"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(a: &str, b: &str) -> Vec<String> {
        vec![a.into(), b.into()]
    }

    #[test]
    fn a_known_vote_id_is_a_resubmission_even_at_the_cap() {
        assert_eq!(
            decide(&codes("ConditionalCheckFailed", "None")),
            Decision::Again
        );
        assert_eq!(
            decide(&codes("ConditionalCheckFailed", "ConditionalCheckFailed")),
            Decision::Again
        );
    }

    #[test]
    fn only_the_counter_failing_is_the_cap() {
        assert_eq!(
            decide(&codes("None", "ConditionalCheckFailed")),
            Decision::Reached
        );
    }

    #[test]
    fn conflicts_and_throttling_are_retried_and_the_rest_fails() {
        assert_eq!(
            decide(&codes("None", "TransactionConflict")),
            Decision::Retry("transaction_conflict")
        );
        assert_eq!(
            decide(&codes("ThrottlingError", "None")),
            Decision::Retry("throttling")
        );
        assert_eq!(
            decide(&codes("ValidationError", "None")),
            Decision::Fail("ValidationError,None".into())
        );
    }
}
