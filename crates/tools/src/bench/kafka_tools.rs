//! Apache Kafka's own performance tools as outside baselines: `ProducerPerformance`
//! (transactional, beside ingest) and `ConsumerPerformance` (read_committed, beside replay),
//! run from the jars `scripts/setup` installed (`.local/kafka/libs/`, or
//! `VOTECHAIN_KAFKA_DIR`) against the same broker as the measured stage.
//!
//! Each tool is one Java producer or consumer: a reference for what one client of the
//! broker reaches on this machine, not a like-for-like baseline (ours run at ingest's
//! concurrency in `bench.rs`). A tool that prints no figures is an error naming its output.

use super::BenchError;

/// What to run `ProducerPerformance` with.
pub struct ProducerRun<'a> {
    pub bootstrap: &'a str,
    pub topic: &'a str,
    pub records: u64,
    pub record_bytes: u64,
    /// Milliseconds per transaction (`--transaction-duration-ms`); it commits that often.
    pub transaction_ms: u64,
}

/// Records/s of `ProducerPerformance`, one transactional producer at full speed.
pub async fn producer_performance(run: &ProducerRun<'_>) -> Result<f64, BenchError> {
    let txn_id = format!("bench-producer-performance-{}", uuid::Uuid::new_v4());
    let out = java()?
        .arg("org.apache.kafka.tools.ProducerPerformance")
        .args(["--topic", run.topic])
        .args(["--num-records", &run.records.to_string()])
        .args(["--record-size", &run.record_bytes.max(1).to_string()])
        .args(["--throughput", "-1"])
        .args(["--transactional-id", &txn_id])
        .args([
            "--transaction-duration-ms",
            &run.transaction_ms.max(1).to_string(),
        ])
        .arg("--producer-props")
        .arg(format!("bootstrap.servers={}", run.bootstrap))
        .arg("acks=all")
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    producer_performance_rate(&text).ok_or_else(|| failed("ProducerPerformance", &out))
}

/// Records/s of `ConsumerPerformance` reading `records` of `topic` read_committed, as
/// replay reads it.
pub async fn consumer_performance(
    bootstrap: &str,
    topic: &str,
    records: u64,
) -> Result<f64, BenchError> {
    let out = java()?
        .arg("org.apache.kafka.tools.ConsumerPerformance")
        .args(["--bootstrap-server", bootstrap, "--topic", topic])
        .args(["--num-records", &records.to_string(), "--timeout", "120000"])
        .args(["--command-property", "isolation.level=read_committed"])
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    consumer_performance_rate(&text).ok_or_else(|| failed("ConsumerPerformance", &out))
}

fn java() -> Result<tokio::process::Command, BenchError> {
    let libs = votechain::dev::kafka_dir()?.join("libs");
    let mut cmd = tokio::process::Command::new("java");
    cmd.arg("-cp").arg(format!("{}/*", libs.display()));
    Ok(cmd)
}

fn failed(tool: &str, out: &std::process::Output) -> BenchError {
    format!(
        "{tool} printed no rate (exit {}): {} {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .into()
}

/// The records/sec of ProducerPerformance's final line ("N records sent, R records/sec
/// (M MB/sec), ..."); the lines before it are progress every 5 s.
fn producer_performance_rate(text: &str) -> Option<f64> {
    let last = text.lines().rev().find(|l| l.contains(" records sent, "))?;
    let (_, after) = last.split_once(" records sent, ")?;
    after.split_once(" records/sec")?.0.trim().parse().ok()
}

/// nMsg.sec of ConsumerPerformance's output: the header names the columns, the last line
/// holds the figures.
pub fn consumer_performance_rate(text: &str) -> Option<f64> {
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(',')).collect();
    let header: Vec<&str> = lines.first()?.split(',').map(str::trim).collect();
    let col = header.iter().position(|h| *h == "nMsg.sec")?;
    let last = lines.get(1..)?.last()?;
    last.split(',').nth(col)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_performance_rate_reads_the_final_line() {
        let out = "60001 records sent, 12000.2 records/sec (3.43 MB/sec), 8.1 ms avg latency, 300.0 ms max latency.\n120000 records sent, 11974.3 records/sec (3.42 MB/sec), 7.90 ms avg latency, 312.00 ms max latency, 5 ms 50th, 20 ms 95th, 40 ms 99th, 90 ms 99.9th.\n";
        assert_eq!(producer_performance_rate(out), Some(11974.3));
        assert_eq!(producer_performance_rate("no figures"), None);
        assert_eq!(producer_performance_rate("5 records sent, fast"), None);
    }

    #[test]
    fn consumer_performance_rate_reads_the_nmsg_column() {
        let out = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n2026-12-07 23:00:00:000, 2026-12-07 23:00:10:000, 286.1023, 28.6102, 1000000, 100000.0000, 3000, 7000, 40.8718, 142857.1429\n";
        assert_eq!(consumer_performance_rate(out), Some(100000.0));
        assert_eq!(consumer_performance_rate("no figures"), None);
    }
}
