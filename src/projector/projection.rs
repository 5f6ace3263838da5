//! Which read table serves each election, and how a rebuilt projection takes over while
//! votes keep flowing: the active-projection pointer.
//!
//! The pointer is one item in the lease table (`leaseKey = "votechain#projection"`):
//! `epoch` (N), `state` (`active` | `frozen`), and `elections`: for each rebuilt election,
//! its `table` and per-chain `thresholds`. Elections not listed use the configured
//! `results_table` with no threshold.
//!
//! Every ShardWorker transaction carries a ConditionCheck `epoch = :e AND state = active`,
//! so the pointer cannot change under a batch: a batch prepared under the old pointer is
//! refused whole and re-prepared under the new one.
//!
//! Takeover by a rebuilt projection (`votechain replay`):
//! 1. replay the Kafka log into the new table up to a cut, with projections running;
//! 2. **freeze** (epoch+1, `frozen`): no projector transaction can commit; shard
//!    checkpoints stop at some positions P;
//! 3. read each chain's tip T (consistent) and continue the replay to exactly seq T;
//!    check the new table against the chain (counts, and the replayed hash at T equals the
//!    ledger's);
//! 4. **switch** (epoch+1, `active`, election -> new table with thresholds T).
//!
//! After the switch, projectors resume at P and apply a vote of that election to the new
//! table only if `seq > T[chain]`. Every vote projected before P was chained before the
//! freeze, so its seq <= T; every vote with seq > T was chained after the freeze, so its
//! record lies after P. Each vote therefore lands in the new table exactly once, whatever
//! the order of records in the stream (the threshold is fixed, not a moving high-water mark).

use crate::dynamo::{classify, describe};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use std::collections::{BTreeMap, HashMap};

pub const POINTER_KEY: &str = "votechain#projection";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionProjection {
    pub table: String,
    pub thresholds: BTreeMap<u32, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    pub epoch: i64,
    pub frozen: bool,
    /// A freeze is honoured until then; after it, projectors thaw the pointer themselves
    /// (epoch + 1), which makes the stalled rebuild's switch fail its condition.
    pub frozen_until_ms: i64,
    pub elections: BTreeMap<String, ElectionProjection>,
}

