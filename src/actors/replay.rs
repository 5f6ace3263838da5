//! `Replay`: rebuilds one election's projection from the Kafka log into a new read table
//! and, once it is checked against the chain, switches the query role to it atomically
//! (see `projector::projection` for why no vote is lost or counted twice in the handover).
//!
//! Messages: `Run(reply)`: the whole rebuild; the actor exists for the duration of one run.
//! Steps: (1) replay the log up to the high watermarks seen at start, with projections
//! running, into a new table `{results_table}-{election}-{ms}`; (2) freeze the pointer;
//! (3) read each chain's tip T and replay on to exactly T; (4) check: the rebuilt counts
//! equal the chain's counts up to T, the chain verifies, and the replayed hash at T equals
//! the stored one; (5) switch the pointer (or, if any check fails, unfreeze it untouched and
//! report the difference). The old table stays until an operator drops it.
//! State: its own Kafka consumer (no group, nothing committed), the replay engine.
//! Supervised by: nobody: the `votechain replay` command runs it and reports its outcome.
//! Metrics: `votechain_replay_records_total`.

use crate::config::Config;
use crate::dynamo::items::{self, VoteItem};
use crate::dynamo::ledger::{Ledger, LedgerError};
use crate::metrics as m;
use crate::projector::projection::{self, ElectionProjection, PointerError, Projection};
use crate::projector::results::{self, Deltas};
use crate::replay::{self, ReplayEngine, ReplayError, Until};
use crate::verify::{ChainChecker, read_chain, stored};
use aws_sdk_dynamodb::types::TransactWriteItem;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use votechain_core::chain;
use votechain_core::counts::{Counts, counts_of, diff};
use votechain_core::model::Election;

pub struct Replay {
    pub config: Arc<Config>,
    pub ledger: Ledger,
    pub election: String,
    pub freeze_timeout: Duration,
    pub progress: Option<indicatif::ProgressBar>,
}

pub enum ReplayMsg {
    Run(RpcReplyPort<Result<ReplayOutcome, RebuildError>>),
}

/// What a rebuild did.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayOutcome {
    pub election_id: String,
    pub switched: bool,
    pub table: String,
    pub records_read: u64,
    pub votes: u64,
    pub duplicates: u64,
    /// Other ballots under chained vote_ids (the writer dead-lettered them).
    pub conflicts: u64,
    pub invalid: u64,
    /// Per chain: the seq the rebuilt table reflects (projectors continue above it).
    pub thresholds: BTreeMap<u32, u64>,
    /// Counters that differ: (counter, rebuilt, chain). Empty when switched.
    pub differences: Vec<(String, i64, i64)>,
    pub problems: Vec<String>,
}

impl Actor for Replay {
    type Msg = ReplayMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<ReplayMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ReplayMsg>,
        msg: ReplayMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let ReplayMsg::Run(reply) = msg;
        let r = self.run().await;
        let _ = reply.send(r);
        myself.stop(None);
        Ok(())
    }
}

