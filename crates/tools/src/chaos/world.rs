//! The world of one chaos run, set up before the load starts: DynamoDB Local behind a
//! [`FaultProxy`], the run's Kafka (Apache Kafka, or the mock cluster), the tables and the
//! election's stored manifest, and the config every role of the run is given.

use super::brokers::ChaosKafka;
use super::proxy::FaultProxy;
use super::scenario::{KafkaEngine, Scenario};
use super::{ChaosError, RunOptions, setup};
use crate::mock_kafka::MockKafka;
use votechain::config::{Config, KafkaConfig};
use votechain::dev::{DynamoDbLocal, KafkaLocal, KafkaLocalOptions};
use votechain::dynamo::{self, ledger::Ledger};
use votechain::tables;

/// The election every scenario votes in.
pub const ELECTION: &str = "demo-2026";
pub const CANDIDATES: [&str; 3] = ["alice", "bob", "carol"];
pub const REGIONS: [&str; 4] = ["north", "south", "east", "west"];

pub struct World {
    _dynamodb: Option<DynamoDbLocal>,
    pub proxy: FaultProxy,
    /// The run's Kafka (taken by the timeline while the faults run).
    pub kafka: Option<ChaosKafka>,
    pub ledger: Ledger,
    /// What every role's config is made of.
    pub roles: RoleToml,
    /// The `[[elections]]` config lines naming the stored manifest.
    pub elections: String,
    /// The config of the checker: DynamoDB straight, not through the faults.
    pub check_cfg: Config,
}

/// The parts of a role's config that every role of a run shares.
pub struct RoleToml {
    pub bootstrap: String,
    pub dynamodb_endpoint: String,
    pub table: String,
    pub partitions: u32,
    pub replication_factor: u32,
}

impl World {
    pub async fn start(s: &Scenario, opts: &RunOptions) -> Result<World, ChaosError> {
        let (dynamodb, ddb_ep) = match &opts.dynamodb_endpoint {
            Some(ep) => (None, ep.clone()),
            None => {
                let d = DynamoDbLocal::start_on_free_port()
                    .await
                    .map_err(setup("DynamoDB Local"))?;
                let ep = d.endpoint.clone();
                (Some(d), ep)
            }
        };
        let proxy = FaultProxy::start(&ddb_ep)
            .await
            .map_err(setup("fault proxy"))?;
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let (kafka, replication_factor) = start_kafka(s).await?;
        let roles = RoleToml {
            bootstrap: kafka.bootstrap_servers(),
            dynamodb_endpoint: proxy.endpoint.clone(),
            table: format!("chaos-{}-{suffix}", s.name),
            partitions: s.partitions,
            replication_factor,
        };
        // Tables and the election's manifest straight on DynamoDB Local, not through the
        // faults.
        let bare = Config::from_toml(&roles.toml(&["query"], "chaos-0", "127.0.0.1:0", ""))
            .map_err(setup("config"))?;
        let direct = votechain::config::DynamoConfig {
            endpoint: Some(ddb_ep.clone()),
            ..bare.dynamodb.clone()
        };
        let ledger = Ledger::new(dynamo::client(&direct).await, roles.table.clone());
        tables::ensure_all(&ledger.db, &direct)
            .await
            .map_err(setup("tables"))?;
        let election = format!(
            "[[elections]]\nid = \"{ELECTION}\"\ncandidates = {CANDIDATES:?}\nregions = {REGIONS:?}\nchains = {}\n",
            s.chains
        );
        let elections = crate::fixture::store_elections(&ledger, &election)
            .await
            .map_err(setup("election manifest"))?;
        let mut check_cfg =
            Config::from_toml(&roles.toml(&["query"], "chaos-check", "127.0.0.1:0", &elections))
                .map_err(setup("config"))?;
        check_cfg.dynamodb = direct;
        votechain::manifests::resolve(&ledger, &mut check_cfg)
            .await
            .map_err(setup("election manifest"))?;
        Ok(World {
            _dynamodb: dynamodb,
            proxy,
            kafka: Some(kafka),
            ledger,
            roles,
            elections,
            check_cfg,
        })
    }

    /// Takes the run's Kafka (once).
    pub fn kafka_take(&mut self) -> ChaosKafka {
        self.kafka.take().expect("the run's Kafka, taken once")
    }

    /// The config of a node running `roles` as `instance`, listening on `http_addr`.
    pub fn config(
        &self,
        roles: &[&str],
        instance: &str,
        http_addr: &str,
    ) -> Result<Config, ChaosError> {
        Config::from_toml(&self.roles.toml(roles, instance, http_addr, &self.elections))
            .map_err(setup("config"))
    }
}

impl RoleToml {
    /// A role's whole config as TOML (what a role process is given).
    pub fn toml(&self, roles: &[&str], instance: &str, http_addr: &str, elections: &str) -> String {
        // A blackholed call gives up after 1.5 s and is retried (default 10 s).
        let local = crate::fixture::local_toml(
            instance,
            &self.bootstrap,
            &self.dynamodb_endpoint,
            &self.table,
            self.partitions,
            self.replication_factor,
        )
        .replace(
            "local_credentials = true\n",
            "local_credentials = true\nconnect_timeout_ms = 1000\nattempt_timeout_ms = 1500\n",
        )
        .replace(
            "http_addr = \"127.0.0.1:0\"",
            &format!("http_addr = \"{http_addr}\""),
        );
        format!(
            r#"roles = {roles:?}
{local}[projector]
failover_ms = 2000
idle_poll_ms = 100
[ingest]
clients = [{{ id = "chaos", key = "chaos-key" }}]
transaction_timeout_ms = 5000
[writer]
retry_initial_ms = 20
retry_max_ms = 1000
[supervision]
intensity = {{ max_restarts = 10000, period = 60000 }}
backoff = {{ initial = 20, max = 1000, factor = 2.0 }}
{elections}"#
        )
    }
}

/// The run's Kafka with its topics, and the replication factor they have.
async fn start_kafka(s: &Scenario) -> Result<(ChaosKafka, u32), ChaosError> {
    let want = KafkaConfig {
        partitions: s.partitions,
        replication_factor: s.brokers.min(3),
        local: false,
        ..Default::default()
    };
    Ok(match s.kafka {
        KafkaEngine::Apache => {
            let k = KafkaLocal::start_with_topics(KafkaLocalOptions::nodes(s.brokers), &want)
                .await
                .map_err(setup("Apache Kafka"))?;
            (ChaosKafka::Apache(k), want.replication_factor)
        }
        KafkaEngine::Mock => {
            let m = MockKafka::start(&want, s.brokers).map_err(setup("the mock cluster"))?;
            (ChaosKafka::Mock(m), want.replication_factor)
        }
    })
}
