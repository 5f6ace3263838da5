//! Issue 13: one transparency log per chain.
//!
//! 1. The publisher follows the chain; every vote's `.../proof` checks offline with the
//!    voter's choice and salt (`votechain_core::receipt::check_proof`); `votechain audit`
//!    passes. Then the consistent-rewrite attack: one vote's candidate changed in DynamoDB
//!    and every later hash of its chain recomputed. `verify` still passes (it trusts the
//!    database); the audit fails, naming the chain and the first differing index.
//! 2. Two publishers of the same logs race, one is killed and restarted mid-stream: every
//!    checkpoint ever signed is a prefix of the final tree (none inconsistent), and the
//!    final log holds every chained vote.
//!
//! No transaction is aborted here: nothing relies on `read_committed`.

use crate::common::*;
use std::collections::BTreeMap;
use std::time::Duration;
use votechain::audit::Audit;
use votechain::dynamo::items;
use votechain::logstore::LogStore;
use votechain_core::checkpoint::{Checkpoint, WitnessPolicy};
use votechain_core::manifest::Manifest;
use votechain_core::merkle;
use votechain_core::receipt::{Ballot, check_proof};
use votechain_core::tiles::{self, Tile};

const C: [&str; 3] = ["alice", "bob", "carol"];
const R: [&str; 4] = ["north", "south", "east", "west"];

/// The env's config with a publisher keyed by the test log key, fast checkpoints.
fn with_publisher(env: &mut TestEnv, dir: &std::path::Path) {
    let key = votechain_tools::fixture::write_test_log_key(dir).unwrap();
    env.config
        .publisher
        .key_files
        .insert("demo-2026".into(), key);
    env.config.publisher.checkpoint_interval_ms = 200;
}

async fn manifest(http: &reqwest::Client, node: &votechain::runtime::Node) -> Manifest {
    let url = format!("http://{}/v1/elections/demo-2026/manifest", node.http_addr);
    Manifest::parse_json(&http.get(url).send().await.unwrap().text().await.unwrap()).unwrap()
}

fn store(env: &TestEnv) -> LogStore {
    LogStore {
        db: env.ledger.db.clone(),
        table: env.ledger.table.clone(),
    }
}

