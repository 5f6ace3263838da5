//! `votechain bench`: our components against the raw speed of the same backends, in ONE run
//! on the same DynamoDB Local and Apache Kafka (one KRaft node), reported as ratios (absolute numbers
//! drift on shared machines; ratios much less). Writes a Markdown report.
//!
//! Raw baselines: serial and concurrent `TransactWriteItems` of 99 conditional puts;
//! transactional produce at ingest's batch size; plain consume; raw Streams reads; SHA-256
//! linking. Ours: ingest over HTTP, ChainWriter, projector, replay, verify; ChainWriter
//! throughput for 1, 2, 4, 8 chains; peak RSS of a `votechain dev` process under load.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use metrics_exporter_prometheus::PrometheusHandle;
use rdkafka::consumer::StreamConsumer;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use votechain::config::Config;
use votechain::dev::DynamoDbLocal;
use votechain::dev::{KafkaLocal, KafkaLocalOptions};
use votechain::dynamo::items::{self, VoteItem};
use votechain::dynamo::{self, ledger::Ledger};
use votechain::kafka;
use votechain::runtime::Node;
use votechain::tables;
use votechain_core::model::{AuditEvent, VoteEvent, kafka_key};

mod kafka_tools;
mod million;
mod work;
pub use million::{MillionOptions, MillionReport, run_million};
pub use work::{TableWork, WorkReport, run_capacity};

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub what: String,
    pub ours: f64,
    pub unit: String,
    pub baseline: String,
    pub raw: f64,
    pub ratio: f64,
    pub target: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub machine: String,
    pub votes_per_measure: u64,
    pub rows: Vec<Row>,
    pub chains: Vec<(u32, f64)>,
    /// The like-for-like raw `TransactWriteItems` rate (items/s) the chains are compared with.
    pub chains_raw_items_per_s: f64,
    pub dev_peak_rss_mb: Option<f64>,
    pub ingest_p99_ms_at_half_peak: Option<f64>,
    /// The main ChainWriter drain: mean votes per transaction, mean seconds per batch
    /// (`votechain_writer_batch_votes`, `votechain_writer_batch_duration_seconds`).
    pub writer_batch: (f64, f64),
    /// Why the peak RSS was not measured, when it was not.
    pub dev_rss_error: Option<String>,
    /// The end-to-end measure by the lag elections' chains: the default 8 first, then 1.
    pub lag: Vec<LagResult>,
    /// The projector measure: batches, mean ms waiting for GetRecords, mean ms applying
    /// (`votechain_projector_step_seconds`).
    pub projector_steps: (f64, f64, f64),
}

/// Votes sent to warm ingest up before its measure.
const WARMUP: u64 = 640;
/// The ingest measure and its raw-produce baselines send this many times `--votes`.
const INGEST_FACTOR: u64 = 4;

/// The election ingest's measure and the raw-produce baselines write to, whose votes the
/// ChainWriter measure chains and verify and the receipt proofs read: 8 chains, so the
/// backlog spreads over every partition (and every ChainWriter of the measure has work).
const MAIN_ELECTION: &str = "bench-8";

/// An election the end-to-end measure writes to, and the first of its vote numbers (the
/// peak's votes; the steady phase's start 10 million later).
#[derive(Debug, Clone, Copy)]
struct LagElection {
    id: &'static str,
    chains: u32,
    first_vote: u64,
}

/// The end-to-end measure runs twice: on the default 8 chains (every partition), then on
/// one. On DynamoDB Local every chain's transactions wait for one SQLite writer thread, so
/// with 8 chains a vote's batch waits behind the other chains' batches; with one it waits
/// behind none, as each chain's partition key does on DynamoDB (docs/performance.md).
const LAG_ELECTIONS: [LagElection; 2] = [
    LagElection {
        id: "bench-lag",
        chains: 8,
        first_vote: 50_000_000,
    },
    LagElection {
        id: "bench-lag-1",
        chains: 1,
        first_vote: 70_000_000,
    },
];

/// The election the audit measure chains, publishes and audits (1 chain).
const AUDIT_ELECTION: &str = "bench-audit";

/// Projection lag under a steady write rate: how long after a vote is in the ledger it is
/// counted in the read model.
#[derive(Debug, Clone, Serialize)]
pub struct LagResult {
    /// The election measured, and its chains.
    pub election: String,
    pub chains: u32,
    /// Votes/s the writer sustains while the projector and the publisher run beside it (a
    /// backlog kept ahead of it for `pace_seconds`).
    pub peak_votes_per_s: f64,
    pub pace_seconds: f64,
    /// The publisher over the same window.
    pub pace: Pace,
    /// The offered rate: 80 % of the peak.
    pub offered_votes_per_s: f64,
    /// What the ledger actually took at that rate.
    pub achieved_votes_per_s: f64,
    pub votes: u64,
    pub seconds: f64,
    pub sample_ms: u64,
    pub p50_s: f64,
    pub p99_s: f64,
    pub max_s: f64,
    /// End to end: a vote's submission over HTTP -> counted in the read model.
    pub e2e_p50_s: f64,
    pub e2e_p99_s: f64,
    pub e2e_max_s: f64,
    /// The ChainWriters' batches in the steady phase: mean ms per batch (read, plan,
    /// transaction) and votes per batch.
    pub steady_batch_ms: f64,
    pub steady_votes_per_batch: f64,
    /// Of which: submission -> chained (HTTP, ingest's Kafka transaction, the writer).
    pub to_chain_p50_s: f64,
    pub to_chain_p99_s: f64,
    pub to_chain_max_s: f64,
    /// Coverage: chained -> in a published checkpoint (the publisher runs beside them).
    pub coverage_p50_s: f64,
    pub coverage_p99_s: f64,
    pub coverage_max_s: f64,
}

/// Per-vote delay between two cumulative counts, each sampled at its own times
/// (`(seconds, count)`, in time order): vote k's delay is the first time `later` reached k
/// minus the first time `earlier` did; one delay per vote both counts reached. Each count carries the time its read completed, so a slow read of one
/// count does not shift the other's times.
pub fn delays_between(earlier: &[(f64, u64)], later: &[(f64, u64)]) -> Vec<f64> {
    let last = match (earlier.last(), later.last()) {
        (Some(e), Some(l)) => e.1.min(l.1),
        _ => 0,
    };
    let (mut e, mut l) = (0, 0);
    (1..=last)
        .map(|k| {
            while earlier[e].1 < k {
                e += 1;
            }
            while later[l].1 < k {
                l += 1;
            }
            (later[l].0 - earlier[e].0).max(0.0)
        })
        .collect()
}

/// The publisher's pace against the writer's over a window of sampled counts `(seconds,
/// chained, logged)`, in time order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pace {
    /// Votes chained per second between the samples at `from` and `to`.
    pub chained_per_s: f64,
    /// Entries published per second, from the first publication (a sample where the log grew)
    /// at or after `from` to the last at or before `to`: the log grows in steps, one per
    /// checkpoint, so counting from the window's edges would charge the publisher with the
    /// checkpoint still in flight at each end.
    pub logged_per_s: f64,
    /// The most votes chained but not yet published in any sample of the window.
    pub max_behind: u64,
}

/// [`Pace`] of `samples` between `from` and `to` seconds; `None` when the window holds fewer
/// than two samples or two publications.
pub fn pace(samples: &[(f64, u64, u64)], from: f64, to: f64) -> Option<Pace> {
    let w: Vec<_> = samples
        .iter()
        .copied()
        .filter(|s| s.0 >= from && s.0 <= to)
        .collect();
    let (first, last) = (w.first()?, w.last()?);
    let grew: Vec<_> = w
        .windows(2)
        .filter(|p| p[1].2 > p[0].2)
        .map(|p| p[1])
        .collect();
    let (p1, p2) = (grew.first()?, grew.last()?);
    if p2.0 <= p1.0 || last.0 <= first.0 {
        return None;
    }
    Some(Pace {
        chained_per_s: (last.1 - first.1) as f64 / (last.0 - first.0),
        logged_per_s: (p2.2 - p1.2) as f64 / (p2.0 - p1.0),
        max_behind: w.iter().map(|s| s.1.saturating_sub(s.2)).max().unwrap_or(0),
    })
}

