//! The chaos suite: `votechain chaos run chaos/<scenario>.toml` (and the tests) drive
//! load through the HTTP API while injecting faults from a scenario file, then run the
//! checker and print a report.
//!
//! The world of one run ([`world`]): DynamoDB Local behind a [`proxy::FaultProxy`],
//! Apache Kafka (three KRaft brokers by default; [`brokers`] kills, pauses and restarts
//! them) or, for the faults only it can inject, librdkafka's mock cluster; an in-process
//! node for the roles not listed in `processes`, and `votechain run` child processes
//! ([`procs`]) for those that are, so they can be SIGKILLed and restarted. The faults run
//! on their [`timeline`] while the [`load`] votes; the [`check`]er then judges the ledger.

pub mod brokers;
pub mod capacity;
pub mod check;
pub mod forge;
pub mod load;
pub mod meter;
pub mod procs;
pub mod proxy;
pub mod scenario;
pub mod streams;
pub mod timeline;
pub mod world;

use brokers::{BrokerDriver, ChaosKafka};
use procs::Processes;
use scenario::Scenario;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use timeline::{Engine, Timeline};
use votechain::runtime::Node;
use world::{CANDIDATES, ELECTION, REGIONS, World};

/// Where a run finds what it needs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// A running DynamoDB Local; `None`: start one.
    pub dynamodb_endpoint: Option<String>,
    /// The `votechain` binary for role processes; `None`: this executable.
    pub binary: Option<PathBuf>,
    /// Quiet time after the faults for the pipeline to settle before the verdict fails.
    pub settle: Duration,
    /// Testing the checker itself: after the verdict, forge a duplicate vote into chain 0
    /// (past the writer, straight into DynamoDB) and check again ([`Report::forged`]).
    pub forge_duplicate: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub duration_s: u64,
    /// The Kafka of the run: `apache x3`, `mock x3`.
    pub kafka: String,
    pub faults_injected: BTreeMap<String, u64>,
    pub actor_restarts: u64,
    /// Restarts of the writer's actors (chain_writer, writer_coordinator) alone.
    pub writer_restarts: u64,
    pub process_restarts: u64,
    pub client_attempts: u64,
    pub client_retries: u64,
    pub dynamodb_proxy: BTreeMap<String, u64>,
    /// Every fault as it happened (seconds from the load's start).
    pub fault_windows: Vec<brokers::FaultWindow>,
    /// p99 of the seconds from a vote's first send to its 202, over every vote.
    pub ack_p99_s: Option<f64>,
    /// The same over the votes first sent while a Kafka fault was on.
    pub kafka_fault_ack_p99_s: Option<f64>,
    /// The longest time within the fault window in which no vote got a 202.
    pub longest_stall_s: f64,
    pub verdict: check::Verdict,
    pub passed: bool,
    /// With `forge_duplicate`: the checker's verdict on the forged ledger (it must fail).
    pub forged: Option<check::Verdict>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = &self.verdict;
        writeln!(
            f,
            "chaos scenario {} ({} s of faults)",
            self.scenario, self.duration_s
        )?;
        writeln!(f, "  kafka: {}", self.kafka)?;
        writeln!(f, "  faults injected: {:?}", self.faults_injected)?;
        for w in &self.fault_windows {
            let broker = w.broker.map(|b| format!(" broker {b}")).unwrap_or_default();
            let problem = w
                .problem
                .as_deref()
                .map(|p| format!(" PROBLEM: {p}"))
                .unwrap_or_default();
            writeln!(
                f,
                "    {}{broker}: {:.1}-{:.1} s{problem}",
                w.fault, w.from_s, w.to_s
            )?;
        }
        let ms = |s: Option<f64>| {
            s.map(|s| format!("{:.0} ms", s * 1000.0))
                .unwrap_or("-".into())
        };
        writeln!(
            f,
            "  time to 202: p99 {} (votes sent during Kafka faults: {}); longest stall {:.1} s",
            ms(self.ack_p99_s),
            match (self.kafka_fault_ack_p99_s, self.fault_windows.is_empty()) {
                (None, false) => "none first sent then: every client was retrying".into(),
                (p99, _) => ms(p99),
            },
            self.longest_stall_s
        )?;
        writeln!(f, "  dynamodb proxy:  {:?}", self.dynamodb_proxy)?;
        writeln!(
            f,
            "  restarts: {} actor ({} of the writer), {} process",
            self.actor_restarts, self.writer_restarts, self.process_restarts
        )?;
        writeln!(
            f,
            "  client attempts {} (retries {})",
            self.client_attempts, self.client_retries
        )?;
        writeln!(
            f,
            "  votes: submitted {} / acknowledged {} / chained {}",
            v.submitted, v.acknowledged, v.chained
        )?;
        writeln!(
            f,
            "  lost = {}, duplicated = {}, phantom = {}",
            v.lost, v.duplicated, v.phantom
        )?;
        writeln!(
            f,
            "  verify: {}, recount: {}",
            if v.verify_intact { "intact" } else { "BROKEN" },
            if v.recount_agrees {
                "agrees"
            } else {
                "DISAGREES"
            }
        )?;
        for p in &v.problems {
            writeln!(f, "  problem: {p}")?;
        }
        write!(f, "{}", if self.passed { "PASSED" } else { "FAILED" })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    #[error("{0}")]
    Setup(String),
    #[error("checking: {0}")]
    Check(#[from] check::CheckError),
}

