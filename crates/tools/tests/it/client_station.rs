//! Issue 17: the polling-station client as a station runs it (`votechain client`, a real
//! process on its outbox file).
//!
//! 1. Offline first: `client vote` with the link down accepts the ballot (exit 0, pending
//!    1); `client send` later delivers it; the outbox then holds no choice, only the
//!    receipt (vote_id, salt, cast time); `receipts --fetch-from` gets the log's proof,
//!    `verify-receipt` checks it offline with the voter's choice (exit 0) and refuses
//!    another choice (exit 1); `--handed-over` forgets it.
//! 2. "What it must show" 2: the client process killed at random points, 50 times, while
//!    the link drops answers and resets connections: every vote the client accepted into
//!    its outbox is chained exactly once, with its choice.

use crate::common::*;
use rand::Rng;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use votechain_tools::client::outbox::{Limits, Outbox};

fn tools() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_votechain-tools"));
    c.env("VOTECHAIN_STATION_KEY", KEY)
        .env("VOTECHAIN_LOG", "warn");
    c
}

fn client(args: &[&str], outbox: &std::path::Path) -> Output {
    tools()
        .arg("client")
        .args(args)
        .arg("--outbox")
        .arg(outbox)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_votes_offline_sends_later_and_keeps_only_the_receipt() {
    let mut env = TestEnv::new("station", 1, DEMO).await;
    let keys = tempfile::tempdir().unwrap();
    let key = votechain_tools::fixture::write_test_log_key(keys.path()).unwrap();
    env.config
        .publisher
        .key_files
        .insert("demo-2026".into(), key);
    env.config.publisher.checkpoint_interval_ms = 200;
    let node = env
        .node(&["ingest", "writer", "query", "publisher"], "station")
        .await;
    let url = format!("http://{}", node.http_addr);
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("station.jsonl");
    let vote = [
        "--election",
        "demo-2026",
        "--candidate",
        "carol",
        "--region",
        "east",
    ];

    // The link is down (nothing listens there): accepted, pending.
    let dead = "http://127.0.0.1:9";
    let mut args = vec!["vote", "--url", dead, "--give-up-after-s", "1"];
    args.extend(vote);
    let out = client(&args, &outbox);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("accepted"), "{}", stdout(&out));
    let status = client(&["status", "--json"], &outbox);
    let st: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        (st["pending"].as_u64(), st["acknowledged"].as_u64()),
        (Some(1), Some(0))
    );
    let out = client(&["send", "--url", dead, "--give-up-after-s", "1"], &outbox);
    assert_eq!(
        out.status.code(),
        Some(1),
        "still offline: {}",
        stdout(&out)
    );

    // The link is back.
    let out = client(&["send", "--url", &url], &outbox);
    assert!(out.status.success(), "{}", stdout(&out));
    let items = demo_chained(&env.ledger, 1, Duration::from_secs(30)).await;
    assert_eq!(items[0].candidate_id, "carol");
    let vid = items[0].vote_id.clone();
    let st: serde_json::Value =
        serde_json::from_slice(&client(&["status", "--json"], &outbox).stdout).unwrap();
    assert_eq!(
        (
            st["pending"].as_u64(),
            st["acknowledged"].as_u64(),
            st["receipts_kept"].as_u64()
        ),
        (Some(0), Some(1), Some(1))
    );
    // A restart compacts: the choice is gone from the device, the receipt stays.
    drop(Outbox::open(&outbox).unwrap());
    let text = std::fs::read_to_string(&outbox).unwrap();
    assert!(!text.contains("carol") && text.contains(&vid), "{text}");

    // The receipt: the log's proof, checked offline with the voter's choice.
    eventually(Duration::from_secs(30), "the proof fetched", || async {
        let out = client(&["receipts", "--fetch-from", &url], &outbox);
        (out.status.success() && stdout(&out).contains("(proof)")).then_some(())
    })
    .await;
    let manifest = dir.path().join("manifest.json");
    let m = get_text(
        &reqwest::Client::new(),
        &format!("{url}/v1/elections/demo-2026/manifest"),
    )
    .await;
    std::fs::write(&manifest, m).unwrap();
    let check = |cand: &str| {
        let args = [
            "verify-receipt",
            "--vote-id",
            &vid,
            "--candidate",
            cand,
            "--region",
            "east",
            "--manifest",
            manifest.to_str().unwrap(),
        ];
        client(&args, &outbox)
    };
    let ok = check("carol");
    assert!(ok.status.success(), "{}", stdout(&ok));
    let bad = check("alice");
    assert_eq!(bad.status.code(), Some(1), "{}", stdout(&bad));
    assert!(stdout(&bad).contains("step 5"), "{}", stdout(&bad));
    let export = dir.path().join("receipts");
    let out = client(&["receipts", "--export", export.to_str().unwrap()], &outbox);
    assert!(out.status.success());
    assert!(export.join(format!("{vid}.tlog-proof")).exists());
    let out = client(&["receipts", "--handed-over", &vid], &outbox);
    assert!(out.status.success(), "{}", stdout(&out));
    let st: serde_json::Value =
        serde_json::from_slice(&client(&["status", "--json"], &outbox).stdout).unwrap();
    assert_eq!(st["receipts_kept"].as_u64(), Some(0));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_kills_on_a_bad_link_lose_nothing_and_chain_nothing_twice() {
    let env = TestEnv::new("kills", 1, DEMO).await;
    let node = env.node(&["ingest", "writer", "query"], "kills").await;
    let link =
        votechain_tools::chaos::proxy::FaultProxy::start(&format!("http://{}", node.http_addr))
            .await
            .unwrap();
    // Answers lost and connections reset after the request was forwarded: the server may
    // have the vote while the client never heard.
    link.control.update(|f| {
        f.reset_after_share = 0.3;
    });
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("station.jsonl");
    let loadgen = |extra: &[&str]| {
        let mut c = tools();
        c.args([
            "loadgen",
            "--url",
            &link.endpoint,
            "--clients",
            "4",
            "--json",
        ])
        .args(["--timeout-ms", "500", "--outbox-keep-history", "--outbox"])
        .arg(&outbox)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        c
    };
    let mut rng = rand::rng();
    for _ in 0..50 {
        let mut p = loadgen(&["--votes", "100000", "--rate", "300"])
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(rng.random_range(150..700))).await;
        p.kill().unwrap(); // SIGKILL: mid-write, mid-request, mid-fsync, wherever it is
        p.wait().unwrap();
    }
    let added = Outbox::all_added(&outbox).unwrap();
    assert!(added.len() > 200, "only {} votes accepted", added.len());
    let pending = Outbox::open_with(&outbox, Limits::KEEP_HISTORY)
        .unwrap()
        .pending()
        .len();
    assert!(pending > 0, "the kills left unacknowledged votes to resend");

    // The link is good again: the last run resends what is pending and drains.
    link.control.clear();
    let out = loadgen(&["--resume-only"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(Outbox::open(&outbox).unwrap().pending().is_empty());

    assert_chained_exactly_once(&env.ledger, &added).await;
    node.shutdown().await;
}
