//! A transaction left open by a dead producer stalls its partition until the broker
//! aborts it, and nothing is lost; on Apache Kafka.
//!
//! A `read_committed` reader (the ChainWriter) reads a partition only up to its last stable
//! offset: the first offset of the oldest open transaction. A producer killed with a
//! transaction open (here: a transactional producer dropped mid-transaction; librdkafka
//! neither commits nor aborts on destroy) holds that offset until the transaction
//! coordinator aborts the transaction, `transaction.timeout.ms` after it began (checked
//! every `transaction.abort.timed.out.transaction.cleanup.interval.ms`, 10 s by default).
//! Meanwhile ingest's own transactions commit and are answered 202, but the writer cannot
//! chain them: the stall shows as records behind the open transaction
//! (`votechain_lag_kafka_unstable_records`) and as Kafka lag, then clears.
//! The hung vote is never chained; the votes behind it are, in order, and recount agrees.
//! For ingest this is bounded by `ingest.transaction_timeout_ms`; a restarted ingest pod
//! (same `node.instance_id`) aborts its predecessor's transaction at once (zombie_ingest.rs).

use crate::common::*;
use std::time::{Duration, Instant};

const TXN_TIMEOUT_MS: u64 = 6_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_stalls_the_partition_until_it_times_out() {
    let mut env = TestEnv::new("hanging", 1, DEMO).await;
    env.config.lag_monitor.interval_ms = 300;
    let node = env
        .node(&["ingest", "writer", "query", "lag-monitor"], "hanging-0")
        .await;
    let http = reqwest::Client::new();
    submit_range(&http, &node, 0x401, 0, 5).await;
    demo_chained(&env.ledger, 5, Duration::from_secs(60)).await;

    let p = txn_producer(&env, "test-hanging", TXN_TIMEOUT_MS);
    rdkafka::producer::Producer::begin_transaction(&p).expect("begin");
    let opened = Instant::now();
    let hung = send_votes(&env, &p, 0x402, 1).await;
    drop(p); // dies with its transaction open

    submit_range(&http, &node, 0x403, 0, 5).await; // 202 each: their transactions commit
    // The lag monitor sees the records held behind the open transaction (unless the votes
    // are chained regardless: no stall, a failure).
    let (unstable, lag, during) =
        eventually(Duration::from_secs(5), "the stall is seen", || async {
            let unstable = metric(&http, &node, "votechain_lag_kafka_unstable_records", "").await;
            let lag = metric(&http, &node, "votechain_lag_kafka_records", "").await;
            let chained = chain_items(&env.ledger, "demo-2026", 0, 1).await.len();
            ((unstable >= 6.0 && lag >= 6.0) || chained > 5).then_some((unstable, lag, chained))
        })
        .await;
    let seen_at = opened.elapsed();
    assert_eq!(during, 5, "nothing chained past the open transaction");
    assert!(
        unstable >= 6.0 && lag >= 6.0,
        "the hung vote and the 5 behind it: {unstable}, {lag}"
    );
    assert!(
        seen_at < Duration::from_millis(TXN_TIMEOUT_MS),
        "the stall was seen before the timeout ({seen_at:?})"
    );

    let items = demo_chained(&env.ledger, 10, Duration::from_secs(45)).await;
    let cleared = opened.elapsed();
    assert!(
        cleared >= Duration::from_millis(TXN_TIMEOUT_MS),
        "chained only once the broker aborted the transaction ({cleared:?})"
    );
    let ids: Vec<&str> = items.iter().map(|v| v.vote_id.as_str()).collect();
    assert!(
        !ids.contains(&hung[0].as_str()),
        "the hung vote is never chained"
    );
    assert_eq!(items.len(), 10);
    eventually(Duration::from_secs(10), "the lag clears", || async {
        let unstable = metric(&http, &node, "votechain_lag_kafka_unstable_records", "").await;
        let lag = metric(&http, &node, "votechain_lag_kafka_records", "").await;
        (unstable == 0.0 && lag < 5.0).then_some(())
    })
    .await;
    // The stall, for the record (docs/operations.md cites it).
    eprintln!(
        "hanging transaction: partition stalled {cleared:?} with a {TXN_TIMEOUT_MS} ms transaction timeout"
    );
    recount_agrees(&env, "demo-2026").await;
    node.shutdown().await;
}
