//! A chaos scenario as data (`chaos/*.toml`): how much load, what the clients' network is
//! like, which roles run as separate processes, and the faults on a timeline.

use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Fault window; load runs for it, then a quiet grace period lets everything settle.
    pub duration_s: u64,
    /// Target votes per second over all clients.
    pub rate: u32,
    pub clients: u32,
    /// Share of submissions that re-send an already acknowledged vote_id.
    #[serde(default)]
    pub resubmit_share: f64,
    #[serde(default = "four")]
    pub partitions: u32,
    #[serde(default = "one")]
    pub chains: u32,
    #[serde(default)]
    pub client: ClientNet,
    /// Roles run as separate `votechain run` processes, one per entry (a role may repeat:
    /// `["ingest", "ingest"]` is two ingest instances); the other roles run in-process.
    #[serde(default)]
    pub processes: Vec<String>,
    /// Which Kafka the run starts: Apache Kafka (the default), or librdkafka's mock cluster
    /// for the faults only it can inject (`kafka_rtt`, `kafka_broker_down`,
    /// `kafka_request_errors`: chosen protocol errors on chosen requests).
    #[serde(default)]
    pub kafka: KafkaEngine,
    /// Kafka brokers (Apache Kafka: KRaft nodes, replication 3 and min ISR 2 from 3 up).
    #[serde(default = "three")]
    pub brokers: u32,
    #[serde(default)]
    pub faults: Vec<Fault>,
}

fn four() -> u32 {
    4
}
fn one() -> u32 {
    1
}
fn three() -> u32 {
    3
}

/// The Kafka a scenario runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaEngine {
    #[default]
    Apache,
    Mock,
}

/// The polling stations' network.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientNet {
    /// Client-side timeout per attempt; a timed-out vote is retried with the same vote_id.
    pub timeout_ms: u64,
    /// Share of answers the client never sees (it retries the same vote_id).
    pub drop_answer_share: f64,
}

impl Default for ClientNet {
    fn default() -> Self {
        ClientNet {
            timeout_ms: 5_000,
            drop_answer_share: 0.0,
        }
    }
}

/// Which Apache Kafka broker a broker fault hits, resolved when the fault starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerTarget {
    /// The leader of chain 0's partition of the votes topic.
    VotesLeader,
    /// The transaction coordinator of the first ingest instance's producer.
    TxnCoordinator,
    /// A broker by its node id (1..=brokers).
    Node(u32),
}

impl<'de> Deserialize<'de> for BrokerTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BrokerTarget::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "broker '{s}': votes_leader, txn_coordinator or broker:N"
            ))
        })
    }
}

impl BrokerTarget {
    pub fn parse(s: &str) -> Option<BrokerTarget> {
        match s {
            "votes_leader" => Some(BrokerTarget::VotesLeader),
            "txn_coordinator" => Some(BrokerTarget::TxnCoordinator),
            _ => s
                .strip_prefix("broker:")?
                .parse()
                .ok()
                .map(BrokerTarget::Node),
        }
    }
}