impl Projection {
    /// The table and threshold that apply to a vote of `election` on `chain`.
    pub fn target<'a>(
        &'a self,
        default_table: &'a str,
        election: &str,
        chain: u32,
    ) -> (&'a str, u64) {
        match self.elections.get(election) {
            Some(p) => (&p.table, p.thresholds.get(&chain).copied().unwrap_or(0)),
            None => (default_table, 0),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("projection pointer {op}: {detail}")]
pub struct PointerError {
    pub op: &'static str,
    pub detail: String,
    pub conditional: bool,
}

fn key() -> HashMap<String, AttributeValue> {
    HashMap::from([(
        "leaseKey".to_string(),
        AttributeValue::S(POINTER_KEY.into()),
    )])
}

fn item(p: &Projection) -> HashMap<String, AttributeValue> {
    let elections = p
        .elections
        .iter()
        .map(|(e, ep)| {
            let th = ep
                .thresholds
                .iter()
                .map(|(c, s)| (c.to_string(), AttributeValue::N(s.to_string())))
                .collect();
            let m = HashMap::from([
                ("table".to_string(), AttributeValue::S(ep.table.clone())),
                ("thresholds".to_string(), AttributeValue::M(th)),
            ]);
            (e.clone(), AttributeValue::M(m))
        })
        .collect();
    let mut it = key();
    it.insert("epoch".into(), AttributeValue::N(p.epoch.to_string()));
    it.insert(
        "state".into(),
        AttributeValue::S(if p.frozen { "frozen" } else { "active" }.into()),
    );
    it.insert(
        "frozen_until_ms".into(),
        AttributeValue::N(p.frozen_until_ms.to_string()),
    );
    it.insert("elections".into(), AttributeValue::M(elections));
    it
}

fn parse(it: &HashMap<String, AttributeValue>) -> Projection {
    let epoch = it
        .get("epoch")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let frozen = it
        .get("state")
        .and_then(|v| v.as_s().ok())
        .is_some_and(|s| s == "frozen");
    let frozen_until_ms = it
        .get("frozen_until_ms")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut elections = BTreeMap::new();
    if let Some(AttributeValue::M(m)) = it.get("elections") {
        for (e, v) in m {
            let Ok(ep) = v.as_m() else { continue };
            let table = ep
                .get("table")
                .and_then(|t| t.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let thresholds = ep
                .get("thresholds")
                .and_then(|t| t.as_m().ok())
                .map(|t| {
                    t.iter()
                        .filter_map(|(c, s)| Some((c.parse().ok()?, s.as_n().ok()?.parse().ok()?)))
                        .collect()
                })
                .unwrap_or_default();
            elections.insert(e.clone(), ElectionProjection { table, thresholds });
        }
    }
    Projection {
        epoch,
        frozen,
        frozen_until_ms,
        elections,
    }
}

/// Reads the pointer (consistent). A missing pointer is epoch 0, active, defaults only.
pub async fn read(db: &Client, lease_table: &str) -> Result<Projection, PointerError> {
    let item = crate::dynamo::get_consistent(db, lease_table, key())
        .await
        .map_err(|e| PointerError {
            op: "GetItem",
            detail: describe(&e),
            conditional: false,
        })?;
    Ok(item.as_ref().map(parse).unwrap_or(Projection {
        epoch: 0,
        frozen: false,
        frozen_until_ms: 0,
        elections: BTreeMap::new(),
    }))
}

/// Creates the pointer at epoch 1 if it does not exist (setup).
pub async fn ensure(db: &Client, lease_table: &str) -> Result<(), PointerError> {
    let p = Projection {
        epoch: 1,
        frozen: false,
        frozen_until_ms: 0,
        elections: BTreeMap::new(),
    };
    match db
        .put_item()
        .table_name(lease_table)
        .set_item(Some(item(&p)))
        .condition_expression("attribute_not_exists(leaseKey)")
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if matches!(classify(&e), crate::dynamo::ErrorClass::Conditional) => Ok(()),
        Err(e) => Err(PointerError {
            op: "PutItem",
            detail: describe(&e),
            conditional: false,
        }),
    }
}

/// Replaces the pointer with `next` if it is still at `expected_epoch`.
pub async fn replace(
    db: &Client,
    lease_table: &str,
    expected_epoch: i64,
    next: &Projection,
) -> Result<(), PointerError> {
    let put = Put::builder()
        .table_name(lease_table)
        .set_item(Some(item(next)))
        .condition_expression("epoch = :e")
        .expression_attribute_values(":e", AttributeValue::N(expected_epoch.to_string()))
        .build()
        .expect("complete");
    db.transact_write_items()
        .transact_items(TransactWriteItem::builder().put(put).build())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let conditional = crate::dynamo::cancellation_codes(&e)
                .iter()
                .any(|c| c == "ConditionalCheckFailed");
            PointerError {
                op: "switch",
                detail: describe(&e),
                conditional,
            }
        })
}

/// The ConditionCheck every projector transaction carries: the pointer is still at `epoch`, active.
pub fn guard(lease_table: &str, epoch: i64) -> ConditionCheck {
    ConditionCheck::builder()
        .table_name(lease_table)
        .set_key(Some(key()))
        .condition_expression("epoch = :e AND #s = :active")
        .expression_attribute_names("#s", "state")
        .expression_attribute_values(":e", AttributeValue::N(epoch.to_string()))
        .expression_attribute_values(":active", AttributeValue::S("active".into()))
        .build()
        .expect("complete")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_round_trips_and_targets_by_election_and_chain() {
        let p = Projection {
            epoch: 7,
            frozen: true,
            frozen_until_ms: 5,
            elections: BTreeMap::from([(
                "demo".into(),
                ElectionProjection {
                    table: "results-v2".into(),
                    thresholds: BTreeMap::from([(0, 41), (2, 9)]),
                },
            )]),
        };
        assert_eq!(parse(&item(&p)), p);
        assert_eq!(p.target("results", "demo", 0), ("results-v2", 41));
        assert_eq!(p.target("results", "demo", 1), ("results-v2", 0));
        assert_eq!(p.target("results", "other", 0), ("results", 0));
    }
}
