//! The one builder that turns a role config into its actor tree. The same
//! [`ChildSpec`] closures start each child the first time and on every restart, so a
//! restarted actor is built exactly like the original, from the same immutable config.
//!
//! Child order is start order; shutdown stops children in reverse: the intake
//! (`ingest-batcher`) is listed last so it stops first, then the writers drain.

use super::policy::Restart;
use super::supervisor::{ChildSpec, StartFn};
use crate::actors::chain_writer::WriterCtx;
use crate::actors::ingest_batcher::{IngestBatcher, IngestMsg};
use crate::actors::writer_coordinator::WriterCoordinator;
use crate::config::{Config, Role};
use crate::dynamo::ledger::Ledger;
use crate::kafka;
use crate::runtime::Slot;
use ractor::Actor;
use std::sync::Arc;
use std::time::Duration;

/// What the builder needs besides the config: clients shared by the role's actors.
#[derive(Clone)]
pub struct TreeInputs {
    pub config: Arc<Config>,
    pub ledger: Ledger,
    pub ingest_slot: Slot<IngestMsg>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("Kafka client for {role}: {source}")]
    Kafka { role: &'static str, source: rdkafka::error::KafkaError },
}

/// The children of the role supervisor for the roles in `inputs.config`.
pub fn build(inputs: &TreeInputs) -> Result<Vec<ChildSpec>, BuildError> {
    let cfg = &inputs.config;
    let mut children = Vec::new();
    if cfg.runs(Role::Writer) {
        let ctx = Arc::new(WriterCtx::new(cfg, inputs.ledger.clone()).map_err(|source| BuildError::Kafka { role: "writer", source })?);
        let group_config = kafka::group_consumer_config(&cfg.kafka, &cfg.writer.group_id);
        let policy = cfg.supervision;
        let start: StartFn = Arc::new(move |sup| {
            let actor = WriterCoordinator { ctx: ctx.clone(), group_config: group_config.clone(), policy: policy };
            Box::pin(async move { Actor::spawn_linked(None, actor, (), sup).await.map(|(r, _)| r.get_cell()) })
        });
        children.push(ChildSpec { name: "writer-coordinator".into(), kind: "writer_coordinator", restart: Restart::Permanent, start });
    }
    if cfg.runs(Role::Ingest) {
        let producer_config = kafka::transactional_producer_config(
            &cfg.kafka,
            &format!("votechain-ingest-{}", cfg.node.instance_id),
            cfg.ingest.transaction_timeout_ms,
        );
        let (votes, audit) = (cfg.kafka.votes_topic.clone(), cfg.kafka.audit_topic.clone());
        let ing = cfg.ingest.clone();
        let slot = inputs.ingest_slot.clone();
        let start: StartFn = Arc::new(move |sup| {
            let actor = IngestBatcher {
                producer_config: producer_config.clone(),
                votes_topic: votes.clone(),
                audit_topic: audit.clone(),
                batch_max: ing.batch_max,
                linger: Duration::from_millis(ing.linger_ms),
                txn_timeout: Duration::from_millis(ing.transaction_timeout_ms),
                slot: slot.clone(),
            };
            Box::pin(async move { Actor::spawn_linked(None, actor, (), sup).await.map(|(r, _)| r.get_cell()) })
        });
        children.push(ChildSpec { name: "ingest-batcher".into(), kind: "ingest_batcher", restart: Restart::Permanent, start });
    }
    Ok(children)
}
