//! `LagMonitor`: turns Kafka lag, stream lag and shard counts into scaling signals.
//!
//! Messages: `Tick` (every `interval`).
//! Each tick measures, from the systems themselves (not from other pods' metrics):
//! - per `votes` partition: high watermark minus the writer's checkpoint in DynamoDB (the
//!   writer's real progress), and minus the committed offset of the writers' group (for
//!   comparison only);
//! - per open stream shard: the records after the lease checkpoint (one GetRecords) and
//!   the age of the oldest of them; the open shard count; leases per worker;
//! - actual replicas: writer group members, live lease owners;
//!
//! and feeds [`votechain_core::scaling::Scaler`] (hysteresis, cooldown) for the desired counts.
//!
//! State: the Kafka admin consumer, one `Scaler` per role, the lease expiry tracker.
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
    admin: Arc<BaseConsumer>,
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
        let admin: BaseConsumer = self.admin_config.create()?;
        let timer = myself.send_interval(self.interval, || LagMsg::Tick);
        myself.send_message(LagMsg::Tick)?;
        Ok(LagState {
            admin: Arc::new(admin),
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
        let (admin, topic, group) = (
            st.admin.clone(),
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
                let mut tpl = TopicPartitionList::new();
                for p in &parts {
                    marks.insert(*p, admin.fetch_watermarks(&topic, *p, t)?);
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
                Ok((marks, committed, members))
            })
            .await??;
        let (marks, committed, writer_members) = kafka;
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
        // Group members as Kafka reports them; brokers that do not answer DescribeGroups (the
        // mock cluster) fall back to the pods named in the partitions' checkpoints.
        let writer_members = if writer_members > 0 {
            writer_members
        } else {
            writer_pods.len() as u32
        };
        metrics::gauge!(m::LAG_PARTITIONS).set(n_parts as f64);

        // Streams: open shards, backlog after each lease checkpoint, owners.
        let shard_list = stream::list_shards(&self.streams, &self.leases.stream_arn).await?;
        let open = shards::open_count(&shard_list) as u32;
        metrics::gauge!(m::LAG_OPEN_SHARDS).set(open as f64);
        let leases = self.leases.scan().await?;
        st.expiry.observe(&leases, now.into_std());
        let (mut backlog, mut lag_s) = (0u64, 0f64);
        let mut per_worker: BTreeMap<String, u32> = BTreeMap::new();
        let mut live_owners = BTreeSet::new();
        for l in leases.iter().filter(|l| l.checkpoint != SHARD_END) {
            if let Some(o) = &l.owner {
                *per_worker.entry(o.clone()).or_default() += 1;
                if !st.expiry.is_expired(&l.key, self.failover, now.into_std()) {
                    live_owners.insert(o.clone());
                }
            }
            let Some(it) = stream::iterator(
                &self.streams,
                &self.leases.stream_arn,
                &l.key,
                &l.checkpoint,
            )
            .await
            .ok()
            .flatten() else {
                continue;
            };
            if let Ok((recs, _)) = stream::records(&self.streams, &it, 1000).await {
                backlog += recs.len() as u64;
                if let Some(c) = stream::oldest_written_ms(&recs) {
                    lag_s = lag_s.max(((crate::now_ms() - c).max(0) as f64) / 1000.0);
                }
            }
        }
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
