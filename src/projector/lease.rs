//! The lease table, with the Kinesis Client Library's attribute names, so operators who
//! know KCL can read it: `leaseKey` (shard id), `leaseOwner`, `leaseCounter`, `checkpoint`,
//! `ownerSwitchesSinceCheckpoint`, `parentShardIds`. Extra: `streamArn`, `lastCheckpointAt`.
//!
//! Workers register themselves in the same table (`leaseKey = "worker#<id>"`, with a
//! `heartbeat` counter bumped at every renewal round), so every worker computes the same
//! rendezvous assignment from one consistent Scan (`votechain_core::balance`).
//!
//! Every change is conditional on what the caller last saw (the counter), so two workers
//! never both believe they took the same lease, and a worker whose lease moved cannot
//! renew, checkpoint or apply.

use crate::dynamo::{ErrorClass, classify, describe};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Update};
use std::collections::HashMap;

pub use votechain_core::lease::{Figures, Lease, SHARD_END, TRIM_HORIZON};

#[derive(Debug, Clone, thiserror::Error)]
pub enum LeaseError {
    /// The condition failed: someone else changed the lease first.
    #[error("lease {0} changed under us")]
    Lost(String),
    #[error("lease table {op}: {detail}")]
    Call {
        op: &'static str,
        class: ErrorClass,
        detail: String,
    },
}

impl LeaseError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LeaseError::Call {
                class: ErrorClass::Retry(_),
                ..
            }
        )
    }
}

