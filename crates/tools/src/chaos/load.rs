//! The chaos load: polling-station clients over a bad network. Each client submits new
//! votes (and re-sends acknowledged ones), with a short timeout; a timed-out, failed or
//! "dropped" answer is retried with the SAME vote_id until it is acknowledged, on the
//! polling-station client's own retry policy ([`crate::client::retry`]).

use crate::client::retry::{self, Class, Retrier};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the clients did, for the checker.
#[derive(Debug, Default)]
pub struct Book {
    /// Every vote_id ever sent, with its choice (candidate, region).
    pub submitted: BTreeMap<String, (String, String)>,
    /// Each vote_id's salt, drawn once: every resend is the same ballot.
    pub salts: BTreeMap<String, String>,
    /// vote_ids answered 202 at least once.
    pub acknowledged: BTreeSet<String>,
    pub attempts: u64,
    pub retries: u64,
}

pub struct Load {
    pub url: String,
    pub key: String,
    pub election: String,
    pub candidates: Vec<String>,
    pub regions: Vec<String>,
    pub rate: u32,
    pub clients: u32,
    pub resubmit_share: f64,
    pub timeout: Duration,
    pub drop_answer_share: f64,
}

impl Load {
    /// Runs until `stop`; then finishes every vote still unacknowledged (bounded by `grace`).
    pub async fn run(self, stop: Arc<AtomicBool>, grace: Duration) -> Book {
        let book = Arc::new(Mutex::new(Book::default()));
        let next = Arc::new(AtomicU64::new(0));
        let me = Arc::new(self);
        let per_client = Duration::from_secs_f64(me.clients as f64 / me.rate.max(1) as f64);
        let http = crate::client::http_client(me.timeout, None, me.clients as usize)
            .expect("an HTTP client without a CA file");
        let tasks: Vec<_> = (0..me.clients)
            .map(|_| {
                let (me, book, next, stop, http) = (
                    me.clone(),
                    book.clone(),
                    next.clone(),
                    stop.clone(),
                    http.clone(),
                );
                tokio::spawn(async move {
                    let deadline_after_stop = grace;
                    let mut stopped_at: Option<tokio::time::Instant> = None;
                    loop {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let (vid, cand, region) = me.pick(&book, &next);
                        me.until_acked(
                            &http,
                            &book,
                            &vid,
                            &cand,
                            &region,
                            &stop,
                            &mut stopped_at,
                            deadline_after_stop,
                        )
                        .await;
                        tokio::time::sleep(per_client).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        Arc::try_unwrap(book)
            .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
            .unwrap_or_default()
    }

    fn pick(&self, book: &Mutex<Book>, next: &AtomicU64) -> (String, String, String) {
        let mut rng = rand::rng();
        let b = book.lock().unwrap_or_else(|e| e.into_inner());
        if !b.acknowledged.is_empty() && rng.random_bool(self.resubmit_share) {
            let i = rng.random_range(0..b.acknowledged.len());
            if let Some(v) = b.acknowledged.iter().nth(i) {
                let (c, r) = b.submitted[v].clone();
                return (v.clone(), c, r);
            }
        }
        drop(b);
        let n = next.fetch_add(1, Ordering::Relaxed);
        let vid = format!("c4a05000-0000-4000-8000-{n:012x}");
        let c = self.candidates[rng.random_range(0..self.candidates.len())].clone();
        let r = self.regions[rng.random_range(0..self.regions.len())].clone();
        (vid, c, r)
    }

    #[allow(clippy::too_many_arguments)]
    async fn until_acked(
        &self,
        http: &reqwest::Client,
        book: &Mutex<Book>,
        vid: &str,
        cand: &str,
        region: &str,
        stop: &AtomicBool,
        stopped_at: &mut Option<tokio::time::Instant>,
        grace: Duration,
    ) {
        // v2: one salt per ballot, the same on every resend (a new one would be a conflict).
        let salt = {
            let mut b = book.lock().unwrap_or_else(|e| e.into_inner());
            b.submitted
                .entry(vid.into())
                .or_insert((cand.into(), region.into()));
            b.salts
                .entry(vid.into())
                .or_insert_with(crate::client::outbox::new_salt)
                .clone()
        };
        let body = serde_json::json!({"vote_id": vid, "candidate_id": cand, "region_id": region, "salt": salt});
        // The client's own retry policy (shared code), without a deadline of its own: the
        // load stops it, `grace` after `stop`.
        let mut retrier = Retrier::new(&retry::Policy {
            initial: Duration::from_millis(20),
            max: Duration::from_secs(1),
            give_up_after: None,
        });
        loop {
            let sent = http
                .post(&self.url)
                .bearer_auth(&self.key)
                .json(&body)
                .send()
                .await;
            let class = match &sent {
                Ok(r) => {
                    retry::classify(Some(r.status().as_u16()), retry::retry_after(r.headers()))
                }
                Err(_) => retry::classify(None, None),
            };
            let drop_it = rand::rng().random_bool(self.drop_answer_share);
            {
                let mut b = book.lock().unwrap_or_else(|e| e.into_inner());
                b.attempts += 1;
                match class {
                    // The server committed it even if this client "never heard" the answer.
                    Class::Acked if !drop_it => {
                        b.acknowledged.insert(vid.into());
                        return;
                    }
                    Class::Refused => panic!(
                        "chaos load sent a bad request: {:?}",
                        sent.map(|r| r.status())
                    ),
                    _ => {}
                }
                b.retries += 1;
            }
            if stop.load(Ordering::Relaxed) {
                let at = *stopped_at.get_or_insert_with(tokio::time::Instant::now);
                if at.elapsed() > grace {
                    return; // never acknowledged: it may or may not be chained, both are correct
                }
            }
            let after = match class {
                Class::Retry { after } => after,
                _ => None,
            };
            let wait = retrier.wait(after).unwrap_or(Duration::from_secs(1));
            tokio::time::sleep(wait).await;
        }
    }
}
