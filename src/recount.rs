//! `votechain recount`: counts an election three ways and puts them side by side:
//! 1. from Kafka, with the replay rules (the ChainWriter's own acceptance and linking);
//! 2. from the DynamoDB chain, verifying every hash while reading;
//! 3. from the active read model.
//!
//! Votes may keep arriving, so each comparison is made at a consistent cut: Kafka and the
//! chain at the log's high watermarks when the recount started (the chain's vote items
//! carry their Kafka offsets); the read model against the chain up to the seq each chain
//! counter in the read model says it reflects. On a quiet election all cuts coincide.
//! This module gathers the counts; `votechain_core::recount::compare` lines them up.

use crate::config::Config;
use crate::dynamo::items;
use crate::dynamo::ledger::{Ledger, LedgerError};
use crate::metrics as m;
use crate::projector::{projection, results};
use crate::replay::{self, ReplayEngine, ReplayError, Until};
use crate::verify::{ChainChecker, read_chain, stored};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use votechain_core::counts::counts_of;
pub use votechain_core::recount::{RecountReport, Row, compare};

#[derive(Debug, thiserror::Error)]
pub enum RecountError {
    #[error("unknown election '{0}'")]
    UnknownElection(String),
    #[error(
        "partition {partition}: the writer is at offset {at}, and the last vote below the cut ({cut}) needs {needed}; is the writer running?"
    )]
    WriterBehind {
        partition: i32,
        at: i64,
        needed: i64,
        cut: i64,
    },
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("replaying the log: {0}")]
    Replay(#[from] ReplayError),
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    #[error("projection pointer: {0}")]
    Pointer(#[from] projection::PointerError),
    #[error("{0}")]
    Loss(#[from] crate::projector::loss::LossError),
}

pub async fn recount(
    cfg: &Config,
    ledger: &Ledger,
    election: &str,
    wait: Duration,
) -> Result<RecountReport, RecountError> {
    let e = cfg
        .registry()
        .get(election)
        .cloned()
        .ok_or_else(|| RecountError::UnknownElection(election.into()))?;
    let topic = &cfg.kafka.votes_topic;
    let consumer = Arc::new(replay::consumer(&crate::kafka::base_config(&cfg.kafka))?);
    let cut = replay::high_watermarks(&consumer, topic).await?;
    replay::assert_complete(&consumer, topic, cut.keys().copied(), &BTreeMap::new()).await?;
    replay::assign(&consumer, topic, cut.keys().copied(), &BTreeMap::new())?;
    // 1. Kafka.
    let mut engine = ReplayEngine::new(cfg.registry(), topic)
        .with_provenance(cfg.provenance.keys())
        .with_partitions(cfg.kafka.partitions);
    let mut kafka_votes = Vec::new();
    // Per partition, the offset just past its last vote below the cut: what the writer's
    // checkpoint must reach. Not the cut itself: a transaction's commit or abort marker
    // (and an aborted transaction's records) take offsets that no reader is given.
    let mut needed: BTreeMap<i32, i64> = BTreeMap::new();
    let on_votes = |v: &[items::VoteItem]| {
        for vote in v {
            let n = needed.entry(vote.kafka_partition).or_default();
            *n = (*n).max(vote.kafka_offset + 1);
        }
        kafka_votes.extend(v.iter().filter(|v| v.election_id == e.id).cloned());
    };
    replay::read_log(
        &consumer,
        &mut engine,
        Until::Offsets(&cut),
        wait,
        on_votes,
        |_| {},
    )
    .await?;
    wait_for_writers(ledger, topic, &needed, &cut, wait).await?;
    let kafka = replay::count(&kafka_votes, &e.id, None);
    // 2. The chain, verified.
    let mut chain_votes = Vec::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for c in 0..e.chains {
        let mut checker = ChainChecker::new(&e.id, c, e.chains, e.rule);
        read_chain(ledger, &e.id, c, e.chains, |it| {
            checker.feed(&stored(it), &mut seen);
            chain_votes.extend(items::parse_vote(it).ok());
        })
        .await?;
        problems.extend(checker.problems.iter().map(|p| p.to_string()));
    }
    let at_cut: Vec<_> = chain_votes
        .iter()
        .filter(|v| v.kafka_offset < cut.get(&v.kafka_partition).copied().unwrap_or(0))
        .cloned()
        .collect();
    let chain = replay::count(&at_cut, &e.id, None);
    // 3. The active read model, and the chain at its cut.
    let p = projection::read(&ledger.db, &cfg.dynamodb.lease_table).await?;
    let table = p
        .target(&cfg.dynamodb.results_table, &e.id, 0)
        .0
        .to_string();
    let rm = results::read(&ledger.db, &table, &cfg.registry(), &e.id, true).await?;
    let rm_cut: BTreeMap<u32, u64> = rm
        .chains
        .iter()
        .filter_map(|(c, n)| Some((c.parse().ok()?, *n)))
        .collect();
    let chain_at_rm = replay::count(&chain_votes, &e.id, Some(&rm_cut));
    let (rows, mismatches) = compare(&kafka, &chain, &counts_of(&rm), &chain_at_rm);
    metrics::gauge!(m::RECOUNT_MISMATCHES).set(mismatches.len() as f64);
    let chain_intact = problems.is_empty();
    // Stream records lost before the projector applied them: the read model may agree by
    // chance at its cut, but cannot be trusted until a replay rebuilds it.
    let needs_replay = crate::projector::loss::read(&ledger.db, &cfg.dynamodb.lease_table)
        .await?
        .filter(|n| n.elections.contains(&e.id))
        .map(|n| {
            format!(
                "{} loss event(s), last {} on {}, since {} ms",
                n.events, n.reason, n.shard, n.since_ms
            )
        });
    Ok(RecountReport {
        election_id: e.id.clone(),
        agree: mismatches.is_empty() && chain_intact && needs_replay.is_none(),
        needs_replay,
        chain_intact,
        kafka_cut: cut,
        read_model_table: table,
        rows,
        mismatches,
        problems,
    })
}

/// The chain must have chained every vote below the cut (its checkpoint at `needed`)
/// before it can be compared at the cut.
async fn wait_for_writers(
    ledger: &Ledger,
    topic: &str,
    needed: &BTreeMap<i32, i64>,
    cut: &BTreeMap<i32, i64>,
    wait: Duration,
) -> Result<(), RecountError> {
    let deadline = tokio::time::Instant::now() + wait;
    for (p, end) in needed {
        loop {
            let at = ledger
                .checkpoint(topic, *p)
                .await?
                .map(|c| c.next_offset)
                .unwrap_or(0);
            if at >= *end || *end == 0 {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(RecountError::WriterBehind {
                    partition: *p,
                    at,
                    needed: *end,
                    cut: cut.get(p).copied().unwrap_or(*end),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}
