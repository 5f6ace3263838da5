//! Issue 2, "what it must show" 2: over HTTP, 1,000 distinct votes each submitted 1–3
//! times concurrently, plus invalid requests. Every 202'd vote_id is chained exactly
//! once, seq is 1..N without gaps, verify passes, receipts are served, invalid requests
//! get the right 4xx and change nothing.

use crate::common::*;
use futures::StreamExt;
use reqwest::StatusCode;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use votechain::verify;

const ELECTIONS: &str = r#"
[[elections]]
id = "demo-2026"
candidates = ["alice", "bob", "carol"]
regions = ["north", "south", "east", "west"]

[[elections]]
id = "split-3"
candidates = ["x", "y"]
regions = ["r1"]
chains = 3
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_votes_with_resubmissions_chain_exactly_once() {
    let env = TestEnv::new("e2e", 4, ELECTIONS).await;
    let node = env.node(&["ingest", "writer", "query"], "e2e-0").await;
    let http = reqwest::Client::new();
    let cands = ["alice", "bob", "carol"];
    let regions = ["north", "south", "east", "west"];

    // 1,000 distinct votes in demo-2026 (one chain) and 90 in split-3 (three chains),
    // each sent 1-3 times, all concurrently.
    let mut jobs = Vec::new();
    for i in 0..1000u32 {
        for _ in 0..(1 + i % 3) {
            jobs.push((
                "demo-2026",
                vote_id(1, i),
                cands[(i % 3) as usize],
                regions[(i % 4) as usize],
            ));
        }
    }
    for i in 0..90u32 {
        jobs.push(("split-3", vote_id(2, i), ["x", "y"][(i % 2) as usize], "r1"));
    }
    // Interleave the resubmissions with everything else.
    jobs.sort_by_key(|(_, v, _, _)| votechain_core::chain::chain_of(v, 1000));
    let total_requests = jobs.len();
    futures::stream::iter(jobs)
        .for_each_concurrent(64, |(e, v, c, r)| {
            let (http, node) = (&http, &node);
            async move { submit_until_accepted(http, node, e, &v, c, r).await }
        })
        .await;
    assert!(
        total_requests > 2_000,
        "resubmissions were sent ({total_requests} requests)"
    );

    // Invalid requests: each gets its 4xx and changes nothing.
    let url = format!("http://{}/v1/elections/demo-2026/votes", node.http_addr);
    let bad_vid = vote_id(9, 1);
    let body =
        |c: &str| serde_json::json!({"vote_id": bad_vid, "candidate_id": c, "region_id": "north"});
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (http.post(&url).bearer_auth(KEY).body("{not json"), StatusCode::BAD_REQUEST, "bad_request"),
        (http.post(&url).bearer_auth(KEY).json(&serde_json::json!({"vote_id": "NOT-A-UUID", "candidate_id": "alice", "region_id": "north"})), StatusCode::BAD_REQUEST, "bad_request"),
        (http.post(&url).bearer_auth(KEY).json(&serde_json::json!({"vote_id": bad_vid, "candidate_id": "alice", "region_id": "north", "voter": "me"})), StatusCode::BAD_REQUEST, "bad_request"),
        (http.post(&url).bearer_auth(KEY).json(&body("mallory")), StatusCode::UNPROCESSABLE_ENTITY, "unknown_candidate"),
        (http.post(&url).bearer_auth(KEY).json(&serde_json::json!({"vote_id": bad_vid, "candidate_id": "alice", "region_id": "mars"})), StatusCode::UNPROCESSABLE_ENTITY, "unknown_region"),
        (http.post(format!("http://{}/v1/elections/no-such/votes", node.http_addr)).bearer_auth(KEY).json(&body("alice")), StatusCode::UNPROCESSABLE_ENTITY, "unknown_election"),
        (http.post(&url).bearer_auth("wrong-key").json(&body("alice")), StatusCode::UNAUTHORIZED, "unauthorized"),
        (http.post(&url).json(&body("alice")), StatusCode::UNAUTHORIZED, "unauthorized"),
        (http.post(&url).bearer_auth(KEY).body(format!("{{\"vote_id\":\"{bad_vid}\",\"candidate_id\":\"alice\",\"region_id\":\"north\",\"pad\":\"{}\"}}", "x".repeat(5000))), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
    ];
    for (req, want, code) in cases {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), want, "for {code}");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }

    // Everything acknowledged gets chained.
    demo_chained(&env.ledger, 1000, Duration::from_secs(90)).await;
    let split: usize = eventually(
        Duration::from_secs(60),
        "90 split votes chained",
        || async {
            let mut n = 0;
            for c in 0..3 {
                n += chain_items(&env.ledger, "split-3", c, 3).await.len();
            }
            (n >= 90).then_some(n)
        },
    )
    .await;
    // Let any straggling duplicate get processed before counting exactly.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let items = chain_items(&env.ledger, "demo-2026", 0, 1).await;
    assert_eq!(items.len(), 1000, "each distinct vote chained exactly once");
    assert_eq!(split, 90);
    let seqs: Vec<u64> = items.iter().map(|v| v.seq).collect();
    assert_eq!(
        seqs,
        (1..=1000).collect::<Vec<u64>>(),
        "seq is 1..N without gaps"
    );
    let ids: HashSet<&str> = items.iter().map(|v| v.vote_id.as_str()).collect();
    let want: HashSet<String> = (0..1000).map(|i| vote_id(1, i)).collect();
    assert_eq!(
        ids,
        want.iter().map(String::as_str).collect(),
        "exactly the acknowledged vote_ids"
    );
    // The choice chained is the one submitted.
    for v in &items {
        let i = u32::from_str_radix(&v.vote_id[24..], 16).unwrap();
        assert_eq!(
            (v.candidate_id.as_str(), v.region_id.as_str()),
            (cands[(i % 3) as usize], regions[(i % 4) as usize])
        );
        assert_eq!(v.kafka_topic, "votes");
    }
    let mut per_chain = BTreeMap::new();
    for c in 0..3 {
        let chain = chain_items(&env.ledger, "split-3", c, 3).await;
        assert_eq!(
            chain.iter().map(|v| v.seq).collect::<Vec<_>>(),
            (1..=chain.len() as u64).collect::<Vec<_>>()
        );
        assert!(
            chain
                .iter()
                .all(|v| votechain_core::chain::chain_of(&v.vote_id, 3) == c),
            "routed by the stable hash"
        );
        per_chain.insert(c, chain.len());
    }
    assert!(
        per_chain.values().all(|n| *n > 0),
        "all three chains used: {per_chain:?}"
    );

    // verify passes on both elections.
    let r = verify::verify_election(&env.ledger, &env.election("demo-2026"))
        .await
        .unwrap();
    assert!(r.intact && r.votes == 1000, "{:?}", r.problems);
    let r = verify::verify_election(&env.ledger, &env.election("split-3"))
        .await
        .unwrap();
    assert!(r.intact && r.votes == 90, "{:?}", r.problems);

    // Receipts: every one of a sample matches the chain; an unknown vote is 404.
    for v in items.iter().step_by(37) {
        let url = format!(
            "http://{}/v1/elections/demo-2026/votes/{}",
            node.http_addr, v.vote_id
        );
        let r: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(r["seq"], v.seq);
        assert_eq!(r["chain"], 0);
        assert_eq!(r["hash"], votechain_core::chain::to_hex(&v.hash));
        assert_eq!(r["prev_hash"], votechain_core::chain::to_hex(&v.prev_hash));
    }
    let missing = http
        .get(format!(
            "http://{}/v1/elections/demo-2026/votes/{bad_vid}",
            node.http_addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    node.shutdown().await;
}
