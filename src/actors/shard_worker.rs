//! `ShardWorker`: applies one DynamoDB Streams shard of the ledger to the read model.
//!
//! Messages: `Poll` (sent to itself: read records, apply, poll again; after `idle` when the
//! shard had nothing new).
//! State: the shard iterator, the last applied sequence number (the checkpoint), and the
//! next GetRecords call, issued as soon as a batch is read so that it runs while the batch
//! is applied (reading and applying overlap; what is read is still applied in order, one
//! batch at a time, and a prefetch is dropped, aborted, whenever the iterator changes).
//! Behind a backlog (reads come back full), up to `projector.carry_reads` (10) reads made
//! within `CARRY_AGE` are applied together: one read-model transaction per ten thousand
//! records instead of per thousand (the deltas aggregate by counter, so the transaction does not
//! grow). Carried records are after the checkpoint; any repositioning drops them, to be
//! read again (or marked lost, as any record after the checkpoint would be).
//! Exactly once: each batch's count deltas AND the shard's checkpoint go in ONE
//! `TransactWriteItems`, conditioned on the lease still being ours at the counter we hold
//! (`held`, kept current by the coordinator's renewals). A worker whose lease was taken
//! cannot apply; a batch re-read after failover starts after the committed checkpoint.
//! A closed shard read to its end is checkpointed `SHARD_END` and the worker stops
//! ("shard_end"). Expired iterators are renewed from the last sequence number. Lost records
//! are never passed silently: `TrimmedDataAccessException` after a checkpoint (resume at
//! the trim horizon) and `ResourceNotFoundException` (the shard left the stream: treated as
//! ended, as KCL's adapter does) are counted, logged and durably marked "needs replay"
//! (`projector::loss`) before the worker reads on.
//! Supervised by: the `LeaseCoordinator` (restarted while the lease is held).
//! Metrics: `votechain_projector_{records_applied,batches_applied,trimmed_data,lease_conflicts}_total`,
//! `votechain_projector_step_seconds{step}` (waiting for GetRecords, applying),
//! `votechain_projector_records_lost_total{reason}`,
//! `votechain_projector_stream_lag_seconds`, `votechain_projector_apply_delay_seconds`.

use crate::dynamo::items::VoteItem;
use crate::dynamo::{ErrorClass, retryable_code};
use crate::metrics as m;
use crate::projector::lease::{Figures, LeaseTable, SHARD_END, TRIM_HORIZON};
use crate::projector::loss::{self, LossReason};
use crate::projector::projection::{self, Projection};
use crate::projector::results::{self, Deltas};
use crate::projector::stream::{self, StreamError};
use aws_sdk_dynamodb::types::TransactWriteItem;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Immutable context shared by a projector's actors.
#[derive(Clone)]
pub struct ProjectorCtx {
    pub worker_id: String,
    pub leases: LeaseTable,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub db: aws_sdk_dynamodb::Client,
    pub results_table: String,
    pub failover: Duration,
    pub max_records: i32,
    /// Full reads applied together behind a backlog (`projector.carry_reads`).
    pub carry_reads: usize,
    pub idle: Duration,
    /// How long the stream keeps records (a first start on an older stream needs a replay).
    pub retention: Duration,
    /// The elections this projector counts, from their manifests: a vote item outside them
    /// (election, chain, candidate, region) is never counted.
    pub registry: Arc<votechain_core::model::Registry>,
}

pub struct ShardWorker {
    pub ctx: Arc<ProjectorCtx>,
    pub shard: String,
    /// The lease counter we hold; the coordinator updates it on every renewal.
    pub held: Arc<AtomicI64>,
    /// This worker's view of its shard; the coordinator writes it with each renewal.
    pub figures: Arc<SharedFigures>,
}

/// [`Figures`] shared between a worker (writes after each read) and its coordinator (sends
/// them with each renewal).
#[derive(Debug, Default)]
pub struct SharedFigures {
    lag_ms: AtomicI64,
    pending: AtomicI64,
    at_ms: AtomicI64,
}

impl SharedFigures {
    pub fn set(&self, f: Figures) {
        self.lag_ms.store(f.lag_ms, Ordering::Relaxed);
        self.pending.store(f.pending, Ordering::Relaxed);
        self.at_ms.store(f.at_ms, Ordering::Relaxed);
    }
    pub fn get(&self) -> Figures {
        Figures {
            lag_ms: self.lag_ms.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Relaxed),
            at_ms: self.at_ms.load(Ordering::Relaxed),
        }
    }
}