/// The fewest chains whose votes/s is within 10 % of the best measured.
fn saturation(chains: &[(u32, f64)]) -> Option<u32> {
    let best = chains.iter().map(|(_, v)| *v).fold(f64::NAN, f64::max);
    chains
        .iter()
        .filter(|(_, v)| *v >= 0.9 * best)
        .map(|(c, _)| *c)
        .min()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Why a benchmark run stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("config: {0}")]
    Config(#[from] votechain::config::ConfigError),
    #[error("setup: {0}")]
    Setup(String),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("{0}")]
    Ledger(#[from] votechain::dynamo::ledger::LedgerError),
    #[error("tables: {0}")]
    Tables(#[from] votechain::tables::TableError),
    #[error("DynamoDB Local: {0}")]
    Dev(#[from] votechain::dev::DevError),
    #[error("Apache Kafka: {0}")]
    KafkaLocal(#[from] votechain::dev::KafkaLocalError),
    #[error("starting a node: {0}")]
    Node(#[from] votechain::runtime::StartError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("Kafka: {0}")]
    KafkaSetup(#[from] votechain::kafka::KafkaSetupError),
    #[error("DynamoDB Streams: {0}")]
    Stream(#[from] votechain::projector::stream::StreamError),
    #[error("loadgen: {0}")]
    Loadgen(#[from] crate::loadgen::LoadError),
    #[error("replay: {0}")]
    Replay(#[from] votechain::replay::ReplayError),
    #[error("histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
    #[error("a measuring task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Failed(String),
}

impl From<String> for BenchError {
    fn from(s: String) -> BenchError {
        BenchError::Failed(s)
    }
}

impl From<&str> for BenchError {
    fn from(s: &str) -> BenchError {
        BenchError::Failed(s.into())
    }
}

/// The commit the bench was built from (`git describe --always --dirty` in the working
/// directory), for the report's header.
fn commit() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=10"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown (not a git checkout)".into())
}

impl Row {
    /// The threshold of a `>= x` ratio target, and whether this row missed it.
    fn missed(&self) -> Option<f64> {
        let t: f64 = self
            .target
            .strip_prefix(">= ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        (self.ratio < t).then_some(t)
    }
}

/// Every row of `rows` under its `>= x` target, one line each.
fn missed_targets(rows: &[Row]) -> String {
    let lines: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let t = r.missed()?;
            Some(format!(
                "- {} against {}: {:.2}, target >= {t}\n",
                r.what, r.baseline, r.ratio
            ))
        })
        .collect();
    if lines.is_empty() {
        return "\nEvery ratio target was met in this run.\n".into();
    }
    format!(
        "\n**Targets missed in this run** ({}; causes, where known, in docs/performance.md):\n\n{}",
        lines.len(),
        lines.concat()
    )
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
                    / 1024
                    / 1024
            })
        })
        .unwrap_or(0);
    format!(
        "{} cores ({cpu}), {mem} GiB RAM, {} {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// The bench's config (ingest role; tests start other roles from it) and its v2
/// elections, their manifests stored in `ledger`'s table.
async fn config(
    ledger: &Ledger,
    ddb: &str,
    bootstrap: &str,
    partitions: u32,
) -> Result<Config, BenchError> {
    let local = crate::fixture::local_toml("bench", bootstrap, ddb, &ledger.table, partitions, 1);
    let bare = Config::from_toml(&format!("roles = [\"query\"]\n{local}"))?;
    tables::ensure_all(&ledger.db, &bare.dynamodb).await?;
    let mut elections = String::new();
    for (id, c) in [
        ("bench-1", 1),
        ("bench-2", 2),
        ("bench-4", 4),
        ("bench-8", 8),
        (LAG_ELECTIONS[0].id, LAG_ELECTIONS[0].chains),
        (LAG_ELECTIONS[1].id, LAG_ELECTIONS[1].chains),
        (AUDIT_ELECTION, 1),
        ("bench-m1", 1),
        ("bench-m2", 2),
        ("bench-m4", 4),
        ("bench-m8", 8),
        ("bench-m16", 16),
    ] {
        elections.push_str(&format!("[[elections]]\nid = \"{id}\"\ncandidates = [\"a\", \"b\", \"c\"]\nregions = [\"n\", \"s\"]\nchains = {c}\n"));
    }
    let elections = crate::fixture::store_elections(ledger, &elections)
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let mut cfg = Config::from_toml(&format!(
        r#"roles = ["ingest"]
{local}[ingest]
clients = [{{ id = "bench", key = "bench-key" }}]
{elections}"#
    ))?;
    votechain::manifests::resolve(ledger, &mut cfg)
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    Ok(cfg)
}

/// `cfg` with the test log key (written into `dir`) as every election's publisher key.
fn with_log_keys(cfg: &Config, dir: &std::path::Path) -> Result<Config, BenchError> {
    let key = crate::fixture::write_test_log_key(dir)?;
    let mut c = cfg.clone();
    for e in cfg.registry().iter() {
        c.publisher.key_files.insert(e.id.clone(), key.clone());
    }
    Ok(c)
}

fn event(election: &str, chains: u32, i: u64) -> VoteEvent {
    let vote_id =
        uuid::Uuid::from_u128(0xbe4c_0000_0000_4000_8000_0000_0000_0000 | i as u128).to_string();
    VoteEvent {
        v: votechain_core::model::VOTE_EVENT_SALTED,
        // Distinct per vote; a real salt is random (ingest draws it).
        salt: Some(format!("{:064x}", 0xbe4c_u128 << 64 | i as u128)),
        election_id: election.into(),
        chain: votechain_core::chain::chain_of(&vote_id, chains),
        vote_id,
        candidate_id: ["a", "b", "c"][(i % 3) as usize].into(),
        region_id: ["n", "s"][(i % 2) as usize].into(),
        cast_at_ms: votechain::now_ms(),
    }
}

/// A transactional producer writing vote events (vote + audit each), as ingest does.
struct VoteProducer {
    p: Arc<FutureProducer>,
    votes_topic: String,
    audit_topic: String,
    /// The config's partitions: each chain's records go to its partition, as ingest's do.
    partitions: u32,
}

impl VoteProducer {
    async fn new(cfg: &Config) -> Result<VoteProducer, BenchError> {
        let p: FutureProducer = kafka::transactional_producer_config(
            &cfg.kafka,
            &format!("bench-{}", uuid::Uuid::new_v4()),
            10_000,
        )
        .create()?;
        let p = Arc::new(p);
        let q = p.clone();
        tokio::task::spawn_blocking(move || q.init_transactions(Duration::from_secs(10))).await??;
        Ok(VoteProducer {
            p,
            votes_topic: cfg.kafka.votes_topic.clone(),
            audit_topic: cfg.kafka.audit_topic.clone(),
            partitions: cfg.kafka.partitions,
        })
    }

    /// Produces votes `from..from + n` of `election` in transactions of `batch` votes; votes/s.
    async fn send(
        &self,
        election: &str,
        chains: u32,
        from: u64,
        n: u64,
        batch: usize,
    ) -> Result<f64, BenchError> {
        let t0 = Instant::now();
        let mut i = from;
        while i < from + n {
            let k = (batch as u64).min(from + n - i);
            self.transaction(election, chains, i, k).await?;
            i += k;
        }
        Ok(n as f64 / t0.elapsed().as_secs_f64())
    }

    /// Takes `batch` votes at a time from `next` and commits each batch as one transaction,
    /// until `next` has passed `end` and `deadline` has passed.
    async fn send_while(
        &self,
        election: &str,
        chains: u32,
        next: &AtomicU64,
        (end, deadline): (u64, Instant),
        batch: usize,
    ) -> Result<(), BenchError> {
        while next.load(Ordering::Relaxed) < end || Instant::now() < deadline {
            let from = next.fetch_add(batch as u64, Ordering::Relaxed);
            self.transaction(election, chains, from, batch as u64)
                .await?;
        }
        Ok(())
    }

    /// Votes `from..from + n` in one transaction: each vote event to `votes` and its audit
    /// event to `vote-audit` (as ingest writes it), on its chain's partition.
    async fn transaction(
        &self,
        election: &str,
        chains: u32,
        from: u64,
        n: u64,
    ) -> Result<(), BenchError> {
        let p = &self.p;
        let q = p.clone();
        tokio::task::spawn_blocking(move || q.begin_transaction()).await??;
        let mut ds = vec![];
        for i in from..from + n {
            let ev = event(election, chains, i);
            let key = kafka_key(&ev.election_id, ev.chain);
            let request_id = uuid::Uuid::new_v4().to_string();
            let audit = AuditEvent::for_vote(&ev, "bench-station", &request_id);
            let audit = serde_json::to_vec(&audit).map_err(|e| e.to_string())?;
            let partition =
                votechain_core::model::partition_of(&ev.election_id, ev.chain, self.partitions);
            for (topic, payload) in [
                (&self.votes_topic, &ev.to_bytes()),
                (&self.audit_topic, &audit),
            ] {
                let record = FutureRecord::to(topic)
                    .key(&key)
                    .partition(partition)
                    .payload(payload);
                ds.push(p.send_result(record).map_err(|(e, _)| e)?);
            }
        }
        for d in ds {
            let _ = d.await;
        }
        let q = p.clone();
        tokio::task::spawn_blocking(move || kafka::commit_transaction(&q, Duration::from_secs(10)))
            .await??;
        Ok(())
    }
}

/// Produces `n` vote events of `election` in transactions of `batch` votes with a new producer.
async fn produce(
    cfg: &Config,
    election: &str,
    chains: u32,
    from: u64,
    n: u64,
    batch: usize,
) -> Result<f64, BenchError> {
    VoteProducer::new(cfg)
        .await?
        .send(election, chains, from, n, batch)
        .await
}

/// What a raw transactional produce did.
struct Produced {
    rate: f64,
    /// Votes it put in the log (each a vote and an audit record).
    votes: u64,
}

/// Transactional produce of `election`'s votes from vote `from` on, as ingest produces
/// them: `producers` producers at once (each warmed by one transaction first), each
/// committing transactions of `batch` votes, until at least `n` votes are sent and at
/// least `min` has passed (a baseline runs as long as the stage it is compared with).
async fn produce_like_ingest(
    cfg: &Config,
    election: &str,
    chains: u32,
    from: u64,
    (n, min): (u64, Duration),
    batch: usize,
    producers: usize,
) -> Result<Produced, BenchError> {
    let mut ps = vec![];
    for _ in 0..producers.max(1) {
        ps.push(VoteProducer::new(cfg).await?);
    }
    let next = AtomicU64::new(from);
    let warm = Instant::now();
    let end = from + (batch * ps.len()) as u64;
    let warmups = ps
        .iter()
        .map(|p| p.send_while(election, chains, &next, (end, warm), batch));
    futures::future::try_join_all(warmups).await?;
    let (start, t0) = (next.load(Ordering::Relaxed), Instant::now());
    let sends = ps
        .iter()
        .map(|p| p.send_while(election, chains, &next, (start + n, t0 + min), batch));
    futures::future::try_join_all(sends).await?;
    let secs = t0.elapsed().as_secs_f64();
    let last = next.load(Ordering::Relaxed);
    Ok(Produced {
        rate: (last - start) as f64 / secs,
        votes: last - from,
    })
}

/// The sum of a metric's series in this process (e.g. a histogram's `_sum` or `_count`).
fn metric_sum(handle: &metrics_exporter_prometheus::PrometheusHandle, name: &str) -> f64 {
    votechain::metrics::sum_series(&handle.render(), name, "")
}

/// An HTTP server whose vote handler parses the body and answers 202 at once.
async fn http_floor() -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), BenchError> {
    use axum::routing::post;
    async fn accept(
        axum::Json(v): axum::Json<votechain_core::model::VoteRequest>,
    ) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
        (
            axum::http::StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({"vote_id": v.vote_id, "status": "accepted"})),
        )
    }
    let app = axum::Router::new().route("/v1/elections/{id}/votes", post(accept));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

/// Items/s of 99 conditional puts per TransactWriteItems, `conc` writers at once, for `secs`.
/// What the raw transactions put.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// `pk`, `sk` and a 200-byte payload.
    Plain,
    /// The ledger's own items, built by [`items`]: vote items and vote_id markers in turn,
    /// as a ChainWriter's transaction holds them (hashes, Kafka position and all).
    Ledger,
}

