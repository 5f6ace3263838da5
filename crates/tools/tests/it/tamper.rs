//! Issue 2, "what it must show" 5: changing one stored attribute of one vote item makes
//! `verify` fail and name that seq — through the library and through the CLI; and offline:
//! `votechain export` then `votechain-verify chain` (core only) says the same.

use crate::common::*;
use aws_sdk_dynamodb::types::AttributeValue;
use std::time::Duration;
use votechain::dynamo::items;
use votechain::verify::{self, Problem};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altering_one_attribute_is_detected_at_its_seq() {
    let env = TestEnv::new("tamper", 1, DEMO).await;
    let node = env.node(&["ingest", "writer"], "tamper-0").await;
    let http = reqwest::Client::new();
    for i in 0..30 {
        submit_until_accepted(&http, &node, "demo-2026", &vote_id(3, i), "alice", "north").await;
    }
    eventually(Duration::from_secs(60), "30 votes chained", || async {
        (chain_items(&env.ledger, "demo-2026", 0, 1).await.len() == 30).then_some(())
    })
    .await;
    node.shutdown().await;
    let clean = verify::verify_election(&env.ledger, &env.election("demo-2026"))
        .await
        .unwrap();
    assert!(clean.intact, "{:?}", clean.problems);
    assert!(
        cli_verify(&env, &["--json"]).0,
        "CLI says intact before tampering"
    );
    let (ok, out) = offline_verify(&env);
    assert!(
        ok && out.contains("INTACT (30 votes in 1 chain(s))"),
        "offline verifier: {out}"
    );

    // Change the candidate of seq 17, as an attacker with table access would.
    env.ledger
        .db
        .update_item()
        .table_name(&env.ledger.table)
        .set_key(Some(items::key(
            items::chain_pk("demo-2026", 0, 1),
            items::vote_sk(17),
        )))
        .update_expression("SET candidate_id = :c")
        .expression_attribute_values(":c", AttributeValue::S("bob".into()))
        .send()
        .await
        .unwrap();
    let r = verify::verify_election(&env.ledger, &env.election("demo-2026"))
        .await
        .unwrap();
    assert!(!r.intact);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(
        matches!(
            r.problems[0],
            Problem::HashMismatch {
                chain: 0,
                seq: 17,
                ..
            }
        ),
        "{:?}",
        r.problems
    );

    let (ok, out) = cli_verify(&env, &[]);
    assert!(!ok, "CLI exits non-zero");
    assert!(out.contains("seq 17") && out.contains("BROKEN"), "{out}");
    let (_, json) = cli_verify(&env, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["intact"], false);
    assert_eq!(v["problems"][0]["seq"], 17);
    assert_eq!(v["problems"][0]["kind"], "hash_mismatch");
    let (ok, out) = offline_verify(&env);
    assert!(
        !ok && out.contains("BROKEN") && out.contains("chain 0 seq 17: hash mismatch"),
        "offline verifier: {out}"
    );
}

/// `votechain export` of this test's table, then `votechain-verify chain` on the file.
fn offline_verify(env: &TestEnv) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo-2026.jsonl");
    let out = votechain(env, &["export", "--out", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verifier = node_bin().with_file_name("votechain-verify");
    let out = std::process::Command::new(verifier)
        .arg("chain")
        .arg(&file)
        .output()
        .unwrap();
    assert_ne!(
        out.status.code(),
        Some(2),
        "votechain-verify could not run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Runs the real binary's `verify` against this test's table.
fn cli_verify(env: &TestEnv, extra: &[&str]) -> (bool, String) {
    let out = votechain(env, &[&["verify"], extra].concat());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.code() == Some(2) {
        panic!(
            "verify could not run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (out.status.success(), stdout)
}

/// Runs `votechain COMMAND --election demo-2026 ...` against this test's table.
fn votechain(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ledger_only_config(env, dir.path());
    std::process::Command::new(node_bin())
        .args(&args[..1])
        .args([
            "--election",
            "demo-2026",
            "--endpoint",
            &env.dynamo.endpoint,
            "--config",
        ])
        .arg(&cfg)
        .args(&args[1..])
        .output()
        .unwrap()
}
