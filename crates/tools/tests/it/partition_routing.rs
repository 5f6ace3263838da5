//! Issue 14, item 5 ("records on an unexpected partition dead-lettered"): ingest produces
//! each chain's records to its partition (`model::partition_of`, over the config's
//! partitions, so partitions added to a live topic move no chain), and a writer refuses a
//! record found on another partition (`wrong_partition`): another writer may be chaining
//! that chain. Replay and recount apply the same rule, and recount agrees.

use crate::common::*;
use std::time::Duration;
use votechain_core::model::partition_of;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_off_its_chains_partition_is_refused() {
    let env = TestEnv::new("partitions", 2, DEMO).await;
    let node = env
        .node(&["ingest", "writer", "projector", "query"], "partitions")
        .await;
    let http = reqwest::Client::new();
    for i in 0..10 {
        submit_until_accepted(&http, &node, "demo-2026", &vote_id(90, i), "bob", "east").await;
    }
    demo_chained(&env.ledger, 10, Duration::from_secs(30)).await;

    // demo-2026 has one chain: its partition, and the other one.
    let right = partition_of("demo-2026", 0, 2);
    let wrong = 1 - right;
    let producer = raw_producer(&env);
    for (i, p) in [(10u32, wrong), (11, right)] {
        let ev = raw_event(
            "demo-2026",
            &vote_id(90, i),
            "alice",
            "west",
            votechain::now_ms(),
        );
        send_raw(
            &env,
            &producer,
            ev.kafka_key().as_bytes(),
            &ev.to_bytes(),
            Some(p),
            None,
        )
        .await;
    }
    let chained = demo_chained(&env.ledger, 11, Duration::from_secs(30)).await;
    assert_eq!(chained[10].vote_id, vote_id(90, 11));
    let dead = eventually(Duration::from_secs(20), "the dead letter", || async {
        let d = dead_letters(&env).await;
        (!d.is_empty()).then_some(d)
    })
    .await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, "wrong_partition");
    assert_eq!(dead[0].1.vote_id, vote_id(90, 10));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(chain_items(&env.ledger, "demo-2026", 0, 1).await.len(), 11);

    // Recount replays under the same rule: Kafka, chain and read model agree.
    let counted = serde_json::json!({"total": 11, "candidates": {"alice": 1, "bob": 10}, "regions": {"east": {"bob": 10}, "west": {"alice": 1}}});
    eventually(Duration::from_secs(60), "11 votes projected", || async {
        (served_results(&http, &node, "demo-2026").await == counted).then_some(())
    })
    .await;
    recount_agrees(&env, "demo-2026").await;
    node.shutdown().await;
}
