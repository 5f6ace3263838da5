//! `ChainWriter`: the one writer of the hash chains of one `votes` partition.
//!
//! Messages: `Poll` (sent to itself: read a batch, chain it, poll again). Linking is
//! serialized by this actor's mailbox: no locks, no shared mutable state.
//! State: its own consumer assigned to the partition at the DynamoDB checkpoint, the
//! checkpoint offset it last wrote, the tip of every chain it has touched, the vote_ids it
//! chained recently, and a `writer_id` naming this incarnation.
//! Each batch is ONE `TransactWriteItems`: per vote a vote item and a vote_id marker
//! (both `attribute_not_exists`), plus the partition checkpoint conditioned on the offset
//! this writer last wrote. Dedup is optimistic: no read before the write. Resubmissions of
//! vote_ids this incarnation chained are skipped from memory (`RecentIds`); any other one
//! fails its marker condition, the cancellation reasons say so, and only then are the
//! batch's markers read and the batch planned again (`votechain_writer_replans_total`). A second writer of the same partition therefore cannot
//! interleave: whoever writes second finds the checkpoint moved, and stops ("fenced").
//! DynamoDB, not Kafka's committed offsets, is the source of truth for progress.
//! Supervised by: the `WriterCoordinator`, which restarts it while it holds the partition.
//! Metrics: `votechain_writer_{records_consumed,votes_chained,duplicates,dead_letters,fenced,
//! replans,dynamodb_retries}_total`, `votechain_writer_batch_{duration_seconds,votes}`,
//! `votechain_writer_checkpoint_offset{partition}`, `votechain_chain_tip_seq{election,chain}`.

use crate::chain::{self, Tip};
use crate::dynamo::ErrorClass;
use crate::dynamo::items::VoteItem;
use crate::dynamo::ledger::{AppendOutcome, Ledger, LedgerError};
use crate::metrics as m;
use crate::model::{Invalid, Registry, VoteEvent, accept_event};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every ChainWriter of a process shares (immutable).
pub struct WriterCtx {
    /// This pod's node instance id (recorded in checkpoints).
    pub instance: String,
    pub consumer_config: ClientConfig,
    pub topic: String,
    pub dead_letter_topic: String,
    pub registry: Registry,
    pub ledger: Ledger,
    pub dead_letters: FutureProducer,
    pub batch_max: usize,
    pub linger: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub recent_ids_max: usize,
}

impl WriterCtx {
    /// Everything a ChainWriter needs, from the writer section of the config.
    pub fn new(cfg: &crate::config::Config, ledger: Ledger) -> Result<WriterCtx, rdkafka::error::KafkaError> {
        Ok(WriterCtx {
            instance: cfg.node.instance_id.clone(),
            consumer_config: crate::kafka::partition_consumer_config(&cfg.kafka, &format!("{}-readers", cfg.writer.group_id)),
            topic: cfg.kafka.votes_topic.clone(),
            dead_letter_topic: cfg.kafka.dead_letter_topic.clone(),
            registry: cfg.registry(),
            ledger,
            dead_letters: crate::kafka::idempotent_producer_config(&cfg.kafka).create()?,
            batch_max: cfg.writer.batch_max_records,
            linger: Duration::from_millis(cfg.writer.linger_ms),
            retry_initial: Duration::from_millis(cfg.writer.retry_initial_ms),
            retry_max: Duration::from_millis(cfg.writer.retry_max_ms),
            recent_ids_max: cfg.writer.recent_ids_max,
        })
    }
}

pub struct ChainWriter {
    pub ctx: Arc<WriterCtx>,
    pub partition: i32,
}

pub enum ChainWriterMsg {
    Poll,
}

/// One record read from the partition.
#[derive(Debug, Clone)]
pub struct Record {
    pub offset: i64,
    pub payload: Vec<u8>,
}

/// (election_id, chain)
pub type ChainKey = (String, u32);

