//! Configs for one machine, shared by the integration tests, the chaos runner and the
//! bench (test tooling, so it lives here and not in the node's `config`).
//!
//! The tests and the bench define their elections inline, as TOML (`[[elections]]` with
//! `candidates`, `regions`, `chains`, optionally a window). [`store_elections`] turns that
//! into what production runs: a stored manifest per election, and config entries naming
//! them by id and digest. `hash = "v1"` keeps an election a v1 (pre-manifest) one.

use base64::Engine as _;
use serde::Deserialize;
use votechain::dynamo::ledger::Ledger;
use votechain::manifests::{self, ManifestStoreError};
use votechain_core::manifest::Manifest;

/// One election as a test defines it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestElection {
    pub id: String,
    pub candidates: Vec<String>,
    pub regions: Vec<String>,
    #[serde(default = "one")]
    pub chains: u32,
    /// `"v1"`: served from the config as a pre-manifest election (no salt, no window).
    #[serde(default)]
    pub hash: Option<String>,
    /// Default: 2020-01-01 to 2100-01-01, open for any test.
    #[serde(default)]
    pub opens_at_ms: Option<i64>,
    #[serde(default)]
    pub closes_at_ms: Option<i64>,
    /// The manifest's witness policy (contract v2.1): verifier keys, and the quorum.
    #[serde(default)]
    pub witnesses: Option<Vec<String>>,
    #[serde(default)]
    pub witness_quorum: Option<u32>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
struct Elections {
    #[serde(default)]
    elections: Vec<TestElection>,
}

/// The log key of every test manifest: the Ed25519 key of a public seed. Test-only.
pub fn test_log_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[0x7e; 32])
}

/// [`test_log_key`]'s public half, as a manifest writes it.
pub fn test_log_public_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(test_log_key().verifying_key().to_bytes())
}

/// Writes [`test_log_key`] as a PKCS#8 PEM file in `dir` (what a publisher reads).
pub fn write_test_log_key(dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    let pem = test_log_key()
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let path = dir.join("test-log-key.pem");
    std::fs::write(&path, pem.as_bytes())?;
    // A private key: owner-only, or the publisher refuses it (`secret_file`).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(path)
}

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("test elections are not valid TOML: {0}")]
    Toml(String),
    #[error("test election '{0}': {1}")]
    Manifest(String, String),
    #[error(transparent)]
    Store(#[from] ManifestStoreError),
}

impl TestElection {
    /// The manifest this test election stands for.
    pub fn manifest(&self) -> Manifest {
        Manifest {
            election_id: self.id.clone(),
            candidates: self.candidates.clone(),
            regions: self.regions.clone(),
            chains: self.chains,
            opens_at_ms: self.opens_at_ms.unwrap_or(1_577_836_800_000),
            closes_at_ms: self.closes_at_ms.unwrap_or(4_102_444_800_000),
            log_origin: format!("test.votechain.invalid/{}", self.id),
            log_public_key: test_log_public_key(),
            witnesses: self.witnesses.clone(),
            witness_quorum: self.witness_quorum,
        }
    }
}

/// Stores a manifest for every v2 election of `elections_toml` (a second call for the same
/// id finds it stored) and returns the `[[elections]]` config entries naming them: v2 by
/// id and digest, v1 (`hash = "v1"`) inline.
pub async fn store_elections(
    ledger: &Ledger,
    elections_toml: &str,
) -> Result<String, FixtureError> {
    use figment::providers::{Format, Toml};
    let parsed: Elections = figment::Figment::from(Toml::string(elections_toml))
        .extract()
        .map_err(|e| FixtureError::Toml(e.to_string()))?;
    let mut out = String::new();
    for e in parsed.elections {
        let quoted = |l: &[String]| format!("{l:?}");
        if e.hash.as_deref() == Some("v1") {
            out.push_str(&format!(
                "[[elections]]\nid = \"{}\"\nhash = \"v1\"\ncandidates = {}\nregions = {}\nchains = {}\n",
                e.id,
                quoted(&e.candidates),
                quoted(&e.regions),
                e.chains
            ));
            continue;
        }
        let m = e.manifest();
        m.validate()
            .map_err(|p| FixtureError::Manifest(e.id.clone(), p.join("; ")))?;
        let digest = match manifests::create(ledger, &m).await {
            Ok(stored) => stored.digest,
            Err(ManifestStoreError::Exists { digest, .. }) => digest,
            Err(other) => return Err(other.into()),
        };
        out.push_str(&format!(
            "[[elections]]\nid = \"{}\"\nmanifest_digest = \"{digest}\"\n",
            e.id
        ));
    }
    Ok(out)
}

/// The `[node]`, `[kafka]` and `[dynamodb]` sections of a config for one machine: HTTP on a
/// free loopback port, the given Kafka bootstrap, DynamoDB Local at `dynamodb_endpoint`, and
/// tables named after `table` (`{table}`, `{table}-leases`, `{table}-results`). Callers put
/// their `roles = [...]` line before it and their own sections after it.
pub fn local_toml(
    instance: &str,
    bootstrap: &str,
    dynamodb_endpoint: &str,
    table: &str,
    partitions: u32,
    replication_factor: u32,
) -> String {
    format!(
        r#"[node]
instance_id = "{instance}"
http_addr = "127.0.0.1:0"
shutdown_grace_ms = 8000
[kafka]
bootstrap_servers = "{bootstrap}"
partitions = {partitions}
replication_factor = {replication_factor}
[dynamodb]
endpoint = "{dynamodb_endpoint}"
local_credentials = true
ledger_table = "{table}"
lease_table = "{table}-leases"
results_table = "{table}-results"
caps_table = "{table}-caps"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use votechain::config::Config;

    #[test]
    fn local_toml_names_every_table_after_the_ledger() {
        let text = format!(
            "roles = [\"query\"]\n{}",
            local_toml("t1", "127.0.0.1:9092", "http://127.0.0.1:8000", "t-x", 4, 1)
        );
        let c = Config::from_toml(&text).expect("valid");
        assert_eq!(
            (
                c.dynamodb.ledger_table.as_str(),
                c.dynamodb.lease_table.as_str(),
                c.dynamodb.results_table.as_str(),
                c.dynamodb.caps_table.as_str()
            ),
            ("t-x", "t-x-leases", "t-x-results", "t-x-caps")
        );
        assert_eq!((c.kafka.partitions, c.node.instance_id.as_str()), (4, "t1"));
        assert_eq!(
            c.dynamodb.endpoint.as_deref(),
            Some("http://127.0.0.1:8000")
        );
    }
}
