//! `IngestBatcher`: group commit of accepted votes into Kafka transactions.
//!
//! Messages: `Submit(Pending)` from the HTTP handler (a vote event, its audit event and
//! the reply port), `Flush` (its own linger timer), `Done` (a transaction task finished).
//! State: `producers` transactional producers, each its own `transactional.id` (stable per
//! ingest instance and index, so a restarted batcher fences every predecessor at
//! `init_transactions`, and the spare ids up to [`MAX_PRODUCERS`] too, in case the count
//! was lowered), the idle ones, and the open batch.
//! Each batch is ONE transaction: every vote event to `votes` and every audit event to
//! `vote-audit`; the HTTP answers (202) are sent only after `commit_transaction` returns.
//! Group commit: up to one transaction per producer is in flight, each in a task of its
//! own, while the mailbox keeps collecting the next batch. The first vote of a batch waits
//! at most the linger; a full batch, or a transaction ending with votes waiting, flushes at
//! once. With every producer busy, votes wait for the first to end. (One producer was the
//! bound: a transaction at a time, its commit round trip unshared; issue 16.)
//! Supervised by: the role supervisor (built by `topology`), permanent. A fatal producer
//! error fails the actor; the restart builds a new producer.
//! Metrics: `votechain_ingest_transactions_total{result}`, `..._transaction_duration_seconds`,
//! `..._batch_votes`, `..._transactions_in_flight`.

use crate::metrics as m;
use crate::shared::Slot;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One vote waiting for its transaction.
pub struct Pending {
    pub key: String,
    /// Its chain's partition (`model::partition_of`), for the vote and the audit event.
    pub partition: i32,
    pub vote: Vec<u8>,
    pub audit: Vec<u8>,
    pub reply: RpcReplyPort<Result<(), TxnError>>,
}

/// Why a vote got no 202.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// Certainly not recorded: its transaction was aborted or never reached the commit.
    /// The client answers 503 `overloaded` and retries with the same vote_id.
    #[error("Kafka transaction failed, vote not recorded: {0}")]
    NotRecorded(String),
    /// The commit's outcome is unknown: the vote may be recorded. The client answers 503
    /// `outcome_unknown` and must retry with the same vote_id (never a new one).
    #[error("Kafka commit outcome unknown, vote may be recorded: {0}")]
    OutcomeUnknown(String),
}

pub enum IngestMsg {
    Submit(Pending),
    Flush,
    /// A transaction ended (its votes are answered) on this producer, now idle again;
    /// `Some`: the producer is unusable and the batcher must be rebuilt.
    Done(Arc<FutureProducer>, Option<String>),
}

/// The most producers a batcher runs; ids up to it are fenced at every start.
pub use crate::config::INGEST_MAX_PRODUCERS as MAX_PRODUCERS;

/// The `transactional.id` of producer `i` of an ingest instance (`base`). Producer 0 keeps
/// the name a single producer always had, so a rolling upgrade still fences the old pod.
pub fn transactional_id(base: &str, i: usize) -> String {
    if i == 0 {
        base.to_string()
    } else {
        format!("{base}-{i}")
    }
}

/// Every `transactional.id` an instance's batcher initializes at start: all it could ever
/// have used, so that each zombie of an earlier incarnation is fenced, whatever producer
/// count that one ran.
pub fn fenced_ids(base: &str) -> Vec<String> {
    (0..MAX_PRODUCERS)
        .map(|i| transactional_id(base, i))
        .collect()
}

/// Immutable configuration.
pub struct IngestBatcher {
    /// The producers' configuration, less `transactional.id`.
    pub producer_config: ClientConfig,
    /// `transactional.id` of producer 0 (the others: [`transactional_id`]).
    pub transactional_id: String,
    /// Transactional producers (transactions in flight at once), 1..=MAX_PRODUCERS.
    pub producers: usize,
    pub votes_topic: String,
    pub audit_topic: String,
    /// (key id, key) ingest signs each vote event with (`provenance`); `None`: unsigned.
    pub signing: Option<(String, Vec<u8>)>,
    pub batch_max: usize,
    pub linger: Duration,
    pub txn_timeout: Duration,
    /// Where the HTTP handlers find the current incarnation.
    pub slot: Slot<IngestMsg>,
}

