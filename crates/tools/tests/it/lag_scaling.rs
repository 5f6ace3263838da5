//! Issue 4, "what it must show" 1 (integration half; the policy's unit tests are in
//! `src/scaling.rs`): with real Kafka lag, the writer's desired replicas rise (never above
//! the partitions), and fall back after the lag drains, through `GET /v1/scaling`.
//! On Apache Kafka: the drained lag is each partition's trailing transaction marker.

use crate::common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desired_writers_follow_real_lag_up_and_down() {
    let mut env = TestEnv::new("lag", 4, DEMO).await;
    env.config.lag_monitor.interval_ms = 200;
    env.config.lag_monitor.policy.writer_lag_per_replica = 40;
    env.config.lag_monitor.policy.up_cooldown = Duration::ZERO;
    env.config.lag_monitor.policy.down_window = Duration::from_secs(2);
    let http = reqwest::Client::new();
    let front = env.node(&["ingest", "lag-monitor"], "lag-front").await;
    let scaling = |n: &votechain::runtime::Node| format!("http://{}/v1/scaling", n.http_addr);
    let report = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.ok()?;
            if r.status() != 200 {
                return None;
            }
            r.json::<serde_json::Value>().await.ok()
        }
    };
    // No writer yet: every vote is lag.
    submit_range(&http, &front, 8, 0, 400).await;
    let up = eventually(
        Duration::from_secs(20),
        "desired writers rise with the lag",
        || async {
            let r = report(scaling(&front)).await?;
            (r["writer"]["kafka_lag_records"].as_u64()? >= 400
                && r["writer"]["desired"].as_u64()? >= 4)
                .then_some(r)
        },
    )
    .await;
    assert_eq!(up["writer"]["max"], 4, "bounded by the partitions");
    assert_eq!(
        up["writer"]["desired"], 4,
        "400 records / 40 per replica = 10, capped at 4 partitions"
    );
    // The writer drains the lag; desired falls back to the minimum after the window.
    let writer = env.node(&["writer"], "lag-writer").await;
    let down = eventually(
        Duration::from_secs(40),
        "desired writers fall after the drain",
        || async {
            let r = report(scaling(&front)).await?;
            // Drained: what remains is at most the last transaction's commit marker on each
            // of the 4 partitions (a marker takes an offset; the checkpoint points past
            // the last vote, not past the marker).
            (r["writer"]["kafka_lag_records"].as_u64()? <= 4
                && r["writer"]["desired"].as_u64()? == 1)
                .then_some(r)
        },
    )
    .await;
    assert_eq!(down["writer"]["actual"], 1, "one writer pod seen");
    let cps: Vec<i64> = down["writer"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["checkpoint"].as_i64())
        .collect();
    assert!(!cps.is_empty(), "checkpoints reported: {down}");
    // The metrics carry the same signal.
    let text = get_text(&http, &format!("http://{}/metrics", front.http_addr)).await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("votechain_scaling_desired_replicas{role=\"writer\"}")),
        "gauge exported"
    );
    writer.shutdown().await;
    front.shutdown().await;
}
