//! `POST /v1/elections/{election_id}/votes`: authenticate, cap the body at 4 KiB,
//! validate, then hand the vote to the `IngestBatcher` and answer 202 only once its Kafka
//! transaction (vote event + audit event) has committed.
//!
//! Order of checks: key (401), quota (429), size (413), JSON (400), scope (403), fields
//! (400), election, candidate, region (422), admission (503 + Retry-After), then the key's
//! vote cap (403 `vote_cap_reached`; only with `ingest.key_max_votes` or a key's
//! `max_votes`): its reservation in DynamoDB is the first write, made once every other
//! check has passed.
//!
//! Every 503 says what is known: code `overloaded` when the vote is certainly not recorded
//! (queue full, producer restarting, transaction aborted before its commit), code
//! `outcome_unknown` when it may be (a commit whose outcome is unknown, no answer in time).
//! Either way the client resends the same vote_id; it never reissues the ballot.

use super::{ApiError, AppState};
use crate::actors::ingest_batcher::{IngestMsg, Pending, TxnError};
use crate::dynamo::caps::{CapError, Reserved};
use crate::metrics as m;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ractor::rpc::CallResult;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use votechain_core::chain::chain_of;
use votechain_core::model::{
    AuditEvent, Invalid, VOTE_EVENT_SALTED, VOTE_EVENT_VERSION, VoteEvent, VoteRequest,
    validate_request,
};

/// The contract's body cap.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// 32 bytes from the operating system's CSPRNG, as 64 lowercase hex characters.
fn draw_salt() -> String {
    use rand::TryRngCore;
    let mut salt = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut salt)
        .expect("the OS random source is available");
    hex::encode(salt)
}

/// Decrements the admission counter however the request ends (answer, error, client gone).
struct Admitted(Arc<AtomicUsize>);
impl Drop for Admitted {
    fn drop(&mut self) {
        let left = self.0.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!(m::INGEST_QUEUE_DEPTH).set(left as f64);
    }
}

