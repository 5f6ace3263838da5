//! `LagMonitor`: turns Kafka lag, stream lag and shard counts into scaling signals.
//!
//! Messages: `Tick` (every `interval`).
//! Each tick measures, from the systems themselves (not from other pods' metrics):
//! - per `votes` partition: high watermark minus the writer's checkpoint in DynamoDB (the
//!   writer's real progress), and minus the committed offset of the writers' group (for
//!   comparison only); and high watermark minus the last stable offset (records behind an
//!   open transaction, which no `read_committed` reader can read yet);
//! - per open stream shard: what its worker reported with its last lease renewal (records
//!   its last read returned, the age of the oldest of them; stale figures count their age
//!   as lag: nobody is reading); the open shard count; leases per worker. The monitor never
//!   reads the stream itself: DynamoDB Streams throttles a shard's third reader;
//! - actual replicas: writer group members, live lease owners;
//!
//! and feeds [`votechain_core::scaling::Scaler`] (hysteresis, cooldown) for the desired counts.
//!
//! State: two Kafka admin consumers (watermarks read_uncommitted: the high watermark;
//! read_committed: the last stable offset), one `Scaler` per role, the lease expiry tracker.
//! Supervised by: the role supervisor, permanent. Run exactly one (deploy: 1 replica).
//! Metrics: `votechain_lag_*`, `votechain_scaling_{desired,actual}_replicas{role}`.

use crate::dynamo::ledger::Ledger;
use crate::metrics as m;
use crate::projector::lease::{LeaseTable, SHARD_END};
use crate::projector::stream;
use crate::shared::Shared;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use votechain_core::balance::ExpiryTracker;
use votechain_core::scaling::{PartitionLag, Scaler, ScalingPolicy, ScalingReport, Signal};
use votechain_core::shards;

pub struct LagMonitor {
    pub admin_config: ClientConfig,
    pub writer_group: String,
    pub topic: String,
    pub ledger: Ledger,
    pub leases: LeaseTable,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub interval: Duration,
    pub failover: Duration,
    pub policy: ScalingPolicy,
    pub report: Shared<ScalingReport>,
}

pub enum LagMsg {
    Tick,
}

pub struct LagState {
    /// read_uncommitted: its watermarks' high end is the high watermark.
    admin: Arc<BaseConsumer>,
    /// read_committed: its watermarks' high end is the last stable offset.
    stable: Arc<BaseConsumer>,
    writer: Scaler,
    projector: Scaler,
    expiry: ExpiryTracker,
    timer: tokio::task::JoinHandle<()>,
}

impl Actor for LagMonitor {
    type Msg = LagMsg;
    type State = LagState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<LagMsg>,
        _: (),
    ) -> Result<LagState, ActorProcessingErr> {
        // librdkafka's default is read_committed, whose watermarks end at the last stable
        // offset: a transaction left open would hide the very lag it causes.
        let mut uncommitted = self.admin_config.clone();
        uncommitted.set("isolation.level", "read_uncommitted");
        let admin: BaseConsumer = uncommitted.create()?;
        let mut committed = self.admin_config.clone();
        committed.set("isolation.level", "read_committed");
        let stable: BaseConsumer = committed.create()?;
        let timer = myself.send_interval(self.interval, || LagMsg::Tick);
        myself.send_message(LagMsg::Tick)?;
        Ok(LagState {
            admin: Arc::new(admin),
            stable: Arc::new(stable),
            writer: Scaler::new(self.policy),
            projector: Scaler::new(self.policy),
            expiry: ExpiryTracker::default(),
            timer,
        })
    }

    async fn post_stop(
        &self,
        _: ActorRef<LagMsg>,
        st: &mut LagState,
    ) -> Result<(), ActorProcessingErr> {
        st.timer.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<LagMsg>,
        _: LagMsg,
        st: &mut LagState,
    ) -> Result<(), ActorProcessingErr> {
        // A failed measurement keeps the last report (and says so in the log); it never
        // fails the actor: scaling signals must not disappear because one call timed out.
        match self.measure(st).await {
            Ok(r) => self.report.set(r),
            Err(e) => tracing::warn!(error = %e, "lag measurement failed; keeping the last report"),
        }
        Ok(())
    }
}

