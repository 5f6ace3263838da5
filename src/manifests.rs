//! Election manifests as stored artifacts (contract v2, "Election manifest"): each is one
//! create-only item of the ledger table, `pk = MANIFEST#{election_id}`, `sk = MANIFEST`,
//! with `manifest` (the JSON text as created) and `digest` (64 lowercase hex), created
//! with `attribute_not_exists(pk)` in the same transaction as an index entry under
//! `pk = MANIFESTS` (`sk` = the election id) that lets `election list` read them all with
//! one Query. Nothing ever changes or deletes either: a changed definition is a new
//! election.

use crate::config::Config;
use crate::dynamo::ledger::{Ledger, LedgerError};
use crate::dynamo::{cancellation_codes, describe};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use std::collections::HashMap;
use votechain_core::manifest::Manifest;

const SK: &str = "MANIFEST";
const INDEX_PK: &str = "MANIFESTS";

fn pk(election_id: &str) -> String {
    format!("MANIFEST#{election_id}")
}

/// A manifest as stored: its text exactly as created, and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub text: String,
    pub digest: String,
    pub manifest: Manifest,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestStoreError {
    #[error(
        "election '{id}' already has a manifest (digest {digest}); a changed definition is a new election"
    )]
    Exists { id: String, digest: String },
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    #[error("DynamoDB: {0}")]
    Call(String),
    #[error("stored manifest of '{0}' is unreadable: {1}")]
    Corrupt(String, String),
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

/// Stores a validated manifest once; refuses an election id that already has one.
pub async fn create(ledger: &Ledger, m: &Manifest) -> Result<Stored, ManifestStoreError> {
    let text = serde_json::to_string_pretty(m).expect("a manifest serializes");
    let digest = hex::encode(m.digest());
    let item = HashMap::from([
        ("pk".to_string(), s(&pk(&m.election_id))),
        ("sk".to_string(), s(SK)),
        ("manifest".to_string(), s(&text)),
        ("digest".to_string(), s(&digest)),
    ]);
    let index = HashMap::from([
        ("pk".to_string(), s(INDEX_PK)),
        ("sk".to_string(), s(&m.election_id)),
        ("digest".to_string(), s(&digest)),
    ]);
    let put = |item: HashMap<String, AttributeValue>| {
        let p = Put::builder()
            .table_name(&ledger.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("complete put");
        TransactWriteItem::builder().put(p).build()
    };
    let actions = vec![put(item), put(index)];
    let sent = ledger
        .db
        .transact_write_items()
        .set_transact_items(Some(actions))
        .send()
        .await;
    match sent {
        Ok(_) => Ok(Stored {
            text,
            digest,
            manifest: m.clone(),
        }),
        Err(e)
            if cancellation_codes(&e)
                .iter()
                .any(|c| c == "ConditionalCheckFailed") =>
        {
            let stored = get(ledger, &m.election_id).await?;
            let digest = stored.map(|s| s.digest).unwrap_or_else(|| "unknown".into());
            Err(ManifestStoreError::Exists {
                id: m.election_id.clone(),
                digest,
            })
        }
        Err(e) => Err(ManifestStoreError::Call(describe(&e))),
    }
}

/// The stored manifest of an election (consistent read), if any.
pub async fn get(ledger: &Ledger, election_id: &str) -> Result<Option<Stored>, ManifestStoreError> {
    let key = HashMap::from([
        ("pk".to_string(), s(&pk(election_id))),
        ("sk".to_string(), s(SK)),
    ]);
    let item = crate::dynamo::get_consistent(&ledger.db, &ledger.table, key)
        .await
        .map_err(|e| ManifestStoreError::Call(describe(&e)))?;
    let Some(it) = item.as_ref() else {
        return Ok(None);
    };
    let attr = |a: &str| it.get(a).and_then(|v| v.as_s().ok()).cloned();
    let corrupt = |why: &str| ManifestStoreError::Corrupt(election_id.into(), why.into());
    let (Some(text), Some(digest)) = (attr("manifest"), attr("digest")) else {
        return Err(corrupt("manifest or digest attribute missing"));
    };
    let manifest = Manifest::parse_json(&text).map_err(|e| corrupt(&e.to_string()))?;
    if hex::encode(manifest.digest()) != digest {
        return Err(corrupt(
            "the stored digest is not the digest of the stored text",
        ));
    }
    Ok(Some(Stored {
        text,
        digest,
        manifest,
    }))
}

/// Every stored manifest's election id and digest, in id order.
pub async fn list(ledger: &Ledger) -> Result<Vec<(String, String)>, ManifestStoreError> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = ledger
            .db
            .query()
            .table_name(&ledger.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(INDEX_PK))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| ManifestStoreError::Call(describe(&e)))?;
        for it in page.items() {
            let attr = |a: &str| {
                it.get(a)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            out.push((attr("sk"), attr("digest")));
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(out),
        }
    }
}

/// Why a process cannot serve the elections its config names (every problem at once).
#[derive(Debug, thiserror::Error)]
#[error("cannot serve the configured elections:\n  - {}", .0.join("\n  - "))]
pub struct ResolveError(pub Vec<String>);

/// Reads the stored manifest of every v2 election `cfg` names into `cfg.resolved`. A
/// missing or unreadable manifest, or one whose digest is not the configured
/// `manifest_digest`, refuses start, naming both digests. v1 entries need nothing.
pub async fn resolve(ledger: &Ledger, cfg: &mut Config) -> Result<(), ResolveError> {
    let mut problems = Vec::new();
    let mut resolved = Vec::new();
    for entry in cfg.elections.iter().filter(|e| !e.is_v1()) {
        let id = &entry.id;
        match get(ledger, id).await {
            Ok(Some(stored)) => match &entry.manifest_digest {
                Some(want) if *want != stored.digest => problems.push(format!(
                    "election '{id}': the config expects manifest digest {want}, the stored manifest's is {}",
                    stored.digest
                )),
                _ => resolved.push(stored.manifest.registry_election()),
            },
            Ok(None) => problems.push(format!(
                "election '{id}' has no stored manifest in table {} (create it with `votechain election create`)",
                ledger.table
            )),
            Err(e) => problems.push(format!("election '{id}': {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(ResolveError(problems));
    }
    cfg.resolved = resolved;
    Ok(())
}
