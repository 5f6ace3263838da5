//! Issue 12, "what it must show" 3: a vote_id re-submitted with another choice is a
//! conflict. The first ballot stays chained and counted; the other is dead-lettered with
//! reason `conflict` (stored on `votes-dlq` with that header) and counted in
//! `votechain_writer_conflicts_total`; a retry of the first ballot stays a plain duplicate.
//! With the writer's memory off, resubmissions are caught by the markers (the choice
//! recorded there); two conflicting ballots in one batch are caught by the linking rule.
//! `votechain dlq list` shows them with their reason and counts, never their choice unless
//! asked. Relies on nothing from Kafka's `read_committed` filtering: a ballot the log holds twice
//! (a 503 retried after its transaction committed) is two conflicts, and counted as such.

use crate::common::*;
use std::time::Duration;

const CONFLICTS: &str = "votechain_writer_conflicts_total";
const DEAD: (&str, &str) = ("votechain_writer_dead_letters_total", "reason=\"conflict\"");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_choice_under_a_chained_vote_id_is_dead_lettered_never_counted() {
    let mut env = TestEnv::new("conflict", 1, DEMO).await;
    env.config.writer.recent_ids_max = 0; // resubmissions go through the markers
    let node = env.node(&["ingest", "writer", "query"], "conflict-0").await;
    let http = reqwest::Client::new();
    // Metrics are per process and the suite shares one: count from here.
    let conflicts_before = metric(&http, &node, CONFLICTS, "").await;
    let dead_before = metric(&http, &node, DEAD.0, DEAD.1).await;
    let dups_before = metric(&http, &node, "votechain_writer_duplicates_total", "").await;

    // 1. Chained first; then another ballot and a retry of the first, later.
    let (x, y) = (vote_id(40, 1), vote_id(40, 2));
    submit_until_accepted(&http, &node, "demo-2026", &x, "alice", "north").await;
    demo_chained(&env.ledger, 1, Duration::from_secs(60)).await;
    submit_until_accepted(&http, &node, "demo-2026", &x, "carol", "north").await;
    submit_until_accepted(&http, &node, "demo-2026", &x, "alice", "north").await;
    // 2. Two ballots under one new vote_id at once (often one batch), then one more vote.
    tokio::join!(
        submit_until_accepted(&http, &node, "demo-2026", &y, "bob", "east"),
        submit_until_accepted(&http, &node, "demo-2026", &y, "bob", "west"),
    );
    submit_until_accepted(&http, &node, "demo-2026", &vote_id(40, 3), "bob", "south").await;
    eventually(Duration::from_secs(60), "two conflicts counted", || async {
        let n = metric(&http, &node, CONFLICTS, "").await - conflicts_before;
        (n >= 2.0).then_some(())
    })
    .await;
    demo_chained(&env.ledger, 3, Duration::from_secs(60)).await;

    let items = chain_items(&env.ledger, "demo-2026", 0, 1).await;
    assert_eq!(
        items.len(),
        3,
        "x, y and the last vote, once each: {items:?}"
    );
    let of = |id: &str| items.iter().find(|v| v.vote_id == id).expect("chained");
    let x_choice = (of(&x).candidate_id.as_str(), of(&x).region_id.as_str());
    assert_eq!(x_choice, ("alice", "north"), "the first ballot stays");
    let y_region = of(&y).region_id.clone();
    assert!(
        ["east", "west"].contains(&y_region.as_str()),
        "one of y's ballots"
    );
    let y_other = if y_region == "east" { "west" } else { "east" };

    // On the dead-letter topic (this test's own Kafka): exactly the two other ballots.
    let dead = dead_letters(&env).await;
    let mut ballots: Vec<(String, String, String)> = dead
        .iter()
        .filter(|(reason, _)| reason == "conflict")
        .map(|(_, ev)| {
            (
                ev.vote_id.clone(),
                ev.candidate_id.clone(),
                ev.region_id.clone(),
            )
        })
        .collect();
    let copies = ballots.len() as f64;
    ballots.sort();
    ballots.dedup();
    let want = vec![
        (x.clone(), "carol".to_string(), "north".to_string()),
        (y.clone(), "bob".to_string(), y_other.to_string()),
    ];
    assert_eq!(ballots, want, "{dead:?}");
    assert_eq!(
        metric(&http, &node, CONFLICTS, "").await - conflicts_before,
        copies
    );
    assert_eq!(
        metric(&http, &node, DEAD.0, DEAD.1).await - dead_before,
        copies
    );
    let dups = metric(&http, &node, "votechain_writer_duplicates_total", "").await - dups_before;
    assert!(dups >= 1.0, "the retry of x's first ballot is a duplicate");
    // What an operator reads: `votechain dlq list`, counts per reason as the metric, and
    // no choice unless asked.
    let listed = dlq_list(&env, &["--reason", "conflict"]);
    assert_eq!(
        listed["records"].as_array().unwrap().len() as f64,
        copies,
        "{listed}"
    );
    assert_eq!(
        listed["count_by_reason"]["conflict"].as_f64(),
        Some(copies),
        "{listed}"
    );
    assert!(
        !listed.to_string().contains("carol"),
        "no choice without --show-choice: {listed}"
    );
    let shown = dlq_list(&env, &["--reason", "conflict", "--show-choice"]).to_string();
    assert!(shown.contains("carol"), "{shown}");
    let report = votechain::verify::verify_election(&env.ledger, &env.election("demo-2026"))
        .await
        .unwrap();
    assert!(report.intact && report.votes == 3, "{:?}", report.problems);
    node.shutdown().await;
}

/// `votechain dlq list --json ARGS` against this test's Kafka and tables.
fn dlq_list(env: &TestEnv, args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dlq.toml");
    std::fs::write(&cfg, format!("roles = [\"query\"]\n{}", env.toml)).unwrap();
    let out = std::process::Command::new(node_bin())
        .args(["dlq", "list", "--json", "--config"])
        .arg(&cfg)
        .args(["--kafka-bootstrap", &env.kafka.bootstrap_servers()])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dlq list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
