//! The chaos suite: `votechain chaos run chaos/<scenario>.toml` (and the tests) drive
//! load through the HTTP API while injecting faults from a scenario file, then run the
//! checker and print a report.
//!
//! The world of one run: DynamoDB Local behind a [`proxy::FaultProxy`], the embedded Kafka
//! mock cluster (its own fault injection: brokers down, round-trip time, request errors),
//! an in-process node for the roles not listed in `processes`, and `votechain run` child
//! processes for those that are (so they can be SIGKILLed and restarted).

pub mod capacity;
pub mod check;
pub mod forge;
pub mod load;
pub mod meter;
pub mod proxy;
pub mod scenario;
pub mod streams;

use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use scenario::{Fault, Scenario};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use votechain::config::Config;
use votechain::dev::DynamoDbLocal;
use votechain::dynamo::{self, ledger::Ledger};
use votechain::kafka::EmbeddedKafka;
use votechain::runtime::Node;
use votechain::tables;

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
    pub faults_injected: BTreeMap<String, u64>,
    pub actor_restarts: u64,
    /// Restarts of the writer's actors (chain_writer, writer_coordinator) alone.
    pub writer_restarts: u64,
    pub process_restarts: u64,
    pub client_attempts: u64,
    pub client_retries: u64,
    pub dynamodb_proxy: BTreeMap<String, u64>,
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
        writeln!(f, "  faults injected: {:?}", self.faults_injected)?;
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

/// A `votechain run` child process for one role, restartable.
struct RoleProcess {
    binary: PathBuf,
    config: PathBuf,
    child: Option<std::process::Child>,
}

impl RoleProcess {
    fn start(&mut self) -> std::io::Result<()> {
        let mut cmd = std::process::Command::new(&self.binary);
        cmd.args(["run", "--config"])
            .arg(&self.config)
            .env("VOTECHAIN_LOG", "warn,rdkafka=off,librdkafka=off")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        self.child = Some(votechain::process::die_with_parent(&mut cmd).spawn()?);
        Ok(())
    }
    fn sigkill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL: no drain, no checkpoint, no lease release
            let _ = c.wait();
        }
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        self.sigkill();
    }
}

fn api_key(name: &str) -> Option<RDKafkaApiKey> {
    Some(match name {
        "produce" => RDKafkaApiKey::Produce,
        "fetch" => RDKafkaApiKey::Fetch,
        "end_txn" => RDKafkaApiKey::EndTxn,
        "add_partitions_to_txn" => RDKafkaApiKey::AddPartitionsToTxn,
        "init_producer_id" => RDKafkaApiKey::InitProducerId,
        _ => return None,
    })
}

