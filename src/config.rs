//! Typed configuration, one section per role, loaded from TOML with `VOTECHAIN_*`
//! environment overrides (figment) and validated as a whole: every problem is
//! reported at once, not the first one only.
//!
//! One file describes one process: `roles` says which parts of the actor topology
//! it runs (`config/dev.toml` runs them all; `config/writer.toml` only the writer).
//! Unknown keys are errors everywhere (`deny_unknown_fields`): a typo in a
//! production config must not silently fall back to a default.

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use votechain_core::model::{Election, Registry, is_valid_ident};

/// An election this process serves, as its config names it.
///
/// Every election created now is a v2 election: the config names it by `id` (and may pin
/// the `manifest_digest` the operator expects), and its definition comes from the stored
/// manifest (`votechain election create`), so every role reads the same one. Chains cast
/// before manifests existed are served with `hash = "v1"` and the definition inline.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElectionEntry {
    pub id: String,
    /// v2: the expected manifest digest (64 lowercase hex); a different stored one refuses start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// `"v1"` for an inline (pre-manifest) election; absent for v2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chains: Option<u32>,
    /// v1 only: false refuses new votes (422); v2 elections have a voting window instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<bool>,
}

impl ElectionEntry {
    /// A v2 entry: the id, optionally pinned to a digest.
    pub fn v2(id: &str, manifest_digest: Option<String>) -> ElectionEntry {
        ElectionEntry {
            id: id.into(),
            manifest_digest,
            ..Default::default()
        }
    }
    /// True for an inline v1 definition.
    pub fn is_v1(&self) -> bool {
        self.hash.as_deref() == Some("v1")
    }
    /// The v1 definition (only meaningful when [`Self::is_v1`]).
    fn v1_election(&self) -> Election {
        let mut e = Election::v1(&self.id, &[], &[], self.chains.unwrap_or(1));
        e.candidates = self.candidates.iter().cloned().collect();
        e.regions = self.regions.iter().cloned().collect();
        e.open = self.open.unwrap_or(true);
        e
    }
    fn check(&self, errs: &mut Vec<String>) {
        let id = &self.id;
        match self.hash.as_deref() {
            None | Some("v1") => {}
            Some(h) => errs.push(format!(
                "elections '{id}': hash = \"{h}\": only \"v1\" is set here (v2 is the default)"
            )),
        }
        if !self.is_v1() {
            let inline = !self.candidates.is_empty()
                || !self.regions.is_empty()
                || self.chains.is_some()
                || self.open.is_some();
            if inline {
                errs.push(format!(
                    "elections '{id}': candidates, regions, chains and open come from the stored manifest (votechain election create); an inline definition is only for v1 chains (hash = \"v1\")"
                ));
            }
            if let Some(d) = &self.manifest_digest
                && votechain_core::chain::from_hex(d).is_none()
            {
                errs.push(format!(
                    "elections '{id}': manifest_digest must be 64 lowercase hex characters"
                ));
            }
            return;
        }
        if self.manifest_digest.is_some() {
            errs.push(format!(
                "elections '{id}': a v1 election has no manifest_digest"
            ));
        }
        if self.candidates.is_empty() || self.regions.is_empty() {
            errs.push(format!(
                "elections '{id}': needs at least one candidate and one region"
            ));
        }
        let mut seen = BTreeSet::new();
        for c in self.candidates.iter().chain(self.regions.iter()) {
            if !is_valid_ident(c) {
                errs.push(format!(
                    "elections '{id}': '{c}' is not 1-64 characters of [A-Za-z0-9._-]"
                ));
            }
            if !seen.insert(c) {
                errs.push(format!("elections '{id}': '{c}' is listed twice"));
            }
        }
        if !(1..=1024).contains(&self.chains.unwrap_or(1)) {
            errs.push(format!("elections '{id}': chains must be 1..=1024"));
        }
    }
}

