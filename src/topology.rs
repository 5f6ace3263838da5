//! The one builder that turns a role config into its actor tree. The same
//! [`ChildSpec`] closures start each child the first time and on every restart, so a
//! restarted actor is built exactly like the original, from the same immutable config.
//!
//! Child order is start order; shutdown stops children in reverse: the intake
//! (`ingest-batcher`) is listed last so it stops first, then the writers drain.

use crate::actors::chain_writer::WriterCtx;
use crate::actors::ingest_batcher::{IngestBatcher, IngestMsg};
use crate::actors::lag_monitor::LagMonitor;
use crate::actors::lease_coordinator::LeaseCoordinator;
use crate::actors::shard_worker::ProjectorCtx;
use crate::actors::writer_coordinator::WriterCoordinator;
use crate::config::{Config, Role};
use crate::dynamo::ledger::Ledger;
use crate::kafka;
use crate::projector::lease::LeaseTable;
use crate::shared::Slot;
use crate::supervision::actor_name;
use crate::supervision::supervisor::{ChildSpec, StartFn};
use ractor::Actor;
use std::sync::Arc;
use std::time::Duration;
use votechain_core::restart::Restart;

/// What the builder needs besides the config: clients shared by the role's actors.
#[derive(Clone)]
pub struct TreeInputs {
    pub config: Arc<Config>,
    pub ledger: Ledger,
    /// The ledger's stream (projector role only).
    pub streams: Option<(aws_sdk_dynamodbstreams::Client, String)>,
    pub ingest_slot: Slot<IngestMsg>,
    /// Where the LagMonitor publishes its report.
    pub scaling: crate::shared::Shared<votechain_core::scaling::ScalingReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Signer(#[from] crate::signer::SignerError),
    #[error("the log key of election '{0}' is not the manifest's log_public_key")]
    WrongLogKey(String),
    #[error("election '{0}' has no log in its manifest")]
    NoLog(String),
    #[error(
        "election '{election}' needs {quorum} cosignature(s) of its manifest's witnesses, but publisher.witnesses says where to reach only {reachable} of them (missing: {missing})"
    )]
    WitnessesUnreachable {
        election: String,
        quorum: usize,
        reachable: usize,
        missing: String,
    },
    #[error("Kafka client for {role}: {source}")]
    Kafka {
        role: &'static str,
        source: rdkafka::error::KafkaError,
    },
}

