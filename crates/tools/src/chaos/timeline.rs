//! The faults of a scenario on their timeline, while the load runs: each starts at its
//! `at_s`, repeating ones (actor and process kills) fire on their period, and each is
//! cleared when its window is over. Broker faults on Apache Kafka go to the
//! [`BrokerDriver`], which runs them to their end on its own task; mock-cluster faults are
//! applied here (the mock is not `Send`).

use super::brokers::{BrokerDriver, BrokerFault};
use super::procs::Processes;
use super::proxy::FaultProxy;
use super::scenario::{Fault, Scenario};
use super::{ChaosError, capacity, setup};
use crate::mock_kafka::MockKafka;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;
use votechain::runtime::Node;

/// The Kafka side of the timeline.
pub enum Engine {
    Apache(BrokerDriver),
    Mock(MockKafka),
}

/// What the timeline did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub counts: BTreeMap<String, u64>,
    pub process_restarts: u64,
    /// Seconds from the load's start when a mock-cluster fault or a process kill window
    /// was on (broker faults report their own windows).
    pub windows: Vec<(String, f64, f64)>,
}

pub struct Timeline<'a> {
    pub scenario: &'a Scenario,
    pub engine: &'a Engine,
    pub proxy: &'a FaultProxy,
    pub table: &'a str,
    pub node: Option<&'a Node>,
    pub procs: &'a mut Processes,
    pub t0: Instant,
}

/// Per-fault state of the repeating faults.
#[derive(Default)]
struct Repeats {
    next_kill: BTreeMap<usize, Instant>,
    /// For a process kill: which of the role's processes goes next.
    turn: BTreeMap<usize, usize>,
    /// Process index -> when it may be restarted.
    down_until: BTreeMap<usize, Instant>,
}