/// The parts of the topology a process can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Ingest,
    Writer,
    Projector,
    Query,
    LagMonitor,
    Publisher,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Writer => "writer",
            Role::Projector => "projector",
            Role::Query => "query",
            Role::LagMonitor => "lag-monitor",
            Role::Publisher => "publisher",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which roles this process runs.
    pub roles: BTreeSet<Role>,
    #[serde(default)]
    pub node: NodeConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub dynamodb: DynamoConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub writer: WriterConfig,
    #[serde(default)]
    pub projector: ProjectorConfig,
    #[serde(default)]
    pub lag_monitor: LagMonitorConfig,
    #[serde(default)]
    pub publisher: PublisherConfig,
    /// Ingest's signature on every vote event, checked by the writers (off when no keys).
    #[serde(default)]
    pub provenance: ProvenanceConfig,
    /// Restart policy of the role supervisor and of the writer's ChainWriters.
    #[serde(default)]
    pub supervision: votechain_core::restart::Policy,
    #[serde(default)]
    pub elections: Vec<ElectionEntry>,
    /// The v2 elections' definitions, read from their stored manifests at start
    /// (`manifests::resolve`); never from the file.
    #[serde(skip)]
    pub resolved: Vec<Election>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Stable name of this instance (pod name). Names the transactional.id of ingest.
    /// Default: `$HOSTNAME`, else `local`.
    pub instance_id: String,
    /// Address of the HTTP server (API, /metrics, /healthz, /readyz).
    pub http_addr: SocketAddr,
    /// A second listener for the operator's paths (`/metrics`, `/readyz`, `/debug/actors`,
    /// `/v1/scaling`, the status page): `http_addr` then serves only the `/v1` API, the
    /// receipt page and `/healthz`. Unset: one listener serves everything, allowed only
    /// when `http_addr` is a loopback address (dev); else the config is refused.
    pub admin_addr: Option<SocketAddr>,
    /// How long a graceful shutdown may take before the process stops anyway.
    pub shutdown_grace_ms: u64,
    /// Serve HTTPS (rustls) instead of plain HTTP on `http_addr`: the certificate chain and
    /// its private key, PEM files (e.g. a Kubernetes TLS Secret). Unset: plain HTTP, for
    /// a listener behind a TLS-terminating load balancer or in a mesh.
    pub tls: Option<TlsFiles>,
}

/// Event provenance (`votechain_core::provenance`): ingest signs every vote event with
/// HMAC-SHA-256 under `sign_with`; writers (and replay, recount) accept only events signed
/// under one of `keys`, and dead-letter the rest as `unauthenticated`. Rotation: add the
/// new key to `keys` everywhere, then move `sign_with`, then drop the old key once no
/// record signed with it remains unchained. No keys: off (every event accepted).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvenanceConfig {
    /// The key id ingest signs with.
    pub sign_with: Option<String>,
    pub keys: Vec<ProvenanceKey>,
}

/// One provenance key: at least 32 bytes, as `key` (dev only) or `key_env`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceKey {
    pub id: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_env: Option<String>,
}

impl ProvenanceConfig {
    /// The keys by id (`None`: provenance is off); a key whose variable is unset is left
    /// out (validation reports it).
    pub fn keys(&self) -> Option<BTreeMap<String, Vec<u8>>> {
        if self.keys.is_empty() {
            return None;
        }
        let keys = self.keys.iter().filter_map(|k| {
            let v = k
                .key
                .clone()
                .or_else(|| std::env::var(k.key_env.as_ref()?).ok())?;
            Some((k.id.clone(), v.trim().as_bytes().to_vec()))
        });
        Some(keys.collect())
    }

    /// Ingest's signing key: (id, key).
    pub fn signing(&self) -> Option<(String, Vec<u8>)> {
        let id = self.sign_with.clone()?;
        let key = self.keys()?.remove(&id)?;
        Some((id, key))
    }

    fn problems(&self, signs: bool) -> Vec<String> {
        let mut errs = vec![];
        let mut ids = BTreeSet::new();
        for k in &self.keys {
            if !ids.insert(&k.id) {
                errs.push(format!("provenance.keys: duplicate id '{}'", k.id));
            }
            let value = match (&k.key, &k.key_env) {
                (Some(v), None) => Some(v.clone()),
                (None, Some(var)) => match std::env::var(var) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        errs.push(format!(
                            "provenance.keys '{}': environment variable {var} is not set",
                            k.id
                        ));
                        None
                    }
                },
                _ => {
                    errs.push(format!(
                        "provenance.keys '{}': set exactly one of key, key_env",
                        k.id
                    ));
                    None
                }
            };
            if value.is_some_and(|v| v.trim().len() < 32) {
                errs.push(format!("provenance.keys '{}': shorter than 32 bytes", k.id));
            }
        }
        match (&self.sign_with, signs && !self.keys.is_empty()) {
            (Some(id), _) if !ids.contains(id) => errs.push(format!(
                "provenance.sign_with: '{id}' is not one of provenance.keys"
            )),
            (None, true) => errs
                .push("provenance.sign_with: ingest must sign with one of provenance.keys".into()),
            _ => {}
        }
        errs
    }
}

/// A key's `sha256` field: 64 lowercase hex characters (`keys.rs` uses it too).
pub fn parse_sha256(hex_digest: &str) -> Option<[u8; 32]> {
    if hex_digest.len() != 64 || hex_digest.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex::decode(hex_digest).ok()?.try_into().ok()
}

/// Limits of the HTTP listener: what a slow or hostile client can hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A client must send each request's headers within this long (slowloris).
    pub header_read_timeout_ms: u64,
    /// ... and a vote's body within this long after them (408 beyond).
    pub body_timeout_ms: u64,
    /// A connection with no byte either way for this long is closed (kept-alive ones too).
    /// Longer than any handler takes (ingest's transaction timeout), or a slow answer
    /// would be cut off.
    pub idle_timeout_ms: u64,
    /// Connections open at once; beyond, new ones wait in the kernel's listen backlog.
    pub max_connections: usize,
    /// Requests being handled at once; beyond, 503 `overloaded` with `Retry-After`.
    pub max_inflight_requests: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout_ms: 10_000,
            body_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: 10_000,
            max_inflight_requests: 4_096,
        }
    }
}

