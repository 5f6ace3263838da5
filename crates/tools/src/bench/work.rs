//! `votechain bench --capacity`: the work one vote costs, measured, for `docs/capacity.md`.
//!
//! 1. **Backend work.** One node runs every role (ingest, writer, projector, publisher,
//!    query) with its DynamoDB and Streams calls through the fault proxy's meter
//!    (`chaos/meter.rs`: units as DynamoDB bills them). The meter first watches the idle
//!    node for `IDLE_S` (leases, heartbeats, polls: work per second, whatever the votes),
//!    then votes arrive over HTTP at a steady rate until all are counted and published.
//!    Work per vote = (work of the loaded window − the idle rate × its length) / votes.
//! 2. **Kafka.** Records and bytes (key, value, headers) per vote in `votes` and
//!    `vote-audit`, read back from the log.
//! 3. **CPU per role.** Each role alone, on a backlog of fresh votes: process CPU time
//!    (getrusage) per vote. For ingest it includes the HTTP load client (in-process): an
//!    upper bound. Kafka and DynamoDB Local are separate processes and not included.
//! 4. **Reads by the public.** Work of one results request and one receipt lookup.

use super::*;
use crate::chaos::meter::{Metered, Work};
use crate::chaos::proxy::FaultProxy;
use votechain::config::Role;

/// The election measured: 2 chains, so that at the default 600 votes/s each chain takes
/// about what the capacity model gives a chain (work per chain per second, e.g. partial
/// log tiles, is then spread over as many votes as in the plans).
const ELECTION: &str = "bench-2";
/// Seconds the meter watches the idle node.
const IDLE_S: u64 = 10;
/// Votes of each CPU-per-role measure.
const CPU_VOTES: u64 = 6000;
/// Public reads metered, of each kind.
const READS: u64 = 200;

/// Work per vote on one table and item kind.
#[derive(Debug, Clone, Serialize)]
pub struct TableWork {
    /// `ledger`, `results` or `leases`.
    pub table: String,
    pub kind: String,
    pub wcu: f64,
    pub rcu: f64,
    pub items_written: f64,
    pub bytes_written: f64,
}

/// What `votechain bench --capacity` measured.
#[derive(Debug, Clone, Serialize)]
pub struct WorkReport {
    pub machine: String,
    pub votes: u64,
    pub offered_per_s: f64,
    /// Length of the loaded window (first vote sent to the last published).
    pub seconds: f64,
    pub chains: u32,
    pub partitions: u32,
    /// Per vote.
    pub per_vote: Vec<TableWork>,
    /// Per second of an idle node running every role.
    pub idle_per_s: Vec<TableWork>,
    /// Streams calls per vote, by operation, and records read per vote.
    pub stream_calls_per_vote: BTreeMap<String, f64>,
    pub stream_records_per_vote: f64,
    pub stream_calls_idle_per_s: f64,
    /// Kafka records and bytes per vote, by topic.
    pub kafka: BTreeMap<String, (f64, f64)>,
    /// Process CPU milliseconds per vote, by role.
    pub cpu_ms_per_vote: BTreeMap<String, f64>,
    /// Read units of one results request and one receipt lookup.
    pub results_rcu: f64,
    pub receipt_rcu: f64,
    /// Chains of all the elections the idle node served (its ledger polls are per chain).
    pub idle_chains: u32,
    /// Ledger bytes stored per vote after the run (items' sizes plus DynamoDB's 100 bytes
    /// of overhead per item), a partial tile counted once however often it was rewritten.
    pub stored_bytes_per_vote: f64,
}

impl WorkReport {
    /// Write units per vote on the chain's own partition key (vote items and the chain's
    /// log): what bounds one chain's votes/s.
    pub fn chain_key_wcu(&self) -> f64 {
        self.per_vote
            .iter()
            .filter(|w| w.table == "ledger" && (w.kind == "ELECTION" || w.kind == "LOG"))
            .map(|w| w.wcu)
            .sum()
    }
    /// Totals per vote (or per second) of `rows`: (WCU, RCU, bytes written).
    pub fn sum(rows: &[TableWork]) -> (f64, f64, f64) {
        rows.iter().fold((0.0, 0.0, 0.0), |a, w| {
            (a.0 + w.wcu, a.1 + w.rcu, a.2 + w.bytes_written)
        })
    }
}