pub struct ChainWriterState {
    pub writer_id: String,
    consumer: Arc<StreamConsumer>,
    /// The checkpoint as this writer last wrote or read it; `None`: the partition was never written.
    pub checkpoint: Option<i64>,
    pub tips: HashMap<ChainKey, Tip>,
    /// vote_ids this incarnation has chained, newest last (a shortcut for resubmissions).
    pub recent: RecentIds,
}

/// A bounded FIFO set of 16-byte SHA-256 digests of `(election_id, vote_id)` that this
/// writer has chained. A hit lets a resubmission skip without a failed transaction; a miss
/// proves nothing (the marker condition catches it). A false hit would drop a vote, which
/// needs a 128-bit collision of SHA-256: about 1e-21 for a billion votes.
#[derive(Debug, Default)]
pub struct RecentIds {
    max: usize,
    set: HashSet<[u8; 16]>,
    order: std::collections::VecDeque<[u8; 16]>,
}

impl RecentIds {
    pub fn new(max: usize) -> RecentIds {
        RecentIds { max, ..Default::default() }
    }
    fn digest(election_id: &str, vote_id: &str) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(election_id.as_bytes());
        h.update([0]);
        h.update(vote_id.as_bytes());
        h.finalize()[..16].try_into().expect("16 of 32 bytes")
    }
    pub fn contains(&self, election_id: &str, vote_id: &str) -> bool {
        self.max > 0 && self.set.contains(&Self::digest(election_id, vote_id))
    }
    /// Remembers a chained vote_id, forgetting the oldest beyond `max`.
    pub fn insert(&mut self, election_id: &str, vote_id: &str) {
        if self.max == 0 {
            return;
        }
        let d = Self::digest(election_id, vote_id);
        if self.set.insert(d) {
            self.order.push_back(d);
            while self.order.len() > self.max {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
    pub fn len(&self) -> usize {
        self.order.len()
    }
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// What a cancelled append says about its own actions (one vote item and one marker per
/// vote, then the checkpoint), from DynamoDB's cancellation reasons.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// Some vote_id markers exist (duplicates) and the checkpoint condition held.
    Duplicates,
    /// The checkpoint moved (fenced, or our own earlier attempt landed), or the reasons do
    /// not say: re-read the checkpoint to know.
    Checkpoint,
}

/// Reads the cancellation reasons of an append of `votes` votes. Pure.
pub fn read_cancellation(codes: &[String], votes: usize, with_markers: bool) -> Cancelled {
    let per_vote = if with_markers { 2 } else { 1 };
    let failed = |c: &String| c == "ConditionalCheckFailed";
    if codes.len() != votes * per_vote + 1 || failed(&codes[votes * per_vote]) {
        return Cancelled::Checkpoint;
    }
    let marker_failed = with_markers && (0..votes).any(|i| failed(&codes[2 * i + 1]));
    if marker_failed { Cancelled::Duplicates } else { Cancelled::Checkpoint }
}

/// The DynamoDB writes one batch amounts to, computed without I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Vote items with their election's chain count.
    pub votes: Vec<(VoteItem, u32)>,
    pub duplicates: u64,
    /// Tips after the batch, for the chains it touched.
    pub tips: HashMap<ChainKey, Tip>,
    pub next_offset: i64,
}

/// Links a batch of accepted events onto the current tips. Pure: same input, same plan.
/// `already` holds `(election_id, vote_id)` pairs chained before this batch; a vote_id seen
/// again (there or earlier in the batch) is a duplicate and chains nothing.
pub fn plan_batch(
    tips: &HashMap<ChainKey, Tip>,
    accepted: &[(i64, VoteEvent)],
    already: &HashSet<(String, String)>,
    registry: &Registry,
    topic: &str,
    partition: i32,
    last_offset: i64,
) -> Plan {
    let mut new_tips: HashMap<ChainKey, Tip> = HashMap::new();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let mut votes = Vec::new();
    let mut duplicates = 0;
    for (offset, ev) in accepted {
        let dup = already.contains(&(ev.election_id.clone(), ev.vote_id.clone())) || !seen.insert((&ev.election_id, &ev.vote_id));
        if dup {
            duplicates += 1;
            continue;
        }
        let key = (ev.election_id.clone(), ev.chain);
        let tip = new_tips.get(&key).or_else(|| tips.get(&key)).copied().unwrap_or_else(|| Tip::genesis(&ev.election_id, ev.chain));
        let chains = registry.get(&ev.election_id).map(|e| e.chains).unwrap_or(1);
        let mut item = VoteItem {
            election_id: ev.election_id.clone(),
            chain: ev.chain,
            seq: tip.seq + 1,
            vote_id: ev.vote_id.clone(),
            candidate_id: ev.candidate_id.clone(),
            region_id: ev.region_id.clone(),
            cast_at_ms: ev.cast_at_ms,
            prev_hash: tip.hash,
            hash: [0; 32],
            kafka_topic: topic.to_string(),
            kafka_partition: partition,
            kafka_offset: *offset,
        };
        let next = chain::link(&tip, &item.fields()).expect("seq is tip + 1 by construction");
        item.hash = next.hash;
        new_tips.insert(key, next);
        votes.push((item, chains));
    }
    Plan { votes, duplicates, tips: new_tips, next_offset: last_offset + 1 }
}

/// Consumer errors librdkafka recovers from by itself (connectivity). Anything else, e.g.
/// an out-of-range offset (`auto.offset.reset=error`), fails the writer loudly.
fn is_transient(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(C::AllBrokersDown | C::BrokerTransportFailure | C::NetworkException | C::RequestTimedOut | C::OperationTimedOut
            | C::NotLeaderForPartition | C::LeaderNotAvailable | C::Resolve | C::TimedOutQueue)
    )
}

