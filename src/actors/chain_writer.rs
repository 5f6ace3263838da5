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

use crate::dynamo::ErrorClass;
use crate::dynamo::items;
use crate::dynamo::ledger::{AppendOutcome, Ledger, LedgerError};
use crate::metrics as m;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use votechain_core::chain::Tip;
use votechain_core::linking::{
    Cancelled, ChainKey, Chained, Plan, RecentIds, Record, contested, plan_batch,
    read_cancellation, request_token,
};
use votechain_core::model::{Invalid, Registry, VoteEvent, accept_event};

/// What every ChainWriter of a process shares (immutable).
pub struct WriterCtx {
    /// This pod's node instance id (recorded in checkpoints).
    pub instance: String,
    pub consumer_config: ClientConfig,
    pub topic: String,
    pub dead_letter_topic: String,
    pub registry: Registry,
    /// Ingest's signature keys, when events must carry one (`provenance`).
    pub provenance: Option<std::collections::BTreeMap<String, Vec<u8>>>,
    /// The partitions the config names (`model::partition_of`).
    pub partitions: u32,
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
    pub fn new(
        cfg: &crate::config::Config,
        ledger: Ledger,
    ) -> Result<WriterCtx, rdkafka::error::KafkaError> {
        Ok(WriterCtx {
            instance: cfg.node.instance_id.clone(),
            consumer_config: crate::kafka::partition_consumer_config(
                &cfg.kafka,
                &format!("{}-readers", cfg.writer.group_id),
            ),
            topic: cfg.kafka.votes_topic.clone(),
            dead_letter_topic: cfg.kafka.dead_letter_topic.clone(),
            registry: cfg.registry(),
            provenance: cfg.provenance.keys(),
            partitions: cfg.kafka.partitions,
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

pub struct ChainWriterState {
    pub writer_id: String,
    consumer: Arc<StreamConsumer>,
    /// The checkpoint as this writer last wrote or read it; `None`: the partition was never written.
    pub checkpoint: Option<i64>,
    pub tips: HashMap<ChainKey, Tip>,
    /// vote_ids this incarnation has chained, newest last (a shortcut for resubmissions).
    pub recent: RecentIds,
}

/// Consumer errors librdkafka recovers from by itself (connectivity). Anything else, e.g.
/// an out-of-range offset (`auto.offset.reset=error`), fails the writer loudly.
fn is_transient(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::AllBrokersDown
                | C::BrokerTransportFailure
                | C::NetworkException
                | C::RequestTimedOut
                | C::OperationTimedOut
                | C::NotLeaderForPartition
                | C::LeaderNotAvailable
                | C::Resolve
                | C::TimedOutQueue
        )
    )
}

impl Actor for ChainWriter {
    type Msg = ChainWriterMsg;
    type State = ChainWriterState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<ChainWriterMsg>,
        _: (),
    ) -> Result<ChainWriterState, ActorProcessingErr> {
        let writer_id = uuid::Uuid::new_v4().to_string();
        // Checkpoint first, tips later (lazily): any write by another writer after this read
        // makes our first append fail its checkpoint condition, so stale tips never link.
        let cp = self
            .retry("read checkpoint", || {
                self.ctx.ledger.checkpoint(&self.ctx.topic, self.partition)
            })
            .await?;
        let consumer: Arc<StreamConsumer> = Arc::new(self.ctx.consumer_config.create()?);
        let (topic, p, cons) = (self.ctx.topic.clone(), self.partition, consumer.clone());
        let (t2, p2) = (topic.clone(), p);
        let marks = tokio::task::spawn_blocking(move || {
            cons.fetch_watermarks(&t2, p2, Duration::from_secs(10))
        })
        .await?;
        match marks {
            Ok((low, high)) => {
                if let Err(refusal) = start_check(cp.as_ref().map(|c| c.next_offset), low, high) {
                    if matches!(refusal, StartRefusal::Gap { .. }) {
                        metrics::counter!(m::WRITER_LOG_GAPS).increment(1);
                    }
                    tracing::error!(%topic, partition = p, low_watermark = low, high_watermark = high, error = %refusal, "refusing to write this partition");
                    return Err(format!("{topic}/{p}: {refusal}").into());
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read watermarks at start; continuing from the checkpoint")
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

    async fn handle(
        &self,
        myself: ActorRef<ChainWriterMsg>,
        msg: ChainWriterMsg,
        st: &mut ChainWriterState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ChainWriterMsg::Poll => {
                if crate::supervision::orphaned(&myself.get_cell()) {
                    myself.stop(Some("orphaned".into()));
                    return Ok(());
                }
                let batch = self.read_batch(&st.consumer).await?;
                if !batch.is_empty() {
                    crate::failpoint!(
                        "chain_writer::between_batches",
                        Err("failpoint: between batches".into())
                    );
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
    /// The event, if it is on its chain's partition; a record elsewhere (a producer that is
    /// not ingest, or partitions added under the topic) is refused: another writer may be
    /// chaining that chain.
    fn on_its_partition(&self, ev: VoteEvent) -> Result<VoteEvent, Invalid> {
        let want =
            votechain_core::model::partition_of(&ev.election_id, ev.chain, self.ctx.partitions);
        if want == self.partition {
            Ok(ev)
        } else {
            Err(Invalid::WrongPartition {
                got: self.partition,
                want,
            })
        }
    }

    /// Waits up to 200 ms for a first record, then gathers more for `linger` up to `batch_max`.
    async fn read_batch(
        &self,
        consumer: &StreamConsumer,
    ) -> Result<Vec<Record>, ActorProcessingErr> {
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
        out.push(crate::kafka::record_of(&first));
        let deadline = tokio::time::Instant::now() + self.ctx.linger;
        while out.len() < self.ctx.batch_max {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Err(_) => break,
                Ok(Err(e)) if is_transient(&e) => break,
                Ok(r) => {
                    out.push(crate::kafka::record_of(&r?));
                }
            }
        }
        metrics::counter!(m::WRITER_RECORDS).increment(out.len() as u64);
        Ok(out)
    }

    /// Chains one batch. `Ok(false)`: fenced by another writer.
    async fn write_batch(
        &self,
        st: &mut ChainWriterState,
        batch: Vec<Record>,
    ) -> Result<bool, ActorProcessingErr> {
        let started = Instant::now();
        let first = batch[0].offset;
        let last = batch[batch.len() - 1].offset;
        let mut accepted = Vec::with_capacity(batch.len());
        for r in &batch {
            let authentic = match &self.ctx.provenance {
                Some(keys) => {
                    votechain_core::provenance::verify(r.mac.as_deref(), keys, &r.payload)
                }
                None => Ok(()),
            };
            let decided = authentic
                .and_then(|()| accept_event(&self.ctx.registry, &r.payload))
                .and_then(|ev| self.on_its_partition(ev));
            match decided {
                Ok(ev) => accepted.push((r.offset, ev)),
                Err(why) => self.dead_letter(r, &why).await,
            }
        }
        // Tips of chains this incarnation has not touched yet, read consistently.
        let missing: HashSet<ChainKey> = accepted
            .iter()
            .map(|(_, e)| (e.election_id.clone(), e.chain))
            .filter(|k| !st.tips.contains_key(k))
            .collect();
        for key in missing {
            // Accepted events name a served election (`accept_event`).
            let Some(e) = self.ctx.registry.get(&key.0) else {
                continue;
            };
            let tip = self
                .retry("load chain tip", || self.ctx.ledger.tip(e, key.1))
                .await?;
            st.tips.insert(key, tip);
        }
        // Optimistic: no read before the write. Duplicates this writer chained recently are
        // skipped from memory; any other one fails its marker's condition, and only then do
        // we read the markers (consistently) and plan again. One round trip in the common case.
        let mut already: Chained = accepted
            .iter()
            .filter_map(|(_, e)| {
                let choice = st.recent.get(&e.election_id, &e.vote_id)?;
                Some(((e.election_id.clone(), e.vote_id.clone()), Some(choice)))
            })
            .collect();
        // A vote_id sent with two choices in this batch: learn first whether it was chained
        // before, so that every conflict a plan declares is final (see `linking::contested`).
        let contested = contested(&accepted, &already);
        if !contested.is_empty() {
            let found = self
                .retry("check contested vote_id markers", || {
                    self.ctx.ledger.chained_vote_ids(&contested)
                })
                .await?;
            already.extend(found);
        }
        // Conflicts are dead-lettered before the transaction that moves the checkpoint past
        // them, once per offset even when the batch is planned again.
        let mut conflicted: HashSet<i64> = HashSet::new();
        let mut attempt = 0u32;
        let plan = loop {
            let plan = self.plan(st, &accepted, &already, last);
            for off in plan.conflicts.iter().filter(|o| conflicted.insert(**o)) {
                self.dead_letter_conflict(&batch, &accepted, *off).await?;
            }
            let token = request_token(
                &st.writer_id,
                self.partition,
                first,
                plan.next_offset,
                attempt,
            );
            // Every retry of this token sends the identical request (the stamp included).
            let stamped_at_ms = crate::now_ms();
            crate::failpoint!(
                "chain_writer::before_transaction",
                Err("failpoint: before transaction".into())
            );
            let outcome = self
                .retry("append", || {
                    self.ctx.ledger.append(
                        &plan.votes,
                        &self.ctx.topic,
                        self.partition,
                        st.checkpoint,
                        plan.next_offset,
                        &st.writer_id,
                        &self.ctx.instance,
                        &token,
                        stamped_at_ms,
                    )
                })
                .await?;
            let AppendOutcome::ConditionFailed(codes) = outcome else {
                break plan;
            };
            if read_cancellation(&codes, plan.votes.len()) == Cancelled::Duplicates && attempt < 3 {
                // Markers exist for vote_ids chained before (by an earlier incarnation or
                // beyond our memory): learn exactly which, then plan again without them.
                metrics::counter!(m::WRITER_REPLANS).increment(1);
                let ids: Vec<(String, String)> = accepted
                    .iter()
                    .map(|(_, e)| (e.election_id.clone(), e.vote_id.clone()))
                    .collect();
                already.extend(
                    self.retry("check vote_id markers", || {
                        self.ctx.ledger.chained_vote_ids(&ids)
                    })
                    .await?,
                );
                attempt += 1;
                continue;
            }
            // Our own earlier attempt may have landed (a retried call whose answer was lost).
            let cp = self
                .retry("re-read checkpoint", || {
                    self.ctx.ledger.checkpoint(&self.ctx.topic, self.partition)
                })
                .await?;
            let ours = cp
                .as_ref()
                .is_some_and(|c| c.next_offset == plan.next_offset && c.writer_id == st.writer_id);
            if !ours {
                tracing::warn!(partition = self.partition, ?codes, checkpoint = ?cp, expected = ?st.checkpoint, "append condition failed");
                return Ok(false);
            }
            break plan;
        };
        crate::failpoint!(
            "chain_writer::after_transaction",
            Err("failpoint: after transaction".into())
        );
        for (k, t) in &plan.tips {
            metrics::gauge!(m::CHAIN_TIP_SEQ, "election" => k.0.clone(), "chain" => k.1.to_string()).set(t.seq as f64);
        }
        st.tips.extend(plan.tips);
        st.checkpoint = Some(plan.next_offset);
        for (v, _) in &plan.votes {
            st.recent
                .insert(&v.election_id, &v.vote_id, items::choice_of_item(v));
        }
        metrics::counter!(m::WRITER_VOTES_CHAINED).increment(plan.votes.len() as u64);
        metrics::counter!(m::WRITER_DUPLICATES).increment(plan.duplicates);
        metrics::histogram!(m::WRITER_BATCH_VOTES).record(plan.votes.len() as f64);
        metrics::histogram!(m::WRITER_BATCH_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::gauge!(m::WRITER_CHECKPOINT_OFFSET, "partition" => self.partition.to_string())
            .set(plan.next_offset as f64);
        // For comparison only (the LagMonitor shows it beside the DynamoDB checkpoint): the
        // readers' group offset. Never read back to decide where to resume.
        let mut tpl = TopicPartitionList::new();
        if tpl
            .add_partition_offset(
                &self.ctx.topic,
                self.partition,
                Offset::Offset(plan.next_offset),
            )
            .is_ok()
            && let Err(e) = st
                .consumer
                .commit(&tpl, rdkafka::consumer::CommitMode::Async)
        {
            tracing::debug!(error = %e, "group offset commit (informational) failed");
        }
        Ok(true)
    }

    /// Plans the batch onto the current tips, skipping the vote_ids in `already`.
    fn plan(
        &self,
        st: &ChainWriterState,
        accepted: &[(i64, VoteEvent)],
        already: &Chained,
        last: i64,
    ) -> Plan {
        plan_batch(
            &st.tips,
            accepted,
            already,
            &self.ctx.registry,
            &self.ctx.topic,
            self.partition,
            last,
        )
    }

    /// Dead-letters the record at `offset` of the batch as a conflict (another ballot under
    /// a chained vote_id), counted in `votechain_writer_conflicts_total`, and records the
    /// refusal beside the vote (`REFUSED#` item: a count and times, never the choice), so
    /// that the vote's receipt can say that later ballots under its vote_id were refused.
    async fn dead_letter_conflict(
        &self,
        batch: &[Record],
        accepted: &[(i64, VoteEvent)],
        offset: i64,
    ) -> Result<(), ActorProcessingErr> {
        let record = batch.iter().find(|r| r.offset == offset);
        let event = accepted.iter().find(|(o, _)| *o == offset);
        let (Some(r), Some((_, ev))) = (record, event) else {
            return Ok(());
        };
        metrics::counter!(m::WRITER_CONFLICTS).increment(1);
        self.dead_letter(r, &Invalid::Conflict(ev.vote_id.clone()))
            .await;
        self.retry("record a refused resubmission", || {
            self.ctx
                .ledger
                .record_refusal(&ev.election_id, &ev.vote_id, offset, ev.cast_at_ms)
        })
        .await
    }

    /// Sends an unacceptable record to the dead-letter topic and waits until it is stored;
    /// retries forever (never skips): the checkpoint must not pass a record that went nowhere.
    async fn dead_letter(&self, r: &Record, why: &Invalid) {
        metrics::counter!(m::WRITER_DEAD_LETTERS, "reason" => why.kind()).increment(1);
        // The reason's kind only: its text may name a candidate or region (a choice).
        tracing::warn!(
            partition = self.partition,
            offset = r.offset,
            reason = why.kind(),
            "dead-lettering record"
        );
        let key = format!("{}/{}", self.partition, r.offset);
        let reason = why.to_string();
        let mut delay = self.ctx.retry_initial;
        loop {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "votechain-reason",
                    value: Some(why.kind()),
                })
                .insert(Header {
                    key: "votechain-detail",
                    value: Some(reason.as_str()),
                })
                .insert(Header {
                    key: "votechain-source",
                    value: Some(key.as_str()),
                });
            let rec = FutureRecord::to(&self.ctx.dead_letter_topic)
                .key(&key)
                .payload(&r.payload)
                .headers(headers);
            match self
                .ctx
                .dead_letters
                .send(rec, Duration::from_secs(30))
                .await
            {
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
                Err(LedgerError {
                    class: ErrorClass::Retry(kind),
                    detail,
                    ..
                }) => {
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

/// Why a partition's writer must not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartRefusal {
    /// A checkpoint past the end of the log: the topic was recreated under a live ledger
    /// (its offsets now name other records).
    #[error(
        "checkpoint {checkpoint} > high watermark {high}: the votes topic does not match this ledger (recreated?)"
    )]
    Recreated { checkpoint: i64, high: i64 },
    /// Records not yet chained are gone from the log (retention, or a topic that existed
    /// with its own): starting at the log's start would skip acknowledged votes silently.
    #[error(
        "offsets {from}..{to} were deleted from the log before they were chained (retention.ms must be -1): acknowledged votes may be lost; not skipping them"
    )]
    Gap { from: i64, to: i64 },
}

/// Whether a writer may start reading a partition at its checkpoint (`None`: the
/// beginning), given the partition's low and high watermarks: pure, unit-tested.
pub fn start_check(checkpoint: Option<i64>, low: i64, high: i64) -> Result<(), StartRefusal> {
    let from = checkpoint.unwrap_or(0);
    match checkpoint {
        Some(c) if c > high => Err(StartRefusal::Recreated {
            checkpoint: c,
            high,
        }),
        _ if low > from => Err(StartRefusal::Gap { from, to: low }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_never_skips_deleted_records_nor_writes_a_recreated_topic() {
        // Fresh partition, nothing deleted; a checkpoint inside the log.
        assert_eq!(start_check(None, 0, 0), Ok(()));
        assert_eq!(start_check(None, 0, 500), Ok(()));
        assert_eq!(start_check(Some(300), 200, 500), Ok(()));
        assert_eq!(start_check(Some(500), 500, 500), Ok(()));
        // Records deleted before they were chained: from the start, or past the checkpoint.
        assert_eq!(
            start_check(None, 120, 500),
            Err(StartRefusal::Gap { from: 0, to: 120 })
        );
        assert_eq!(
            start_check(Some(100), 120, 500),
            Err(StartRefusal::Gap { from: 100, to: 120 })
        );
        // A checkpoint beyond the end: another topic under this ledger.
        assert_eq!(
            start_check(Some(600), 0, 500),
            Err(StartRefusal::Recreated {
                checkpoint: 600,
                high: 500
            })
        );
    }
}