/// Process CPU time so far, seconds (user + system).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn rows(
    m: &Metered,
    names: &[(&str, &str)],
    per: f64,
    idle: Option<(&Metered, f64)>,
) -> Vec<TableWork> {
    let label = |t: &str| {
        names
            .iter()
            .find(|(n, _)| *n == t)
            .map_or(t.to_string(), |(_, l)| l.to_string())
    };
    let zero = Work::default();
    m.tables
        .iter()
        .map(|((t, k), w)| {
            let (i, secs) = idle.map_or((&zero, 0.0), |(i, s)| {
                (i.tables.get(&(t.clone(), k.clone())).unwrap_or(&zero), s)
            });
            let net = |load: f64, idle_total: f64| (load - idle_total * secs).max(0.0) / per;
            TableWork {
                table: label(t),
                kind: k.clone(),
                wcu: net(w.wcu, i.wcu),
                rcu: net(w.rcu, i.rcu),
                items_written: net(w.items_written as f64, i.items_written as f64),
                bytes_written: net(w.bytes_written as f64, i.bytes_written as f64),
            }
        })
        .filter(|w| w.wcu + w.rcu > 0.0)
        .collect()
}

/// `m` scaled to per second over `secs`.
fn per_second(m: &Metered, secs: f64) -> Metered {
    let mut out = m.clone();
    for w in out.tables.values_mut() {
        w.wcu /= secs;
        w.rcu /= secs;
        w.items_written = (w.items_written as f64 / secs).round() as u64;
        w.bytes_written = (w.bytes_written as f64 / secs).round() as u64;
    }
    out
}

impl<P: Fn(&str)> Bench<P> {
    fn names(&self) -> [(&str, &str); 3] {
        let d = &self.cfg.dynamodb;
        [
            (d.ledger_table.as_str(), "ledger"),
            (d.results_table.as_str(), "results"),
            (d.lease_table.as_str(), "leases"),
        ]
    }

    /// Votes of the main election counted in the read model, in the ledger, and published.
    async fn progress_of(
        &self,
        logs: &votechain::logstore::LogStore,
    ) -> Result<[u64; 3], BenchError> {
        let e = self.election(ELECTION)?;
        let counted = votechain::projector::results::read(
            &self.db,
            &self.cfg.dynamodb.results_table,
            &self.cfg.registry(),
            ELECTION,
            false,
        )
        .await?
        .total;
        let (mut chained, mut published) = (0, 0);
        for c in 0..e.chains {
            chained += self.ledger.tip(&e, c).await?.seq;
            published += logs
                .published(ELECTION, c)
                .await
                .map_err(|err| BenchError::Setup(err.to_string()))?
                .map_or(0, |p| p.size);
        }
        Ok([counted, chained, published])
    }

