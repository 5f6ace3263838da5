//! Idempotent table creation (`votechain setup-tables`, `votechain dev`, tests): the
//! ledger, the lease table with its projection pointer, the read model, ingest's caps.
//!
//! The ledger: `pk`/`sk` strings, on-demand capacity, Streams with `NEW_IMAGE`
//! (contract). Creating a table that exists is a no-op; a table that exists with
//! another key schema or without the stream is an error, not a silent mismatch.

use crate::dynamo::{ErrorClass, classify};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TableStatus,
};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("DynamoDB call {op} on table {table} failed: {detail}")]
    Call {
        op: &'static str,
        table: String,
        detail: String,
    },
    #[error("table {table} exists but {problem}")]
    Mismatch { table: String, problem: String },
    #[error("table {0} did not become ACTIVE in time")]
    NotActive(String),
}

/// Creates the ledger table unless it exists; waits until it is ACTIVE.
pub async fn ensure_ledger_table(db: &Client, table: &str) -> Result<(), TableError> {
    ensure_table(
        db,
        table,
        &[("pk", KeyType::Hash), ("sk", KeyType::Range)],
        Some(StreamViewType::NewImage),
    )
    .await
}

/// Every table of a config: ledger, leases, results, caps.
pub async fn ensure_all(db: &Client, cfg: &crate::config::DynamoConfig) -> Result<(), TableError> {
    ensure_ledger_table(db, &cfg.ledger_table).await?;
    ensure_table(db, &cfg.lease_table, &[("leaseKey", KeyType::Hash)], None).await?;
    crate::projector::projection::ensure(db, &cfg.lease_table)
        .await
        .map_err(|e| TableError::Call {
            op: "PutItem(projection pointer)",
            table: cfg.lease_table.clone(),
            detail: e.to_string(),
        })?;
    ensure_results_table(db, &cfg.results_table).await?;
    // Ingest's vote caps: one item per capped vote_id, one counter per (election, key).
    ensure_table(db, &cfg.caps_table, &[("pk", KeyType::Hash)], None).await
}

/// What [`protect_ledger`] found and did, one line per protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protection {
    /// `DeleteTable` is refused until someone turns it off on purpose.
    pub deletion_protection: Outcome,
    /// Point-in-time recovery: any second of the last 35 days can be restored.
    pub point_in_time_recovery: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// On (it was, or this call turned it on).
    On,
    /// The endpoint does not support it (DynamoDB Local); the error it gave.
    Unsupported(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::On => write!(f, "on"),
            Outcome::Unsupported(why) => write!(f, "not supported by this endpoint ({why})"),
        }
    }
}

/// Turns on the ledger's deletion protection and point-in-time recovery (idempotent): the
/// ledger is the record of the votes, and no role's IAM policy may delete it (see
/// `deploy/k8s/overlays/production/irsa.yaml`). An endpoint that does not know an operation
/// (DynamoDB Local ignores backups) is reported, not failed; any other error fails.
pub async fn protect_ledger(db: &Client, table: &str) -> Result<Protection, TableError> {
    let call = |op: &'static str, e: String| TableError::Call {
        op,
        table: table.to_string(),
        detail: e,
    };
    let unsupported = |e: &dyn std::fmt::Display, code: Option<&str>| -> Option<Outcome> {
        let code = code.unwrap_or_default();
        let local = code.contains("UnknownOperation") || code.contains("NotImplemented");
        local.then(|| Outcome::Unsupported(format!("{code}: {e}")))
    };
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    let deletion = match db
        .update_table()
        .table_name(table)
        .deletion_protection_enabled(true)
        .send()
        .await
    {
        Ok(_) => Outcome::On,
        Err(e) => match unsupported(&e, e.code()) {
            Some(o) => o,
            None => {
                return Err(call(
                    "UpdateTable(DeletionProtectionEnabled)",
                    e.to_string(),
                ));
            }
        },
    };
    let spec = aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(true)
        .build()
        .map_err(|e| call("UpdateContinuousBackups", e.to_string()))?;
    let pitr = match db
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(spec)
        .send()
        .await
    {
        Ok(_) => Outcome::On,
        Err(e) => match unsupported(&e, e.code()) {
            Some(o) => o,
            None => return Err(call("UpdateContinuousBackups", e.to_string())),
        },
    };
    Ok(Protection {
        deletion_protection: deletion,
        point_in_time_recovery: pitr,
    })
}

/// A read-model table (results): `pk`/`sk`, no stream.
pub async fn ensure_results_table(db: &Client, table: &str) -> Result<(), TableError> {
    ensure_table(
        db,
        table,
        &[("pk", KeyType::Hash), ("sk", KeyType::Range)],
        None,
    )
    .await
}

/// Creates a string-keyed table with these keys, optionally with a stream of `view`.
pub async fn ensure_table(
    db: &Client,
    table: &str,
    keys: &[(&str, KeyType)],
    view: Option<StreamViewType>,
) -> Result<(), TableError> {
    let call = |op: &'static str, e: String| TableError::Call {
        op,
        table: table.to_string(),
        detail: e,
    };
    match db.describe_table().table_name(table).send().await {
        Ok(out) => {
            let t = out
                .table()
                .ok_or_else(|| call("DescribeTable", "no table description".into()))?;
            let have: Vec<(String, String)> = t
                .key_schema()
                .iter()
                .map(|k| {
                    (
                        k.attribute_name().to_string(),
                        k.key_type().as_str().to_string(),
                    )
                })
                .collect();
            let want: Vec<(String, String)> = keys
                .iter()
                .map(|(n, k)| (n.to_string(), k.as_str().to_string()))
                .collect();
            if have != want {
                return Err(TableError::Mismatch {
                    table: table.into(),
                    problem: format!("has key schema {have:?}, want {want:?}"),
                });
            }
            if let Some(view) = view {
                let spec = t.stream_specification();
                let ok =
                    spec.is_some_and(|s| s.stream_enabled() && s.stream_view_type() == Some(&view));
                if !ok {
                    return Err(TableError::Mismatch {
                        table: table.into(),
                        problem: format!("has no stream of {view:?}"),
                    });
                }
            }
        }
        Err(e) if classify(&e) == ErrorClass::NotFound => {
            let mut req = db
                .create_table()
                .table_name(table)
                .billing_mode(BillingMode::PayPerRequest);
            for (name, kt) in keys {
                req = req
                    .attribute_definitions(attr(name))
                    .key_schema(key(name, kt.clone()));
            }
            if let Some(view) = view {
                req = req.stream_specification(
                    StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(view)
                        .build()
                        .expect("complete"),
                );
            }
            match req.send().await {
                Ok(_) => {}
                // A concurrent creator won the race: fine, wait for it below.
                Err(e) if classify(&e) == ErrorClass::InUse => {}
                Err(e) => return Err(call("CreateTable", crate::dynamo::describe(&e))),
            }
        }
        Err(e) => return Err(call("DescribeTable", crate::dynamo::describe(&e))),
    }
    wait_active(db, table).await
}

async fn wait_active(db: &Client, table: &str) -> Result<(), TableError> {
    for _ in 0..120 {
        let out = db
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| TableError::Call {
                op: "DescribeTable",
                table: table.into(),
                detail: crate::dynamo::describe(&e),
            })?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(TableError::NotActive(table.into()))
}

fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("complete")
}

fn key(name: &str, kt: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kt)
        .build()
        .expect("complete")
}
