//! Apache Kafka's own faults, through the chaos runner on three KRaft brokers (replication
//! 3, min ISR 2): the votes partition's leader SIGKILLed, ingest's transaction coordinator
//! SIGKILLed, a broker SIGSTOPped for 20 s, and a rolling restart of all three with every
//! role a separate process. Each must keep what the system promises (nothing acknowledged
//! lost, nothing chained twice, the chain verifies, the recount agrees), and the fault must
//! really have happened to the broker it names.

use crate::chaos_suite::{assert_held, scenario};
use votechain_tools::chaos::Report;

/// The one broker fault of the run, carried out as asked.
fn the_fault<'a>(r: &'a Report, label: &str) -> &'a votechain_tools::chaos::brokers::FaultWindow {
    let w: Vec<_> = r
        .fault_windows
        .iter()
        .filter(|w| w.fault == label)
        .collect();
    assert_eq!(w.len(), 1, "one {label}: {r}");
    assert!(w[0].problem.is_none(), "{label} as asked: {r}");
    w[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_kafka_votes_leader_killed() {
    let r = scenario("kafka-leader-kill.toml").await;
    assert_held(&r);
    let w = the_fault(&r, "kafka_kill");
    assert!(w.broker.is_some_and(|b| (1..=3).contains(&b)), "{r}");
    assert!(w.to_s - w.from_s >= 6.0, "down 6 s, then back: {r}");
    assert_eq!(r.kafka, "apache x3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_kafka_transaction_coordinator_killed() {
    let r = scenario("kafka-coordinator-kill.toml").await;
    assert_held(&r);
    let w = the_fault(&r, "kafka_kill");
    assert!(w.broker.is_some(), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_kafka_broker_paused_for_20_s() {
    let r = scenario("kafka-broker-pause.toml").await;
    assert_held(&r);
    let w = the_fault(&r, "kafka_pause");
    assert!(w.to_s - w.from_s >= 20.0, "paused 20 s: {r}");
    assert!(
        r.kafka_fault_ack_p99_s.is_some(),
        "votes sent during the pause: {r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_kafka_rolling_restart_with_roles_as_processes() {
    let r = scenario("kafka-rolling-restart.toml").await;
    assert_held(&r);
    the_fault(&r, "kafka_rolling_restart");
    assert!(
        r.faults_injected.get("kafka_rolling_restart") == Some(&1),
        "{r}"
    );
}
