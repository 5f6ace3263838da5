//! A transparency-log witness (C2SP `tlog-witness`): `POST /add-checkpoint` cosigns a
//! checkpoint of a known log when it provably extends the last one this witness
//! cosigned for that log (the decision is `votechain_core::witness::add_checkpoint`).
//!
//! Durable: the last cosigned (size, root) per log is a JSON file, replaced atomically
//! (write, fsync, rename, fsync the directory) *before* the cosignature is answered, under
//! one lock with the check, so neither a crash nor two racing requests can make it cosign
//! two inconsistent checkpoints. The lock is a `std::sync::Mutex` taken inside
//! `spawn_blocking`, never across an `.await`.
//!
//! The logs it knows come from the election manifests in the ledger table (each chain's
//! origin, the manifest's key), read at start. A witness is only independent when someone
//! other than the log's operator runs it: `votechain dev` runs one in-process for
//! convenience; `deploy/` runs them as their own Deployment.

use crate::audit::write_atomically;
use crate::dynamo::ledger::Ledger;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use ed25519_dalek::SigningKey;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use votechain_core::checkpoint::log_verifier;
use votechain_core::note::{self, NoteVerifier};
use votechain_core::witness::{Cosigned, Refusal, add_checkpoint};

/// Bodies above this are refused (63 proof lines and a checkpoint are far below it).
const MAX_BODY: usize = 16 * 1024;

pub struct Witness {
    pub name: String,
    pub key: SigningKey,
    pub logs: BTreeMap<String, NoteVerifier>,
    pub state_path: PathBuf,
    state: Mutex<Cosigned>,
}

#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("witness state {path}: {detail}")]
    State { path: String, detail: String },
    #[error("reading manifests: {0}")]
    Manifests(#[from] crate::manifests::ManifestStoreError),
}

impl Witness {
    /// A witness with its state read from `state_path` (empty if the file is absent).
    pub fn open(
        name: &str,
        key: SigningKey,
        logs: BTreeMap<String, NoteVerifier>,
        state_path: PathBuf,
    ) -> Result<Witness, WitnessError> {
        let err = |detail: String| WitnessError::State {
            path: state_path.display().to_string(),
            detail,
        };
        let state = match std::fs::read_to_string(&state_path) {
            Ok(text) => parse_state(&text).map_err(err)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Cosigned::new(),
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(Witness {
            name: name.into(),
            key,
            logs,
            state_path,
            state: Mutex::new(state),
        })
    }

    /// The witness's verifier key (`name+id+base64(0x04 || key)`), for a log's policy.
    pub fn verifier_key(&self) -> String {
        note::verifier_key(
            &self.name,
            note::COSIGNATURE_V1,
            &self.key.verifying_key().to_bytes(),
        )
    }

    /// Decides, persists, cosigns: the whole request, under the lock (blocking).
    fn add(&self, body: &str, now_s: u64) -> Result<String, AddError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let d = add_checkpoint(body, &self.logs, &state).map_err(AddError::Refused)?;
        let mut next = state.clone();
        next.insert(d.record.0.clone(), d.record.1);
        if let Err(e) = write_atomically(&self.state_path, state_json(&next).as_bytes()) {
            tracing::error!(error = %e, "cannot persist the witness state; not cosigning");
            return Err(AddError::Unavailable);
        }
        *state = next;
        Ok(note::cosign(&d.text, &self.name, &self.key, now_s))
    }
}

/// Why a checkpoint was not cosigned: the protocol's refusals (the request's fault), or
/// the witness's own trouble (its state could not be persisted: nothing cosigned, the
/// request may be retried: 503).
#[derive(Debug, PartialEq, Eq)]
enum AddError {
    Refused(Refusal),
    Unavailable,
}

fn state_json(s: &Cosigned) -> String {
    let map: BTreeMap<&String, serde_json::Value> = s
        .iter()
        .map(|(o, (size, root))| {
            (
                o,
                serde_json::json!({"size": size, "root": hex::encode(root)}),
            )
        })
        .collect();
    serde_json::to_string_pretty(&map).expect("serializes")
}