/// Items/s of `TransactWriteItems` of 99 conditional puts, `conc` callers for `secs`.
async fn raw_transact(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    conc: usize,
    secs: f64,
    shape: Shape,
) -> Result<f64, BenchError> {
    let items = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..conc)
        .map(|w| {
            let (db, table, items) = (db.clone(), table.to_string(), items.clone());
            tokio::spawn(async move {
                let mut k = 0u64;
                while t0.elapsed().as_secs_f64() < secs {
                    let acts: Vec<TransactWriteItem> = (0..99)
                        .map(|_| {
                            k += 1;
                            let item = match shape {
                                Shape::Plain => HashMap::from([
                                    ("pk".to_string(), AttributeValue::S(format!("RAW#{w}"))),
                                    ("sk".to_string(), AttributeValue::S(format!("{k:020}"))),
                                    ("payload".to_string(), AttributeValue::S("x".repeat(200))),
                                ]),
                                Shape::Ledger => {
                                    let ev =
                                        event("raw", 8, w as u64 * 1_000_000_000 + k.div_ceil(2));
                                    let salt = ev.salt_bytes();
                                    let v = VoteItem {
                                        election_id: ev.election_id,
                                        chain: w as u32,
                                        seq: k.div_ceil(2),
                                        vote_id: ev.vote_id,
                                        candidate_id: ev.candidate_id,
                                        region_id: ev.region_id,
                                        cast_at_ms: ev.cast_at_ms,
                                        salt,
                                        prev_hash: [0xab; 32],
                                        hash: [0xcd; 32],
                                        kafka_topic: "votes".into(),
                                        kafka_partition: w as i32,
                                        kafka_offset: k as i64,
                                    };
                                    if k % 2 == 1 {
                                        items::vote_item(&v, 8)
                                    } else {
                                        items::marker_item(&v)
                                    }
                                }
                            };
                            TransactWriteItem::builder()
                                .put(
                                    Put::builder()
                                        .table_name(&table)
                                        .set_item(Some(item))
                                        .condition_expression("attribute_not_exists(pk)")
                                        .build()
                                        .expect("put"),
                                )
                                .build()
                        })
                        .collect();
                    if db
                        .transact_write_items()
                        .set_transact_items(Some(acts))
                        .send()
                        .await
                        .is_ok()
                    {
                        items.fetch_add(99, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    Ok(items.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64())
}

/// Sum of the writer checkpoints over all partitions.
async fn checkpoint_sum(ledger: &Ledger, topic: &str, partitions: u32) -> Result<i64, BenchError> {
    let mut s = 0;
    for p in 0..partitions as i32 {
        s += ledger
            .checkpoint(topic, p)
            .await?
            .map(|c| c.next_offset)
            .unwrap_or(0);
    }
    Ok(s)
}

/// Starts a writer node, measures votes chained per second from the first checkpoint move to
/// `target` (the sum of high watermarks), and stops it.
async fn writer_rate(
    cfg: &Config,
    ledger: &Ledger,
    target: i64,
    votes: u64,
) -> Result<f64, BenchError> {
    let start_sum = checkpoint_sum(ledger, &cfg.kafka.votes_topic, cfg.kafka.partitions).await?;
    let mut c = cfg.clone();
    c.roles = [votechain::config::Role::Writer].into();
    let node = Node::start(c).await?;
    let rate = drain_rate(
        ledger,
        &cfg.kafka.votes_topic,
        cfg.kafka.partitions,
        start_sum,
        target,
        votes,
    )
    .await?;
    node.shutdown().await;
    Ok(rate)
}

/// Votes/s while the writer checkpoints move from `start_sum` to `target` (the sum of
/// high watermarks): from the first sample that saw them move (the writers' start-up is not
/// counted) to the last move. A partition whose last record is a transaction marker stops
/// one short of its high watermark (markers are never delivered, so no checkpoint passes
/// them): within `partitions` of the target and still for 2 s is drained too. `votes`
/// records make `target - start_sum`.
async fn drain_rate(
    ledger: &Ledger,
    topic: &str,
    partitions: u32,
    start_sum: i64,
    target: i64,
    votes: u64,
) -> Result<f64, BenchError> {
    let mut first: Option<(Instant, i64)> = None;
    let mut last = (Instant::now(), start_sum);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let s = checkpoint_sum(ledger, topic, partitions).await?;
        let now = Instant::now();
        if s > last.1 {
            last = (now, s);
            first.get_or_insert((now, s));
        }
        let still = now.duration_since(last.0) > Duration::from_secs(2);
        if s >= target || (s >= target - i64::from(partitions) && still) {
            break;
        }
        if now > deadline {
            return Err(format!("the writers reached offset sum {s} of {target} in 600 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let Some((t0, s0)) = first else {
        return Err("the writers chained nothing".into());
    };
    // Records, not votes, moved the checkpoints: scale to votes (audit events are elsewhere).
    let per_record = votes as f64 / (target - start_sum).max(1) as f64;
    let (t1, s1) = last;
    let secs = t1.duration_since(t0).as_secs_f64();
    if secs < 0.5 {
        return Err(format!("the drain lasted {secs:.3} s: too few votes to measure a rate (use --votes 3000 or more)").into());
    }
    Ok((s1 - s0) as f64 * per_record / secs)
}

/// What `votechain bench` measures, and how much.
#[derive(Debug, Clone)]
pub struct Options {
    /// Votes per measure.
    pub votes: u64,
    /// Seconds of steady load at 80 % of peak (projection lag, coverage latency).
    pub lag_seconds: u64,
    /// Seconds the writer is held at its peak with the publisher beside it.
    pub pace_seconds: u64,
    /// Entries of the log the audit measure audits (one chain).
    pub audit_entries: u64,
    /// A running DynamoDB Local instead of one started for the run.
    pub dynamodb_endpoint: Option<String>,
    /// Only the projector measure (votes produced, chained, then projected).
    pub projector_only: bool,
    /// Only the projection-lag and end-to-end measure (peak, then 80 % of it over HTTP).
    pub lag_only: bool,
    /// Only ingest's measure, its raw-produce baselines and the HTTP floor.
    pub ingest_only: bool,
    /// `ingest.producers` of every node the bench starts (none: the config's default).
    pub ingest_producers: Option<usize>,
    /// HTTP clients in flight in ingest's measure and the floor's (the CLI's default: 256).
    pub ingest_clients: u64,
    /// The `votechain` binary for the peak-RSS measure of `votechain dev` (none: skipped).
    pub dev_binary: Option<PathBuf>,
}

/// Runs every measure in turn, each beside its raw baseline, and returns the report.
pub async fn run(o: Options, progress: impl Fn(&str)) -> Result<BenchReport, BenchError> {
    let votes = o.votes;
    let mut b = Bench::start(votes, o.dynamodb_endpoint, 8, progress).await?;
    if let Some(n) = o.ingest_producers {
        b.cfg.ingest.producers = n;
    }
    b.ingest_clients = o.ingest_clients.max(1);
    if o.projector_only {
        return projector_only(b).await;
    }
    if o.lag_only {
        let lag = b.lags(o.pace_seconds, o.lag_seconds).await?;
        return Ok(BenchReport {
            lag,
            ..partial_report(b, "--lag-only", (0.0, 0.0, 0.0))
        });
    }
    if o.ingest_only {
        let ingest = b.ingest().await?;
        b.raw_produce(&ingest).await?;
        return Ok(BenchReport {
            ingest_p99_ms_at_half_peak: Some(ingest.p99_half_ms),
            ..partial_report(b, "--ingest-only", (0.0, 0.0, 0.0))
        });
    }
    let link_rate = b.hashing();
    let plain = b.raw_transact_plain().await?;
    let ingest = b.ingest().await?;
    let produced = b.raw_produce(&ingest).await?;
    let streamed = b.raw_transact_streamed().await?;
    let in_log = ingest.logged + produced;
    let (log, writer_batch) = b
        .chain_writer(&ingest.metrics, in_log, plain, streamed)
        .await?;
    let projector_steps = b.projector().await?;
    // Still assigned to the votes topic, they stay (and keep fetching) to the end of the run.
    let _replay_consumers = b.replay(&log).await?;
    b.verify(link_rate).await?;
    b.publisher().await?;
    b.proofs().await?;
    let chains = b.chains(&log.meta).await?;
    let lag = b.lags(o.pace_seconds, o.lag_seconds).await?;
    // Last of the ledger's measures: 100k more records in its stream slow no later measure.
    b.audit(o.audit_entries).await?;
    let (dev_peak_rss_mb, dev_rss_error) = b.peak_rss(o.dev_binary).await;
    drop(b.kafka);
    Ok(BenchReport {
        machine: machine(),
        votes_per_measure: votes,
        rows: b.rows,
        chains,
        chains_raw_items_per_s: streamed,
        dev_peak_rss_mb,
        ingest_p99_ms_at_half_peak: Some(ingest.p99_half_ms),
        writer_batch,
        dev_rss_error,
        lag,
        projector_steps,
    })
}

/// `--projector-only`: votes produced straight to Kafka, chained by a writer, then the
/// projector measure alone (a quick loop for profiling the projector).
async fn projector_only<P: Fn(&str)>(mut b: Bench<P>) -> Result<BenchReport, BenchError> {
    (b.progress)("votes to Kafka, then chained");
    produce(&b.cfg, MAIN_ELECTION, 8, 0, b.votes, 256).await?;
    let meta = Arc::new(kafka::base_config(&b.cfg.kafka).create::<StreamConsumer>()?);
    let hw = votechain::replay::high_watermarks(&meta, &b.cfg.kafka.votes_topic).await?;
    writer_rate(&b.cfg, &b.ledger, hw.values().sum(), b.votes).await?;
    let projector_steps = b.projector().await?;
    Ok(partial_report(b, "--projector-only", projector_steps))
}

/// The report of a run that made only some of the measures (`mode` names it).
fn partial_report<P>(b: Bench<P>, mode: &str, projector_steps: (f64, f64, f64)) -> BenchReport {
    BenchReport {
        machine: machine(),
        votes_per_measure: b.votes,
        rows: b.rows,
        chains: vec![],
        chains_raw_items_per_s: 0.0,
        dev_peak_rss_mb: None,
        ingest_p99_ms_at_half_peak: None,
        writer_batch: (0.0, 0.0),
        dev_rss_error: Some(mode.into()),
        lag: vec![],
        projector_steps,
    }
}

/// A row of the report: `ours` against `raw` and their ratio (0 without a raw rate).
fn row(what: &str, ours: f64, unit: &str, baseline: &str, raw: f64, target: &str) -> Row {
    Row {
        what: what.into(),
        ours,
        unit: unit.into(),
        baseline: baseline.into(),
        raw,
        ratio: if raw > 0.0 { ours / raw } else { 0.0 },
        target: target.into(),
    }
}

/// What every measure shares: the backends, the config naming them, the rows so far.
/// Fields drop in this order; the DynamoDB Local started for the run goes last.
struct Bench<P> {
    progress: P,
    /// Votes per measure (`--votes`).
    votes: u64,
    rows: Vec<Row>,
    ledger: Ledger,
    db: aws_sdk_dynamodb::Client,
    cfg: Config,
    /// The ledger table; the other tables are named after it.
    table: String,
    /// Partitions of the Kafka topics: the concurrency of the raw transactions.
    partitions: u32,
    kafka: KafkaLocal,
    /// `--dynamodb-endpoint` was given: every measure shares that DynamoDB Local.
    external: bool,
    /// HTTP clients in flight in ingest's measure and the floor's.
    ingest_clients: u64,
    _local: Option<DynamoDbLocal>,
}

/// Raw `TransactWriteItems` of 99 plain puts into a table without a stream, items/s.
#[derive(Clone, Copy)]
struct PlainTx {
    serial: f64,
    /// One caller per partition (8).
    concurrent: f64,
}

/// What the ingest measure found, for the measures after it.
struct Ingest {
    /// The process's metrics, installed by the ingest measure.
    metrics: PrometheusHandle,
    /// Votes/s over HTTP at full speed.
    rate: f64,
    /// Mean votes per Kafka transaction of ingest during that measure.
    mean_batch: f64,
    /// Mean milliseconds per Kafka transaction of ingest (begin to commit) in that measure.
    mean_txn_ms: f64,
    /// Seconds of the full-speed run: the least a baseline of it runs.
    secs: f64,
    /// p99 latency at half of `rate`, in ms.
    p99_half_ms: f64,
    /// Votes/s of the same client against the HTTP floor.
    http_floor_rate: f64,
    /// Votes the measure put in the log: warm-up, full speed, half peak (the floor none).
    logged: u64,
}

/// The votes topic as the ChainWriter measure found it, for the measures that read it back.
struct Log {
    /// The client that read the high watermarks, kept for later reads of them.
    meta: Arc<StreamConsumer>,
    /// High watermarks when the ChainWriter measure started.
    hw: BTreeMap<i32, i64>,
    /// Their sum.
    total: i64,
}

impl<P: Fn(&str)> Bench<P> {
    /// A bench election's definition, as resolved from its manifest.
    fn election(&self, id: &str) -> Result<votechain_core::model::Election, BenchError> {
        self.cfg
            .registry()
            .get(id)
            .cloned()
            .ok_or_else(|| BenchError::Setup(format!("no election {id}")))
    }

    /// Starts DynamoDB Local (unless `dynamodb_endpoint`) and Apache Kafka (one KRaft node,
    /// topics of 8 partitions), and creates the bench's tables.
    async fn start(
        votes: u64,
        dynamodb_endpoint: Option<String>,
        partitions: u32,
        progress: P,
    ) -> Result<Bench<P>, BenchError> {
        let external = dynamodb_endpoint.is_some();
        let (ddb, local) = match dynamodb_endpoint {
            Some(e) => (e, None),
            None => {
                let d = DynamoDbLocal::start_on_free_port().await?;
                (d.endpoint.clone(), Some(d))
            }
        };
        let kcfg = votechain::config::KafkaConfig {
            bootstrap_servers: "unused:9092".into(),
            partitions,
            replication_factor: 1,
            ..Default::default()
        };
        let kafka = KafkaLocal::start_with_topics(KafkaLocalOptions::nodes(1), &kcfg).await?;
        let table = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let db = {
            let local = crate::fixture::local_toml("bench", "-", &ddb, &table, partitions, 1);
            let bare = Config::from_toml(&format!("roles = [\"query\"]\n{local}"))?;
            dynamo::client(&bare.dynamodb).await
        };
        let ledger = Ledger::new(db.clone(), table.clone());
        let cfg = config(&ledger, &ddb, &kafka.bootstrap_servers(), partitions).await?;
        Ok(Bench {
            progress,
            votes,
            rows: vec![],
            ledger,
            db,
            cfg,
            table,
            partitions,
            kafka,
            external,
            ingest_clients: 64,
            _local: local,
        })
    }

    /// SHA-256 linking in memory (`link()` of 200,000 votes), votes/s: verify's row compares
    /// with it.
    fn hashing(&self) -> f64 {
        (self.progress)("hashing");
        let t0 = Instant::now();
        let mut tip = votechain_core::chain::Tip::genesis("bench", 0);
        let n_hash = 200_000u64;
        for i in 0..n_hash {
            let v = votechain_core::chain::VoteFields {
                election_id: "bench",
                chain: 0,
                seq: i + 1,
                vote_id: "be4c0000-0000-4000-8000-000000000000",
                candidate_id: "a",
                region_id: "n",
                cast_at_ms: 0,
            };
            tip = votechain_core::chain::link(&tip, &v).expect("in order");
        }
        n_hash as f64 / t0.elapsed().as_secs_f64()
    }

    /// Raw `TransactWriteItems` into a table without a stream, serial and 8 at once: the
    /// plain ceiling the ChainWriter's rows also compare with.
    async fn raw_transact_plain(&self) -> Result<PlainTx, BenchError> {
        (self.progress)("raw TransactWriteItems");
        // Into a table without a stream, on a fresh DynamoDB Local: the plain ceiling. The
        // like-for-like baseline (a table with a stream, as the ledger has) is measured just
        // before the ChainWriter.
        let table = format!("{}-results", self.table);
        let serial = raw_transact(&self.db, &table, 1, 4.0, Shape::Plain).await?;
        let conc = self.partitions as usize;
        let concurrent = raw_transact(&self.db, &table, conc, 4.0, Shape::Plain).await?;
        Ok(PlainTx { serial, concurrent })
    }

    /// Ingest over HTTP at full speed (`ingest_clients` clients, after a warm-up), its p99
    /// latency at half that peak, and the HTTP floor; the raw produce it is compared with
    /// comes next.
    async fn ingest(&self) -> Result<Ingest, BenchError> {
        (self.progress)("ingest over HTTP");
        let metrics = votechain::metrics::install();
        let node = Node::start(self.cfg.clone()).await?;
        let url = format!(
            "http://{}/v1/elections/{MAIN_ELECTION}/votes",
            node.http_addr
        );
        let (voters, conc) = (Voters::new(self.ingest_clients)?, self.ingest_clients);
        // Warm up (64 connections, the producer's first transactions), then a longer run than
        // the other measures: at ~15k votes/s, `votes` alone lasts a fraction of a second.
        voters
            .blast(url.clone(), WARMUP, conc, None, 25_000_000)
            .await;
        let sums = |name: &str| {
            let (sum, count) = (format!("{name}_sum"), format!("{name}_count"));
            (metric_sum(&metrics, &sum), metric_sum(&metrics, &count))
        };
        let (votes0, tx0) = sums("votechain_ingest_batch_votes");
        let (secs0, txs0) = sums("votechain_ingest_transaction_duration_seconds");
        let full = INGEST_FACTOR * self.votes;
        let t0 = Instant::now();
        let rate = voters.blast(url.clone(), full, conc, None, 0).await;
        let secs = t0.elapsed().as_secs_f64();
        let (votes1, tx1) = sums("votechain_ingest_batch_votes");
        let (secs1, txs1) = sums("votechain_ingest_transaction_duration_seconds");
        let mean_batch = (votes1 - votes0) / (tx1 - tx0).max(1.0);
        let mean_txn_ms = 1000.0 * (secs1 - secs0) / (txs1 - txs0).max(1.0);
        let half = self.votes / 2;
        let p99_half_ms = voters.p99_at_half_peak(url, rate, half).await;
        node.shutdown().await;
        let http_floor_rate = voters.floor_rate(full, conc).await?;
        Ok(Ingest {
            metrics,
            rate,
            mean_batch,
            mean_txn_ms,
            secs,
            p99_half_ms,
            http_floor_rate,
            logged: WARMUP + full + half,
        })
    }

    /// Ingest's rows: raw transactional produce like ingest's (its producers at once, its
    /// mean transaction, the same records, warm, at least as long), the same at batch_max,
    /// Kafka's own ProducerPerformance, and the HTTP floor. Returns the votes it logged.
    async fn raw_produce(&mut self, ingest: &Ingest) -> Result<u64, BenchError> {
        (self.progress)("raw transactional produce");
        let (cfg, n) = (&self.cfg, INGEST_FACTOR * self.votes);
        let (producers, min) = (cfg.ingest.producers, Duration::from_secs_f64(ingest.secs));
        // Into bench-8, whose 8 chains spread over every partition, as ingest's votes do.
        // Those events are real votes of the main election: the writer below chains them.
        let main = MAIN_ELECTION;
        let equal_batch = ingest.mean_batch.round().max(1.0) as usize;
        let like = produce_like_ingest(cfg, main, 8, 15_000_000, (n, min), equal_batch, producers);
        let like = like.await?;
        // Only for reference (no target): ingest's vote count, not its duration.
        let at_max = produce_like_ingest(
            cfg,
            main,
            8,
            10_000_000,
            (n, Duration::ZERO),
            cfg.ingest.batch_max,
            producers,
        )
        .await?;
        let what = "ingest (HTTP, votes/s)";
        let shape = format!("{producers} producers at once, as ingest");
        self.rows.push(row(
            what,
            ingest.rate,
            "votes/s",
            &format!("transactional produce, {shape}, its mean transaction ({equal_batch} votes), vote + audit records as ingest writes them"),
            like.rate,
            ">= 0.8",
        ));
        self.rows.push(row(
            what,
            ingest.rate,
            "votes/s",
            &format!(
                "transactional produce, {shape}, batch_max ({})",
                cfg.ingest.batch_max
            ),
            at_max.rate,
            "-",
        ));
        self.producer_performance(ingest, n).await?;
        self.rows.push(row(
            what,
            ingest.rate,
            "votes/s",
            &format!(
                "HTTP floor: same client ({} connections), warm, {n} votes; the handler parses the body and answers 202",
                self.ingest_clients
            ),
            ingest.http_floor_rate,
            "-",
        ));
        Ok(like.votes + at_max.votes)
    }

    /// Kafka's own ProducerPerformance beside ingest: one transactional producer, records of
    /// the mean size of ingest's two, a commit every ingest's mean transaction, into a
    /// scratch topic of the same partitions on the same broker. 2 records make a vote.
    async fn producer_performance(&mut self, ingest: &Ingest, n: u64) -> Result<(), BenchError> {
        (self.progress)("Kafka's ProducerPerformance");
        let mut scratch = self.cfg.kafka.clone();
        scratch.votes_topic = "bench-producer-performance".into();
        scratch.audit_topic = "bench-producer-performance-audit".into();
        scratch.dead_letter_topic = "bench-producer-performance-dead".into();
        kafka::ensure_topics(&scratch).await?;
        let ev = event(MAIN_ELECTION, 8, 0);
        let audit = AuditEvent::for_vote(&ev, "bench-station", &uuid::Uuid::new_v4().to_string());
        let bytes =
            ev.to_bytes().len() + serde_json::to_vec(&audit).map_err(|e| e.to_string())?.len();
        let record_bytes = (bytes / 2) as u64;
        let transaction_ms = ingest.mean_txn_ms.round().max(1.0) as u64;
        let bootstrap = self.kafka.bootstrap_servers();
        let run = kafka_tools::ProducerRun {
            bootstrap: &bootstrap,
            topic: &scratch.votes_topic,
            // At least as long as ingest ran: its votes' records, doubled to be sure.
            records: 4 * n,
            record_bytes,
            transaction_ms,
        };
        let records_per_s = kafka_tools::producer_performance(&run).await?;
        self.rows.push(row(
            "ingest (HTTP, votes/s)",
            ingest.rate,
            "votes/s",
            &format!("Kafka's ProducerPerformance: 1 transactional producer, {record_bytes}-byte records, a commit every {transaction_ms} ms (ingest's mean transaction), votes/s = records/s / 2"),
            records_per_s / 2.0,
            "-",
        ));
        Ok(())
    }

    /// Raw `TransactWriteItems` of the ledger's own items, 8 at once, into a table with the
    /// ledger's stream: the ChainWriter's like-for-like baseline, items/s.
    async fn raw_transact_streamed(&self) -> Result<f64, BenchError> {
        // The same puts into a table with the ledger's key schema and NEW_IMAGE stream
        // (DynamoDB Local writes a stream record per item on its one SQLite thread). On
        // DynamoDB Local it needs an instance of its own: a stream's writes slow down in
        // proportion to the records of every stream written before it (10x after 9k), so
        // whichever of baseline and ledger went second would be crippled. Its instance is
        // first warmed like this one (plain-table transactions), so that it is no colder.
        // With --dynamodb-endpoint it shares that endpoint (the CLI help says what that costs).
        (self.progress)("raw TransactWriteItems into a streamed table");
        let (table, conc) = (&self.table, self.partitions as usize);
        let _own;
        let db2 = if self.external {
            self.db.clone()
        } else {
            let d = DynamoDbLocal::start_on_free_port().await?;
            let c = dynamo::client(&votechain::config::DynamoConfig {
                endpoint: Some(d.endpoint.clone()),
                ..self.cfg.dynamodb.clone()
            })
            .await;
            _own = d;
            tables::ensure_results_table(&c, &format!("{table}-warm")).await?;
            raw_transact(&c, &format!("{table}-warm"), conc, 4.0, Shape::Plain).await?;
            c
        };
        tables::ensure_ledger_table(&db2, &format!("{table}-rawstream")).await?;
        raw_transact(
            &db2,
            &format!("{table}-rawstream"),
            conc,
            8.0,
            Shape::Ledger,
        )
        .await
    }

    /// ChainWriter draining the whole log (`in_log` votes) against raw `TransactWriteItems`
    /// (`streamed`, then `plain`). Returns the log it found and its mean batch.
    async fn chain_writer(
        &mut self,
        metrics: &PrometheusHandle,
        in_log: u64,
        plain: PlainTx,
        streamed: f64,
    ) -> Result<(Log, (f64, f64)), BenchError> {
        (self.progress)("ChainWriter");
        let meta = Arc::new(kafka::base_config(&self.cfg.kafka).create::<StreamConsumer>()?);
        let hw = votechain::replay::high_watermarks(&meta, &self.cfg.kafka.votes_topic).await?;
        let total: i64 = hw.values().sum();
        const BATCH_SERIES: [&str; 3] = [
            "votechain_writer_batch_votes_sum",
            "votechain_writer_batch_votes_count",
            "votechain_writer_batch_duration_seconds_sum",
        ];
        let before = BATCH_SERIES.map(|m| metric_sum(metrics, m));
        let cw = writer_rate(&self.cfg, &self.ledger, total, in_log).await?;
        let [votes_sum, batches, secs_sum] = BATCH_SERIES.map(|m| metric_sum(metrics, m));
        let batches = (batches - before[1]).max(1.0);
        let writer_batch = (
            (votes_sum - before[0]) / batches,
            (secs_sum - before[2]) / batches,
        );
        self.rows.push(row("ChainWriter (items/s, 2 items a vote)", cw * 2.0, "items/s", "TransactWriteItems x99 at equal concurrency (8): the ledger's own items (votes, markers) into a table with its stream (own DynamoDB Local)", streamed, ">= 0.8"));
        self.rows.push(row("ChainWriter (items/s, 2 items a vote)", cw * 2.0, "items/s", "TransactWriteItems x99 at equal concurrency (8): 200-byte plain items, table without a stream, measured first", plain.concurrent, "-"));
        self.rows.push(row(
            "ChainWriter (votes/s)",
            cw,
            "votes/s",
            "TransactWriteItems x99 serial, items/s",
            plain.serial,
            "-",
        ));
        Ok((Log { meta, hw, total }, writer_batch))
    }

    /// Projector over the whole ledger from a cold start, in stream records/s, against raw
    /// GetRecords of the same stream.
    async fn projector(&mut self) -> Result<(f64, f64, f64), BenchError> {
        (self.progress)("projector");
        let h = votechain::metrics::install();
        const STEPS: [(&str, &str); 4] = [
            ("votechain_projector_step_seconds_count", "step=\"read\""),
            ("votechain_projector_step_seconds_sum", "step=\"read\""),
            ("votechain_projector_step_seconds_count", "step=\"apply\""),
            ("votechain_projector_step_seconds_sum", "step=\"apply\""),
        ];
        let sample = || {
            let text = h.render();
            STEPS.map(|(name, filter)| votechain::metrics::sum_series(&text, name, filter))
        };
        // A raw read first: DynamoDB Local's JVM compiles its Streams path on first use
        // (the C2 compiler took a third of the CPU of a cold run), and whichever went
        // first paid for it. The baseline is the better of the reads before and after.
        let (raw_before, _) = self.raw_streams().await?;
        let before = sample();
        let (proj_rate, chained) = self.projector_rate().await?;
        let after = sample();
        let d: Vec<f64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
        let steps = (
            d[2],
            d[1] * 1000.0 / d[0].max(1.0),
            d[3] * 1000.0 / d[2].max(1.0),
        );
        let (raw_after, recs) = self.raw_streams().await?;
        let raw_streams = raw_before.max(raw_after);
        // Each vote is 3 stream records (vote, marker, checkpoint update per batch, roughly).
        self.rows.push(row(
            "projector (stream records/s)",
            proj_rate * recs as f64 / chained.max(1) as f64,
            "records/s",
            "raw GetRecords of the same stream",
            raw_streams,
            ">= 0.8",
        ));
        Ok(steps)
    }

    /// Votes/s a projector node counts from its first count until every chained vote is
    /// counted, and how many votes were chained.
    async fn projector_rate(&self) -> Result<(f64, u64), BenchError> {
        let cfg = &self.cfg;
        let mut pc = cfg.clone();
        pc.roles = [votechain::config::Role::Projector].into();
        let chained: u64 = {
            let mut s = 0;
            for e in cfg.registry().iter() {
                for c in 0..e.chains {
                    s += self.ledger.tip(e, c).await?.seq;
                }
            }
            s
        };
        let t0 = Instant::now();
        let pnode = Node::start(pc).await?;
        // Timed from the last sample that still counted nothing (or the node's start, if it
        // counted before the first sample): the projector began at or after it, so the
        // rate is never more than the projector's own. (Timed from the first sample that
        // counted, it divided by almost nothing when the node's start outlasted the
        // backlog: 7.6e10 records/s in a --projector-only run.)
        let mut last_zero = t0;
        loop {
            let mut sum = 0;
            for e in cfg.registry().iter() {
                sum += votechain::projector::results::read(
                    &self.db,
                    &cfg.dynamodb.results_table,
                    &cfg.registry(),
                    &e.id,
                    false,
                )
                .await?
                .total;
            }
            if sum == 0 {
                last_zero = Instant::now();
            }
            if sum >= chained {
                break;
            }
            if t0.elapsed() > Duration::from_secs(600) {
                return Err(
                    format!("the projector counted {sum} of {chained} votes in 600 s").into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let secs = last_zero.elapsed().as_secs_f64();
        pnode.shutdown().await;
        if secs < 0.5 {
            return Err(format!(
                "the projector took {secs:.3} s: too few votes to time (use --votes 3000 or more)"
            )
            .into());
        }
        Ok((chained as f64 / secs, chained))
    }

    /// Raw Streams read of the ledger's whole stream: records/s and records.
    async fn raw_streams(&self) -> Result<(f64, u64), BenchError> {
        let streams = dynamo::streams_client(&self.cfg.dynamodb).await;
        let arn = votechain::projector::stream::stream_arn(&self.db, &self.table).await?;
        let t0 = Instant::now();
        let mut recs = 0u64;
        for s in votechain::projector::stream::list_shards(&streams, &arn).await? {
            let mut it = votechain::projector::stream::iterator(
                &streams,
                &arn,
                &s.id,
                votechain::projector::lease::TRIM_HORIZON,
            )
            .await?;
            while let Some(i) = it {
                let (r, next) = votechain::projector::stream::records(&streams, &i, 1000).await?;
                if r.is_empty() {
                    break;
                }
                recs += r.len() as u64;
                it = next;
            }
        }
        Ok((recs as f64 / t0.elapsed().as_secs_f64(), recs))
    }

    /// Replay of `log` against a raw consume of it. Returns both consumers, still assigned.
    async fn replay(&mut self, log: &Log) -> Result<[Arc<StreamConsumer>; 2], BenchError> {
        (self.progress)("replay");
        let (raw_consume, records, raw) = self.raw_consume(log).await?;
        let (replay_rate, replayed) = self.replay_rate(log).await?;
        self.rows.push(row(
            "replay (records/s)",
            replay_rate,
            "records/s",
            "raw consume of the same log (read_committed, librdkafka, as replay reads)",
            raw_consume,
            ">= 0.8",
        ));
        (self.progress)("Kafka's ConsumerPerformance");
        let bootstrap = self.kafka.bootstrap_servers();
        let topic = &self.cfg.kafka.votes_topic;
        let tool = kafka_tools::consumer_performance(&bootstrap, topic, records).await?;
        self.rows.push(row(
            "replay (records/s)",
            replay_rate,
            "records/s",
            &format!("Kafka's ConsumerPerformance: the same {records} records, read_committed"),
            tool,
            "-",
        ));
        Ok([raw, replayed])
    }

    /// A replay consumer assigned to every partition of the votes topic from the beginning.
    fn log_consumer(&self, log: &Log) -> Result<Arc<StreamConsumer>, BenchError> {
        let consumer = Arc::new(votechain::replay::consumer(&kafka::base_config(
            &self.cfg.kafka,
        ))?);
        votechain::replay::assign(
            &consumer,
            &self.cfg.kafka.votes_topic,
            log.hw.keys().copied(),
            &Default::default(),
        )?;
        Ok(consumer)
    }

    /// Records/s of a plain consume of `log`, and its consumer.
    async fn raw_consume(&self, log: &Log) -> Result<(f64, u64, Arc<StreamConsumer>), BenchError> {
        let consumer = self.log_consumer(log)?;
        // Until the log is read: high watermarks count transaction markers too, which are never
        // delivered, so stop after 2 s without a record and time up to the last one received.
        let t0 = Instant::now();
        let (mut raw_n, mut last) = (0u64, t0);
        while raw_n < log.total as u64 {
            match tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await {
                Ok(Ok(_)) => {
                    raw_n += 1;
                    last = Instant::now();
                }
                _ => break,
            }
        }
        let rate = raw_n as f64 / last.duration_since(t0).as_secs_f64().max(1e-3);
        Ok((rate, raw_n, consumer))
    }

    /// Records/s of a replay of `log` up to its high watermarks, and its consumer.
    async fn replay_rate(&self, log: &Log) -> Result<(f64, Arc<StreamConsumer>), BenchError> {
        let consumer = self.log_consumer(log)?;
        let topic = &self.cfg.kafka.votes_topic;
        let mut engine = votechain::replay::ReplayEngine::new(self.cfg.registry(), topic);
        let t0 = Instant::now();
        votechain::replay::read_log(
            &consumer,
            &mut engine,
            votechain::replay::Until::Offsets(&log.hw),
            Duration::from_secs(30),
            |_| {},
            |_| {},
        )
        .await?;
        Ok((engine.records as f64 / t0.elapsed().as_secs_f64(), consumer))
    }

    /// Verify of the main election against a raw consistent Query of the same items (the best of three
    /// rounds each), then against raw SHA-256 linking (`link_rate`).
    async fn verify(&mut self, link_rate: f64) -> Result<(), BenchError> {
        (self.progress)("verify");
        // Three rounds of raw read then verify, the best of each: DynamoDB Local's read speed
        // swings by 2x between consecutive passes (GC, JIT), so a single pass of each compared
        // noise; the first round also warms it for both alike.
        let (mut raw_read, mut verify_rate) = (0.0f64, 0.0f64);
        for _ in 0..3 {
            raw_read = raw_read.max(self.raw_chain_read(MAIN_ELECTION).await?);
            let t0 = Instant::now();
            let r =
                votechain::verify::verify_election(&self.ledger, &self.election(MAIN_ELECTION)?)
                    .await?;
            if r.votes == 0 {
                return Err(format!("no votes of {MAIN_ELECTION} to verify").into());
            }
            if !r.intact {
                return Err(format!(
                    "verify found the bench's own chain broken: {:?}",
                    r.problems
                )
                .into());
            }
            verify_rate = verify_rate.max(r.votes as f64 / t0.elapsed().as_secs_f64());
        }
        self.rows.push(row(
            "verify (votes/s)",
            verify_rate,
            "votes/s",
            "raw consistent Query of the same items",
            raw_read,
            "~1 (read-bound)",
        ));
        self.rows.push(row(
            "SHA-256 linking (votes/s)",
            verify_rate,
            "votes/s",
            "raw link() in memory",
            link_rate,
            "<< 1: hashing is not the bound",
        ));
        Ok(())
    }

    /// Items/s of a consistent Query of every chain of `election`, page by page.
    async fn raw_chain_read(&self, election: &str) -> Result<f64, BenchError> {
        let chains = self.election(election)?.chains;
        let t0 = Instant::now();
        let mut items = 0u64;
        for c in 0..chains {
            let mut start = None;
            loop {
                let (page, next) = self
                    .ledger
                    .chain_page(election, c, chains, start, true)
                    .await?;
                items += page.len() as u64;
                match next {
                    Some(k) => start = Some(k),
                    None => break,
                }
            }
        }
        Ok(items as f64 / t0.elapsed().as_secs_f64())
    }

    /// The publisher catching up with every vote chained so far (all bench elections,
    /// every chain, from an empty log), in entries/s from its start, against the
    /// ChainWriter's votes/s of this run: a publisher slower than the writer falls behind.
    async fn publisher(&mut self) -> Result<(), BenchError> {
        (self.progress)("publisher");
        let writer = self
            .rows
            .iter()
            .find(|r| r.what == "ChainWriter (votes/s)")
            .map_or(0.0, |r| r.ours);
        let dir = tempfile::tempdir()?;
        let mut pc = with_log_keys(&self.cfg, dir.path())?;
        pc.roles = [votechain::config::Role::Publisher].into();
        pc.node.instance_id = "bench-publisher".into();
        pc.publisher.checkpoint_interval_ms = 100;
        pc.publisher.batch_max = 10_000;
        let logs = votechain::logstore::LogStore {
            db: self.db.clone(),
            table: self.table.clone(),
        };
        let mut target = 0;
        for e in self.cfg.registry().iter() {
            for c in 0..e.chains {
                target += self.ledger.tip(e, c).await?.seq;
            }
        }
        let t0 = Instant::now();
        let node = Node::start(pc).await?;
        let deadline = t0 + Duration::from_secs(900);
        loop {
            let mut logged = 0;
            for e in self.cfg.registry().iter() {
                for c in 0..e.chains {
                    logged += logs
                        .published(&e.id, c)
                        .await
                        .map_err(|err| BenchError::Setup(err.to_string()))?
                        .map_or(0, |p| p.size);
                }
            }
            if logged >= target || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let rate = target as f64 / t0.elapsed().as_secs_f64();
        node.shutdown().await;
        self.rows.push(row(
            "publisher (log entries/s, catching up from an empty log)",
            rate,
            "entries/s",
            "the ChainWriter's votes/s in this run",
            writer,
            ">= 1.0",
        ));
        Ok(())
    }

    /// Receipt proofs served per second (`.../votes/{id}/proof`, 8 at a time) against the
    /// raw reads a plain receipt needs (GetItem of the marker, then of the vote).
    async fn proofs(&mut self) -> Result<(), BenchError> {
        use futures::StreamExt;
        (self.progress)("receipt proofs");
        let e = self.election(MAIN_ELECTION)?;
        let ids: Vec<String> = self
            .ledger
            .votes_after(&e, 0, 0, 2_000)
            .await?
            .into_iter()
            .map(|v| v.vote_id)
            .collect();
        let mut qc = self.cfg.clone();
        qc.roles = [votechain::config::Role::Query].into();
        qc.node.instance_id = "bench-query".into();
        let node = Node::start(qc).await?;
        let http = reqwest::Client::new();
        if ids.is_empty() {
            return Err(format!("no votes of {MAIN_ELECTION} to prove").into());
        }
        let base = format!(
            "http://{}/v1/elections/{MAIN_ELECTION}/votes",
            node.http_addr
        );
        let t0 = Instant::now();
        let ok = futures::stream::iter(ids.iter())
            .map(|id| {
                let (http, url) = (http.clone(), format!("{base}/{id}/proof"));
                async move {
                    http.get(url)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                }
            })
            .buffer_unordered(8)
            .filter(|ok| futures::future::ready(*ok))
            .count()
            .await;
        let ours = ok as f64 / t0.elapsed().as_secs_f64();
        node.shutdown().await;
        if ok != ids.len() {
            return Err(format!("{} of {} proofs served", ok, ids.len()).into());
        }
        let t0 = Instant::now();
        futures::stream::iter(ids.iter())
            .map(|id| self.ledger.receipt(MAIN_ELECTION, id, e.chains))
            .buffer_unordered(8)
            .count()
            .await;
        let raw = ids.len() as f64 / t0.elapsed().as_secs_f64();
        self.rows.push(row(
            "receipt proofs served (proofs/s)",
            ours,
            "proofs/s",
            "raw receipt reads (GetItem marker + vote) at equal concurrency (8)",
            raw,
            "-",
        ));
        Ok(())
    }

    /// Chains `n` votes of the 1-chain `election` and publishes its log (a writer and a
    /// publisher), waiting until a published checkpoint covers them all.
    async fn chain_and_publish(&self, election: &str, n: u64) -> Result<(), BenchError> {
        (self.progress)(&format!("chaining and publishing {n} votes"));
        let keys = tempfile::tempdir()?;
        let mut c = with_log_keys(&self.cfg, keys.path())?;
        c.roles = [
            votechain::config::Role::Writer,
            votechain::config::Role::Publisher,
        ]
        .into();
        c.node.instance_id = "bench-audit-log".into();
        let logs = votechain::logstore::LogStore {
            db: self.db.clone(),
            table: self.table.clone(),
        };
        let node = Node::start(c).await?;
        // Produced as the writer goes, never more than 10,000 votes (about 2.5 MB) ahead,
        // so the measure is of a writer keeping up, not of a backlog.
        let vp = VoteProducer::new(&self.cfg).await?;
        let e = self.election(election)?;
        let (mut sent, mut size) = (0, 0);
        let deadline = Instant::now() + Duration::from_secs(1800);
        while size < n && Instant::now() < deadline {
            let chained = self.ledger.tip(&e, 0).await?.seq;
            if sent < n && sent < chained + 10_000 {
                let k = 2_000.min(n - sent);
                vp.send(election, 1, 70_000_000 + sent, k, 256).await?;
                sent += k;
                continue;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            size = logs
                .published(election, 0)
                .await
                .map_err(|e| BenchError::Setup(e.to_string()))?
                .map_or(0, |p| p.size);
        }
        node.shutdown().await;
        if size < n {
            return Err(format!("{election}: {size} of {n} votes published in 30 min").into());
        }
        Ok(())
    }

    /// `votechain audit --with-ledger` of a log of `entries` (its checkpoint, every tile and
    /// bundle over HTTP, the chain from DynamoDB, all compared), in entries/s, against a raw
    /// consistent Query of the same chain's items. The votes are chained and published
    /// first (not measured).
    async fn audit(&mut self, want: u64) -> Result<(), BenchError> {
        self.chain_and_publish(AUDIT_ELECTION, want).await?;
        (self.progress)("audit");
        let manifest = votechain::manifests::get(&self.ledger, AUDIT_ELECTION)
            .await
            .map_err(|e| BenchError::Setup(e.to_string()))?
            .ok_or("no audit election manifest")?
            .manifest;
        let mut qc = self.cfg.clone();
        qc.roles = [votechain::config::Role::Query].into();
        qc.node.instance_id = "bench-audit".into();
        let node = Node::start(qc).await?;
        let state = tempfile::tempdir()?;
        let audit = votechain::audit::Audit {
            base_url: format!("http://{}", node.http_addr),
            manifest: &manifest,
            policy: Default::default(),
            state_dir: state.path().to_path_buf(),
            ledger: Some(self.ledger.clone()),
        };
        let t0 = Instant::now();
        let result = audit
            .run()
            .await
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        let secs = t0.elapsed().as_secs_f64();
        node.shutdown().await;
        let entries: u64 = result.iter().map(|c| c.size).sum();
        if let Some(p) = result.iter().flat_map(|c| &c.problems).next() {
            return Err(format!("the audit of {AUDIT_ELECTION} failed: {p}").into());
        }
        if entries != want {
            return Err(format!("the audit saw {entries} entries, not {want}").into());
        }
        let raw = self.raw_chain_read(AUDIT_ELECTION).await?;
        self.rows.push(row(
            &format!("audit with the ledger ({entries} entries, entries/s)"),
            entries as f64 / secs,
            "entries/s",
            "raw consistent Query of the same chain's items",
            raw,
            "-",
        ));
        Ok(())
    }

    /// ChainWriter votes/s for elections of 1, 2, 4, 8 chains, `votes` each; the report
    /// compares them with the streamed raw rate. `meta` reads the high watermarks.
    async fn chains(&self, meta: &Arc<StreamConsumer>) -> Result<Vec<(u32, f64)>, BenchError> {
        let (cfg, per) = (&self.cfg, self.votes);
        let mut chains = vec![];
        for c in [1u32, 2, 4, 8] {
            (self.progress)(&format!("{c} chain(s)"));
            let (election, from) = (format!("bench-{c}"), 30_000_000 + c as u64 * 1_000_000);
            produce(cfg, &election, c, from, per, 256).await?;
            let hw = votechain::replay::high_watermarks(meta, &cfg.kafka.votes_topic).await?;
            let rate = writer_rate(cfg, &self.ledger, hw.values().sum(), per).await?;
            chains.push((c, rate));
        }
        Ok(chains)
    }

    /// The writer's peak for `pace_secs` with the publisher's pace beside it (a row), then
    /// projection lag and coverage latency at 80 % of that peak, for `secs` (see
    /// [`projection_lag`]).
    async fn lags(&mut self, pace_secs: u64, secs: u64) -> Result<Vec<LagResult>, BenchError> {
        let mut lags = vec![];
        for e in LAG_ELECTIONS {
            (self.progress)(&format!(
                "{} ({} chains): writer at its peak for {pace_secs} s, then {secs} s at 80% of it",
                e.id, e.chains
            ));
            let l = projection_lag(&self.cfg, &self.ledger, &self.db, e, pace_secs, secs).await?;
            lags.push(l);
        }
        // The publisher's pace is the default election's (every partition, a log per chain).
        let l = &lags[0];
        self.rows.push(row(
            &format!("publisher at the writer's peak (log entries/s, sustained {pace_secs} s)"),
            l.pace.logged_per_s,
            "entries/s",
            "votes/s the writer chained in the same window (projector beside it)",
            l.pace.chained_per_s,
            ">= 1.0",
        ));
        Ok(lags)
    }

    /// Peak RSS of a `votechain dev` process under load, in MB (not measured without `bin`),
    /// or why it could not be measured.
    async fn peak_rss(&self, bin: Option<PathBuf>) -> (Option<f64>, Option<String>) {
        let Some(bin) = bin else {
            return (None, None);
        };
        (self.progress)("peak RSS of votechain dev");
        match dev_rss(&bin, self.votes).await {
            Ok(mb) => (Some(mb), None),
            Err(e) => {
                (self.progress)(&format!("peak RSS not measured: {e}"));
                (None, Some(e.to_string()))
            }
        }
    }
}

/// The HTTP clients of the ingest measures, recording each vote's latency until its 202.
struct Voters {
    http: reqwest::Client,
    lat: Arc<std::sync::Mutex<hdrhistogram::Histogram<u64>>>,
}

impl Voters {
    fn new(clients: u64) -> Result<Voters, BenchError> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(clients.max(64) as usize)
            .build()?;
        let lat = Arc::new(std::sync::Mutex::new(hdrhistogram::Histogram::<u64>::new(
            3,
        )?));
        Ok(Voters { http, lat })
    }

    /// Posts votes `offset..offset + n` of bench-8 to `url` from `conc` clients, each retried
    /// until 202, each client paced to one vote per `pace` if given; votes/s.
    async fn blast(
        &self,
        url: String,
        n: u64,
        conc: u64,
        pace: Option<Duration>,
        offset: u64,
    ) -> f64 {
        let t0 = Instant::now();
        let next = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..conc)
            .map(|_| {
                let (http, url, lat, next) = (
                    self.http.clone(),
                    url.clone(),
                    self.lat.clone(),
                    next.clone(),
                );
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        let ev = event(MAIN_ELECTION, 8, offset + i);
                        let body = serde_json::json!({"vote_id": ev.vote_id, "candidate_id": ev.candidate_id, "region_id": ev.region_id});
                        let s = Instant::now();
                        loop {
                            match http.post(&url).bearer_auth("bench-key").json(&body).send().await {
                                Ok(r) if r.status() == 202 => break,
                                _ => tokio::time::sleep(Duration::from_millis(10)).await,
                            }
                        }
                        let _ = lat.lock().unwrap_or_else(|e| e.into_inner()).record(s.elapsed().as_micros() as u64);
                        if let Some(p) = pace {
                            tokio::time::sleep(p.saturating_sub(s.elapsed())).await;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        n as f64 / t0.elapsed().as_secs_f64()
    }

    /// p99 latency in ms of `n` votes at half of `peak`: 32 clients paced to half the peak
    /// rate in total.
    async fn p99_at_half_peak(&self, url: String, peak: f64, n: u64) -> f64 {
        self.lat.lock().unwrap_or_else(|e| e.into_inner()).reset();
        let half = (peak / 2.0).max(1.0);
        let pace = Duration::from_secs_f64(32.0 / half);
        self.blast(url, n, 32, Some(pace), 20_000_000).await;
        self.lat
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .value_at_quantile(0.99) as f64
            / 1000.0
    }

    /// The HTTP floor: votes/s of the same client against a handler that parses the same
    /// body and answers 202 at once (no auth, validation, Kafka): what HTTP alone costs here.
    /// Warmed up and as many votes as ingest's measure, as ingest is.
    async fn floor_rate(&self, votes: u64, clients: u64) -> Result<f64, BenchError> {
        let floor = http_floor().await?;
        let url = format!("http://{}/v1/elections/bench-8/votes", floor.0);
        self.blast(url.clone(), WARMUP, clients, None, 39_000_000)
            .await;
        let rate = self.blast(url, votes, clients, None, 40_000_000).await;
        floor.1.abort();
        Ok(rate)
    }
}

/// Votes of `election` in the ledger: the sum of its chain tips' seqs (consistent).
async fn lag_chained(ledger: &Ledger, cfg: &Config, election: &str) -> Result<u64, BenchError> {
    let e = cfg
        .registry()
        .get(election)
        .cloned()
        .ok_or_else(|| BenchError::Setup(format!("no election {election}")))?;
    let mut n = 0;
    for c in 0..e.chains {
        n += ledger.tip(&e, c).await?.seq;
    }
    Ok(n)
}

/// Votes of `election` counted in the read model (eventually consistent read, as the query
/// role serves them).
async fn projected(
    db: &aws_sdk_dynamodb::Client,
    cfg: &Config,
    election: &str,
) -> Result<u64, BenchError> {
    Ok(votechain::projector::results::read(
        db,
        &cfg.dynamodb.results_table,
        &cfg.registry(),
        election,
        false,
    )
    .await?
    .total)
}

/// Projection lag and end to end on election `e`: first the peak, `pace_secs` of a writer
/// kept busy (see [`peak`]) with a projector and a publisher beside it; then `secs` of votes
/// submitted over HTTP to the same node's ingest at 80 % of that peak, sampling every 100 ms how many were
/// submitted, how many are in the ledger (chain tips) and how many in the read model. A
/// vote's lag is the time from the sample that first saw it chained to the sample that
/// first saw it counted; its end-to-end delay, from the sample that first saw it submitted
/// to the one that first saw it counted (cumulative counts paired in order).
async fn projection_lag(
    cfg: &Config,
    ledger: &Ledger,
    db: &aws_sdk_dynamodb::Client,
    e: LagElection,
    pace_secs: u64,
    secs: u64,
) -> Result<LagResult, BenchError> {
    const SAMPLE_MS: u64 = 100;
    let mut c = cfg.clone();
    c.roles = [
        votechain::config::Role::Ingest,
        votechain::config::Role::Writer,
        votechain::config::Role::Projector,
        votechain::config::Role::Publisher,
    ]
    .into();
    let keys = tempfile::tempdir()?;
    c.publisher = with_log_keys(cfg, keys.path())?.publisher;
    let logs = votechain::logstore::LogStore {
        db: db.clone(),
        table: ledger.table.clone(),
    };
    // The peak, with the projector and the publisher competing for the same DynamoDB Local.
    let node = Node::start(c.clone()).await?;
    let url = format!("http://{}/v1/elections/{}/votes", node.http_addr, e.id);
    let (pace, produced) = peak(cfg, ledger, &logs, &url, e, pace_secs).await?;
    let peak = pace.chained_per_s;
    let deadline = Instant::now() + Duration::from_secs(600);
    // Let the writer, the projector and the publisher catch up before the steady phase.
    while (projected(db, cfg, e.id).await? < produced
        || lag_chained(ledger, cfg, e.id).await? < produced
        || logged(&logs, e).await? < produced)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let base_chained = lag_chained(ledger, cfg, e.id).await?;
    let base_projected = projected(db, cfg, e.id).await?;
    let base_logged = logged(&logs, e).await?;

    // The steady phase: votes submitted over HTTP, as stations do.
    let offered = peak * 0.8;
    let total = (offered * secs as f64) as u64;
    let handle = votechain::metrics::install();
    let batches = |h: &metrics_exporter_prometheus::PrometheusHandle| {
        let m = |n: &str| metric_sum(h, n);
        (
            m("votechain_writer_batch_duration_seconds_sum"),
            m("votechain_writer_batch_duration_seconds_count"),
            m("votechain_writer_batch_votes_sum"),
        )
    };
    let before = batches(&handle);
    let t0 = Instant::now();
    let producer = tokio::spawn(submit_steadily(url, e, offered, total, t0));
    // Each count with the time its read completed: (seconds, votes).
    let (mut chained_at, mut counted_at, mut logged_at) = (vec![], vec![], vec![]);
    let mut last_chained_at = 0.0;
    loop {
        let at = t0.elapsed().as_secs_f64();
        let chained = lag_chained(ledger, cfg, e.id)
            .await?
            .saturating_sub(base_chained);
        let t = t0.elapsed().as_secs_f64();
        if chained_at.last().is_none_or(|&(_, c)| chained > c) {
            last_chained_at = t;
        }
        chained_at.push((t, chained));
        let counted = projected(db, cfg, e.id)
            .await?
            .saturating_sub(base_projected);
        counted_at.push((t0.elapsed().as_secs_f64(), counted));
        let in_log = logged(&logs, e).await?.saturating_sub(base_logged);
        logged_at.push((t0.elapsed().as_secs_f64(), in_log));
        let done = counted >= total && chained >= total && in_log >= total;
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(
            Duration::from_millis(SAMPLE_MS)
                .saturating_sub(Duration::from_secs_f64(t0.elapsed().as_secs_f64() - at)),
        )
        .await;
    }
    let submitted_at = producer.await??;
    let after = batches(&handle);
    let n_batches = (after.1 - before.1).max(1.0);
    node.shutdown().await;
    let sorted = |mut d: Vec<f64>| {
        d.sort_by(f64::total_cmp);
        d
    };
    let d = sorted(delays_between(&chained_at, &counted_at));
    let end_to_end = sorted(delays_between(&submitted_at, &counted_at));
    let to_chain = sorted(delays_between(&submitted_at, &chained_at));
    let cov = sorted(delays_between(&chained_at, &logged_at));
    Ok(LagResult {
        election: e.id.into(),
        chains: e.chains,
        peak_votes_per_s: peak,
        pace_seconds: pace_secs as f64,
        pace,
        offered_votes_per_s: offered,
        achieved_votes_per_s: total as f64 / last_chained_at.max(1e-3),
        votes: total,
        seconds: secs as f64,
        sample_ms: SAMPLE_MS,
        p50_s: quantile(&d, 0.50),
        p99_s: quantile(&d, 0.99),
        max_s: d.last().copied().unwrap_or(f64::NAN),
        e2e_p50_s: quantile(&end_to_end, 0.50),
        e2e_p99_s: quantile(&end_to_end, 0.99),
        e2e_max_s: end_to_end.last().copied().unwrap_or(f64::NAN),
        steady_batch_ms: (after.0 - before.0) * 1000.0 / n_batches,
        steady_votes_per_batch: (after.2 - before.2) / n_batches,
        to_chain_p50_s: quantile(&to_chain, 0.50),
        to_chain_p99_s: quantile(&to_chain, 0.99),
        to_chain_max_s: to_chain.last().copied().unwrap_or(f64::NAN),
        coverage_p50_s: quantile(&cov, 0.50),
        coverage_p99_s: quantile(&cov, 0.99),
        coverage_max_s: cov.last().copied().unwrap_or(f64::NAN),
    })
}

/// The request body of vote `i` of election `e` (ingest draws its salt).
fn vote_body(e: LagElection, i: u64) -> serde_json::Value {
    let ev = event(e.id, e.chains, i);
    serde_json::json!({"vote_id": ev.vote_id, "candidate_id": ev.candidate_id, "region_id": ev.region_id})
}

/// Posts one vote until it is answered 202, resending the same body (a station's retry).
async fn post_until_accepted(http: &reqwest::Client, url: &str, body: &serde_json::Value) {
    loop {
        match http
            .post(url)
            .bearer_auth("bench-key")
            .json(body)
            .send()
            .await
        {
            Ok(r) if r.status() == 202 => return,
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Submits votes `e.first_vote + 10_000_000..` of `e` to `url` at `rate` votes/s (a batch
/// every 50 ms, each vote its own request, retried with the same vote_id until 202, at most
/// 4,096 requests in flight). Returns the submissions' timeline: `(seconds since t0,
/// votes whose first request had started)` after each batch.
async fn submit_steadily(
    url: String,
    e: LagElection,
    rate: f64,
    total: u64,
    t0: Instant,
) -> Result<Vec<(f64, u64)>, BenchError> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()?;
    let per_tick = ((rate / 20.0).round() as u64).max(1);
    let room = Arc::new(tokio::sync::Semaphore::new(4096));
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let mut timeline = vec![(t0.elapsed().as_secs_f64(), 0)];
    let mut sent = 0;
    while sent < total {
        tick.tick().await;
        let batch = sent..sent + per_tick.min(total - sent);
        sent = batch.end;
        for i in batch {
            let permit = room.clone().acquire_owned().await.expect("never closed");
            let body = vote_body(e, e.first_vote + 10_000_000 + i);
            let (http, url) = (http.clone(), url.clone());
            tasks.spawn(async move {
                post_until_accepted(&http, &url, &body).await;
                drop(permit);
            });
        }
        // The batch's requests are spawned: it counts from now.
        timeline.push((t0.elapsed().as_secs_f64(), sent));
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    Ok(timeline)
}

/// The node's peak with a projector and a publisher beside the writer: 256 HTTP clients
/// keep 6,000 votes of election `e` submitted to its ingest (`url`) ahead of the writer
/// for `secs` (after a 2 s warm-up from its first vote), and
/// every 100 ms the bench counts the votes chained (chain tips) and published (the logs'
/// published sizes). Returns their [`Pace`] over that window and the votes produced.
async fn peak(
    cfg: &Config,
    ledger: &Ledger,
    logs: &votechain::logstore::LogStore,
    url: &str,
    e: LagElection,
    secs: u64,
) -> Result<(Pace, u64), BenchError> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    const AHEAD: u64 = 6_000;
    const CLIENTS: usize = 256;
    const WARM_S: f64 = 2.0;
    let (chained, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let (ch, st, url) = (chained.clone(), stop.clone(), url.to_string());
    let producer = tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(512)
            .build()?;
        let room = Arc::new(tokio::sync::Semaphore::new(CLIENTS));
        let mut tasks = tokio::task::JoinSet::new();
        let mut sent = 0u64;
        while !st.load(Relaxed) {
            if sent < ch.load(Relaxed) + AHEAD {
                let permit = room.clone().acquire_owned().await.expect("never closed");
                let (http, url) = (http.clone(), url.clone());
                let body = vote_body(e, e.first_vote + sent);
                tasks.spawn(async move {
                    post_until_accepted(&http, &url, &body).await;
                    drop(permit);
                });
                sent += 1;
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
        Ok::<_, BenchError>(sent)
    });
    let (base_chained, base_logged) = (
        lag_chained(ledger, cfg, e.id).await?,
        logged(logs, e).await?,
    );
    let t0 = Instant::now();
    let (mut samples, mut started) = (vec![], None::<f64>);
    loop {
        let at = t0.elapsed().as_secs_f64();
        let c = lag_chained(ledger, cfg, e.id)
            .await?
            .saturating_sub(base_chained);
        let l = logged(logs, e).await?.saturating_sub(base_logged);
        chained.store(c, Relaxed);
        samples.push((at, c, l));
        if c > 0 && started.is_none() {
            started = Some(at);
        }
        if started.is_some_and(|s| at >= s + WARM_S + secs as f64) || at > 900.0 {
            break;
        }
        let spent = t0.elapsed().saturating_sub(Duration::from_secs_f64(at));
        tokio::time::sleep(Duration::from_millis(100).saturating_sub(spent)).await;
    }
    stop.store(true, Relaxed);
    let produced = producer.await??;
    let from = started.ok_or("the writer chained nothing in 900 s")? + WARM_S;
    let pace = pace(&samples, from, from + secs as f64)
        .ok_or("fewer than two publications while the writer was at its peak")?;
    Ok((pace, produced))
}

/// Entries in election `e`'s published logs (every chain).
async fn logged(logs: &votechain::logstore::LogStore, e: LagElection) -> Result<u64, BenchError> {
    let mut n = 0;
    for c in 0..e.chains {
        n += logs
            .published(e.id, c)
            .await
            .map_err(|e| BenchError::Setup(e.to_string()))?
            .map_or(0, |p| p.size);
    }
    Ok(n)
}

/// Runs `votechain dev` as a user does (its own DynamoDB Local on :8000: on the bench's, its
/// ledger would stream after the bench's, ten times slower), drives `votes` through
/// it at full speed, and reads its peak RSS (VmHWM; the JVM is another process).
async fn dev_rss(bin: &std::path::Path, votes: u64) -> Result<f64, BenchError> {
    let mut child = million::spawn_dev(bin, None, None).await?;
    let pid = child.id().ok_or("no pid")?;
    let dir = tempfile::tempdir()?;
    let opts = crate::loadgen::LoadOptions {
        url: "http://127.0.0.1:8080".into(),
        key: "dev-key".into(),
        elections: vec![],
        rate: 0,
        duration: None,
        votes: Some(votes),
        clients: 64,
        resubmit_share: 0.05,
        timeout: Duration::from_secs(10),
        drop_answer_share: 0.0,
        outbox: dir.path().join("outbox.jsonl"),
        ca_file: None,
        resume_only: false,
        keep_history: false,
        progress: false,
        receipt_sample: None,
    };
    let r = crate::loadgen::run(opts).await?;
    if r.acknowledged != r.chained {
        return Err(format!(
            "`votechain dev` under load: {} votes acknowledged but {} chained",
            r.acknowledged, r.chained
        )
        .into());
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .ok_or("no VmHWM")?;
    let _ = child.start_kill();
    let _ = child.wait().await;
    Ok(kb / 1024.0)
}

impl BenchReport {
    pub fn markdown(&self, command: &str) -> String {
        let mut s = String::new();
        s.push_str("# Benchmarks\n\nProduced by the command below, not typed by hand. Ours vs the raw speed of the same backend, measured in the same run; the ratio is what to compare across machines.\n\n");
        s.push_str(&format!("- machine: {}\n- backends: DynamoDB Local (in-memory, JVM) and Apache Kafka {} (one KRaft node, JVM), both on this machine\n- votes per measure: {} (ingest: {} after a warm-up of {})\n- command: `{command}`, built from commit {}\n\n", self.machine, votechain::dev::kafka_version().unwrap_or_else(|| "?".into()), self.votes_per_measure, INGEST_FACTOR * self.votes_per_measure, WARMUP, commit()));
        s.push_str("| measure | ours | baseline | raw | ratio | target |\n| --- | ---: | --- | ---: | ---: | --- |\n");
        for r in &self.rows {
            s.push_str(&format!(
                "| {} | {:.0} {} | {} | {:.0} | {:.2} | {} |\n",
                r.what, r.ours, r.unit, r.baseline, r.raw, r.ratio, r.target
            ));
        }
        s.push_str(&missed_targets(&self.rows));
        s.push_str(&self.chains_section());
        s.push_str(&self.other_figures());
        if let Some(l) = self.lag.first() {
            s.push_str(&format!(
                "\n## Projection lag and end to end at 80 % of peak\n\nIngest, a writer, a projector and a publisher run in one node (default settings), the election on {} chains. Peak sustained write rate of that node, votes submitted over HTTP and chained with the projector and the publisher running: {:.0} votes/s (256 clients keeping 6,000 votes ahead of the writer for {:.0} s; on this machine ingest, the writer, DynamoDB Local and the clients share its cores). Then {:.0} s of votes submitted over HTTP at 80 % of it ({:.0} votes/s, each vote its own request, a batch of requests every 50 ms; the ledger took {:.0} votes/s), {} votes in all. The submitter records when each batch of requests started; every {} ms the bench counts the votes in the ledger (the chain tips, consistent reads) and in the read model the results are served from, each count stamped with the time its read completed. A vote's projection lag is the time between the first counts that saw it chained and counted; its end-to-end delay, between its submission and the first count that saw it counted (cumulative counts paired in order; resolution: one sampling round, {} ms plus the reads' own time).\n\n| | p50 | p99 | max | target |\n| --- | ---: | ---: | ---: | --- |\n| submitted -> chained | {:.2} s | {:.2} s | {:.2} s | |\n| chained -> counted (projection lag) | {:.2} s | {:.2} s | {:.2} s | p99 <= 2 s |\n| submitted -> counted (end to end) | {:.2} s | {:.2} s | {:.2} s | p99 <= 1 s |\n\nIn the steady phase the ChainWriters took {:.0} ms a batch (read, plan, transaction) for {:.1} votes a batch: on DynamoDB Local every chain's transactions share one SQLite writer thread.\n",
                l.chains, l.peak_votes_per_s, l.pace_seconds, l.seconds, l.offered_votes_per_s, l.achieved_votes_per_s, l.votes, l.sample_ms, l.sample_ms, l.to_chain_p50_s, l.to_chain_p99_s, l.to_chain_max_s, l.p50_s, l.p99_s, l.max_s, l.e2e_p50_s, l.e2e_p99_s, l.e2e_max_s, l.steady_batch_ms, l.steady_votes_per_batch
            ));
            s.push_str(&lag_by_chains(&self.lag));
            s.push_str(&format!(
                "\n## The publisher at the writer's peak\n\nWhile the writer was held at its peak ({:.0} s after a 2 s warm-up), the bench sampled every {} ms the votes chained and the entries in published checkpoints (one log per chain, a checkpoint at most every second, no witness). The log grows a checkpoint at a time, so its rate is counted from the first publication in the window to the last.\n\n| votes chained/s | log entries published/s | ratio | most votes chained but not yet published | target |\n| ---: | ---: | ---: | ---: | --- |\n| {:.0} | {:.0} | {:.2} | {} ({:.2} s of the writer's peak) | ratio >= 1.0 |\n",
                l.pace_seconds, l.sample_ms, l.pace.chained_per_s, l.pace.logged_per_s,
                l.pace.logged_per_s / l.pace.chained_per_s.max(1e-9), l.pace.max_behind,
                l.pace.max_behind as f64 / l.pace.chained_per_s.max(1e-9)
            ));
            s.push_str(&format!(
                "\n## Coverage latency at 80 % of peak\n\nIn the same run a publisher runs beside the writer and the projector (one log per chain, a checkpoint at most every second, no witness). A vote's coverage latency is the time between the samples that first saw it chained and first saw it in a published checkpoint.\n\n| coverage p50 | coverage p99 | coverage max | target |\n| ---: | ---: | ---: | --- |\n| {:.2} s | {:.2} s | {:.2} s | p99 <= 2 s |\n",
                l.coverage_p50_s, l.coverage_p99_s, l.coverage_max_s
            ));
        }
        s.push_str("\n## Beyond this run\n\n- A million votes through `votechain dev` (throughput, latency and submit-to-visible per minute, peak RSS of every process, verify / recount / replay / audit on the result against raw reads): [benchmarks-million.md](benchmarks-million.md), `votechain bench --million` (outside CI, ~45 minutes).\n- Chains under DynamoDB's partition limits: [benchmarks-partition-model.md](benchmarks-partition-model.md), `votechain bench --partition-model`.\n- Work per vote and the capacity model (chains, partitions, pods, units, brokers, cost per million votes): [capacity.md](capacity.md), `votechain bench --capacity`.\n");
        s
    }
}

impl BenchReport {
    /// The ChainWriter's chains table and its reading (empty when the run had no chains
    /// measure: the partial modes).
    fn chains_section(&self) -> String {
        if self.chains.is_empty() {
            return String::new();
        }
        let mut s = String::from(
            "\nThe ChainWriter's like-for-like baseline runs on a DynamoDB Local of its own, started and warmed during the run: on DynamoDB Local, a stream's writes slow down in proportion to the records of every stream written before it (10x after 9k records), so whichever of baseline and ledger streamed second would be crippled. See docs/performance.md.\n",
        );
        s.push_str("\n## ChainWriter votes/s by chains (8 partitions)\n\n| chains | votes/s | items/s | vs like-for-like raw |\n| ---: | ---: | ---: | ---: |\n");
        let vs_raw = |v: f64| v * 2.0 / self.chains_raw_items_per_s.max(1.0);
        for (c, v) in &self.chains {
            s.push_str(&format!(
                "| {c} | {v:.0} | {:.0} | {:.2} |\n",
                v * 2.0,
                vs_raw(*v)
            ));
        }
        let most = self.chains.iter().map(|(c, _)| *c).max();
        if let Some(c) = saturation(&self.chains).filter(|c| Some(*c) != most) {
            s.push_str(&format!(
                "\nThroughput stops growing at {c} chain(s) (the first within 10 % of the best). The last column says why: at {:.2} of the raw rate of the same transactions, DynamoDB Local itself is the bound (one SQLite writer thread); on DynamoDB each chain is its own partition key.\n",
                self.chains.iter().find(|(n, _)| *n == c).map_or(0.0, |(_, v)| vs_raw(*v))
            ));
        } else {
            s.push_str("\nThroughput still grows at the most chains measured: DynamoDB Local is not saturated yet.\n");
        }
        s
    }

    /// The figures beside the table, each only when the run measured it (a partial mode
    /// measures few); the peak RSS says why it was not measured in a full run.
    fn other_figures(&self) -> String {
        let mut lines = vec![];
        let (votes, secs) = self.writer_batch;
        if votes > 0.0 {
            lines.push(format!("ChainWriter, main drain: {votes:.1} votes per transaction, {:.1} ms per batch (read, plan, transaction)", secs * 1000.0));
        }
        if let Some(v) = self.ingest_p99_ms_at_half_peak {
            lines.push(format!(
                "ingest p99 latency at half of peak throughput: {v:.1} ms (target <= 100 ms)"
            ));
        }
        let rss = "peak RSS of `votechain dev` under load";
        match (self.dev_peak_rss_mb, self.dev_rss_error.as_deref()) {
            (Some(v), _) => lines.push(format!("{rss}: {v:.0} MB (target < 256 MB)")),
            (None, Some(mode)) if mode.starts_with("--") => {}
            (None, why) => lines.push(format!(
                "{rss}: not measured ({})",
                why.unwrap_or("--no-dev-rss")
            )),
        }
        let (batches, read_ms, apply_ms) = self.projector_steps;
        if batches > 0.0 {
            lines.push(format!("projector: {batches:.0} batches, per batch {read_ms:.1} ms waiting for GetRecords and {apply_ms:.1} ms applying (`votechain_projector_step_seconds`; the next read runs while a batch is applied)"));
        }
        if lines.is_empty() {
            return String::new();
        }
        format!("\n## Other figures\n\n- {}\n", lines.join("\n- "))
    }
}

/// The end-to-end measure of every lag election side by side (empty with fewer than two).
fn lag_by_chains(lags: &[LagResult]) -> String {
    if lags.len() < 2 {
        return String::new();
    }
    let mut s = String::from(
        "\n### By chains\n\nThe same measure, each on an election of its own in the same node and DynamoDB Local. On DynamoDB Local every chain's transactions wait for one SQLite writer thread, so with 8 chains a vote's batch also waits for the other chains' batches; with one chain it waits for none, as each chain's partition key does on DynamoDB (the single-chain row is the nearer model of one chain there, the 8-chain row of how DynamoDB Local serializes chains).\n\n| chains | peak (votes/s) | offered (votes/s) | ledger took (votes/s) | writer batch (ms, votes) | submitted -> chained p99 | projection lag p99 | end to end p50 | end to end p99 | end to end max | target |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    for l in lags {
        s.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0}, {:.1} | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.2} s | p99 <= 1 s |\n",
            l.chains,
            l.peak_votes_per_s,
            l.offered_votes_per_s,
            l.achieved_votes_per_s,
            l.steady_batch_ms,
            l.steady_votes_per_batch,
            l.to_chain_p99_s,
            l.p99_s,
            l.e2e_p50_s,
            l.e2e_p99_s,
            l.e2e_max_s
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_pair_each_vote_with_the_first_samples_that_saw_it() {
        // t, in ledger, in read model
        let s = [
            (0.0, 0, 0),
            (0.1, 2, 0),
            (0.2, 3, 1),
            (0.3, 3, 3),
            (0.4, 4, 3),
            (0.5, 4, 4),
        ];
        let earlier: Vec<(f64, u64)> = s.iter().map(|&(t, e, _)| (t, e)).collect();
        let later: Vec<(f64, u64)> = s.iter().map(|&(t, _, l)| (t, l)).collect();
        let d = delays_between(&earlier, &later);
        let r: Vec<f64> = d.iter().map(|x| (x * 10.0).round() / 10.0).collect();
        assert_eq!(r, vec![0.1, 0.2, 0.1, 0.1]);
        assert!(delays_between(&[], &[]).is_empty());
    }

    #[test]
    fn delays_between_use_each_counts_own_times() {
        let earlier = [(0.0, 0), (0.05, 2), (0.10, 4)];
        let later = [(0.0, 0), (0.32, 1), (0.47, 4)];
        let d = delays_between(&earlier, &later);
        let r: Vec<f64> = d.iter().map(|x| (x * 100.0).round() / 100.0).collect();
        assert_eq!(r, vec![0.27, 0.42, 0.37, 0.37]);
        assert!(delays_between(&earlier, &[]).is_empty());
    }

    #[test]
    fn pace_counts_the_log_between_publications_and_the_chain_between_the_edges() {
        // t, chained, logged: the log grows by checkpoints at 1.05 s and 2.05 s.
        let s = [
            (0.0, 0, 0),
            (0.5, 50, 0),
            (1.05, 105, 100),
            (1.5, 150, 100),
            (2.05, 205, 200),
            (3.0, 300, 200),
        ];
        let p = pace(&s, 0.0, 3.0).unwrap();
        assert_eq!(p.chained_per_s, 100.0);
        assert!((p.logged_per_s - 100.0).abs() < 1e-9, "{p:?}");
        assert_eq!(p.max_behind, 100);
        // A window with one publication has no log rate.
        assert_eq!(pace(&s, 0.0, 1.5), None);
        // Samples outside the window do not count.
        let p = pace(&s, 0.5, 2.05).unwrap();
        assert!((p.chained_per_s - 155.0 / 1.55).abs() < 1e-9, "{p:?}");
        assert_eq!(p.max_behind, 50);
    }

    #[test]
    fn saturation_is_the_fewest_chains_near_the_best() {
        assert_eq!(
            saturation(&[(1, 1000.0), (2, 1900.0), (4, 3000.0), (8, 3100.0)]),
            Some(4)
        );
        assert_eq!(
            saturation(&[(1, 2483.0), (2, 2453.0), (4, 2267.0), (8, 2657.0)]),
            Some(1)
        );
        assert_eq!(saturation(&[]), None);
    }

    #[test]
    fn a_partial_report_leaves_out_what_it_did_not_measure() {
        let mut r = BenchReport {
            machine: "m".into(),
            votes_per_measure: 10,
            rows: vec![],
            chains: vec![],
            chains_raw_items_per_s: 0.0,
            dev_peak_rss_mb: None,
            ingest_p99_ms_at_half_peak: Some(8.5),
            writer_batch: (0.0, 0.0),
            dev_rss_error: Some("--ingest-only".into()),
            lag: vec![],
            projector_steps: (0.0, 0.0, 0.0),
        };
        let md = r.markdown("votechain bench --ingest-only");
        assert!(!md.contains("by chains"), "{md}");
        assert!(md.contains("- ingest p99 latency at half of peak throughput: 8.5 ms"));
        assert!(
            !md.contains("ChainWriter, main drain") && !md.contains("`votechain dev` under load")
        );
        // A full run says why the RSS was not measured, and shows its chains.
        r.dev_rss_error = Some("port 8080 in use".into());
        r.chains = vec![(1, 100.0), (2, 190.0)];
        r.chains_raw_items_per_s = 400.0;
        let md = r.markdown("votechain bench");
        assert!(
            md.contains("peak RSS of `votechain dev` under load: not measured (port 8080 in use)")
        );
        assert!(md.contains("| 2 | 190 | 380 | 0.95 |"), "{md}");
    }

    #[test]
    fn every_ratio_under_its_target_is_listed() {
        let r = |ratio: f64, target: &str| Row {
            what: "m".into(),
            ours: 1.0,
            unit: "u".into(),
            baseline: format!("b{ratio}"),
            raw: 1.0,
            ratio,
            target: target.into(),
        };
        let rows = [
            r(0.37, ">= 0.8"),
            r(0.83, ">= 0.8"),
            r(0.1, "-"),
            r(0.9, ">= 1.0"),
        ];
        let text = missed_targets(&rows);
        assert!(text.contains("(2;"), "{text}");
        assert!(text.contains("b0.37: 0.37, target >= 0.8") && text.contains("b0.9: 0.90"));
        assert!(!text.contains("b0.83") && !text.contains("b0.1"), "{text}");
        assert!(missed_targets(&rows[1..3]).contains("Every ratio target was met"));
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}

/// Chains under DynamoDB's partition limits (`votechain bench --partition-model`).
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    pub chains: u32,
    pub votes: u64,
    pub votes_per_s: f64,
    /// chains x the per-chain limit the model allows (a chain is one partition key).
    pub limit_votes_per_s: f64,
    pub ratio: f64,
    pub writer_restarts: u64,
    pub lost: i64,
    pub duplicated: i64,
    /// Write units the ledger consumed per vote (vote, marker, checkpoint share).
    pub wcu_per_vote: f64,
    pub items_per_vote: f64,
    pub bytes_per_vote: f64,
    pub throttled: u64,
}

/// The partition-model report.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub machine: String,
    /// Partitions of `votes`: one ChainWriter each, so chains above this share a writer.
    pub partitions: u32,
    pub scale: f64,
    pub key_wcu: f64,
    pub table_wcu: f64,
    pub seconds: u64,
    pub rows: Vec<ModelRow>,
}

/// Write units a vote costs on its chain's partition key: its vote item, in a transaction.
const CHAIN_WCU_PER_VOTE: f64 = 2.0;

/// Measures ChainWriter votes/s for 1, 2, 4, 8, 16 chains through the fault proxy's
/// partition-limit model (`chaos::capacity`, on the ledger table), with a writer and a
/// projector running through it. Each point produces `seconds` worth of votes at the
/// model's limit for its chains, all up front, so the writer is never short of work.
pub async fn run_partition_model(
    scale: f64,
    seconds: u64,
    partitions: u32,
    dynamodb_endpoint: Option<String>,
    progress: impl Fn(&str),
) -> Result<ModelReport, BenchError> {
    let cap = crate::chaos::capacity::CapacityConfig {
        scale,
        ..Default::default()
    };
    let b = Bench::start(0, dynamodb_endpoint, partitions, &progress).await?;
    let ddb = b.cfg.dynamodb.endpoint.clone().unwrap_or_default();
    let meta = Arc::new(kafka::base_config(&b.cfg.kafka).create::<StreamConsumer>()?);
    let restarts = crate::chaos::writer_restarts;
    let per_chain = cap.key_wcu * scale / CHAIN_WCU_PER_VOTE;
    let mut rows = vec![];
    for c in [1u32, 2, 4, 8, 16] {
        progress(&format!("{c} chain(s) under the partition model"));
        let election = format!("bench-m{c}");
        let n = ((per_chain * c as f64 * seconds as f64).ceil() as u64).max(200);
        let proxy = crate::chaos::proxy::FaultProxy::start(&ddb).await?;
        proxy
            .control
            .set_capacity(crate::chaos::capacity::CapacityConfig {
                tables: vec![b.table.clone()],
                ..cap.clone()
            });
        produce(
            &b.cfg,
            &election,
            c,
            60_000_000 + c as u64 * 1_000_000,
            n,
            256,
        )
        .await?;
        let hw = votechain::replay::high_watermarks(&meta, &b.cfg.kafka.votes_topic).await?;
        let start_sum = checkpoint_sum(&b.ledger, &b.cfg.kafka.votes_topic, b.partitions).await?;
        let before = restarts();
        let mut node_cfg = b.cfg.clone();
        node_cfg.dynamodb.endpoint = Some(proxy.endpoint.clone());
        node_cfg.roles = [
            votechain::config::Role::Writer,
            votechain::config::Role::Projector,
        ]
        .into();
        node_cfg.node.instance_id = format!("model-{c}");
        let node = Node::start(node_cfg).await?;
        // From the first commit on: the model's buckets bank unused capacity (DynamoDB's
        // burst), so a later window could spend what the writer left unused before it.
        let rate = drain_rate(
            &b.ledger,
            &b.cfg.kafka.votes_topic,
            b.partitions,
            start_sum,
            hw.values().sum(),
            n,
        )
        .await?;
        node.shutdown().await;
        let e = b.election(&election)?;
        let mut chained = 0i64;
        for chain in 0..c {
            chained += b.ledger.tip(&e, chain).await?.seq as i64;
        }
        let st = proxy.control.capacity_stats().unwrap_or_default();
        let limit = per_chain * c as f64;
        rows.push(ModelRow {
            chains: c,
            votes: n,
            votes_per_s: rate,
            limit_votes_per_s: limit,
            ratio: rate / limit,
            writer_restarts: restarts().saturating_sub(before),
            lost: (n as i64 - chained).max(0),
            duplicated: (chained - n as i64).max(0),
            wcu_per_vote: st.wcu / n as f64,
            items_per_vote: st.items_written as f64 / n as f64,
            bytes_per_vote: st.bytes_written as f64 / n as f64,
            throttled: st.throttled_key + st.throttled_table,
        });
    }
    Ok(ModelReport {
        machine: machine(),
        partitions,
        scale,
        key_wcu: cap.key_wcu,
        table_wcu: cap.table_wcu,
        seconds,
        rows,
    })
}

impl ModelReport {
    pub fn markdown(&self, command: &str) -> String {
        let mut s = String::new();
        s.push_str("# Chains under DynamoDB's partition limits\n\nProduced by the command below, not typed by hand. DynamoDB Local has no throughput limits (every table shares one SQLite writer, so throughput stops growing at one chain); here every ledger call goes through the fault proxy's partition-limit model (`crates/tools/src/chaos/capacity.rs`: what it models and what it does not), with a writer and a projector running through it.\n\n");
        let (kw, tw) = (self.key_wcu * self.scale, self.table_wcu * self.scale);
        s.push_str(&format!(
            "- machine: {}; `votes` has {} partitions (one ChainWriter transaction at a time each)\n",
            self.machine, self.partitions
        ));
        s.push_str(&format!(
            "- model: {:.0} WCU/s per partition key and {:.0} per table, times {} = {kw:.0} and {tw:.0}; a chain is one partition key and a vote costs it {CHAIN_WCU_PER_VOTE} WCU (its item, in a transaction), so one chain allows {:.0} votes/s\n",
            self.key_wcu,
            self.table_wcu,
            self.scale,
            kw / CHAIN_WCU_PER_VOTE
        ));
        s.push_str(&format!(
            "- {} s of votes per point at the model's limit, produced before the writer starts; the rate is measured from the first commit (a bucket starts with one second of its rate and banks unused capacity up to 300 s, as DynamoDB's burst capacity does)\n",
            self.seconds
        ));
        s.push_str("- WCU/vote, items/vote, bytes/vote: what the ledger table consumed per vote (its vote item, its marker, a share of the partition checkpoint), as the model counted it\n");
        s.push_str(&format!("- command: `{command}`\n\n"));
        s.push_str("| chains | votes | votes/s | limit (chains x per-chain) | ratio (target >= 0.8) | writer restarts | lost | duplicated | throttled calls | WCU/vote | items/vote | bytes/vote |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for r in &self.rows {
            s.push_str(&format!(
                "| {} | {} | {:.1} | {:.0} | {:.2} | {} | {} | {} | {} | {:.2} | {:.2} | {:.0} |\n",
                r.chains,
                r.votes,
                r.votes_per_s,
                r.limit_votes_per_s,
                r.ratio,
                r.writer_restarts,
                r.lost,
                r.duplicated,
                r.throttled,
                r.wcu_per_vote,
                r.items_per_vote,
                r.bytes_per_vote
            ));
        }
        s
    }
}
