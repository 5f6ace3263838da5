//! Issue 5, "what it must show" 1 and 4: the short chaos suite CI runs, one scenario file
//! (`chaos/*.toml`) per fault kind, each through the real runner and checker; and the
//! checker failing on a deliberately broken writer (chaos builds only).

use crate::common::*;
use std::path::Path;
use std::time::Duration;
use votechain::chaos::{self, RunOptions, scenario::Scenario};

async fn scenario(file: &str) -> chaos::Report {
    init_tracing();
    let s = Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("chaos").join(file)).unwrap();
    let ddb = TestDynamo::start().await;
    let opts = RunOptions {
        dynamodb_endpoint: Some(ddb.endpoint.clone()),
        binary: Some(env!("CARGO_BIN_EXE_votechain").into()),
        settle: Duration::from_secs(90),
        break_dedup: false,
    };
    let r = chaos::run(&s, opts).await.unwrap();
    eprintln!("{r}");
    r
}

fn assert_held(r: &chaos::Report) {
    let v = &r.verdict;
    assert!(v.acknowledged > 100, "the scenario acknowledged votes: {r}");
    assert_eq!((v.lost, v.duplicated, v.phantom), (0, 0, 0), "{r}");
    assert!(v.verify_intact && v.recount_agrees, "{r}");
    assert!(r.passed, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_actor_kills() {
    let r = scenario("actor-kills.toml").await;
    assert_held(&r);
    assert!(r.faults_injected.get("actor_kill").copied().unwrap_or(0) >= 10, "{r}");
    assert!(r.actor_restarts > 0, "supervision restarted actors: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_kafka_faults() {
    let r = scenario("kafka-faults.toml").await;
    assert_held(&r);
    for k in ["kafka_broker_down", "kafka_rtt", "kafka_request_errors"] {
        assert!(r.faults_injected.contains_key(k), "{k} injected: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_dynamodb_faults() {
    let r = scenario("dynamodb-faults.toml").await;
    assert_held(&r);
    for k in ["delayed", "reset_before", "reset_after", "errors"] {
        assert!(r.dynamodb_proxy[k] > 0, "proxy injected {k}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_process_kills() {
    let r = scenario("process-kills.toml").await;
    assert_held(&r);
    assert!(r.faults_injected.get("process_kill").copied().unwrap_or(0) >= 4, "{r}");
    assert!(r.process_restarts >= 4, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_poor_connectivity() {
    let r = scenario("poor-connectivity.toml").await;
    assert_held(&r);
    assert!(r.client_retries > 50, "clients retried the same vote_ids: {r}");
}

/// Failpoints are process-wide: these run in a separate `--features chaos` pass, one at a time.
#[cfg(feature = "chaos")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_fp_failpoints_then_a_broken_writer_is_caught() {
    let r = scenario("failpoints.toml").await;
    assert_held(&r);
    assert_eq!(r.faults_injected["failpoint"], 7, "{r}");
    assert!(r.actor_restarts > 0, "{r}");

    // The same checker on a writer whose vote_id uniqueness is broken on purpose.
    let s = Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("chaos/poor-connectivity.toml")).unwrap();
    let ddb = TestDynamo::start().await;
    let opts = RunOptions { dynamodb_endpoint: Some(ddb.endpoint.clone()), binary: None, settle: Duration::from_secs(20), break_dedup: true };
    let broken = chaos::run(&s, opts).await.unwrap();
    eprintln!("{broken}");
    assert!(!broken.passed, "the checker must fail a broken writer: {broken}");
    assert!(broken.verdict.duplicated > 0, "{broken}");
}