fn setup<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> ChaosError {
    move |e| ChaosError::Setup(format!("{what}: {e}"))
}

/// Runs one scenario end to end and returns its report (`passed` says whether the checker
/// held).
pub async fn run(s: &Scenario, opts: RunOptions) -> Result<Report, ChaosError> {
    votechain::metrics::install();
    let mut world = World::start(s, &opts).await?;
    let in_process: Vec<&str> = ["ingest", "query", "writer", "projector"]
        .into_iter()
        .filter(|r| !s.processes.iter().any(|p| p == r))
        .collect();
    let node = match in_process.is_empty() {
        true => None,
        false => {
            let cfg = world.config(&in_process, "chaos-0", "127.0.0.1:0")?;
            Some(Node::start(cfg).await.map_err(setup("node"))?)
        }
    };
    let dir = tempfile::tempdir().map_err(setup("temp dir"))?;
    let mut procs = start_processes(s, &opts, &world, dir.path()).await?;
    let ingest = ingest_instances(node.as_ref(), &procs);
    let restarts_before = restarts_total();
    let writer_restarts_before = writer_restarts();

    let stop = Arc::new(AtomicBool::new(false));
    let load = load_of(s, &ingest);
    let t0 = tokio::time::Instant::now();
    let load_task = tokio::spawn(load.run(stop.clone(), Duration::from_secs(60)));
    let engine = engine_of(world.kafka_take(), s, &ingest, &world, t0);
    let outcome = Timeline {
        scenario: s,
        engine: &engine,
        proxy: &world.proxy,
        table: &world.roles.table,
        node: node.as_ref(),
        procs: &mut procs,
        t0,
    }
    .run()
    .await;
    let broker_windows = match engine {
        Engine::Apache(d) => {
            let (kafka, windows) = d.finish().await;
            world.kafka = kafka.map(ChaosKafka::Apache);
            windows
        }
        Engine::Mock(m) => {
            world.kafka = Some(ChaosKafka::Mock(m));
            vec![]
        }
    };
    let mut outcome = outcome?;
    outcome.process_restarts += procs.start_stopped();
    stop.store(true, Ordering::Relaxed);
    let book = load_task.await.map_err(setup("load task"))?;
    let settle = match opts.settle.is_zero() {
        true => Duration::from_secs(90),
        false => opts.settle,
    };
    let mut verdict =
        check::check(&world.check_cfg, &world.ledger, ELECTION, &book, settle).await?;
    for w in &broker_windows {
        if let Some(p) = &w.problem {
            verdict
                .problems
                .push(format!("{} did not happen as asked: {p}", w.fault));
        }
    }
    let forged = forge_and_check(s, &opts, &world, &book).await?;
    let windows = fault_windows(&outcome, &broker_windows);
    let kafka_windows: Vec<(f64, f64)> = windows
        .iter()
        .filter(|w| w.fault.starts_with("kafka"))
        .map(|w| (w.from_s, w.to_s))
        .collect();
    let report = Report {
        scenario: s.name.clone(),
        duration_s: s.duration_s,
        kafka: format!("{:?} x{}", s.kafka, s.brokers).to_lowercase(),
        faults_injected: outcome.counts,
        actor_restarts: restarts_total().saturating_sub(restarts_before),
        writer_restarts: writer_restarts().saturating_sub(writer_restarts_before),
        process_restarts: outcome.process_restarts,
        client_attempts: book.attempts,
        client_retries: book.retries,
        dynamodb_proxy: proxy_counts(&world.proxy),
        ack_p99_s: book.ack_quantile(0.99, None),
        kafka_fault_ack_p99_s: match kafka_windows.is_empty() {
            true => None,
            false => book.ack_quantile(0.99, Some(&kafka_windows)),
        },
        longest_stall_s: book.longest_stall(s.duration_s as f64),
        fault_windows: windows,
        passed: verdict.passed() && broker_windows.iter().all(|w| w.problem.is_none()),
        verdict,
        forged,
    };
    drop(procs);
    if let Some(n) = node {
        n.shutdown().await;
    }
    if let Some(ChaosKafka::Apache(k)) = world.kafka.take() {
        k.shutdown().await;
    }
    Ok(report)
}

