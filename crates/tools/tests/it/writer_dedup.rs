//! Optimistic dedup: a resubmission the ChainWriter does not remember is caught by its
//! vote_id marker's condition; the writer reads the batch's markers, plans again without
//! the duplicates, and chains the rest of the batch. With the writer's memory turned off
//! (`writer.recent_ids_max = 0`), every resubmission takes that path: 300 votes, then the
//! same 300 again interleaved with 200 new ones. Exactly 500 are chained, seq 1..500,
//! verify passes, and `votechain_writer_replans_total` shows the path was taken.

use crate::common::*;
use futures::StreamExt;
use std::collections::HashSet;
use std::time::Duration;
use votechain::verify;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmissions_beyond_the_writers_memory_are_caught_by_the_markers() {
    let mut env = TestEnv::new("dedup", 2, DEMO).await;
    env.config.writer.recent_ids_max = 0;
    let node = env.node(&["ingest", "writer", "query"], "dedup-0").await;
    let http = reqwest::Client::new();
    let replans_before = metric(&http, &node, "votechain_writer_replans_total", "").await;
    let dups_before = metric(&http, &node, "votechain_writer_duplicates_total", "").await;

    submit_range(&http, &node, 1, 0, 300).await;
    demo_chained(&env.ledger, 300, Duration::from_secs(90)).await;

    // The same 300 again, interleaved with 200 new ones, so batches mix both.
    let mut jobs: Vec<(u32, u32)> = (0..300)
        .map(|i| (1, i))
        .chain((0..200).map(|i| (2, i)))
        .collect();
    jobs.sort_by_key(|&(t, i)| (i * 7 + t) % 101);
    const C: [&str; 3] = ["alice", "bob", "carol"];
    const R: [&str; 4] = ["north", "south", "east", "west"];
    futures::stream::iter(jobs)
        .for_each_concurrent(32, |(t, i)| {
            let (http, node) = (&http, &node);
            async move {
                submit_until_accepted(
                    http,
                    node,
                    "demo-2026",
                    &vote_id(t, i),
                    C[(i % 3) as usize],
                    R[(i / 3 % 4) as usize],
                )
                .await
            }
        })
        .await;
    demo_chained(&env.ledger, 500, Duration::from_secs(90)).await;
    // Let every resubmission reach the writer before counting exactly.
    eventually(
        Duration::from_secs(60),
        "all 300 resubmissions seen as duplicates",
        || async {
            (metric(&http, &node, "votechain_writer_duplicates_total", "").await - dups_before
                >= 300.0)
                .then_some(())
        },
    )
    .await;

    let items = chain_items(&env.ledger, "demo-2026", 0, 1).await;
    assert_eq!(items.len(), 500, "each distinct vote chained exactly once");
    assert_eq!(
        items.iter().map(|v| v.seq).collect::<Vec<_>>(),
        (1..=500).collect::<Vec<u64>>()
    );
    let ids: HashSet<String> = items.iter().map(|v| v.vote_id.clone()).collect();
    let want: HashSet<String> = (0..300)
        .map(|i| vote_id(1, i))
        .chain((0..200).map(|i| vote_id(2, i)))
        .collect();
    assert_eq!(ids, want);
    let replans = metric(&http, &node, "votechain_writer_replans_total", "").await - replans_before;
    assert!(
        replans >= 1.0,
        "resubmissions went through the marker conditions ({replans} re-plans)"
    );
    let report = verify::verify_election(&env.ledger, &env.election("demo-2026"))
        .await
        .unwrap();
    assert!(
        report.intact && report.votes == 500,
        "{:?}",
        report.problems
    );
    node.shutdown().await;
}