/// A PEM certificate chain (leaf first) and its PKCS#8, PKCS#1 or SEC1 private key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert_file: std::path::PathBuf,
    pub key_file: std::path::PathBuf,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            instance_id: std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "local".into()),
            http_addr: "127.0.0.1:8080".parse().expect("literal"),
            shutdown_grace_ms: 20_000,
            admin_addr: None,
            tls: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `host:port,...` of the brokers (MSK bootstrap string). Empty with `local = true`.
    pub bootstrap_servers: String,
    /// Start Apache Kafka on this machine as child processes (`votechain dev` only; see
    /// `votechain::dev::KafkaLocal`). Any existing cluster: `bootstrap_servers` instead.
    pub local: bool,
    /// KRaft nodes of the local cluster: 1, or 3 to run as production does (replication 3,
    /// min ISR 2).
    pub local_brokers: u32,
    /// The first local node's client port (its controller listens one above, the next
    /// node two above); 0: free ports.
    pub local_port: u16,
    pub votes_topic: String,
    pub audit_topic: String,
    pub dead_letter_topic: String,
    /// Partitions of `votes` created by `setup-topics` (and on the local cluster).
    pub partitions: u32,
    pub replication_factor: u32,
    /// Any librdkafka property, passed through verbatim to every client
    /// (e.g. `security.protocol`, `sasl.mechanism`, `ssl.ca.location` for MSK).
    pub properties: BTreeMap<String, String>,
    /// librdkafka properties whose values come from environment variables (secrets such as
    /// `sasl.password`): property name -> variable name.
    pub properties_env: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: String::new(),
            local: false,
            local_brokers: 1,
            local_port: 9092,
            votes_topic: "votes".into(),
            audit_topic: "vote-audit".into(),
            dead_letter_topic: "votes-dlq".into(),
            partitions: 4,
            replication_factor: 3,
            properties: BTreeMap::new(),
            properties_env: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamoConfig {
    /// Endpoint override (DynamoDB Local). Absent: the AWS regional endpoint.
    pub endpoint: Option<String>,
    pub region: String,
    /// Use fixed dummy credentials (DynamoDB Local). Off: the AWS default chain (IRSA on EKS).
    pub local_credentials: bool,
    pub ledger_table: String,
    /// KCL-style lease table of the projectors.
    pub lease_table: String,
    /// The read model (results); derived, can be dropped and rebuilt.
    pub results_table: String,
    /// Ingest's vote-cap reservations (`ingest.key_max_votes`): one item per capped vote_id
    /// and one counter per (election, key). Never read by the count.
    pub caps_table: String,
    /// TCP/TLS connect timeout of every DynamoDB call.
    pub connect_timeout_ms: u64,
    /// One attempt of a call (a half-open connection fails here, then is retried).
    pub attempt_timeout_ms: u64,
    /// A call, its retries included.
    pub operation_timeout_ms: u64,
}

impl Default for DynamoConfig {
    fn default() -> Self {
        DynamoConfig {
            endpoint: None,
            region: "us-east-1".into(),
            local_credentials: false,
            ledger_table: "votechain-ledger".into(),
            lease_table: "votechain-leases".into(),
            results_table: "votechain-results".into(),
            caps_table: "votechain-caps".into(),
            connect_timeout_ms: 3_000,
            attempt_timeout_ms: 10_000,
            operation_timeout_ms: 30_000,
        }
    }
}

/// One API client allowed to submit votes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientKey {
    /// Recorded on the audit topic; never in the ledger.
    pub id: String,
    /// The bearer key itself (dev only) ...
    #[serde(default)]
    pub key: Option<String>,
    /// ... or the name of an environment variable holding it ...
    #[serde(default)]
    pub key_env: Option<String>,
    /// ... or only its SHA-256, 64 hex (`votechain keys create` prints it).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Elections this key may vote in (empty: all); 403 outside them.
    #[serde(default)]
    pub elections: Vec<String>,
    /// Regions this key may vote for (empty: all); 403 outside them.
    #[serde(default)]
    pub regions: Vec<String>,
    /// This key's own vote rate limit (votes/s), instead of `ingest.key_votes_per_s` (e.g. a
    /// feed that aggregates many stations). 0: unlimited.
    #[serde(default)]
    pub votes_per_s: Option<u32>,
    /// This key's own cap of votes per election, instead of `ingest.key_max_votes`. 0: none.
    #[serde(default)]
    pub max_votes: Option<u64>,
}

