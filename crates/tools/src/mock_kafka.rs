//! librdkafka's mock cluster, kept for one purpose only: the tests and the chaos
//! scenario that must make Kafka answer a protocol error a real broker cannot be made to
//! return on demand (retriable and fatal errors on `EndTxn`, `AddPartitionsToTxn`,
//! `Produce`, `Fetch`, `InitProducerId`). Each user says why in a comment. Everything
//! else runs on Apache Kafka (`votechain::dev::KafkaLocal`), where each of those faults
//! that can be made real (a broker killed, paused, restarted; a producer fenced by its
//! successor) has its own test.
//!
//! What the mock does not do, so no test here may rest on it: it does not hide aborted
//! transactions from `read_committed` readers, does not fence a zombie producer by
//! `transactional.id`, has no DescribeConfigs, and keeps only 5 MB a partition.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use votechain::config::KafkaConfig;

#[derive(Debug, thiserror::Error)]
pub enum MockKafkaError {
    #[error("cannot start librdkafka's mock cluster: {0}")]
    Start(rdkafka::error::KafkaError),
    #[error("cannot create topic {0} on the mock cluster: {1}")]
    Topic(String, rdkafka::error::KafkaError),
}

/// The mock cluster, hosted in this process (it is not `Send`: keep it on the task that
/// made it).
pub struct MockKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl MockKafka {
    /// `brokers` mock brokers on loopback, with the topics of `cfg`.
    pub fn start(cfg: &KafkaConfig, brokers: u32) -> Result<MockKafka, MockKafkaError> {
        let cluster = MockCluster::new(brokers as i32).map_err(MockKafkaError::Start)?;
        let rf = cfg.replication_factor.clamp(1, brokers) as i32;
        for (topic, parts) in [
            (&cfg.votes_topic, cfg.partitions),
            (&cfg.audit_topic, cfg.partitions),
            (&cfg.dead_letter_topic, 1),
        ] {
            cluster
                .create_topic(topic, parts as i32, rf)
                .map_err(|e| MockKafkaError::Topic(topic.clone(), e))?;
        }
        Ok(MockKafka { cluster })
    }

    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// The mock's fault injection.
    pub fn mock(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}
