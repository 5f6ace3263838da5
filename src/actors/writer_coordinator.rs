//! `WriterCoordinator`: the writer role's member of the Kafka consumer group. It learns
//! which `votes` partitions this pod owns and runs one `ChainWriter` per owned partition.
//!
//! Messages: `Assigned(partitions)` / `Revoked(partitions)` (from the group consumer's
//! rebalance callback), `Restart(partition)` (its own backoff timer), `Inspect`.
//! State: the group consumer (its partitions paused: it only holds membership; each
//! ChainWriter reads through its own consumer from the DynamoDB checkpoint), the live
//! ChainWriter per partition, and a restart history per partition.
//! Supervises: its ChainWriters. While a partition is assigned its writer is restarted
//! after any exit (failure, or "fenced") with backoff; more restarts than the intensity
//! allows and the coordinator fails, escalating to the role supervisor. On revoke the
//! writer is stopped; a writer still finishing a batch is harmless, since its next append
//! is fenced by the checkpoint condition.
//! Supervised by: the role supervisor (built by `topology`), permanent.
//! Metrics: `votechain_writer_partitions_assigned`, `votechain_actor_restarts_total{actor_kind="chain_writer"}`.

use super::chain_writer::{ChainWriter, ChainWriterMsg, WriterCtx};
use crate::metrics as m;
use crate::supervision::supervisor::{exit_of, restart_child};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::{ClientConfig, ClientContext, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use votechain_core::restart::{Exit, Policy, RestartTracker};

pub struct WriterCoordinator {
    pub ctx: Arc<WriterCtx>,
    pub group_config: ClientConfig,
    pub policy: Policy,
}

pub enum CoordinatorMsg {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
    Restart(i32),
    /// Partition -> writer status, for `/debug/actors` and tests.
    Inspect(RpcReplyPort<BTreeMap<i32, String>>),
}

/// Forwards rebalances to the coordinator and pauses assigned partitions so the group
/// consumer never fetches: reading is the ChainWriters' job.
pub struct GroupContext {
    coordinator: ActorRef<CoordinatorMsg>,
    topic: String,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let parts = |tpl: &TopicPartitionList| -> Vec<i32> {
            tpl.elements()
                .iter()
                .filter(|e| e.topic() == self.topic)
                .map(|e| e.partition())
                .collect()
        };
        match rebalance {
            Rebalance::Assign(tpl) => {
                if let Err(e) = consumer.pause(tpl) {
                    tracing::warn!(error = %e, "could not pause the group consumer's partitions");
                }
                let _ = self
                    .coordinator
                    .send_message(CoordinatorMsg::Assigned(parts(tpl)));
            }
            Rebalance::Revoke(tpl) => {
                let _ = self
                    .coordinator
                    .send_message(CoordinatorMsg::Revoked(parts(tpl)));
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "consumer group rebalance error"),
        }
    }
}

pub struct CoordinatorState {
    consumer: Arc<StreamConsumer<GroupContext>>,
    pump: tokio::task::JoinHandle<()>,
    writers: HashMap<i32, ActorRef<ChainWriterMsg>>,
    assigned: std::collections::BTreeSet<i32>,
    trackers: HashMap<i32, RestartTracker>,
}