/// The idempotency token of one append: the same writer retrying the same offsets sends
/// the same token, so DynamoDB applies the transaction at most once.
/// `attempt` counts re-plans of the same offsets (after duplicates were found): a re-plan
/// is a different transaction and must not reuse the token.
pub fn request_token(writer_id: &str, partition: i32, first: i64, next: i64, attempt: u32) -> String {
    let d = Sha256::digest(format!("{writer_id}/{partition}/{first}/{next}/{attempt}"));
    hex::encode(&d[..16])
}

impl Actor for ChainWriter {
    type Msg = ChainWriterMsg;
    type State = ChainWriterState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<ChainWriterMsg>, _: ()) -> Result<ChainWriterState, ActorProcessingErr> {
        let writer_id = uuid::Uuid::new_v4().to_string();
        // Checkpoint first, tips later (lazily): any write by another writer after this read
        // makes our first append fail its checkpoint condition, so stale tips never link.
        let cp = self.retry("read checkpoint", || self.ctx.ledger.checkpoint(&self.ctx.topic, self.partition)).await?;
        let consumer: Arc<StreamConsumer> = Arc::new(self.ctx.consumer_config.create()?);
        if let Some(c) = &cp {
            // A checkpoint past the end of the log means the topic was recreated under a live
            // ledger: its offsets now name other records. Refuse loudly; never guess.
            let (topic, p, cons) = (self.ctx.topic.clone(), self.partition, consumer.clone());
            let (t2, p2) = (topic.clone(), p);
            let marks = tokio::task::spawn_blocking(move || cons.fetch_watermarks(&t2, p2, Duration::from_secs(10))).await?;
            match marks {
                Ok((_, high)) if c.next_offset > high => {
                    tracing::error!(%topic, partition = p, checkpoint = c.next_offset, high_watermark = high, "ledger checkpoint is beyond the end of the votes log: was the topic recreated? Refusing to write");
                    return Err(format!("{topic}/{p}: checkpoint {} > high watermark {high}; the votes topic does not match this ledger", c.next_offset).into());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not read watermarks at start; continuing from the checkpoint"),
            }
        }
        let mut tpl = TopicPartitionList::new();
        let start = match &cp {
            Some(c) => Offset::Offset(c.next_offset),
            None => Offset::Beginning,
        };
        tpl.add_partition_offset(&self.ctx.topic, self.partition, start)?;
        consumer.assign(&tpl)?;
        tracing::info!(partition = self.partition, %writer_id, ?start, "chain writer started");
        myself.send_message(ChainWriterMsg::Poll)?;
        Ok(ChainWriterState {
            writer_id,
            consumer,
            checkpoint: cp.map(|c| c.next_offset),
            tips: HashMap::new(),
            recent: RecentIds::new(self.ctx.recent_ids_max),
        })
    }

    async fn handle(&self, myself: ActorRef<ChainWriterMsg>, msg: ChainWriterMsg, st: &mut ChainWriterState) -> Result<(), ActorProcessingErr> {
        match msg {
            ChainWriterMsg::Poll => {
                if crate::supervision::orphaned(&myself.get_cell()) {
                    myself.stop(Some("orphaned".into()));
                    return Ok(());
                }
                let batch = self.read_batch(&st.consumer).await?;
                if !batch.is_empty() {
                    fail::fail_point!("chain_writer::between_batches", |_| Err("failpoint: between batches".into()));
                    if !self.write_batch(st, batch).await? {
                        metrics::counter!(m::WRITER_FENCED).increment(1);
                        tracing::warn!(partition = self.partition, writer_id = %st.writer_id, "fenced: another writer moved this partition's checkpoint; stopping");
                        myself.stop(Some("fenced".into()));
                        return Ok(());
                    }
                }
                myself.send_message(ChainWriterMsg::Poll)?;
            }
        }
        Ok(())
    }
}

