//! Shared harness: per test its own DynamoDB Local (or the one named by
//! `VOTECHAIN_TEST_DYNAMODB_ENDPOINT`), its own Apache Kafka (one KRaft node, or three for
//! fault tests; librdkafka's mock cluster only for the tests that inject protocol errors,
//! [`TestEnv::with_mock`]) and its own ledger table, so tests never see each other.
//!
//! Why not one DynamoDB Local for all: on DynamoDB Local, writes to a table's stream slow
//! down in proportion to the stream records of every table whose stream received records
//! first (measured: 9k records in one stream made the next stream's writes 10x slower; they
//! stay there after `DeleteTable`). Every test's ledger streams, so on a shared instance
//! each test ran slower than the one before it, and timing-bounded scenarios flaked.

use std::sync::OnceLock;
use std::time::Duration;
use votechain::config::Config;
use votechain::dev::DynamoDbLocal;
use votechain::dev::{KafkaLocal, KafkaLocalOptions};
use votechain::dynamo::{self, ledger::Ledger};
use votechain::runtime::Node;
use votechain::tables;
use votechain_tools::mock_kafka::MockKafka;

/// A DynamoDB Local for one test (stopped when dropped), or the shared one named by
/// `VOTECHAIN_TEST_DYNAMODB_ENDPOINT`.
pub struct TestDynamo {
    pub endpoint: String,
    _local: Option<DynamoDbLocal>,
}

impl TestDynamo {
    pub async fn start() -> TestDynamo {
        static SHARED: OnceLock<Option<String>> = OnceLock::new();
        if let Some(ep) =
            SHARED.get_or_init(|| std::env::var("VOTECHAIN_TEST_DYNAMODB_ENDPOINT").ok())
        {
            return TestDynamo {
                endpoint: ep.clone(),
                _local: None,
            };
        }
        let d = DynamoDbLocal::start_on_free_port()
            .await
            .expect("start DynamoDB Local (run scripts/setup)");
        TestDynamo {
            endpoint: d.endpoint.clone(),
            _local: Some(d),
        }
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VOTECHAIN_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A test's Kafka: Apache Kafka, or the mock cluster for protocol-error injection.
pub enum TestKafka {
    Broker(KafkaLocal),
    Mock(MockKafka),
}

/// Which Kafka a test starts.
#[derive(Debug, Clone, Copy)]
pub enum KafkaKind {
    /// Apache Kafka with this many KRaft nodes (3: replication 3, min ISR 2).
    Broker(u32),
    /// librdkafka's mock cluster: only to inject protocol errors (say why in the test).
    Mock,
}

#[allow(dead_code)]
impl TestKafka {
    pub fn bootstrap_servers(&self) -> String {
        match self {
            TestKafka::Broker(k) => k.bootstrap_servers(),
            TestKafka::Mock(m) => m.bootstrap_servers(),
        }
    }

    /// The mock's fault injection (a test started with [`TestEnv::with_mock`]).
    pub fn mock(
        &self,
    ) -> &rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
        match self {
            TestKafka::Mock(m) => m.mock(),
            TestKafka::Broker(_) => {
                panic!("this test runs on Apache Kafka; TestEnv::with_mock starts the mock cluster")
            }
        }
    }

    /// The Apache Kafka nodes (to kill, pause or restart one).
    pub fn broker(&mut self) -> &mut KafkaLocal {
        match self {
            TestKafka::Broker(k) => k,
            TestKafka::Mock(_) => panic!("this test runs on the mock cluster"),
        }
    }
}

async fn start_kafka(kind: KafkaKind, cfg: &votechain::config::KafkaConfig) -> TestKafka {
    match kind {
        KafkaKind::Broker(nodes) => TestKafka::Broker(
            KafkaLocal::start_with_topics(KafkaLocalOptions::nodes(nodes), cfg)
                .await
                .expect("start Apache Kafka (run scripts/setup)"),
        ),
        KafkaKind::Mock => TestKafka::Mock(MockKafka::start(cfg, 1).expect("the mock cluster")),
    }
}

/// One test's world: Kafka, ledger table, config.
pub struct TestEnv {
    /// Kept alive for the test; fault tests reach the brokers (or the mock) through it.
    #[allow(dead_code)]
    pub kafka: TestKafka,
    /// This test's DynamoDB Local (`dynamodb.endpoint` of `config`).
    pub dynamo: TestDynamo,
    pub config: Config,
    pub ledger: Ledger,
    /// The config's TOML without its `roles` line, for `votechain run` child processes.
    #[allow(dead_code)]
    pub toml: String,
}

pub const KEY: &str = "test-key-1";

impl TestEnv {
    /// `elections` is TOML for `[[elections]]` entries. One Apache Kafka node.
    pub async fn new(name: &str, partitions: u32, elections: &str) -> TestEnv {
        Self::build(name, partitions, elections, KafkaKind::Broker(1)).await
    }

