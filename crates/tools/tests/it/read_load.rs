//! Issue 3, "what it must show" 5: read load does not slow writes. Votes flow for a while
//! with no readers, then with eight readers polling the results endpoint as fast as they can;
//! the test reports the write rate in both phases and the read rate. It asserts correctness
//! only (results exact afterwards, both loads really ran); the rates are reported, not
//! asserted: speed is checked by benchmarks, not by timed tests.

use crate::common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_results_while_votes_flow_reports_both_rates() {
    let env = TestEnv::new("readload", 4, DEMO).await;
    let node = env
        .node(&["ingest", "writer", "projector", "query"], "rl")
        .await;
    let http = reqwest::Client::new();
    let write_phase = |from: u32, secs: u64| {
        let (http, node) = (&http, &node);
        async move {
            let next = AtomicU64::new(from as u64);
            let t0 = Instant::now();
            futures::future::join_all((0..4).map(|_| async {
                while t0.elapsed() < Duration::from_secs(secs) {
                    let i = next.fetch_add(1, Ordering::Relaxed) as u32;
                    submit_until_accepted(
                        http,
                        node,
                        "demo-2026",
                        &vote_id(12, i),
                        "alice",
                        "north",
                    )
                    .await;
                }
            }))
            .await;
            let n = next.load(Ordering::Relaxed) - from as u64;
            (n, n as f64 / t0.elapsed().as_secs_f64())
        }
    };
    let (n1, quiet) = write_phase(0, 2).await;
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (stop, reads, http) = (stop.clone(), reads.clone(), http.clone());
            let url = format!("http://{}/v1/elections/demo-2026/results", node.http_addr);
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let t0 = Instant::now();
    let (n2, busy) = write_phase(1_000_000, 2).await;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let read_rate = reads.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64();
    eprintln!(
        "writes: {quiet:.0} votes/s without readers, {busy:.0} votes/s while 8 readers poll results at {read_rate:.0} reads/s"
    );
    assert!(n1 > 0 && n2 > 0 && read_rate > 0.0);
    let want = n1 + n2;
    eventually(
        Duration::from_secs(400),
        "results exact after both phases",
        || async {
            let chain = chain_results(&env.ledger, "demo-2026", 1).await;
            (chain["total"] == want && served_results(&http, &node, "demo-2026").await == chain)
                .then_some(())
        },
    )
    .await;
    node.shutdown().await;
}
