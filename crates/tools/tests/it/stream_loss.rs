//! Issue 14, "what it must show" 2: a projector stopped past the stream's retention. The
//! fault proxy's Streams topology keeps records 4 seconds and rolls shards over every 40
//! records, so while the only projector is down its open shard is trimmed and closed
//! shards leave the stream. On restart the loss must be counted
//! (`votechain_projector_records_lost_total`, which `VotechainProjectorRecordsLost`
//! watches; its rule test is in deploy/prometheus/alerts.test.yml), the election marked
//! "needs replay" (shown by `/v1/scaling` and `recount`, which refuses to agree), and a
//! replay must make all three counts agree and clear the mark.
//!
//! Also: a first start on a stream older than its retention is marked (`old_stream`).

use crate::common::*;
use std::time::Duration;
use votechain::projector::loss;
use votechain_tools::chaos::streams::TopologyConfig;

async fn lost_total(http: &reqwest::Client, node: &votechain::runtime::Node) -> f64 {
    metric(http, node, "votechain_projector_records_lost_total", "").await
}

/// Rolling shards: closed shards leave the stream (`shard_gone`, `lineage_gap`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_down_past_retention_marks_needs_replay_until_a_replay() {
    down_past_retention(Some(40), &["shard_gone", "lineage_gap"]).await;
}

/// One shard that never closes: its records are trimmed under the checkpoint (`trimmed`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trimmed_shard_marks_needs_replay_until_a_replay() {
    down_past_retention(None, &["trimmed"]).await;
}

async fn down_past_retention(roll_every_records: Option<usize>, reasons: &[&str]) {
    let mut env = TestEnv::new("streamloss", 2, DEMO).await;
    env.config.lag_monitor.interval_ms = 200;
    let (proxy, topo) = topology_proxy(
        &env,
        TopologyConfig {
            roll_every_records,
            retention: Some(Duration::from_secs(4)),
            ..Default::default()
        },
    )
    .await;
    let front = env
        .node(&["ingest", "writer", "query", "lag-monitor"], "front")
        .await;
    let http = reqwest::Client::new();
    let p1 = env.node_via(&["projector"], "p1", &proxy.endpoint).await;
    let lost0 = lost_total(&http, &front).await;

    submit_range(&http, &front, 15, 0, 100).await;
    eventually(Duration::from_secs(60), "100 votes projected", || async {
        (served_results(&http, &front, "demo-2026").await["total"] == 100).then_some(())
    })
    .await;
    assert_eq!(
        loss::read(&env.ledger.db, &env.config.dynamodb.lease_table)
            .await
            .unwrap(),
        None
    );

    // Down past retention, with votes arriving.
    p1.shutdown().await;
    submit_range(&http, &front, 15, 100, 200).await;
    eventually(Duration::from_secs(60), "200 votes chained", || async {
        (chain_results(&env.ledger, "demo-2026", 1).await["total"] == 200).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    submit_range(&http, &front, 15, 200, 220).await;
    let p2 = env.node_via(&["projector"], "p2", &proxy.endpoint).await;

    let marked = eventually(Duration::from_secs(60), "the loss is marked", || async {
        loss::read(&env.ledger.db, &env.config.dynamodb.lease_table)
            .await
            .unwrap()
    })
    .await;
    eprintln!("marked: {marked:?}; topology: {:?}", topo.stats().await);
    assert_eq!(marked.elections, vec!["demo-2026".to_string()]);
    assert!(reasons.contains(&marked.reason.as_str()), "{marked:?}");
    assert!(
        lost_total(&http, &front).await > lost0,
        "the loss is counted"
    );
    let stats = topo.stats().await;
    assert!(stats.trimmed_answers + stats.gone_answers > 0, "{stats:?}");
    // Shown by /v1/scaling (the lag monitor) ...
    let url = format!("http://{}/v1/scaling", front.http_addr);
    eventually(
        Duration::from_secs(20),
        "/v1/scaling shows needs_replay",
        || async {
            let v: serde_json::Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            (v["projector"]["needs_replay"] == serde_json::json!(["demo-2026"])).then_some(())
        },
    )
    .await;
    // ... and by recount, which does not agree while it stands.
    let chain = eventually(Duration::from_secs(60), "220 votes chained", || async {
        let c = chain_results(&env.ledger, "demo-2026", 1).await;
        (c["total"] == 220).then_some(c)
    })
    .await;
    let r = recount_demo(&env).await;
    assert!(r.needs_replay.is_some() && !r.agree, "{r}");
    assert!(r.to_string().contains("NEEDS REPLAY"), "{r}");
    assert_ne!(
        served_results(&http, &front, "demo-2026").await,
        chain,
        "votes were lost"
    );

    // A replay rebuilds from Kafka, switches, and clears the mark.
    let out = run_replay(&env).await;
    assert!(out.switched, "{out:?}");
    assert_eq!(
        loss::read(&env.ledger.db, &env.config.dynamodb.lease_table)
            .await
            .unwrap(),
        None
    );
    eventually(
        Duration::from_secs(30),
        "results = chain after the replay",
        || async { (served_results(&http, &front, "demo-2026").await == chain).then_some(()) },
    )
    .await;
    let r = recount_demo(&env).await;
    assert!(r.agree && r.needs_replay.is_none(), "{r}");
    p2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_on_a_stream_older_than_retention_is_marked() {
    let env = TestEnv::new("oldstream", 1, DEMO).await;
    let (proxy, _topo) = topology_proxy(
        &env,
        TopologyConfig {
            stream_age: Duration::from_secs(2 * 86_400),
            ..Default::default()
        },
    )
    .await;
    let p = env.node_via(&["projector"], "p", &proxy.endpoint).await;
    let marked = eventually(
        Duration::from_secs(30),
        "the old stream is marked",
        || async {
            loss::read(&env.ledger.db, &env.config.dynamodb.lease_table)
                .await
                .unwrap()
        },
    )
    .await;
    assert_eq!(marked.reason, "old_stream");
    assert_eq!(marked.elections, vec!["demo-2026".to_string()]);
    p.shutdown().await;
}
