//! Witnesses: a publisher whose election's manifest names a witness policy (one witness,
//! quorum 1; contract v2.1) publishes checkpoints only with the witness's cosignature; a
//! receipt checks with that policy and fails step 4 with a stricter one. The witness
//! speaks C2SP `tlog-witness` over HTTP: 409 (`text/x.tlog.size`, the size it knows) on a
//! stale old size, 422 on a forked tree, 404 for an unknown log, and it keeps its state
//! across a restart. No transaction is aborted here: nothing relies on `read_committed`.

use crate::common::*;
use std::sync::Arc;
use std::time::Duration;
use votechain::logstore::LogStore;
use votechain::witness::{Witness, known_logs, router};
use votechain_core::checkpoint::{Checkpoint, WitnessPolicy, log_verifier, verify_published};
use votechain_core::manifest::Manifest;
use votechain_core::merkle;
use votechain_core::receipt::{Ballot, check_proof};
use votechain_core::witness::AddCheckpoint;

async fn serve(w: Arc<Witness>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, router(w)).await.unwrap();
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_published_cosigned_and_the_witness_refuses_forks() {
    // The manifest names the witness, quorum 1 (contract v2.1): the publisher takes its
    // policy from there; publisher.witnesses only says where the witness listens.
    let wkey = || ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let vkey = votechain_core::note::verifier_key(
        "w1.test",
        votechain_core::note::COSIGNATURE_V1,
        &wkey().verifying_key().to_bytes(),
    );
    let elections = format!("{DEMO}witnesses = [\"{vkey}\"]\nwitness_quorum = 1\n");
    let mut env = TestEnv::new("witness", 1, &elections).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("witness-state.json");
    let logs = known_logs(&env.ledger).await.unwrap();
    assert!(logs.contains_key("test.votechain.invalid/demo-2026/0"));
    let w = Arc::new(Witness::open("w1.test", wkey(), logs.clone(), state.clone()).unwrap());
    assert_eq!(w.verifier_key(), vkey);
    let (url, server) = serve(w).await;
    let key = votechain_tools::fixture::write_test_log_key(dir.path()).unwrap();
    let p = &mut env.config.publisher;
    p.key_files.insert("demo-2026".into(), key);
    p.checkpoint_interval_ms = 200;
    p.witnesses = vec![votechain::config::WitnessRef {
        url: url.clone(),
        vkey: vkey.clone(),
    }];
    let node = env
        .node(&["ingest", "writer", "query", "publisher"], "witness-0")
        .await;
    let http = reqwest::Client::new();
    submit_range(&http, &node, 15, 0, 50).await;
    let logs_store = LogStore {
        db: env.ledger.db.clone(),
        table: env.ledger.table.clone(),
    };
    let published = eventually(Duration::from_secs(30), "50 votes published", || async {
        logs_store
            .published("demo-2026", 0)
            .await
            .unwrap()
            .filter(|c| c.size >= 50)
    })
    .await;
    let m = Manifest::parse_json(
        &get_text(
            &http,
            &format!("http://{}/v1/elections/demo-2026/manifest", node.http_addr),
        )
        .await,
    )
    .unwrap();
    let origin = m.log_origin_of_chain(0);
    let log = log_verifier(&origin, &m.public_key_bytes().unwrap());
    let policy = m.witness_policy().expect("the manifest's policy");
    assert_eq!(
        policy,
        WitnessPolicy::new(std::slice::from_ref(&vkey), 1).unwrap()
    );
    verify_published(&published.note, &origin, &log, &policy).expect("cosigned to quorum");

    // A receipt checks with that policy; a stricter one (another witness too) fails step 4.
    let vid = vote_id(15, 7);
    let proof = get_text(
        &http,
        &format!(
            "http://{}/v1/elections/demo-2026/votes/{vid}/proof",
            node.http_addr
        ),
    )
    .await;
    let salt = test_salt(&vid);
    let ballot = Ballot {
        candidate_id: "bob",
        region_id: "east",
        salt: Some(&salt),
    };
    check_proof(&proof, &m, &policy, &ballot).expect("the receipt checks");
    let other = votechain_core::note::verifier_key(
        "w2.test",
        votechain_core::note::COSIGNATURE_V1,
        &ed25519_dalek::SigningKey::from_bytes(&[6; 32])
            .verifying_key()
            .to_bytes(),
    );
    let strict = WitnessPolicy::new(&[vkey.clone(), other], 2).unwrap();
    let err = check_proof(&proof, &m, &strict, &ballot).unwrap_err();
    assert!(err.to_string().starts_with("step 4"), "{err}");
    node.shutdown().await;

    // The witness, asked directly. Its size is the last published one's.
    let known = logs_store.published("demo-2026", 0).await.unwrap().unwrap();
    let post = |body: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .post(format!("{url}/add-checkpoint"))
                .body(body)
                .send()
                .await
                .unwrap();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            (r.status().as_u16(), ct, r.text().await.unwrap())
        }
    };
    let log_key = votechain_tools::fixture::test_log_key();
    let checkpoint = |size: u64, leaves: &[merkle::Hash]| {
        Checkpoint {
            origin: origin.clone(),
            size,
            root: merkle::tree_hash(leaves, size).unwrap(),
        }
        .sign(&log_key)
    };
    let stale = AddCheckpoint {
        old: 1,
        proof: vec![],
        note: known.note.clone(),
    };
    let (status, ct, body) = post(stale.body()).await;
    assert_eq!((status, ct.as_deref()), (409, Some("text/x.tlog.size")));
    assert_eq!(body, format!("{}\n", known.size));
    // A fork: a tree of known.size + 10 that does not extend what it cosigned.
    let forged: Vec<merkle::Hash> = (0..known.size + 10)
        .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
        .collect();
    let fork = AddCheckpoint {
        old: known.size,
        proof: merkle::consistency_proof(&forged[..], known.size, known.size + 10).unwrap(),
        note: checkpoint(known.size + 10, &forged),
    };
    assert_eq!(post(fork.body()).await.0, 422);
    let stranger = Checkpoint {
        origin: "elsewhere.test/0".into(),
        size: 0,
        root: merkle::empty_root(),
    }
    .sign(&log_key);
    assert_eq!(post(format!("old 0\n\n{stranger}")).await.0, 404);
    assert_eq!(post("garbage".into()).await.0, 400);

    // Restarted from its state file, it still knows the size, and still refuses the fork.
    server.abort();
    let w = Arc::new(Witness::open("w1.test", wkey(), logs, state).unwrap());
    let (url2, _server) = serve(w).await;
    let r = http
        .post(format!("{url2}/add-checkpoint"))
        .body(stale.body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.text().await.unwrap(), format!("{}\n", known.size));
    let r = http
        .post(format!("{url2}/add-checkpoint"))
        .body(fork.body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}
