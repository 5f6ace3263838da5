//! Issue 15, item 7 ("what it must show" 5): the projector as a tripwire. A vote item
//! changed or deleted in DynamoDB, and forged inserts outside the election's manifest (a
//! chain the election does not have, a candidate it does not list), are never counted;
//! each is counted in `votechain_ledger_mutations_total{kind}`, which the critical alert
//! `VotechainLedgerMutated` watches (its rule test is in deploy/prometheus/alerts.test.yml).

use crate::common::*;
use aws_sdk_dynamodb::types::AttributeValue;
use std::time::Duration;
use votechain::dynamo::items;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_never_counted_and_always_counted_as_tampering() {
    let env = TestEnv::new("tripwire", 1, DEMO).await;
    let node = env
        .node(&["ingest", "writer", "projector", "query"], "tripwire")
        .await;
    let http = reqwest::Client::new();
    for i in 0..10 {
        submit_until_accepted(&http, &node, "demo-2026", &vote_id(91, i), "alice", "north").await;
    }
    let honest = serde_json::json!({"total": 10, "candidates": {"alice": 10}, "regions": {"north": {"alice": 10}}});
    eventually(Duration::from_secs(60), "10 votes projected", || async {
        (served_results(&http, &node, "demo-2026").await == honest).then_some(())
    })
    .await;
    let mutations = |kind: &'static str| {
        let (http, node) = (&http, &node);
        async move {
            let filter = format!("kind=\"{kind}\"");
            metric(http, node, "votechain_ledger_mutations_total", &filter).await
        }
    };
    assert_eq!(
        mutations("modify").await,
        0.0,
        "exported at 0 from the start"
    );

    let db = &env.ledger.db;
    let table = &env.ledger.table;
    let key = |seq| items::key(items::chain_pk("demo-2026", 0, 1), items::vote_sk(seq));
    // A vote's candidate changed, another vote deleted.
    db.update_item()
        .table_name(table)
        .set_key(Some(key(3)))
        .update_expression("SET candidate_id = :c")
        .expression_attribute_values(":c", AttributeValue::S("bob".into()))
        .send()
        .await
        .unwrap();
    db.delete_item()
        .table_name(table)
        .set_key(Some(key(4)))
        .send()
        .await
        .unwrap();
    // Forged inserts: chain 5 of a one-chain election, and a candidate nobody listed.
    let chained = chain_items(&env.ledger, "demo-2026", 0, 1).await;
    let mut forged = chained[0].clone();
    forged.chain = 5;
    forged.seq = 1;
    let mut item = items::vote_item(&forged, 6);
    db.put_item()
        .table_name(table)
        .set_item(Some(item.clone()))
        .send()
        .await
        .unwrap();
    forged.chain = 0;
    forged.seq = 999;
    forged.candidate_id = "mallory".into();
    item = items::vote_item(&forged, 1);
    db.put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();

    eventually(Duration::from_secs(60), "every tampering seen", || async {
        (mutations("modify").await >= 1.0
            && mutations("remove").await >= 1.0
            && mutations("outside_manifest").await >= 2.0)
            .then_some(())
    })
    .await;
    // A vote that follows is counted as usual, and nothing of the tampering is.
    submit_until_accepted(
        &http,
        &node,
        "demo-2026",
        &vote_id(91, 10),
        "alice",
        "north",
    )
    .await;
    let after = serde_json::json!({"total": 11, "candidates": {"alice": 11}, "regions": {"north": {"alice": 11}}});
    eventually(
        Duration::from_secs(60),
        "the next vote projected",
        || async { (served_results(&http, &node, "demo-2026").await == after).then_some(()) },
    )
    .await;
    node.shutdown().await;
}