/// The role processes of the scenario, started and answering.
async fn start_processes(
    s: &Scenario,
    opts: &RunOptions,
    world: &World,
    dir: &std::path::Path,
) -> Result<Processes, ChaosError> {
    if s.processes.is_empty() {
        return Ok(Processes::default());
    }
    let binary = match &opts.binary {
        Some(b) => b.clone(),
        None => crate::node_binary().map_err(ChaosError::Setup)?,
    };
    let toml = |role: &str, instance: &str, addr: &str| {
        world.roles.toml(&[role], instance, addr, &world.elections)
    };
    let procs =
        Processes::start(&s.processes, &binary, dir, toml).map_err(setup("role process"))?;
    let late = procs.wait_healthy(Duration::from_secs(90)).await;
    if !late.is_empty() {
        return Err(ChaosError::Setup(format!(
            "role processes not answering /healthz after 90 s: {}",
            late.join(", ")
        )));
    }
    Ok(procs)
}

/// Every ingest instance: its votes URL and its instance id.
fn ingest_instances(node: Option<&Node>, procs: &Processes) -> Vec<(String, String)> {
    let path = format!("/v1/elections/{ELECTION}/votes");
    let mut out = vec![];
    if let Some(n) = node.filter(|n| n.config.runs(votechain::config::Role::Ingest)) {
        out.push((
            format!("http://{}{path}", n.http_addr),
            n.config.node.instance_id.clone(),
        ));
    }
    for i in procs.of_role("ingest") {
        out.push((
            format!("{}{path}", procs.all[i].base_url),
            procs::instance_id(i),
        ));
    }
    out
}

fn load_of(s: &Scenario, ingest: &[(String, String)]) -> load::Load {
    load::Load {
        urls: ingest.iter().map(|(u, _)| u.clone()).collect(),
        key: "chaos-key".into(),
        election: ELECTION.into(),
        candidates: CANDIDATES.map(String::from).to_vec(),
        regions: REGIONS.map(String::from).to_vec(),
        rate: s.rate,
        clients: s.clients,
        resubmit_share: s.resubmit_share,
        timeout: Duration::from_millis(s.client.timeout_ms),
        drop_answer_share: s.client.drop_answer_share,
    }
}

