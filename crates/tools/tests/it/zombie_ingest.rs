//! A zombie ingest producer is fenced by its `transactional.id`, on Apache Kafka.
//!
//! An ingest pod that lost its node (a network partition, a paused VM) may still hold an
//! open transaction when its replacement starts under the same `node.instance_id`. The
//! replacement's batcher calls `init_transactions` on every id the instance could have
//! used (`ingest_batcher::fenced_ids`); the broker bumps the epoch of each, aborts the
//! zombie's open transaction, and refuses the zombie's commit. Here the zombie is a
//! transactional producer with the id of producer 0 of instance `zombie-1`, holding 5
//! votes in an open transaction when a node `zombie-1` starts. Its commit fails as fenced;
//! the 5 votes are on the topic but aborted, so no `read_committed` reader (writer, replay,
//! recount) sees them: the chain holds exactly the successor's 20 votes, and recount
//! agrees. librdkafka's mock cluster would let the zombie commit (it never fences by
//! `transactional.id`): this test fails on it.
//!
//! The second test runs two ingest nodes under one instance id, the older one a zombie
//! still taking requests. Once the newer one has started, the older one's next
//! transaction is refused: its votes are answered 503 (`overloaded`: not recorded, or
//! `outcome_unknown`), never 202, until it fences back at its batcher's restart. Every
//! vote either answered 202 is chained exactly once; none answered `overloaded` is.

use crate::common::*;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::Producer;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zombie_ingest_producer_is_fenced_by_its_successor() {
    let env = TestEnv::new("zombie", 1, DEMO).await;
    let zombie = txn_producer(&env, "votechain-ingest-zombie-1", 60_000);
    zombie.begin_transaction().expect("begin");
    let zombie_ids = send_votes(&env, &zombie, 0x20b, 5).await;

    // The successor: same instance id, so the same transactional ids.
    let node = env.node(&["ingest", "writer", "query"], "zombie-1").await;
    let commit = tokio::task::block_in_place(|| zombie.commit_transaction(Duration::from_secs(30)));
    let err = commit.expect_err("the zombie's commit is refused");
    let code = err.rdkafka_error_code();
    assert!(
        matches!(
            code,
            Some(RDKafkaErrorCode::Fenced)
                | Some(RDKafkaErrorCode::ProducerFenced)
                | Some(RDKafkaErrorCode::InvalidProducerEpoch)
        ),
        "fenced by the successor's epoch, got {err} ({code:?})"
    );

    let http = reqwest::Client::new();
    submit_range(&http, &node, 0x20c, 0, 20).await;
    demo_chained(&env.ledger, 20, Duration::from_secs(60)).await;
    recount_agrees(&env, "demo-2026").await;
    let chained: Vec<String> = chain_items(&env.ledger, "demo-2026", 0, 1)
        .await
        .into_iter()
        .map(|v| v.vote_id)
        .collect();
    assert_eq!(
        chained.len(),
        20,
        "exactly the successor's votes: {chained:?}"
    );
    assert!(zombie_ids.iter().all(|z| !chained.contains(z)));

    // The zombie's records are on the topic, aborted: read_uncommitted sees them,
    // read_committed does not.
    let all = vote_ids_on_topic(&env, "read_uncommitted").await;
    let committed = vote_ids_on_topic(&env, "read_committed").await;
    assert!(zombie_ids.iter().all(|z| all.contains(z)), "{all:?}");
    assert!(zombie_ids.iter().all(|z| !committed.contains(z)));
    assert_eq!(committed.len(), 20);
    assert!(dead_letters(&env).await.is_empty());
    node.shutdown().await;
}

/// One POST of a vote to `node`: the status and the error code of the body, if any.
async fn post_once(
    http: &reqwest::Client,
    node: &votechain::runtime::Node,
    vid: &str,
) -> (u16, String) {
    let url = format!("http://{}/v1/elections/demo-2026/votes", node.http_addr);
    let body = serde_json::json!({"vote_id": vid, "candidate_id": "bob", "region_id": "west", "salt": test_salt(vid)});
    let r = http
        .post(&url)
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .expect("answered");
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    let code = v["error"]["code"]
        .as_str()
        .or(v["code"].as_str())
        .unwrap_or_default();
    (status, code.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ingest_nodes_under_one_instance_id_never_answer_a_false_202() {
    let env = TestEnv::new("zombie2", 1, DEMO).await;
    let writer = env.node(&["writer", "query"], "zombie2-w").await;
    let old = env.node(&["ingest"], "twin").await;
    let http = reqwest::Client::new();
    submit_range(&http, &old, 0x20d, 0, 10).await;

    let new = env.node(&["ingest"], "twin").await; // fences the old one's producers
    let mut answers = vec![];
    for i in 0..20 {
        let vid = vote_id(0x20e, i);
        let (status, code) = post_once(&http, &old, &vid).await;
        answers.push((vid, status, code));
    }
    let refused: Vec<_> = answers.iter().filter(|a| a.1 == 503).collect();
    assert!(
        !refused.is_empty() && answers[0].1 == 503,
        "the fenced zombie's first transaction is refused: {answers:?}"
    );
    assert!(
        answers.iter().all(|a| a.1 == 202 || a.1 == 503),
        "{answers:?}"
    );
    old.shutdown().await;
    submit_range(&http, &new, 0x20f, 0, 10).await;

    let accepted: Vec<&String> = answers
        .iter()
        .filter(|a| a.1 == 202)
        .map(|a| &a.0)
        .collect();
    let want = 20 + accepted.len();
    demo_chained(&env.ledger, want, Duration::from_secs(60)).await;
    recount_agrees(&env, "demo-2026").await;
    let chained: Vec<String> = chain_items(&env.ledger, "demo-2026", 0, 1)
        .await
        .into_iter()
        .map(|v| v.vote_id)
        .collect();
    let unique: std::collections::BTreeSet<&String> = chained.iter().collect();
    assert_eq!(unique.len(), chained.len(), "no vote chained twice");
    assert!(
        accepted.iter().all(|a| unique.contains(a)),
        "every 202 chained"
    );
    for (vid, _, code) in &refused {
        if code == "overloaded" {
            assert!(
                !unique.contains(vid),
                "{vid}: answered not recorded, yet chained"
            );
        }
    }
    new.shutdown().await;
    writer.shutdown().await;
}