impl Timeline<'_> {
    /// Runs the fault window (`duration_s`), then clears what is still active and restarts
    /// every process that is down.
    pub async fn run(mut self) -> Result<Outcome, ChaosError> {
        let mut out = Outcome::default();
        let end = self.t0 + Duration::from_secs(self.scenario.duration_s);
        let mut pending: Vec<Fault> = self.scenario.faults.clone();
        pending.sort_by_key(|f| f.at_s());
        let mut active: Vec<(Instant, Fault)> = vec![];
        let mut rep = Repeats::default();
        while Instant::now() < end {
            let now = Instant::now();
            let t = now.duration_since(self.t0).as_secs();
            while pending.first().is_some_and(|f| f.at_s() <= t) {
                let f = pending.remove(0);
                *out.counts.entry(f.label().into()).or_default() += 1;
                self.begin(&f)?;
                active.push((now + Duration::from_secs(f.for_s()), f));
            }
            for (i, (until, f)) in active.iter().enumerate() {
                if now < *until {
                    self.repeat(i, f, now, &mut rep, &mut out)?;
                }
            }
            let (over, still): (Vec<_>, Vec<_>) =
                active.into_iter().partition(|(until, _)| now >= *until);
            active = still;
            for (_, f) in over {
                self.clear(&f, &mut out);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for (_, f) in std::mem::take(&mut active) {
            self.clear(&f, &mut out);
        }
        out.process_restarts += self.procs.start_stopped();
        Ok(out)
    }

    fn secs(&self, at: Instant) -> f64 {
        at.duration_since(self.t0).as_secs_f64()
    }

    /// Starts a fault.
    fn begin(&self, f: &Fault) -> Result<(), ChaosError> {
        let ctl = &self.proxy.control;
        match f {
            Fault::KafkaKill { broker, down_s, .. } => self.driver()?.inject(BrokerFault::Kill {
                target: broker.clone(),
                down: Duration::from_secs(*down_s),
            }),
            Fault::KafkaPause { broker, for_s, .. } => self.driver()?.inject(BrokerFault::Pause {
                target: broker.clone(),
                down: Duration::from_secs(*for_s),
            }),
            Fault::KafkaRollingRestart { .. } => self.driver()?.inject(BrokerFault::RollingRestart),
            Fault::KafkaBrokerDown { broker, .. } => self
                .mock()?
                .broker_down(*broker)
                .map_err(setup("broker_down"))?,
            Fault::KafkaRtt { broker, ms, .. } => self
                .mock()?
                .broker_round_trip_time(*broker, Duration::from_millis(*ms))
                .map_err(setup("rtt"))?,
            Fault::KafkaRequestErrors { api, count, .. } => {
                let key = api_key(api)
                    .ok_or_else(|| ChaosError::Setup(format!("unknown Kafka api '{api}'")))?;
                let err = match key {
                    RDKafkaApiKey::Fetch | RDKafkaApiKey::Produce => {
                        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION
                    }
                    _ => RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                };
                self.mock()?
                    .request_errors(key, &vec![err; *count as usize]);
            }
            Fault::DynamoLatency { ms, share, .. } => {
                ctl.update(|f| (f.latency_ms, f.latency_share) = (*ms, *share))
            }
            Fault::DynamoReset {
                share,
                after_forward,
                ..
            } => ctl.update(|f| match after_forward {
                true => f.reset_after_share = *share,
                false => f.reset_before_share = *share,
            }),
            Fault::DynamoError { share, error, .. } => {
                ctl.update(|f| (f.error_share, f.error) = (*share, error.clone()))
            }
            Fault::DynamoBlackhole { share, .. } => ctl.update(|f| f.blackhole_share = *share),
            Fault::DynamoPartitionLimit { scale, .. } => {
                ctl.set_capacity(capacity::CapacityConfig {
                    scale: *scale,
                    tables: vec![self.table.to_string()],
                    ..Default::default()
                })
            }
            Fault::Failpoint { name, action, .. } => failpoint(name, action)?,
            Fault::ActorKill { .. } | Fault::ProcessKill { .. } => {}
        }
        Ok(())
    }

    /// One tick of a repeating fault `i`.
    fn repeat(
        &mut self,
        i: usize,
        f: &Fault,
        now: Instant,
        rep: &mut Repeats,
        out: &mut Outcome,
    ) -> Result<(), ChaosError> {
        match f {
            Fault::ActorKill {
                every_ms, kinds, ..
            } => {
                let due = rep.next_kill.entry(i).or_insert(now);
                if now >= *due {
                    *due = now + Duration::from_millis(*every_ms);
                    if self.node.is_some_and(|n| kill_random(n, kinds)) {
                        *out.counts.entry("actor_kill".into()).or_default() += 1;
                    }
                }
            }
            Fault::ProcessKill {
                role,
                every_s,
                down_s,
                ..
            } => {
                let due = rep
                    .next_kill
                    .entry(i)
                    .or_insert(now + Duration::from_secs(*every_s));
                let of_role = self.procs.of_role(role);
                if now >= *due && !of_role.is_empty() {
                    let turn = rep.turn.entry(i).or_default();
                    let p = of_role[*turn % of_role.len()];
                    *turn += 1;
                    *due = now + Duration::from_secs(*every_s);
                    if self.procs.all[p].running() {
                        self.procs.all[p].sigkill();
                        *out.counts.entry("process_kill".into()).or_default() += 1;
                        let back = now + Duration::from_secs(*down_s);
                        rep.down_until.insert(p, back);
                        let label = format!("process_kill {role}");
                        out.windows.push((label, self.secs(now), self.secs(back)));
                    }
                }
                for p in of_role {
                    let proc = &mut self.procs.all[p];
                    if !proc.running() && rep.down_until.get(&p).is_none_or(|d| now >= *d) {
                        proc.start().map_err(setup("restart role process"))?;
                        out.process_restarts += 1;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Ends a fault whose window is over.
    fn clear(&self, f: &Fault, out: &mut Outcome) {
        let ctl = &self.proxy.control;
        let mock = self.mock().ok();
        match f {
            Fault::KafkaBrokerDown { broker, .. } => {
                let _ = mock.map(|m| m.broker_up(*broker));
            }
            Fault::KafkaRtt { broker, .. } => {
                let _ = mock.map(|m| m.broker_round_trip_time(*broker, Duration::ZERO));
            }
            Fault::KafkaRequestErrors { api, .. } => {
                if let (Some(m), Some(k)) = (mock, api_key(api)) {
                    m.clear_request_errors(k);
                }
            }
            Fault::DynamoLatency { .. } => ctl.update(|f| f.latency_share = 0.0),
            Fault::DynamoReset { after_forward, .. } => ctl.update(|f| match after_forward {
                true => f.reset_after_share = 0.0,
                false => f.reset_before_share = 0.0,
            }),
            Fault::DynamoError { .. } => ctl.update(|f| f.error_share = 0.0),
            Fault::DynamoBlackhole { .. } => ctl.update(|f| f.blackhole_share = 0.0),
            Fault::DynamoPartitionLimit { .. } => {
                if let Some(st) = ctl.capacity_stats() {
                    tracing::info!(?st, "partition-limit model lifted");
                }
                ctl.clear_capacity()
            }
            Fault::Failpoint { name, .. } => {
                #[cfg(feature = "chaos")]
                fail::remove(name);
                let _ = name;
            }
            Fault::KafkaKill { .. }
            | Fault::KafkaPause { .. }
            | Fault::KafkaRollingRestart { .. }
            | Fault::ActorKill { .. }
            | Fault::ProcessKill { .. } => {}
        }
        if matches!(
            f,
            Fault::KafkaBrokerDown { .. }
                | Fault::KafkaRtt { .. }
                | Fault::KafkaRequestErrors { .. }
        ) {
            let from = f.at_s() as f64;
            let to = self.secs(Instant::now());
            out.windows.push((f.label().into(), from, to));
        }
    }

    fn driver(&self) -> Result<&BrokerDriver, ChaosError> {
        match self.engine {
            Engine::Apache(d) => Ok(d),
            Engine::Mock(_) => Err(ChaosError::Setup(
                "broker faults need Apache Kafka (kafka = \"apache\")".into(),
            )),
        }
    }

    fn mock(
        &self,
    ) -> Result<
        &rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
        ChaosError,
    > {
        match self.engine {
            Engine::Mock(m) => Ok(m.mock()),
            Engine::Apache(_) => Err(ChaosError::Setup(
                "this fault needs the mock cluster (kafka = \"mock\")".into(),
            )),
        }
    }
}

fn failpoint(name: &str, action: &str) -> Result<(), ChaosError> {
    #[cfg(feature = "chaos")]
    {
        fail::cfg(name, action).map_err(setup("failpoint"))
    }
    #[cfg(not(feature = "chaos"))]
    Err(ChaosError::Setup(format!(
        "failpoint {name}={action} needs a build with --features chaos"
    )))
}

fn api_key(name: &str) -> Option<RDKafkaApiKey> {
    Some(match name {
        "produce" => RDKafkaApiKey::Produce,
        "fetch" => RDKafkaApiKey::Fetch,
        "end_txn" => RDKafkaApiKey::EndTxn,
        "add_partitions_to_txn" => RDKafkaApiKey::AddPartitionsToTxn,
        "init_producer_id" => RDKafkaApiKey::InitProducerId,
        _ => return None,
    })
}

/// Kills one random live actor of the given kinds in the node's tree (no restart is asked
/// for: supervision must notice). True if one was killed.
fn kill_random(node: &Node, kinds: &[String]) -> bool {
    use rand::Rng;
    fn walk(c: &ractor::ActorCell, out: &mut Vec<ractor::ActorCell>) {
        for ch in c.get_children() {
            out.push(ch.clone());
            walk(&ch, out);
        }
    }
    let mut all = vec![];
    walk(&node.root.get_cell(), &mut all);
    let targets: Vec<_> = all
        .into_iter()
        .filter(|c| {
            c.get_name()
                .is_some_and(|n| kinds.iter().any(|k| n.starts_with(&format!("{k}/"))))
        })
        .filter(|c| c.get_status() == ractor::ActorStatus::Running)
        .collect();
    if targets.is_empty() {
        return false;
    }
    let i = rand::rng().random_range(0..targets.len());
    targets[i].kill();
    true
}
