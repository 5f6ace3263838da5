//! Issue 16, part 4: ingest runs several transactional producers (`ingest.producers`),
//! each its own `transactional.id`, so that transactions overlap; fencing still holds.
//!
//! - With 4 producers, 2,000 votes sent 64 at a time are all answered 202 and chained
//!   exactly once, and at some moment more than one transaction was running
//!   (`votechain_ingest_transactions_in_flight`, sampled every 2 ms).
//!
//! Fencing is shown in zombie_ingest.rs: the successor's `init_transactions` bumps the
//! epoch of each `transactional.id` of its instance, up to `MAX_PRODUCERS`, and the
//! zombie's commit is refused.

use crate::common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_producers_overlap_transactions_and_chain_every_vote_once() {
    let env = TestEnv::new("producers-four", 2, DEMO).await;
    let node = env
        .node_with(|c| {
            c.ingest.producers = 4;
            c.ingest.linger_ms = 1;
            c.node.instance_id = "ing-4".into();
        })
        .await;
    let http = reqwest::Client::new();
    let before = metric(&http, &node, "votechain_ingest_batch_votes_count", "").await;
    // The most transactions seen running at once, sampled while the votes go in.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut most = 0.0f64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = metrics_exporter_prometheus::PrometheusHandle::render(
                    &votechain::metrics::install(),
                );
                most = most.max(votechain::metrics::sum_series(
                    &text,
                    "votechain_ingest_transactions_in_flight",
                    "",
                ));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            most
        })
    };
    let n = 2000u32;
    let started = std::time::Instant::now();
    futures::StreamExt::for_each_concurrent(futures::stream::iter(0..n), 64, |i| {
        let (http, node) = (&http, &node);
        async move {
            let (c, r) = (["alice", "bob", "carol"][(i % 3) as usize], "north");
            submit_until_accepted(http, node, "demo-2026", &vote_id(62, i), c, r).await
        }
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = sampler.await.unwrap();
    let committed = metric(&http, &node, "votechain_ingest_batch_votes_count", "").await - before;
    assert!(
        most >= 2.0,
        "transactions never overlapped (most in flight: {most})"
    );
    assert!(most <= 4.0, "more in flight than producers: {most}");
    let items = demo_chained(&env.ledger, n as usize, Duration::from_secs(120)).await;
    let ids: std::collections::BTreeSet<_> = items.iter().map(|v| v.vote_id.clone()).collect();
    assert_eq!(ids.len(), items.len(), "no vote chained twice");
    assert_eq!(items.len(), n as usize, "every vote chained");
    eprintln!("{n} votes in {secs:.2} s, {committed} transactions, at most {most} at once");
    node.shutdown().await;
}
