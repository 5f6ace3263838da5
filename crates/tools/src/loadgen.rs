//! `votechain loadgen`: many polling-station clients against a running votechain (e.g.
//! `votechain dev`), each vote written to a durable outbox before it is sent and resent
//! until acknowledged. Reports sent / acknowledged / chained / projected, throughput,
//! latency percentiles (HDR histogram) and the delay from submission to visibility in results.
//!
//! Chained is checked per vote through the receipt endpoint; projected is the growth of the
//! results totals during the run. End-to-end delay is estimated by pairing the i-th
//! acknowledged vote with the moment the results first counted i new votes (the pipeline is
//! FIFO per chain, so this is close; it is an estimate, and the report says so).

use crate::client::outbox::{OutVote, Outbox};
use crate::client::{Client, ClientConfig};
use hdrhistogram::Histogram;
use rand::Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub url: String,
    pub key: String,
    /// Elections to vote in (default: all the server lists).
    pub elections: Vec<String>,
    /// Target votes per second over all clients; 0 = as fast as possible.
    pub rate: u32,
    pub duration: Option<Duration>,
    pub votes: Option<u64>,
    pub clients: u32,
    pub resubmit_share: f64,
    pub timeout: Duration,
    pub drop_answer_share: f64,
    pub outbox: PathBuf,
    /// A PEM CA certificate to trust for an `https://` url.
    pub ca_file: Option<PathBuf>,
    /// Never compact the outbox: it keeps every vote's choice (for checks; a station never
    /// does this).
    pub keep_history: bool,
    /// Only resend what the outbox holds from an earlier run; no new votes.
    pub resume_only: bool,
    pub progress: bool,
    /// Check the receipts of at most this many acknowledged votes (a random sample);
    /// `None`: every one.
    pub receipt_sample: Option<usize>,
}

/// One minute of a run, by when its votes were first sent.
#[derive(Debug, Clone, Serialize)]
pub struct Minute {
    pub minute: u64,
    pub acknowledged: u64,
    pub acked_per_s: f64,
    pub latency_p99_ms: f64,
    pub e2e_p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub resent_from_outbox: u64,
    pub sent: u64,
    pub duplicates_sent: u64,
    pub acknowledged: u64,
    pub chained: u64,
    pub projected: u64,
    pub attempts: u64,
    pub refused: u64,
    pub seconds: f64,
    pub acked_per_s: f64,
    pub latency_ms: BTreeMap<String, f64>,
    pub e2e_delay_ms_estimate: BTreeMap<String, f64>,
    /// Receipts checked for `chained` (all acknowledged votes, or the sample).
    pub receipts_checked: u64,
    pub per_minute: Vec<Minute>,
    /// This process's peak RSS (VmHWM).
    pub peak_rss_mb: f64,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "votes: sent {} (+{} resubmissions, {} resent from the outbox) / acknowledged {} / chained {} / projected {}",
            self.sent,
            self.duplicates_sent,
            self.resent_from_outbox,
            self.acknowledged,
            self.chained,
            self.projected
        )?;
        writeln!(
            f,
            "throughput: {:.1} acknowledged votes/s over {:.1} s ({} attempts, {} refused)",
            self.acked_per_s, self.seconds, self.attempts, self.refused
        )?;
        writeln!(
            f,
            "latency to 202 (ms, incl. retries): {}",
            fmt_pcts(&self.latency_ms)
        )?;
        writeln!(
            f,
            "submit -> visible in results (ms, estimate): {}",
            fmt_pcts(&self.e2e_delay_ms_estimate)
        )?;
        if self.per_minute.len() > 1 {
            writeln!(f, "per minute (by first send):")?;
            writeln!(
                f,
                "  minute  acknowledged  votes/s  p99 to 202 ms  p99 visible ms"
            )?;
            for m in &self.per_minute {
                writeln!(
                    f,
                    "  {:>6}  {:>12}  {:>7.0}  {:>13.1}  {:>14.1}",
                    m.minute, m.acknowledged, m.acked_per_s, m.latency_p99_ms, m.e2e_p99_ms
                )?;
            }
        }
        write!(
            f,
            "receipts checked: {}; peak RSS of loadgen: {:.0} MB",
            self.receipts_checked, self.peak_rss_mb
        )
    }
}

