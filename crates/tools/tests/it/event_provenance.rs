//! Issue 15, item 5 ("what it must show" 4): event provenance. With `[provenance]` keys,
//! ingest signs every vote event; a vote event produced straight to `votes` without a
//! valid signature (none, another key's, or a payload changed after signing) is never
//! chained: the writer dead-letters it `unauthenticated` (the counter the critical alert
//! `VotechainUnauthenticatedVotes` watches; rule test in deploy/prometheus/alerts.test.yml).
//! A record signed under a writer's key is chained (what ingest does), and `recount`,
//! replaying the log under the same rule, agrees with the chain and the read model.

use crate::common::*;
use std::time::Duration;
use votechain_core::provenance;

const KEY_1: &str = "provenance-key-one-of-32-bytes-!!";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_events_signed_by_ingest_are_chained() {
    let mut env = TestEnv::new("provenance", 1, DEMO).await;
    env.config.provenance = votechain::config::ProvenanceConfig {
        sign_with: Some("k1".into()),
        keys: vec![votechain::config::ProvenanceKey {
            id: "k1".into(),
            key: Some(KEY_1.into()),
            key_env: None,
        }],
    };
    let node = env
        .node(&["ingest", "writer", "projector", "query"], "provenance")
        .await;
    let http = reqwest::Client::new();
    for i in 0..5 {
        submit_until_accepted(&http, &node, "demo-2026", &vote_id(88, i), "alice", "north").await;
    }
    demo_chained(&env.ledger, 5, Duration::from_secs(30)).await;

    // Straight into `votes`, past ingest.
    let producer = raw_producer(&env);
    // One cast time for all: `event(i)` is built twice (bytes sent, bytes signed) and
    // must give the same bytes both times, or a valid MAC would sign other bytes.
    let cast_at = votechain::now_ms();
    let event = |i: u32| raw_event("demo-2026", &vote_id(88, i), "bob", "south", cast_at);
    let other_key = b"someone-else's-key-of-32-bytes!!!".to_vec();
    let tampered = {
        let signed = event(13).to_bytes();
        let mac = provenance::sign("k1", KEY_1.as_bytes(), &signed);
        let mut changed = event(13);
        changed.candidate_id = "carol".into();
        (changed.to_bytes(), Some(mac))
    };
    let injected: Vec<(Vec<u8>, Option<String>)> = vec![
        (event(10).to_bytes(), None),
        (
            event(11).to_bytes(),
            Some(provenance::sign("k1", &other_key, &event(11).to_bytes())),
        ),
        (
            event(12).to_bytes(),
            Some(provenance::sign(
                "k9",
                KEY_1.as_bytes(),
                &event(12).to_bytes(),
            )),
        ),
        tampered,
        (
            event(14).to_bytes(),
            Some(provenance::sign(
                "k1",
                KEY_1.as_bytes(),
                &event(14).to_bytes(),
            )),
        ),
    ];
    for (payload, mac) in &injected {
        send_raw(
            &env,
            &producer,
            b"demo-2026#0",
            payload,
            None,
            mac.as_deref(),
        )
        .await;
    }

    // Only the validly signed one is chained; the others are dead-lettered unauthenticated.
    let chained = demo_chained(&env.ledger, 6, Duration::from_secs(30)).await;
    assert_eq!(chained[5].vote_id, vote_id(88, 14));
    let dead = eventually(Duration::from_secs(20), "4 dead letters", || async {
        let d = dead_letters(&env).await;
        (d.len() >= 4).then_some(d)
    })
    .await;
    let mut got: Vec<(String, String)> = dead
        .iter()
        .map(|(reason, ev)| (reason.clone(), ev.vote_id.clone()))
        .collect();
    got.sort();
    let want: Vec<(String, String)> = (10..14)
        .map(|i| ("unauthenticated".to_string(), vote_id(88, i)))
        .collect();
    assert_eq!(got, want);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(chain_items(&env.ledger, "demo-2026", 0, 1).await.len(), 6);
    let n = metric(
        &http,
        &node,
        "votechain_writer_dead_letters_total",
        "reason=\"unauthenticated\"",
    )
    .await;
    assert_eq!(n, 4.0);

    // `recount` replays the log under the same rule: the 4 unsigned records are skipped
    // there too, and Kafka, the chain and the read model agree.
    let counted = serde_json::json!({"total": 6, "candidates": {"alice": 5, "bob": 1}, "regions": {"north": {"alice": 5}, "south": {"bob": 1}}});
    eventually(Duration::from_secs(60), "6 votes projected", || async {
        (served_results(&http, &node, "demo-2026").await == counted).then_some(())
    })
    .await;
    recount_agrees(&env, "demo-2026").await;
    node.shutdown().await;
}
