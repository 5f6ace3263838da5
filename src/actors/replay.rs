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

use crate::chain;
use crate::config::Config;
use crate::dynamo::items::VoteItem;
use crate::dynamo::ledger::Ledger;
use crate::metrics as m;
use crate::projector::projection::{self, ElectionProjection, Projection};
use crate::projector::results::{self, Deltas};
use crate::replay::{self, Counts, ReplayEngine, Until};
use crate::verify::ChainChecker;
use aws_sdk_dynamodb::types::TransactWriteItem;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

pub struct Replay {
    pub config: Arc<Config>,
    pub ledger: Ledger,
    pub election: String,
    pub from_offsets: BTreeMap<i32, i64>,
    pub freeze_timeout: Duration,
    pub progress: Option<indicatif::ProgressBar>,
}

pub enum ReplayMsg {
    Run(RpcReplyPort<Result<ReplayOutcome, String>>),
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

    async fn handle(&self, myself: ActorRef<ReplayMsg>, msg: ReplayMsg, _: &mut ()) -> Result<(), ActorProcessingErr> {
        let ReplayMsg::Run(reply) = msg;
        let r = self.run().await.map_err(|e| e.to_string());
        let _ = reply.send(r);
        myself.stop(None);
        Ok(())
    }
}

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

impl Replay {
    async fn run(&self) -> Result<ReplayOutcome, BoxErr> {
        let cfg = &self.config;
        let e = cfg.registry().get(&self.election).cloned().ok_or_else(|| format!("unknown election '{}'", self.election))?;
        let db = &self.ledger.db;
        let lease_table = &cfg.dynamodb.lease_table;
        let topic = &cfg.kafka.votes_topic;
        let consumer = Arc::new(replay::consumer(&crate::kafka::base_config(&cfg.kafka))?);
        let ends = replay::high_watermarks(&consumer, topic).await?;
        replay::assign(&consumer, topic, ends.keys().copied(), &self.from_offsets)?;
        let total: i64 = ends.iter().map(|(p, end)| end - self.from_offsets.get(p).copied().unwrap_or(0)).sum();
        if let Some(pb) = &self.progress {
            pb.set_length(total.max(0) as u64);
        }
        // Tips before the bulk read: votes at or below are final and counted at once; above
        // them they are kept until the freeze fixes the thresholds.
        let mut s1 = BTreeMap::new();
        for c in 0..e.chains {
            s1.insert(c, self.ledger.tip(&e.id, c, e.chains).await?.seq);
        }
        let table = format!("{}-{}-{}", cfg.dynamodb.results_table, e.id, crate::now_ms());
        crate::dynamo::tables::ensure_results_table(db, &table).await?;
        let mut engine = ReplayEngine::new(cfg.registry(), topic);
        let mut col = Collector { election: e.id.clone(), table: table.clone(), s1, deltas: Deltas::default(), tail: Vec::new(), hash_at: BTreeMap::new() };
        let pb = self.progress.clone();
        let progress = |n: u64| {
            metrics::counter!(m::REPLAY_RECORDS).absolute(n);
            if let Some(pb) = &pb {
                pb.set_position(n);
            }
        };
        // 1. The bulk, with projections running.
        replay::read_log(&consumer, &mut engine, Until::Offsets(&ends), Duration::from_secs(60), |v| col.take(v), progress).await?;
        write(db, &col.deltas).await?;
        // 2. Freeze.
        let p0 = projection::read(db, lease_table).await?;
        if p0.frozen && crate::now_ms() <= p0.frozen_until_ms {
            return Err("another rebuild holds the projections frozen; try again when it is done".into());
        }
        let frozen = Projection { epoch: p0.epoch + 1, frozen: true, frozen_until_ms: crate::now_ms() + self.freeze_timeout.as_millis() as i64, elections: p0.elections.clone() };
        projection::replace(db, lease_table, p0.epoch, &frozen).await?;
        let unfreeze = || Projection { epoch: frozen.epoch + 1, frozen: false, frozen_until_ms: 0, elections: p0.elections.clone() };
        // 3. Exact tips, and the tail up to them.
        let outcome = async {
            let mut tips = BTreeMap::new();
            for c in 0..e.chains {
                tips.insert(c, self.ledger.tip(&e.id, c, e.chains).await?.seq);
            }
            let progress = |n: u64| {
                if let Some(pb) = &self.progress {
                    pb.set_position(n);
                }
            };
            replay::read_log(&consumer, &mut engine, Until::Tips { election: &e.id, tips: &tips }, Duration::from_secs(30), |v| col.take(v), progress).await?;
            let mut tail_deltas = Deltas::default();
            for v in col.tail.iter().filter(|v| v.seq <= tips[&v.chain]) {
                tail_deltas.add(&table, v);
            }
            write(db, &tail_deltas).await?;
            // 4. Check against the chain, read back from the new table.
            let rebuilt = results::read(db, &table, &cfg.registry(), &e.id, true).await?;
            let (chain_counts, problems, stored_tip_hashes) = chain_counts_to(&self.ledger, &e.id, e.chains, &tips).await?;
            let mut differences = diff(&counts_of(&rebuilt), &chain_counts);
            let mut problems = problems;
            for (c, seq) in &tips {
                let replayed = if *seq == 0 { Some(chain::genesis(&e.id, *c)) } else { col.hash_at.get(&(*c, *seq)).copied() };
                if replayed != stored_tip_hashes.get(c).copied() {
                    problems.push(format!("chain {c}: replayed hash at seq {seq} differs from the ledger's"));
                }
            }
            if rebuilt.total as i64 != tips.values().sum::<u64>() as i64 {
                differences.push(("chain seq sum".into(), rebuilt.total as i64, tips.values().sum::<u64>() as i64));
            }
            Ok::<_, BoxErr>((tips, differences, problems))
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
            elections.insert(e.id.clone(), ElectionProjection { table: table.clone(), thresholds: tips.clone() });
            let next = Projection { epoch: frozen.epoch + 1, frozen: false, frozen_until_ms: 0, elections };
            match projection::replace(db, lease_table, frozen.epoch, &next).await {
                Ok(()) => true,
                Err(err) => return Err(format!("switch refused (the freeze deadline passed and projectors thawed?): {err}").into()),
            }
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
async fn write(db: &aws_sdk_dynamodb::Client, d: &Deltas) -> Result<(), BoxErr> {
    let ups = results::updates(d);
    for chunk in ups.chunks(100) {
        let items: Vec<TransactWriteItem> = chunk.iter().cloned().map(|u| TransactWriteItem::builder().update(u).build()).collect();
        db.transact_write_items().set_transact_items(Some(items)).send().await.map_err(|e| crate::dynamo::describe(&e))?;
    }
    Ok(())
}

/// The chain's counts up to `tips`, its verification problems, and its stored hash at each tip.
pub async fn chain_counts_to(ledger: &Ledger, election: &str, chains: u32, tips: &BTreeMap<u32, u64>) -> Result<(Counts, Vec<String>, BTreeMap<u32, chain::Hash>), BoxErr> {
    let mut votes = Vec::new();
    let mut problems = Vec::new();
    let mut hashes = BTreeMap::new();
    let mut seen = HashSet::new();
    for c in 0..chains {
        let tip = tips.get(&c).copied().unwrap_or(0);
        hashes.insert(c, chain::genesis(election, c));
        let mut checker = ChainChecker::new(election, c, chains);
        let mut start = None;
        loop {
            let (page, next) = ledger.chain_page(election, c, chains, start, true).await?;
            for it in &page {
                checker.feed(it, &mut seen);
                if let Ok(v) = crate::dynamo::items::parse_vote(it) {
                    if v.seq <= tip {
                        if v.seq == tip {
                            hashes.insert(c, v.hash);
                        }
                        votes.push(v);
                    }
                }
            }
            match next {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        problems.extend(checker.problems.iter().map(|p| p.to_string()));
    }
    Ok((replay::count(&votes, election, None), problems, hashes))
}

/// Read-model results as counts.
pub fn counts_of(r: &results::Results) -> Counts {
    use results::Counter;
    let mut out = Counts::new();
    out.insert(Counter::Total, r.total as i64);
    for (c, n) in &r.candidates {
        out.insert(Counter::Candidate(c.clone()), *n as i64);
    }
    for (reg, m) in &r.regions {
        for (c, n) in m {
            out.insert(Counter::Region(reg.clone(), c.clone()), *n as i64);
        }
    }
    for (ch, n) in &r.chains {
        if let Ok(ch) = ch.parse() {
            out.insert(Counter::Chain(ch), *n as i64);
        }
    }
    out.retain(|_, n| *n != 0);
    out
}

/// Counters that differ, as (label, left, right); zeros and absences are equal.
pub fn diff(a: &Counts, b: &Counts) -> Vec<(String, i64, i64)> {
    let keys: std::collections::BTreeSet<_> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (a.get(k).copied().unwrap_or(0), b.get(k).copied().unwrap_or(0));
            (x != y).then(|| (label(k), x, y))
        })
        .collect()
}

pub fn label(c: &results::Counter) -> String {
    use results::Counter;
    match c {
        Counter::Total => "total".into(),
        Counter::Candidate(c) => format!("candidate {c}"),
        Counter::Region(r, c) => format!("region {r} / {c}"),
        Counter::Chain(c) => format!("chain {c} seq"),
    }
}