/// What the batcher should do after a vote arrives, the timer fires or a transaction
/// ends: pure, unit-tested.
#[derive(Debug)]
pub struct Batch {
    pub pending: Vec<Pending>,
    pub timer_armed: bool,
    /// Transactions running.
    pub in_flight: usize,
    /// At most this many at once (one per producer).
    pub max_in_flight: usize,
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new(1)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    FlushNow,
    ArmTimer,
    Wait,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("key", &self.key).finish()
    }
}

impl Batch {
    pub fn new(max_in_flight: usize) -> Batch {
        Batch {
            pending: vec![],
            timer_armed: false,
            in_flight: 0,
            max_in_flight: max_in_flight.max(1),
        }
    }
    fn busy(&self) -> bool {
        self.in_flight >= self.max_in_flight
    }
    pub fn push(&mut self, p: Pending, max: usize) -> Next {
        self.pending.push(p);
        if self.busy() {
            Next::Wait
        } else if self.pending.len() >= max {
            Next::FlushNow
        } else if !self.timer_armed {
            self.timer_armed = true;
            Next::ArmTimer
        } else {
            Next::Wait
        }
    }
    /// The linger timer fired: flush whatever is there, unless every producer is busy.
    pub fn on_timer(&mut self) -> bool {
        self.timer_armed = false;
        !self.busy() && !self.pending.is_empty()
    }
    /// A running transaction ended: what gathered meanwhile goes at once.
    pub fn on_done(&mut self) -> bool {
        self.in_flight = self.in_flight.saturating_sub(1);
        !self.pending.is_empty()
    }
    /// Takes the next transaction's votes (at most `max`, oldest first) and marks it running.
    pub fn take(&mut self, max: usize) -> Vec<Pending> {
        self.in_flight += 1;
        if self.pending.len() <= max {
            // Flushed: a later vote starts a new linger.
            self.timer_armed = false;
        }
        let rest = self.pending.split_off(self.pending.len().min(max));
        std::mem::replace(&mut self.pending, rest)
    }
    /// Everything still waiting (shutdown).
    pub fn drain(&mut self) -> Vec<Pending> {
        std::mem::take(&mut self.pending)
    }
}

pub struct IngestState {
    /// Producers not running a transaction.
    idle: Vec<Arc<FutureProducer>>,
    batch: Batch,
}