fn call_err<E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug>(
    op: &'static str,
    key: &str,
    e: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> LeaseError {
    match classify(e) {
        ErrorClass::Conditional => LeaseError::Lost(key.into()),
        class => LeaseError::Call {
            op,
            class,
            detail: describe(e),
        },
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Registrations share the lease table under this key prefix.
pub const WORKER_PREFIX: &str = "worker#";

/// One consistent read of the lease table for a stream.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Shard leases, by key.
    pub leases: Vec<Lease>,
    /// Registered workers and their heartbeat counters, by id.
    pub workers: Vec<(String, i64)>,
}

#[derive(Clone)]
pub struct LeaseTable {
    pub db: Client,
    pub table: String,
    pub stream_arn: String,
}

impl LeaseTable {
    fn key(&self, k: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([("leaseKey".to_string(), s(k))])
    }

    /// All leases of this stream, read consistently.
    pub async fn scan(&self) -> Result<Vec<Lease>, LeaseError> {
        Ok(self.snapshot().await?.leases)
    }

    /// Leases and registered workers of this stream, from one consistent Scan.
    pub async fn snapshot(&self) -> Result<Snapshot, LeaseError> {
        let mut out = Snapshot::default();
        let mut start = None;
        loop {
            let r = self
                .db
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| call_err("Scan", "*", &e))?;
            for it in r.items() {
                if it.get("streamArn").and_then(|v| v.as_s().ok()) != Some(&self.stream_arn) {
                    continue;
                }
                let key = it.get("leaseKey").and_then(|v| v.as_s().ok());
                match key.and_then(|k| k.strip_prefix(WORKER_PREFIX)) {
                    Some(w) => out.workers.push((w.to_string(), parse(it).counter)),
                    None => out.leases.push(parse(it)),
                }
            }
            match r.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        out.leases.sort_by(|a, b| a.key.cmp(&b.key));
        out.workers.sort();
        Ok(out)
    }

    /// Registers (or re-registers) a worker: its heartbeat starts at 0.
    pub async fn register(&self, worker: &str) -> Result<(), LeaseError> {
        let key = format!("{WORKER_PREFIX}{worker}");
        let mut item = self.key(&key);
        item.insert("leaseCounter".into(), n(0));
        item.insert("streamArn".into(), s(&self.stream_arn));
        item.insert("registeredAt".into(), n(crate::now_ms()));
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| call_err("PutItem(register)", &key, &e))?;
        Ok(())
    }

    /// Bumps a worker's heartbeat (peers see it alive while it moves).
    pub async fn heartbeat(&self, worker: &str) -> Result<(), LeaseError> {
        let key = format!("{WORKER_PREFIX}{worker}");
        self.db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(&key)))
            .update_expression("ADD leaseCounter :one")
            .condition_expression("attribute_exists(leaseKey)")
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(|e| call_err("UpdateItem(heartbeat)", &key, &e))?;
        Ok(())
    }

    /// Removes a worker's registration (graceful stop, or a peer silent past failover,
    /// by the shard-sync worker) so peers re-hash without waiting.
    pub async fn deregister(&self, worker: &str) -> Result<(), LeaseError> {
        let key = format!("{WORKER_PREFIX}{worker}");
        self.db
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(&key)))
            .send()
            .await
            .map_err(|e| call_err("DeleteItem(deregister)", &key, &e))?;
        Ok(())
    }

    /// Deletes a finished lease (lease hygiene), only while it is still at `SHARD_END`.
    pub async fn delete_finished(&self, key: &str) -> Result<(), LeaseError> {
        self.db
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(key)))
            .condition_expression("checkpoint = :end")
            .expression_attribute_values(":end", s(SHARD_END))
            .send()
            .await
            .map_err(|e| call_err("DeleteItem(finished)", key, &e))?;
        Ok(())
    }

    /// One lease, read consistently.
    pub async fn get(&self, key: &str) -> Result<Option<Lease>, LeaseError> {
        let item = crate::dynamo::get_consistent(&self.db, &self.table, self.key(key))
            .await
            .map_err(|e| call_err("GetItem", key, &e))?;
        Ok(item.as_ref().map(parse))
    }

    /// Creates the lease unless it exists (a concurrent creator wins silently).
    pub async fn create(&self, l: &Lease) -> Result<(), LeaseError> {
        let mut item = self.key(&l.key);
        item.insert("leaseCounter".into(), n(0));
        item.insert("checkpoint".into(), s(&l.checkpoint));
        item.insert("ownerSwitchesSinceCheckpoint".into(), n(0));
        item.insert("streamArn".into(), s(&self.stream_arn));
        if !l.parents.is_empty() {
            item.insert(
                "parentShardIds".into(),
                AttributeValue::Ss(l.parents.clone()),
            );
        }
        match self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(leaseKey)")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match call_err("PutItem", &l.key, &e) {
                LeaseError::Lost(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    /// Renews a held lease: `leaseCounter + 1`, only if still ours at `counter`, and records
    /// the worker's figures. Returns the new counter.
    pub async fn renew(
        &self,
        key: &str,
        owner: &str,
        counter: i64,
        figures: Figures,
    ) -> Result<i64, LeaseError> {
        self.db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(key)))
            .update_expression(
                "SET leaseCounter = :next, lagMs = :lag, pendingRecords = :pending, figuresAt = :at",
            )
            .condition_expression("leaseOwner = :me AND leaseCounter = :held")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":held", n(counter))
            .expression_attribute_values(":next", n(counter + 1))
            .expression_attribute_values(":lag", n(figures.lag_ms))
            .expression_attribute_values(":pending", n(figures.pending))
            .expression_attribute_values(":at", n(figures.at_ms))
            .send()
            .await
            .map_err(|e| call_err("UpdateItem(renew)", key, &e))?;
        Ok(counter + 1)
    }

    /// Takes a lease seen at `seen.counter` (unowned, expired or stolen). Returns it as now held.
    pub async fn take(&self, seen: &Lease, me: &str) -> Result<Lease, LeaseError> {
        let switches = seen.owner_switches + i64::from(seen.owner.as_deref() != Some(me));
        self.db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(&seen.key)))
            .update_expression(
                "SET leaseOwner = :me, leaseCounter = :next, ownerSwitchesSinceCheckpoint = :sw",
            )
            .condition_expression("leaseCounter = :seen")
            .expression_attribute_values(":me", s(me))
            .expression_attribute_values(":seen", n(seen.counter))
            .expression_attribute_values(":next", n(seen.counter + 1))
            .expression_attribute_values(":sw", n(switches))
            .send()
            .await
            .map_err(|e| call_err("UpdateItem(take)", &seen.key, &e))?;
        Ok(Lease {
            owner: Some(me.into()),
            counter: seen.counter + 1,
            owner_switches: switches,
            ..seen.clone()
        })
    }

    /// Gives a lease up (graceful shutdown) so a peer takes it at once, without waiting for expiry.
    pub async fn release(&self, key: &str, owner: &str, counter: i64) -> Result<(), LeaseError> {
        self.db
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(key)))
            .update_expression("REMOVE leaseOwner SET leaseCounter = :next")
            .condition_expression("leaseOwner = :me AND leaseCounter = :held")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":held", n(counter))
            .expression_attribute_values(":next", n(counter + 1))
            .send()
            .await
            .map_err(|e| call_err("UpdateItem(release)", key, &e))?;
        Ok(())
    }

    /// The checkpoint update, for a transaction: only if the lease is still ours at `counter`
    /// AND still at `previous`. The second condition makes a retried transaction whose first
    /// attempt committed (answer lost) fail instead of applying its deltas twice.
    pub fn checkpoint_update(
        &self,
        key: &str,
        owner: &str,
        counter: i64,
        previous: &str,
        checkpoint: &str,
    ) -> Update {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(self.key(key)))
            .update_expression("SET checkpoint = :cp, ownerSwitchesSinceCheckpoint = :zero, lastCheckpointAt = :now")
            .condition_expression("leaseOwner = :me AND leaseCounter = :held AND checkpoint = :prev")
            .expression_attribute_values(":prev", s(previous))
            .expression_attribute_values(":cp", s(checkpoint))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", n(crate::now_ms()))
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":held", n(counter))
            .build()
            .expect("complete update")
    }
}

fn parse(it: &HashMap<String, AttributeValue>) -> Lease {
    let gs = |k: &str| it.get(k).and_then(|v| v.as_s().ok()).cloned();
    let gn = |k: &str| {
        it.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Lease {
        key: gs("leaseKey").unwrap_or_default(),
        owner: gs("leaseOwner"),
        counter: gn("leaseCounter"),
        checkpoint: gs("checkpoint").unwrap_or_else(|| TRIM_HORIZON.into()),
        owner_switches: gn("ownerSwitchesSinceCheckpoint"),
        parents: it
            .get("parentShardIds")
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default(),
        figures: Figures {
            lag_ms: gn("lagMs"),
            pending: gn("pendingRecords"),
            at_ms: gn("figuresAt"),
        },
    }
}