async fn published_size(env: &TestEnv) -> u64 {
    store(env)
        .published("demo-2026", 0)
        .await
        .unwrap()
        .map_or(0, |c| c.size)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_verify_offline_and_the_audit_catches_a_consistent_rewrite() {
    let mut env = TestEnv::new("tlog", 1, DEMO).await;
    let dir = tempfile::tempdir().unwrap();
    with_publisher(&mut env, dir.path());
    let node = env
        .node(&["ingest", "writer", "query", "publisher"], "tlog-0")
        .await;
    let http = reqwest::Client::new();
    submit_range(&http, &node, 13, 0, 300).await;
    demo_chained(&env.ledger, 300, Duration::from_secs(60)).await;
    eventually(
        Duration::from_secs(30),
        "the log covers 300 votes",
        || async { (published_size(&env).await >= 300).then_some(()) },
    )
    .await;

    // Receipts: each checks offline with the choice and salt, and not with another choice.
    let m = manifest(&http, &node).await;
    let policy = WitnessPolicy::default();
    for i in [0u32, 1, 150, 255, 256, 299] {
        let vid = vote_id(13, i);
        let url = format!(
            "http://{}/v1/elections/demo-2026/votes/{vid}/proof",
            node.http_addr
        );
        let res = http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let proof = res.text().await.unwrap();
        let salt = test_salt(&vid);
        let (c, r) = (C[(i % 3) as usize], R[(i / 3 % 4) as usize]);
        let mine = Ballot {
            candidate_id: c,
            region_id: r,
            salt: Some(&salt),
        };
        let ok = check_proof(&proof, &m, &policy, &mine).unwrap();
        assert_eq!(ok.extra.vote_id, vid);
        let other = Ballot {
            candidate_id: C[((i + 1) % 3) as usize],
            ..mine
        };
        let err = check_proof(&proof, &m, &policy, &other).unwrap_err();
        assert!(err.to_string().starts_with("step 5"), "{err}");
    }
    let unknown = format!(
        "http://{}/v1/elections/demo-2026/votes/{}/proof",
        node.http_addr,
        vote_id(13, 9999)
    );
    assert_eq!(http.get(&unknown).send().await.unwrap().status(), 404);

    // The audit passes, with the chain read from DynamoDB too.
    let state = tempfile::tempdir().unwrap();
    let audit = |ledger| Audit {
        base_url: format!("http://{}", node.http_addr),
        manifest: &m,
        policy: WitnessPolicy::default(),
        state_dir: state.path().to_path_buf(),
        ledger,
    };
    let clean = audit(Some(env.ledger.clone())).run().await.unwrap();
    assert!(clean[0].problems.is_empty(), "{:?}", clean[0].problems);
    assert_eq!(clean[0].size, 300);

    // `votechain log export` writes the same tree as static files; served from a plain
    // directory, it audits the same.
    let export = tempfile::tempdir().unwrap();
    let cfg = ledger_only_config(&env, export.path());
    let out = std::process::Command::new(node_bin())
        .args(["log", "export", "--election", "demo-2026", "--dir"])
        .arg(export.path().join("site"))
        .args(["--endpoint", &env.dynamo.endpoint, "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let site = static_site(export.path().join("site")).await;
    let fresh = tempfile::tempdir().unwrap();
    let from_files = Audit {
        base_url: site,
        manifest: &m,
        policy: WitnessPolicy::default(),
        state_dir: fresh.path().to_path_buf(),
        ledger: None,
    }
    .run()
    .await
    .unwrap();
    assert!(
        from_files[0].problems.is_empty(),
        "{:?}",
        from_files[0].problems
    );
    assert_eq!(from_files[0].root, clean[0].root);

    // The rewrite: vote 100's candidate changed, every later hash recomputed.
    let e = env.election("demo-2026");
    let mut votes = chain_items(&env.ledger, "demo-2026", 0, 1).await;
    let honest = votes[99].candidate_id.clone();
    votes[99].candidate_id = C.iter().find(|c| **c != honest).unwrap().to_string();
    for i in 99..votes.len() {
        if i > 99 {
            votes[i].prev_hash = votes[i - 1].hash;
        }
        votes[i].hash = votes[i].hash_on(&votes[i].prev_hash);
        env.ledger
            .db
            .put_item()
            .table_name(&env.ledger.table)
            .set_item(Some(items::vote_item(&votes[i], 1)))
            .send()
            .await
            .unwrap();
    }
    let report = votechain::verify::verify_election(&env.ledger, &e)
        .await
        .unwrap();
    assert!(report.intact, "verify trusts the database: {report:?}");
    let caught = audit(Some(env.ledger.clone())).run().await.unwrap();
    let problems = caught[0].problems.join("; ");
    assert!(
        problems.contains("chain 0 differs from its log at index 99"),
        "{problems}"
    );
    // A publisher (re)started on the rewritten chain refuses to extend the log: more votes
    // are chained (on the rewritten tip), none is logged.
    node.shutdown().await;
    let node = env
        .node(&["ingest", "writer", "query", "publisher"], "tlog-1")
        .await;
    submit_range(&http, &node, 13, 300, 310).await;
    demo_chained(&env.ledger, 310, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(published_size(&env).await, 300, "the log stays as it was");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_and_restarted_publishers_never_sign_inconsistent_checkpoints() {
    let mut env = TestEnv::new("tlograce", 1, DEMO).await;
    let dir = tempfile::tempdir().unwrap();
    with_publisher(&mut env, dir.path());
    env.config.publisher.batch_max = 37; // many small rounds: more chances to race
    let writer = env.node(&["ingest", "writer", "query"], "race-w").await;
    let p1 = env.node(&["publisher"], "race-p1").await;
    let p2 = env.node(&["publisher"], "race-p2").await;
    // Every signed checkpoint, as it is stored, polled while the publishers race.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::<u64, String>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (seen, stop, logs) = (seen.clone(), stop.clone(), store(&env));
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(Some(c)) = logs.signed("demo-2026", 0).await {
                    let mut s = seen.lock().unwrap();
                    if let Some(before) = s.get(&c.size) {
                        assert_eq!(before, &c.note, "two checkpoints of size {}", c.size);
                    }
                    s.insert(c.size, c.note);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let http = reqwest::Client::new();
    submit_range(&http, &writer, 14, 0, 250).await;
    crash(p1); // mid-stream, nothing released
    submit_range(&http, &writer, 14, 250, 400).await;
    let p1 = env.node(&["publisher"], "race-p1b").await;
    submit_range(&http, &writer, 14, 400, 600).await;
    demo_chained(&env.ledger, 600, Duration::from_secs(60)).await;
    eventually(
        Duration::from_secs(60),
        "the log covers 600 votes",
        || async { (published_size(&env).await >= 600).then_some(()) },
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    poller.await.unwrap();

    // The final tree, from its stored tiles; every checkpoint seen is a prefix of it.
    let logs = store(&env);
    let last = logs.signed("demo-2026", 0).await.unwrap().unwrap();
    assert_eq!(last.size, 600);
    let all: Vec<Tile> = tiles::tiles_of(last.size);
    let fetched = logs.tiles("demo-2026", 0, &all).await.unwrap();
    let nodes = tiles::TileNodes {
        size: last.size,
        read: |t: &Tile| {
            let d = fetched
                .get(t)
                .ok_or_else(|| format!("missing {}", t.path()))?;
            tiles::parse_hashes(t, d).map_err(|e| e.to_string())
        },
    };
    assert_eq!(merkle::tree_hash(&nodes, last.size).unwrap(), last.root);
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 3, "checkpoints observed: {:?}", seen.keys());
    for (size, note) in &seen {
        let (text, _) = votechain_core::note::split(note).unwrap();
        let cp = Checkpoint::parse(text).unwrap();
        assert_eq!(
            merkle::tree_hash(&nodes, *size).unwrap(),
            cp.root,
            "the checkpoint of size {size} is not a prefix of the final tree"
        );
    }
    // The log is exactly the chain.
    let chain = chain_items(&env.ledger, "demo-2026", 0, 1).await;
    let leaves: Vec<_> = chain.iter().map(|v| merkle::leaf_hash(&v.hash)).collect();
    assert_eq!(merkle::root_of(&leaves), last.root);
    for n in [p1, p2, writer] {
        n.shutdown().await;
    }
}

/// Serves the files under `root` over HTTP, as any static host would; returns its URL.
async fn static_site(root: std::path::PathBuf) -> String {
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    async fn file(
        State(root): State<std::path::PathBuf>,
        Path(p): Path<String>,
    ) -> Result<Vec<u8>, StatusCode> {
        if p.split('/').any(|c| c == "..") {
            return Err(StatusCode::BAD_REQUEST);
        }
        std::fs::read(root.join(p)).map_err(|_| StatusCode::NOT_FOUND)
    }
    let app = axum::Router::new()
        .route("/{*p}", axum::routing::get(file))
        .with_state(root);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}
