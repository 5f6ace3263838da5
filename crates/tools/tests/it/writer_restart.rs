//! Issue 2, "what it must show" 3: ChainWriters stopped mid-stream, killed inside a batch
//! (`kill` aborts the handler wherever it is awaiting: reading, checking markers, or in
//! the DynamoDB transaction) and stopped between batches (`stop`), while votes flow. The
//! coordinator restarts each from the DynamoDB checkpoint: no loss, no duplicate.

use crate::common::*;
use futures::StreamExt;
use rand::Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use votechain::verify;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_killed_mid_stream_resume_without_loss_or_duplicates() {
    let mut env = TestEnv::new("restart", 2, DEMO).await;
    env.config.supervision.intensity.max_restarts = 1_000;
    env.config.supervision.backoff.initial = Duration::from_millis(20);
    env.config.supervision.backoff.max = Duration::from_millis(200);
    let node = env.node(&["ingest", "writer"], "restart-0").await;
    let http = reqwest::Client::new();

    // Wait for the writers (group join) before the chaos starts.
    let coordinator = eventually(Duration::from_secs(30), "two chain writers", || async {
        // root -> role-writer -> writer-coordinator -> two chain writers
        node.root
            .get_children()
            .into_iter()
            .flat_map(|role| role.get_children())
            .find(|c| c.get_children().len() == 2)
    })
    .await;

    let done = Arc::new(AtomicBool::new(false));
    let kills_so_far = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let killer = {
        let (done, kills_so_far) = (done.clone(), kills_so_far.clone());
        tokio::spawn(async move {
            let (mut kills, mut stops) = (0, 0);
            while !done.load(Ordering::Relaxed) {
                let pause = rand::rng().random_range(40..160);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let writers = coordinator.get_children();
                if writers.is_empty() {
                    continue;
                }
                let (pick, hard) = (
                    rand::rng().random_range(0..writers.len()),
                    rand::rng().random_bool(0.75),
                );
                let w = &writers[pick];
                if hard {
                    w.kill();
                    kills += 1;
                    kills_so_far.fetch_add(1, Ordering::Relaxed);
                } else {
                    w.stop(Some("test stop between batches".into()));
                    stops += 1;
                    kills_so_far.fetch_add(1, Ordering::Relaxed);
                }
            }
            (kills, stops)
        })
    };

    // Votes flow in rounds until the killer has disrupted writers enough times (bounded: 12
    // rounds). Under a loaded machine restarts are slow, so disruptions are counted, not time.
    let mut n = 0u32;
    for _ in 0..12 {
        futures::stream::iter(n..n + 200)
            .for_each_concurrent(24, |i| {
                let (http, node) = (&http, &node);
                async move {
                    let vid = vote_id(5, i);
                    submit_until_accepted(http, node, "demo-2026", &vid, "carol", "east").await;
                    if i % 5 == 0 {
                        // a client retry of an acknowledged vote
                        submit_until_accepted(http, node, "demo-2026", &vid, "carol", "east").await;
                    }
                }
            })
            .await;
        n += 200;
        if kills_so_far.load(Ordering::Relaxed) >= 6 {
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    done.store(true, Ordering::Relaxed);
    let (kills, stops) = killer.await.unwrap();
    assert!(
        kills >= 2 && kills + stops >= 5,
        "the test disrupted writers ({kills} kills, {stops} stops)"
    );

    let items = demo_chained(&env.ledger, n as usize, Duration::from_secs(300)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        chain_items(&env.ledger, "demo-2026", 0, 1).await.len(),
        n as usize,
        "no duplicates"
    );
    let mut ids: Vec<&str> = items.iter().map(|v| v.vote_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        n as usize,
        "every acknowledged vote exactly once"
    );
    let r = verify::verify_election(&env.ledger, &env.election("demo-2026"))
        .await
        .unwrap();
    assert!(r.intact, "{:?}", r.problems);
    assert!(
        node.is_alive(),
        "the tree survived {kills} kills and {stops} stops"
    );
    node.shutdown().await;
}