    /// The same on librdkafka's mock cluster: only for a test that injects Kafka protocol
    /// errors (it says which, and why a real broker cannot give them).
    #[allow(dead_code)]
    pub async fn with_mock(name: &str, partitions: u32, elections: &str) -> TestEnv {
        Self::build(name, partitions, elections, KafkaKind::Mock).await
    }

    pub async fn build(name: &str, partitions: u32, elections: &str, kind: KafkaKind) -> TestEnv {
        init_tracing();
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let table = format!("t-{name}-{suffix}");
        let dynamo = TestDynamo::start().await;
        let replication_factor = match kind {
            KafkaKind::Broker(n) => n.min(3),
            KafkaKind::Mock => 1,
        };
        let kcfg = votechain::config::KafkaConfig {
            bootstrap_servers: "unused:9092".into(),
            partitions,
            replication_factor,
            ..Default::default()
        };
        let kafka = start_kafka(kind, &kcfg).await;
        let local = votechain_tools::fixture::local_toml(
            name,
            &kafka.bootstrap_servers(),
            &dynamo.endpoint,
            &table,
            partitions,
            replication_factor,
        );
        // Tables first, then the elections' manifests in them, then the config naming those.
        let bare = Config::from_toml(&format!("roles = [\"query\"]\n{local}")).expect("valid");
        let db = dynamo::client(&bare.dynamodb).await;
        tables::ensure_all(&db, &bare.dynamodb)
            .await
            .expect("tables");
        let ledger = Ledger::new(db, table);
        let elections = votechain_tools::fixture::store_elections(&ledger, elections)
            .await
            .expect("test elections");
        let toml = format!(
            r#"{local}[projector]
failover_ms = 2000
idle_poll_ms = 100
[ingest]
clients = [{{ id = "test", key = "{KEY}" }}]
linger_ms = 2
[writer]
retry_initial_ms = 20
retry_max_ms = 500
{elections}
"#
        );
        let roles = "roles = [\"ingest\", \"writer\", \"query\"]\n";
        let mut config =
            Config::from_toml(&format!("{roles}{toml}")).expect("test config is valid");
        votechain::manifests::resolve(&ledger, &mut config)
            .await
            .expect("test elections resolve");
        TestEnv {
            kafka,
            dynamo,
            ledger,
            config,
            toml,
        }
    }

    /// An election this env serves (its definition, resolved).
    #[allow(dead_code)]
    pub fn election(&self, id: &str) -> votechain_core::model::Election {
        self.config
            .registry()
            .get(id)
            .cloned()
            .expect("a served election")
    }

    /// Starts a node of this env's config (roles ingest, writer, query) as `f` changes it.
    #[allow(dead_code)]
    pub async fn node_with(&self, f: impl FnOnce(&mut Config)) -> Node {
        let mut cfg = self.config.clone();
        f(&mut cfg);
        Node::start(cfg).await.expect("node starts")
    }

    /// Starts a node running `roles` of this env's config.
    pub async fn node(&self, roles: &[&str], instance: &str) -> Node {
        self.node_via(roles, instance, &self.dynamo.endpoint).await
    }

