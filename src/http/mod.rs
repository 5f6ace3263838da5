//! The HTTP surface of a node: the contract's API for the roles it runs (`ingest`,
//! `query`), and on every node `/metrics`, `/healthz`, `/readyz`, `/debug/actors`; with
//! `node.admin_addr`, the operator's paths on their own listener ([`routers`]).
//!
//! Errors are always `{"error": {"code", "message"}}` (contract). Handlers never block
//! and never hold a lock across `.await`.

mod ingest;
mod log;
pub mod pages;
mod query;
mod quota;
pub mod serve;

use crate::actors::ingest_batcher::IngestMsg;
use crate::config::{Config, Role};
use crate::dynamo::ledger::Ledger;
use crate::metrics as m;
use crate::shared::Slot;
use crate::supervision::SupervisorMsg;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use ractor::ActorRef;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub registry: Arc<votechain_core::model::Registry>,
    pub ledger: Ledger,
    pub ingest: Slot<IngestMsg>,
    pub scaling: crate::shared::Shared<votechain_core::scaling::ScalingReport>,
    /// The active-projection pointer, cached for a second (dashboards poll every second).
    pub projection:
        crate::shared::Shared<(std::time::Instant, crate::projector::projection::Projection)>,
    pub root: ActorRef<SupervisorMsg>,
    pub prometheus: PrometheusHandle,
    /// Votes admitted and not yet answered (the ingest queue bound).
    pub inflight: Arc<AtomicUsize>,
    /// The station keys in force (by digest), reloaded in place.
    pub keys: Arc<crate::keys::Keys>,
    /// Each key's vote quota.
    pub quotas: Arc<quota::Quotas>,
    /// Each key's cap of votes per election (`ingest.key_max_votes`), in DynamoDB.
    pub caps: crate::dynamo::caps::Caps,
}

impl AppState {
    pub fn new(
        config: Arc<Config>,
        ledger: Ledger,
        ingest: Slot<IngestMsg>,
        scaling: crate::shared::Shared<votechain_core::scaling::ScalingReport>,
        root: ActorRef<SupervisorMsg>,
        prometheus: PrometheusHandle,
        keys: Arc<crate::keys::Keys>,
    ) -> AppState {
        AppState {
            quotas: Arc::new(quota::Quotas::new(&config.ingest)),
            caps: crate::dynamo::caps::Caps::new(
                ledger.db.clone(),
                config.dynamodb.caps_table.clone(),
            ),
            registry: Arc::new(config.registry()),
            config,
            ledger,
            ingest,
            scaling,
            projection: Default::default(),
            root,
            prometheus,
            inflight: Arc::new(AtomicUsize::new(0)),
            keys,
        }
    }
}

/// The node's routes: `public` (the contract's `/v1` API for the roles this node runs, the
/// receipt page `/verify`, `/healthz`) and `admin` (everything: `public` plus `/metrics`,
/// `/readyz`, `/debug/actors`, `/v1/scaling` and the status page `/`). With
/// `node.admin_addr` the public listener serves `public` and the admin listener `admin`;
/// without it, one listener serves `admin` (one port, as in `votechain dev`).
pub struct Routers {
    pub public: Router,
    pub admin: Router,
}

pub fn routers(state: AppState) -> Routers {
    let public = public_routes(&state);
    let mut admin = public
        .clone()
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz))
        .route("/debug/actors", get(debug_actors));
    if state.config.runs(Role::Query) {
        admin = admin.route(
            "/",
            get(|| async { pages::page(include_str!("status.html")) }),
        );
    }
    if state.config.runs(Role::LagMonitor) {
        admin = admin.route("/v1/scaling", get(scaling));
    }
    Routers {
        public: finish(public, &state),
        admin: finish(admin, &state),
    }
}

/// The routes anyone may reach.
fn public_routes(state: &AppState) -> Router<AppState> {
    let mut r = Router::new().route("/healthz", get(|| async { "ok" }));
    if state.config.runs(Role::Ingest) {
        r = r.route("/v1/elections/{election_id}/votes", post(ingest::submit));
    }
    if state.config.runs(Role::Query) || state.config.runs(Role::Ingest) {
        r = r.route(
            "/v1/elections/{election_id}/votes/{vote_id}",
            get(query::receipt),
        );
    }
    if state.config.runs(Role::Query) {
        r = r
            .route("/v1/elections/{election_id}/results", get(query::results))
            .route("/v1/elections/{election_id}/manifest", get(query::manifest))
            .route(
                "/v1/elections/{election_id}/chains/{chain}/log/checkpoint",
                get(log::checkpoint),
            )
            .route(
                "/v1/elections/{election_id}/chains/{chain}/log/tile/{*rest}",
                get(log::tile),
            )
            .route(
                "/v1/elections/{election_id}/votes/{vote_id}/proof",
                get(log::proof),
            )
            .route("/v1/elections/{election_id}/tally", get(log::tally))
            .route(
                "/verify",
                get(|| async { pages::page(include_str!("verify.html")) }),
            )
            .route("/v1/elections", get(query::elections));
    }
    r
}

