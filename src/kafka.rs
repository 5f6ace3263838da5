//! Kafka plumbing: every client's configuration comes from [`KafkaConfig`] (bootstrap
//! servers plus any librdkafka property, so the same binary talks to MSK with TLS/SASL),
//! and the settings exactly-once depends on are set here and nowhere else.
//!
//! [`EmbeddedKafka`] hosts librdkafka's mock cluster in-process for `dev` and tests: a
//! real Kafka-protocol broker set on loopback with idempotence, transactions, consumer
//! groups and fault injection. It does NOT hide aborted transactions from
//! `read_committed` readers; votechain's correctness does not depend on that (see
//! ARCHITECTURE.md, "Aborted records").

use crate::config::KafkaConfig;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaResult;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("cannot start the embedded Kafka cluster: {0}")]
    Embedded(rdkafka::error::KafkaError),
    #[error("cannot create topic {topic}: {detail}")]
    Topic { topic: String, detail: String },
    #[error("Kafka client: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("topic {topic} exists but {problem}")]
    Existing { topic: String, problem: String },
}

/// What an existing `votes` or `vote-audit` topic must be, or why it is not: the
/// partitions the config names (adding partitions to a live topic would move chains to
/// other partitions, and their writers would fence each other in turn) and an infinite
/// retention (the log is the audit record; replay and recount read it from the start).
/// Pure: `setup-topics` reads the topic and asks this.
pub fn existing_topic_problems(
    partitions: usize,
    want_partitions: u32,
    retention_ms: Option<&str>,
) -> Vec<String> {
    let mut out = vec![];
    if partitions != want_partitions as usize {
        out.push(format!(
            "has {partitions} partitions and the config says {want_partitions}: votechain never changes a live topic's partitions (chains would move); set kafka.partitions = {partitions}, or start a new topic for a new election"
        ));
    }
    match retention_ms {
        Some("-1") | None => {}
        Some(ms) => out.push(format!(
            "keeps records for retention.ms = {ms}: set it to -1 (kafka-configs.sh --alter --add-config retention.ms=-1), or acknowledged votes will be deleted before replay can read them"
        )),
    }
    out
}

/// The base configuration every client shares: bootstrap servers and pass-through properties.
pub fn base_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.bootstrap_servers);
    // Votes are few bytes; keep the client's own buffers modest.
    c.set("socket.keepalive.enable", "true");
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    for (k, var) in &cfg.properties_env {
        // Presence is checked by Config::validate.
        c.set(k, std::env::var(var).unwrap_or_default());
    }
    c
}

/// Ingest's producer: idempotent and transactional. `transactional.id` is stable per
/// instance, so a restarted instance fences its zombie predecessor.
pub fn transactional_producer_config(
    cfg: &KafkaConfig,
    transactional_id: &str,
    txn_timeout_ms: u64,
) -> ClientConfig {
    let mut c = base_config(cfg);
    c.set("transactional.id", transactional_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "transaction.timeout.ms",
            txn_timeout_ms.max(1_000).to_string(),
        )
        // Java-compatible key hashing: a chain's key lands on the same partition from any client.
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "0")
        .set("message.timeout.ms", txn_timeout_ms.max(1_000).to_string());
    c
}

/// Commits the producer's open transaction (blocking: call it from `spawn_blocking`).
///
/// Waits first, up to `timeout`, until librdkafka has released every delivered message.
/// rust-rdkafka's `commit_transaction` flushes before committing, and its flush, finding a
/// message not yet released, polls the event queue for up to 100 ms; but a FutureProducer's
/// own polling thread takes the event, so the flush sleeps the full 100 ms. A delivery
/// future resolves just before its message is released, so after awaiting every future
/// that race was lost by about 3 % of commits: exactly 100 ms each (measured against the
/// mock cluster: 3,000 transactions of 33 votes took 13.9 s with it, 4.9 s without; the
/// slowest commit went from 102 ms to 4.9 ms).
pub fn commit_transaction(p: &FutureProducer, timeout: Duration) -> KafkaResult<()> {
    let started = std::time::Instant::now();
    while p.in_flight_count() > 0 && started.elapsed() < timeout {
        std::thread::sleep(Duration::from_micros(100));
    }
    p.commit_transaction(timeout.saturating_sub(started.elapsed()))
}

/// A plain idempotent producer (dead letters).
pub fn idempotent_producer_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = base_config(cfg);
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "0");
    c
}

/// A consumer of one assigned partition: `read_committed`, nothing auto-committed or
/// auto-stored, and an out-of-range offset is an error, never a silent jump.
pub fn partition_consumer_config(cfg: &KafkaConfig, group_id: &str) -> ClientConfig {
    let mut c = base_config(cfg);
    c.set("group.id", group_id)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "error")
        .set("fetch.wait.max.ms", "20");
    c
}

/// The writer pods' group membership consumer (it only learns the assignment).
pub fn group_consumer_config(cfg: &KafkaConfig, group_id: &str) -> ClientConfig {
    let mut c = base_config(cfg);
    c.set("group.id", group_id)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000");
    c
}

