//! `votechain recount`: counts an election three ways and puts them side by side:
//! 1. from Kafka, with the replay rules (the ChainWriter's own acceptance and linking);
//! 2. from the DynamoDB chain, verifying every hash while reading;
//! 3. from the active read model.
//!
//! Votes may keep arriving, so each comparison is made at a consistent cut: Kafka and the
//! chain at the log's high watermarks when the recount started (the chain's vote items
//! carry their Kafka offsets); the read model against the chain up to the seq each chain
//! counter in the read model says it reflects. On a quiet election all cuts coincide.

use crate::actors::replay::{counts_of, diff, label};
use crate::config::Config;
use crate::dynamo::ledger::Ledger;
use crate::metrics as m;
use crate::projector::{projection, results};
use crate::replay::{self, Counts, ReplayEngine, Until};
use crate::verify::ChainChecker;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub counter: String,
    pub kafka: i64,
    pub chain: i64,
    pub read_model: i64,
    /// The chain at the read model's cut (equal to `chain` when the cuts coincide).
    pub chain_at_read_model: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecountReport {
    pub election_id: String,
    pub agree: bool,
    pub chain_intact: bool,
    pub kafka_cut: BTreeMap<i32, i64>,
    pub read_model_table: String,
    pub rows: Vec<Row>,
    /// Counters where the three counts disagree, by name.
    pub mismatches: Vec<String>,
    pub problems: Vec<String>,
}

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

pub async fn recount(cfg: &Config, ledger: &Ledger, election: &str, wait: Duration) -> Result<RecountReport, BoxErr> {
    let e = cfg.registry().get(election).cloned().ok_or_else(|| format!("unknown election '{election}'"))?;
    let topic = &cfg.kafka.votes_topic;
    let consumer = Arc::new(replay::consumer(&crate::kafka::base_config(&cfg.kafka))?);
    let cut = replay::high_watermarks(&consumer, topic).await?;
    replay::assign(&consumer, topic, cut.keys().copied(), &BTreeMap::new())?;
    // The chain must have reached the cut before it can be compared at it.
    let deadline = tokio::time::Instant::now() + wait;
    for (p, end) in &cut {
        loop {
            let at = ledger.checkpoint(topic, *p).await?.map(|c| c.next_offset).unwrap_or(0);
            if at >= *end || *end == 0 {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("partition {p}: the writer is at offset {at}, the cut is {end}; is the writer running?").into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // 1. Kafka.
    let mut engine = ReplayEngine::new(cfg.registry(), topic);
    let mut kafka_votes = Vec::new();
    replay::read_log(&consumer, &mut engine, Until::Offsets(&cut), wait, |v| kafka_votes.extend(v.iter().filter(|v| v.election_id == e.id).cloned()), |_| {}).await?;
    let kafka = replay::count(&kafka_votes, &e.id, None);
    // 2. The chain, verified.
    let mut chain_votes = Vec::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for c in 0..e.chains {
        let mut checker = ChainChecker::new(&e.id, c, e.chains);
        let mut start = None;
        loop {
            let (page, next) = ledger.chain_page(&e.id, c, e.chains, start, true).await?;
            for it in &page {
                checker.feed(it, &mut seen);
                if let Ok(v) = crate::dynamo::items::parse_vote(it) {
                    chain_votes.push(v);
                }
            }
            match next {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        problems.extend(checker.problems.iter().map(|p| p.to_string()));
    }
    let at_cut: Vec<_> = chain_votes.iter().filter(|v| v.kafka_offset < cut.get(&v.kafka_partition).copied().unwrap_or(0)).cloned().collect();
    let chain = replay::count(&at_cut, &e.id, None);
    // 3. The active read model, and the chain at its cut.
    let p = projection::read(&ledger.db, &cfg.dynamodb.lease_table).await?;
    let table = p.target(&cfg.dynamodb.results_table, &e.id, 0).0.to_string();
    let rm = results::read(&ledger.db, &table, &cfg.registry(), &e.id, true).await?;
    let rm_cut: BTreeMap<u32, u64> = rm.chains.iter().filter_map(|(c, n)| Some((c.parse().ok()?, *n))).collect();
    let read_model = counts_of(&rm);
    let chain_at_rm = replay::count(&chain_votes, &e.id, Some(&rm_cut));

    let keys: BTreeSet<_> = kafka.keys().chain(chain.keys()).chain(read_model.keys()).chain(chain_at_rm.keys()).cloned().collect();
    let get = |m: &Counts, k| m.get(k).copied().unwrap_or(0);
    let rows: Vec<Row> = keys
        .iter()
        .map(|k| Row { counter: label(k), kafka: get(&kafka, k), chain: get(&chain, k), read_model: get(&read_model, k), chain_at_read_model: get(&chain_at_rm, k) })
        .collect();
    let mut mismatches: Vec<String> = diff(&kafka, &chain).into_iter().map(|(l, a, b)| format!("{l}: kafka {a} vs chain {b}")).collect();
    mismatches.extend(diff(&read_model, &chain_at_rm).into_iter().map(|(l, a, b)| format!("{l}: read model {a} vs chain {b}")));
    metrics::gauge!(m::RECOUNT_MISMATCHES).set(mismatches.len() as f64);
    let chain_intact = problems.is_empty();
    Ok(RecountReport {
        election_id: e.id.clone(),
        agree: mismatches.is_empty() && chain_intact,
        chain_intact,
        kafka_cut: cut,
        read_model_table: table,
        rows,
        mismatches,
        problems,
    })
}

impl std::fmt::Display for RecountReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "recount of {} (Kafka cut {:?}; read model {})", self.election_id, self.kafka_cut, self.read_model_table)?;
        writeln!(f, "{:<32} {:>10} {:>10} {:>12}", "counter", "kafka", "chain", "read model")?;
        for r in &self.rows {
            let note = if r.chain_at_read_model != r.chain { format!("   (chain at the read model's cut: {})", r.chain_at_read_model) } else { String::new() };
            let flag = if r.kafka != r.chain || r.read_model != r.chain_at_read_model { "  <-- MISMATCH" } else { "" };
            writeln!(f, "{:<32} {:>10} {:>10} {:>12}{note}{flag}", r.counter, r.kafka, r.chain, r.read_model)?;
        }
        writeln!(f, "chain hashes: {}", if self.chain_intact { "intact" } else { "BROKEN" })?;
        for p in self.problems.iter().take(20) {
            writeln!(f, "  {p}")?;
        }
        write!(f, "{}", if self.agree { "ALL THREE AGREE" } else { "DISAGREEMENT" })
    }
}
