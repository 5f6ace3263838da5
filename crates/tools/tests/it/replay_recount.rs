//! Issue 4, "what it must show" 2–4: `recount` agrees three ways on a clean run and names
//! the counter when a read-model item is altered by hand; dropping the read table and
//! running `replay` restores identical results while votes keep arriving; two replays of
//! the same offsets, with resubmissions and invalid events in the log, are identical.

use crate::common::*;
use aws_sdk_dynamodb::types::AttributeValue;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use votechain::recount;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recount_agrees_then_names_a_hand_altered_read_model_item() {
    let env = TestEnv::new("recount", 2, DEMO).await;
    let node = env
        .node(&["ingest", "writer", "projector", "query"], "rc")
        .await;
    let http = reqwest::Client::new();
    submit_range(&http, &node, 10, 0, 120).await;
    submit_range(&http, &node, 10, 0, 30).await; // resubmissions
    eventually(Duration::from_secs(30), "projected", || async {
        (served_results(&http, &node, "demo-2026").await["total"] == 120).then_some(())
    })
    .await;
    let r = recount_agrees(&env, "demo-2026").await;
    let total = r.rows.iter().find(|row| row.counter == "total").unwrap();
    assert_eq!(
        (total.kafka, total.chain, total.read_model),
        (120, 120, 120),
        "{r}"
    );

    // Alter bob's count in the read model by hand.
    env.ledger
        .db
        .update_item()
        .table_name(&env.config.dynamodb.results_table)
        .key("pk", AttributeValue::S("RESULTS#demo-2026".into()))
        .key("sk", AttributeValue::S("CANDIDATE#bob".into()))
        .update_expression("ADD n :d")
        .expression_attribute_values(":d", AttributeValue::N("5".into()))
        .send()
        .await
        .unwrap();
    let r = recount::recount(
        &env.config,
        &env.ledger,
        "demo-2026",
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert!(!r.agree);
    assert_eq!(r.mismatches.len(), 1, "{r}");
    assert!(
        r.mismatches[0].starts_with("candidate bob: read model 45 vs chain 40"),
        "{:?}",
        r.mismatches
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_read_table_and_replaying_restores_results_while_votes_arrive() {
    let env = TestEnv::new("replay", 2, DEMO).await;
    let node = env
        .node(&["ingest", "writer", "projector", "query"], "rp")
        .await;
    let http = reqwest::Client::new();
    submit_range(&http, &node, 11, 0, 200).await;
    submit_range(&http, &node, 11, 50, 80).await; // resubmissions
    // An invalid event in the log, written straight to Kafka (a client cannot do this).
    {
        use rdkafka::producer::{FutureProducer, FutureRecord};
        let p: FutureProducer = votechain::kafka::idempotent_producer_config(&env.config.kafka)
            .create()
            .unwrap();
        p.send(
            FutureRecord::to("votes")
                .key("demo-2026#0")
                .payload("not a vote"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    }
    let before = eventually(Duration::from_secs(30), "200 projected", || async {
        let r = served_results(&http, &node, "demo-2026").await;
        (r["total"] == 200).then_some(r)
    })
    .await;

    // Two replays of the same offsets: identical tables, thresholds and counts.
    let a0 = run_replay(&env).await;
    let a = run_replay(&env).await;
    assert!(a0.switched && a.switched, "{a0:?} {a:?}");
    assert_ne!(a0.table, a.table);
    let registry = env.config.registry();
    let t0 = votechain::projector::results::read(
        &env.ledger.db,
        &a0.table,
        &registry,
        "demo-2026",
        true,
    )
    .await
    .unwrap();
    let t1 =
        votechain::projector::results::read(&env.ledger.db, &a.table, &registry, "demo-2026", true)
            .await
            .unwrap();
    assert_eq!(t0, t1, "deterministic replay");
    assert_eq!(
        (a0.thresholds.clone(), a0.duplicates, a0.invalid),
        (a.thresholds.clone(), a.duplicates, a.invalid)
    );
    assert_eq!((a.votes, a.invalid), (200, 1), "{a:?}");
    assert!(a.duplicates >= 30, "{a:?}");
    assert_eq!(
        served_results(&http, &node, "demo-2026").await,
        before,
        "identical after the first replay"
    );

    // Drop the active read table while votes keep arriving, then replay.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, http, addr) = (stop.clone(), http.clone(), node.http_addr);
        tokio::spawn(async move {
            let mut i = 1000u32;
            while !stop.load(Ordering::Relaxed) {
                let body = serde_json::json!({"vote_id": vote_id(11, i), "candidate_id": "carol", "region_id": "west"});
                let r = http
                    .post(format!("http://{addr}/v1/elections/demo-2026/votes"))
                    .bearer_auth(KEY)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                if r.status() == 202 {
                    i += 1;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            i - 1000
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.ledger
        .db
        .delete_table()
        .table_name(&a.table)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let b = run_replay(&env).await;
    assert!(b.switched, "{b:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let extra = writer.await.unwrap();
    assert!(extra > 0, "votes arrived during the rebuild");
    let want = eventually(
        Duration::from_secs(40),
        "results = chain after the rebuild",
        || async {
            let want = chain_results(&env.ledger, "demo-2026", 1).await;
            (want["total"] == 200 + extra
                && served_results(&http, &node, "demo-2026").await == want)
                .then_some(want)
        },
    )
    .await;
    assert_eq!(want["total"], 200 + extra);
    // The recount agrees on the rebuilt projection too.
    recount_agrees(&env, "demo-2026").await;
    node.shutdown().await;
}
