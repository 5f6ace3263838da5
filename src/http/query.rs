//! `GET /v1/elections/{election_id}/votes/{vote_id}`: the receipt of a chained vote,
//! read from the ledger through the vote_id marker. 404 while not (yet) chained.

use super::{ApiError, AppState};
use crate::chain;
use crate::model::{is_valid_ident, is_valid_vote_id};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

pub async fn receipt(State(st): State<AppState>, Path((election_id, vote_id)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    if !is_valid_ident(&election_id) || !is_valid_vote_id(&vote_id) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "malformed election_id or vote_id"));
    }
    let Some(e) = st.registry.get(&election_id) else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_election", format!("unknown election '{election_id}'")));
    };
    match st.ledger.receipt(&election_id, &vote_id, e.chains).await {
        Ok(Some(v)) => Ok(Json(json!({
            "vote_id": v.vote_id,
            "election_id": v.election_id,
            "chain": v.chain,
            "seq": v.seq,
            "prev_hash": chain::to_hex(&v.prev_hash),
            "hash": chain::to_hex(&v.hash),
        }))),
        Ok(None) => Err(ApiError::new(StatusCode::NOT_FOUND, "not_chained", "vote not chained (yet)")),
        Err(e) => {
            tracing::warn!(error = %e, "receipt lookup failed");
            Err(ApiError { retry_after_s: Some(1), ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "ledger unavailable") })
        }
    }
}
