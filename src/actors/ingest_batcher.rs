//! `IngestBatcher`: group commit of accepted votes into Kafka transactions.
//!
//! Messages: `Submit(Pending)` from the HTTP handler (a vote event, its audit event and
//! the reply port), `Flush` (its own linger timer), `Done` (a transaction task finished).
//! State: the transactional producer (one `transactional.id` per ingest instance, so a
//! restarted batcher fences its predecessor at `init_transactions`) and the open batch.
//! Each batch is ONE transaction: every vote event to `votes` and every audit event to
//! `vote-audit`; the HTTP answers (202) are sent only after `commit_transaction` returns.
//! Group commit: one transaction is in flight at a time, in a task of its own, while the
//! mailbox keeps collecting the next batch; when it ends, whatever gathered meanwhile is
//! flushed at once (it has waited already). The linger applies only to an idle batcher.
//! Supervised by: the role supervisor (built by `topology`), permanent. A fatal producer
//! error fails the actor; the restart builds a new producer.
//! Metrics: `votechain_ingest_transactions_total{result}`, `..._transaction_duration_seconds`,
//! `..._batch_votes`.

use crate::metrics as m;
use crate::shared::Slot;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One vote waiting for its transaction.
pub struct Pending {
    pub key: String,
    pub vote: Vec<u8>,
    pub audit: Vec<u8>,
    pub reply: RpcReplyPort<Result<(), TxnError>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// The transaction did not commit; nothing of it is visible to `read_committed` readers.
    #[error("Kafka transaction failed: {0}")]
    Aborted(String),
}

pub enum IngestMsg {
    Submit(Pending),
    Flush,
    /// The in-flight transaction ended (its votes are answered); `Some`: the producer is
    /// unusable and the batcher must be rebuilt.
    Done(Option<String>),
}

/// Immutable configuration.
pub struct IngestBatcher {
    pub producer_config: ClientConfig,
    pub votes_topic: String,
    pub audit_topic: String,
    pub batch_max: usize,
    pub linger: Duration,
    pub txn_timeout: Duration,
    /// Where the HTTP handlers find the current incarnation.
    pub slot: Slot<IngestMsg>,
}