pub enum ShardWorkerMsg {
    Poll,
}

/// Full reads behind a backlog are applied together if read within this long (then
/// applied, full or not).
const CARRY_AGE: Duration = Duration::from_millis(500);

/// A GetRecords call issued ahead for `iterator`; aborted when dropped.
struct Prefetch {
    iterator: String,
    task: tokio::task::JoinHandle<Result<stream::Batch, StreamError>>,
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct ShardWorkerState {
    iterator: Option<String>,
    prefetch: Option<Prefetch>,
    /// Records read, not yet applied (all after `checkpoint`), and when the first was read.
    carry: Vec<aws_sdk_dynamodbstreams::types::Record>,
    carry_since: Option<std::time::Instant>,
    checkpoint: String,
    backoff: Duration,
    /// The active-projection pointer as last read; refreshed when a batch's guard fails.
    projection: Option<Projection>,
}

/// Why a worker stopped on its own.
pub const STOP_SHARD_END: &str = "shard_end";
pub const STOP_LEASE_LOST: &str = "lease_lost";
/// Told to stop by the coordinator: the shard hashes to another worker now.
pub const STOP_HANDOFF: &str = "handoff";

enum Applied {
    Ok,
    LeaseLost,
}

impl Actor for ShardWorker {
    type Msg = ShardWorkerMsg;
    type State = ShardWorkerState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<ShardWorkerMsg>,
        _: (),
    ) -> Result<ShardWorkerState, ActorProcessingErr> {
        let lease = self
            .ctx
            .leases
            .get(&self.shard)
            .await?
            .ok_or_else(|| format!("no lease for shard {}", self.shard))?;
        if lease.owner.as_deref() != Some(&self.ctx.worker_id) {
            myself.stop(Some(STOP_LEASE_LOST.into()));
            return Ok(ShardWorkerState {
                iterator: None,
                prefetch: None,
                carry: vec![],
                carry_since: None,
                checkpoint: lease.checkpoint,
                backoff: Duration::ZERO,
                projection: None,
            });
        }
        if lease.checkpoint == SHARD_END {
            myself.stop(Some(STOP_SHARD_END.into()));
            return Ok(ShardWorkerState {
                iterator: None,
                prefetch: None,
                carry: vec![],
                carry_since: None,
                checkpoint: lease.checkpoint,
                backoff: Duration::ZERO,
                projection: None,
            });
        }
        let mut st = ShardWorkerState {
            iterator: None,
            prefetch: None,
            carry: vec![],
            carry_since: None,
            checkpoint: lease.checkpoint,
            backoff: Duration::from_millis(50),
            projection: None,
        };
        self.reposition(&mut st).await?;
        tracing::info!(shard = %self.shard, checkpoint = %st.checkpoint, "shard worker started");
        myself.send_message(ShardWorkerMsg::Poll)?;
        Ok(st)
    }