/// The librdkafka mock cluster, hosted in this process.
pub struct EmbeddedKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedKafka {
    /// Starts `brokers` brokers on loopback and creates the topics of `cfg`.
    pub fn start(cfg: &KafkaConfig) -> Result<EmbeddedKafka, KafkaSetupError> {
        let cluster =
            MockCluster::new(cfg.embedded_brokers as i32).map_err(KafkaSetupError::Embedded)?;
        let k = EmbeddedKafka { cluster };
        let rf = cfg.replication_factor.min(cfg.embedded_brokers).max(1) as i32;
        for (topic, parts) in [
            (&cfg.votes_topic, cfg.partitions),
            (&cfg.audit_topic, cfg.partitions),
            (&cfg.dead_letter_topic, 1),
        ] {
            k.cluster
                .create_topic(topic, parts as i32, rf)
                .map_err(|e| KafkaSetupError::Topic {
                    topic: topic.clone(),
                    detail: e.to_string(),
                })?;
        }
        Ok(k)
    }

    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Fault injection, for chaos scenarios and tests.
    pub fn mock(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}

/// Creates the topics on a real cluster (MSK); existing topics are left as they are.
/// An existing topic against [`existing_topic_problems`]: its partition count (metadata)
/// and its `retention.ms` (DescribeConfigs; the mock cluster has no DescribeConfigs, and
/// `setup-topics` refuses the embedded cluster anyway).
async fn check_existing(
    admin: &AdminClient<DefaultClientContext>,
    cfg: &KafkaConfig,
    topic: &str,
) -> Result<(), KafkaSetupError> {
    use rdkafka::admin::{ConfigResourceResult, ResourceSpecifier};
    let md = admin
        .inner()
        .fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions = md.topics().first().map_or(0, |t| t.partitions().len());
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    let described: Vec<ConfigResourceResult> = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &opts)
        .await?;
    let retention = described
        .into_iter()
        .flatten()
        .flat_map(|r| r.entries)
        .find(|e| e.name == "retention.ms")
        .and_then(|e| e.value);
    let problems = existing_topic_problems(partitions, cfg.partitions, retention.as_deref());
    if problems.is_empty() {
        Ok(())
    } else {
        Err(KafkaSetupError::Existing {
            topic: topic.into(),
            problem: problems.join("; and it "),
        })
    }
}

pub async fn ensure_topics(cfg: &KafkaConfig) -> Result<(), KafkaSetupError> {
    let admin: AdminClient<DefaultClientContext> = base_config(cfg).create()?;
    let rf = || TopicReplication::Fixed(cfg.replication_factor as i32);
    let retention = "-1"; // the vote log is the audit record: keep it (tier it to S3 on MSK).
    // Survive one broker loss without losing an acknowledged write.
    let min_isr = cfg
        .replication_factor
        .saturating_sub(1)
        .clamp(1, 2)
        .to_string();
    let topics = [
        NewTopic::new(&cfg.votes_topic, cfg.partitions as i32, rf())
            .set("retention.ms", retention)
            .set("min.insync.replicas", &min_isr),
        NewTopic::new(&cfg.audit_topic, cfg.partitions as i32, rf())
            .set("retention.ms", retention)
            .set("min.insync.replicas", &min_isr),
        NewTopic::new(&cfg.dead_letter_topic, 1, rf()).set("retention.ms", retention),
    ];
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for r in admin.create_topics(topics.iter(), &opts).await? {
        match r {
            Ok(_) => {}
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists))
                if topic != cfg.dead_letter_topic =>
            {
                check_existing(&admin, cfg, &topic).await?;
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaSetupError::Topic {
                    topic,
                    detail: code.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// A consumed message as a [`Record`], with its `votechain-mac` header when it has one.
pub fn record_of(m: &impl rdkafka::message::Message) -> votechain_core::linking::Record {
    use rdkafka::message::Headers;
    let mac = m.headers().and_then(|h| {
        h.iter()
            .find(|h| h.key == votechain_core::provenance::HEADER)
            .and_then(|h| h.value.map(<[u8]>::to_vec))
    });
    votechain_core::linking::Record {
        offset: m.offset(),
        payload: m.payload().unwrap_or_default().to_vec(),
        mac,
    }
}

#[cfg(test)]
mod tests {
    use super::existing_topic_problems;

    #[test]
    fn an_existing_topic_must_match_the_config_and_keep_every_record() {
        assert!(existing_topic_problems(12, 12, Some("-1")).is_empty());
        assert!(existing_topic_problems(12, 12, None).is_empty());
        let more = existing_topic_problems(16, 12, Some("-1"));
        assert_eq!(more.len(), 1);
        assert!(more[0].contains("has 16 partitions") && more[0].contains("never changes"));
        // MSK's default retention: 7 days.
        let week = existing_topic_problems(12, 12, Some("604800000"));
        assert!(week[0].contains("retention.ms = 604800000"), "{week:?}");
        assert_eq!(existing_topic_problems(4, 12, Some("1000")).len(), 2);
    }
}
