//! Issue 14, "what it must show" 1: the projectors through a production-like stream.
//! The fault proxy's Streams topology (`chaos::streams`: DynamoDB Local's real records,
//! simulated shards) rolls a shard over every 4 records and makes every 10th rollover a
//! split, so a few hundred votes take the stream through more than 200 rollovers and 20
//! splits. Projectors are crashed, stopped and added while votes flow. The results must
//! equal the chain exactly (nothing lost, nothing applied twice), no loss may be reported,
//! and lease hygiene must keep the lease table near the number of open shards although the
//! stream went through hundreds of shards.

use crate::common::*;
use std::time::Duration;
use votechain::projector::lease::LeaseTable;
use votechain_tools::chaos::streams::TopologyConfig;

pub async fn leases_of(env: &TestEnv) -> LeaseTable {
    let arn = votechain::projector::stream::stream_arn(&env.ledger.db, &env.ledger.table)
        .await
        .unwrap();
    LeaseTable {
        db: env.ledger.db.clone(),
        table: env.config.dynamodb.lease_table.clone(),
        stream_arn: arn,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_rollovers_and_splits_while_projectors_come_and_go() {
    let env = TestEnv::new("topology", 2, DEMO).await;
    let (proxy, topo) = topology_proxy(
        &env,
        TopologyConfig {
            roll_every_records: Some(4),
            split_every: Some(10),
            max_open: 32,
            ..Default::default()
        },
    )
    .await;
    let front = env.node(&["ingest", "writer", "query"], "front").await;
    let http = reqwest::Client::new();
    let via = proxy.endpoint.clone();
    let mut projectors = vec![];
    for i in 1..=3 {
        projectors.push(env.node_via(&["projector"], &format!("p{i}"), &via).await);
    }
    let leases = leases_of(&env).await;
    let lost_before = metric(&http, &front, "votechain_projector_records_lost_total", "").await;

    submit_range(&http, &front, 14, 0, 150).await;
    crash(projectors.remove(0));
    submit_range(&http, &front, 14, 150, 300).await;
    projectors.push(env.node_via(&["projector"], "p4", &via).await);
    submit_range(&http, &front, 14, 300, 450).await;
    projectors.remove(0).shutdown().await;
    submit_range(&http, &front, 14, 450, 600).await;
    projectors.push(env.node_via(&["projector"], "p5", &via).await);
    submit_range(&http, &front, 14, 600, 700).await;

    let want = eventually(Duration::from_secs(60), "700 votes chained", || async {
        let c = chain_results(&env.ledger, "demo-2026", 1).await;
        (c["total"] == 700).then_some(c)
    })
    .await;
    eventually(
        Duration::from_secs(120),
        "results = chain after 700 votes through the rolling stream",
        || async { (served_results(&http, &front, "demo-2026").await == want).then_some(()) },
    )
    .await;
    let stats = topo.stats().await;
    eprintln!("topology: {stats:?}");
    assert!(stats.rollovers >= 200, "only {} rollovers", stats.rollovers);
    assert!(stats.splits >= 20, "only {} splits", stats.splits);

    // Nothing reported lost, nothing marked.
    let lost = metric(&http, &front, "votechain_projector_records_lost_total", "").await;
    assert_eq!(lost, lost_before, "no stream records may be reported lost");
    let marked = votechain::projector::loss::read(&env.ledger.db, &leases.table)
        .await
        .unwrap();
    assert_eq!(marked, None);

    // Hygiene: the finished leases are deleted once their children progressed, so the
    // table tracks the open shards, not the hundreds the stream went through.
    let open = stats.open;
    let bounded = eventually(
        Duration::from_secs(30),
        "the lease table shrinks to about the open shards",
        || async {
            let all = leases.scan().await.ok()?;
            (all.len() <= open * 2).then_some(all)
        },
    )
    .await;
    eprintln!(
        "{} leases for {open} open shards after {} shards",
        bounded.len(),
        stats.rollovers + 2 * stats.splits + 1
    );
    // Every unfinished lease is held by one of the live projectors (none lost, none doubled:
    // one owner per lease is the table's own invariant; owners must be live workers).
    let live: Vec<String> = projectors
        .iter()
        .map(|n| format!("{}#", n.config.node.instance_id))
        .collect();
    eventually(
        Duration::from_secs(30),
        "every open lease owned by a live projector",
        || async {
            let all = leases.scan().await.ok()?;
            all.iter()
                .filter(|l| l.checkpoint != "SHARD_END")
                .all(|l| {
                    l.owner
                        .as_deref()
                        .is_some_and(|o| live.iter().any(|p| o.starts_with(p.as_str())))
                })
                .then_some(())
        },
    )
    .await;
    for p in projectors {
        p.shutdown().await;
    }
}