    async fn handle(
        &self,
        myself: ActorRef<ShardWorkerMsg>,
        _: ShardWorkerMsg,
        st: &mut ShardWorkerState,
    ) -> Result<(), ActorProcessingErr> {
        if crate::supervision::orphaned(&myself.get_cell()) {
            myself.stop(Some("orphaned".into()));
            return Ok(());
        }
        let Some(iter) = st.iterator.clone() else {
            // Read to the end before: make sure SHARD_END is recorded, then stop.
            return self.finish(&myself, st, &[]).await;
        };
        let waited = std::time::Instant::now();
        let read = match st.prefetch.take() {
            Some(mut p) if p.iterator == iter => (&mut p.task).await?,
            _ => stream::records(&self.ctx.streams, &iter, self.ctx.max_records).await,
        };
        metrics::histogram!(m::PROJECTOR_STEP_SECONDS, "step" => "read")
            .record(waited.elapsed().as_secs_f64());
        let carried = !st.carry.is_empty();
        if read.is_err() && !matches!(read, Err(StreamError::Retry { .. })) {
            // Repositioned below (or restarted): carried records are read again from the
            // checkpoint, or marked lost with the rest.
            st.carry.clear();
            st.carry_since = None;
        }
        let (recs, next) = match read {
            Ok(r) => r,
            Err(StreamError::IteratorExpired) => {
                tracing::info!(shard = %self.shard, "iterator expired; renewing from the checkpoint");
                self.reposition(st).await?;
                myself.send_message(ShardWorkerMsg::Poll)?;
                return Ok(());
            }
            Err(StreamError::Trimmed(detail)) if st.checkpoint == TRIM_HORIZON && !carried => {
                // Nothing applied yet, so nothing can have been missed (DynamoDB Local says this of
                // a trim-horizon iterator taken while the shard was empty).
                tracing::debug!(shard = %self.shard, %detail, "trim-horizon iterator went stale; taking a new one");
                self.reposition(st).await?;
                myself.send_message(ShardWorkerMsg::Poll)?;
                return Ok(());
            }
            Err(StreamError::Trimmed(detail)) => {
                self.lost(LossReason::Trimmed, &st.checkpoint, &detail)
                    .await?;
                st.iterator = self.iterator_at(TRIM_HORIZON).await?;
                myself.send_message(ShardWorkerMsg::Poll)?;
                return Ok(());
            }
            Err(StreamError::Gone(detail)) => {
                self.lost(LossReason::ShardGone, &st.checkpoint, &detail)
                    .await?;
                st.iterator = None;
                myself.send_message(ShardWorkerMsg::Poll)?;
                return Ok(());
            }
            Err(StreamError::Retry { op, detail }) => {
                tracing::debug!(shard = %self.shard, op, %detail, "streams throttled; backing off");
                myself.send_after(st.backoff, || ShardWorkerMsg::Poll);
                st.backoff = (st.backoff * 2).min(Duration::from_secs(5));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        st.backoff = Duration::from_millis(50);
        if let Some(n) = next.as_ref().filter(|_| !recs.is_empty()) {
            let (c, it, limit) = (self.ctx.streams.clone(), n.clone(), self.ctx.max_records);
            st.prefetch = Some(Prefetch {
                iterator: n.clone(),
                task: tokio::spawn(async move { stream::records(&c, &it, limit).await }),
            });
        }
        let now = crate::now_ms();
        self.figures.set(Figures {
            lag_ms: stream::oldest_written_ms(&recs).map_or(0, |c| (now - c).max(0)),
            pending: recs.len() as i64,
            at_ms: now,
        });
        let (max, reads) = (self.ctx.max_records, self.ctx.carry_reads);
        if carry_on(recs.len(), max, reads, next.is_some(), st) {
            st.carry.extend(recs);
            st.iterator = next;
            myself.send_message(ShardWorkerMsg::Poll)?;
            return Ok(());
        }
        let recs = if st.carry.is_empty() {
            recs
        } else {
            let mut all = std::mem::take(&mut st.carry);
            all.extend(recs);
            all
        };
        st.carry_since = None;
        let applying = std::time::Instant::now();
        // (index in recs, vote) for every vote insert the manifests admit; other items
        // (markers, checkpoints) are skipped, tampering is counted and never applied.
        let votes: Vec<(usize, VoteItem)> = recs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| self.countable(r).map(|v| (i, v)))
            .collect();
        let only: Vec<VoteItem> = votes.iter().map(|(_, v)| v.clone()).collect();
        let mut ranges = results::split(&only, 96);
        let closing = next.is_none();
        // The last range's checkpoint covers every record of the call, votes or not.
        let tail = ranges.pop().unwrap_or(0..0);
        for r in ranges {
            let seq = stream::seq_of(&recs[votes[r.end - 1].0])
                .unwrap_or_default()
                .to_string();
            if let Applied::LeaseLost = self.apply(st, &only[r], &seq).await? {
                return self.lease_lost(&myself);
            }
            st.checkpoint = seq;
        }
        if closing {
            st.iterator = None;
            return self.finish(&myself, st, &only[tail]).await;
        }
        if let Some(seq) = recs.last().and_then(stream::seq_of).map(String::from) {
            if let Applied::LeaseLost = self.apply(st, &only[tail], &seq).await? {
                return self.lease_lost(&myself);
            }
            crate::failpoint!(
                "shard_worker::after_apply_before_checkpoint",
                Err("failpoint: after apply".into())
            );
            st.checkpoint = seq;
            metrics::histogram!(m::PROJECTOR_STEP_SECONDS, "step" => "apply")
                .record(applying.elapsed().as_secs_f64());
            metrics::counter!(m::PROJECTOR_RECORDS).increment(votes.len() as u64);
            metrics::counter!(m::PROJECTOR_BATCHES).increment(1);
            if let Some(created) = stream::newest_written_ms(&recs) {
                metrics::gauge!(m::PROJECTOR_STREAM_LAG)
                    .set(((crate::now_ms() - created).max(0) as f64) / 1000.0);
            }
            if let Some((_, v)) = votes.last() {
                metrics::histogram!(m::PROJECTOR_APPLY_DELAY)
                    .record(((crate::now_ms() - v.cast_at_ms).max(0) as f64) / 1000.0);
            }
        } else {
            metrics::gauge!(m::PROJECTOR_STREAM_LAG).set(0.0);
        }
        st.iterator = next;
        if recs.is_empty() {
            myself.send_after(self.ctx.idle, || ShardWorkerMsg::Poll);
        } else {
            myself.send_message(ShardWorkerMsg::Poll)?;
        }
        Ok(())
    }
}

/// Whether a read of `n` records (of `max` asked) is carried to be applied with the next:
/// only when it came back full (a backlog), the shard goes on, and the carry is neither
/// full nor old. Starts the carry's clock.
fn carry_on(n: usize, max: i32, reads: usize, more: bool, st: &mut ShardWorkerState) -> bool {
    let full = n > 0 && n as i64 >= max as i64;
    let young = st.carry_since.is_none_or(|t| t.elapsed() < CARRY_AGE);
    let room = st.carry.len() + n < reads * max.max(1) as usize;
    if !(full && more && young && room) {
        return false;
    }
    st.carry_since.get_or_insert_with(std::time::Instant::now);
    true
}

impl ShardWorker {
    /// The vote a record inserted, if it is one to count. The tripwire: a vote item
    /// modified or removed (the ledger is append-only), or inserted outside its election's
    /// manifest, is never counted, is counted in `votechain_ledger_mutations_total{kind}`
    /// (critical alert), and logged by its keys (never its choice).
    fn countable(&self, r: &aws_sdk_dynamodbstreams::types::Record) -> Option<VoteItem> {
        if let Some(kind) = stream::mutation_of(r) {
            metrics::counter!(m::LEDGER_MUTATIONS, "kind" => kind).increment(1);
            let keys = r.dynamodb().and_then(|d| d.keys());
            let key = |k: &str| {
                keys.and_then(|m| m.get(k))
                    .and_then(|v| v.as_s().ok())
                    .cloned()
            };
            tracing::error!(shard = %self.shard, kind, pk = ?key("pk"), sk = ?key("sk"),
                "LEDGER TAMPERING: a vote item was changed or deleted in DynamoDB; not counted. `votechain verify` and `votechain audit` name the chain.");
            return None;
        }
        match stream::vote_of(r)? {
            Ok(v) => match stream::outside_manifest(&self.ctx.registry, &v) {
                None => Some(v),
                Some(why) => {
                    metrics::counter!(m::LEDGER_MUTATIONS, "kind" => "outside_manifest")
                        .increment(1);
                    tracing::error!(shard = %self.shard, election = %v.election_id, chain = v.chain, seq = v.seq, why,
                        "LEDGER TAMPERING: a vote item outside its election's manifest; not counted");
                    None
                }
            },
            Err(e) => {
                metrics::counter!(m::PROJECTOR_UNREADABLE).increment(1);
                tracing::error!(shard = %self.shard, error = %e, "unreadable vote item on the stream; `votechain verify` will name it");
                None
            }
        }
    }