/// The fallback (404 in the contract's shape), the edge middleware, the state.
fn finish(r: Router<AppState>, state: &AppState) -> Router {
    let inflight = Arc::new(tokio::sync::Semaphore::new(
        state.config.http.max_inflight_requests,
    ));
    r.fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(axum::middleware::from_fn_with_state(inflight, edge))
        .with_state(state.clone())
}

/// Every request passes here: the head limit (431 beyond `serve::MAX_HEADER_BYTES`), the
/// in-flight cap (503 `overloaded` beyond it),
/// `votechain_http_requests_total` by matched route and status class, and the contract's
/// error body for rejections axum makes before or instead of a handler (a path that does
/// not decode, a wrong method, ...): every error is `{"error": {"code", "message"}}`.
async fn edge(
    State(inflight): State<Arc<tokio::sync::Semaphore>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let head: usize = req.uri().to_string().len()
        + req
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>();
    let resp = match inflight.try_acquire() {
        _ if head > serve::MAX_HEADER_BYTES => ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "the request's target and headers exceed 16 KiB",
        )
        .into_response(),
        Ok(_permit) => contract_shaped(next.run(req).await).await,
        Err(_) => {
            metrics::counter!(m::HTTP_SHED).increment(1);
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "too many requests in flight; retry",
            );
            e.retry_after_s = Some(1);
            e.into_response()
        }
    };
    let class = match resp.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!(m::HTTP_REQUESTS, "route" => route, "status" => class).increment(1);
    resp
}

/// An error response that is not JSON (axum's own rejections are text or empty) as the
/// contract's error body, with its status and headers (`Allow`, `Retry-After`) kept.
async fn contract_shaped(resp: Response) -> Response {
    let status = resp.status();
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let body = json!({"error": {"code": error_code(status), "message": message}});
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}

/// The contract's error code for a status that no handler named.
fn error_code(status: StatusCode) -> &'static str {
    if status == StatusCode::SERVICE_UNAVAILABLE {
        return "unavailable";
    }
    if !status.is_client_error() {
        return "internal";
    }
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        425 => "too_early",
        429 => "rate_limited",
        _ => "client_error",
    }
}

/// The contract's error body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_s: Option<u64>,
    /// `outcome_unknown` of a v2 vote: the salt the vote may have been recorded with, which
    /// the client must resend (it may have been drawn by ingest).
    pub salt: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
            salt: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Some(salt) = self.salt {
            body["salt"] = json!(salt);
        }
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after_s {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        m::render(&st.prometheus),
    )
}

/// Ready when every child of the root supervisor runs and, for ingest, the transactional
/// producer is initialized.
/// Every child of the tree is running, roles' children included (a role restarting one
/// of its actors, or being rebuilt itself, is not ready).
fn all_running(v: &crate::supervision::ActorView) -> bool {
    v.children.iter().all(|c| {
        c.status == "Running" && (c.kind != crate::supervision::SUPERVISOR_KIND || all_running(c))
    })
}

async fn readyz(State(st): State<AppState>) -> Response {
    if st.config.runs(Role::Ingest) && st.ingest.get().is_none() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "ingest producer not ready",
        )
        .into_response();
    }
    match st
        .root
        .call(
            SupervisorMsg::Inspect,
            Some(std::time::Duration::from_secs(2)),
        )
        .await
    {
        Ok(ractor::rpc::CallResult::Success(view)) if all_running(&view) => "ready".into_response(),
        _ => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "actor tree not running",
        )
        .into_response(),
    }
}

/// The LagMonitor's latest report (KEDA metrics-api: `writer.desired`, `projector.desired`).
async fn scaling(State(st): State<AppState>) -> Response {
    match st.scaling.get() {
        Some(r) => axum::Json(r).into_response(),
        None => ApiError {
            retry_after_s: Some(5),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "no lag measurement yet",
            )
        }
        .into_response(),
    }
}

async fn debug_actors(State(st): State<AppState>) -> Response {
    match st
        .root
        .call(
            SupervisorMsg::Inspect,
            Some(std::time::Duration::from_secs(2)),
        )
        .await
    {
        Ok(ractor::rpc::CallResult::Success(view)) => axum::Json(view).into_response(),
        _ => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "root supervisor did not answer",
        )
        .into_response(),
    }
}