impl Actor for IngestBatcher {
    type Msg = IngestMsg;
    type State = IngestState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<IngestMsg>,
        _: (),
    ) -> Result<IngestState, ActorProcessingErr> {
        let n = self.producers.clamp(1, MAX_PRODUCERS);
        let mut all = Vec::with_capacity(MAX_PRODUCERS);
        for id in fenced_ids(&self.transactional_id) {
            let mut c = self.producer_config.clone();
            c.set("transactional.id", id);
            all.push(Arc::new(c.create::<FutureProducer>()?));
        }
        // Blocking librdkafka calls, off the async workers and at once: each fences any
        // zombie with its transactional.id, the spare ones included (dropped after).
        let t = self.txn_timeout;
        let inits = all.iter().map(|p| {
            let p = p.clone();
            tokio::task::spawn_blocking(move || p.init_transactions(t))
        });
        for r in futures::future::join_all(inits).await {
            r??;
        }
        all.truncate(n);
        let idle = all;
        self.slot.set(myself);
        tracing::info!(
            producers = n,
            "ingest batcher ready (transactional producers initialized)"
        );
        Ok(IngestState {
            idle,
            batch: Batch::new(n),
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<IngestMsg>,
        st: &mut IngestState,
    ) -> Result<(), ActorProcessingErr> {
        self.slot.clear(&myself);
        for p in st.batch.drain() {
            let _ = p
                .reply
                .send(Err(TxnError::NotRecorded("ingest is shutting down".into())));
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<IngestMsg>,
        msg: IngestMsg,
        st: &mut IngestState,
    ) -> Result<(), ActorProcessingErr> {
        let flush = match msg {
            IngestMsg::Submit(p) => match st.batch.push(p, self.batch_max) {
                Next::FlushNow => true,
                Next::ArmTimer => {
                    myself.send_after(self.linger, || IngestMsg::Flush);
                    false
                }
                Next::Wait => false,
            },
            IngestMsg::Flush => st.batch.on_timer(),
            IngestMsg::Done(_, Some(fatal)) => return Err(fatal.into()),
            IngestMsg::Done(producer, None) => {
                st.idle.push(producer);
                let flush = st.batch.on_done();
                metrics::gauge!(m::INGEST_IN_FLIGHT).set(st.batch.in_flight as f64);
                flush
            }
        };
        if flush && let Some(producer) = st.idle.pop() {
            let batch = st.batch.take(self.batch_max);
            metrics::gauge!(m::INGEST_IN_FLIGHT).set(st.batch.in_flight as f64);
            let txn = Txn {
                producer: producer.clone(),
                votes_topic: self.votes_topic.clone(),
                audit_topic: self.audit_topic.clone(),
                signing: self.signing.clone(),
                txn_timeout: self.txn_timeout,
            };
            tokio::spawn(async move {
                let fatal = txn.commit(batch).await.err().map(|e| e.to_string());
                // The batcher may be gone (restarted): its successor fenced this producer.
                let _ = myself.send_message(IngestMsg::Done(producer, fatal));
            });
        }
        Ok(())
    }
}

/// One transaction's inputs, owned by the task that runs it.
struct Txn {
    producer: Arc<FutureProducer>,
    votes_topic: String,
    audit_topic: String,
    signing: Option<(String, Vec<u8>)>,
    txn_timeout: Duration,
}

impl Txn {
    /// Runs one transaction for the batch and answers every vote in it, following
    /// librdkafka's transactional contract: a retriable commit error is answered by calling
    /// `commit_transaction` again (within the transaction timeout); an abortable error by
    /// `abort_transaction`; anything else leaves the producer unusable. `Err` means exactly
    /// that: the supervisor builds a new producer, whose `init_transactions` ends whatever
    /// this one left open.
    async fn commit(&self, batch: Vec<Pending>) -> Result<(), ActorProcessingErr> {
        let started = Instant::now();
        metrics::histogram!(m::INGEST_BATCH_VOTES).record(batch.len() as f64);
        let result = self.run_transaction(&batch).await;
        metrics::histogram!(m::INGEST_TRANSACTION_SECONDS).record(started.elapsed().as_secs_f64());
        let failure = match result {
            Ok(()) => {
                crate::failpoint!(
                    "ingest::after_commit_before_answer",
                    Err("failpoint: after commit".into())
                );
                metrics::counter!(m::INGEST_TRANSACTIONS, "result" => "commit").increment(1);
                for p in batch {
                    let _ = p.reply.send(Ok(()));
                }
                return Ok(());
            }
            Err(f) => f,
        };
        let why = failure.to_string();
        let step = failure.next_step();
        let aborted = step == Step::Abort && self.abort().await;
        let outcome = failure.outcome(aborted);
        let result = if aborted { "abort" } else { "failed" };
        metrics::counter!(m::INGEST_TRANSACTIONS, "result" => result).increment(1);
        tracing::warn!(error = %why, ?step, aborted, ?outcome, "Kafka transaction failed; batch answered 503");
        for p in batch {
            let _ = p.reply.send(Err(outcome.error(&why)));
        }
        if aborted {
            Ok(())
        } else {
            Err(format!("producer unusable after: {why}").into())
        }
    }

    /// `abort_transaction`; true when nothing of the transaction can commit any more.
    async fn abort(&self) -> bool {
        let (p, t) = (self.producer.clone(), self.txn_timeout);
        match tokio::task::spawn_blocking(move || p.abort_transaction(t)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "abort_transaction failed; rebuilding the producer");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "abort task failed; rebuilding the producer");
                false
            }
        }
    }

    async fn run_transaction(&self, batch: &[Pending]) -> Result<(), TxnFailure> {
        let phase = |name: &'static str, since: Instant| {
            metrics::histogram!(m::INGEST_TRANSACTION_PHASE_SECONDS, "phase" => name)
                .record(since.elapsed().as_secs_f64())
        };
        let t = Instant::now();
        let p = self.producer.clone();
        tokio::task::spawn_blocking(move || p.begin_transaction())
            .await
            .map_err(TxnFailure::join)?
            .map_err(TxnFailure::Produce)?;
        phase("begin", t);
        let t = Instant::now();
        self.produce(batch).await?;
        phase("produce", t);
        let t = Instant::now();
        let committed = self.commit_retrying().await;
        phase("commit", t);
        committed
    }

    /// Every vote and audit event of the batch, each acknowledged.
    async fn produce(&self, batch: &[Pending]) -> Result<(), TxnFailure> {
        let mut deliveries = Vec::with_capacity(batch.len() * 2);
        for v in batch {
            // The vote event carries ingest's signature; the audit event needs none.
            let mac = self.signing.as_ref().map(|(id, key)| {
                let value = votechain_core::provenance::sign(id, key, &v.vote);
                rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
                    key: votechain_core::provenance::HEADER,
                    value: Some(&value),
                })
            });
            for (topic, payload) in [(&self.votes_topic, &v.vote), (&self.audit_topic, &v.audit)] {
                let mut rec = FutureRecord::to(topic)
                    .key(&v.key)
                    .partition(v.partition)
                    .payload(payload);
                if let Some(h) = mac.as_ref().filter(|_| topic == &self.votes_topic) {
                    rec = rec.headers(h.clone());
                }
                match self.producer.send_result(rec) {
                    Ok(d) => deliveries.push(d),
                    Err((e, _)) => return Err(TxnFailure::Produce(e)),
                }
            }
        }
        crate::failpoint!(
            "ingest::after_produce_before_commit",
            Err(TxnFailure::Injected)
        );
        for d in deliveries {
            match d.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(TxnFailure::Produce(e)),
                Err(_) => return Err(TxnFailure::Produce(KafkaError::Canceled)),
            }
        }
        Ok(())
    }

    /// `commit_transaction`, called again on a retriable error (a timed-out attempt among
    /// them) until the transaction timeout; from the first call on, a failure leaves the
    /// outcome unknown.
    async fn commit_retrying(&self) -> Result<(), TxnFailure> {
        let deadline = Instant::now() + self.txn_timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (p, left) = (self.producer.clone(), left.min(COMMIT_ATTEMPT));
            let r = tokio::task::spawn_blocking(move || crate::kafka::commit_transaction(&p, left))
                .await
                .map_err(TxnFailure::join)?;
            match r {
                Ok(()) => return Ok(()),
                Err(e) if commit_again(&e) && Instant::now() < deadline => {
                    metrics::counter!(m::INGEST_COMMIT_RETRIES).increment(1);
                    tracing::debug!(error = %e, "retriable commit error; committing again");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(TxnFailure::Commit(e)),
            }
        }
    }
}

