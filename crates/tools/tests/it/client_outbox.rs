//! Issue 7, "what it must show" 2: a polling-station client (`votechain loadgen`, a real
//! process) killed mid-run and restarted resends its outbox; every acknowledged and every
//! outboxed vote is chained exactly once.
//!
//! The kill comes while the station's link is losing answers (a fault proxy forwards each
//! request, then resets the connection): votes the server accepted but the client never heard
//! about are certainly in the outbox when it dies, whatever the speed of the machine, and
//! their resending exercises deduplication as well as recovery.

use crate::common::*;
use std::process::Command;
use std::time::Duration;
use votechain_tools::client::outbox::{Limits, Outbox};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_client_resends_its_outbox_and_nothing_is_lost() {
    let env = TestEnv::new("outbox", 2, DEMO).await;
    let node = env
        .node(&["ingest", "writer", "projector", "query"], "outbox")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("station-7.jsonl");
    let link =
        votechain_tools::chaos::proxy::FaultProxy::start(&format!("http://{}", node.http_addr))
            .await
            .unwrap();
    let url = link.endpoint.clone();
    let loadgen = |extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_votechain-tools"));
        c.args([
            "loadgen",
            "--url",
            &url,
            "--clients",
            "8",
            "--json",
            // Every vote with its choice stays in the file, for the check below.
            "--outbox-keep-history",
            "--outbox",
        ])
        .arg(&outbox)
        .args(extra)
        .env("VOTECHAIN_STATION_KEY", KEY);
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        c
    };
    // Run 1: answers flow for 2 s, then the link loses every answer; killed (SIGKILL) once
    // at least 8 accepted votes went unanswered.
    let mut first = loadgen(&["--votes", "5000", "--rate", "400"])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    link.control.update(|f| f.reset_after_share = 1.0);
    eventually(Duration::from_secs(30), "8 answers lost", || async {
        (link.control.injected().reset_after >= 8).then_some(())
    })
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    // Opened as loadgen opened it: never compacted, every vote with its choice.
    let before = Outbox::open_with(&outbox, Limits::KEEP_HISTORY).unwrap();
    let pending = before.pending().len();
    let added = Outbox::all_added(&outbox).unwrap();
    assert!(
        added.len() > 100 && added.len() < 5000,
        "killed mid-run: {} votes written to the outbox",
        added.len()
    );
    assert!(
        pending > 0,
        "some votes were unacknowledged when the client died"
    );
    drop(before);

    // Run 2: the link is back; the restarted client resends only what is pending.
    link.control.clear();
    let out = loadgen(&["--resume-only"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["resent_from_outbox"], pending as u64);
    assert_eq!(report["acknowledged"], pending as u64);
    assert!(
        Outbox::open(&outbox).unwrap().pending().is_empty(),
        "outbox drained"
    );

    // The checker: every outboxed vote chained exactly once, with the choice the client made.
    assert_chained_exactly_once(&env.ledger, &added).await;
    node.shutdown().await;
}
