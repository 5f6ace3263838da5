//! A Kafka that cannot commit makes ingest unready and answers 503, but never takes down
//! the other roles of the same process. Each role is a subtree of its own; the ingest
//! role, its producer fenced on every commit, exceeds its restart intensity and escalates,
//! and the root rebuilds it after a backoff while the query role keeps answering. Once
//! Kafka commits again, votes are accepted again: nothing restarted the process.
//!
//! On librdkafka's mock cluster, because "every commit fenced, then none" must be exact:
//! the mock answers `EndTxn` with PRODUCER_FENCED on demand. On Apache Kafka a producer is
//! fenced only by a successor's InitProducerId, which `zombie_ingest.rs` shows for real.

use crate::common::*;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_escalates_stops_itself_not_the_process() {
    let mut env = TestEnv::with_mock("roles", 1, DEMO).await;
    env.config.supervision.intensity.max_restarts = 2;
    let node = env.node(&["ingest", "query"], "roles-0").await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", node.http_addr);
    submit_until_accepted(&http, &node, "demo-2026", &vote_id(60, 0), "alice", "north").await;
    let escalations = "votechain_actor_escalations_total";
    let before = metric(&http, &node, escalations, "").await;

    let fenced = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED; 1000];
    env.kafka
        .mock()
        .request_errors(RDKafkaApiKey::EndTxn, &fenced);
    let mut unready = false;
    for i in 1..=30 {
        let status = submit(&http, &node, "demo-2026", &vote_id(60, i), "bob", "south").await;
        assert_eq!(
            status, 503,
            "no vote is accepted while every commit is fenced"
        );
        let ready = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status();
        unready |= ready == 503;
        if metric(&http, &node, escalations, "").await > before && unready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        metric(&http, &node, escalations, "").await > before,
        "the ingest role escalated"
    );
    assert!(unready, "ingest was reported unready");
    // The process and its other role live on.
    assert!(node.is_alive(), "the root never gives up on a role");
    let results = http
        .get(format!("{base}/v1/elections/demo-2026/results"))
        .send()
        .await
        .unwrap();
    assert_eq!(results.status(), 200, "the query role still answers");

    // Kafka commits again: the rebuilt ingest role accepts votes.
    env.kafka.mock().clear_request_errors(RDKafkaApiKey::EndTxn);
    submit_until_accepted(
        &http,
        &node,
        "demo-2026",
        &vote_id(60, 100),
        "carol",
        "east",
    )
    .await;
    eventually(Duration::from_secs(60), "ready again", || async {
        let r = http.get(format!("{base}/readyz")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    let tree: serde_json::Value = http
        .get(format!("{base}/debug/actors"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let roles: Vec<&str> = tree["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        roles,
        vec!["role-ingest"],
        "one subtree per role with actors: {tree}"
    );
    node.shutdown().await;
}