/// The longest one `commit_transaction` call waits; a commit still running then answers
/// a retriable timeout and is called again (it goes on; nothing is committed twice).
const COMMIT_ATTEMPT: Duration = Duration::from_secs(1);

/// librdkafka says to call `commit_transaction` again after this error.
fn commit_again(e: &KafkaError) -> bool {
    matches!(e, KafkaError::Transaction(t) if t.is_retriable() && !t.is_fatal() && !t.txn_requires_abort())
}

/// Why a transaction did not commit, and at which step.
#[derive(Debug, thiserror::Error)]
enum TxnFailure {
    /// Before `commit_transaction` was called (begin, produce, delivery).
    #[error("{0}")]
    Produce(KafkaError),
    /// `commit_transaction` failed for good (not retriable, or retried until the deadline).
    #[error("commit: {0}")]
    Commit(KafkaError),
    #[error("blocking task failed: {0}")]
    Join(String),
    #[error("failpoint injected an error")]
    #[cfg_attr(not(feature = "chaos"), allow(dead_code))]
    Injected,
}

/// What the batcher does about a failed transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `abort_transaction`, then go on with the same producer.
    Abort,
    /// The producer is unusable: fail, so the supervisor builds a new one.
    Rebuild,
}

/// What a client is told about its vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    NotRecorded,
    Unknown,
}

