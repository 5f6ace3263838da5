//! Kafka plumbing: every client's configuration comes from [`KafkaConfig`] (bootstrap
//! servers plus any librdkafka property, so the same binary talks to MSK with TLS/SASL),
//! and the settings exactly-once depends on are set here and nowhere else.
//!
//! Topics are created by CreateTopics and read back by DescribeConfigs
//! ([`ensure_topics`], [`check_topics`]): a topic with other settings than votechain's
//! (partitions, replication, `min.insync.replicas`, retention, cleanup policy) is an error
//! naming the setting. The local Apache Kafka of `dev` and the tests is `crate::dev`'s.

use crate::config::KafkaConfig;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaResult;
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    #[error("cannot create topic {topic}: {detail}")]
    Topic { topic: String, detail: String },
    #[error("Kafka client: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("topic {topic} exists but {problem}")]
    Existing { topic: String, problem: String },
    #[error("topic {0} does not exist: create it with `votechain setup-topics`")]
    Missing(String),
}

/// What a topic must be: its partitions (None: any), replication factor, and the configs
/// whose values exactly-once and zero loss rest on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: Option<u32>,
    pub replication_factor: u32,
    pub min_insync_replicas: u32,
}

/// A topic as the cluster describes it: partitions, the replicas of its first partition,
/// and its configs (DescribeConfigs; `None` when they could not be read).
#[derive(Debug, Clone, Default)]
pub struct TopicState {
    pub partitions: usize,
    pub replicas: usize,
    pub configs: Option<std::collections::BTreeMap<String, String>>,
}

/// The three topics of `cfg` as votechain creates them: `votes` and `vote-audit` with the
/// config's partitions, the dead letters with one; all at the config's replication factor
/// with `min.insync.replicas` one less (at least 1, at most 2), so one broker can be lost
/// without losing an acknowledged write.
pub fn topic_specs(cfg: &KafkaConfig) -> [TopicSpec; 3] {
    let rf = cfg.replication_factor.max(1);
    let min_isr = rf.saturating_sub(1).clamp(1, 2);
    let spec = |name: &str, partitions| TopicSpec {
        name: name.to_string(),
        partitions,
        replication_factor: rf,
        min_insync_replicas: min_isr,
    };
    [
        spec(&cfg.votes_topic, Some(cfg.partitions)),
        spec(&cfg.audit_topic, Some(cfg.partitions)),
        spec(&cfg.dead_letter_topic, None),
    ]
}

