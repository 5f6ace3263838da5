//! `GET /v1/elections/{election_id}/votes/{vote_id}`: the receipt of a chained vote,
//! read from the ledger through the vote_id marker, with `refused_resubmissions` (count and
//! times) when later ballots under its vote_id were refused as conflicts. 404 while not
//! (yet) chained.

use super::{ApiError, AppState};
use crate::metrics as m;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use votechain_core::chain;
use votechain_core::model::{is_valid_ident, is_valid_vote_id};

/// The read table serving `election_id` now: the pointer's, cached for one second.
async fn active_table(
    st: &AppState,
    election_id: &str,
) -> Result<String, crate::projector::projection::PointerError> {
    let fresh = st
        .projection
        .get()
        .filter(|(at, _)| at.elapsed() < std::time::Duration::from_secs(1));
    let p = match fresh {
        Some((_, p)) => p,
        None => {
            let p =
                crate::projector::projection::read(&st.ledger.db, &st.config.dynamodb.lease_table)
                    .await?;
            st.projection.set((std::time::Instant::now(), p.clone()));
            p
        }
    };
    Ok(p.target(&st.config.dynamodb.results_table, election_id, 0)
        .0
        .to_string())
}

/// `GET /v1/elections`: the served elections (the status page lists them), with whether
/// each takes votes now.
pub async fn elections(State(st): State<AppState>) -> Json<Value> {
    let now = crate::now_ms();
    let list: Vec<Value> = st.registry.iter().map(|e| election_json(e, now)).collect();
    Json(json!({ "elections": list }))
}

fn election_json(e: &votechain_core::model::Election, now_ms: i64) -> Value {
    use votechain_core::chain::Rule;
    use votechain_core::model::Window;
    let open = e.open && e.window_at(now_ms) == Window::Open;
    let mut v = json!({
        "id": e.id,
        "candidates": e.candidates,
        "regions": e.regions,
        "chains": e.chains,
        "hash_v": e.rule.hash_v(),
        "open": open,
    });
    if let Rule::V2 { manifest_digest } = e.rule {
        v["manifest_digest"] = json!(hex::encode(manifest_digest));
    }
    if let Some((opens, closes)) = e.window {
        v["opens_at_ms"] = json!(opens);
        v["closes_at_ms"] = json!(closes);
    }
    v
}

/// `GET /v1/elections/{id}/results`: the read model, never the ledger. Dashboards poll it
/// every second: `Cache-Control: max-age=1` and a strong `ETag` (304 on `If-None-Match`).
pub async fn results(
    State(st): State<AppState>,
    Path(election_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let started = std::time::Instant::now();
    let done = |status: StatusCode| {
        metrics::counter!(m::QUERY_REQUESTS, "route" => "results", "status" => status.as_str().to_string()).increment(1);
        metrics::histogram!(m::QUERY_REQUEST_SECONDS, "route" => "results")
            .record(started.elapsed().as_secs_f64());
    };
    if !is_valid_ident(&election_id) {
        done(StatusCode::BAD_REQUEST);
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "malformed election_id",
        )
        .into_response();
    }
    if st.registry.get(&election_id).is_none() {
        done(StatusCode::NOT_FOUND);
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_election",
            format!("unknown election '{election_id}'"),
        )
        .into_response();
    }
    let table = match active_table(&st, &election_id).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "projection pointer read failed");
            done(StatusCode::SERVICE_UNAVAILABLE);
            return ApiError {
                retry_after_s: Some(1),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "read model unavailable",
                )
            }
            .into_response();
        }
    };
    let r = match crate::projector::results::read(
        &st.ledger.db,
        &table,
        &st.registry,
        &election_id,
        false,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "results read failed");
            done(StatusCode::SERVICE_UNAVAILABLE);
            return ApiError {
                retry_after_s: Some(1),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "read model unavailable",
                )
            }
            .into_response();
        }
    };
    let body = serde_json::to_vec(&r).expect("serializes");
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..12]));
    let cache = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=1"),
        ),
        (header::ETAG, HeaderValue::from_str(&etag).expect("hex")),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        done(StatusCode::NOT_MODIFIED);
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    done(StatusCode::OK);
    (
        StatusCode::OK,
        cache,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

pub async fn receipt(
    State(st): State<AppState>,
    Path((election_id, vote_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    if !is_valid_ident(&election_id) || !is_valid_vote_id(&vote_id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "malformed election_id or vote_id",
        ));
    }
    let Some(e) = st.registry.get(&election_id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_election",
            format!("unknown election '{election_id}'"),
        ));
    };
    let found = match st.ledger.receipt(&election_id, &vote_id, e.chains).await {
        // Later ballots under this vote_id that the writer refused, told with the receipt
        // (a count and times, never their choices): the first ballot is the one counted.
        Ok(Some(v)) => st
            .ledger
            .refusals(&election_id, &vote_id)
            .await
            .map(|r| Some((v, r))),
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    match found {
        Ok(Some((v, refused))) => {
            let mut body = json!({
                "vote_id": v.vote_id,
                "election_id": v.election_id,
                "chain": v.chain,
                "seq": v.seq,
                "prev_hash": chain::to_hex(&v.prev_hash),
                "hash": chain::to_hex(&v.hash),
                "cast_at_ms": v.cast_at_ms,
                "hash_v": v.hash_v(),
            });
            if let Some(r) = refused {
                body["refused_resubmissions"] = json!({
                    "count": r.count,
                    "first_at_ms": r.first_at_ms,
                    "last_at_ms": r.last_at_ms,
                    "why": "another ballot (another choice, or another salt) under this vote_id: only the first ballot is counted",
                });
            }
            Ok(Json(body))
        }
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_chained",
            "vote not chained (yet)",
        )),
        Err(e) => {
            tracing::warn!(error = %e, "receipt lookup failed");
            Err(ApiError {
                retry_after_s: Some(1),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "ledger unavailable",
                )
            })
        }
    }
}

/// `GET /v1/elections/{id}/manifest`: the stored manifest, its text exactly as created,
/// with its digest in `Votechain-Manifest-Digest` (contract v2). Manifests never change,
/// so the answer may be cached for as long as anyone likes.
pub async fn manifest(
    State(st): State<AppState>,
    Path(election_id): Path<String>,
) -> Result<Response, ApiError> {
    if !is_valid_ident(&election_id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "malformed election_id",
        ));
    }
    match crate::manifests::get(&st.ledger, &election_id).await {
        Ok(Some(stored)) => {
            let digest = HeaderValue::from_str(&stored.digest).expect("hex is a header value");
            let headers = [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
                (
                    header::HeaderName::from_static("votechain-manifest-digest"),
                    digest,
                ),
            ];
            Ok((headers, stored.text).into_response())
        }
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_manifest",
            format!("election '{election_id}' has no stored manifest"),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "reading a manifest failed");
            Err(ApiError {
                retry_after_s: Some(1),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "manifest store unavailable",
                )
            })
        }
    }
}