    /// The same, with every DynamoDB and DynamoDB Streams call sent to `endpoint` (a fault
    /// proxy, e.g. with a simulated Streams topology).
    pub async fn node_via(&self, roles: &[&str], instance: &str, endpoint: &str) -> Node {
        let mut cfg = self.config.clone();
        cfg.dynamodb.endpoint = Some(endpoint.to_string());
        cfg.roles = roles
            .iter()
            .map(|r| serde_json::from_value(serde_json::json!(r)).unwrap())
            .collect();
        cfg.node.instance_id = instance.into();
        Node::start(cfg).await.expect("node starts")
    }
}

pub const DEMO: &str = r#"
[[elections]]
id = "demo-2026"
candidates = ["alice", "bob", "carol"]
regions = ["north", "south", "east", "west"]
"#;

/// The salt the tests send with a vote (v2 elections): fixed per vote_id, so a resend is
/// the same ballot. Derived from the vote_id for reproducibility; never do this for real.
pub fn test_salt(vid: &str) -> String {
    vid.replace('-', "").repeat(2)
}

/// A deterministic canonical UUID for test vote `i`.
pub fn vote_id(tag: u32, i: u32) -> String {
    format!("{tag:08x}-0000-4000-8000-{i:012x}")
}

pub async fn submit(
    http: &reqwest::Client,
    node: &Node,
    election: &str,
    vid: &str,
    cand: &str,
    region: &str,
) -> reqwest::StatusCode {
    let url = format!("http://{}/v1/elections/{election}/votes", node.http_addr);
    let body = serde_json::json!({"vote_id": vid, "candidate_id": cand, "region_id": region, "salt": test_salt(vid)});
    loop {
        match http.post(&url).bearer_auth(KEY).json(&body).send().await {
            Ok(r) => return r.status(),
            Err(e) if e.is_connect() => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("request failed: {e}"),
        }
    }
}

/// Submits until 202, retrying 503s with the same vote_id, as a well-behaved client does.
pub async fn submit_until_accepted(
    http: &reqwest::Client,
    node: &Node,
    election: &str,
    vid: &str,
    cand: &str,
    region: &str,
) {
    for _ in 0..200 {
        match submit(http, node, election, vid, cand, region).await {
            reqwest::StatusCode::ACCEPTED => return,
            reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            s => panic!("unexpected status {s} for {vid}"),
        }
    }
    panic!("vote {vid} never accepted");
}

/// Polls `f` until it returns Some, or panics after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every vote item of a chain, in order, read consistently.
pub async fn chain_items(
    ledger: &Ledger,
    election: &str,
    chain: u32,
    chains: u32,
) -> Vec<votechain::dynamo::items::VoteItem> {
    let mut out = vec![];
    let mut start = None;
    loop {
        let (page, next) = ledger
            .chain_page(election, chain, chains, start, true)
            .await
            .unwrap();
        out.extend(
            page.iter()
                .map(|i| votechain::dynamo::items::parse_vote(i).unwrap()),
        );
        match next {
            Some(k) => start = Some(k),
            None => return out,
        }
    }
}

/// Every vote of `cast` chained exactly once in demo-2026's one chain, with its choice,
/// and nothing else chained there (waits up to 2 min for them, then 1 s for any extra).
#[allow(dead_code)]
pub async fn assert_chained_exactly_once(
    ledger: &Ledger,
    cast: &[votechain_tools::client::outbox::OutVote],
) {
    demo_chained(ledger, cast.len(), Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let items = chain_items(ledger, "demo-2026", 0, 1).await;
    let chained: std::collections::BTreeMap<&str, (&str, &str)> = items
        .iter()
        .map(|v| {
            let choice = (v.candidate_id.as_str(), v.region_id.as_str());
            (v.vote_id.as_str(), choice)
        })
        .collect();
    assert_eq!(chained.len(), items.len(), "no vote_id chained twice");
    assert_eq!(chained.len(), cast.len(), "exactly the cast votes");
    for v in cast {
        let want = (v.candidate_id.as_str(), v.region_id.as_str());
        assert_eq!(
            chained.get(v.vote_id.as_str()),
            Some(&want),
            "{}",
            v.vote_id
        );
    }
}

/// Waits up to `timeout` until demo-2026's one chain holds at least `n` votes; returns them.
pub async fn demo_chained(
    ledger: &Ledger,
    n: usize,
    timeout: Duration,
) -> Vec<votechain::dynamo::items::VoteItem> {
    eventually(timeout, &format!("{n} votes chained"), || async {
        let items = chain_items(ledger, "demo-2026", 0, 1).await;
        (items.len() >= n).then_some(items)
    })
    .await
}

/// Simulates SIGKILL of a node's actors: every actor of its tree dies at once, nothing is
/// released or flushed (leases are left to expire). The root dies first so nothing restarts.
pub fn crash(node: Node) {
    fn walk(c: &ractor::ActorCell, out: &mut Vec<ractor::ActorCell>) {
        for ch in c.get_children() {
            out.push(ch.clone());
            walk(&ch, out);
        }
    }
    let mut cells = vec![node.root.get_cell()];
    walk(&node.root.get_cell(), &mut cells);
    for c in cells {
        c.kill();
    }
    std::mem::forget(node); // no graceful shutdown
}

/// The results the chain implies: (total, per candidate, per region -> candidate).
pub async fn chain_results(ledger: &Ledger, election: &str, chains: u32) -> serde_json::Value {
    use std::collections::BTreeMap;
    let mut total = 0u64;
    let mut cands: BTreeMap<String, u64> = BTreeMap::new();
    let mut regions: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for c in 0..chains {
        for v in chain_items(ledger, election, c, chains).await {
            total += 1;
            *cands.entry(v.candidate_id.clone()).or_default() += 1;
            *regions
                .entry(v.region_id.clone())
                .or_default()
                .entry(v.candidate_id.clone())
                .or_default() += 1;
        }
    }
    serde_json::json!({"total": total, "candidates": cands, "regions": regions})
}

/// Runs `recount` on `election` and asserts that Kafka, the chain and the read model agree
/// and the chain is intact; the report, for more checks.
pub async fn recount_agrees(env: &TestEnv, election: &str) -> votechain::recount::RecountReport {
    let r =
        votechain::recount::recount(&env.config, &env.ledger, election, Duration::from_secs(30))
            .await
            .unwrap();
    assert!(r.agree && r.chain_intact, "{r}");
    r
}

/// The results endpoint with zero entries dropped, in the shape of [`chain_results`].
pub async fn served_results(
    http: &reqwest::Client,
    node: &Node,
    election: &str,
) -> serde_json::Value {
    let url = format!("http://{}/v1/elections/{election}/results", node.http_addr);
    let v: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
    let nz = |m: &serde_json::Value| -> serde_json::Map<String, serde_json::Value> {
        m.as_object()
            .unwrap()
            .iter()
            .filter(|(_, n)| n.as_u64() != Some(0))
            .map(|(k, n)| (k.clone(), n.clone()))
            .collect()
    };
    let regions: serde_json::Map<String, serde_json::Value> = v["regions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(r, m)| (r.clone(), serde_json::Value::Object(nz(m))))
        .filter(|(_, m)| !m.as_object().unwrap().is_empty())
        .collect();
    serde_json::json!({"total": v["total"], "candidates": nz(&v["candidates"]), "regions": regions})
}

/// Submits votes `from..to` of tag `tag`, spread over candidates and regions, 32 at a time.
pub async fn submit_range(http: &reqwest::Client, node: &Node, tag: u32, from: u32, to: u32) {
    use futures::StreamExt;
    const C: [&str; 3] = ["alice", "bob", "carol"];
    const R: [&str; 4] = ["north", "south", "east", "west"];
    futures::stream::iter(from..to)
        .for_each_concurrent(32, |i| async move {
            submit_until_accepted(
                http,
                node,
                "demo-2026",
                &vote_id(tag, i),
                C[(i % 3) as usize],
                R[(i / 3 % 4) as usize],
            )
            .await
        })
        .await;
}

/// The body of `GET url` (any status), as text.
pub async fn get_text(http: &reqwest::Client, url: &str) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// The sum of a metric's series on a node's `/metrics` whose line contains `filter`
/// (e.g. a label pair; "" for all). Metrics are process-wide: compare before and after.
pub async fn metric(http: &reqwest::Client, node: &Node, name: &str, filter: &str) -> f64 {
    let text = get_text(http, &format!("http://{}/metrics", node.http_addr)).await;
    votechain::metrics::sum_series(&text, name, filter)
}

/// A config file in `dir` for a `votechain` command that reads this env's ledger table
/// only (no Kafka): pass it with `--config` and `--endpoint` the env's DynamoDB.
pub fn ledger_only_config(env: &TestEnv, dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("ledger-only.toml");
    let text = format!(
        "roles = [\"query\"]\n[kafka]\nbootstrap_servers = \"unused:9092\"\n[dynamodb]\nledger_table = \"{}\"\nlocal_credentials = true\n",
        env.ledger.table
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The repository's root (scenario files, configs).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `votechain` binary (built by `cargo build --bins` before the tests).
pub fn node_bin() -> std::path::PathBuf {
    votechain_tools::node_binary().unwrap_or_else(|e| panic!("{e}"))
}

/// Every record on the dead-letter topic: its `votechain-reason` header and its vote event.
pub async fn dead_letters(env: &TestEnv) -> Vec<(String, votechain_core::model::VoteEvent)> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::{Headers, Message};
    let c: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", env.kafka.bootstrap_servers())
        .set("group.id", format!("dlq-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    c.subscribe(&[&env.config.kafka.dead_letter_topic]).unwrap();
    let mut out = vec![];
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(5), c.recv()).await {
        let header = m
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == "votechain-reason"));
        let reason = String::from_utf8_lossy(header.and_then(|h| h.value).unwrap_or_default());
        let event = serde_json::from_slice(m.payload().unwrap_or_default()).expect("a vote event");
        out.push((reason.into_owned(), event));
    }
    out
}

/// A salted vote event (chain 0) as ingest would produce it, for tests that write to
/// `votes` straight, past ingest.
#[allow(dead_code)]
pub fn raw_event(
    election: &str,
    vid: &str,
    cand: &str,
    region: &str,
    cast_at_ms: i64,
) -> votechain_core::model::VoteEvent {
    votechain_core::model::VoteEvent {
        v: votechain_core::model::VOTE_EVENT_SALTED,
        election_id: election.into(),
        chain: 0,
        salt: Some(test_salt(vid)),
        vote_id: vid.into(),
        candidate_id: cand.into(),
        region_id: region.into(),
        cast_at_ms,
    }
}

/// A plain (non-transactional) producer into this env's Kafka, past ingest.
#[allow(dead_code)]
pub fn raw_producer(env: &TestEnv) -> rdkafka::producer::FutureProducer {
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", env.kafka.bootstrap_servers())
        .set("linger.ms", "20")
        .create()
        .expect("a producer")
}

/// A transactional producer into this env's Kafka, past ingest, already through
/// `init_transactions`: its `transactional.id` is `id`, its transactions time out (the
/// broker aborts them) after `timeout_ms`.
#[allow(dead_code)]
pub fn txn_producer(env: &TestEnv, id: &str, timeout_ms: u64) -> rdkafka::producer::FutureProducer {
    use rdkafka::producer::Producer;
    let p: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", env.kafka.bootstrap_servers())
        .set("transactional.id", id)
        .set("transaction.timeout.ms", timeout_ms.to_string())
        .set("linger.ms", "5")
        .create()
        .expect("a transactional producer");
    tokio::task::block_in_place(|| p.init_transactions(Duration::from_secs(30)))
        .expect("init_transactions");
    p
}

/// Salted vote events for demo-2026, sent through `producer` (inside its open transaction,
/// if any): `n` votes of `tag`, all for "carol" in "east".
#[allow(dead_code)]
pub async fn send_votes(
    env: &TestEnv,
    producer: &rdkafka::producer::FutureProducer,
    tag: u32,
    n: u32,
) -> Vec<String> {
    let mut ids = vec![];
    for i in 0..n {
        let ev = raw_event(
            "demo-2026",
            &vote_id(tag, i),
            "carol",
            "east",
            votechain::now_ms(),
        );
        let key = ev.kafka_key();
        send_raw(env, producer, key.as_bytes(), &ev.to_bytes(), None, None).await;
        ids.push(ev.vote_id);
    }
    ids
}

/// Every vote_id on `votes`, read with `isolation.level` = `isolation` from the start to
/// the end (read_committed: to the last stable offset).
#[allow(dead_code)]
pub async fn vote_ids_on_topic(env: &TestEnv, isolation: &str) -> Vec<String> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Message;
    let c: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", env.kafka.bootstrap_servers())
        .set("group.id", format!("ids-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    c.subscribe(&[&env.config.kafka.votes_topic]).unwrap();
    let mut out = vec![];
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(5), c.recv()).await {
        let ev: votechain_core::model::VoteEvent =
            serde_json::from_slice(m.payload().unwrap_or_default()).expect("a vote event");
        out.push(ev.vote_id);
    }
    out
}

/// Sends one record to `votes` past ingest: `partition` (default: the key's hash) and the
/// provenance header `mac` when given.
#[allow(dead_code)]
pub async fn send_raw(
    env: &TestEnv,
    producer: &rdkafka::producer::FutureProducer,
    key: &[u8],
    payload: &[u8],
    partition: Option<i32>,
    mac: Option<&str>,
) {
    use rdkafka::message::{Header, OwnedHeaders};
    let mut rec = rdkafka::producer::FutureRecord::to(&env.config.kafka.votes_topic)
        .key(key)
        .payload(payload);
    if let Some(p) = partition {
        rec = rec.partition(p);
    }
    if let Some(m) = mac {
        rec = rec.headers(OwnedHeaders::new().insert(Header {
            key: votechain_core::provenance::HEADER,
            value: Some(m),
        }));
    }
    producer
        .send(rec, Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .expect("Kafka takes the record");
}

/// Runs `votechain replay` of demo-2026 in-process (the `Replay` actor) to its outcome.
#[allow(dead_code)]
pub async fn run_replay(env: &TestEnv) -> votechain::actors::replay::ReplayOutcome {
    use votechain::actors::replay::{Replay, ReplayMsg};
    let actor = Replay {
        config: std::sync::Arc::new(env.config.clone()),
        ledger: env.ledger.clone(),
        election: "demo-2026".into(),
        freeze_timeout: Duration::from_secs(30),
        progress: None,
    };
    let (r, _) = ractor::Actor::spawn(None, actor, ()).await.unwrap();
    match r.call(ReplayMsg::Run, None).await.unwrap() {
        ractor::rpc::CallResult::Success(res) => res.expect("replay runs"),
        other => panic!("{other:?}"),
    }
}

/// `votechain recount` of demo-2026, in-process.
#[allow(dead_code)]
pub async fn recount_demo(env: &TestEnv) -> votechain::recount::RecountReport {
    let wait = Duration::from_secs(30);
    votechain::recount::recount(&env.config, &env.ledger, "demo-2026", wait)
        .await
        .expect("recount runs")
}

/// A fault proxy in front of this env's DynamoDB Local serving a simulated Streams topology
/// (`chaos/streams.rs`) with `cfg`; nodes started `node_via(.., &proxy.endpoint)` see it.
#[allow(dead_code)]
pub async fn topology_proxy(
    env: &TestEnv,
    cfg: votechain_tools::chaos::streams::TopologyConfig,
) -> (
    votechain_tools::chaos::proxy::FaultProxy,
    votechain_tools::chaos::streams::Topology,
) {
    let proxy = votechain_tools::chaos::proxy::FaultProxy::start(&env.dynamo.endpoint)
        .await
        .expect("the fault proxy starts");
    let topo = votechain_tools::chaos::streams::Topology::new(&env.dynamo.endpoint, cfg);
    proxy.control.set_topology(topo.clone());
    (proxy, topo)
}