/// What the batcher should do after a vote arrives, the timer fires or a transaction
/// ends: pure, unit-tested.
#[derive(Debug, Default)]
pub struct Batch {
    pub pending: Vec<Pending>,
    pub timer_armed: bool,
    /// A transaction is running: nothing flushes until it ends.
    pub in_flight: bool,
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
    pub fn push(&mut self, p: Pending, max: usize) -> Next {
        self.pending.push(p);
        if self.in_flight {
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
    /// The linger timer fired: flush whatever is there, unless a transaction is running.
    pub fn on_timer(&mut self) -> bool {
        self.timer_armed = false;
        !self.in_flight && !self.pending.is_empty()
    }
    /// The running transaction ended: what gathered meanwhile goes at once.
    pub fn on_done(&mut self) -> bool {
        self.in_flight = false;
        !self.pending.is_empty()
    }
    /// Takes the next transaction's votes (at most `max`, oldest first) and marks it running.
    pub fn take(&mut self, max: usize) -> Vec<Pending> {
        self.in_flight = true;
        let rest = self.pending.split_off(self.pending.len().min(max));
        std::mem::replace(&mut self.pending, rest)
    }
    /// Everything still waiting (shutdown).
    pub fn drain(&mut self) -> Vec<Pending> {
        std::mem::take(&mut self.pending)
    }
}

pub struct IngestState {
    producer: Arc<FutureProducer>,
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
        let producer: FutureProducer = self.producer_config.create()?;
        let producer = Arc::new(producer);
        let p = producer.clone();
        let t = self.txn_timeout;
        // Blocking librdkafka call: off the async workers. Fences any zombie with our transactional.id.
        tokio::task::spawn_blocking(move || p.init_transactions(t)).await??;
        self.slot.set(myself);
        tracing::info!("ingest batcher ready (transactional producer initialized)");
        Ok(IngestState {
            producer,
            batch: Batch::default(),
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
                .send(Err(TxnError::Aborted("ingest is shutting down".into())));
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
            IngestMsg::Done(Some(fatal)) => return Err(fatal.into()),
            IngestMsg::Done(None) => st.batch.on_done(),
        };
        if flush {
            let batch = st.batch.take(self.batch_max);
            let txn = Txn {
                producer: st.producer.clone(),
                votes_topic: self.votes_topic.clone(),
                audit_topic: self.audit_topic.clone(),
                txn_timeout: self.txn_timeout,
            };
            tokio::spawn(async move {
                let fatal = txn.commit(batch).await.err().map(|e| e.to_string());
                // The batcher may be gone (restarted): its successor fenced this producer.
                let _ = myself.send_message(IngestMsg::Done(fatal));
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
    txn_timeout: Duration,
}

impl Txn {
    /// Runs one transaction for the batch and answers every vote in it.
    /// `Err` only for a fatal producer state: the supervisor then builds a new producer.
    async fn commit(&self, batch: Vec<Pending>) -> Result<(), ActorProcessingErr> {
        let producer = &self.producer;
        let started = Instant::now();
        metrics::histogram!(m::INGEST_BATCH_VOTES).record(batch.len() as f64);
        let result = self.run_transaction(producer, &batch).await;
        metrics::histogram!(m::INGEST_TRANSACTION_SECONDS).record(started.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                crate::failpoint!(
                    "ingest::after_commit_before_answer",
                    Err("failpoint: after commit".into())
                );
                metrics::counter!(m::INGEST_TRANSACTIONS, "result" => "commit").increment(1);
                for p in batch {
                    let _ = p.reply.send(Ok(()));
                }
                Ok(())
            }
            Err(e) => {
                metrics::counter!(m::INGEST_TRANSACTIONS, "result" => "abort").increment(1);
                let fatal = e.is_fatal();
                let why = e.to_string();
                if !fatal {
                    let p = producer.clone();
                    let t = self.txn_timeout;
                    // Abort so nothing of this batch commits; the clients retry with the same vote_ids.
                    if let Ok(Err(abort_err)) =
                        tokio::task::spawn_blocking(move || p.abort_transaction(t)).await
                    {
                        tracing::warn!(error = %abort_err, "abort_transaction failed; rebuilding the producer");
                        Self::fail_all(batch, &why);
                        return Err(format!("abort failed: {abort_err}").into());
                    }
                }
                tracing::warn!(error = %why, fatal, "Kafka transaction failed; batch answered 503");
                Self::fail_all(batch, &why);
                if fatal {
                    Err(format!("fatal producer error: {why}").into())
                } else {
                    Ok(())
                }
            }
        }
    }

    fn fail_all(batch: Vec<Pending>, why: &str) {
        for p in batch {
            let _ = p.reply.send(Err(TxnError::Aborted(why.to_string())));
        }
    }

    async fn run_transaction(
        &self,
        producer: &Arc<FutureProducer>,
        batch: &[Pending],
    ) -> Result<(), TxnFailure> {
        let phase = |name: &'static str, since: Instant| {
            metrics::histogram!(m::INGEST_TRANSACTION_PHASE_SECONDS, "phase" => name)
                .record(since.elapsed().as_secs_f64())
        };
        let t = Instant::now();
        let p = producer.clone();
        tokio::task::spawn_blocking(move || p.begin_transaction())
            .await
            .map_err(TxnFailure::join)?
            .map_err(TxnFailure::Kafka)?;
        phase("begin", t);
        let t = Instant::now();
        let mut deliveries = Vec::with_capacity(batch.len() * 2);
        for v in batch {
            for (topic, payload) in [(&self.votes_topic, &v.vote), (&self.audit_topic, &v.audit)] {
                let rec = FutureRecord::to(topic).key(&v.key).payload(payload);
                match producer.send_result(rec) {
                    Ok(d) => deliveries.push(d),
                    Err((e, _)) => return Err(TxnFailure::Kafka(e)),
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
                Ok(Err((e, _))) => return Err(TxnFailure::Kafka(e)),
                Err(_) => return Err(TxnFailure::Kafka(rdkafka::error::KafkaError::Canceled)),
            }
        }
        phase("produce", t);
        let t = Instant::now();
        let p = producer.clone();
        let timeout = self.txn_timeout;
        let committed =
            tokio::task::spawn_blocking(move || crate::kafka::commit_transaction(&p, timeout))
                .await
                .map_err(TxnFailure::join)?
                .map_err(TxnFailure::Kafka);
        phase("commit", t);
        committed
    }
}

#[derive(Debug, thiserror::Error)]
enum TxnFailure {
    #[error("{0}")]
    Kafka(rdkafka::error::KafkaError),
    #[error("blocking task failed: {0}")]
    Join(String),
    #[error("failpoint injected an error")]
    #[cfg_attr(not(feature = "chaos"), allow(dead_code))]
    Injected,
}

impl TxnFailure {
    fn join(e: tokio::task::JoinError) -> TxnFailure {
        TxnFailure::Join(e.to_string())
    }
    /// A fatal transactional error (e.g. fenced by a newer instance): the producer is unusable.
    fn is_fatal(&self) -> bool {
        match self {
            TxnFailure::Kafka(rdkafka::error::KafkaError::Transaction(e)) => {
                e.is_fatal() || !e.txn_requires_abort() && !e.is_retriable()
            }
            TxnFailure::Join(_) => true,
            _ => false,
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
        assert!(b.in_flight);
        // The armed timer fires while the transaction runs: nothing flushes.
        assert!(!b.on_timer());
        // Nothing gathered meanwhile: the next vote re-arms the timer.
        assert!(!b.on_done());
        assert_eq!(b.push(pending(), 3), Next::ArmTimer);
        assert!(b.on_timer());
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