fn parse_state(text: &str) -> Result<Cosigned, String> {
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| e.to_string())?;
    map.into_iter()
        .map(|(o, v)| {
            let size = v["size"].as_u64().ok_or("size")?;
            let root = v["root"]
                .as_str()
                .and_then(votechain_core::chain::from_hex)
                .ok_or("root")?;
            Ok((o, (size, root)))
        })
        .collect::<Result<_, &str>>()
        .map_err(|f| format!("malformed field {f}"))
}

/// Every chain's log of every stored manifest: origin -> the manifest's log key.
pub async fn known_logs(ledger: &Ledger) -> Result<BTreeMap<String, NoteVerifier>, WitnessError> {
    let mut out = BTreeMap::new();
    for (id, _) in crate::manifests::list(ledger).await? {
        let Some(stored) = crate::manifests::get(ledger, &id).await? else {
            continue;
        };
        let m = stored.manifest;
        let Some(key) = m.public_key_bytes() else {
            continue;
        };
        for c in 0..m.chains {
            let origin = m.log_origin_of_chain(c);
            out.insert(origin.clone(), log_verifier(&origin, &key));
        }
    }
    Ok(out)
}

/// `POST /add-checkpoint`, and `GET /healthz` for probes.
pub fn router(w: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        // Refused while reading, not after buffering axum's 2 MB default.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(w)
}

async fn add(State(w): State<Arc<Witness>>, body: axum::body::Bytes) -> Response {
    if body.len() > MAX_BODY {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large\n").into_response();
    }
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return (StatusCode::BAD_REQUEST, "body is not UTF-8\n").into_response();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs().max(1));
    let decided = tokio::task::spawn_blocking(move || w.add(&text, now)).await;
    match decided {
        Ok(Ok(cosignature)) => (StatusCode::OK, cosignature).into_response(),
        Ok(Err(AddError::Refused(Refusal::Conflict(size)))) => (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, "text/x.tlog.size")],
            format!("{size}\n"),
        )
            .into_response(),
        Ok(Err(AddError::Refused(r))) => {
            let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, format!("{r}\n")).into_response()
        }
        Ok(Err(AddError::Unavailable)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "the witness cannot persist its state; retry\n",
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "witness failed\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use votechain_core::checkpoint::Checkpoint;
    use votechain_core::merkle;
    use votechain_core::witness::AddCheckpoint;

    #[test]
    fn the_state_survives_a_restart_and_a_rollback_is_refused_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let log_key = SigningKey::from_bytes(&[3; 32]);
        let origin = "o.example/e/0";
        let logs = BTreeMap::from([(
            origin.to_string(),
            log_verifier(origin, &log_key.verifying_key().to_bytes()),
        )]);
        let leaves: Vec<_> = (0u64..40)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        let body = |old: u64, new: u64| {
            AddCheckpoint {
                old,
                proof: merkle::consistency_proof(&leaves[..], old, new).unwrap(),
                note: Checkpoint {
                    origin: origin.into(),
                    size: new,
                    root: merkle::tree_hash(&leaves[..], new).unwrap(),
                }
                .sign(&log_key),
            }
            .body()
        };
        let w = Witness::open(
            "w.example",
            SigningKey::from_bytes(&[4; 32]),
            logs.clone(),
            path.clone(),
        )
        .unwrap();
        let line = w.add(&body(0, 20), 7).unwrap();
        assert!(line.starts_with("\u{2014} w.example "));
        drop(w);
        // Restarted: it remembers size 20.
        let w = Witness::open(
            "w.example",
            SigningKey::from_bytes(&[4; 32]),
            logs,
            path.clone(),
        )
        .unwrap();
        assert_eq!(
            w.add(&body(0, 10), 8),
            Err(AddError::Refused(Refusal::Conflict(20)))
        );
        assert!(w.add(&body(20, 30), 9).is_ok());
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("\"size\": 30")
        );
        // The state cannot be persisted (a non-empty directory where the file goes; root
        // ignores permissions): nothing is cosigned, and nothing is remembered either.
        let saved = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir_all(path.join("blocker")).unwrap();
        assert_eq!(w.add(&body(30, 40), 10), Err(AddError::Unavailable));
        std::fs::remove_dir_all(&path).unwrap();
        std::fs::write(&path, saved).unwrap();
        assert!(
            w.add(&body(30, 40), 11).is_ok(),
            "30 is still the last size"
        );
    }
}