/// The most transactional producers an ingest process runs (`ingest.producers`).
pub const INGEST_MAX_PRODUCERS: usize = 8;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    pub clients: Vec<ClientKey>,
    /// Most votes in one Kafka transaction (group commit).
    pub batch_max: usize,
    /// Transactional producers (transactions in flight at once), each its own
    /// `transactional.id`; 1..=8.
    pub producers: usize,
    /// How long the first vote of a batch waits for company.
    pub linger_ms: u64,
    /// Most votes admitted and not yet answered; beyond it: 503 + Retry-After.
    pub queue_max: usize,
    /// Most time for one transaction (begin, produce, commit) before it is aborted.
    pub transaction_timeout_ms: u64,
    /// Seconds in `Retry-After` of a 503.
    pub retry_after_s: u64,
    /// Votes per second each key may submit (a token bucket, `governor`); beyond it: 429
    /// with `Retry-After`, and the other keys are unaffected. 0: unlimited (dev, bench).
    pub key_votes_per_s: u32,
    /// Votes a key may send at once above its rate (the bucket's size); 0: one second's worth.
    pub key_burst: u32,
    /// Distinct vote_ids each key may submit per election (its whole allowance: a polling
    /// station's register size); beyond it: 403 `vote_cap_reached`. Counted exactly across
    /// ingest pods by a conditional write to `dynamodb.caps_table` before the vote is sent
    /// to Kafka (see `caps.rs`); a resubmitted vote_id is not counted twice. 0: no cap.
    pub key_max_votes: u64,
    /// A TOML file of hashed station keys (`[[keys]]`, see `keys.rs`; a Kubernetes Secret),
    /// re-read when it changes: keys added, rotated or revoked without a restart.
    pub keys_file: Option<std::path::PathBuf>,
    /// How often the keys file is checked for changes.
    pub keys_reload_ms: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            clients: Vec::new(),
            batch_max: 256,
            producers: 2,
            linger_ms: 2,
            queue_max: 8192,
            transaction_timeout_ms: 10_000,
            retry_after_s: 1,
            key_votes_per_s: 0,
            key_burst: 0,
            key_max_votes: 0,
            keys_file: None,
            keys_reload_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterConfig {
    /// Consumer group used only to share partitions between writer pods.
    pub group_id: String,
    /// Most Kafka records in one DynamoDB transaction (2 items a vote + 1 checkpoint <= 100).
    pub batch_max_records: usize,
    /// How long a batch waits for more records once it has one.
    pub linger_ms: u64,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// vote_ids each ChainWriter remembers having chained (16-byte digests, FIFO), so a
    /// resubmission is skipped without a failed transaction. 0 turns it off. Only a shortcut:
    /// the markers' `attribute_not_exists` conditions decide.
    pub recent_ids_max: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            group_id: "votechain-writer".into(),
            batch_max_records: 49,
            linger_ms: 5,
            retry_initial_ms: 50,
            retry_max_ms: 5_000,
            recent_ids_max: 65_536,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectorConfig {
    /// A lease whose counter has not moved for this long is expired (KCL's failover time).
    pub failover_ms: u64,
    /// Records per GetRecords call (DynamoDB Streams allows up to 1000).
    pub max_records: i32,
    /// Behind a backlog, full reads of a shard applied in one read-model transaction
    /// (1..=20; 1: a transaction per read). Memory: up to this many times max_records
    /// records (about 1 KB each) per shard that is behind.
    pub carry_reads: usize,
    /// Pause after an empty GetRecords.
    pub idle_poll_ms: u64,
    /// Lease owner name; default: node.instance_id (the StatefulSet pod name in `deploy/`).
    pub worker_id: Option<String>,
    /// How long the ledger's stream keeps records (DynamoDB Streams: 24 h). A first start
    /// on a stream older than this cannot know it saw every record: the projection is
    /// marked "needs replay".
    pub stream_retention_s: u64,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        ProjectorConfig {
            failover_ms: 10_000,
            max_records: 1000,
            carry_reads: 10,
            idle_poll_ms: 250,
            worker_id: None,
            stream_retention_s: 86_400,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LagMonitorConfig {
    /// How often lag is measured and the scaling signals recomputed.
    pub interval_ms: u64,
    /// See `docs/operations.md`, "Scaling policy".
    pub policy: votechain_core::scaling::ScalingPolicy,
}

impl Default for LagMonitorConfig {
    fn default() -> Self {
        LagMonitorConfig {
            interval_ms: 5_000,
            policy: votechain_core::scaling::ScalingPolicy::default(),
        }
    }
}

/// The publisher role: one transparency log per chain of every v2 election served.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublisherConfig {
    /// A checkpoint is signed at most this often, when the tree grew.
    pub checkpoint_interval_ms: u64,
    /// Most votes read from a chain per round.
    pub batch_max: u32,
    /// Each election's log key: a PKCS#8 PEM file (`votechain keygen`), by election id.
    pub key_files: BTreeMap<String, std::path::PathBuf>,
    /// Where to reach witnesses (C2SP `tlog-witness`), each named by its verifier key.
    /// Whose cosignatures count, and how many, is each election's manifest (contract v2.1:
    /// `witnesses`, `witness_quorum`): a checkpoint is asked of the manifest's witnesses
    /// found here, and published once a quorum of them cosigned it.
    pub witnesses: Vec<WitnessRef>,
    /// No longer read: refused with a pointer to the manifest's `witness_quorum`, so that
    /// no one believes a quorum set here still counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum: Option<usize>,
}

/// A witness: where it listens (its submission prefix) and its verifier key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessRef {
    pub url: String,
    /// `name+id+key`, a tlog-cosignature/v1 key.
    pub vkey: String,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            checkpoint_interval_ms: 1_000,
            batch_max: 2_000,
            key_files: BTreeMap::new(),
            witnesses: vec![],
            quorum: None,
        }
    }
}

