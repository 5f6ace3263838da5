//! Aborted transactions are invisible to every reader of `votes`, on Apache Kafka.
//!
//! Ingest answers 503 for a vote whose transaction aborted, and the client sends it again:
//! if any reader saw the aborted copy, the vote could be chained from it (a vote the client
//! was told was NOT recorded) or dead-lettered as a conflict. Here a transactional producer
//! writes 8 votes and aborts, then 8 more and commits, between votes sent through ingest.
//! The writer chains exactly the committed ones, nothing is dead-lettered, recount (Kafka,
//! chain, read model) agrees, and replay rebuilds the same counts from Kafka. The aborted
//! records are on the topic (read_uncommitted sees them), so this test fails on a broker
//! that does not hide them, as librdkafka's mock cluster does not.

use crate::common::*;
use rdkafka::producer::Producer;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_votes_are_never_chained_counted_or_replayed() {
    let env = TestEnv::new("aborted", 1, DEMO).await;
    let node = env
        .node(&["ingest", "writer", "projector", "query"], "aborted-0")
        .await;
    let http = reqwest::Client::new();
    submit_range(&http, &node, 0x301, 0, 10).await;

    let p = txn_producer(&env, "test-aborter", 60_000);
    let block = |f: &dyn Fn() -> rdkafka::error::KafkaResult<()>| tokio::task::block_in_place(f);
    block(&|| p.begin_transaction()).expect("begin");
    let aborted = send_votes(&env, &p, 0x302, 8).await;
    block(&|| p.abort_transaction(Duration::from_secs(30))).expect("abort");
    block(&|| p.begin_transaction()).expect("begin");
    let committed = send_votes(&env, &p, 0x303, 8).await;
    block(&|| p.commit_transaction(Duration::from_secs(30))).expect("commit");
    submit_range(&http, &node, 0x304, 0, 10).await;

    demo_chained(&env.ledger, 28, Duration::from_secs(60)).await;
    let report = recount_agrees(&env, "demo-2026").await;
    let chained: Vec<String> = chain_items(&env.ledger, "demo-2026", 0, 1)
        .await
        .into_iter()
        .map(|v| v.vote_id)
        .collect();
    assert_eq!(chained.len(), 28, "{report}");
    assert!(committed.iter().all(|c| chained.contains(c)));
    assert!(aborted.iter().all(|a| !chained.contains(a)));
    assert!(
        dead_letters(&env).await.is_empty(),
        "no aborted copy reached the writer"
    );

    let everything = vote_ids_on_topic(&env, "read_uncommitted").await;
    assert!(aborted.iter().all(|a| everything.contains(a)));

    eventually(Duration::from_secs(30), "28 projected", || async {
        let r = served_results(&http, &node, "demo-2026").await;
        (r["total"] == 28).then_some(())
    })
    .await;
    let replayed = run_replay(&env).await;
    assert!(replayed.switched, "{replayed:?}");
    assert_eq!(replayed.votes, 28, "{replayed:?}");
    assert!(replayed.differences.is_empty(), "{replayed:?}");
    assert_eq!(
        (replayed.conflicts, replayed.invalid),
        (0, 0),
        "{replayed:?}"
    );
    node.shutdown().await;
}
