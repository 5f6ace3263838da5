//! The transparency logs as stored: one log per chain, its items in the ledger table
//! under `pk = LOG#{election}#{chain}`:
//!
//! | sk | what | written |
//! | --- | --- | --- |
//! | `TILE#tile/<L>/<N>` | a full hash tile, 8192 bytes (`data`, B) | create-only |
//! | `TILE#tile/entries/<N>` | a full entry bundle | create-only |
//! | `TILE#...p/<W>` | a partial tile or bundle, as of one checkpoint | put (same bytes for the same path) |
//! | `CHECKPOINT` | the last checkpoint the log signed: `size`, `root` (hex), `note` | conditional on the previous `size` and `root` |
//! | `PUBLISHED` | the last published checkpoint (signed and cosigned to the policy's quorum) | only ever to a larger size |
//!
//! The conditions are what keep a log append-only across restarts and racing
//! publishers: a full tile, once written, is never replaced by other bytes (a second
//! writer with other bytes is a fork, refused loudly), and a signed checkpoint only
//! replaces the one its signer extended.

use crate::dynamo::ledger::LedgerError;
use crate::dynamo::{ErrorClass, classify, describe};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use std::collections::HashMap;
use votechain_core::chain;
use votechain_core::merkle::Hash;
use votechain_core::tiles::{Tile, Written};