/// The root's children for the roles in `inputs.config`: one subtree per role, each
/// supervising that role's actors.
pub fn build(inputs: &TreeInputs) -> Result<Vec<ChildSpec>, BuildError> {
    let cfg = &inputs.config;
    let mut children = Vec::new();
    if cfg.runs(Role::Writer) {
        let ctx = Arc::new(
            WriterCtx::new(cfg, inputs.ledger.clone()).map_err(|source| BuildError::Kafka {
                role: "writer",
                source,
            })?,
        );
        let group_config = kafka::group_consumer_config(&cfg.kafka, &cfg.writer.group_id);
        let policy = cfg.supervision;
        let instance = cfg.node.instance_id.clone();
        const KIND: &str = "writer_coordinator";
        let start: StartFn = Arc::new(move |sup| {
            let instance = instance.clone();
            let actor = WriterCoordinator {
                ctx: ctx.clone(),
                group_config: group_config.clone(),
                policy,
            };
            Box::pin(async move {
                Actor::spawn_linked(Some(actor_name(KIND, &instance)), actor, (), sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            })
        });
        children.push(ChildSpec {
            name: "writer-coordinator".into(),
            kind: "writer_coordinator",
            restart: Restart::Permanent,
            start,
        });
    }
    if let (true, Some((streams, arn))) = (cfg.runs(Role::Projector), inputs.streams.clone()) {
        let p = &cfg.projector;
        let ctx = Arc::new(ProjectorCtx {
            worker_id: p
                .worker_id
                .clone()
                .unwrap_or_else(|| cfg.node.instance_id.clone()),
            leases: LeaseTable {
                db: inputs.ledger.db.clone(),
                table: cfg.dynamodb.lease_table.clone(),
                stream_arn: arn,
            },
            streams,
            db: inputs.ledger.db.clone(),
            results_table: cfg.dynamodb.results_table.clone(),
            failover: Duration::from_millis(p.failover_ms),
            max_records: p.max_records,
            carry_reads: p.carry_reads,
            idle: Duration::from_millis(p.idle_poll_ms),
            retention: Duration::from_secs(p.stream_retention_s),
            registry: Arc::new(cfg.registry()),
        });
        let policy = cfg.supervision;
        let instance = cfg.node.instance_id.clone();
        const KIND: &str = "lease_coordinator";
        let start: StartFn = Arc::new(move |sup| {
            let instance = instance.clone();
            let actor = LeaseCoordinator {
                ctx: ctx.clone(),
                policy,
            };
            Box::pin(async move {
                Actor::spawn_linked(Some(actor_name(KIND, &instance)), actor, (), sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            })
        });
        children.push(ChildSpec {
            name: "lease-coordinator".into(),
            kind: "lease_coordinator",
            restart: Restart::Permanent,
            start,
        });
    }
    if let (true, Some((streams, arn))) = (cfg.runs(Role::LagMonitor), inputs.streams.clone()) {
        let mut admin_config = kafka::base_config(&cfg.kafka);
        // Never joins the group: only reads watermarks and the readers' committed offsets.
        admin_config
            .set("group.id", format!("{}-readers", cfg.writer.group_id))
            .set("enable.auto.commit", "false");
        let lm = cfg.lag_monitor;
        let (topic, group, ledger, report) = (
            cfg.kafka.votes_topic.clone(),
            cfg.writer.group_id.clone(),
            inputs.ledger.clone(),
            inputs.scaling.clone(),
        );
        let leases = LeaseTable {
            db: inputs.ledger.db.clone(),
            table: cfg.dynamodb.lease_table.clone(),
            stream_arn: arn,
        };
        let failover = Duration::from_millis(cfg.projector.failover_ms);
        let instance = cfg.node.instance_id.clone();
        const KIND: &str = "lag_monitor";
        let start: StartFn = Arc::new(move |sup| {
            let instance = instance.clone();
            let actor = LagMonitor {
                admin_config: admin_config.clone(),
                writer_group: group.clone(),
                topic: topic.clone(),
                ledger: ledger.clone(),
                leases: leases.clone(),
                streams: streams.clone(),
                interval: Duration::from_millis(lm.interval_ms),
                failover,
                policy: lm.policy,
                report: report.clone(),
            };
            Box::pin(async move {
                Actor::spawn_linked(Some(actor_name(KIND, &instance)), actor, (), sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            })
        });
        children.push(ChildSpec {
            name: "lag-monitor".into(),
            kind: "lag_monitor",
            restart: Restart::Permanent,
            start,
        });
    }
    if cfg.runs(Role::Ingest) {
        let transactional_id = format!("votechain-ingest-{}", cfg.node.instance_id);
        let producer_config = kafka::transactional_producer_config(
            &cfg.kafka,
            &transactional_id,
            cfg.ingest.transaction_timeout_ms,
        );
        let (votes, audit) = (cfg.kafka.votes_topic.clone(), cfg.kafka.audit_topic.clone());
        let ing = cfg.ingest.clone();
        let signing = cfg.provenance.signing();
        let slot = inputs.ingest_slot.clone();
        let instance = cfg.node.instance_id.clone();
        const KIND: &str = "ingest_batcher";
        let start: StartFn = Arc::new(move |sup| {
            let instance = instance.clone();
            let actor = IngestBatcher {
                producer_config: producer_config.clone(),
                transactional_id: transactional_id.clone(),
                producers: ing.producers,
                votes_topic: votes.clone(),
                audit_topic: audit.clone(),
                signing: signing.clone(),
                batch_max: ing.batch_max,
                linger: Duration::from_millis(ing.linger_ms),
                txn_timeout: Duration::from_millis(ing.transaction_timeout_ms),
                slot: slot.clone(),
            };
            Box::pin(async move {
                Actor::spawn_linked(Some(actor_name(KIND, &instance)), actor, (), sup)
                    .await
                    .map(|(r, _)| r.get_cell())
            })
        });
        children.push(ChildSpec {
            name: "ingest-batcher".into(),
            kind: "ingest_batcher",
            restart: Restart::Permanent,
            start,
        });
    }
    // One subtree per role: escalation stops at the role (see `supervision::root_policy`).
    let mut roles: Vec<ChildSpec> = children
        .into_iter()
        .map(|c| {
            let role = match c.kind {
                "writer_coordinator" => "writer",
                "lease_coordinator" => "projector",
                "lag_monitor" => "lag-monitor",
                _ => "ingest",
            };
            crate::supervision::subtree(&format!("role-{role}"), cfg.supervision, vec![c])
        })
        .collect();
    if cfg.runs(Role::Publisher) {
        let publishers = publishers(inputs)?;
        // Listed first: started before the intake, stopped after it.
        roles.insert(
            0,
            crate::supervision::subtree("role-publisher", cfg.supervision, publishers),
        );
    }
    Ok(roles)
}

/// The manifest's witnesses (`policy`) that `publisher.witnesses` says where to reach, as
/// (URL, verifier key); an error unless they can make the policy's quorum.
fn reachable_witnesses(
    election: &str,
    policy: &votechain_core::checkpoint::WitnessPolicy,
    refs: &[crate::config::WitnessRef],
) -> Result<Vec<(String, votechain_core::note::NoteVerifier)>, BuildError> {
    let mut reachable = vec![];
    let mut missing = vec![];
    for w in &policy.witnesses {
        let url = refs
            .iter()
            .find(|r| votechain_core::note::parse_verifier_key(&r.vkey).is_ok_and(|v| v == *w));
        match url {
            Some(r) => reachable.push((r.url.clone(), w.clone())),
            None => missing.push(w.name.clone()),
        }
    }
    if !missing.is_empty() {
        tracing::warn!(election, missing = %missing.join(", "), "manifest witnesses without a URL in publisher.witnesses");
    }
    if reachable.len() < policy.quorum {
        return Err(BuildError::WitnessesUnreachable {
            election: election.into(),
            quorum: policy.quorum,
            reachable: reachable.len(),
            missing: missing.join(", "),
        });
    }
    Ok(reachable)
}

/// One `LogPublisher` per chain of every v2 election, each signing with its election's
/// key (which must be the manifest's).
fn publishers(inputs: &TreeInputs) -> Result<Vec<ChildSpec>, BuildError> {
    use crate::actors::log_publisher::LogPublisher;
    use crate::signer::{PemSigner, Signer};
    let cfg = &inputs.config;
    let p = &cfg.publisher;
    let store = crate::logstore::LogStore {
        db: inputs.ledger.db.clone(),
        table: inputs.ledger.table.clone(),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    let mut out = Vec::new();
    for e in cfg.registry().iter().filter(|e| e.salted()) {
        let log = e
            .log
            .clone()
            .ok_or_else(|| BuildError::NoLog(e.id.clone()))?;
        let path = p
            .key_files
            .get(&e.id)
            .ok_or_else(|| BuildError::NoLog(e.id.clone()))?;
        let signer: Arc<dyn Signer> = Arc::new(PemSigner::load(path)?);
        if signer.public_key() != log.public_key {
            return Err(BuildError::WrongLogKey(e.id.clone()));
        }
        let witnesses = reachable_witnesses(&e.id, &log.witnesses, &p.witnesses)?;
        for chain in 0..e.chains {
            let actor = LogPublisher {
                ledger: inputs.ledger.clone(),
                store: store.clone(),
                election: e.clone(),
                chain,
                origin: format!("{}/{chain}", log.origin),
                signer: signer.clone(),
                interval: Duration::from_millis(p.checkpoint_interval_ms),
                batch_max: p.batch_max as i32,
                witnesses: witnesses.clone(),
                quorum: log.witnesses.quorum,
                http: http.clone(),
            };
            let actor = Arc::new(actor);
            let name = format!("{}-{}-{chain}", cfg.node.instance_id, e.id);
            const KIND: &str = "log_publisher";
            let start: StartFn = Arc::new(move |sup| {
                let (actor, name) = (actor.clone(), name.clone());
                Box::pin(async move {
                    Actor::spawn_linked(Some(actor_name(KIND, &name)), (*actor).clone(), (), sup)
                        .await
                        .map(|(r, _)| r.get_cell())
                })
            });
            out.push(ChildSpec {
                name: format!("log-publisher-{}-{chain}", e.id),
                kind: KIND,
                restart: Restart::Permanent,
                start,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WitnessRef;
    use votechain_core::checkpoint::WitnessPolicy;
    use votechain_core::note::{COSIGNATURE_V1, verifier_key};

    #[test]
    fn a_publisher_asks_the_manifests_witnesses_and_needs_enough_of_them() {
        let (a, b) = (
            verifier_key("a.test", COSIGNATURE_V1, &[1; 32]),
            verifier_key("b.test", COSIGNATURE_V1, &[2; 32]),
        );
        let stranger = verifier_key("c.test", COSIGNATURE_V1, &[3; 32]);
        let at = |vkey: &str, url: &str| WitnessRef {
            url: url.into(),
            vkey: vkey.into(),
        };
        let refs = [at(&stranger, "http://c"), at(&b, "http://b")];
        let one_of_two = WitnessPolicy::new(&[a.clone(), b.clone()], 1).unwrap();
        let got = reachable_witnesses("e", &one_of_two, &refs).unwrap();
        // Only the manifest's witnesses are asked, each at its own URL.
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].0.as_str(), got[0].1.name.as_str()),
            ("http://b", "b.test")
        );
        let two_of_two = WitnessPolicy::new(&[a, b], 2).unwrap();
        let err = reachable_witnesses("e", &two_of_two, &refs).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("needs 2") && msg.contains("missing: a.test"),
            "{msg}"
        );
        let none = reachable_witnesses("e", &WitnessPolicy::default(), &refs).unwrap();
        assert!(none.is_empty());
    }
}