impl LagMonitor {
    async fn measure(&self, st: &mut LagState) -> Result<ScalingReport, ActorProcessingErr> {
        let now = Instant::now();
        // Kafka: partitions, watermarks, committed offsets, group members (blocking calls).
        let (admin, stable, topic, group) = (
            st.admin.clone(),
            st.stable.clone(),
            self.topic.clone(),
            self.writer_group.clone(),
        );
        let kafka =
            tokio::task::spawn_blocking(move || -> Result<_, rdkafka::error::KafkaError> {
                let t = Duration::from_secs(5);
                let md = admin.fetch_metadata(Some(&topic), t)?;
                let parts: Vec<i32> = md
                    .topics()
                    .iter()
                    .flat_map(|tp| tp.partitions().iter().map(|p| p.id()))
                    .collect();
                let mut marks = BTreeMap::new();
                let mut lso = BTreeMap::new();
                let mut tpl = TopicPartitionList::new();
                for p in &parts {
                    marks.insert(*p, admin.fetch_watermarks(&topic, *p, t)?);
                    lso.insert(*p, stable.fetch_watermarks(&topic, *p, t)?.1);
                    tpl.add_partition(&topic, *p);
                }
                let committed: BTreeMap<i32, i64> = admin
                    .committed_offsets(tpl, t)
                    .map(|c| {
                        c.elements()
                            .iter()
                            .filter_map(|e| match e.offset() {
                                Offset::Offset(o) => Some((e.partition(), o)),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let members = admin
                    .fetch_group_list(Some(&group), t)
                    .ok()
                    .and_then(|g| g.groups().first().map(|g| g.members().len() as u32))
                    .unwrap_or(0);
                Ok((marks, lso, committed, members))
            })
            .await??;
        let (marks, lso, committed, writer_members) = kafka;
        let mut partitions = Vec::new();
        let mut total_lag = 0u64;
        let mut writer_pods = BTreeSet::new();
        for (p, (low, high)) in &marks {
            let checkpoint = self.ledger.checkpoint(&self.topic, *p).await?;
            writer_pods.extend(checkpoint.as_ref().and_then(|c| c.instance.clone()));
            let cp = checkpoint.map(|c| c.next_offset);
            let lag = (*high - cp.unwrap_or(*low)).max(0) as u64;
            let committed = committed.get(p).copied();
            metrics::gauge!(m::LAG_KAFKA_RECORDS, "partition" => p.to_string()).set(lag as f64);
            let unstable = (*high - lso.get(p).copied().unwrap_or(*high)).max(0);
            metrics::gauge!(m::LAG_KAFKA_UNSTABLE_RECORDS, "partition" => p.to_string())
                .set(unstable as f64);
            if let Some(c) = committed {
                metrics::gauge!(m::LAG_KAFKA_COMMITTED_RECORDS, "partition" => p.to_string())
                    .set((*high - c).max(0) as f64);
            }
            total_lag += lag;
            partitions.push(PartitionLag {
                partition: *p,
                high_watermark: *high,
                checkpoint: cp,
                committed,
                lag,
            });
        }
        let n_parts = marks.len() as u32;
        // Group members as Kafka reports them; when DescribeGroups is not answered (no DESCRIBE
        // on the group, librdkafka's mock cluster), the pods named in the checkpoints.
        let writer_members = if writer_members > 0 {
            writer_members
        } else {
            writer_pods.len() as u32
        };
        metrics::gauge!(m::LAG_PARTITIONS).set(n_parts as f64);

        // Streams: open shards, and each open lease's backlog and age as its worker reported
        // them with its renewals (never a GetRecords of ours: a third reader is throttled).
        let shard_list = stream::list_shards(&self.streams, &self.leases.stream_arn).await?;
        let open = shards::open_count(&shard_list) as u32;
        metrics::gauge!(m::LAG_OPEN_SHARDS).set(open as f64);
        let leases = self.leases.scan().await?;
        st.expiry.observe(&leases, now.into_std());
        let mut per_worker: BTreeMap<String, u32> = BTreeMap::new();
        let mut live_owners = BTreeSet::new();
        let stale_after = self.failover.as_millis() as i64;
        let open_leases: Vec<_> = leases
            .iter()
            .filter(|l| l.checkpoint != SHARD_END)
            .collect();
        for l in &open_leases {
            if let Some(o) = &l.owner {
                *per_worker.entry(o.clone()).or_default() += 1;
                if !st.expiry.is_expired(&l.key, self.failover, now.into_std()) {
                    live_owners.insert(o.clone());
                }
            }
        }
        let (backlog, lag_s) = stream_backlog(
            open_leases.iter().map(|l| l.figures),
            crate::now_ms(),
            stale_after,
        );
        for (w, n) in &per_worker {
            metrics::gauge!(m::LAG_LEASES_PER_WORKER, "worker" => w.clone()).set(*n as f64);
        }
        metrics::gauge!(m::LAG_STREAM_SECONDS).set(lag_s);
        let needs_replay = crate::projector::loss::read(&self.leases.db, &self.leases.table)
            .await?
            .map(|n| n.elections)
            .unwrap_or_default();
        metrics::gauge!(m::PROJECTION_NEEDS_REPLAY).set(needs_replay.len() as f64);

        let wd = st.writer.evaluate(
            Signal::Writer {
                kafka_lag: total_lag,
                partitions: n_parts,
            },
            now.into_std(),
        );
        let pd = st.projector.evaluate(
            Signal::Projector {
                backlog,
                lag_s,
                open_shards: open,
            },
            now.into_std(),
        );
        let projector_actual = live_owners.len() as u32;
        for (role, d, a) in [
            ("writer", wd, writer_members),
            ("projector", pd, projector_actual),
        ] {
            metrics::gauge!(m::SCALING_DESIRED, "role" => role).set(d as f64);
            metrics::gauge!(m::SCALING_ACTUAL, "role" => role).set(a as f64);
        }
        Ok(ScalingReport {
            updated_at_ms: crate::now_ms(),
            writer: votechain_core::scaling::WriterReport {
                desired: wd,
                actual: writer_members,
                max: n_parts,
                kafka_lag_records: total_lag,
                lag_trend_records_per_s: st.writer.trend(),
                partitions,
            },
            projector: votechain_core::scaling::ProjectorReport {
                desired: pd,
                actual: projector_actual,
                max: open,
                open_shards: open,
                stream_lag_seconds: lag_s,
                backlog_records: backlog,
                leases_per_worker: per_worker,
                needs_replay,
            },
        })
    }
}

/// Stream backlog (records the workers' last reads returned, summed) and lag (the oldest
/// age reported, or how long ago a worker last reported when that is older than
/// `stale_after_ms`: figures stop when nobody reads). Leases never reported (`at_ms` 0:
/// a shard not yet read) add nothing.
pub fn stream_backlog(
    figures: impl Iterator<Item = votechain_core::lease::Figures>,
    now_ms: i64,
    stale_after_ms: i64,
) -> (u64, f64) {
    let (mut backlog, mut lag_ms) = (0u64, 0i64);
    for f in figures.filter(|f| f.at_ms > 0) {
        backlog += f.pending.max(0) as u64;
        let since = (now_ms - f.at_ms).max(0);
        let age = if since > stale_after_ms {
            f.lag_ms + since
        } else {
            f.lag_ms
        };
        lag_ms = lag_ms.max(age);
    }
    (backlog, lag_ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use votechain_core::lease::Figures;

    #[test]
    fn backlog_and_lag_come_from_the_workers_figures() {
        let f = |lag_ms, pending, at_ms| Figures {
            lag_ms,
            pending,
            at_ms,
        };
        // Two fresh reports: backlog sums, lag is the oldest; a never-read lease adds nothing.
        let (b, l) = stream_backlog(
            [f(1500, 1000, 9_000), f(200, 40, 9_500), f(0, 0, 0)].into_iter(),
            10_000,
            3_000,
        );
        assert_eq!((b, l), (1040, 1.5));
        // A worker silent past the staleness bound: its silence is lag.
        let (_, l) = stream_backlog([f(100, 0, 1_000)].into_iter(), 10_000, 3_000);
        assert_eq!(l, 9.1);
        // Caught up everywhere.
        assert_eq!(
            stream_backlog([f(0, 0, 9_900)].into_iter(), 10_000, 3_000),
            (0, 0.0)
        );
    }
}
