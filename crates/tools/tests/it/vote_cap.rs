//! Issue 15, item 2 (the cap): a key's cap of votes per election holds exactly across two
//! ingest pods sharing the caps table, a resubmitted vote_id is not counted again, a refused
//! vote is never chained, and an uncapped key is unaffected. A node with a cap and no caps
//! table refuses to start.
//!
//! Relies on DynamoDB Local's conditional writes and transactions (the real ones).

use crate::common::*;
use std::time::Duration;
use votechain::config::{ClientKey, Config, Role};
use votechain::runtime::Node;

const CAPPED: &str = "capped-key-1";
const CAP: u64 = 6;

fn capped_config(env: &TestEnv, roles: &[Role], instance: &str) -> Config {
    let mut cfg = env.config.clone();
    cfg.roles = roles.iter().copied().collect();
    cfg.node.instance_id = instance.into();
    cfg.ingest.clients.push(ClientKey {
        id: "station-capped".into(),
        key: Some(CAPPED.into()),
        max_votes: Some(CAP),
        ..Default::default()
    });
    cfg
}

/// Sends one vote until it gets an answer other than 503 (a 503 is resent with the same
/// vote_id, as a client must); returns the status and the error code, if any.
async fn send(http: &reqwest::Client, node: &Node, key: &str, vid: &str) -> (u16, String) {
    let url = format!("http://{}/v1/elections/demo-2026/votes", node.http_addr);
    let body = serde_json::json!({"vote_id": vid, "candidate_id": "alice", "region_id": "north", "salt": test_salt(vid)});
    for _ in 0..100 {
        let r = http
            .post(&url)
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        if status != 503 {
            let code = v["error"]["code"].as_str().unwrap_or_default().to_string();
            return (status, code);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{vid}: 503 a hundred times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_cap_is_exact_across_ingest_pods_and_resubmissions_are_free() {
    let env = TestEnv::new("votecap", 1, DEMO).await;
    let a = Node::start(capped_config(
        &env,
        &[Role::Ingest, Role::Writer, Role::Query],
        "cap-a",
    ))
    .await
    .expect("starts");
    let b = Node::start(capped_config(&env, &[Role::Ingest], "cap-b"))
        .await
        .expect("starts");
    let http = reqwest::Client::new();

    // 20 distinct votes at once, alternating between the two pods: exactly CAP accepted.
    let sends = (0..20u32).map(|i| {
        let (http, node) = (&http, if i % 2 == 0 { &a } else { &b });
        async move { (i, send(http, node, CAPPED, &vote_id(0xca9, i)).await) }
    });
    let answers = futures::future::join_all(sends).await;
    let accepted: Vec<u32> = answers
        .iter()
        .filter(|(_, (s, _))| *s == 202)
        .map(|(i, _)| *i)
        .collect();
    let refused = answers
        .iter()
        .filter(|(_, a)| *a == (403, "vote_cap_reached".to_string()))
        .count();
    assert_eq!(accepted.len() as u64, CAP, "{answers:?}");
    assert_eq!(accepted.len() + refused, 20, "{answers:?}");

    // A resubmission of an accepted vote is free, on either pod; the count stays at CAP.
    for node in [&a, &b] {
        let (s, _) = send(&http, node, CAPPED, &vote_id(0xca9, accepted[0])).await;
        assert_eq!(s, 202, "a resubmission at the cap");
    }
    let caps = votechain::dynamo::caps::Caps::new(
        env.ledger.db.clone(),
        env.config.dynamodb.caps_table.clone(),
    );
    assert_eq!(
        caps.count("demo-2026", "station-capped").await.unwrap(),
        CAP
    );
    // A new vote is still refused; the uncapped key is unaffected.
    let (s, code) = send(&http, &b, CAPPED, &vote_id(0xca9, 100)).await;
    assert_eq!((s, code.as_str()), (403, "vote_cap_reached"));
    for i in 0..3 {
        let (s, _) = send(&http, &b, KEY, &vote_id(0xca8, i)).await;
        assert_eq!(s, 202, "the uncapped key");
    }

    // Chained: the CAP accepted and the 3 uncapped votes, each once; no refused vote.
    let items = eventually(Duration::from_secs(30), "9 votes chained", || async {
        let items = chain_items(&env.ledger, "demo-2026", 0, 1).await;
        (items.len() >= CAP as usize + 3).then_some(items)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let items = chain_items(&env.ledger, "demo-2026", 0, 1)
        .await
        .len()
        .max(items.len());
    assert_eq!(items, CAP as usize + 3, "exactly the accepted votes");
    for (i, (s, _)) in &answers {
        let url = format!(
            "http://{}/v1/elections/demo-2026/votes/{}",
            a.http_addr,
            vote_id(0xca9, *i)
        );
        let receipt = http.get(&url).send().await.unwrap().status().as_u16();
        assert_eq!(
            receipt == 200,
            *s == 202,
            "vote {i}: answered {s}, receipt {receipt}"
        );
    }
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_without_its_table_refuses_to_start() {
    let env = TestEnv::new("votecapless", 1, DEMO).await;
    let mut cfg = capped_config(&env, &[Role::Ingest], "cap-c");
    cfg.dynamodb.caps_table = format!("{}-missing", cfg.dynamodb.caps_table);
    let err = Node::start(cfg).await.err().expect("refused").to_string();
    assert!(
        err.contains("-missing") && err.contains("setup-tables"),
        "{err}"
    );
}