fn fmt_pcts(m: &BTreeMap<String, f64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn pcts(h: &Histogram<u64>) -> BTreeMap<String, f64> {
    [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)]
        .into_iter()
        .map(|(k, q)| {
            (
                k.to_string(),
                h.value_at_quantile(q / 100.0) as f64 / 1000.0,
            )
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot reach {url}: {detail}")]
    Server { url: String, detail: String },
    #[error(transparent)]
    Outbox(#[from] crate::client::outbox::OutboxError),
}

struct Election {
    id: String,
    candidates: Vec<String>,
    regions: Vec<String>,
    /// v2: every vote carries a salt of its own (kept for resends).
    salted: bool,
}

/// Peak RSS of this process, MB (0 where /proc is not there).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            l.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Acknowledged votes remembered for resubmission (the most recent): bounded, so a run of
/// millions of votes holds a constant amount.
const RESUBMIT_POOL: usize = 10_000;

/// Pairs the i-th acknowledged vote (in acknowledgement order) with the first timeline
/// sample that counted more than i new votes: its estimated submit-to-visible delay, in
/// the order of `acks`. One pass over both (`acks` sorted by acknowledgement, the timeline
/// by time and count): linear in the run's length.
pub fn visible_delays(
    acks: &[(Instant, Instant)],
    timeline: &[(Instant, u64)],
) -> Vec<Option<Duration>> {
    let mut j = 0;
    acks.iter()
        .enumerate()
        .map(|(i, (sent_at, _))| {
            while j < timeline.len() && timeline[j].1 <= i as u64 {
                j += 1;
            }
            timeline
                .get(j)
                .map(|(visible, _)| visible.saturating_duration_since(*sent_at))
        })
        .collect()
}

/// The per-minute table: votes by the minute they were first sent.
fn minutes(
    started: Instant,
    acks: &[(Instant, Instant)],
    delays: &[Option<Duration>],
) -> Vec<Minute> {
    let mut by: BTreeMap<u64, (Histogram<u64>, Histogram<u64>)> = BTreeMap::new();
    let new = || Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("bounds");
    for ((sent, acked), d) in acks.iter().zip(delays) {
        let m = sent.saturating_duration_since(started).as_secs() / 60;
        let (lat, e2e) = by.entry(m).or_insert_with(|| (new(), new()));
        let _ = lat.record(acked.saturating_duration_since(*sent).as_micros().max(1) as u64);
        if let Some(d) = d {
            let _ = e2e.record(d.as_micros().max(1) as u64);
        }
    }
    let last = by.keys().last().copied();
    by.into_iter()
        .map(|(minute, (lat, e2e))| {
            // The last minute is partial: its rate over the seconds it lasted.
            let secs = if Some(minute) == last {
                let end = acks.iter().map(|a| a.0).max().unwrap_or(started);
                (end.saturating_duration_since(started).as_secs_f64() - minute as f64 * 60.0)
                    .max(1.0)
            } else {
                60.0
            };
            let q = |h: &Histogram<u64>| h.value_at_quantile(0.99) as f64 / 1000.0;
            Minute {
                minute,
                acknowledged: lat.len(),
                acked_per_s: lat.len() as f64 / secs,
                latency_p99_ms: q(&lat),
                e2e_p99_ms: if e2e.is_empty() { f64::NAN } else { q(&e2e) },
            }
        })
        .collect()
}

async fn totals(http: &reqwest::Client, url: &str, elections: &[Election]) -> u64 {
    let mut sum = 0;
    for e in elections {
        if let Ok(r) = http
            .get(format!("{url}/v1/elections/{}/results", e.id))
            .send()
            .await
            && let Ok(v) = r.json::<serde_json::Value>().await
        {
            sum += v["total"].as_u64().unwrap_or(0);
        }
    }
    sum
}

pub async fn run(o: LoadOptions) -> Result<LoadReport, LoadError> {
    let url = o.url.trim_end_matches('/').to_string();
    let server = |detail: String| LoadError::Server {
        url: url.clone(),
        detail,
    };
    let http = crate::client::http_client(Duration::from_secs(10), o.ca_file.as_deref(), 4)
        .map_err(|e| server(e.to_string()))?;
    let listed: serde_json::Value = http
        .get(format!("{url}/v1/elections"))
        .send()
        .await
        .map_err(|e| server(e.to_string()))?
        .json()
        .await
        .map_err(|e| server(e.to_string()))?;
    let elections: Vec<Election> = listed["elections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["open"].as_bool().unwrap_or(true))
        .filter(|e| {
            o.elections.is_empty()
                || o.elections
                    .iter()
                    .any(|x| Some(x.as_str()) == e["id"].as_str())
        })
        .map(|e| Election {
            id: e["id"].as_str().unwrap_or_default().into(),
            salted: e["hash_v"].as_u64() == Some(2),
            candidates: e["candidates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(String::from))
                .collect(),
            regions: e["regions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(String::from))
                .collect(),
        })
        .collect();
    if elections.is_empty() {
        return Err(server("no open election to vote in".into()));
    }
    let before = totals(&http, &url, &elections).await;
    let limits = if o.keep_history {
        crate::client::outbox::Limits::KEEP_HISTORY
    } else {
        Default::default()
    };
    let outbox = Arc::new(Mutex::new(Outbox::open_with(&o.outbox, limits)?));
    let resend: Vec<OutVote> = outbox.lock().unwrap_or_else(|e| e.into_inner()).pending();
    let resent = resend.len() as u64;
    // Oldest first: a station resends in the order its votes were cast.
    let queue = Arc::new(Mutex::new(std::collections::VecDeque::from(resend)));
    let client = Arc::new(
        Client::new(ClientConfig {
            base_url: url.clone(),
            key: o.key.clone(),
            timeout: o.timeout,
            retry: crate::client::retry::Policy {
                initial: Duration::from_millis(20),
                max: Duration::from_secs(2),
                give_up_after: Some(Duration::from_secs(120)),
            },
            ca_file: o.ca_file.clone(),
        })
        .map_err(|e| server(e.to_string()))?,
    );
    let target = if o.resume_only { Some(0) } else { o.votes };
    let pb = if o.progress {
        indicatif::ProgressBar::new(target.unwrap_or(0) + resent)
    } else {
        indicatif::ProgressBar::hidden()
    };
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} loadgen [{bar:40}] {pos} acknowledged  {per_sec}  {msg}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let deadline = o.duration.map(|d| started + d);
    let (new_count, acked, attempts, refused, dups) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let hist = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("bounds"),
    ));
    // (first submit, acknowledged at) of every acknowledged vote.
    let acks: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    // The most recent acknowledged votes (resubmissions pick among them), and every
    // acknowledged vote as (election index, UUID) for the receipt check: 24 bytes a vote.
    let acked_ids: Arc<Mutex<std::collections::VecDeque<OutVote>>> = Default::default();
    let acked_all: Arc<Mutex<Vec<(u16, u128)>>> = Default::default();
    let per_client = if o.rate == 0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(o.clients as f64 / o.rate as f64)
    };
    let elections = Arc::new(elections);
    let stop = Arc::new(AtomicBool::new(false));
    // Results timeline: (when, projected so far).
    let timeline: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let poller = {
        let (http, url, el, tl, stop) = (
            http.clone(),
            url.clone(),
            elections.clone(),
            timeline.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let t = totals(&http, &url, &el).await.saturating_sub(before);
                tl.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((Instant::now(), t));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let tasks: Vec<_> = (0..o.clients)
        .map(|_| {
            let (o, outbox, queue, client, pb) = (
                o.clone(),
                outbox.clone(),
                queue.clone(),
                client.clone(),
                pb.clone(),
            );
            let (new_count, acked, attempts, refused, dups, hist, acks, acked_ids, elections) = (
                new_count.clone(),
                acked.clone(),
                attempts.clone(),
                refused.clone(),
                dups.clone(),
                hist.clone(),
                acks.clone(),
                acked_ids.clone(),
                elections.clone(),
            );
            let acked_all = acked_all.clone();
            tokio::spawn(async move {
                loop {
                    let queued = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let (vote, fresh) = match queued {
                        Some(v) => (v, true),
                        None => {
                            if deadline.is_some_and(|d| Instant::now() >= d) {
                                break;
                            }
                            let resubmit = {
                                let ids = acked_ids.lock().unwrap_or_else(|e| e.into_inner());
                                (!ids.is_empty() && rand::rng().random_bool(o.resubmit_share))
                                    .then(|| ids[rand::rng().random_range(0..ids.len())].clone())
                            };
                            if let Some(v) = resubmit {
                                dups.fetch_add(1, Ordering::Relaxed);
                                (v, false)
                            } else {
                                let n = new_count.fetch_add(1, Ordering::Relaxed);
                                if target.is_some_and(|t| n >= t) {
                                    break;
                                }
                                let e = &elections[rand::rng().random_range(0..elections.len())];
                                let v = OutVote {
                                    election_id: e.id.clone(),
                                    vote_id: uuid::Uuid::new_v4().to_string(),
                                    candidate_id: e.candidates
                                        [rand::rng().random_range(0..e.candidates.len())]
                                    .clone(),
                                    region_id: e.regions
                                        [rand::rng().random_range(0..e.regions.len())]
                                    .clone(),
                                    salt: e.salted.then(crate::client::outbox::new_salt),
                                };
                                // Durable before it is sent.
                                let ob = outbox.clone();
                                let v2 = v.clone();
                                if tokio::task::spawn_blocking(move || {
                                    ob.lock().unwrap_or_else(|e| e.into_inner()).add(&v2)
                                })
                                .await
                                .ok()
                                .and_then(Result::ok)
                                .is_none()
                                {
                                    break;
                                }
                                (v, true)
                            }
                        }
                    };
                    let t0 = Instant::now();
                    match client.submit(&vote, o.drop_answer_share).await {
                        Ok(a) => {
                            attempts.fetch_add(a.attempts as u64, Ordering::Relaxed);
                            if fresh {
                                let _ = hist
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .record(t0.elapsed().as_micros().max(1) as u64);
                                acks.lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push((t0, Instant::now()));
                                {
                                    let mut ob = outbox.lock().unwrap_or_else(|e| e.into_inner());
                                    // The simulated voter takes the receipt at once.
                                    let _ = if o.keep_history {
                                        ob.ack(&vote.vote_id, a.answer["cast_at_ms"].as_u64())
                                    } else {
                                        ob.ack_handed_over(&vote.vote_id)
                                    };
                                }
                                let e = elections.iter().position(|e| e.id == vote.election_id);
                                if let (Some(e), Ok(id)) = (e, uuid::Uuid::parse_str(&vote.vote_id))
                                {
                                    acked_all
                                        .lock()
                                        .unwrap_or_else(|e| e.into_inner())
                                        .push((e as u16, id.as_u128()));
                                }
                                let mut recent =
                                    acked_ids.lock().unwrap_or_else(|e| e.into_inner());
                                if recent.len() >= RESUBMIT_POOL {
                                    recent.pop_front();
                                }
                                recent.push_back(vote);
                                acked.fetch_add(1, Ordering::Relaxed);
                                pb.inc(1);
                            }
                        }
                        Err(e) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            pb.set_message(format!("last error: {e}"));
                        }
                    }
                    if !per_client.is_zero() {
                        tokio::time::sleep(per_client.saturating_sub(t0.elapsed())).await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let n_acked = acked.load(Ordering::Relaxed);
    // Wait (bounded) for the results to count every acknowledged vote, or to stop moving for
    // 10 s (votes resent from an outbox may have been counted in the run that crashed; a
    // projector that has just started takes a few seconds to take its lease).
    let wait_until = Instant::now() + Duration::from_secs(60);
    let (mut last, mut since) = (u64::MAX, Instant::now());
    loop {
        let now = timeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .map(|x| x.1)
            .unwrap_or(0);
        if now != last {
            (last, since) = (now, Instant::now());
        }
        if now >= n_acked
            || Instant::now() > wait_until
            || since.elapsed() > Duration::from_secs(10)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = poller.await;
    pb.finish_and_clear();
    // Chained: every acknowledged vote's receipt, retried until one deadline for all (a
    // stalled writer must show as acknowledged != chained, not as a run that never ends).
    let mut ids = acked_all.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(n) = o.receipt_sample
        && n < ids.len()
    {
        use rand::seq::SliceRandom;
        ids.shuffle(&mut rand::rng());
        ids.truncate(n);
    }
    let receipts_checked = ids.len() as u64;
    let chained = Arc::new(AtomicU64::new(0));
    // At least 500 receipts/s: a million-vote run's check must not time out by design.
    let receipts_until =
        Instant::now() + Duration::from_secs(60) + Duration::from_millis(ids.len() as u64 * 2);
    futures::future::join_all(ids.chunks(ids.len().div_ceil(32).max(1)).map(|chunk| {
        let (http, url, chained, elections) = (
            http.clone(),
            url.clone(),
            chained.clone(),
            elections.clone(),
        );
        let chunk = chunk.to_vec();
        async move {
            for (e, id) in chunk {
                let (e, id) = (&elections[e as usize].id, uuid::Uuid::from_u128(id));
                while Instant::now() < receipts_until {
                    let r = http
                        .get(format!("{url}/v1/elections/{e}/votes/{id}"))
                        .send()
                        .await;
                    if r.is_ok_and(|r| r.status() == 200) {
                        chained.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }))
    .await;
    let tl = timeline.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let projected = tl.last().map(|x| x.1).unwrap_or(0);
    let mut acks = acks.lock().unwrap_or_else(|e| e.into_inner()).clone();
    acks.sort_by_key(|a| a.1);
    let delays = visible_delays(&acks, &tl);
    let mut e2e = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("bounds");
    for d in delays.iter().flatten() {
        let _ = e2e.record(d.as_micros().max(1) as u64);
    }
    let per_minute = minutes(started, &acks, &delays);
    let latency = pcts(&hist.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(LoadReport {
        resent_from_outbox: resent,
        sent: new_count
            .load(Ordering::Relaxed)
            .min(target.unwrap_or(u64::MAX))
            + resent,
        duplicates_sent: dups.load(Ordering::Relaxed),
        acknowledged: n_acked,
        chained: chained.load(Ordering::Relaxed),
        projected,
        attempts: attempts.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
        seconds,
        acked_per_s: n_acked as f64 / seconds.max(0.001),
        latency_ms: latency,
        e2e_delay_ms_estimate: if e2e.is_empty() {
            BTreeMap::new()
        } else {
            pcts(&e2e)
        },
        receipts_checked,
        per_minute,
        peak_rss_mb: peak_rss_mb(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_acknowledged_vote_pairs_with_the_first_sample_that_counted_it() {
        let t = Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        // Three votes sent at 0, 10, 20 ms; the results counted 1 at 100 ms, 3 at 300 ms.
        let acks = [(at(0), at(5)), (at(10), at(15)), (at(20), at(25))];
        let timeline = [(at(50), 0), (at(100), 1), (at(200), 1), (at(300), 3)];
        let d = visible_delays(&acks, &timeline);
        let ms: Vec<_> = d.iter().map(|d| d.map(|d| d.as_millis())).collect();
        assert_eq!(ms, [Some(100), Some(290), Some(280)]);
        // Never counted: no delay.
        assert_eq!(visible_delays(&acks, &timeline[..2])[2], None);
    }

    #[test]
    fn pairing_a_long_run_is_linear() {
        // 200k votes and 20k samples: a quadratic pairing would take minutes here.
        let t = Instant::now();
        let acks: Vec<_> = (0..200_000u64)
            .map(|i| {
                (
                    t + Duration::from_micros(i * 50),
                    t + Duration::from_micros(i * 50 + 10),
                )
            })
            .collect();
        let timeline: Vec<_> = (0..=20_000u64)
            .map(|j| (t + Duration::from_millis(j), j * 10))
            .collect();
        let started = std::time::Instant::now();
        let d = visible_delays(&acks, &timeline);
        assert!(d.iter().all(Option::is_some));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn minutes_group_by_first_send_and_rate_the_partial_last_minute() {
        let t = Instant::now();
        let s = |secs: u64| t + Duration::from_secs(secs);
        let acks = [(s(1), s(1)), (s(30), s(30)), (s(61), s(61)), (s(70), s(70))];
        let delays = [Some(Duration::from_millis(500)); 4];
        let m = minutes(t, &acks, &delays);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].minute, m[0].acknowledged), (0, 2));
        assert!((m[0].acked_per_s - 2.0 / 60.0).abs() < 1e-9);
        // The last minute lasted 10 s (60..70).
        assert_eq!(m[1].acknowledged, 2);
        assert!(
            (m[1].acked_per_s - 0.2).abs() < 1e-9,
            "{}",
            m[1].acked_per_s
        );
        assert!((m[1].e2e_p99_ms - 500.0).abs() < 1.0);
    }
}