impl Actor for WriterCoordinator {
    type Msg = CoordinatorMsg;
    type State = CoordinatorState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<CoordinatorMsg>,
        _: (),
    ) -> Result<CoordinatorState, ActorProcessingErr> {
        let context = GroupContext {
            coordinator: myself.clone(),
            topic: self.ctx.topic.clone(),
        };
        let consumer: StreamConsumer<GroupContext> =
            self.group_config.create_with_context(context)?;
        consumer.subscribe(&[&self.ctx.topic])?;
        let consumer = Arc::new(consumer);
        // Polling drives the group protocol and the rebalance callbacks. Partitions are paused,
        // so this receives nothing but the odd record fetched before the pause (ignored).
        // The pump ends with its coordinator: a killed actor runs no post_stop, and a pump
        // left running would keep this group member (and its partitions) alive forever.
        let c = consumer.clone();
        let me = myself.get_cell();
        let pump = tokio::spawn(async move {
            while !matches!(
                me.get_status(),
                ractor::ActorStatus::Stopped | ractor::ActorStatus::Stopping
            ) {
                if let Ok(Err(e)) =
                    tokio::time::timeout(std::time::Duration::from_millis(250), c.recv()).await
                {
                    tracing::debug!(error = %e, "group consumer poll");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
            c.unsubscribe();
        });
        Ok(CoordinatorState {
            consumer,
            pump,
            writers: HashMap::new(),
            assigned: Default::default(),
            trackers: HashMap::new(),
        })
    }

    async fn post_stop(
        &self,
        _: ActorRef<CoordinatorMsg>,
        st: &mut CoordinatorState,
    ) -> Result<(), ActorProcessingErr> {
        for (_, w) in st.writers.drain() {
            let _ = w
                .stop_and_wait(
                    Some("coordinator stopping".into()),
                    Some(std::time::Duration::from_secs(10)),
                )
                .await;
        }
        st.pump.abort();
        st.consumer.unsubscribe();
        metrics::gauge!(m::WRITER_PARTITIONS).set(0.0);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<CoordinatorMsg>,
        msg: CoordinatorMsg,
        st: &mut CoordinatorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CoordinatorMsg::Assigned(parts) => {
                tracing::info!(?parts, "partitions assigned");
                for p in parts {
                    st.assigned.insert(p);
                    if !st.writers.contains_key(&p) {
                        self.start_writer(&myself, st, p).await?;
                    }
                }
            }
            CoordinatorMsg::Revoked(parts) => {
                tracing::info!(?parts, "partitions revoked");
                for p in parts {
                    st.assigned.remove(&p);
                    if let Some(w) = st.writers.remove(&p) {
                        w.stop(Some("partition revoked".into()));
                    }
                }
            }
            CoordinatorMsg::Restart(p) => {
                if st.assigned.contains(&p) && !st.writers.contains_key(&p) {
                    self.start_writer(&myself, st, p).await?;
                }
            }
            CoordinatorMsg::Inspect(reply) => {
                let view = st
                    .assigned
                    .iter()
                    .map(|p| {
                        (
                            *p,
                            st.writers
                                .get(p)
                                .map(|w| format!("{:?}", w.get_status()))
                                .unwrap_or_else(|| "restarting".into()),
                        )
                    })
                    .collect();
                let _ = reply.send(view);
            }
        }
        metrics::gauge!(m::WRITER_PARTITIONS).set(st.assigned.len() as f64);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<CoordinatorMsg>,
        evt: SupervisionEvent,
        st: &mut CoordinatorState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, exit)) = exit_of(evt) else {
            return Ok(());
        };
        let Some(p) = st
            .writers
            .iter()
            .find(|(_, w)| w.get_id() == cell.get_id())
            .map(|(p, _)| *p)
        else {
            return Ok(()); // a writer we stopped on purpose (revoked)
        };
        st.writers.remove(&p);
        if !st.assigned.contains(&p) {
            return Ok(());
        }
        tracing::warn!(
            partition = p,
            ?exit,
            "chain writer exited; restarting while the partition is assigned"
        );
        let delay = restart_child(
            st.trackers.entry(p).or_default(),
            &self.policy,
            "chain_writer",
            &format!("partition {p}"),
            &exit,
        )?;
        myself.send_after(delay, move || CoordinatorMsg::Restart(p));
        Ok(())
    }
}

impl WriterCoordinator {
    async fn start_writer(
        &self,
        myself: &ActorRef<CoordinatorMsg>,
        st: &mut CoordinatorState,
        p: i32,
    ) -> Result<(), ActorProcessingErr> {
        let writer = ChainWriter {
            ctx: self.ctx.clone(),
            partition: p,
        };
        let name =
            crate::supervision::actor_name("chain_writer", &format!("{}/p{p}", self.ctx.instance));
        match Actor::spawn_linked(Some(name), writer, (), myself.get_cell()).await {
            Ok((w, _)) => {
                st.writers.insert(p, w);
            }
            Err(e) => {
                // Startup failed (e.g. DynamoDB unreachable): same policy as a crash.
                tracing::warn!(partition = p, error = %e, "chain writer failed to start");
                let exit = Exit::Failed(e.to_string());
                let delay = restart_child(
                    st.trackers.entry(p).or_default(),
                    &self.policy,
                    "chain_writer",
                    &format!("partition {p}"),
                    &exit,
                )?;
                myself.send_after(delay, move || CoordinatorMsg::Restart(p));
            }
        }
        Ok(())
    }
}
