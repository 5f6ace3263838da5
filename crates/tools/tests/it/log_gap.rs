//! A writer never starts past records that were deleted from the log before it chained
//! them. Here Kafka's own DeleteRecords (what `retention.ms`/`retention.bytes` or an
//! operator's `kafka-delete-records.sh` does) removes the first 100 of 300 vote events on a
//! partition no writer has read yet. The writer refuses the partition (nothing chained,
//! `votechain_writer_log_gaps_total`), where it would otherwise start silently at the
//! log's new start, skipping acknowledged votes; and `recount` refuses the trimmed log
//! rather than count a part of it.

use crate::common::*;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_refuses_a_partition_whose_unchained_records_were_deleted() {
    let env = TestEnv::new("loggap", 1, DEMO).await;
    let producer = raw_producer(&env);
    let mut sent = vec![];
    for i in 0..300u32 {
        let ev = raw_event(
            "demo-2026",
            &vote_id(89, i),
            "alice",
            "north",
            votechain::now_ms(),
        );
        let bytes = ev.to_bytes();
        let key = ev.kafka_key();
        let rec = FutureRecord::to(&env.config.kafka.votes_topic)
            .key(&key)
            .payload(&bytes);
        sent.push(producer.send_result(rec).map_err(|(e, _)| e).unwrap());
    }
    for d in sent {
        d.await.unwrap().unwrap();
    }
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", env.kafka.bootstrap_servers())
        .create()
        .unwrap();
    let mut upto = rdkafka::TopicPartitionList::new();
    upto.add_partition_offset(
        &env.config.kafka.votes_topic,
        0,
        rdkafka::Offset::Offset(100),
    )
    .unwrap();
    let done = admin
        .delete_records(&upto, &AdminOptions::new())
        .await
        .expect("DeleteRecords");
    for e in done.elements() {
        e.error().expect("records deleted");
    }
    let c: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", env.kafka.bootstrap_servers())
        .create()
        .unwrap();
    let (low, high) = c
        .fetch_watermarks(&env.config.kafka.votes_topic, 0, Duration::from_secs(10))
        .unwrap();
    assert_eq!((low, high), (100, 300), "the first 100 records deleted");

    let node = env.node(&["writer", "query"], "loggap").await;
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), "the gap refused", || async {
        let gaps = metric(&http, &node, "votechain_writer_log_gaps_total", "").await;
        (gaps >= 1.0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        chain_items(&env.ledger, "demo-2026", 0, 1).await.is_empty(),
        "nothing chained past the gap"
    );
    // Recount (and replay) read the log from its start: they refuse a trimmed one too,
    // rather than count a part of it.
    let err = votechain::recount::recount(
        &env.config,
        &env.ledger,
        "demo-2026",
        Duration::from_secs(5),
    )
    .await
    .expect_err("recount refuses a trimmed log")
    .to_string();
    assert!(err.contains("earlier records were deleted"), "{err}");
    node.shutdown().await;
}
