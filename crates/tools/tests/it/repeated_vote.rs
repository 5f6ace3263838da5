//! The README's first `curl`, run twice as written (no salt): a newcomer's mistake. Both
//! answers are 202, each with a salt ingest drew; the second is another ballot under the
//! same vote_id, so the writer refuses it as a conflict. That is told truthfully
//! everywhere, ingest staying free of DynamoDB: the receipt endpoint carries
//! `refused_resubmissions` (a count and times, never the choice or the salt), and
//! `votechain-verify receipt` with the second salt says that the chain holds a different
//! ballot under this vote_id and that a later one is refused as a conflict. The first
//! ballot stays counted, and recount agrees.

use crate::common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_curl_twice_counts_the_first_ballot_and_says_why_not_the_second() {
    let env = TestEnv::new("repeat", 1, DEMO).await;
    let node = env.node(&["ingest", "writer", "query"], "repeat-0").await;
    let http = reqwest::Client::new();
    let vid = vote_id(0x501, 1);
    let url = format!("http://{}/v1/elections/demo-2026/votes", node.http_addr);
    let body = serde_json::json!({"vote_id": vid, "candidate_id": "alice", "region_id": "north"});
    let mut salts = vec![];
    for _ in 0..2 {
        let r = http
            .post(&url)
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let v: serde_json::Value = r.json().await.unwrap();
        salts.push(v["salt"].as_str().expect("a drawn salt").to_string());
    }
    assert_ne!(salts[0], salts[1], "ingest drew a new salt: another ballot");

    let receipt_url = format!("{url}/{vid}");
    let receipt = eventually(
        Duration::from_secs(60),
        "the refusal on the receipt",
        || async {
            let r = http.get(&receipt_url).send().await.ok()?;
            let v: serde_json::Value = r.json().await.ok()?;
            (v["refused_resubmissions"]["count"] == 1).then_some(v)
        },
    )
    .await;
    let text = receipt.to_string();
    assert!(
        !text.contains(&salts[1]) && !text.contains("alice") && !text.contains("north"),
        "nothing of either ballot: {text}"
    );
    let at = receipt["refused_resubmissions"]["last_at_ms"]
        .as_i64()
        .unwrap();
    assert!(at >= receipt["cast_at_ms"].as_i64().unwrap(), "{receipt}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("receipt.json");
    std::fs::write(&file, &text).unwrap();
    let verify = |salt: &str| {
        let out = std::process::Command::new(node_bin().with_file_name("votechain-verify"))
            .args(["receipt", file.to_str().unwrap(), "--candidate", "alice"])
            .args(["--region", "north", "--salt", salt])
            .output()
            .expect("votechain-verify runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), text)
    };
    let (code, out) = verify(&salts[0]);
    assert_eq!(code, Some(0), "the first ballot is the chained one: {out}");
    let (code, out) = verify(&salts[1]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("different ballot under the vote_id")
            && out.contains("refused as a conflict")
            && out.contains("1 later ballot(s)"),
        "says why: {out}"
    );

    let dead = dead_letters(&env).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0, "conflict");
    let chained = chain_items(&env.ledger, "demo-2026", 0, 1).await;
    assert_eq!(chained.len(), 1, "the first ballot only");
    recount_agrees(&env, "demo-2026").await;
    node.shutdown().await;
}