impl Outcome {
    fn error(self, why: &str) -> TxnError {
        match self {
            Outcome::NotRecorded => TxnError::NotRecorded(why.to_string()),
            Outcome::Unknown => TxnError::OutcomeUnknown(why.to_string()),
        }
    }
}

impl TxnFailure {
    fn join(e: tokio::task::JoinError) -> TxnFailure {
        TxnFailure::Join(e.to_string())
    }

    fn kafka_error(&self) -> Option<&rdkafka::error::RDKafkaError> {
        match self {
            TxnFailure::Produce(KafkaError::Transaction(e))
            | TxnFailure::Commit(KafkaError::Transaction(e)) => Some(e),
            _ => None,
        }
    }

    /// Abort unless librdkafka says the producer is beyond that (fatal), or the error is
    /// not a transactional one it can abort from.
    fn next_step(&self) -> Step {
        match (self, self.kafka_error()) {
            (TxnFailure::Join(_), _) => Step::Rebuild,
            (_, Some(e)) if e.is_fatal() => Step::Rebuild,
            (TxnFailure::Commit(_), Some(e)) if !e.txn_requires_abort() => Step::Rebuild,
            (TxnFailure::Commit(_), None) => Step::Rebuild,
            _ => Step::Abort,
        }
    }

    /// Before the commit, nothing of the transaction can ever commit: the producer aborts
    /// it, or its successor's `init_transactions` does. After an abortable commit error,
    /// an abort that succeeded settles it too. Otherwise the commit may have landed.
    fn outcome(&self, aborted: bool) -> Outcome {
        match self {
            TxnFailure::Produce(_) | TxnFailure::Injected => Outcome::NotRecorded,
            TxnFailure::Commit(_) if aborted => Outcome::NotRecorded,
            TxnFailure::Commit(_) | TxnFailure::Join(_) => Outcome::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Pending {
        // The reply port's receiver is dropped: fine, the batch logic never sends here.
        let (tx, _rx) = tokio::sync::oneshot::channel();
        Pending {
            partition: 0,
            key: "e#0".into(),
            vote: vec![],
            audit: vec![],
            reply: tx.into(),
        }
    }

    #[test]
    fn first_vote_arms_the_timer_and_a_full_batch_flushes() {
        let mut b = Batch::default();
        assert_eq!(b.push(pending(), 3), Next::ArmTimer);
        assert_eq!(b.push(pending(), 3), Next::Wait);
        assert_eq!(b.push(pending(), 3), Next::FlushNow);
        assert_eq!(b.take(3).len(), 3);
        assert_eq!(b.in_flight, 1);
        // The armed timer fires while the transaction runs: nothing flushes.
        assert!(!b.on_timer());
        // Nothing gathered meanwhile: the next vote re-arms the timer.
        assert!(!b.on_done());
        assert_eq!(b.push(pending(), 3), Next::ArmTimer);
        assert!(b.on_timer());
    }

    #[test]
    fn what_a_failed_transaction_means_for_the_producer_and_the_vote() {
        let before_commit = TxnFailure::Produce(KafkaError::Canceled);
        assert_eq!(before_commit.next_step(), Step::Abort);
        assert_eq!(
            before_commit.outcome(false),
            Outcome::NotRecorded,
            "even if the abort failed"
        );
        let at_commit = TxnFailure::Commit(KafkaError::Canceled);
        assert_eq!(
            at_commit.next_step(),
            Step::Rebuild,
            "not an abortable transactional error"
        );
        assert_eq!(at_commit.outcome(false), Outcome::Unknown);
        assert_eq!(
            at_commit.outcome(true),
            Outcome::NotRecorded,
            "aborted after an abortable commit error"
        );
        assert_eq!(TxnFailure::Join("panic".into()).next_step(), Step::Rebuild);
        assert_eq!(
            TxnFailure::Join("panic".into()).outcome(false),
            Outcome::Unknown
        );
        assert!(matches!(
            Outcome::Unknown.error("x"),
            TxnError::OutcomeUnknown(_)
        ));
        assert!(
            !commit_again(&KafkaError::Canceled),
            "only librdkafka's retriable commit errors"
        );
    }

    #[test]
    fn with_two_producers_a_second_batch_lingers_while_the_first_runs() {
        let mut b = Batch::new(2);
        assert_eq!(b.push(pending(), 3), Next::ArmTimer);
        assert!(b.on_timer());
        assert_eq!(b.take(3).len(), 1);
        // One running, one producer idle: a new vote lingers, then goes on the timer.
        assert_eq!(b.push(pending(), 3), Next::ArmTimer);
        assert_eq!(b.push(pending(), 3), Next::Wait);
        assert!(b.on_timer());
        assert_eq!(b.take(3).len(), 2);
        assert_eq!(b.in_flight, 2);
        // Both busy: votes wait, even a full batch and the timer, until one ends.
        for _ in 0..4 {
            assert_eq!(b.push(pending(), 3), Next::Wait);
        }
        assert!(!b.on_timer());
        assert!(b.on_done());
        assert_eq!(b.take(3).len(), 3, "at most batch_max");
        assert_eq!(b.in_flight, 2);
        // A full batch with a producer idle flushes at once.
        assert!(b.on_done());
        assert_eq!(b.push(pending(), 3), Next::ArmTimer);
        assert_eq!(b.push(pending(), 3), Next::FlushNow);
    }

    #[test]
    fn producer_zero_keeps_the_single_producers_id_and_every_id_is_fenced() {
        assert_eq!(
            transactional_id("votechain-ingest-a", 0),
            "votechain-ingest-a"
        );
        assert_eq!(
            transactional_id("votechain-ingest-a", 3),
            "votechain-ingest-a-3"
        );
        let fenced = fenced_ids("votechain-ingest-a");
        for n in 1..=MAX_PRODUCERS {
            for i in 0..n {
                let id = transactional_id("votechain-ingest-a", i);
                assert!(fenced.contains(&id), "{id} of a {n}-producer incarnation");
            }
        }
        let distinct: std::collections::BTreeSet<_> = fenced.iter().collect();
        assert_eq!(distinct.len(), MAX_PRODUCERS);
    }

    #[test]
    fn votes_gathered_during_a_transaction_go_at_once_when_it_ends() {
        let mut b = Batch::default();
        b.push(pending(), 2);
        assert_eq!(b.take(2).len(), 1);
        // Five arrive while it runs; none flushes, even past the maximum.
        for _ in 0..5 {
            assert_eq!(b.push(pending(), 2), Next::Wait);
        }
        assert!(b.on_done(), "no linger: they waited already");
        assert_eq!(
            b.take(2).len(),
            2,
            "at most batch_max a transaction, oldest first"
        );
        assert!(b.on_done());
        assert_eq!(b.take(2).len(), 2);
        assert!(b.on_done());
        assert_eq!(b.take(2).len(), 1);
        assert!(!b.on_done());
        assert!(b.drain().is_empty());
    }
}
