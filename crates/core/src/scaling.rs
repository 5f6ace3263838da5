//! The LagMonitor's scaling policy: lag, its trend and the shard/partition counts in;
//! desired replicas for the writer and projector roles out. Never CPU.
//!
//! Per role, each evaluation computes a *raw* desired count:
//! - writer: `ceil(kafka_lag / writer_lag_per_replica)`, plus one while the lag grows faster
//!   than `growth_per_s` records/s; at least `min`, never more than the partitions (a writer
//!   beyond that would own nothing);
//! - projector: `max(ceil(stream_backlog / projector_backlog_per_replica),
//!   ceil(stream_lag_s / projector_lag_s_per_replica))`; at least `min`, never more than the
//!   open shards (one active consumer per shard).
//!
//! The published count moves like Kubernetes' HPA with stabilization: up at once to the raw
//! value (at most once per `up_cooldown`), down only to the highest raw value seen during
//! the last `down_window`, so a dip in lag does not flap replicas.
//!
//! Example (defaults: 5,000 records a writer, 12 partitions): lag 0 → 1; lag 12,000 and
//! rising → 3 + 1 = 4 at once; lag falls to 0 → stays 4 for 2 minutes, then 1.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScalingPolicy {
    pub min_replicas: u32,
    pub writer_lag_per_replica: u64,
    pub growth_per_s: f64,
    pub projector_backlog_per_replica: u64,
    pub projector_lag_s_per_replica: f64,
    #[serde(with = "crate::millis")]
    pub up_cooldown: Duration,
    #[serde(with = "crate::millis")]
    pub down_window: Duration,
}

impl Default for ScalingPolicy {
    fn default() -> Self {
        ScalingPolicy {
            min_replicas: 1,
            writer_lag_per_replica: 5_000,
            growth_per_s: 200.0,
            projector_backlog_per_replica: 2_000,
            projector_lag_s_per_replica: 5.0,
            up_cooldown: Duration::from_secs(15),
            down_window: Duration::from_secs(120),
        }
    }
}

/// One role's inputs at one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    Writer {
        kafka_lag: u64,
        partitions: u32,
    },
    Projector {
        backlog: u64,
        lag_s: f64,
        open_shards: u32,
    },
}

/// The stateful decision for one role.
#[derive(Debug, Clone)]
pub struct Scaler {
    policy: ScalingPolicy,
    desired: u32,
    last_up: Option<Instant>,
    /// (when, raw desired) over the down window.
    recent: VecDeque<(Instant, u32)>,
    /// (when, lag) of the previous evaluation, for the trend.
    prev_lag: Option<(Instant, u64)>,
    trend: f64,
}

impl Scaler {
    pub fn new(policy: ScalingPolicy) -> Scaler {
        Scaler {
            policy,
            desired: policy.min_replicas.max(1),
            last_up: None,
            recent: VecDeque::new(),
            prev_lag: None,
            trend: 0.0,
        }
    }

    pub fn desired(&self) -> u32 {
        self.desired
    }

    /// The lag trend (records/s) at the last writer evaluation.
    pub fn trend(&self) -> f64 {
        self.trend
    }

    /// The raw count for this signal, before stabilization. Also returns the lag trend (records/s).
    pub fn raw(&mut self, s: Signal, now: Instant) -> (u32, f64) {
        let p = &self.policy;
        let min = p.min_replicas.max(1);
        match s {
            Signal::Writer {
                kafka_lag,
                partitions,
            } => {
                let trend = match self.prev_lag {
                    Some((t, l)) if now > t => {
                        (kafka_lag as f64 - l as f64) / now.duration_since(t).as_secs_f64()
                    }
                    _ => 0.0,
                };
                self.prev_lag = Some((now, kafka_lag));
                self.trend = trend;
                let mut n = kafka_lag.div_ceil(p.writer_lag_per_replica.max(1)) as u32;
                if trend > p.growth_per_s {
                    n += 1;
                }
                (n.max(min).min(partitions.max(1)), trend)
            }
            Signal::Projector {
                backlog,
                lag_s,
                open_shards,
            } => {
                let by_backlog = backlog.div_ceil(p.projector_backlog_per_replica.max(1)) as u32;
                let by_lag = (lag_s / p.projector_lag_s_per_replica.max(0.001))
                    .ceil()
                    .max(0.0) as u32;
                (by_backlog.max(by_lag).max(min).min(open_shards.max(1)), 0.0)
            }
        }
    }

