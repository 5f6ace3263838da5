//! The transparency logs as the query role serves them (contract v2, C2SP `tlog-tiles`
//! and `tlog-proof`):
//!
//! - `GET /v1/elections/{e}/chains/{c}/log/checkpoint`: the latest published checkpoint
//!   (`text/plain`, cached for a second at most);
//! - `GET /v1/elections/{e}/chains/{c}/log/tile/...`: tiles and entry bundles
//!   (`application/octet-stream`, immutable);
//! - `GET /v1/elections/{e}/tally`: the signed tally statement, once certified;
//! - `GET /v1/elections/{e}/votes/{vote_id}/proof`: the vote's receipt as a `tlog-proof`
//!   against the latest published checkpoint; `404` while not chained, `425` with
//!   `Retry-After` while chained but not yet covered.
//!
//! Everything served is public: entries are vote hashes, which reveal no choice (salted).

use super::{ApiError, AppState};
use crate::logstore::LogStore;
use crate::metrics as m;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use votechain_core::merkle;
use votechain_core::model::{Election, is_valid_ident, is_valid_vote_id};
use votechain_core::receipt::{ReceiptExtra, TlogProof};
use votechain_core::tiles::{Tile, TileNodes, TileRecorder, parse_hashes};

fn store(st: &AppState) -> LogStore {
    LogStore {
        db: st.ledger.db.clone(),
        table: st.ledger.table.clone(),
    }
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", what.to_string())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "log read failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the log could not be read; retry",
    )
}

/// The v2 election `id` with chain `chain`, or 404.
fn log_of(st: &AppState, id: &str, chain: u32) -> Result<Election, ApiError> {
    match st.registry.get(id) {
        Some(e) if is_valid_ident(id) && e.salted() && chain < e.chains => Ok(e.clone()),
        _ => Err(not_found("no such election log")),
    }
}

fn text(body: String, cache: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// `GET /v1/elections/{id}/tally`: the signed tally statement, once certified.
pub async fn tally(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if st.registry.get(&id).is_none_or(|e| !e.salted()) {
        return Err(not_found("no such v2 election"));
    }
    match crate::certify::stored_statement(&st.ledger, &id)
        .await
        .map_err(internal)?
    {
        Some(s) => Ok(text(s, "max-age=60")),
        None => Err(not_found("not certified yet")),
    }
}

pub async fn checkpoint(
    State(st): State<AppState>,
    Path((id, chain)): Path<(String, u32)>,
) -> Result<Response, ApiError> {
    let e = log_of(&st, &id, chain)?;
    match store(&st).published(&e.id, chain).await.map_err(internal)? {
        Some(c) => Ok(text(c.note, "max-age=1")),
        None => Err(not_found("no checkpoint published yet")),
    }
}

pub async fn tile(
    State(st): State<AppState>,
    Path((id, chain, rest)): Path<(String, u32, String)>,
) -> Result<Response, ApiError> {
    let e = log_of(&st, &id, chain)?;
    let t = Tile::parse(&format!("tile/{rest}"))
        .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", err.to_string()))?;
    let Some(data) = store(&st).tile(&e.id, chain, &t).await.map_err(internal)? else {
        return Err(not_found("no such tile"));
    };
    let mut r = data.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(r)
}

pub async fn proof(
    State(st): State<AppState>,
    Path((id, vote_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let outcome =
        |o: &'static str| metrics::counter!(m::PROOF_REQUESTS, "outcome" => o).increment(1);
    if !is_valid_vote_id(&vote_id) {
        outcome("error");
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "vote_id must be a canonical lowercase UUID",
        ));
    }
    let e = match st.registry.get(&id) {
        Some(e) if e.salted() => e.clone(),
        _ => return Err(not_found("no such election log")),
    };
    let Some(v) = st
        .ledger
        .receipt(&e.id, &vote_id, e.chains)
        .await
        .map_err(internal)?
    else {
        outcome("not_chained");
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_chained",
            "vote not chained (yet)",
        ));
    };
    let logs = store(&st);
    let published = logs.published(&e.id, v.chain).await.map_err(internal)?;
    let Some(cp) = published.filter(|c| c.size >= v.seq) else {
        outcome("not_covered");
        return Err(ApiError {
            retry_after_s: Some(1),
            ..ApiError::new(
                StatusCode::TOO_EARLY,
                "not_covered",
                "chained, not yet in a published checkpoint; retry",
            )
        });
    };
    let (index, size) = (v.seq - 1, cp.size);
    let recorder = TileRecorder::new(size);
    merkle::inclusion_proof(&recorder, index, size).map_err(internal)?;
    let needed = recorder.into_tiles();
    let fetched: HashMap<Tile, Vec<u8>> = logs
        .tiles(&e.id, v.chain, &needed)
        .await
        .map_err(internal)?;
    let nodes = TileNodes {
        size,
        read: |t: &Tile| {
            let data = fetched
                .get(t)
                .ok_or_else(|| format!("tile {} missing", t.path()))?;
            parse_hashes(t, data).map_err(|err| err.to_string())
        },
    };
    let path = merkle::inclusion_proof(&nodes, index, size).map_err(internal)?;
    let extra = ReceiptExtra {
        election_id: e.id.clone(),
        chain: v.chain,
        seq: v.seq,
        vote_id: v.vote_id.clone(),
        cast_at_ms: v.cast_at_ms,
        prev_hash: v.prev_hash,
    };
    let proof = TlogProof {
        extra: Some(extra.text().into_bytes()),
        index,
        path,
        checkpoint: cp.note,
    };
    outcome("ok");
    Ok(text(proof.text(), "no-cache"))
}