    /// Applies the last votes of a closed shard with checkpoint `SHARD_END`, then stops.
    async fn finish(
        &self,
        myself: &ActorRef<ShardWorkerMsg>,
        st: &mut ShardWorkerState,
        votes: &[VoteItem],
    ) -> Result<(), ActorProcessingErr> {
        if let Applied::LeaseLost = self.apply(st, votes, SHARD_END).await? {
            return self.lease_lost(myself);
        }
        st.checkpoint = SHARD_END.into();
        tracing::info!(shard = %self.shard, "shard read to its end; checkpointed SHARD_END");
        myself.stop(Some(STOP_SHARD_END.into()));
        Ok(())
    }

    /// An iterator after the checkpoint. Records lost on the way are marked first: trimmed
    /// ones (resume at the trim horizon), or the whole shard gone (`None`: treated as ended,
    /// so the next poll checkpoints `SHARD_END` and the children can proceed).
    async fn reposition(&self, st: &mut ShardWorkerState) -> Result<(), ActorProcessingErr> {
        st.iterator = match self.iterator_at(&st.checkpoint).await {
            Ok(it) => it,
            Err(StreamError::Trimmed(detail)) if st.checkpoint != TRIM_HORIZON => {
                self.lost(LossReason::Trimmed, &st.checkpoint, &detail)
                    .await?;
                self.iterator_at(TRIM_HORIZON).await?
            }
            Err(StreamError::Gone(detail)) => {
                self.lost(LossReason::ShardGone, &st.checkpoint, &detail)
                    .await?;
                None
            }
            Err(e) => return Err(e.into()),
        };
        Ok(())
    }

