//! Issue 2, "what it must show" 5: changing one stored attribute of one vote item makes
//! `verify` fail and name that seq — through the library and through the CLI.

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
    let clean = verify::verify_election(&env.ledger, "demo-2026", 1).await.unwrap();
    assert!(clean.intact, "{:?}", clean.problems);
    assert!(cli_verify(&env, &["--json"]).0, "CLI says intact before tampering");

    // Change the candidate of seq 17, as an attacker with table access would.
    env.ledger
        .db
        .update_item()
        .table_name(&env.ledger.table)
        .set_key(Some(items::key(items::chain_pk("demo-2026", 0, 1), items::vote_sk(17))))
        .update_expression("SET candidate_id = :c")
        .expression_attribute_values(":c", AttributeValue::S("bob".into()))
        .send()
        .await
        .unwrap();
    let r = verify::verify_election(&env.ledger, "demo-2026", 1).await.unwrap();
    assert!(!r.intact);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(matches!(r.problems[0], Problem::HashMismatch { chain: 0, seq: 17, .. }), "{:?}", r.problems);

    let (ok, out) = cli_verify(&env, &[]);
    assert!(!ok, "CLI exits non-zero");
    assert!(out.contains("seq 17") && out.contains("BROKEN"), "{out}");
    let (_, json) = cli_verify(&env, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["intact"], false);
    assert_eq!(v["problems"][0]["seq"], 17);
    assert_eq!(v["problems"][0]["kind"], "hash_mismatch");
}

/// Runs the real binary's `verify` against this test's table.
fn cli_verify(env: &TestEnv, extra: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("verify.toml");
    std::fs::write(
        &cfg,
        format!(
            "roles = [\"query\"]\n[kafka]\nbootstrap_servers = \"unused:9092\"\n[dynamodb]\nledger_table = \"{}\"\nlocal_credentials = true\n{}",
            env.ledger.table, DEMO
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_votechain"))
        .args(["verify", "--election", "demo-2026", "--endpoint", &env.dynamo.endpoint, "--config"])
        .arg(&cfg)
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.code() == Some(2) {
        panic!("verify could not run: {}", String::from_utf8_lossy(&out.stderr));
    }
    (out.status.success(), stdout)
}