fn fail(outcome: &'static str, started: Instant, e: ApiError) -> Response {
    metrics::counter!(m::INGEST_REQUESTS, "outcome" => outcome).increment(1);
    metrics::histogram!(m::INGEST_REQUEST_SECONDS).record(started.elapsed().as_secs_f64());
    e.into_response()
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
/// (RFC 9110 11.1), surrounding whitespace is not part of the token.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub async fn submit(
    State(st): State<AppState>,
    Path(election_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    // 401: missing or wrong key.
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(crate::keys::digest);
    let Some(key) = presented.and_then(|d| st.keys.find(&d)) else {
        return fail(
            "unauthorized",
            started,
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or unknown client key",
            ),
        );
    };
    // 429: this key's quota is spent (the other keys are unaffected).
    let client_id = key.id.clone();
    if let Err(wait) = st.quotas.check(&key) {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("this key sent more votes than its quota; retry in {secs} s"),
        );
        e.retry_after_s = Some(secs);
        return fail("rate_limited", started, e);
    }
    // 413: declared or actual body over 4 KiB.
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("body exceeds {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return fail("too_large", started, too_large());
    }
    let body_timeout = std::time::Duration::from_millis(st.config.http.body_timeout_ms);
    let bytes = match tokio::time::timeout(body_timeout, axum::body::to_bytes(body, MAX_BODY_BYTES))
        .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return fail("too_large", started, too_large()),
        Err(_) => {
            let e = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the body did not arrive within {body_timeout:?}"),
            );
            return fail("body_timeout", started, e);
        }
    };
    // 400: not JSON, or not our fields.
    let req: VoteRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                "bad_request",
                started,
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("invalid JSON body: {e}"),
                ),
            );
        }
    };
    // 403: outside this key's elections or regions (its scope; says nothing of the ballot).
    if !key.allows(&election_id, &req.region_id) {
        let e = ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this key may not vote in this election or region",
        );
        return fail("forbidden", started, e);
    }
    // 400 / 422: field syntax (v4 vote_id, salt), then election, window, candidate, region.
    let cast_at_ms = crate::now_ms();
    if let Err(e) = validate_request(&st.registry, &election_id, &req, cast_at_ms) {
        return match e {
            Invalid::BadField(_) | Invalid::Undecodable(_) => fail(
                "bad_request",
                started,
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
            ),
            _ => fail(
                "unprocessable",
                started,
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.kind(), e.to_string()),
            ),
        };
    }
    let election = st.registry.get(&election_id).expect("validated above");
    // v2: the voter's salt, or 32 bytes from the OS CSPRNG. It goes back to the voter in
    // the 202 answer and into the chain, and is never published.
    let salt = election
        .salted()
        .then(|| req.salt.clone().unwrap_or_else(draw_salt));
    let event = VoteEvent {
        v: if salt.is_some() {
            VOTE_EVENT_SALTED
        } else {
            VOTE_EVENT_VERSION
        },
        chain: chain_of(&req.vote_id, election.chains),
        election_id,
        vote_id: req.vote_id,
        candidate_id: req.candidate_id,
        region_id: req.region_id,
        cast_at_ms,
        salt,
    };
    // The server's own id: a client-chosen one could tie the audit record to anything.
    let request_id = uuid::Uuid::new_v4().to_string();
    let vote = event.to_bytes();
    let audit = serde_json::to_vec(&AuditEvent::for_vote(&event, &client_id, &request_id))
        .expect("serializes");

    // 503: bounded admission.
    let overloaded = |why: &str| ApiError {
        retry_after_s: Some(st.config.ingest.retry_after_s),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            why.to_string(),
        )
    };
    // 503 when the vote may be recorded: the client must resend the same vote_id (and
    // salt), never reissue the ballot under a new one.
    let unknown = |why: &str| ApiError {
        retry_after_s: Some(st.config.ingest.retry_after_s),
        salt: event.salt.clone(),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "outcome_unknown",
            format!(
                "{why}: the vote may be recorded; retry with the same vote_id, never a new one"
            ),
        )
    };
    let depth = st.inflight.fetch_add(1, Ordering::AcqRel) + 1;
    let _admitted = Admitted(st.inflight.clone());
    metrics::gauge!(m::INGEST_QUEUE_DEPTH).set(depth as f64);
    if depth > st.config.ingest.queue_max {
        return fail(
            "overloaded",
            started,
            overloaded("ingest queue is full; retry with the same vote_id"),
        );
    }
    let Some(batcher) = st.ingest.get() else {
        return fail(
            "unavailable",
            started,
            overloaded("ingest producer is restarting; retry with the same vote_id"),
        );
    };
    // 403: this key's cap of votes in this election is spent (a resubmission is free).
    match reserve(&st, &key, &event).await {
        Ok(()) => {}
        Err(e @ CapError::Reached(_)) => {
            let e = ApiError::new(StatusCode::FORBIDDEN, "vote_cap_reached", e.to_string());
            return fail("cap_reached", started, e);
        }
        Err(e @ CapError::Unavailable(_)) => {
            let why = format!("{e}; the vote is not recorded; retry with the same vote_id");
            return fail("unavailable", started, overloaded(&why));
        }
    }
    let kafka_key = event.kafka_key();
    let partition = votechain_core::model::partition_of(
        &event.election_id,
        event.chain,
        st.config.kafka.partitions,
    );
    let timeout = Duration::from_millis(st.config.ingest.transaction_timeout_ms + 2_000);
    let answer = batcher
        .call(
            |reply| {
                IngestMsg::Submit(Pending {
                    key: kafka_key,
                    partition,
                    vote,
                    audit,
                    reply,
                })
            },
            Some(timeout),
        )
        .await;
    match answer {
        Ok(CallResult::Success(Ok(()))) => {
            metrics::counter!(m::INGEST_REQUESTS, "outcome" => "accepted").increment(1);
            metrics::histogram!(m::INGEST_REQUEST_SECONDS).record(started.elapsed().as_secs_f64());
            let mut body = json!({
                "vote_id": event.vote_id,
                "status": "accepted",
                "cast_at_ms": event.cast_at_ms,
            });
            if let Some(salt) = &event.salt {
                body["salt"] = json!(salt);
            }
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Ok(CallResult::Success(Err(e @ TxnError::NotRecorded(_)))) => fail(
            "unavailable",
            started,
            overloaded(&format!("{e}; retry with the same vote_id")),
        ),
        Ok(CallResult::Success(Err(e @ TxnError::OutcomeUnknown(_)))) => {
            fail("outcome_unknown", started, unknown(&e.to_string()))
        }
        // No answer in time, or the batcher died holding the vote: it may commit yet.
        _ => fail(
            "outcome_unknown",
            started,
            unknown("no commit confirmed in time"),
        ),
    }
}

/// Takes a slot of `key`'s cap for this vote_id when the key has a cap (`caps.rs`): the
/// last check before Kafka, so a refused request has written nothing. The slot stays if the
/// Kafka transaction then fails: the client's retry of the same vote_id passes free.
async fn reserve(
    st: &AppState,
    key: &crate::keys::KeyEntry,
    event: &VoteEvent,
) -> Result<(), CapError> {
    let cap = key.max_votes.unwrap_or(st.config.ingest.key_max_votes);
    if cap == 0 {
        return Ok(());
    }
    let result = st
        .caps
        .reserve(&event.election_id, &key.id, &event.vote_id, cap)
        .await;
    let label = match &result {
        Ok(Reserved::Counted) => "counted",
        Ok(Reserved::Again) => "again",
        Err(CapError::Reached(_)) => "reached",
        Err(CapError::Unavailable(_)) => "unavailable",
    };
    metrics::counter!(m::INGEST_CAP_RESERVATIONS, "result" => label).increment(1);
    match &result {
        // The station is not secret (every audit event names it); the choice is not logged.
        Err(CapError::Reached(_)) => tracing::warn!(
            station = %key.id,
            election = %event.election_id,
            cap,
            "vote cap reached: a new vote_id refused"
        ),
        Err(e) => tracing::warn!(error = %e, "vote cap not checked; answered 503"),
        Ok(_) => {}
    }
    result.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_trimmed() {
        for v in ["Bearer k-1", "bearer k-1", "BEARER  k-1 ", " Bearer k-1"] {
            assert_eq!(bearer_token(v), Some("k-1"), "{v:?}");
        }
        for v in ["Basic k-1", "Bearer", "Bearer ", "Bearerk-1", ""] {
            assert_eq!(bearer_token(v), None, "{v:?}");
        }
    }
}
