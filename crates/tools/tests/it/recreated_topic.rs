//! A ledger written from one Kafka log, then a writer pointed at a new, empty log (the
//! votes topic recreated, or another cluster): the partition's checkpoint is past the end
//! of the new log, so its offsets would name other records. The ChainWriter refuses to
//! start for that partition (its start-up guard; `auto.offset.reset=error` behind it) and
//! writes nothing; ingest still accepts (Kafka keeps the vote
//! until an operator fixes the mismatch). Nothing already chained changes.

use crate::common::*;
use std::time::Duration;
use votechain::dev::{KafkaLocal, KafkaLocalOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_refuses_a_log_that_does_not_match_the_ledger() {
    let env = TestEnv::new("recreated", 2, DEMO).await;
    let node = env
        .node(&["ingest", "writer", "query"], "recreated-0")
        .await;
    let http = reqwest::Client::new();
    submit_range(&http, &node, 1, 0, 40).await;
    demo_chained(&env.ledger, 40, Duration::from_secs(60)).await;
    node.shutdown().await;
    let before = chain_items(&env.ledger, "demo-2026", 0, 1).await;
    let mut checkpoints = vec![];
    for p in 0..2 {
        checkpoints.push(
            env.ledger
                .checkpoint("votes", p)
                .await
                .unwrap()
                .map(|c| c.next_offset),
        );
    }
    assert!(
        checkpoints.iter().any(|c| c.is_some_and(|o| o > 0)),
        "the first log moved a checkpoint: {checkpoints:?}"
    );

    // Same tables, a new empty Kafka log: a second Apache Kafka cluster, its topics new.
    let kafka2 = KafkaLocal::start_with_topics(KafkaLocalOptions::nodes(1), &env.config.kafka)
        .await
        .expect("a second Kafka");
    let mut cfg = env.config.clone();
    cfg.kafka.bootstrap_servers = kafka2.bootstrap_servers();
    cfg.roles = ["ingest", "writer", "query"]
        .iter()
        .map(|r| serde_json::from_value(serde_json::json!(r)).unwrap())
        .collect();
    cfg.node.instance_id = "recreated-1".into();
    let node2 = votechain::runtime::Node::start(cfg)
        .await
        .expect("node starts");
    const RESTARTS: &str = "votechain_actor_restarts_total";
    let refused_before = metric(&http, &node2, RESTARTS, "actor_kind=\"chain_writer\"").await;
    submit_range(&http, &node2, 2, 0, 20).await;
    // The writer of the demo partition tries to start and refuses (a failed start counts as
    // a restart under its policy): proof that it ran, not just that it was not there yet.
    eventually(
        Duration::from_secs(60),
        "the mismatched partition's writer refused to start",
        || async {
            (metric(&http, &node2, RESTARTS, "actor_kind=\"chain_writer\"").await > refused_before)
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = chain_items(&env.ledger, "demo-2026", 0, 1).await;
    assert_eq!(
        after, before,
        "nothing chained from the mismatched log, nothing changed"
    );
    for (p, c) in checkpoints.iter().enumerate() {
        assert_eq!(
            env.ledger
                .checkpoint("votes", p as i32)
                .await
                .unwrap()
                .map(|c| c.next_offset),
            *c,
            "partition {p}'s checkpoint did not move"
        );
    }
    node2.shutdown().await;
    kafka2.shutdown().await;
}
