//! The votechain client: submits a vote until it is acknowledged, with the same vote_id on
//! every retry, exponential backoff with jitter, and `Retry-After` honoured on 503. With an
//! [`outbox::Outbox`], nothing a client accepted is lost across crashes or outages.

pub mod outbox;

use outbox::OutVote;
use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub key: String,
    /// Per-attempt timeout.
    pub timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Give up after this long (the vote stays in the outbox for the next run).
    pub give_up_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The server refused the vote itself (400, 401, 413, 422): retrying cannot help.
    #[error("refused with {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("not acknowledged within {0:?}; it stays pending")]
    GaveUp(Duration),
}

/// Result of one successful submission.
#[derive(Debug, Clone, Copy)]
pub struct Acked {
    pub attempts: u32,
    pub latency: Duration,
}

pub struct Client {
    http: reqwest::Client,
    cfg: ClientConfig,
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Client {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .build()
            .expect("http client");
        Client { http, cfg }
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
        let started = tokio::time::Instant::now();
        let mut backoff = self.cfg.backoff_initial;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let t0 = tokio::time::Instant::now();
            let mut wait = None;
            match self
                .http
                .post(&url)
                .bearer_auth(&self.cfg.key)
                .json(&body)
                .send()
                .await
            {
                Ok(r) if r.status() == 202 => {
                    if !rand::rng().random_bool(drop_answer_share.clamp(0.0, 1.0)) {
                        return Ok(Acked {
                            attempts,
                            latency: t0.elapsed(),
                        });
                    }
                }
                Ok(r) if r.status() == 503 || r.status() == 429 || r.status().is_server_error() => {
                    wait = r
                        .headers()
                        .get("retry-after")
                        .and_then(|h| h.to_str().ok())
                        .and_then(|s| s.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    // `outcome_unknown` names the salt the vote may be recorded with (drawn
                    // by ingest when we sent none): resend that one, or it is a conflict.
                    let answer: serde_json::Value = r.json().await.unwrap_or_default();
                    if body.get("salt").is_none()
                        && let Some(salt) = answer.get("salt").and_then(|s| s.as_str())
                    {
                        body["salt"] = salt.into();
                    }
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    return Err(SubmitError::Refused {
                        status,
                        body: r.text().await.unwrap_or_default(),
                    });
                }
                Err(_) => {} // timeout or connection trouble: retry the same vote_id
            }
            if started.elapsed() > self.cfg.give_up_after {
                return Err(SubmitError::GaveUp(self.cfg.give_up_after));
            }
            let jittered = backoff.mul_f64(rand::rng().random_range(0.5..1.5));
            tokio::time::sleep(wait.map_or(jittered, |w| w.max(jittered))).await;
            backoff = (backoff * 2).min(self.cfg.backoff_max);
        }
    }
}