/// Why an existing topic is not what `want` says, one problem a setting, each naming it:
/// the partitions (adding partitions to a live topic would move chains to other
/// partitions, and their writers would fence each other in turn), the replication factor
/// and `min.insync.replicas` (an acknowledged vote must survive a broker), an infinite
/// `retention.ms` and `cleanup.policy=delete` (the log is the audit record; replay and
/// recount read it from the start, and compaction would keep only the last vote of each
/// chain's key). Pure: `setup-topics`, `dev` and the node's start ask it.
pub fn existing_topic_problems(want: &TopicSpec, have: &TopicState) -> Vec<String> {
    let mut out = vec![];
    if let Some(p) = want.partitions.filter(|p| have.partitions != *p as usize) {
        out.push(format!(
            "has {} partitions and the config says {p}: votechain never changes a live topic's partitions (chains would move); set kafka.partitions = {}, or start a new topic for a new election",
            have.partitions, have.partitions
        ));
    }
    if have.replicas < want.replication_factor as usize {
        out.push(format!(
            "has replication factor {} and the config says {} (kafka.replication_factor): an acknowledged vote would live on fewer brokers; recreate it, or reassign its partitions (kafka-reassign-partitions.sh)",
            have.replicas, want.replication_factor
        ));
    }
    let Some(c) = &have.configs else {
        return out;
    };
    let get = |k: &str| c.get(k).map(String::as_str);
    match get("retention.ms") {
        Some("-1") | None => {}
        Some(ms) => out.push(format!(
            "keeps records for retention.ms = {ms}: set it to -1 (kafka-configs.sh --alter --add-config retention.ms=-1), or acknowledged votes will be deleted before replay can read them"
        )),
    }
    match get("cleanup.policy") {
        Some("delete") | None => {}
        Some(p) => out.push(format!(
            "has cleanup.policy = {p}: it must be delete (compaction keeps only the newest record of each chain's key; kafka-configs.sh --alter --add-config cleanup.policy=delete)"
        )),
    }
    let min_isr = get("min.insync.replicas").and_then(|v| v.parse::<u32>().ok());
    match min_isr {
        Some(m) if m < want.min_insync_replicas => out.push(format!(
            "has min.insync.replicas = {m} and needs at least {} (kafka-configs.sh --alter --add-config min.insync.replicas={}), or a vote acknowledged by one broker is lost with it",
            want.min_insync_replicas, want.min_insync_replicas
        )),
        Some(m) if m as usize > have.replicas => out.push(format!(
            "has min.insync.replicas = {m}, more than its {} replicas: no write can succeed",
            have.replicas
        )),
        _ => {}
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

/// How a topic is now: partitions and replicas from the metadata, configs from
/// DescribeConfigs (`None` when the cluster will not describe them, e.g. an ACL without
/// DescribeConfigs: the caller says so). `None` when the topic does not exist.
async fn describe_topic(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Result<Option<TopicState>, KafkaSetupError> {
    use rdkafka::admin::ResourceSpecifier;
    let md = admin
        .inner()
        .fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let Some(t) = md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
    else {
        return Ok(None);
    };
    let partitions = t.partitions().len();
    let replicas = t
        .partitions()
        .iter()
        .map(|p| p.replicas().len())
        .min()
        .unwrap_or(0);
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    let configs = match admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &opts)
        .await
    {
        Ok(results) => results.into_iter().find_map(Result::ok).map(|r| {
            r.entries
                .into_iter()
                .filter_map(|e| Some((e.name, e.value?)))
                .collect()
        }),
        Err(e) => {
            tracing::debug!(topic, error = %e, "DescribeConfigs failed");
            None
        }
    };
    Ok(Some(TopicState {
        partitions,
        replicas,
        configs,
    }))
}

/// Checks the topics of `cfg` named in `only` (all of them when `None`) against
/// [`topic_specs`]: missing or different is an error naming the setting; configs the
/// cluster will not describe are a warning (checked by `setup-topics` with an operator's
/// rights). A role checks only the topics it uses: its ACLs describe no others.
pub async fn check_topics(cfg: &KafkaConfig, only: Option<&[&str]>) -> Result<(), KafkaSetupError> {
    let admin: AdminClient<DefaultClientContext> = base_config(cfg).create()?;
    let wanted = |name: &str| only.is_none_or(|o| o.contains(&name));
    for want in topic_specs(cfg).into_iter().filter(|t| wanted(&t.name)) {
        let have = describe_topic(&admin, &want.name)
            .await?
            .ok_or_else(|| KafkaSetupError::Missing(want.name.clone()))?;
        if have.configs.is_none() {
            tracing::warn!(topic = %want.name, "cannot read the topic's configs (DescribeConfigs refused or unsupported): retention, cleanup policy and min.insync.replicas not checked");
        }
        let problems = existing_topic_problems(&want, &have);
        if !problems.is_empty() {
            return Err(KafkaSetupError::Existing {
                topic: want.name,
                problem: problems.join("; and it "),
            });
        }
    }
    Ok(())
}

/// Creates the topics of `cfg` by CreateTopics (an existing one is left as it is), then
/// reads every one back ([`check_topics`]): a topic that exists with other settings is an
/// error naming the setting, never silently accepted. Retries while a new cluster's
/// controller is not ready yet (up to 60 s).
pub async fn ensure_topics(cfg: &KafkaConfig) -> Result<(), KafkaSetupError> {
    let admin: AdminClient<DefaultClientContext> = base_config(cfg).create()?;
    let specs = topic_specs(cfg);
    let retention = "-1"; // the vote log is the audit record: keep it (tier it to S3 on MSK).
    let isr: Vec<String> = specs
        .iter()
        .map(|s| s.min_insync_replicas.to_string())
        .collect();
    let topics: Vec<NewTopic> = specs
        .iter()
        .zip(&isr)
        .map(|(s, isr)| {
            NewTopic::new(
                &s.name,
                s.partitions.unwrap_or(1) as i32,
                TopicReplication::Fixed(s.replication_factor as i32),
            )
            .set("retention.ms", retention)
            .set("cleanup.policy", "delete")
            .set("min.insync.replicas", isr)
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut pending: Vec<&NewTopic> = topics.iter().collect();
    while !pending.is_empty() {
        let mut again = vec![];
        for r in admin.create_topics(pending.iter().copied(), &opts).await? {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) if transient(code) && std::time::Instant::now() < deadline => {
                    tracing::debug!(%topic, %code, "CreateTopics again");
                    again.extend(topics.iter().filter(|t| t.name == topic));
                }
                Err((topic, code)) => {
                    return Err(KafkaSetupError::Topic {
                        topic,
                        detail: code.to_string(),
                    });
                }
            }
        }
        if !again.is_empty() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        pending = again;
    }
    check_topics(cfg, None).await
}

/// CreateTopics errors of a cluster still forming (controller or brokers not ready).
fn transient(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::NotController
            | RDKafkaErrorCode::BrokerNotAvailable
            | RDKafkaErrorCode::InvalidReplicationFactor
            | RDKafkaErrorCode::OperationTimedOut
    )
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
    use super::*;

    fn votes() -> TopicSpec {
        topic_specs(&KafkaConfig {
            partitions: 12,
            replication_factor: 3,
            ..Default::default()
        })[0]
            .clone()
    }

    fn state(partitions: usize, replicas: usize, configs: &[(&str, &str)]) -> TopicState {
        TopicState {
            partitions,
            replicas,
            configs: Some(
                configs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        }
    }

    const GOOD: [(&str, &str); 3] = [
        ("retention.ms", "-1"),
        ("cleanup.policy", "delete"),
        ("min.insync.replicas", "2"),
    ];

    #[test]
    fn the_specs_are_what_zero_loss_needs() {
        let [v, a, d] = topic_specs(&KafkaConfig::default());
        assert_eq!(
            (v.partitions, v.replication_factor, v.min_insync_replicas),
            (Some(4), 3, 2)
        );
        assert_eq!(a.partitions, Some(4));
        assert_eq!(d.partitions, None, "the dead letters: any partitions");
        let one = topic_specs(&KafkaConfig {
            replication_factor: 1,
            ..Default::default()
        });
        assert_eq!(one[0].min_insync_replicas, 1);
    }

    #[test]
    fn an_existing_topic_must_match_the_config_and_keep_every_record() {
        assert!(existing_topic_problems(&votes(), &state(12, 3, &GOOD)).is_empty());
        let more = existing_topic_problems(&votes(), &state(16, 3, &GOOD));
        assert_eq!(more.len(), 1);
        assert!(more[0].contains("has 16 partitions") && more[0].contains("never changes"));
        // MSK's default retention: 7 days.
        let week = [("retention.ms", "604800000"), GOOD[1], GOOD[2]];
        let p = existing_topic_problems(&votes(), &state(12, 3, &week));
        assert!(p[0].contains("retention.ms = 604800000"), "{p:?}");
        let compact = [GOOD[0], ("cleanup.policy", "compact"), GOOD[2]];
        let p = existing_topic_problems(&votes(), &state(12, 3, &compact));
        assert!(p[0].contains("cleanup.policy = compact"), "{p:?}");
        let isr1 = [GOOD[0], GOOD[1], ("min.insync.replicas", "1")];
        let p = existing_topic_problems(&votes(), &state(12, 3, &isr1));
        assert!(p[0].contains("min.insync.replicas = 1"), "{p:?}");
        let p = existing_topic_problems(&votes(), &state(12, 1, &GOOD));
        assert!(
            p.iter().any(|p| p.contains("replication factor 1")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|p| p.contains("more than its 1 replicas")),
            "{p:?}"
        );
        let all = [
            ("retention.ms", "1000"),
            ("cleanup.policy", "compact"),
            ("min.insync.replicas", "1"),
        ];
        assert_eq!(
            existing_topic_problems(&votes(), &state(4, 1, &all)).len(),
            5
        );
        // Configs that could not be read: the metadata's checks still apply.
        let unread = TopicState {
            partitions: 4,
            replicas: 3,
            configs: None,
        };
        assert_eq!(existing_topic_problems(&votes(), &unread).len(), 1);
    }
}