    async fn iterator_at(&self, checkpoint: &str) -> Result<Option<String>, StreamError> {
        let arn = &self.ctx.leases.stream_arn;
        stream::iterator(&self.ctx.streams, arn, &self.shard, checkpoint).await
    }

    /// Counts and durably marks a loss (every election this projector counts) before the
    /// worker reads past it; an error here crashes the worker, which retries from the
    /// checkpoint, so a loss is never passed unmarked.
    async fn lost(
        &self,
        reason: LossReason,
        checkpoint: &str,
        detail: &str,
    ) -> Result<(), ActorProcessingErr> {
        if reason == LossReason::Trimmed {
            metrics::counter!(m::PROJECTOR_TRIMMED).increment(1);
        }
        tracing::error!(shard = %self.shard, %checkpoint, %detail, reason = reason.label(),
            "stream records after the checkpoint are gone before they were applied");
        let elections: Vec<String> = self.ctx.registry.iter().map(|e| e.id.clone()).collect();
        let db = &self.ctx.db;
        loss::mark(db, &self.ctx.leases.table, &elections, reason, &self.shard).await?;
        Ok(())
    }

    fn lease_lost(&self, myself: &ActorRef<ShardWorkerMsg>) -> Result<(), ActorProcessingErr> {
        tracing::warn!(shard = %self.shard, "lease lost; this worker applies nothing more");
        myself.stop(Some(STOP_LEASE_LOST.into()));
        Ok(())
    }

