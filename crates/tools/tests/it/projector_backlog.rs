//! Issue 16, part 4: a projector behind a backlog applies several full reads in one
//! read-model transaction (the carry, `shard_worker.rs`), and the read model is still
//! exactly the chain. `projector.max_records = 7` makes every read of the backlog full, so
//! the carry is used from the first read on; the test fails if it is not (fewer than half
//! as many transactions as reads) or if a carried record is lost or counted twice.

use crate::common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_applied_several_reads_at_a_time_and_equals_the_chain() {
    let mut env = TestEnv::new("backlog", 2, DEMO).await;
    env.config.projector.max_records = 7;
    let front = env.node(&["ingest", "writer", "query"], "front").await;
    let http = reqwest::Client::new();
    submit_range(&http, &front, 63, 0, 400).await;
    let want = eventually(Duration::from_secs(60), "400 votes chained", || async {
        let c = chain_results(&env.ledger, "demo-2026", 1).await;
        (c["total"] == 400).then_some(c)
    })
    .await;
    let series = |name: &'static str, filter: &'static str| {
        let (http, front) = (&http, &front);
        async move { metric(http, front, name, filter).await }
    };
    let reads0 = series("votechain_projector_step_seconds_count", "step=\"read\"").await;
    let batches0 = series("votechain_projector_batches_applied_total", "").await;
    // The backlog is there before the projector starts.
    let p = env.node(&["projector"], "p-backlog").await;
    eventually(
        Duration::from_secs(60),
        "results equal the chain",
        || async { (served_results(&http, &front, "demo-2026").await == want).then_some(()) },
    )
    .await;
    let reads = series("votechain_projector_step_seconds_count", "step=\"read\"").await - reads0;
    let batches = series("votechain_projector_batches_applied_total", "").await - batches0;
    // 400 votes are at least 800 records (vote + marker): over 100 reads of 7.
    assert!(reads >= 100.0, "{reads} reads");
    assert!(
        batches * 2.0 < reads,
        "{batches} transactions for {reads} reads: the backlog was not carried"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        served_results(&http, &front, "demo-2026").await,
        want,
        "nothing counted twice after catching up"
    );
    p.shutdown().await;
    front.shutdown().await;
}
