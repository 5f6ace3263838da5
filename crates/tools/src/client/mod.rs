//! The votechain client: submits a vote until it is acknowledged, with the same vote_id and
//! salt on every retry, on the shared [`retry`] policy (backoff with jitter, `Retry-After`
//! honoured, a total deadline). With an [`outbox::Outbox`], nothing a client accepted is
//! lost across crashes or outages. Talks to ingest over `https://` with rustls (the
//! system's roots, or a given CA) as well as plain HTTP.

pub mod outbox;
pub mod retry;

use outbox::OutVote;
use rand::Rng;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub key: String,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Delays between attempts and when to give up (the vote stays in the outbox for the
    /// next run).
    pub retry: retry::Policy,
    /// A PEM CA certificate to trust for `https://` (besides the system's roots).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The server refused the vote itself (400, 401, 403, 413, 422): retrying cannot help.
    #[error("refused with {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("not acknowledged within {0:?}; it stays pending")]
    GaveUp(Duration),
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("CA file {path}: {detail}")]
    Ca { path: String, detail: String },
    #[error("station key file {path}: {detail}")]
    Key { path: String, detail: String },
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Result of one successful submission.
#[derive(Debug, Clone)]
pub struct Acked {
    pub attempts: u32,
    pub latency: Duration,
    /// The 202's body (vote_id, salt, cast_at_ms, status), for the voter's receipt.
    pub answer: serde_json::Value,
}

pub struct Client {
    http: reqwest::Client,
    cfg: ClientConfig,
}

/// An HTTP client for ingest: rustls with the system's roots, plus `ca_file` when given.
pub fn http_client(
    timeout: Duration,
    ca_file: Option<&std::path::Path>,
    pool: usize,
) -> Result<reqwest::Client, ClientError> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .pool_max_idle_per_host(pool);
    if let Some(path) = ca_file {
        let ca = |detail: String| ClientError::Ca {
            path: path.display().to_string(),
            detail,
        };
        let pem = std::fs::read(path).map_err(|e| ca(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca("no PEM certificate in it".into()));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    Ok(b.build()?)
}

/// A station key from a file: its first line, trimmed; an empty one is an error.
pub fn read_key_file(path: &std::path::Path) -> Result<String, ClientError> {
    let bad = |detail: String| ClientError::Key {
        path: path.display().to_string(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    match text.lines().next().map(str::trim) {
        Some(k) if !k.is_empty() => Ok(k.to_string()),
        _ => Err(bad("empty".into())),
    }
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Client, ClientError> {
        let http = http_client(cfg.timeout, cfg.ca_file.as_deref(), 64)?;
        Ok(Client { http, cfg })
    }

    /// Sends until 202. `drop_answer_share`: simulated lost answers (the client retries).
    pub async fn submit(&self, v: &OutVote, drop_answer_share: f64) -> Result<Acked, SubmitError> {
        let url = format!(
            "{}/v1/elections/{}/votes",
            self.cfg.base_url.trim_end_matches('/'),
            v.election_id
        );
        let mut body = serde_json::json!({"vote_id": v.vote_id, "candidate_id": v.candidate_id, "region_id": v.region_id});
        if let Some(salt) = &v.salt {
            body["salt"] = salt.clone().into();
        }
        let mut retrier = retry::Retrier::new(&self.cfg.retry);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let t0 = tokio::time::Instant::now();
            let sent = self
                .http
                .post(&url)
                .bearer_auth(&self.cfg.key)
                .json(&body)
                .send()
                .await;
            let (status, after) = match &sent {
                Ok(r) => (Some(r.status().as_u16()), retry::retry_after(r.headers())),
                Err(_) => (None, None), // timeout or connection trouble
            };
            let text = match sent {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let after = match retry::classify(status, after) {
                retry::Class::Acked => {
                    if !rand::rng().random_bool(drop_answer_share.clamp(0.0, 1.0)) {
                        return Ok(Acked {
                            attempts,
                            latency: t0.elapsed(),
                            answer,
                        });
                    }
                    None
                }
                retry::Class::Refused => {
                    return Err(SubmitError::Refused {
                        status: status.unwrap_or(0),
                        body: text,
                    });
                }
                retry::Class::Retry { after } => {
                    // `outcome_unknown` names the salt the vote may be recorded with (drawn
                    // by ingest when we sent none): resend that one, or it is a conflict.
                    if body.get("salt").is_none()
                        && let Some(salt) = answer.get("salt").and_then(|s| s.as_str())
                    {
                        body["salt"] = salt.into();
                    }
                    after
                }
            };
            let Some(wait) = retrier.wait(after) else {
                let gave_up = self.cfg.retry.give_up_after.unwrap_or_default();
                return Err(SubmitError::GaveUp(gave_up));
            };
            tokio::time::sleep(wait).await;
        }
    }
}