/// Every problem found in a config, reported together.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("invalid config:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

impl Config {
    /// Loads `path`, applies `VOTECHAIN_<SECTION>__<KEY>` overrides (`VOTECHAIN_KAFKA__BOOTSTRAP_SERVERS=...`),
    /// and validates the result.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = Figment::new()
            .merge(Toml::file_exact(path))
            // Only nested keys are config (`VOTECHAIN_KAFKA__BOOTSTRAP_SERVERS`); VOTECHAIN_LOG and
            // friends are not.
            .merge(
                Env::prefixed("VOTECHAIN_")
                    .filter(|k| k.as_str().contains("__"))
                    .split("__"),
            )
            .extract()
            .map_err(Box::new)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses TOML text (tests and embedded defaults) and validates it.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = Figment::new()
            .merge(Toml::string(text))
            .extract()
            .map_err(Box::new)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Every election this process serves: the v1 ones from the file, the v2 ones as
    /// resolved from their manifests (absent until resolved).
    pub fn registry(&self) -> Registry {
        let v1 = self.elections.iter().filter(|e| e.is_v1());
        Registry::new(
            v1.map(ElectionEntry::v1_election)
                .chain(self.resolved.iter().cloned()),
        )
    }

    /// True once every v2 election named has its definition.
    pub fn is_resolved(&self) -> bool {
        let reg = self.registry();
        self.elections.iter().all(|e| reg.get(&e.id).is_some())
    }

