//! The metrics recorder does not grow with the votes when nobody scrapes `/metrics`.
//!
//! metrics-exporter-prometheus keeps every histogram sample until it is folded into its
//! buckets (a scrape, or an upkeep call); `votechain dev` grew by ~88 bytes a vote over a
//! million unscraped votes. `metrics::install` now runs the upkeep every second. This test
//! records 4 million samples over 4 s without a scrape and bounds the process's growth.
//! Without the upkeep it fails: the process grew 64 MB (16 bytes a sample); with it, 9 MB.

use std::time::Duration;

/// The process's resident set in MB (`VmRSS`, whatever the page size).
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unscraped_histograms_do_not_grow_the_process() {
    votechain::metrics::install();
    let before = rss_mb();
    for _ in 0..40 {
        for i in 0..100_000u32 {
            metrics::histogram!(votechain::metrics::INGEST_REQUEST_SECONDS)
                .record(f64::from(i % 1000) / 1e5);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let grown = rss_mb() - before;
    assert!(
        grown < 20.0,
        "4M unscraped samples grew the process by {grown:.1} MB (all kept: ~64 MB)"
    );
}