    /// Folds in one evaluation and returns the published desired count.
    pub fn evaluate(&mut self, s: Signal, now: Instant) -> u32 {
        let (raw, _) = self.raw(s, now);
        self.recent.push_back((now, raw));
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > self.policy.down_window)
        {
            self.recent.pop_front();
        }
        if raw > self.desired {
            if self
                .last_up
                .is_none_or(|t| now.duration_since(t) >= self.policy.up_cooldown)
            {
                self.desired = raw;
                self.last_up = Some(now);
            }
        } else {
            // Down only as far as the highest raw value within the window.
            let floor = self.recent.iter().map(|(_, r)| *r).max().unwrap_or(raw);
            self.desired = self.desired.min(floor.max(raw));
        }
        // Bounds can shrink (fewer shards): always respect them.
        let cap = match s {
            Signal::Writer { partitions, .. } => partitions.max(1),
            Signal::Projector { open_shards, .. } => open_shards.max(1),
        };
        self.desired = self.desired.min(cap);
        self.desired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(lag: u64) -> Signal {
        Signal::Writer {
            kafka_lag: lag,
            partitions: 12,
        }
    }

    #[test]
    fn rises_with_growing_lag_and_falls_after_the_window_without_flapping() {
        let mut now = Instant::now();
        let mut s = Scaler::new(ScalingPolicy::default());
        let step = Duration::from_secs(5);
        let mut seen = vec![];
        // Lag grows 0 -> 30,000 over 30 s, stays 30 s, drains to 0, then jitters near 0.
        let lags: Vec<u64> = (0..=6)
            .map(|i| i * 5_000)
            .chain([30_000; 6])
            .chain([20_000, 8_000, 0])
            .chain([0, 400, 0, 600, 0].repeat(6))
            .collect();
        for lag in &lags {
            seen.push(s.evaluate(w(*lag), now));
            now += step;
        }
        let peak = *seen.iter().max().unwrap();
        assert!(peak >= 6, "scaled up under lag: {seen:?}");
        assert!(peak <= 12, "never above partitions");
        assert_eq!(
            *seen.last().unwrap(),
            1,
            "back to the minimum after draining: {seen:?}"
        );
        // No flapping: once it starts going down it never goes back up during the jitter.
        let first_down = seen.windows(2).position(|p| p[1] < p[0]).unwrap();
        assert!(
            seen[first_down..].windows(2).all(|p| p[1] <= p[0]),
            "monotone after the peak: {seen:?}"
        );
        // And it held the peak through the down window after the lag drained.
        let held = seen.iter().filter(|d| **d == peak).count();
        assert!(
            held * 5 >= 120,
            "held the peak through the window ({held} evaluations)"
        );
    }

    #[test]
    fn growth_adds_a_replica_and_up_steps_respect_the_cooldown() {
        let mut now = Instant::now();
        let mut s = Scaler::new(ScalingPolicy::default());
        assert_eq!(s.evaluate(w(0), now), 1);
        now += Duration::from_secs(1);
        // +4,000 records in 1 s: 4000/5000 -> 1 replica, +1 for the trend.
        assert_eq!(s.evaluate(w(4_000), now), 2);
        now += Duration::from_secs(1);
        // Higher again within the 15 s cooldown: held at 2.
        assert_eq!(s.evaluate(w(40_000), now), 2);
        now += Duration::from_secs(15);
        assert_eq!(s.evaluate(w(40_000), now), 8);
    }

    #[test]
    fn projector_is_bounded_by_open_shards() {
        let mut now = Instant::now();
        let mut s = Scaler::new(ScalingPolicy::default());
        let sig = |b, l, n| Signal::Projector {
            backlog: b,
            lag_s: l,
            open_shards: n,
        };
        assert_eq!(s.evaluate(sig(100_000, 60.0, 3), now), 3);
        now += Duration::from_secs(300);
        assert_eq!(s.evaluate(sig(0, 0.0, 3), now), 1);
        now += Duration::from_secs(20);
        assert_eq!(
            s.evaluate(sig(9_000, 1.0, 1), now),
            1,
            "one open shard: one projector"
        );
    }
}

/// What `GET /v1/scaling` serves (KEDA's metrics-api scaler reads `writer.desired` and
/// `projector.desired`), refreshed by the LagMonitor.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScalingReport {
    pub updated_at_ms: i64,
    pub writer: WriterReport,
    pub projector: ProjectorReport,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct WriterReport {
    pub desired: u32,
    pub actual: u32,
    pub max: u32,
    pub kafka_lag_records: u64,
    pub lag_trend_records_per_s: f64,
    pub partitions: Vec<PartitionLag>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PartitionLag {
    pub partition: i32,
    pub high_watermark: i64,
    /// The writer's checkpoint in DynamoDB (next offset to chain); `None` before the first write.
    pub checkpoint: Option<i64>,
    /// The consumer group's committed offset, for comparison only.
    pub committed: Option<i64>,
    pub lag: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProjectorReport {
    pub desired: u32,
    pub actual: u32,
    pub max: u32,
    pub open_shards: u32,
    pub stream_lag_seconds: f64,
    pub backlog_records: u64,
    pub leases_per_worker: std::collections::BTreeMap<String, u32>,
    /// Elections whose read model may miss votes lost from the stream, until a replay.
    pub needs_replay: Vec<String>,
}