    pub fn runs(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Checks everything and returns all problems at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errs = Vec::new();
        if self.roles.is_empty() {
            errs.push(
                "roles: name at least one of ingest, writer, projector, query, lag-monitor, publisher".into(),
            );
        }
        let k = &self.kafka;
        if !k.local && k.bootstrap_servers.trim().is_empty() {
            errs.push("kafka.bootstrap_servers: required unless kafka.local = true".into());
        }
        if k.local && !k.bootstrap_servers.is_empty() {
            errs.push("kafka: set either bootstrap_servers or local = true, not both".into());
        }
        for (name, t) in [
            ("votes_topic", &k.votes_topic),
            ("audit_topic", &k.audit_topic),
            ("dead_letter_topic", &k.dead_letter_topic),
        ] {
            if !is_valid_ident(t) {
                errs.push(format!("kafka.{name}: '{t}' is not a valid topic name"));
            }
        }
        if k.partitions == 0 || k.partitions > 10_000 {
            errs.push("kafka.partitions: must be 1..=10000".into());
        }
        if k.local && !(1..=5).contains(&k.local_brokers) {
            errs.push("kafka.local_brokers: must be 1..=5 (3 to run as production does)".into());
        }
        // Only the roles that talk to Kafka need its secrets (query, projector and publisher
        // pods get none); a CLI command that does (replay, recount) fails at connect.
        let kafka_roles = [Role::Ingest, Role::Writer, Role::LagMonitor];
        let uses_kafka = kafka_roles.iter().any(|r| self.runs(*r));
        for (prop, var) in k.properties_env.iter().filter(|_| uses_kafka) {
            if std::env::var(var).is_err() {
                errs.push(format!(
                    "kafka.properties_env.{prop}: environment variable {var} is not set"
                ));
            }
        }
        for key in k.properties.keys().chain(k.properties_env.keys()) {
            if matches!(
                key.as_str(),
                "transactional.id"
                    | "enable.idempotence"
                    | "isolation.level"
                    | "enable.auto.commit"
                    | "group.id"
            ) {
                errs.push(format!("kafka.properties.{key}: set by votechain itself; overriding it would break exactly-once"));
            }
        }
        errs.extend(self.provenance.problems(self.runs(Role::Ingest)));
        let h = &self.http;
        for (name, v) in [
            ("header_read_timeout_ms", h.header_read_timeout_ms),
            ("body_timeout_ms", h.body_timeout_ms),
            ("idle_timeout_ms", h.idle_timeout_ms),
            ("max_connections", h.max_connections as u64),
            ("max_inflight_requests", h.max_inflight_requests as u64),
        ] {
            if v == 0 {
                errs.push(format!("http.{name}: must be at least 1"));
            }
        }
        if h.idle_timeout_ms <= self.ingest.transaction_timeout_ms {
            errs.push(format!(
                "http.idle_timeout_ms: {} must exceed ingest.transaction_timeout_ms ({}), or a vote's answer could be cut off",
                h.idle_timeout_ms, self.ingest.transaction_timeout_ms
            ));
        }
        if self
            .node
            .admin_addr
            .is_some_and(|a| a == self.node.http_addr && a.port() != 0)
        {
            errs.push("node.admin_addr: must differ from node.http_addr".into());
        }
        // Safe by default: the operator's paths are never served on a public listener.
        if self.node.admin_addr.is_none() && !self.node.http_addr.ip().is_loopback() {
            errs.push(format!(
                "node.admin_addr: not set while node.http_addr ({}) is not a loopback address: the operator's paths (/metrics, /readyz, /debug/actors, /v1/scaling, the status page) would be served to everyone who reaches the API. Set node.admin_addr to an address off the public network (e.g. \"127.0.0.1:9090\", or the pod's address behind a NetworkPolicy, as deploy/ does)",
                self.node.http_addr
            ));
        }
        if let Some(t) = &self.node.tls {
            for (name, f) in [("cert_file", &t.cert_file), ("key_file", &t.key_file)] {
                if let Err(e) = std::fs::metadata(f) {
                    errs.push(format!("node.tls.{name}: {}: {e}", f.display()));
                }
            }
        }
        if self.dynamodb.ledger_table.len() < 3 {
            errs.push("dynamodb.ledger_table: must be at least 3 characters".into());
        }
        if let Some(ep) = &self.dynamodb.endpoint
            && !(ep.starts_with("http://") || ep.starts_with("https://"))
        {
            errs.push(format!(
                "dynamodb.endpoint: '{ep}' must start with http:// or https://"
            ));
        }
        let i = &self.ingest;
        if self.runs(Role::Ingest) {
            if i.clients.is_empty() && i.keys_file.is_none() {
                errs.push(
                    "ingest.clients: at least one client key (or ingest.keys_file) is required to accept votes".into(),
                );
            }
            // The keys file itself is read at start (`keys::Keys::new`): a missing or bad
            // one refuses the start naming the file and each problem.
            if i.keys_reload_ms == 0 {
                errs.push("ingest.keys_reload_ms: must be at least 1".into());
            }
            let mut ids = BTreeSet::new();
            for c in &i.clients {
                if !ids.insert(&c.id) {
                    errs.push(format!("ingest.clients: duplicate id '{}'", c.id));
                }
                match (&c.key, &c.key_env, &c.sha256) {
                    (None, None, Some(h)) => {
                        if parse_sha256(h).is_none() {
                            errs.push(format!(
                                "ingest.clients '{}': sha256 is not 64 lowercase hex characters",
                                c.id
                            ));
                        }
                    }
                    (Some(k), None, None) if k.trim().len() < 6 => errs.push(format!(
                        "ingest.clients '{}': key shorter than 6 characters",
                        c.id
                    )),
                    (Some(_), None, None) => {}
                    (None, Some(var), None) => {
                        if std::env::var(var).map(|v| v.len() < 6).unwrap_or(true) {
                            errs.push(format!("ingest.clients '{}': environment variable {var} is unset or shorter than 6 characters", c.id));
                        }
                    }
                    _ => errs.push(format!(
                        "ingest.clients '{}': set exactly one of key, key_env, sha256",
                        c.id
                    )),
                }
            }
        }
        if !(1..=10_000).contains(&i.batch_max) {
            errs.push("ingest.batch_max: must be 1..=10000".into());
        }
        if i.linger_ms > 1_000 {
            errs.push("ingest.linger_ms: at most 1000".into());
        }
        if !(1..=INGEST_MAX_PRODUCERS).contains(&i.producers) {
            errs.push("ingest.producers: must be 1..=8".into());
        }
        if i.queue_max < i.batch_max {
            errs.push("ingest.queue_max: must be at least ingest.batch_max".into());
        }
        if i.transaction_timeout_ms < 100 {
            errs.push("ingest.transaction_timeout_ms: at least 100".into());
        }
        let w = &self.writer;
        if !(1..=49).contains(&w.batch_max_records) {
            errs.push("writer.batch_max_records: must be 1..=49 (2 items a vote + 1 checkpoint <= 100 actions)".into());
        }
        if w.retry_initial_ms == 0 || w.retry_max_ms < w.retry_initial_ms {
            errs.push("writer.retry_initial_ms / retry_max_ms: need 0 < initial <= max".into());
        }
        if w.group_id.is_empty() {
            errs.push("writer.group_id: must not be empty".into());
        }
        if w.recent_ids_max > 10_000_000 {
            errs.push(
                "writer.recent_ids_max: at most 10000000 (about 32 bytes each, per partition)"
                    .into(),
            );
        }
        let p = &self.projector;
        if !(300..=600_000).contains(&p.failover_ms) {
            errs.push("projector.failover_ms: must be 300..=600000".into());
        }
        if !(1..=1000).contains(&p.max_records) {
            errs.push("projector.max_records: must be 1..=1000".into());
        }
        if !(1..=20).contains(&p.carry_reads) {
            errs.push("projector.carry_reads: must be 1..=20".into());
        }
        if p.stream_retention_s == 0 {
            errs.push("projector.stream_retention_s: must be > 0 (DynamoDB Streams: 86400)".into());
        }
        let d = &self.dynamodb;
        let names = [
            &d.ledger_table,
            &d.lease_table,
            &d.results_table,
            &d.caps_table,
        ];
        let distinct: std::collections::BTreeSet<_> = names.iter().collect();
        if names.iter().any(|n| n.len() < 3) || distinct.len() < names.len() {
            errs.push("dynamodb: ledger_table, lease_table, results_table, caps_table must be distinct names of 3+ characters".into());
        }
        if self.runs(Role::Publisher) {
            let p = &self.publisher;
            if !(100..=600_000).contains(&p.checkpoint_interval_ms) {
                errs.push("publisher.checkpoint_interval_ms: must be 100..=600000".into());
            }
            if !(1..=10_000).contains(&p.batch_max) {
                errs.push("publisher.batch_max: must be 1..=10000".into());
            }
            if p.quorum.is_some() {
                errs.push("publisher.quorum: no longer read: the witness quorum is each election's manifest (witness_quorum, contract v2.1); remove it".into());
            }
            // Every witness named once, by a cosignature key (the quorum is the manifest's).
            let vkeys: Vec<String> = p.witnesses.iter().map(|w| w.vkey.clone()).collect();
            if !vkeys.is_empty()
                && let Err(e) = votechain_core::checkpoint::WitnessPolicy::new(&vkeys, 1)
            {
                errs.push(format!("publisher.witnesses: {e}"));
            }
            if p.witnesses.iter().any(|w| !w.url.starts_with("http")) {
                errs.push("publisher.witnesses: every url must be http:// or https://".into());
            }
            for e in self.elections.iter().filter(|e| !e.is_v1()) {
                if !p.key_files.contains_key(&e.id) {
                    errs.push(format!(
                        "publisher.key_files: no log key for election '{}' (votechain keygen writes one)",
                        e.id
                    ));
                }
            }
        }
        let d = &self.dynamodb;
        if d.connect_timeout_ms == 0
            || d.attempt_timeout_ms < d.connect_timeout_ms
            || d.operation_timeout_ms < d.attempt_timeout_ms
        {
            errs.push(
                "dynamodb: need 0 < connect_timeout_ms <= attempt_timeout_ms <= operation_timeout_ms"
                    .into(),
            );
        }
        if !(100..=600_000).contains(&self.lag_monitor.interval_ms) {
            errs.push("lag_monitor.interval_ms: must be 100..=600000".into());
        }
        let lp = &self.lag_monitor.policy;
        if lp.writer_lag_per_replica == 0
            || lp.projector_backlog_per_replica == 0
            || lp.projector_lag_s_per_replica <= 0.0
            || lp.min_replicas == 0
        {
            errs.push(
                "lag_monitor.policy: per-replica targets and min_replicas must be positive".into(),
            );
        }
        let sp = &self.supervision;
        if sp.intensity.max_restarts == 0 || sp.intensity.period.is_zero() {
            errs.push("supervision.intensity: max_restarts and period must be positive".into());
        }
        if sp.backoff.initial.is_zero()
            || sp.backoff.max < sp.backoff.initial
            || !(1.0..=10.0).contains(&sp.backoff.factor)
        {
            errs.push("supervision.backoff: need 0 < initial <= max and 1 <= factor <= 10".into());
        }
        let mut seen = BTreeSet::new();
        for e in &self.elections {
            if !is_valid_ident(&e.id) {
                errs.push(format!(
                    "elections: id '{}' is not 1-64 characters of [A-Za-z0-9._-]",
                    e.id
                ));
            }
            if !seen.insert(&e.id) {
                errs.push(format!("elections: duplicate id '{}'", e.id));
            }
            e.check(&mut errs);
        }
        if (self.runs(Role::Ingest) || self.runs(Role::Writer)) && self.elections.is_empty() {
            errs.push("elections: ingest and writer need at least one election".into());
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
roles = ["ingest", "writer"]
[kafka]
local = true
[ingest]
clients = [{ id = "dev", key = "dev-key" }]
[[elections]]
id = "demo-2026"
[[elections]]
id = "old-2025"
hash = "v1"
candidates = ["alice", "bob"]
regions = ["north"]
"#;

    #[test]
    fn good_config_loads_with_defaults() {
        let c = Config::from_toml(GOOD).unwrap();
        assert!(c.runs(Role::Writer) && !c.runs(Role::Query));
        assert_eq!(c.writer.batch_max_records, 49);
        // The v1 election is defined inline; the v2 one waits for its manifest.
        assert_eq!(c.registry().get("old-2025").map(|e| e.chains), Some(1));
        assert!(c.registry().get("demo-2026").is_none() && !c.is_resolved());
    }

    #[test]
    fn a_v2_election_is_named_not_defined() {
        let inline = GOOD.replace(
            "id = \"demo-2026\"",
            "id = \"demo-2026\"\ncandidates = [\"x\"]\nmanifest_digest = \"AB\"",
        );
        let msg = Config::from_toml(&inline).unwrap_err().to_string();
        for needle in ["come from the stored manifest", "64 lowercase hex"] {
            assert!(msg.contains(needle), "missing {needle} in {msg}");
        }
        let twice = GOOD.replace("[\"alice\", \"bob\"]", "[\"alice\", \"alice\"]");
        let msg = Config::from_toml(&twice).unwrap_err().to_string();
        assert!(msg.contains("listed twice"), "{msg}");
    }

    #[test]
    fn dynamodb_calls_have_timeouts_in_order() {
        let c = Config::from_toml(GOOD).unwrap();
        let d = &c.dynamodb;
        assert_eq!(
            (
                d.connect_timeout_ms,
                d.attempt_timeout_ms,
                d.operation_timeout_ms
            ),
            (3_000, 10_000, 30_000)
        );
        let bad = GOOD.replace("[kafka]", "[dynamodb]\nattempt_timeout_ms = 50000\n[kafka]");
        let msg = Config::from_toml(&bad).unwrap_err().to_string();
        assert!(
            msg.contains("attempt_timeout_ms <= operation_timeout_ms"),
            "{msg}"
        );
    }

    #[test]
    fn the_publisher_says_where_witnesses_are_not_whose_count() {
        let with = |publisher: &str| {
            let c = GOOD.replace(
                "roles = [\"ingest\", \"writer\"]",
                "roles = [\"publisher\"]",
            );
            Config::from_toml(&format!("{c}[publisher]\n{publisher}"))
                .unwrap_err()
                .to_string()
        };
        let msg = with("quorum = 1\n");
        assert!(msg.contains("publisher.quorum: no longer read"), "{msg}");
        assert!(msg.contains("witness_quorum"), "{msg}");
        let vkey = votechain_core::note::verifier_key(
            "w1.test",
            votechain_core::note::COSIGNATURE_V1,
            &[5; 32],
        );
        let twice = format!(
            "witnesses = [{{ url = \"http://a\", vkey = \"{vkey}\" }}, {{ url = \"http://b\", vkey = \"{vkey}\" }}]\n"
        );
        let msg = with(&twice);
        assert!(msg.contains("publisher.witnesses: "), "{msg}");
        assert!(msg.contains("listed twice"), "{msg}");
    }

    #[test]
    fn a_public_listener_needs_an_admin_listener() {
        let public = GOOD.replace("[kafka]", "[node]\nhttp_addr = \"0.0.0.0:8080\"\n[kafka]");
        let msg = Config::from_toml(&public).unwrap_err().to_string();
        assert!(msg.contains("node.admin_addr: not set"), "{msg}");
        let split = public.replace(
            "http_addr = \"0.0.0.0:8080\"",
            "http_addr = \"0.0.0.0:8080\"\nadmin_addr = \"127.0.0.1:9090\"",
        );
        assert!(Config::from_toml(&split).is_ok());
        // Loopback alone (dev, tests): one listener serves everything.
        let local = GOOD.replace("[kafka]", "[node]\nhttp_addr = \"127.0.0.1:8080\"\n[kafka]");
        assert!(Config::from_toml(&local).is_ok());
        let v6 = GOOD.replace("[kafka]", "[node]\nhttp_addr = \"[::]:8080\"\n[kafka]");
        assert!(Config::from_toml(&v6).is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err =
            Config::from_toml(&GOOD.replace("[kafka]", "[kafka]\nbootstrap = \"x\"")).unwrap_err();
        assert!(err.to_string().contains("bootstrap"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = GOOD
            .replace("local = true", "local = false")
            .replace("key = \"dev-key\"", "key = \"x\"")
            + "[writer]\nbatch_max_records = 80\n";
        let msg = Config::from_toml(&bad).unwrap_err().to_string();
        for needle in ["bootstrap_servers", "shorter than 6", "batch_max_records"] {
            assert!(msg.contains(needle), "missing {needle} in {msg}");
        }
    }

    #[test]
    fn exactly_once_properties_cannot_be_overridden() {
        let bad = GOOD.replace(
            "[kafka]",
            "[kafka.properties]\n\"isolation.level\" = \"read_uncommitted\"\n[kafka]",
        );
        let msg = Config::from_toml(&bad).unwrap_err().to_string();
        assert!(msg.contains("isolation.level"), "{msg}");
    }
}