/// Why a rebuild stopped before it could compare (a comparison that fails is an outcome
/// with `switched: false`, not an error).
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("unknown election '{0}'")]
    UnknownElection(String),
    #[error("another rebuild holds the projections frozen; try again when it is done")]
    Frozen,
    #[error("switch refused (the freeze deadline passed and projectors thawed?): {0}")]
    SwitchRefused(PointerError),
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("replaying the log: {0}")]
    Replay(#[from] ReplayError),
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    #[error("projection pointer: {0}")]
    Pointer(#[from] PointerError),
    #[error("creating the rebuild table: {0}")]
    Table(#[from] crate::tables::TableError),
    #[error("writing the rebuilt counts: {0}")]
    Write(String),
    #[error("{0}")]
    Loss(#[from] crate::projector::loss::LossError),
}

impl Replay {
    async fn run(&self) -> Result<ReplayOutcome, RebuildError> {
        let cfg = &self.config;
        let e = cfg
            .registry()
            .get(&self.election)
            .cloned()
            .ok_or_else(|| RebuildError::UnknownElection(self.election.clone()))?;
        let db = &self.ledger.db;
        let lease_table = &cfg.dynamodb.lease_table;
        let topic = &cfg.kafka.votes_topic;
        // Losses of stream records marked before this instant are covered by this rebuild.
        let started_ms = crate::now_ms();
        let consumer = Arc::new(replay::consumer(&crate::kafka::base_config(&cfg.kafka))?);
        let ends = replay::high_watermarks(&consumer, topic).await?;
        // From each partition's start: only there is the chain's state (tips, vote_ids
        // chained) known, so only there can a replay reproduce it.
        let start = BTreeMap::new();
        replay::assert_complete(&consumer, topic, ends.keys().copied(), &start).await?;
        replay::assign(&consumer, topic, ends.keys().copied(), &start)?;
        let total: i64 = ends.values().sum();
        if let Some(pb) = &self.progress {
            pb.set_length(total.max(0) as u64);
        }
        // Tips before the bulk read: votes at or below are final and counted at once; above
        // them they are kept until the freeze fixes the thresholds.
        let mut s1 = BTreeMap::new();
        for c in 0..e.chains {
            s1.insert(c, self.ledger.tip(&e, c).await?.seq);
        }
        let table = format!(
            "{}-{}-{}",
            cfg.dynamodb.results_table,
            e.id,
            crate::now_ms()
        );
        crate::tables::ensure_results_table(db, &table).await?;
        let mut engine = ReplayEngine::new(cfg.registry(), topic)
            .with_provenance(cfg.provenance.keys())
            .with_partitions(cfg.kafka.partitions);
        let mut col = Collector {
            election: e.id.clone(),
            table: table.clone(),
            s1,
            deltas: Deltas::default(),
            tail: Vec::new(),
            hash_at: BTreeMap::new(),
        };
        let pb = self.progress.clone();
        let progress = |n: u64| {
            metrics::counter!(m::REPLAY_RECORDS).absolute(n);
            if let Some(pb) = &pb {
                pb.set_position(n);
            }
        };
        // 1. The bulk, with projections running.
        replay::read_log(
            &consumer,
            &mut engine,
            Until::AtLeast(&ends),
            Duration::from_secs(60),
            |v| col.take(v),
            progress,
        )
        .await?;
        write(db, &col.deltas).await?;
        // 2. Freeze.
        let p0 = projection::read(db, lease_table).await?;
        if p0.frozen && crate::now_ms() <= p0.frozen_until_ms {
            return Err(RebuildError::Frozen);
        }
        let frozen = Projection {
            epoch: p0.epoch + 1,
            frozen: true,
            frozen_until_ms: crate::now_ms() + self.freeze_timeout.as_millis() as i64,
            elections: p0.elections.clone(),
        };
        projection::replace(db, lease_table, p0.epoch, &frozen).await?;
        let unfreeze = || Projection {
            epoch: frozen.epoch + 1,
            frozen: false,
            frozen_until_ms: 0,
            elections: p0.elections.clone(),
        };
        // 3. Exact tips, and the tail up to them.
        let outcome = async {
            let mut tips = BTreeMap::new();
            for c in 0..e.chains {
                tips.insert(c, self.ledger.tip(&e, c).await?.seq);
            }
            let progress = |n: u64| {
                if let Some(pb) = &self.progress {
                    pb.set_position(n);
                }
            };
            replay::read_log(
                &consumer,
                &mut engine,
                Until::Tips {
                    election: &e.id,
                    tips: &tips,
                },
                Duration::from_secs(30),
                |v| col.take(v),
                progress,
            )
            .await?;
            let mut tail_deltas = Deltas::default();
            for v in col.tail.iter().filter(|v| v.seq <= tips[&v.chain]) {
                tail_deltas.add(&table, v);
            }
            write(db, &tail_deltas).await?;
            // 4. Check against the chain, read back from the new table.
            let rebuilt = results::read(db, &table, &cfg.registry(), &e.id, true).await?;
            let (chain_counts, problems, stored_tip_hashes) =
                chain_counts_to(&self.ledger, &e, &tips).await?;
            let mut differences = diff(&counts_of(&rebuilt), &chain_counts);
            let mut problems = problems;
            for (c, seq) in &tips {
                let replayed = if *seq == 0 {
                    Some(e.tip0(*c).hash)
                } else {
                    col.hash_at.get(&(*c, *seq)).copied()
                };
                if replayed != stored_tip_hashes.get(c).copied() {
                    problems.push(format!(
                        "chain {c}: replayed hash at seq {seq} differs from the ledger's"
                    ));
                }
            }
            if rebuilt.total as i64 != tips.values().sum::<u64>() as i64 {
                differences.push((
                    "chain seq sum".into(),
                    rebuilt.total as i64,
                    tips.values().sum::<u64>() as i64,
                ));
            }
            Ok::<_, RebuildError>((tips, differences, problems))
        }
        .await;
        let (tips, differences, problems) = match outcome {
            Ok(x) => x,
            Err(err) => {
                projection::replace(db, lease_table, frozen.epoch, &unfreeze()).await?;
                return Err(err);
            }
        };
        let ok = differences.is_empty() && problems.is_empty();
        // 5. Switch, or leave the active projection alone.
        let switched = if ok {
            let mut elections = p0.elections.clone();
            elections.insert(
                e.id.clone(),
                ElectionProjection {
                    table: table.clone(),
                    thresholds: tips.clone(),
                },
            );
            let next = Projection {
                epoch: frozen.epoch + 1,
                frozen: false,
                frozen_until_ms: 0,
                elections,
            };
            match projection::replace(db, lease_table, frozen.epoch, &next).await {
                Ok(()) => {}
                Err(err) => return Err(RebuildError::SwitchRefused(err)),
            }
            // The rebuilt table holds every vote the stream lost before `started_ms`.
            if !crate::projector::loss::clear(db, lease_table, &e.id, started_ms).await? {
                tracing::warn!(election = %e.id, "stream records were lost again during this replay; the election still needs one");
            }
            true
        } else {
            projection::replace(db, lease_table, frozen.epoch, &unfreeze()).await?;
            false
        };
        if let Some(pb) = &self.progress {
            pb.finish_and_clear();
        }
        Ok(ReplayOutcome {
            election_id: e.id.clone(),
            switched,
            table,
            records_read: engine.records,
            votes: tips.values().sum(),
            duplicates: engine.duplicates,
            conflicts: engine.conflicts,
            invalid: engine.invalid,
            thresholds: tips,
            differences,
            problems,
        })
    }
}

/// Sorts replayed votes of the election: final ones (seq <= first tips) into deltas, the rest
/// kept until the freeze fixes the thresholds; remembers hashes for the tip check.
struct Collector {
    election: String,
    table: String,
    s1: BTreeMap<u32, u64>,
    deltas: Deltas,
    tail: Vec<VoteItem>,
    hash_at: BTreeMap<(u32, u64), chain::Hash>,
}

impl Collector {
    fn take(&mut self, votes: &[VoteItem]) {
        for v in votes.iter().filter(|v| v.election_id == self.election) {
            let first = self.s1.get(&v.chain).copied().unwrap_or(0);
            if v.seq >= first {
                self.hash_at.insert((v.chain, v.seq), v.hash);
            }
            if v.seq <= first {
                self.deltas.add(&self.table, v);
            } else {
                self.tail.push(v.clone());
            }
        }
    }
}

/// Writes deltas, 100 updates per transaction (the table is not yet live: order is free).
async fn write(db: &aws_sdk_dynamodb::Client, d: &Deltas) -> Result<(), RebuildError> {
    let ups = results::updates(d);
    for chunk in ups.chunks(100) {
        let items: Vec<TransactWriteItem> = chunk
            .iter()
            .cloned()
            .map(|u| TransactWriteItem::builder().update(u).build())
            .collect();
        db.transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| RebuildError::Write(crate::dynamo::describe(&e)))?;
    }
    Ok(())
}

/// The chain's counts up to `tips`, its verification problems, and its stored hash at each tip.
async fn chain_counts_to(
    ledger: &Ledger,
    e: &Election,
    tips: &BTreeMap<u32, u64>,
) -> Result<(Counts, Vec<String>, BTreeMap<u32, chain::Hash>), LedgerError> {
    let (election, chains) = (e.id.as_str(), e.chains);
    let mut votes = Vec::new();
    let mut problems = Vec::new();
    let mut hashes = BTreeMap::new();
    let mut seen = HashSet::new();
    for c in 0..chains {
        let tip = tips.get(&c).copied().unwrap_or(0);
        hashes.insert(c, e.tip0(c).hash);
        let mut checker = ChainChecker::new(election, c, chains, e.rule);
        read_chain(ledger, election, c, chains, |it| {
            checker.feed(&stored(it), &mut seen);
            if let Some(v) = items::parse_vote(it).ok().filter(|v| v.seq <= tip) {
                if v.seq == tip {
                    hashes.insert(c, v.hash);
                }
                votes.push(v);
            }
        })
        .await?;
        problems.extend(checker.problems.iter().map(|p| p.to_string()));
    }
    Ok((replay::count(&votes, election, None), problems, hashes))
}