/// Runs one scenario end to end and returns its report (`passed` says whether the checker held).
pub async fn run(s: &Scenario, opts: RunOptions) -> Result<Report, ChaosError> {
    votechain::metrics::install();
    let _ddb_local;
    let ddb_ep = match &opts.dynamodb_endpoint {
        Some(ep) => ep.clone(),
        None => {
            let d = DynamoDbLocal::start_on_free_port()
                .await
                .map_err(setup("DynamoDB Local"))?;
            let ep = d.endpoint.clone();
            _ddb_local = Some(d);
            ep
        }
    };
    let proxy = proxy::FaultProxy::start(&ddb_ep)
        .await
        .map_err(setup("fault proxy"))?;
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let table = format!("chaos-{}-{suffix}", s.name);
    let in_process: Vec<&str> = ["ingest", "query", "writer", "projector"]
        .into_iter()
        .filter(|r| !s.processes.iter().any(|p| p == r))
        .collect();
    let toml = |roles: &[&str], instance: &str, bootstrap: &str, elections: &str| {
        format!(
            r#"roles = {roles:?}
{local}[projector]
failover_ms = 2000
idle_poll_ms = 100
[ingest]
clients = [{{ id = "chaos", key = "chaos-key" }}]
transaction_timeout_ms = 5000
[writer]
retry_initial_ms = 20
retry_max_ms = 1000
[supervision]
intensity = {{ max_restarts = 10000, period = 60000 }}
backoff = {{ initial = 20, max = 1000, factor = 2.0 }}
{elections}"#,
            // A blackholed call gives up after 1.5 s and is retried (default 10 s).
            local = crate::fixture::local_toml(
                instance,
                bootstrap,
                &proxy.endpoint,
                &table,
                s.partitions
            )
            .replace(
                "local_credentials = true\n",
                "local_credentials = true\nconnect_timeout_ms = 1000\nattempt_timeout_ms = 1500\n"
            ),
        )
    };
    // Kafka first (its bootstrap goes into every config).
    let mut kcfg = votechain::config::KafkaConfig {
        embedded: true,
        partitions: s.partitions,
        replication_factor: 3,
        embedded_brokers: 3,
        ..Default::default()
    };
    kcfg.bootstrap_servers.clear();
    let kafka = EmbeddedKafka::start(&kcfg).map_err(setup("embedded Kafka"))?;
    let bootstrap = kafka.bootstrap_servers();
    // Tables and the election's manifest straight on DynamoDB Local, not through the faults.
    let bare =
        Config::from_toml(&toml(&["query"], "chaos-0", &bootstrap, "")).map_err(setup("config"))?;
    let direct_cfg = votechain::config::DynamoConfig {
        endpoint: Some(ddb_ep.clone()),
        ..bare.dynamodb.clone()
    };
    let ledger = Ledger::new(dynamo::client(&direct_cfg).await, table.clone());
    tables::ensure_all(&ledger.db, &direct_cfg)
        .await
        .map_err(setup("tables"))?;
    let election = format!(
        "[[elections]]\nid = \"demo-2026\"\ncandidates = [\"alice\", \"bob\", \"carol\"]\nregions = [\"north\", \"south\", \"east\", \"west\"]\nchains = {}\n",
        s.chains
    );
    let elections = crate::fixture::store_elections(&ledger, &election)
        .await
        .map_err(setup("election manifest"))?;
    let config = Config::from_toml(&toml(&in_process, "chaos-0", &bootstrap, &elections))
        .map_err(setup("config"))?;
    let mut check_cfg = config.clone();
    check_cfg.dynamodb = direct_cfg;
    votechain::manifests::resolve(&ledger, &mut check_cfg)
        .await
        .map_err(setup("election manifest"))?;
    let node = Node::start(config.clone()).await.map_err(setup("node"))?;
    let dir = tempfile::tempdir().map_err(setup("temp dir"))?;
    let binary = match &opts.binary {
        Some(b) => b.clone(),
        None if s.processes.is_empty() => PathBuf::new(),
        None => crate::node_binary().map_err(ChaosError::Setup)?,
    };
    let procs: Arc<Mutex<BTreeMap<String, RoleProcess>>> = Arc::new(Mutex::new(BTreeMap::new()));
    for (i, role) in s.processes.iter().enumerate() {
        let path = dir.path().join(format!("{role}.toml"));
        std::fs::write(
            &path,
            toml(
                &[role.as_str()],
                &format!("chaos-proc-{i}"),
                &bootstrap,
                &elections,
            ),
        )
        .map_err(setup("process config"))?;
        let mut p = RoleProcess {
            binary: binary.clone(),
            config: path,
            child: None,
        };
        p.start().map_err(setup("role process"))?;
        procs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(role.clone(), p);
    }
    let restarts_before = restarts_total(&node);
    let writer_restarts_before = writer_restarts();

    // Load.
    let stop = Arc::new(AtomicBool::new(false));
    let load = load::Load {
        url: format!("http://{}/v1/elections/demo-2026/votes", node.http_addr),
        key: "chaos-key".into(),
        election: "demo-2026".into(),
        candidates: vec!["alice".into(), "bob".into(), "carol".into()],
        regions: vec!["north".into(), "south".into(), "east".into(), "west".into()],
        rate: s.rate,
        clients: s.clients,
        resubmit_share: s.resubmit_share,
        timeout: Duration::from_millis(s.client.timeout_ms),
        drop_answer_share: s.client.drop_answer_share,
    };
    let load_task = tokio::spawn(load.run(stop.clone(), Duration::from_secs(60)));

    // Faults on their timeline (the mock cluster is driven from this task: it is not Send).
    let counts: Arc<Mutex<BTreeMap<String, u64>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let bump = |k: &str, n: u64| {
        *counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(k.into())
            .or_default() += n
    };
    let mut process_restarts = 0u64;
    let started = tokio::time::Instant::now();
    let end = started + Duration::from_secs(s.duration_s);
    let mut active: Vec<(tokio::time::Instant, Fault)> = vec![];
    let mut pending: Vec<Fault> = s.faults.clone();
    pending.sort_by_key(|f| f.at_s());
    let mut next_kill: BTreeMap<usize, tokio::time::Instant> = BTreeMap::new();
    let mut down_until: BTreeMap<String, tokio::time::Instant> = BTreeMap::new();
    while tokio::time::Instant::now() < end {
        let now = tokio::time::Instant::now();
        let t = now.duration_since(started).as_secs();
        // Start faults whose time has come.
        while pending.first().is_some_and(|f| f.at_s() <= t) {
            let f = pending.remove(0);
            bump(f.label(), 1);
            match &f {
                Fault::KafkaBrokerDown { broker, .. } => kafka
                    .mock()
                    .broker_down(*broker)
                    .map_err(setup("broker_down"))?,
                Fault::KafkaRtt { broker, ms, .. } => kafka
                    .mock()
                    .broker_round_trip_time(*broker, Duration::from_millis(*ms))
                    .map_err(setup("rtt"))?,
                Fault::KafkaRequestErrors { api, count, .. } => {
                    let key = api_key(api)
                        .ok_or_else(|| ChaosError::Setup(format!("unknown Kafka api '{api}'")))?;
                    let err = match key {
                        RDKafkaApiKey::Fetch | RDKafkaApiKey::Produce => {
                            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION
                        }
                        _ => RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                    };
                    kafka
                        .mock()
                        .request_errors(key, &vec![err; *count as usize]);
                }
                Fault::DynamoLatency { ms, share, .. } => proxy
                    .control
                    .update(|f| (f.latency_ms, f.latency_share) = (*ms, *share)),
                Fault::DynamoReset {
                    share,
                    after_forward: true,
                    ..
                } => proxy.control.update(|f| f.reset_after_share = *share),
                Fault::DynamoReset {
                    share,
                    after_forward: false,
                    ..
                } => proxy.control.update(|f| f.reset_before_share = *share),
                Fault::DynamoError { share, error, .. } => proxy
                    .control
                    .update(|f| (f.error_share, f.error) = (*share, error.clone())),
                Fault::DynamoBlackhole { share, .. } => {
                    proxy.control.update(|f| f.blackhole_share = *share)
                }
                Fault::DynamoPartitionLimit { scale, .. } => {
                    proxy.control.set_capacity(capacity::CapacityConfig {
                        scale: *scale,
                        tables: vec![table.clone()],
                        ..Default::default()
                    })
                }
                Fault::Failpoint { name, action, .. } => {
                    #[cfg(feature = "chaos")]
                    fail::cfg(name, action).map_err(setup("failpoint"))?;
                    #[cfg(not(feature = "chaos"))]
                    return Err(ChaosError::Setup(format!(
                        "failpoint {name}={action} needs a build with --features chaos"
                    )));
                }
                Fault::ActorKill { .. } | Fault::ProcessKill { .. } => {}
            }
            active.push((now + Duration::from_secs(f.for_s()), f));
        }
        // Repeating faults.
        for (i, (until, f)) in active.iter().enumerate() {
            if now >= *until {
                continue;
            }
            match f {
                Fault::ActorKill {
                    every_ms, kinds, ..
                } => {
                    let due = next_kill.entry(i).or_insert(now);
                    if now >= *due {
                        *due = now + Duration::from_millis(*every_ms);
                        if kill_random(&node, kinds) {
                            bump("actor_kill", 1);
                        }
                    }
                }
                Fault::ProcessKill {
                    role,
                    every_s,
                    down_s,
                    ..
                } => {
                    let due = next_kill
                        .entry(i)
                        .or_insert(now + Duration::from_secs(*every_s));
                    let mut ps = procs.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(p) = ps.get_mut(role) {
                        if now >= *due && p.child.is_some() {
                            p.sigkill();
                            bump("process_kill", 1);
                            down_until.insert(role.clone(), now + Duration::from_secs(*down_s));
                            *due = now + Duration::from_secs(*every_s);
                        }
                        if p.child.is_none() && down_until.get(role).is_none_or(|d| now >= *d) {
                            p.start().map_err(setup("restart role process"))?;
                            process_restarts += 1;
                        }
                    }
                }
                _ => {}
            }
        }
        // End faults whose time is over.
        let (over, still): (Vec<_>, Vec<_>) =
            active.into_iter().partition(|(until, _)| now >= *until);
        active = still;
        for (_, f) in over {
            clear_fault(&f, &kafka, &proxy);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (_, f) in active.drain(..) {
        clear_fault(&f, &kafka, &proxy);
    }
    for p in procs.lock().unwrap_or_else(|e| e.into_inner()).values_mut() {
        if p.child.is_none() {
            let _ = p.start();
            process_restarts += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let book = load_task.await.map_err(setup("load task"))?;
    let settle = if opts.settle.is_zero() {
        Duration::from_secs(90)
    } else {
        opts.settle
    };
    let verdict = check::check(&check_cfg, &ledger, "demo-2026", &book, settle).await?;
    let forged = if opts.forge_duplicate {
        // The load is over and drained: no writer appends to chain 0 any more.
        forge::duplicate_at_tip(&ledger, "demo-2026", 0, s.chains)
            .await
            .map_err(setup("forging a duplicate"))?;
        Some(
            check::check(
                &check_cfg,
                &ledger,
                "demo-2026",
                &book,
                Duration::from_secs(3),
            )
            .await?,
        )
    } else {
        None
    };
    let actor_restarts = restarts_total(&node).saturating_sub(restarts_before);
    let writer_restarts = writer_restarts().saturating_sub(writer_restarts_before);
    let inj = proxy.control.injected();
    let report = Report {
        scenario: s.name.clone(),
        duration_s: s.duration_s,
        faults_injected: counts.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        actor_restarts,
        writer_restarts,
        process_restarts,
        client_attempts: book.attempts,
        client_retries: book.retries,
        dynamodb_proxy: BTreeMap::from([
            ("requests".into(), inj.requests),
            ("delayed".into(), inj.delayed),
            ("reset_before".into(), inj.reset_before),
            ("reset_after".into(), inj.reset_after),
            ("errors".into(), inj.errors),
            ("blackholed".into(), inj.blackholed),
            ("throttled".into(), inj.throttled),
        ]),
        passed: verdict.passed(),
        verdict,
        forged,
    };
    drop(procs);
    node.shutdown().await;
    drop(kafka);
    Ok(report)
}

fn clear_fault(f: &Fault, kafka: &EmbeddedKafka, proxy: &proxy::FaultProxy) {
    match f {
        Fault::KafkaBrokerDown { broker, .. } => {
            let _ = kafka.mock().broker_up(*broker);
        }
        Fault::KafkaRtt { broker, .. } => {
            let _ = kafka.mock().broker_round_trip_time(*broker, Duration::ZERO);
        }
        Fault::KafkaRequestErrors { api, .. } => {
            if let Some(k) = api_key(api) {
                kafka.mock().clear_request_errors(k);
            }
        }
        Fault::DynamoLatency { .. } => proxy.control.update(|f| f.latency_share = 0.0),
        Fault::DynamoReset {
            after_forward: true,
            ..
        } => proxy.control.update(|f| f.reset_after_share = 0.0),
        Fault::DynamoReset {
            after_forward: false,
            ..
        } => proxy.control.update(|f| f.reset_before_share = 0.0),
        Fault::DynamoError { .. } => proxy.control.update(|f| f.error_share = 0.0),
        Fault::DynamoBlackhole { .. } => proxy.control.update(|f| f.blackhole_share = 0.0),
        Fault::DynamoPartitionLimit { .. } => {
            if let Some(st) = proxy.control.capacity_stats() {
                tracing::info!(?st, "partition-limit model lifted");
            }
            proxy.control.clear_capacity()
        }
        Fault::Failpoint { name, .. } => {
            #[cfg(feature = "chaos")]
            fail::remove(name);
            let _ = name;
        }
        Fault::ActorKill { .. } | Fault::ProcessKill { .. } => {}
    }
}

/// Kills one random live actor of the given kinds in the node's tree (no restart is asked
/// for: supervision must notice). True if one was killed.
fn kill_random(node: &Node, kinds: &[String]) -> bool {
    use rand::Rng;
    fn walk(c: &ractor::ActorCell, out: &mut Vec<ractor::ActorCell>) {
        for ch in c.get_children() {
            out.push(ch.clone());
            walk(&ch, out);
        }
    }
    let mut all = vec![];
    walk(&node.root.get_cell(), &mut all);
    let targets: Vec<_> = all
        .into_iter()
        .filter(|c| {
            c.get_name()
                .is_some_and(|n| kinds.iter().any(|k| n.starts_with(&format!("{k}/"))))
        })
        .filter(|c| c.get_status() == ractor::ActorStatus::Running)
        .collect();
    if targets.is_empty() {
        return false;
    }
    let i = rand::rng().random_range(0..targets.len());
    targets[i].kill();
    true
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
fn restarts_total(_node: &Node) -> u64 {
    votechain::metrics::sum_series(
        &votechain::metrics::render(&votechain::metrics::install()),
        votechain::metrics::ACTOR_RESTARTS,
        "",
    ) as u64
}
