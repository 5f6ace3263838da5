//! Issue 3, "what it must show" 3: a worker whose lease was stolen mid-batch cannot apply
//! that batch. The read-model transaction carries the lease condition, so the stale owner's
//! deltas are refused whole; the ShardWorker notices and stops; the new owner applies each
//! vote exactly once.

use crate::common::*;
use aws_sdk_dynamodb::types::TransactWriteItem;
use ractor::{Actor, ActorStatus};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;
use votechain::actors::shard_worker::{ProjectorCtx, ShardWorker};
use votechain::projector::lease::{Lease, LeaseTable};
use votechain::projector::results::{self, Deltas};
use votechain::projector::stream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_lease_was_stolen_cannot_apply() {
    let env = TestEnv::new("projfence", 1, DEMO).await;
    let front = env.node(&["ingest", "writer", "query"], "front").await;
    let http = reqwest::Client::new();
    submit_range(&http, &front, 7, 0, 60).await;
    eventually(Duration::from_secs(30), "60 chained", || async {
        (chain_items(&env.ledger, "demo-2026", 0, 1).await.len() == 60).then_some(())
    })
    .await;

    let arn = stream::stream_arn(&env.ledger.db, &env.ledger.table)
        .await
        .unwrap();
    let leases = LeaseTable {
        db: env.ledger.db.clone(),
        table: env.config.dynamodb.lease_table.clone(),
        stream_arn: arn.clone(),
    };
    let streams = votechain::dynamo::streams_client(&env.config.dynamodb).await;
    let shard = stream::list_shards(&streams, &arn)
        .await
        .unwrap()
        .remove(0)
        .id;
    leases
        .create(&Lease::new_for_shard(&shard, vec![]))
        .await
        .unwrap();
    let seen = leases.get(&shard).await.unwrap().unwrap();
    let a_lease = leases.take(&seen, "A").await.unwrap();
    let ctx = |who: &str| {
        Arc::new(ProjectorCtx {
            worker_id: who.into(),
            leases: leases.clone(),
            streams: streams.clone(),
            db: env.ledger.db.clone(),
            results_table: env.config.dynamodb.results_table.clone(),
            failover: Duration::from_secs(2),
            max_records: 1000,
            carry_reads: 10,
            idle: Duration::from_millis(50),
            retention: Duration::from_secs(86_400),
            registry: Arc::new(env.config.registry()),
        })
    };
    // A applies the first 60 votes.
    let a_held = Arc::new(AtomicI64::new(a_lease.counter));
    let (a, _) = Actor::spawn(
        None,
        ShardWorker {
            ctx: ctx("A"),
            shard: shard.clone(),
            held: a_held.clone(),
            figures: Arc::default(),
        },
        (),
    )
    .await
    .unwrap();
    eventually(Duration::from_secs(20), "A applied 60", || async {
        (served_results(&http, &front, "demo-2026").await["total"] == 60).then_some(())
    })
    .await;

    // B steals the lease while A is between GetRecords and apply: A's batch in flight,
    // modelled exactly: deltas plus A's checkpoint condition at the counter A holds.
    let seen = leases.get(&shard).await.unwrap().unwrap();
    let b_lease = leases.take(&seen, "B").await.unwrap();
    let mut inflight = Deltas::default();
    inflight.add(
        &env.config.dynamodb.results_table,
        &chain_items(&env.ledger, "demo-2026", 0, 1).await[0],
    );
    let mut actions: Vec<TransactWriteItem> = results::updates(&inflight)
        .into_iter()
        .map(|u| TransactWriteItem::builder().update(u).build())
        .collect();
    actions.push(
        TransactWriteItem::builder()
            .update(leases.checkpoint_update(
                &shard,
                "A",
                a_lease.counter,
                &seen.checkpoint,
                "99999999999999999999",
            ))
            .build(),
    );
    let refused = env
        .ledger
        .db
        .transact_write_items()
        .set_transact_items(Some(actions))
        .send()
        .await;
    assert!(refused.is_err(), "a stale owner's batch must be refused");
    assert_eq!(
        served_results(&http, &front, "demo-2026").await["total"],
        60,
        "nothing of the refused batch applied"
    );

    // The real worker A, on its next batch, finds the lease gone and stops itself.
    submit_range(&http, &front, 7, 60, 90).await;
    eventually(Duration::from_secs(20), "A stops", || async {
        (a.get_status() == ActorStatus::Stopped).then_some(())
    })
    .await;
    assert_eq!(
        served_results(&http, &front, "demo-2026").await["total"],
        60,
        "A applied nothing after losing its lease"
    );

    // B takes over from A's checkpoint: every vote exactly once.
    let (b, _) = Actor::spawn(
        None,
        ShardWorker {
            ctx: ctx("B"),
            shard: shard.clone(),
            held: Arc::new(AtomicI64::new(b_lease.counter)),
            figures: Arc::default(),
        },
        (),
    )
    .await
    .unwrap();
    let want = eventually(Duration::from_secs(30), "90 chained", || async {
        let w = chain_results(&env.ledger, "demo-2026", 1).await;
        (w["total"] == 90).then_some(w)
    })
    .await;
    eventually(
        Duration::from_secs(30),
        "B applied the rest exactly once",
        || async { (served_results(&http, &front, "demo-2026").await == want).then_some(()) },
    )
    .await;
    b.stop(None);
    front.shutdown().await;
}
