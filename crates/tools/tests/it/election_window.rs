//! Issue 12, "what it must show" 4: every role takes its elections from the stored
//! manifests. A config pinning another manifest digest refuses to start, naming both
//! digests; so does one naming an election with no manifest. A vote outside the voting
//! window is refused at ingest (422 `election_not_open` / `election_closed`) and, injected
//! straight into Kafka past ingest, dead-lettered by the writer (`outside_window`),
//! never chained. No transaction is aborted here: nothing relies on `read_committed`.

use crate::common::*;
use std::time::Duration;
use votechain::runtime::Node;

/// Three elections: one open now, one that opens in the year 2100, one closed in 2020.
const ELECTIONS: &str = r#"
[[elections]]
id = "demo-2026"
candidates = ["alice", "bob", "carol"]
regions = ["north", "south", "east", "west"]
[[elections]]
id = "later-2100"
candidates = ["alice", "bob"]
regions = ["north"]
opens_at_ms = 4102444800000
closes_at_ms = 4102531200000
[[elections]]
id = "past-2020"
candidates = ["alice", "bob"]
regions = ["north"]
opens_at_ms = 1577836800000
closes_at_ms = 1577923200000
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_refuses_a_manifest_digest_other_than_its_configs() {
    let env = TestEnv::new("digest", 1, ELECTIONS).await;
    let stored = env.config.elections[0].manifest_digest.clone().unwrap();
    let wrong = "ab".repeat(32);
    for roles in [&["writer"][..], &["ingest", "query"][..]] {
        let mut cfg = env.config.clone();
        cfg.resolved.clear();
        cfg.roles = roles
            .iter()
            .map(|r| serde_json::from_value(serde_json::json!(r)).unwrap())
            .collect();
        cfg.elections[0].manifest_digest = Some(wrong.clone());
        let err = Node::start(cfg).await.err().expect("refuses to start");
        let msg = err.to_string();
        assert!(
            msg.contains(&wrong) && msg.contains(&stored) && msg.contains("demo-2026"),
            "names both digests: {msg}"
        );
    }
    // An election with no stored manifest: refused too, saying how to create one.
    let mut cfg = env.config.clone();
    cfg.resolved.clear();
    cfg.elections
        .push(votechain::config::ElectionEntry::v2("nobody-2026", None));
    let msg = Node::start(cfg).await.err().expect("refuses").to_string();
    assert!(
        msg.contains("nobody-2026") && msg.contains("election create"),
        "{msg}"
    );
    // The configured digest, or none: starts.
    let node = env.node(&["ingest", "query"], "digest-ok").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_outside_the_window_are_refused_and_dead_lettered() {
    let env = TestEnv::new("window", 1, ELECTIONS).await;
    let node = env.node(&["ingest", "writer", "query"], "window-0").await;
    let http = reqwest::Client::new();
    let post = |election: &'static str, i: u32| {
        let (http, url) = (http.clone(), node.http_addr);
        async move {
            let body = serde_json::json!({
                "vote_id": vote_id(0x317, i), "candidate_id": "alice", "region_id": "north"});
            let res = http
                .post(format!("http://{url}/v1/elections/{election}/votes"))
                .bearer_auth(KEY)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let v: serde_json::Value = res.json().await.unwrap();
            (
                status,
                v["error"]["code"].as_str().unwrap_or("").to_string(),
            )
        }
    };
    assert_eq!(
        post("later-2100", 1).await,
        (422, "election_not_open".into())
    );
    assert_eq!(post("past-2020", 2).await, (422, "election_closed".into()));
    // A v2 election takes version-4 vote_ids only, and salts of 64 lowercase hex.
    let v1_uuid = serde_json::json!({"vote_id": "6f1c2a4e-0000-1000-8000-000000000001",
        "candidate_id": "alice", "region_id": "north"});
    let bad_salt = serde_json::json!({"vote_id": vote_id(0x317, 3),
        "candidate_id": "alice", "region_id": "north", "salt": "ABC"});
    for body in [v1_uuid, bad_salt] {
        let res = http
            .post(format!(
                "http://{}/v1/elections/demo-2026/votes",
                node.http_addr
            ))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{body}");
    }

    // Past ingest, straight into `votes`: a vote cast before the window opened, one after
    // it closed, and one inside it (chained: the writer is alive and reading).
    let producer = raw_producer(&env);
    let now = votechain::now_ms();
    let injected = [
        ("later-2100", now, 10),
        ("past-2020", now, 11),
        ("demo-2026", 1_000, 12),
        ("demo-2026", now, 13),
    ];
    for (election, cast_at_ms, i) in injected {
        let ev = raw_event(election, &vote_id(0x317, i), "alice", "north", cast_at_ms);
        send_raw(
            &env,
            &producer,
            ev.kafka_key().as_bytes(),
            &ev.to_bytes(),
            None,
            None,
        )
        .await;
    }
    let chained = demo_chained(&env.ledger, 1, Duration::from_secs(30)).await;
    assert_eq!(chained[0].vote_id, vote_id(0x317, 13));
    let dead = eventually(Duration::from_secs(20), "3 dead letters", || async {
        let d = dead_letters(&env).await;
        (d.len() >= 3).then_some(d)
    })
    .await;
    let mut outside: Vec<(String, String)> = dead
        .iter()
        .map(|(reason, ev)| (reason.clone(), ev.vote_id.clone()))
        .collect();
    outside.sort();
    let want: Vec<(String, String)> = [10, 11, 12]
        .map(|i| ("outside_window".to_string(), vote_id(0x317, i)))
        .to_vec();
    assert_eq!(outside, want);
    for e in ["later-2100", "past-2020"] {
        assert!(chain_items(&env.ledger, e, 0, 1).await.is_empty(), "{e}");
    }
    node.shutdown().await;
}