    /// One transaction: [pointer guard, count deltas..., lease checkpoint]. The deltas are
    /// computed under the pointer the guard checks (each vote to its election's table, if its
    /// seq is above that table's threshold). Retries on throttling and on our own renewals;
    /// waits while a rebuild has the projections frozen; `LeaseLost` when the lease moved.
    async fn apply(
        &self,
        st: &mut ShardWorkerState,
        votes: &[VoteItem],
        checkpoint: &str,
    ) -> Result<Applied, ActorProcessingErr> {
        let mut backoff = Duration::from_millis(20);
        loop {
            let proj = match &st.projection {
                Some(p) if !p.frozen => p.clone(),
                _ => {
                    let p = projection::read(&self.ctx.db, &self.ctx.leases.table).await?;
                    st.projection = Some(p.clone());
                    if p.frozen && crate::now_ms() > p.frozen_until_ms {
                        // The rebuild missed its deadline: thaw (its switch will now fail its condition).
                        let thawed = Projection {
                            epoch: p.epoch + 1,
                            frozen: false,
                            ..p.clone()
                        };
                        match projection::replace(
                            &self.ctx.db,
                            &self.ctx.leases.table,
                            p.epoch,
                            &thawed,
                        )
                        .await
                        {
                            Ok(()) => tracing::warn!(
                                epoch = p.epoch,
                                "thawed projections after a rebuild's freeze deadline"
                            ),
                            Err(e) => tracing::debug!(error = %e, "thaw raced another change"),
                        }
                        st.projection = None;
                        continue;
                    }
                    if p.frozen {
                        // A rebuild is taking over: hold this batch (and the checkpoint) until it switches.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    p
                }
            };
            let mut d = Deltas::default();
            for v in votes {
                let (table, threshold) =
                    proj.target(&self.ctx.results_table, &v.election_id, v.chain);
                if v.seq > threshold {
                    d.add(table, v);
                }
            }
            let counter = self.held.load(Ordering::Acquire);
            let mut actions = vec![
                TransactWriteItem::builder()
                    .condition_check(projection::guard(&self.ctx.leases.table, proj.epoch))
                    .build(),
            ];
            actions.extend(
                results::updates(&d)
                    .into_iter()
                    .map(|u| TransactWriteItem::builder().update(u).build()),
            );
            actions.push(
                TransactWriteItem::builder()
                    .update(self.ctx.leases.checkpoint_update(
                        &self.shard,
                        &self.ctx.worker_id,
                        counter,
                        &st.checkpoint,
                        checkpoint,
                    ))
                    .build(),
            );
            let err = match self
                .ctx
                .db
                .transact_write_items()
                .set_transact_items(Some(actions))
                .send()
                .await
            {
                Ok(_) => return Ok(Applied::Ok),
                Err(e) => e,
            };
            let codes = crate::dynamo::cancellation_codes(&err);
            let failed = |i: usize| codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed");
            if failed(0) {
                // The pointer moved (freeze or switch): re-prepare the batch under the new one.
                st.projection = None;
                continue;
            }
            if failed(codes.len().saturating_sub(1)) {
                metrics::counter!(m::PROJECTOR_LEASE_CONFLICTS).increment(1);
                // Our own renewal may have moved the counter; otherwise someone took the lease.
                match self.ctx.leases.get(&self.shard).await? {
                    // Our earlier attempt committed and only its answer was lost: done, once.
                    Some(l)
                        if l.owner.as_deref() == Some(&self.ctx.worker_id)
                            && l.checkpoint == checkpoint
                            && checkpoint != st.checkpoint =>
                    {
                        return Ok(Applied::Ok);
                    }
                    Some(l)
                        if l.owner.as_deref() == Some(&self.ctx.worker_id)
                            && l.counter != counter =>
                    {
                        self.held.store(l.counter, Ordering::Release);
                        continue;
                    }
                    Some(l) if l.owner.as_deref() == Some(&self.ctx.worker_id) => {
                        return Err(format!(
                            "shard {}: checkpoint condition failed with the lease ours: {codes:?}",
                            self.shard
                        )
                        .into());
                    }
                    _ => return Ok(Applied::LeaseLost),
                }
            }
            let detail = crate::dynamo::describe(&err);
            let class = crate::dynamo::classify(&err);
            let missing_table = class == ErrorClass::NotFound;
            let retry = missing_table
                || codes.iter().any(|c| retryable_code(c).is_some())
                || matches!(class, ErrorClass::Retry(_));
            if !retry {
                return Err(format!("shard {}: apply failed: {detail}", self.shard).into());
            }
            if missing_table {
                // The read table was dropped: hold the checkpoint (nothing is lost) until a
                // rebuild switches the election to a new table (`votechain replay`).
                tracing::error!(shard = %self.shard, %detail, "read-model table missing; holding this batch until `votechain replay` switches to a rebuilt table");
                st.projection = None;
                backoff = Duration::from_secs(1);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ShardWorkerState {
        ShardWorkerState {
            iterator: None,
            prefetch: None,
            carry: vec![],
            carry_since: None,
            checkpoint: TRIM_HORIZON.into(),
            backoff: Duration::ZERO,
            projection: None,
        }
    }

    fn records(n: usize) -> Vec<aws_sdk_dynamodbstreams::types::Record> {
        (0..n)
            .map(|_| aws_sdk_dynamodbstreams::types::Record::builder().build())
            .collect()
    }

    #[test]
    fn only_full_reads_of_an_open_shard_are_carried() {
        let mut st = state();
        assert!(
            !carry_on(999, 1000, 4, true, &mut st),
            "a short read: caught up"
        );
        assert!(!carry_on(1000, 1000, 4, false, &mut st), "the shard's end");
        assert!(!carry_on(0, 1000, 4, true, &mut st));
        assert!(st.carry_since.is_none());
        assert!(carry_on(1000, 1000, 4, true, &mut st));
        assert!(st.carry_since.is_some());
    }

    #[test]
    fn the_carry_is_bounded_in_records_and_age() {
        let mut st = state();
        st.carry = records(3 * 1000);
        assert!(
            !carry_on(1000, 1000, 4, true, &mut st),
            "would reach the bound"
        );
        st.carry = records(2 * 1000);
        st.carry_since = Some(std::time::Instant::now());
        assert!(carry_on(1000, 1000, 4, true, &mut st));
        st.carry = records(1000);
        st.carry_since = Some(std::time::Instant::now() - CARRY_AGE);
        assert!(!carry_on(1000, 1000, 4, true, &mut st), "too old");
        st.carry_since = Some(std::time::Instant::now());
        assert!(carry_on(1000, 1000, 4, true, &mut st));
    }
}
