//! The Kafka of a chaos run, and the broker faults on it.
//!
//! Apache Kafka ([`KafkaLocal`], the default): the faults act on the broker processes
//! themselves: SIGKILL one and restart it on its data, SIGSTOP one (a hung JVM), a rolling
//! restart of every broker. A [`BrokerDriver`] task owns the cluster and runs each fault
//! to its end (a restart waits for the broker to register, a rolling restart for every
//! replica to be back in sync before the next broker goes), so the runner's timeline never
//! waits on a JVM; it records when each fault really began and ended.
//!
//! The mock cluster ([`MockKafka`]) stays for the faults only it can inject: chosen
//! protocol errors on chosen requests, added round-trip time, a broker "down" while its
//! port stays open. It is not `Send`, so the runner drives it from its own task.

use super::scenario::BrokerTarget;
use crate::mock_kafka::MockKafka;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use votechain::dev::KafkaLocal;

/// A broker fault for the driver.
#[derive(Debug, Clone)]
pub enum BrokerFault {
    Kill {
        target: BrokerTarget,
        down: Duration,
    },
    Pause {
        target: BrokerTarget,
        down: Duration,
    },
    RollingRestart,
}

/// What the faults need to know to find their broker.
#[derive(Debug, Clone)]
pub struct Targets {
    pub votes_topic: String,
    /// The votes partition of chain 0.
    pub votes_partition: i32,
    /// The `transactional.id` of the first ingest instance's first producer.
    pub transactional_id: String,
    /// Topics that must be fully in sync before a rolling restart stops the next broker.
    pub topics: Vec<String>,
}

/// One fault as it happened: label, broker, and seconds from the run's start.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FaultWindow {
    pub fault: String,
    pub broker: Option<u32>,
    pub from_s: f64,
    pub to_s: f64,
    /// Set when the fault could not be carried out as asked (the broker was not found, a
    /// restart failed): the run does not pass on a fault that never happened.
    pub problem: Option<String>,
}

/// The Kafka engine of one run.
pub enum ChaosKafka {
    Apache(KafkaLocal),
    Mock(MockKafka),
}

impl ChaosKafka {
    pub fn bootstrap_servers(&self) -> String {
        match self {
            ChaosKafka::Apache(k) => k.bootstrap_servers(),
            ChaosKafka::Mock(m) => m.bootstrap_servers(),
        }
    }
}

/// The task that owns an Apache Kafka cluster while faults run on it.
pub struct BrokerDriver {
    tx: mpsc::UnboundedSender<BrokerFault>,
    task: tokio::task::JoinHandle<KafkaLocal>,
    windows: Arc<Mutex<Vec<FaultWindow>>>,
}

impl BrokerDriver {
    /// Takes over `kafka`; `t0` is the run's start.
    pub fn start(kafka: KafkaLocal, targets: Targets, t0: tokio::time::Instant) -> BrokerDriver {
        let (tx, mut rx) = mpsc::unbounded_channel::<BrokerFault>();
        let windows = Arc::new(Mutex::new(vec![]));
        let w = windows.clone();
        let task = tokio::spawn(async move {
            let mut kafka = kafka;
            while let Some(f) = rx.recv().await {
                let from_s = t0.elapsed().as_secs_f64();
                let (broker, problem) = run_fault(&mut kafka, &targets, &f).await;
                let window = FaultWindow {
                    fault: label(&f).into(),
                    broker,
                    from_s,
                    to_s: t0.elapsed().as_secs_f64(),
                    problem,
                };
                tracing::info!(?window, "broker fault over");
                w.lock().unwrap_or_else(|e| e.into_inner()).push(window);
            }
            kafka
        });
        BrokerDriver { tx, task, windows }
    }

    /// Queues a fault (faults run one after the other, each to its end).
    pub fn inject(&self, f: BrokerFault) {
        let _ = self.tx.send(f);
    }

    /// Waits for every queued fault to end; gives the cluster back, with every fault as
    /// it happened.
    pub async fn finish(self) -> (Option<KafkaLocal>, Vec<FaultWindow>) {
        drop(self.tx);
        let kafka = self.task.await.ok();
        let windows = std::mem::take(&mut *self.windows.lock().unwrap_or_else(|e| e.into_inner()));
        (kafka, windows)
    }
}

fn label(f: &BrokerFault) -> &'static str {
    match f {
        BrokerFault::Kill { .. } => "kafka_kill",
        BrokerFault::Pause { .. } => "kafka_pause",
        BrokerFault::RollingRestart => "kafka_rolling_restart",
    }
}

/// The broker `target` names now.
async fn resolve(kafka: &KafkaLocal, targets: &Targets, target: &BrokerTarget) -> Option<u32> {
    match target {
        BrokerTarget::Node(n) => Some(*n),
        BrokerTarget::VotesLeader => {
            kafka
                .leader(&targets.votes_topic, targets.votes_partition)
                .await
        }
        BrokerTarget::TxnCoordinator => {
            kafka
                .transaction_coordinator(&targets.transactional_id)
                .await
        }
    }
}

/// Carries out one fault; the broker it hit and what went wrong, if anything.
async fn run_fault(
    kafka: &mut KafkaLocal,
    targets: &Targets,
    f: &BrokerFault,
) -> (Option<u32>, Option<String>) {
    match f {
        BrokerFault::Kill { target, down } | BrokerFault::Pause { target, down } => {
            let Some(id) = resolve(kafka, targets, target).await else {
                return (None, Some(format!("no broker found for {target:?}")));
            };
            if matches!(f, BrokerFault::Kill { .. }) {
                kafka.kill(id);
                tokio::time::sleep(*down).await;
                let back = kafka.restart(id).await.err().map(|e| e.to_string());
                (Some(id), back)
            } else {
                kafka.pause(id);
                tokio::time::sleep(*down).await;
                kafka.resume(id);
                (Some(id), None)
            }
        }
        BrokerFault::RollingRestart => (None, rolling_restart(kafka, targets).await),
    }
}

/// Each broker in turn: a controlled shutdown, a restart, and every replica in sync again
/// before the next one goes (what an operator's rolling upgrade does).
async fn rolling_restart(kafka: &mut KafkaLocal, targets: &Targets) -> Option<String> {
    let topics: Vec<&str> = targets.topics.iter().map(String::as_str).collect();
    for id in kafka.node_ids() {
        kafka.stop(id).await;
        if let Err(e) = kafka.restart(id).await {
            return Some(format!("broker {id} did not come back: {e}"));
        }
        if !kafka.wait_in_sync(&topics, Duration::from_secs(90)).await {
            return Some(format!(
                "replicas not in sync 90 s after broker {id} restarted"
            ));
        }
    }
    None
}