/// One fault on the timeline. `at_s`/`for_s`: when it starts and how long it lasts.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Apache Kafka: SIGKILLs a broker (no controlled shutdown), restarts it on its data
    /// after `down_s`.
    KafkaKill {
        at_s: u64,
        broker: BrokerTarget,
        down_s: u64,
    },
    /// Apache Kafka: SIGSTOPs a broker for `for_s` (a hung JVM: connections stay open,
    /// nothing answers), then SIGCONT.
    KafkaPause {
        at_s: u64,
        for_s: u64,
        broker: BrokerTarget,
    },
    /// Apache Kafka: every broker in turn stopped (SIGTERM, a controlled shutdown) and
    /// restarted, the next one only when every replica is back in sync.
    KafkaRollingRestart { at_s: u64 },
    /// Mock cluster only: a broker down and back.
    KafkaBrokerDown { at_s: u64, for_s: u64, broker: i32 },
    /// Mock cluster only: added round-trip time.
    KafkaRtt {
        at_s: u64,
        for_s: u64,
        broker: i32,
        ms: u64,
    },
    /// Mock cluster only. `api`: produce, fetch, end_txn, add_partitions_to_txn, init_producer_id.
    KafkaRequestErrors { at_s: u64, api: String, count: u32 },
    DynamoLatency {
        at_s: u64,
        for_s: u64,
        ms: u64,
        share: f64,
    },
    DynamoReset {
        at_s: u64,
        for_s: u64,
        share: f64,
        after_forward: bool,
    },
    /// A share of calls is read and never answered, the connection held open (a half-open
    /// or blackholed connection): only the client's own attempt timeout gets it out.
    DynamoBlackhole { at_s: u64, for_s: u64, share: f64 },
    /// DynamoDB's partition limits on the ledger table (`capacity.rs`), times `scale`: a
    /// chain is one partition key, so its votes are throttled beyond its share.
    DynamoPartitionLimit { at_s: u64, for_s: u64, scale: f64 },
    /// `error`: InternalServerError, ProvisionedThroughputExceededException, ThrottlingException.
    DynamoError {
        at_s: u64,
        for_s: u64,
        share: f64,
        error: String,
    },
    /// Kills random actors of these kinds (chain_writer, shard_worker, ingest_batcher,
    /// lease_coordinator, writer_coordinator) every `every_ms` during the window.
    ActorKill {
        at_s: u64,
        for_s: u64,
        every_ms: u64,
        kinds: Vec<String>,
    },
    /// Configures a failpoint (`fail` crate syntax, e.g. "20%return") during the window.
    /// Needs a build with `--features chaos`.
    Failpoint {
        at_s: u64,
        for_s: u64,
        name: String,
        action: String,
    },
    /// SIGKILLs a process running `role` every `every_s` (the role's processes in turn),
    /// restarting it after `down_s`.
    ProcessKill {
        at_s: u64,
        for_s: u64,
        role: String,
        every_s: u64,
        down_s: u64,
    },
}

impl Fault {
    pub fn label(&self) -> &'static str {
        match self {
            Fault::KafkaKill { .. } => "kafka_kill",
            Fault::KafkaPause { .. } => "kafka_pause",
            Fault::KafkaRollingRestart { .. } => "kafka_rolling_restart",
            Fault::KafkaBrokerDown { .. } => "kafka_broker_down",
            Fault::KafkaRtt { .. } => "kafka_rtt",
            Fault::KafkaRequestErrors { .. } => "kafka_request_errors",
            Fault::DynamoLatency { .. } => "dynamodb_latency",
            Fault::DynamoReset { .. } => "dynamodb_reset",
            Fault::DynamoError { .. } => "dynamodb_error",
            Fault::DynamoBlackhole { .. } => "dynamodb_blackhole",
            Fault::DynamoPartitionLimit { .. } => "dynamodb_partition_limit",
            Fault::ActorKill { .. } => "actor_kill",
            Fault::Failpoint { .. } => "failpoint",
            Fault::ProcessKill { .. } => "process_kill",
        }
    }
    /// How long the runner keeps the fault active (0 for one-shot faults: request errors,
    /// and the Apache Kafka faults, which run their own course).
    pub fn for_s(&self) -> u64 {
        match self {
            Fault::KafkaBrokerDown { for_s, .. }
            | Fault::KafkaRtt { for_s, .. }
            | Fault::DynamoLatency { for_s, .. }
            | Fault::DynamoReset { for_s, .. }
            | Fault::DynamoError { for_s, .. }
            | Fault::DynamoBlackhole { for_s, .. }
            | Fault::DynamoPartitionLimit { for_s, .. }
            | Fault::ActorKill { for_s, .. }
            | Fault::Failpoint { for_s, .. }
            | Fault::ProcessKill { for_s, .. } => *for_s,
            Fault::KafkaRequestErrors { .. }
            | Fault::KafkaKill { .. }
            | Fault::KafkaPause { .. }
            | Fault::KafkaRollingRestart { .. } => 0,
        }
    }
    pub fn at_s(&self) -> u64 {
        match self {
            Fault::KafkaKill { at_s, .. }
            | Fault::KafkaPause { at_s, .. }
            | Fault::KafkaRollingRestart { at_s }
            | Fault::KafkaBrokerDown { at_s, .. }
            | Fault::KafkaRtt { at_s, .. }
            | Fault::KafkaRequestErrors { at_s, .. }
            | Fault::DynamoLatency { at_s, .. }
            | Fault::DynamoReset { at_s, .. }
            | Fault::DynamoError { at_s, .. }
            | Fault::DynamoBlackhole { at_s, .. }
            | Fault::DynamoPartitionLimit { at_s, .. }
            | Fault::ActorKill { at_s, .. }
            | Fault::Failpoint { at_s, .. }
            | Fault::ProcessKill { at_s, .. } => *at_s,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("invalid scenario {0}: {1}")]
    Parse(String, toml_error::Error),
    #[error("invalid scenario {0}: {1}")]
    Invalid(String, String),
}

