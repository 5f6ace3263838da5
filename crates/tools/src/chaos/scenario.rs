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
    /// Roles run as separate `votechain run` processes (the rest in-process).
    #[serde(default)]
    pub processes: Vec<String>,
    #[serde(default)]
    pub faults: Vec<Fault>,
}

fn four() -> u32 {
    4
}
fn one() -> u32 {
    1
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

/// One fault on the timeline. `at_s`/`for_s`: when it starts and how long it lasts.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    KafkaBrokerDown {
        at_s: u64,
        for_s: u64,
        broker: i32,
    },
    KafkaRtt {
        at_s: u64,
        for_s: u64,
        broker: i32,
        ms: u64,
    },
    /// `api`: produce, fetch, end_txn, add_partitions_to_txn, init_producer_id.
    KafkaRequestErrors {
        at_s: u64,
        api: String,
        count: u32,
    },
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
    DynamoBlackhole {
        at_s: u64,
        for_s: u64,
        share: f64,
    },
    /// DynamoDB's partition limits on the ledger table (`capacity.rs`), times `scale`: a
    /// chain is one partition key, so its votes are throttled beyond its share.
    DynamoPartitionLimit {
        at_s: u64,
        for_s: u64,
        scale: f64,
    },
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
    /// SIGKILLs the process running `role` every `every_s`, restarting it after `down_s`.
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
    /// How long the fault lasts (0 for one-shot request errors).
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
            Fault::KafkaRequestErrors { .. } => 0,
        }
    }
    pub fn at_s(&self) -> u64 {
        match self {
            Fault::KafkaBrokerDown { at_s, .. }
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

    pub fn parse(name: &str, text: &str) -> Result<Scenario, ScenarioError> {
        use figment::providers::{Format, Toml};
        let s: Scenario = figment::Figment::new()
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| ScenarioError::Parse(name.into(), Box::new(e)))?;
        let mut errs = vec![];
        if s.duration_s == 0 || s.rate == 0 || s.clients == 0 {
            errs.push("duration_s, rate and clients must be positive".to_string());
        }
        if !(0.0..=0.9).contains(&s.resubmit_share)
            || !(0.0..=0.9).contains(&s.client.drop_answer_share)
        {
            errs.push("resubmit_share and client.drop_answer_share must be within 0..=0.9".into());
        }
        for p in &s.processes {
            if !matches!(p.as_str(), "writer" | "projector") {
                errs.push(format!(
                    "processes: '{p}' cannot run as a separate process here (writer, projector)"
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
        }
        if errs.is_empty() {
            Ok(s)
        } else {
            Err(ScenarioError::Invalid(name.into(), errs.join("; ")))
        }
    }
}
