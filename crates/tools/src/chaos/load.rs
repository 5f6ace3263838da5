//! The chaos load: polling-station clients over a bad network. Each client submits new
//! votes (and re-sends acknowledged ones), with a short timeout; a timed-out, failed or
//! "dropped" answer is retried with the SAME vote_id until it is acknowledged, on the
//! polling-station client's own retry policy ([`crate::client::retry`]). With several
//! ingest instances a client starts on one and moves to the next on every retry, as a
//! client behind a load balancer would land elsewhere.

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
    /// For each acknowledged vote: seconds from the load's start to its first send and to
    /// its first 202 (the fault-window latencies and stalls of the report).
    pub acks: Vec<(f64, f64)>,
}

impl Book {
    /// The `q` quantile (0..=1) of send-to-202 seconds over the votes first sent within
    /// `windows` (`None`: every vote); `None` when there are none.
    pub fn ack_quantile(&self, q: f64, windows: Option<&[(f64, f64)]>) -> Option<f64> {
        let mut lat: Vec<f64> = self
            .acks
            .iter()
            .filter(|(sent, _)| {
                windows.is_none_or(|w| w.iter().any(|(a, b)| sent >= a && sent <= b))
            })
            .map(|(sent, acked)| acked - sent)
            .collect();
        if lat.is_empty() {
            return None;
        }
        lat.sort_by(f64::total_cmp);
        let i = ((lat.len() - 1) as f64 * q).round() as usize;
        Some(lat[i])
    }

    /// The longest time, in seconds, within `0..=until_s` during which no vote got a 202.
    pub fn longest_stall(&self, until_s: f64) -> f64 {
        let mut at: Vec<f64> = self
            .acks
            .iter()
            .map(|(_, a)| *a)
            .filter(|a| *a <= until_s)
            .collect();
        at.sort_by(f64::total_cmp);
        let mut last = 0.0;
        let mut worst: f64 = 0.0;
        for a in at {
            worst = worst.max(a - last);
            last = a;
        }
        worst.max(until_s - last)
    }
}

pub struct Load {
    /// The votes URL of every ingest instance.
    pub urls: Vec<String>,
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
        let t0 = tokio::time::Instant::now();
        let next = Arc::new(AtomicU64::new(0));
        let me = Arc::new(self);
        let per_client = Duration::from_secs_f64(me.clients as f64 / me.rate.max(1) as f64);
        let http = crate::client::http_client(me.timeout, None, me.clients as usize)
            .expect("an HTTP client without a CA file");
        let tasks: Vec<_> = (0..me.clients)
            .map(|client| {
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
                        let vote = Vote {
                            id: &vid,
                            candidate: &cand,
                            region: &region,
                        };
                        let clock = Clock {
                            t0,
                            grace: deadline_after_stop,
                            stopped_at: &mut stopped_at,
                        };
                        me.until_acked(&http, &book, vote, client as usize, &stop, clock)
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

    async fn until_acked(
        &self,
        http: &reqwest::Client,
        book: &Mutex<Book>,
        vote: Vote<'_>,
        client: usize,
        stop: &AtomicBool,
        clock: Clock<'_>,
    ) {
        let Vote {
            id: vid,
            candidate: cand,
            region,
        } = vote;
        let Clock {
            t0,
            grace,
            stopped_at,
        } = clock;
        let sent_at = t0.elapsed().as_secs_f64();
        let mut url = client;
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
                .post(&self.urls[url % self.urls.len()])
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
                        if b.acknowledged.insert(vid.into()) {
                            b.acks.push((sent_at, t0.elapsed().as_secs_f64()));
                        }
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
            url += 1;
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

/// One ballot of the load.
struct Vote<'a> {
    id: &'a str,
    candidate: &'a str,
    region: &'a str,
}

/// The load's clock: its start, and the grace after `stop` for unacknowledged votes.
struct Clock<'a> {
    t0: tokio::time::Instant,
    grace: Duration,
    stopped_at: &'a mut Option<tokio::time::Instant>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(acks: &[(f64, f64)]) -> Book {
        Book {
            acks: acks.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn quantiles_are_taken_over_the_votes_sent_in_the_windows() {
        let b = book(&[(0.0, 0.1), (1.0, 1.2), (5.0, 9.0), (6.0, 6.5), (10.0, 10.1)]);
        assert_eq!(b.ack_quantile(1.0, None), Some(4.0));
        let w = [(4.0, 7.0)];
        assert_eq!(b.ack_quantile(1.0, Some(&w)), Some(4.0));
        assert_eq!(b.ack_quantile(0.0, Some(&w)), Some(0.5));
        assert_eq!(b.ack_quantile(0.5, Some(&[(20.0, 30.0)])), None);
    }

    #[test]
    fn the_longest_stall_counts_the_start_and_the_end() {
        let b = book(&[(0.0, 1.0), (1.0, 2.0), (2.0, 7.5), (7.0, 8.0)]);
        assert_eq!(b.longest_stall(9.0), 5.5);
        assert_eq!(b.longest_stall(20.0), 12.0);
        assert_eq!(book(&[]).longest_stall(3.0), 3.0);
    }
}