    /// Waits until `want` says the pipeline is done (at most 10 minutes).
    async fn until(&self, want: impl Fn([u64; 3]) -> bool) -> Result<(), BenchError> {
        let logs = votechain::logstore::LogStore {
            db: self.db.clone(),
            table: self.table.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let p = self.progress_of(&logs).await?;
            if want(p) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(
                    format!("the pipeline stalled at {p:?} (counted, chained, published)").into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kafka records and bytes of `topic` (everything in it: this bench's only run).
    async fn topic_bytes(&self, topic: &str) -> Result<(u64, u64), BenchError> {
        use rdkafka::message::{Headers, Message};
        let meta = Arc::new(kafka::base_config(&self.cfg.kafka).create::<StreamConsumer>()?);
        let hw = votechain::replay::high_watermarks(&meta, topic).await?;
        let consumer = votechain::replay::consumer(&kafka::base_config(&self.cfg.kafka))?;
        votechain::replay::assign(&consumer, topic, hw.keys().copied(), &Default::default())?;
        let (mut n, mut bytes) = (0u64, 0u64);
        while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await {
            n += 1;
            bytes += (m.key().map_or(0, |k| k.len()) + m.payload().map_or(0, |p| p.len())) as u64;
            if let Some(h) = m.headers() {
                for x in h.iter() {
                    bytes += (x.key.len() + x.value.map_or(0, |v| v.len())) as u64;
                }
            }
        }
        Ok((n, bytes))
    }

    /// CPU ms per vote of `role` alone, catching up on what the earlier phase left.
    async fn cpu_of(
        &self,
        base: &Config,
        role: Role,
        done: impl Fn([u64; 3]) -> bool,
    ) -> Result<f64, BenchError> {
        let mut c = base.clone();
        c.roles = [role].into();
        c.node.instance_id = format!("capacity-{}", role.as_str());
        let cpu0 = cpu_seconds();
        let node = Node::start(c).await?;
        self.until(done).await?;
        let cpu = cpu_seconds() - cpu0;
        node.shutdown().await;
        Ok(cpu * 1000.0 / CPU_VOTES as f64)
    }
}

/// The measure (module doc).
pub async fn run_capacity(
    votes: u64,
    rate: f64,
    dynamodb_endpoint: Option<String>,
    progress: impl Fn(&str),
) -> Result<WorkReport, BenchError> {
    let _metrics = votechain::metrics::install();
    let b = Bench::start(votes, dynamodb_endpoint, 8, progress).await?;
    let proxy = FaultProxy::start(b.cfg.dynamodb.endpoint.as_deref().unwrap_or_default()).await?;
    let keys = tempfile::tempdir()?;
    let mut cfg = with_log_keys(&b.cfg, keys.path())?;
    cfg.dynamodb.endpoint = Some(proxy.endpoint.clone());
    cfg.roles = [
        Role::Ingest,
        Role::Writer,
        Role::Projector,
        Role::Publisher,
        Role::Query,
    ]
    .into();
    cfg.node.instance_id = "capacity".into();
    let node = Node::start(cfg).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    (b.progress)("idle node, metered");
    proxy.control.start_meter();
    tokio::time::sleep(Duration::from_secs(IDLE_S)).await;
    let idle = proxy.control.metered().unwrap_or_default();
    (b.progress)(&format!("{votes} votes at {rate:.0}/s, metered"));
    let t0 = Instant::now();
    let url = format!("http://{}/v1/elections/{ELECTION}/votes", node.http_addr);
    let voters = Voters::new(32)?;
    let pace = Duration::from_secs_f64(32.0 / rate.max(1.0));
    voters.blast(url, votes, 32, Some(pace), 70_000_000).await;
    b.until(|[counted, _, published]| counted >= votes && published >= votes)
        .await?;
    let seconds = t0.elapsed().as_secs_f64();
    let load = proxy.control.metered().unwrap_or_default().since(&idle);
    let stored = stored_bytes(&b.db, &b.table).await?;
    (b.progress)("public reads, metered");
    let before = proxy.control.metered().unwrap_or_default();
    let http = reqwest::Client::new();
    let base = format!("http://{}/v1/elections/{ELECTION}", node.http_addr);
    for _ in 0..READS {
        http.get(format!("{base}/results"))
            .send()
            .await?
            .error_for_status()?;
    }
    let mid = proxy.control.metered().unwrap_or_default();
    for i in 0..READS {
        let id = event(ELECTION, 8, 70_000_000 + i).vote_id;
        http.get(format!("{base}/votes/{id}"))
            .bearer_auth("bench-key")
            .send()
            .await?;
    }
    let after = proxy.control.metered().unwrap_or_default();
    node.shutdown().await;
    let per = |m: &Metered| {
        let (_, r, _) = WorkReport::sum(&rows(m, &b.names(), READS as f64, None));
        r
    };
    let (results_rcu, receipt_rcu) = (per(&mid.since(&before)), per(&after.since(&mid)));
    let mut kafka = BTreeMap::new();
    for t in [&b.cfg.kafka.votes_topic, &b.cfg.kafka.audit_topic] {
        let (n, bytes) = b.topic_bytes(t).await?;
        kafka.insert(
            t.clone(),
            (n as f64 / votes as f64, bytes as f64 / votes as f64),
        );
    }
    let cpu = cpu_per_role(&b, &with_log_keys(&b.cfg, keys.path())?, votes).await?;
    let idle_rate = per_second(&idle, IDLE_S as f64);
    let streams_idle: u64 = idle.stream_calls.values().sum();
    Ok(WorkReport {
        machine: machine(),
        votes,
        offered_per_s: rate,
        seconds,
        chains: b.election(ELECTION)?.chains,
        partitions: b.partitions,
        per_vote: rows(&load, &b.names(), votes as f64, Some((&idle_rate, seconds))),
        idle_per_s: rows(&idle_rate, &b.names(), 1.0, None),
        stream_calls_per_vote: load
            .stream_calls
            .iter()
            .map(|(op, n)| {
                let idle_n = idle.stream_calls.get(op).copied().unwrap_or(0) as f64;
                let net = *n as f64 - idle_n / IDLE_S as f64 * seconds;
                (op.clone(), net.max(0.0) / votes as f64)
            })
            .collect(),
        stream_records_per_vote: load.stream_records as f64 / votes as f64,
        stream_calls_idle_per_s: streams_idle as f64 / IDLE_S as f64,
        kafka,
        cpu_ms_per_vote: cpu,
        results_rcu,
        receipt_rcu,
        idle_chains: b.cfg.registry().iter().map(|e| e.chains).sum(),
        stored_bytes_per_vote: stored as f64 / votes as f64,
    })
}

/// Bytes the ledger stores (a Scan: item sizes plus 100 bytes each, DynamoDB's rule).
async fn stored_bytes(db: &aws_sdk_dynamodb::Client, table: &str) -> Result<u64, BenchError> {
    let mut pages = db.scan().table_name(table).into_paginator().items().send();
    let mut bytes = 0u64;
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| BenchError::Setup(dynamo::describe(&e)))?;
        bytes += 100;
        for (k, v) in &item {
            bytes += k.len() as u64 + attr_size(v);
        }
    }
    Ok(bytes)
}

fn attr_size(v: &AttributeValue) -> u64 {
    match v {
        AttributeValue::S(s) => s.len() as u64,
        AttributeValue::N(n) => n.len() as u64 / 2 + 1,
        AttributeValue::B(b) => b.as_ref().len() as u64,
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() as u64 + attr_size(v))
                .sum::<u64>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + attr_size(v)).sum::<u64>(),
        AttributeValue::Ss(l) => l.iter().map(|s| s.len() as u64).sum(),
        _ => 1,
    }
}