/// The timeline's Kafka: a driver over Apache Kafka, or the mock cluster.
fn engine_of(
    kafka: ChaosKafka,
    s: &Scenario,
    ingest: &[(String, String)],
    world: &World,
    t0: tokio::time::Instant,
) -> Engine {
    match kafka {
        ChaosKafka::Mock(m) => Engine::Mock(m),
        ChaosKafka::Apache(k) => {
            let cfg = &world.check_cfg.kafka;
            let first = ingest
                .first()
                .map(|(_, id)| id.as_str())
                .unwrap_or("chaos-0");
            let targets = brokers::Targets {
                votes_topic: cfg.votes_topic.clone(),
                votes_partition: votechain_core::model::partition_of(ELECTION, 0, s.partitions)
                    as i32,
                transactional_id: format!("votechain-ingest-{first}"),
                topics: vec![
                    cfg.votes_topic.clone(),
                    cfg.audit_topic.clone(),
                    "__transaction_state".into(),
                ],
            };
            Engine::Apache(BrokerDriver::start(k, targets, t0))
        }
    }
}

/// With `forge_duplicate`: the checker's verdict once a duplicate vote is forged into chain
/// 0 (the load is over and drained: no writer appends to chain 0 any more).
async fn forge_and_check(
    s: &Scenario,
    opts: &RunOptions,
    world: &World,
    book: &load::Book,
) -> Result<Option<check::Verdict>, ChaosError> {
    if !opts.forge_duplicate {
        return Ok(None);
    }
    forge::duplicate_at_tip(&world.ledger, ELECTION, 0, s.chains)
        .await
        .map_err(setup("forging a duplicate"))?;
    let v = check::check(
        &world.check_cfg,
        &world.ledger,
        ELECTION,
        book,
        Duration::from_secs(3),
    )
    .await?;
    Ok(Some(v))
}

/// Every fault window of the run, in time order.
fn fault_windows(
    outcome: &timeline::Outcome,
    brokers: &[brokers::FaultWindow],
) -> Vec<brokers::FaultWindow> {
    let mut all: Vec<brokers::FaultWindow> = brokers.to_vec();
    all.extend(
        outcome
            .windows
            .iter()
            .map(|(f, a, b)| brokers::FaultWindow {
                fault: f.clone(),
                broker: None,
                from_s: *a,
                to_s: *b,
                problem: None,
            }),
    );
    all.sort_by(|a, b| a.from_s.total_cmp(&b.from_s));
    all
}

fn proxy_counts(proxy: &proxy::FaultProxy) -> BTreeMap<String, u64> {
    let inj = proxy.control.injected();
    BTreeMap::from([
        ("requests".into(), inj.requests),
        ("delayed".into(), inj.delayed),
        ("reset_before".into(), inj.reset_before),
        ("reset_after".into(), inj.reset_after),
        ("errors".into(), inj.errors),
        ("blackholed".into(), inj.blackholed),
        ("throttled".into(), inj.throttled),
    ])
}

/// Restarts of the writer's actors in this process (the chaos report and the bench's
/// partition-model measure).
pub fn writer_restarts() -> u64 {
    let text = votechain::metrics::render(&votechain::metrics::install());
    ["chain_writer", "writer_coordinator"]
        .iter()
        .map(|k| {
            let filter = format!("actor_kind=\"{k}\"");
            votechain::metrics::sum_series(&text, votechain::metrics::ACTOR_RESTARTS, &filter)
        })
        .sum::<f64>() as u64
}

/// Sum of `votechain_actor_restarts_total` in this process.
fn restarts_total() -> u64 {
    votechain::metrics::sum_series(
        &votechain::metrics::render(&votechain::metrics::install()),
        votechain::metrics::ACTOR_RESTARTS,
        "",
    ) as u64
}
