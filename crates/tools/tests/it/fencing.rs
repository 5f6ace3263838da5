//! Issue 2, "what it must show" 4: two ChainWriters made to write the same partition at
//! once. The chain stays one linear chain; the loser stops itself ("fenced").

use crate::common::*;
use ractor::{Actor, ActorStatus};
use std::sync::Arc;
use std::time::Duration;
use votechain::actors::chain_writer::{ChainWriter, WriterCtx};
use votechain::verify;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_of_the_same_partition_is_fenced() {
    let env = TestEnv::new("fencing", 1, DEMO).await;
    // Ingest only: the two writers below are the only ones, started by hand on partition 0.
    let ingest = env.node(&["ingest"], "fencing-ingest").await;
    let http = reqwest::Client::new();
    for i in 0..20 {
        submit_until_accepted(&http, &ingest, "demo-2026", &vote_id(4, i), "bob", "south").await;
    }
    let ctx = Arc::new(WriterCtx::new(&env.config, env.ledger.clone()).unwrap());
    // Both read the same (empty) checkpoint and the same records.
    let (a, ha) = Actor::spawn(
        None,
        ChainWriter {
            ctx: ctx.clone(),
            partition: 0,
        },
        (),
    )
    .await
    .unwrap();
    let (b, hb) = Actor::spawn(
        None,
        ChainWriter {
            ctx: ctx.clone(),
            partition: 0,
        },
        (),
    )
    .await
    .unwrap();

    // Exactly one of them stops itself.
    let loser = eventually(Duration::from_secs(30), "one writer fenced", || async {
        match (a.get_status(), b.get_status()) {
            (ActorStatus::Stopped, ActorStatus::Running) => Some("a"),
            (ActorStatus::Running, ActorStatus::Stopped) => Some("b"),
            (ActorStatus::Stopped, ActorStatus::Stopped) => panic!("both writers stopped"),
            _ => None,
        }
    })
    .await;
    // The winner keeps chaining new votes alone.
    for i in 20..40 {
        submit_until_accepted(&http, &ingest, "demo-2026", &vote_id(4, i), "bob", "south").await;
    }
    let items = demo_chained(&env.ledger, 40, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let items_after = chain_items(&env.ledger, "demo-2026", 0, 1).await;
    assert_eq!(items_after.len(), 40, "no vote chained twice");
    assert_eq!(
        items.iter().map(|v| v.seq).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<u64>>()
    );
    let r = verify::verify_election(&env.ledger, &env.election("demo-2026"))
        .await
        .unwrap();
    assert!(r.intact, "one linear chain: {:?}", r.problems);
    let (winner, _) = if loser == "a" { (b, ha) } else { (a, hb) };
    assert_eq!(
        winner.get_status(),
        ActorStatus::Running,
        "the winner is not fenced"
    );
    winner.stop(None);
    ingest.shutdown().await;
}
