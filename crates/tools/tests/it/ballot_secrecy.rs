//! Issue 12, "what it must show" 2: the brute-force attack on a receipt. An attacker who
//! learns a vote_id reads everything public about it (the receipt, the audit topic, the
//! manifest) and tries every (candidate, region) with the receipt's own `cast_at_ms`, and
//! for the v1 formula also a window of the audit event's `received_at_ms`, with every salt
//! it could know. The search recovers the choice of a v1 vote (so it works) and nothing
//! for a v2 vote. The voter, with the salt of their 202 answer, checks the v2 receipt.

use crate::common::*;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use serde_json::Value;
use std::time::Duration;
use votechain_core::chain::{self, Salt, VoteFields};
use votechain_core::receipt::{self, Ballot, Receipt};

const ELECTIONS: &str = r#"
[[elections]]
id = "demo-2026"
candidates = ["alice", "bob", "carol"]
regions = ["north", "south", "east", "west"]
[[elections]]
id = "old-2025"
hash = "v1"
candidates = ["alice", "bob", "carol"]
regions = ["north", "south", "east", "west"]
"#;
const CANDIDATES: [&str; 3] = ["alice", "bob", "carol"];
const REGIONS: [&str; 4] = ["north", "south", "east", "west"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_reveals_a_v1_choice_and_nothing_of_a_v2_one() {
    let env = TestEnv::new("secrecy", 1, ELECTIONS).await;
    let node = env.node(&["ingest", "writer", "query"], "secrecy-0").await;
    let http = reqwest::Client::new();
    let base = format!("http://{}/v1/elections", node.http_addr);
    let cast = |election: &'static str, vid: String, c: &'static str, r: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let body = serde_json::json!({"vote_id": vid, "candidate_id": c, "region_id": r});
            let res = http
                .post(format!("{base}/{election}/votes"))
                .bearer_auth(KEY)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
            res.json::<Value>().await.unwrap()
        }
    };
    let (v1_id, v2_id) = (vote_id(0x5ec1, 1), vote_id(0x5ec2, 2));
    let v1_ack = cast("old-2025", v1_id.clone(), "bob", "east").await;
    // No salt sent: ingest draws one and answers it.
    let v2_ack = cast("demo-2026", v2_id.clone(), "carol", "west").await;
    assert!(v1_ack.get("salt").is_none());
    let salt = v2_ack["salt"].as_str().expect("the 202 carries the salt");
    assert!(chain::salt_from_hex(salt).is_some(), "{salt}");
    assert!(v2_ack["cast_at_ms"].as_i64().is_some());

    let get_receipt = |election: &'static str, vid: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let res = http
                .get(format!("{base}/{election}/votes/{vid}"))
                .send()
                .await
                .ok()?;
            (res.status() == 200).then_some(res.text().await.ok()?)
        }
    };
    let wait = Duration::from_secs(30);
    let v1_receipt = eventually(wait, "v1 receipt", || {
        get_receipt("old-2025", v1_id.clone())
    })
    .await;
    let v2_receipt = eventually(wait, "v2 receipt", || {
        get_receipt("demo-2026", v2_id.clone())
    })
    .await;
    let audits = audit_events(&env, 2).await;
    let audit_of = |vid: &str| {
        audits
            .iter()
            .find(|a| a.contains(vid))
            .cloned()
            .expect("an audit event per vote")
    };
    let manifest = get_text(&http, &format!("{base}/demo-2026/manifest")).await;
    // Nothing public carries the salt or the choice.
    for public in [&v2_receipt, &audit_of(&v2_id), &manifest] {
        assert!(!public.contains(salt), "salt leaked: {public}");
    }
    for public in [&v2_receipt, &audit_of(&v2_id)] {
        assert!(
            !public.contains("carol") && !public.contains("west"),
            "{public}"
        );
    }

    let public = |r: &str, a: &str| format!("{r}\n{a}\n{manifest}");
    let found_v1 = attack(
        &v1_receipt,
        &audit_of(&v1_id),
        &public(&v1_receipt, &audit_of(&v1_id)),
    );
    assert_eq!(found_v1, vec![("bob", "east")], "the search works on v1");
    let found_v2 = attack(
        &v2_receipt,
        &audit_of(&v2_id),
        &public(&v2_receipt, &audit_of(&v2_id)),
    );
    assert!(found_v2.is_empty(), "a v2 receipt revealed {found_v2:?}");

    // The voter, with the salt, finds their ballot in the receipt; another choice fails.
    let r: Receipt = serde_json::from_str(&v2_receipt).unwrap();
    let mine = |c, r| Ballot {
        candidate_id: c,
        region_id: r,
        salt: Some(salt),
    };
    assert_eq!(receipt::check(&r, &mine("carol", "west")), Ok(()));
    assert!(receipt::check(&r, &mine("alice", "west")).is_err());
    node.shutdown().await;
}

/// Every (candidate, region) whose hash, under any salt the attacker could know, gives the
/// receipt's hash on its `prev_hash`: at the receipt's `cast_at_ms`, and (unsalted, the v1
/// formula) anywhere within 2 s of the audit event's `received_at_ms`.
fn attack(receipt: &str, audit: &str, public_text: &str) -> Vec<(&'static str, &'static str)> {
    let r: Value = serde_json::from_str(receipt).unwrap();
    let a: Value = serde_json::from_str(audit).unwrap();
    let hex = |k: &str| chain::from_hex(r[k].as_str().unwrap()).unwrap();
    let (prev, want) = (hex("prev_hash"), hex("hash"));
    // Salts it could try: none (v1), zero, and every 64-hex string anywhere in public.
    let mut salts: Vec<Option<Salt>> = vec![None, Some([0; 32])];
    salts.extend(
        public_text
            .split(|c: char| !c.is_ascii_hexdigit())
            .filter_map(chain::salt_from_hex)
            .map(Some),
    );
    let at = r["cast_at_ms"].as_i64().unwrap();
    let around = a["received_at_ms"].as_i64().unwrap();
    let mut found = vec![];
    for c in CANDIDATES {
        for region in REGIONS {
            let fields = |cast_at_ms| VoteFields {
                election_id: r["election_id"].as_str().unwrap(),
                chain: r["chain"].as_u64().unwrap() as u32,
                seq: r["seq"].as_u64().unwrap(),
                vote_id: r["vote_id"].as_str().unwrap(),
                candidate_id: c,
                region_id: region,
                cast_at_ms,
            };
            let salted = salts
                .iter()
                .any(|s| chain::hash_of(&fields(at), s.as_ref(), &prev) == want);
            let windowed = (around - 2_000..=around + 2_000)
                .any(|t| chain::vote_hash(&fields(t), &prev) == want);
            if salted || windowed {
                found.push((c, region));
            }
        }
    }
    found
}

/// The first `n` events of the audit topic, as JSON text.
async fn audit_events(env: &TestEnv, n: usize) -> Vec<String> {
    let c: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", env.kafka.bootstrap_servers())
        .set("group.id", format!("audit-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    c.subscribe(&[&env.config.kafka.audit_topic]).unwrap();
    let mut out = vec![];
    while out.len() < n {
        let m = tokio::time::timeout(Duration::from_secs(20), c.recv())
            .await
            .expect("audit events in time")
            .unwrap();
        out.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap());
    }
    out
}