/// A checkpoint as stored: size, root, and the note (signed, maybe cosigned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    pub root: Hash,
    pub note: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("DynamoDB {op}: {detail}")]
    Call { op: &'static str, detail: String },
    #[error(
        "log {log}: {tile} is stored with other bytes than this publisher computed: the chain was rewritten, or two publishers disagree; refusing to sign"
    )]
    Fork { log: String, tile: String },
    #[error("log {0}: a stored item is unreadable: {1}")]
    Corrupt(String, String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

const CHECKPOINT: &str = "CHECKPOINT";
const PUBLISHED: &str = "PUBLISHED";

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The logs of one ledger table.
#[derive(Clone)]
pub struct LogStore {
    pub db: Client,
    pub table: String,
}

impl LogStore {
    pub fn pk(election: &str, chain: u32) -> String {
        format!("LOG#{election}#{chain}")
    }

    fn key(election: &str, chain: u32, sk: String) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_string(), s(Self::pk(election, chain))),
            ("sk".to_string(), s(sk)),
        ])
    }

    fn tile_sk(t: &Tile) -> String {
        format!("TILE#{}", t.path())
    }

    /// Writes a tile: full ones create-only (the same bytes again is fine, other bytes
    /// a [`LogError::Fork`]), partial ones as they are.
    pub async fn put_tile(&self, election: &str, chain: u32, w: &Written) -> Result<(), LogError> {
        let mut item = Self::key(election, chain, Self::tile_sk(&w.tile));
        item.insert("data".into(), AttributeValue::B(Blob::new(w.data.clone())));
        let mut put = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        if w.tile.is_full() {
            put = put.condition_expression("attribute_not_exists(pk)");
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if w.tile.is_full() && classify(&e) == ErrorClass::Conditional => {
                match self.tile(election, chain, &w.tile).await? {
                    Some(data) if data == w.data => Ok(()),
                    _ => Err(LogError::Fork {
                        log: Self::pk(election, chain),
                        tile: w.tile.path(),
                    }),
                }
            }
            Err(e) => Err(LogError::Call {
                op: "PutItem(tile)",
                detail: describe(&e),
            }),
        }
    }

    /// One tile's bytes, if stored (consistent read).
    pub async fn tile(
        &self,
        election: &str,
        chain: u32,
        t: &Tile,
    ) -> Result<Option<Vec<u8>>, LogError> {
        let key = Self::key(election, chain, Self::tile_sk(t));
        let item = crate::dynamo::get_consistent(&self.db, &self.table, key)
            .await
            .map_err(|e| LogError::Call {
                op: "GetItem(tile)",
                detail: describe(&e),
            })?;
        Ok(item
            .as_ref()
            .and_then(|it| it.get("data"))
            .and_then(|d| d.as_b().ok())
            .map(|b| b.as_ref().to_vec()))
    }

    /// Several tiles at once (BatchGetItem, 100 keys a call); missing ones are absent.
    pub async fn tiles(
        &self,
        election: &str,
        chain: u32,
        tiles: &[Tile],
    ) -> Result<HashMap<Tile, Vec<u8>>, LogError> {
        let by_sk: HashMap<String, Tile> = tiles.iter().map(|t| (Self::tile_sk(t), *t)).collect();
        let mut out = HashMap::new();
        let keys: Vec<_> = by_sk.keys().cloned().collect();
        for chunk in keys.chunks(100) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(
                        chunk
                            .iter()
                            .map(|sk| Self::key(election, chain, sk.clone()))
                            .collect(),
                    ))
                    .consistent_read(true)
                    .build()
                    .expect("keys set"),
            );
            while let Some(req) = pending.take() {
                let got = self
                    .db
                    .batch_get_item()
                    .request_items(&self.table, req)
                    .send()
                    .await
                    .map_err(|e| LogError::Call {
                        op: "BatchGetItem(tiles)",
                        detail: describe(&e),
                    })?;
                for it in got
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let sk = it.get("sk").and_then(|v| v.as_s().ok());
                    let data = it.get("data").and_then(|d| d.as_b().ok());
                    if let (Some(t), Some(d)) = (sk.and_then(|k| by_sk.get(k)), data) {
                        out.insert(*t, d.as_ref().to_vec());
                    }
                }
                pending = got
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .cloned();
            }
        }
        Ok(out)
    }

    async fn get_checkpoint(
        &self,
        election: &str,
        chain: u32,
        sk: &str,
    ) -> Result<Option<Stored>, LogError> {
        let key = Self::key(election, chain, sk.into());
        let item = crate::dynamo::get_consistent(&self.db, &self.table, key)
            .await
            .map_err(|e| LogError::Call {
                op: "GetItem(checkpoint)",
                detail: describe(&e),
            })?;
        let Some(it) = item.as_ref() else {
            return Ok(None);
        };
        let corrupt = |why: &str| LogError::Corrupt(Self::pk(election, chain), why.into());
        let size = it
            .get("size")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| corrupt("size"))?;
        let root = it
            .get("root")
            .and_then(|v| v.as_s().ok())
            .and_then(|r| chain::from_hex(r))
            .ok_or_else(|| corrupt("root"))?;
        let note = it
            .get("note")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| corrupt("note"))?;
        Ok(Some(Stored { size, root, note }))
    }

    /// The last checkpoint the log signed.
    pub async fn signed(&self, election: &str, chain: u32) -> Result<Option<Stored>, LogError> {
        self.get_checkpoint(election, chain, CHECKPOINT).await
    }

    /// The last published checkpoint (what is served).
    pub async fn published(&self, election: &str, chain: u32) -> Result<Option<Stored>, LogError> {
        self.get_checkpoint(election, chain, PUBLISHED).await
    }

    fn checkpoint_item(
        election: &str,
        chain: u32,
        sk: &str,
        c: &Stored,
    ) -> HashMap<String, AttributeValue> {
        let mut item = Self::key(election, chain, sk.into());
        item.insert("size".into(), AttributeValue::N(c.size.to_string()));
        item.insert("root".into(), s(chain::to_hex(&c.root)));
        item.insert("note".into(), s(c.note.clone()));
        item
    }

    /// Stores `next` as the signed checkpoint if the stored one is still `prev` (none, or
    /// the same size and root). `false`: another signer moved it first.
    pub async fn replace_signed(
        &self,
        election: &str,
        chain: u32,
        prev: Option<&Stored>,
        next: &Stored,
    ) -> Result<bool, LogError> {
        let mut put =
            self.db
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Self::checkpoint_item(
                    election, chain, CHECKPOINT, next,
                )));
        put = match prev {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(p) => put
                .condition_expression("#size = :size AND #root = :root")
                .expression_attribute_names("#size", "size")
                .expression_attribute_names("#root", "root")
                .expression_attribute_values(":size", AttributeValue::N(p.size.to_string()))
                .expression_attribute_values(":root", s(chain::to_hex(&p.root))),
        };
        conditional(put.send().await, "PutItem(signed checkpoint)")
    }

    /// Publishes `c` unless a checkpoint at least as large is published already.
    pub async fn publish(&self, election: &str, chain: u32, c: &Stored) -> Result<bool, LogError> {
        let put = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::checkpoint_item(election, chain, PUBLISHED, c)))
            .condition_expression("attribute_not_exists(pk) OR #size < :size")
            .expression_attribute_names("#size", "size")
            .expression_attribute_values(":size", AttributeValue::N(c.size.to_string()));
        conditional(put.send().await, "PutItem(published checkpoint)")
    }
}

/// `Ok(true)` written, `Ok(false)` its condition failed, `Err` anything else.
fn conditional<T, E>(
    r: Result<
        T,
        aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    >,
    op: &'static str,
) -> Result<bool, LogError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match r {
        Ok(_) => Ok(true),
        Err(e) if classify(&e) == ErrorClass::Conditional => Ok(false),
        Err(e) => Err(LogError::Call {
            op,
            detail: describe(&e),
        }),
    }
}