mod toml_error {
    pub type Error = Box<figment::Error>;
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Read(p.clone(), e))?;
        Self::parse(&p, &text)
    }

    /// Whether a fault needs the mock cluster (`Some(true)`), Apache Kafka (`Some(false)`)
    /// or either.
    fn needs_mock(f: &Fault) -> Option<bool> {
        match f {
            Fault::KafkaBrokerDown { .. }
            | Fault::KafkaRtt { .. }
            | Fault::KafkaRequestErrors { .. } => Some(true),
            Fault::KafkaKill { .. }
            | Fault::KafkaPause { .. }
            | Fault::KafkaRollingRestart { .. } => Some(false),
            _ => None,
        }
    }

    /// Every problem of a parsed scenario, each one a sentence.
    fn problems(&self) -> Vec<String> {
        let s = self;
        let mut errs = vec![];
        if s.duration_s == 0 || s.rate == 0 || s.clients == 0 {
            errs.push("duration_s, rate and clients must be positive".to_string());
        }
        if !(0.0..=0.9).contains(&s.resubmit_share)
            || !(0.0..=0.9).contains(&s.client.drop_answer_share)
        {
            errs.push("resubmit_share and client.drop_answer_share must be within 0..=0.9".into());
        }
        if !(1..=5).contains(&s.brokers) {
            errs.push(format!("brokers = {}: 1 to 5", s.brokers));
        }
        for p in &s.processes {
            if !matches!(p.as_str(), "ingest" | "writer" | "projector" | "query") {
                errs.push(format!(
                    "processes: '{p}' is not a role that runs as a process (ingest, writer, projector, query)"
                ));
            }
        }
        for f in &s.faults {
            if let Fault::ProcessKill { role, .. } = f
                && !s.processes.contains(role)
            {
                errs.push(format!(
                    "process_kill of '{role}' needs '{role}' in processes"
                ));
            }
            match Self::needs_mock(f) {
                Some(true) if s.kafka != KafkaEngine::Mock => errs.push(format!(
                    "{} needs kafka = \"mock\" (only the mock cluster injects it)",
                    f.label()
                )),
                Some(false) if s.kafka != KafkaEngine::Apache => errs.push(format!(
                    "{} needs kafka = \"apache\" (it acts on broker processes)",
                    f.label()
                )),
                _ => {}
            }
            let node = match f {
                Fault::KafkaKill { broker, .. } | Fault::KafkaPause { broker, .. } => {
                    match broker {
                        BrokerTarget::Node(n) => Some(*n),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some(n) = node
                && !(1..=s.brokers).contains(&n)
            {
                errs.push(format!(
                    "{}: broker:{n} is not one of 1..={}",
                    f.label(),
                    s.brokers
                ));
            }
            if matches!(f, Fault::KafkaRollingRestart { .. }) && s.brokers < 3 {
                errs.push(
                    "kafka_rolling_restart needs brokers = 3 or more (replication 3, min ISR 2)"
                        .into(),
                );
            }
        }
        errs
    }

    pub fn parse(name: &str, text: &str) -> Result<Scenario, ScenarioError> {
        use figment::providers::{Format, Toml};
        let s: Scenario = figment::Figment::new()
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| ScenarioError::Parse(name.into(), Box::new(e)))?;
        let errs = s.problems();
        if errs.is_empty() {
            Ok(s)
        } else {
            Err(ScenarioError::Invalid(name.into(), errs.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "name = \"t\"\nduration_s = 10\nrate = 10\nclients = 2\n";

    #[test]
    fn broker_targets_parse() {
        assert_eq!(
            BrokerTarget::parse("votes_leader"),
            Some(BrokerTarget::VotesLeader)
        );
        assert_eq!(
            BrokerTarget::parse("txn_coordinator"),
            Some(BrokerTarget::TxnCoordinator)
        );
        assert_eq!(BrokerTarget::parse("broker:2"), Some(BrokerTarget::Node(2)));
        assert_eq!(BrokerTarget::parse("broker:x"), None);
        assert_eq!(BrokerTarget::parse("leader"), None);
    }

    #[test]
    fn an_apache_kafka_scenario_parses_with_repeated_processes() {
        let text = format!(
            "{BASE}processes = [\"ingest\", \"ingest\", \"writer\"]\n[[faults]]\nkind = \"kafka_kill\"\nat_s = 2\nbroker = \"votes_leader\"\ndown_s = 3\n"
        );
        let s = Scenario::parse("t", &text).expect("valid");
        assert_eq!(s.kafka, KafkaEngine::Apache);
        assert_eq!(s.brokers, 3);
        assert_eq!(s.processes.len(), 3);
        assert!(matches!(s.faults[0], Fault::KafkaKill { down_s: 3, .. }));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = format!(
            "{BASE}brokers = 2\nprocesses = [\"lag\"]\n[[faults]]\nkind = \"kafka_rtt\"\nat_s = 1\nfor_s = 1\nbroker = 1\nms = 5\n[[faults]]\nkind = \"kafka_pause\"\nat_s = 1\nfor_s = 1\nbroker = \"broker:4\"\n[[faults]]\nkind = \"kafka_rolling_restart\"\nat_s = 3\n"
        );
        let err = Scenario::parse("t", &text).unwrap_err().to_string();
        for want in [
            "'lag' is not a role",
            "kafka_rtt needs kafka = \"mock\"",
            "broker:4 is not one of 1..=2",
            "kafka_rolling_restart needs brokers = 3",
        ] {
            assert!(err.contains(want), "{want} in {err}");
        }
    }

    #[test]
    fn a_mock_fault_on_the_mock_cluster_is_fine_and_a_broker_kill_is_not() {
        let ok = format!(
            "{BASE}kafka = \"mock\"\n[[faults]]\nkind = \"kafka_request_errors\"\nat_s = 1\napi = \"produce\"\ncount = 2\n"
        );
        Scenario::parse("t", &ok).expect("valid");
        let bad = format!(
            "{BASE}kafka = \"mock\"\n[[faults]]\nkind = \"kafka_rolling_restart\"\nat_s = 1\n"
        );
        let err = Scenario::parse("t", &bad).unwrap_err().to_string();
        assert!(err.contains("needs kafka = \"apache\""), "{err}");
    }

    #[test]
    fn every_shipped_scenario_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../chaos");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("chaos/") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "toml") {
                Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 10, "{n} scenarios in chaos/");
    }
}