/// CPU ms per vote of each role alone (module doc, 3).
async fn cpu_per_role<P: Fn(&str)>(
    b: &Bench<P>,
    base: &Config,
    before: u64,
) -> Result<BTreeMap<String, f64>, BenchError> {
    let n = before + CPU_VOTES;
    let mut out = BTreeMap::new();
    (b.progress)("CPU of ingest alone");
    let mut c = b.cfg.clone();
    c.roles = [Role::Ingest].into();
    c.node.instance_id = "capacity-ingest".into();
    let node = Node::start(c).await?;
    let url = format!("http://{}/v1/elections/{ELECTION}/votes", node.http_addr);
    let cpu0 = cpu_seconds();
    Voters::new(64)?
        .blast(url, CPU_VOTES, 64, None, 71_000_000)
        .await;
    out.insert(
        "ingest".into(),
        (cpu_seconds() - cpu0) * 1000.0 / CPU_VOTES as f64,
    );
    node.shutdown().await;
    for (role, name) in [
        (Role::Writer, "writer"),
        (Role::Projector, "projector"),
        (Role::Publisher, "publisher"),
    ] {
        (b.progress)(&format!("CPU of the {name} alone"));
        let ms = match role {
            Role::Writer => b.cpu_of(base, role, |[_, chained, _]| chained >= n).await?,
            Role::Projector => b.cpu_of(base, role, |[counted, _, _]| counted >= n).await?,
            _ => {
                b.cpu_of(base, role, |[_, _, published]| published >= n)
                    .await?
            }
        };
        out.insert(name.into(), ms);
    }
    Ok(out)
}
