//! Issue 15, item 1 ("what it must show" 2, scope and revocation): station keys made by
//! `votechain keys` (a real process), held by the node only as digests in its keys file.
//!
//! - A key votes within its scope (202), gets 403 outside its region or election.
//! - Rotated: the old key is refused (401) and the new one accepted, without a restart.
//! - Revoked: refused, without a restart.
//! - The audit event of its vote names the station.

use crate::common::*;
use std::process::Command;
use std::time::Duration;

fn keys(args: &[&str], file: &std::path::Path) -> String {
    let out = Command::new(node_bin())
        .arg("keys")
        .args(args)
        .arg("--file")
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_keys_are_rotated_and_revoked_without_a_restart() {
    let env = TestEnv::new("stationkeys", 1, DEMO).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("station-keys.toml");
    let a = keys(
        &[
            "create",
            "--station",
            "station-a",
            "--election",
            "demo-2026",
            "--region",
            "north",
        ],
        &file,
    );
    let c = keys(
        &[
            "create",
            "--station",
            "station-c",
            "--election",
            "other-2026",
        ],
        &file,
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains(&a[4..]) && !text.contains(&c[4..]),
        "only digests: {text}"
    );

    let node = env
        .node_with(|c| {
            c.ingest.keys_file = Some(file.clone());
            c.ingest.keys_reload_ms = 100;
        })
        .await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/elections/demo-2026/votes", node.http_addr);
    let vote = |key: String, i: u32, region: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let vid = vote_id(87, i);
            let body = serde_json::json!({"vote_id": vid, "candidate_id": "bob", "region_id": region, "salt": test_salt(&vid)});
            let r = http
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }
    };
    assert_eq!(vote(a.clone(), 1, "north").await, 202);
    assert_eq!(vote(a.clone(), 2, "south").await, 403, "outside its region");
    assert_eq!(
        vote(c.clone(), 3, "north").await,
        403,
        "outside its election"
    );
    assert_eq!(vote("vck_nope".into(), 4, "north").await, 401);

    // Rotated: the next reload refuses the old key and accepts the new one.
    let a2 = keys(
        &[
            "rotate",
            "--station",
            "station-a",
            "--election",
            "demo-2026",
            "--region",
            "north",
        ],
        &file,
    );
    eventually(Duration::from_secs(10), "the old key refused", || async {
        (vote(a.clone(), 5, "north").await == 401).then_some(())
    })
    .await;
    assert_eq!(vote(a2.clone(), 6, "north").await, 202);
    // Revoked.
    keys(&["revoke", "--station", "station-a"], &file);
    eventually(
        Duration::from_secs(10),
        "the revoked key refused",
        || async { (vote(a2.clone(), 7, "north").await == 401).then_some(()) },
    )
    .await;

    // The audit events of the accepted votes name the station, one audit event each
    // (read_committed: aborted transactions hidden).
    let audit = audit_events(&env).await;
    let by_station: Vec<_> = audit
        .iter()
        .filter(|e| e.vote_id == vote_id(87, 1) || e.vote_id == vote_id(87, 6))
        .map(|e| e.client_id.as_str())
        .collect();
    assert_eq!(by_station, ["station-a", "station-a"]);
    node.shutdown().await;
}

/// Every record on the audit topic.
async fn audit_events(env: &TestEnv) -> Vec<votechain_core::model::AuditEvent> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Message;
    let c: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", env.kafka.bootstrap_servers())
        .set("group.id", format!("audit-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    c.subscribe(&[&env.config.kafka.audit_topic]).unwrap();
    let mut out = vec![];
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(5), c.recv()).await {
        if let Ok(e) = serde_json::from_slice(m.payload().unwrap_or_default()) {
            out.push(e);
        }
    }
    out
}