impl ChainWriter {
    /// Waits up to 200 ms for a first record, then gathers more for `linger` up to `batch_max`.
    async fn read_batch(&self, consumer: &StreamConsumer) -> Result<Vec<Record>, ActorProcessingErr> {
        let mut out = Vec::new();
        let first = match tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await {
            Err(_) => return Ok(out),
            Ok(Err(e)) if is_transient(&e) => {
                // librdkafka reconnects by itself; the offset we read from does not move.
                tracing::warn!(partition = self.partition, error = %e, "transient Kafka error; polling again");
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Ok(out);
            }
            Ok(r) => r?,
        };
        out.push(Record { offset: first.offset(), payload: first.payload().unwrap_or_default().to_vec() });
        let deadline = tokio::time::Instant::now() + self.ctx.linger;
        while out.len() < self.ctx.batch_max {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Err(_) => break,
                Ok(Err(e)) if is_transient(&e) => break,
                Ok(r) => {
                    let msg = r?;
                    out.push(Record { offset: msg.offset(), payload: msg.payload().unwrap_or_default().to_vec() });
                }
            }
        }
        metrics::counter!(m::WRITER_RECORDS).increment(out.len() as u64);
        Ok(out)
    }

    /// Chains one batch. `Ok(false)`: fenced by another writer.
    async fn write_batch(&self, st: &mut ChainWriterState, batch: Vec<Record>) -> Result<bool, ActorProcessingErr> {
        let started = Instant::now();
        let first = batch[0].offset;
        let last = batch[batch.len() - 1].offset;
        let mut accepted = Vec::with_capacity(batch.len());
        for r in batch {
            match accept_event(&self.ctx.registry, &r.payload) {
                Ok(ev) => accepted.push((r.offset, ev)),
                Err(why) => self.dead_letter(&r, &why).await,
            }
        }
        // Tips of chains this incarnation has not touched yet, read consistently.
        let missing: HashSet<ChainKey> =
            accepted.iter().map(|(_, e)| (e.election_id.clone(), e.chain)).filter(|k| !st.tips.contains_key(k)).collect();
        for key in missing {
            let chains = self.ctx.registry.get(&key.0).map(|e| e.chains).unwrap_or(1);
            let tip = self.retry("load chain tip", || self.ctx.ledger.tip(&key.0, key.1, chains)).await?;
            st.tips.insert(key, tip);
        }
        // Optimistic: no read before the write. Duplicates this writer chained recently are
        // skipped from memory; any other one fails its marker's condition, and only then do
        // we read the markers (consistently) and plan again. One round trip in the common case.
        let mut already: HashSet<(String, String)> = accepted
            .iter()
            .filter(|(_, e)| st.recent.contains(&e.election_id, &e.vote_id))
            .map(|(_, e)| (e.election_id.clone(), e.vote_id.clone()))
            .collect();
        let mut attempt = 0u32;
        let plan = loop {
            let plan = self.plan(st, &accepted, &mut already, last);
            let token = request_token(&st.writer_id, self.partition, first, plan.next_offset, attempt);
            fail::fail_point!("chain_writer::before_transaction", |_| Err("failpoint: before transaction".into()));
            let outcome = self
                .retry("append", || {
                    self.ctx.ledger.append(&plan.votes, &self.ctx.topic, self.partition, st.checkpoint, plan.next_offset, &st.writer_id, &self.ctx.instance, &token)
                })
                .await?;
            let AppendOutcome::ConditionFailed(codes) = outcome else { break plan };
            if read_cancellation(&codes, plan.votes.len(), !crate::chaos::broken_dedup()) == Cancelled::Duplicates && attempt < 3 {
                // Markers exist for vote_ids chained before (by an earlier incarnation or
                // beyond our memory): learn exactly which, then plan again without them.
                metrics::counter!(m::WRITER_REPLANS).increment(1);
                let ids: Vec<(String, String)> = accepted.iter().map(|(_, e)| (e.election_id.clone(), e.vote_id.clone())).collect();
                already.extend(self.retry("check vote_id markers", || self.ctx.ledger.chained_vote_ids(&ids)).await?);
                attempt += 1;
                continue;
            }
            // Our own earlier attempt may have landed (a retried call whose answer was lost).
            let cp = self.retry("re-read checkpoint", || self.ctx.ledger.checkpoint(&self.ctx.topic, self.partition)).await?;
            let ours = cp.as_ref().is_some_and(|c| c.next_offset == plan.next_offset && c.writer_id == st.writer_id);
            if !ours {
                tracing::warn!(partition = self.partition, ?codes, checkpoint = ?cp, expected = ?st.checkpoint, "append condition failed");
                return Ok(false);
            }
            break plan;
        };
        fail::fail_point!("chain_writer::after_transaction", |_| Err("failpoint: after transaction".into()));
        for (k, t) in &plan.tips {
            metrics::gauge!(m::CHAIN_TIP_SEQ, "election" => k.0.clone(), "chain" => k.1.to_string()).set(t.seq as f64);
        }
        st.tips.extend(plan.tips);
        st.checkpoint = Some(plan.next_offset);
        for (v, _) in &plan.votes {
            st.recent.insert(&v.election_id, &v.vote_id);
        }
        metrics::counter!(m::WRITER_VOTES_CHAINED).increment(plan.votes.len() as u64);
        metrics::counter!(m::WRITER_DUPLICATES).increment(plan.duplicates);
        metrics::histogram!(m::WRITER_BATCH_VOTES).record(plan.votes.len() as f64);
        metrics::histogram!(m::WRITER_BATCH_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::gauge!(m::WRITER_CHECKPOINT_OFFSET, "partition" => self.partition.to_string()).set(plan.next_offset as f64);
        // For comparison only (the LagMonitor shows it beside the DynamoDB checkpoint): the
        // readers' group offset. Never read back to decide where to resume.
        let mut tpl = TopicPartitionList::new();
        if tpl.add_partition_offset(&self.ctx.topic, self.partition, Offset::Offset(plan.next_offset)).is_ok() {
            if let Err(e) = st.consumer.commit(&tpl, rdkafka::consumer::CommitMode::Async) {
                tracing::debug!(error = %e, "group offset commit (informational) failed");
            }
        }
        Ok(true)
    }

    /// Plans the batch onto the current tips, skipping the vote_ids in `already`.
    fn plan(&self, st: &ChainWriterState, accepted: &[(i64, VoteEvent)], already: &mut HashSet<(String, String)>, last: i64) -> Plan {
        if !crate::chaos::broken_dedup() {
            return plan_batch(&st.tips, accepted, already, &self.ctx.registry, &self.ctx.topic, self.partition, last);
        }
        // The checker's own test: chain every record, duplicates included.
        already.clear();
        let mut tips = st.tips.clone();
        let mut plan = plan_batch(&tips, &[], already, &self.ctx.registry, &self.ctx.topic, self.partition, last);
        for one in accepted.chunks(1) {
            let p = plan_batch(&tips, one, already, &self.ctx.registry, &self.ctx.topic, self.partition, last);
            tips.extend(p.tips.clone());
            plan.tips.extend(p.tips);
            plan.votes.extend(p.votes);
        }
        plan
    }

    /// Sends an unacceptable record to the dead-letter topic and waits until it is stored;
    /// retries forever (never skips): the checkpoint must not pass a record that went nowhere.
    async fn dead_letter(&self, r: &Record, why: &Invalid) {
        metrics::counter!(m::WRITER_DEAD_LETTERS, "reason" => why.kind()).increment(1);
        tracing::warn!(partition = self.partition, offset = r.offset, reason = %why, "dead-lettering record");
        let key = format!("{}/{}", self.partition, r.offset);
        let reason = why.to_string();
        let mut delay = self.ctx.retry_initial;
        loop {
            let headers = OwnedHeaders::new()
                .insert(Header { key: "votechain-reason", value: Some(why.kind()) })
                .insert(Header { key: "votechain-detail", value: Some(reason.as_str()) })
                .insert(Header { key: "votechain-source", value: Some(key.as_str()) });
            let rec = FutureRecord::to(&self.ctx.dead_letter_topic).key(&key).payload(&r.payload).headers(headers);
            match self.ctx.dead_letters.send(rec, Duration::from_secs(30)).await {
                Ok(_) => return,
                Err((e, _)) => {
                    tracing::warn!(error = %e, "dead-letter produce failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.ctx.retry_max);
                }
            }
        }
    }

    /// Retries a DynamoDB call on throttling, 5xx and transport errors with capped exponential
    /// backoff and jitter, forever: a vote is never skipped. Fatal errors fail the actor.
    async fn retry<T, F, Fut>(&self, what: &'static str, mut f: F) -> Result<T, ActorProcessingErr>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, LedgerError>>,
    {
        let mut delay = self.ctx.retry_initial;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(LedgerError { class: ErrorClass::Retry(kind), detail, .. }) => {
                    metrics::counter!(m::WRITER_DYNAMODB_RETRIES, "error" => kind).increment(1);
                    tracing::debug!(what, kind, %detail, "retrying DynamoDB call");
                    let jitter = rand::random_range(0.5..1.0);
                    tokio::time::sleep(delay.mul_f64(jitter)).await;
                    delay = (delay * 2).min(self.ctx.retry_max);
                }
                Err(e) => return Err(format!("{what}: {e}").into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Election;

    fn reg() -> Registry {
        Registry::new([Election {
            id: "e".into(),
            candidates: ["a".to_string()].into(),
            regions: ["r".to_string()].into(),
            chains: 1,
            open: true,
        }])
    }

    fn ev(n: u32) -> VoteEvent {
        VoteEvent {
            v: 1, election_id: "e".into(), chain: 0, vote_id: format!("00000000-0000-4000-8000-{n:012}"),
            candidate_id: "a".into(), region_id: "r".into(), cast_at_ms: n as i64,
        }
    }

    #[test]
    fn a_plan_links_in_order_and_skips_duplicates() {
        let accepted = vec![(10, ev(1)), (11, ev(2)), (12, ev(1)), (13, ev(3))];
        let already = HashSet::from([("e".to_string(), ev(3).vote_id)]);
        let plan = plan_batch(&HashMap::new(), &accepted, &already, &reg(), "votes", 0, 13);
        assert_eq!(plan.duplicates, 2);
        assert_eq!(plan.next_offset, 14);
        let seqs: Vec<u64> = plan.votes.iter().map(|(v, _)| v.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        assert_eq!(plan.votes[0].0.prev_hash, chain::genesis("e", 0));
        assert_eq!(plan.votes[1].0.prev_hash, plan.votes[0].0.hash);
        assert_eq!(plan.votes[1].0.kafka_offset, 11);
        assert_eq!(plan.tips[&("e".to_string(), 0)].hash, plan.votes[1].0.hash);
    }

    #[test]
    fn a_plan_continues_from_the_given_tip_and_is_deterministic() {
        let tip = Tip { seq: 41, hash: [7; 32] };
        let tips = HashMap::from([(("e".to_string(), 0), tip)]);
        let a = plan_batch(&tips, &[(5, ev(9))], &HashSet::new(), &reg(), "votes", 3, 5);
        let b = plan_batch(&tips, &[(5, ev(9))], &HashSet::new(), &reg(), "votes", 3, 5);
        assert_eq!(a, b);
        assert_eq!(a.votes[0].0.seq, 42);
        assert_eq!(a.votes[0].0.prev_hash, [7; 32]);
    }

    #[test]
    fn request_tokens_differ_by_incarnation_and_range() {
        let t = request_token("w1", 0, 1, 5, 0);
        assert_eq!(t.len(), 32);
        assert_eq!(t, request_token("w1", 0, 1, 5, 0));
        assert_ne!(t, request_token("w2", 0, 1, 5, 0));
        assert_ne!(t, request_token("w1", 0, 1, 6, 0));
        assert_ne!(t, request_token("w1", 0, 1, 5, 1), "a re-plan is another transaction");
    }

    #[test]
    fn recent_ids_remember_the_newest_and_forget_the_oldest() {
        let mut r = RecentIds::new(2);
        r.insert("e", "a");
        r.insert("e", "b");
        r.insert("e", "b");
        assert_eq!(r.len(), 2);
        assert!(r.contains("e", "a") && r.contains("e", "b"));
        assert!(!r.contains("f", "a"), "keyed by election too");
        r.insert("e", "c");
        assert!(!r.contains("e", "a") && r.contains("e", "b") && r.contains("e", "c"));
        let mut off = RecentIds::new(0);
        off.insert("e", "a");
        assert!(!off.contains("e", "a") && off.is_empty());
    }

    fn codes(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cancellation_reasons_tell_duplicates_from_a_moved_checkpoint() {
        const F: &str = "ConditionalCheckFailed";
        // 2 votes: [item, marker, item, marker, checkpoint]
        assert_eq!(read_cancellation(&codes(&["None", "None", "None", F, "None"]), 2, true), Cancelled::Duplicates);
        assert_eq!(read_cancellation(&codes(&["None", F, "None", F, F]), 2, true), Cancelled::Checkpoint);
        assert_eq!(read_cancellation(&codes(&[F, F, F, F, F]), 2, true), Cancelled::Checkpoint, "our own landed attempt");
        assert_eq!(read_cancellation(&codes(&[F, "None", "None", "None", "None"]), 2, true), Cancelled::Checkpoint, "a seq taken: not a duplicate");
        assert_eq!(read_cancellation(&codes(&["None", F]), 2, true), Cancelled::Checkpoint, "reasons that do not match the request");
        assert_eq!(read_cancellation(&codes(&["None", "None", F]), 2, false), Cancelled::Checkpoint);
    }
}
