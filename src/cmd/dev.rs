//! `votechain dev`: everything on one machine: DynamoDB Local and Apache Kafka (child
//! processes that die with us; `votechain::dev`), every role of the config in this
//! process, the demo election. The demo's manifest is created at start (unless the ledger
//! has one), signed for with a dev log key kept under `.local/dev-log-key/` (made once by
//! `keygen`). It stops in order: the roles first (their Kafka clients flushed and
//! closed), then Kafka, then DynamoDB Local.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use votechain::config::Config;
use votechain::dev::{DynamoDbLocal, KafkaLocal, KafkaLocalOptions};
use votechain::dynamo::{self, ledger::Ledger};
use votechain::manifests;
use votechain::tables;
use votechain_core::manifest::Manifest;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "config/dev.toml")]
    config: PathBuf,
    /// Use a DynamoDB (Local) already running at this URL instead of starting one.
    #[arg(long)]
    dynamodb_endpoint: Option<String>,
    /// Use a Kafka cluster already running (`host:port,...`) instead of starting one; its
    /// topics are created if missing and checked.
    #[arg(long)]
    kafka_bootstrap: Option<String>,
    /// Where the dev witness listens (port 0: a free one).
    #[arg(long, default_value = "127.0.0.1:8081")]
    witness_addr: std::net::SocketAddr,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let mut cfg = super::load(&a.config)?;
    // A DynamoDB Local of an earlier run beside a Kafka started empty: refused below.
    let fresh_kafka =
        a.kafka_bootstrap.is_none() && std::env::var_os("VOTECHAIN_KAFKA_DATA_DIR").is_none();
    let reused = a.dynamodb_endpoint.is_some() && fresh_kafka;
    let _ddb = match a.dynamodb_endpoint {
        Some(url) => {
            cfg.dynamodb.endpoint = Some(url);
            None
        }
        None => Some(start_dynamodb_local(&mut cfg).await?),
    };
    cfg.dynamodb.local_credentials = true;
    if reused {
        refuse_an_earlier_ledger(&cfg).await?;
    }
    // The demo's manifest names the dev witness, quorum 1 (contract v2.1): its
    // checkpoints are published once that witness cosigned them.
    let publishes = cfg.runs(votechain::config::Role::Publisher);
    let witness_key = if publishes {
        Some(dev_witness_key()?)
    } else {
        None
    };
    let vkey = witness_key.as_ref().map(|k| {
        let public = k.verifying_key().to_bytes();
        votechain_core::note::verifier_key(
            DEV_WITNESS_NAME,
            votechain_core::note::COSIGNATURE_V1,
            &public,
        )
    });
    ensure_demo_manifest(&cfg, vkey.clone()).await?;
    // The dev log key lives in the dev folder: config/dev.toml names its default place.
    let default_key = Path::new(".local/dev-log-key/log-key.pem");
    if let Some(k) = cfg.publisher.key_files.get_mut(DEMO_ELECTION)
        && k.as_path() == default_key
    {
        *k = super::dev_dir().join("dev-log-key/log-key.pem");
    }
    if let (Some(key), Some(vkey)) = (witness_key, vkey) {
        let url = start_dev_witness(&cfg, key, a.witness_addr).await?;
        println!("dev witness at {url}, verifier key {vkey}");
        cfg.publisher.witnesses = vec![votechain::config::WitnessRef { url, vkey }];
    }
    let kafka = start_kafka(&mut cfg, a.kafka_bootstrap).await?;
    // For `votechain replay` / `recount` run beside this process.
    let bootstrap = &cfg.kafka.bootstrap_servers;
    let _ = std::fs::create_dir_all(super::dev_dir())
        .and_then(|_| std::fs::write(super::dev_bootstrap_file(), bootstrap));
    let code = super::serve::serve(cfg).await;
    if let Some(k) = kafka {
        k.shutdown().await;
    }
    code
}

/// Starts the config's local Kafka (`kafka.local`), its topics created and checked, or
/// uses the cluster at `bootstrap`; either way `cfg` then names its bootstrap servers.
/// `VOTECHAIN_KAFKA_DATA_DIR` keeps the brokers' data there (else a temporary folder).
async fn start_kafka(cfg: &mut Config, bootstrap: Option<String>) -> Result<Option<KafkaLocal>> {
    if let Some(b) = bootstrap {
        cfg.kafka.local = false;
        cfg.kafka.bootstrap_servers = b;
        votechain::kafka::ensure_topics(&cfg.kafka).await?;
        return Ok(None);
    }
    if !cfg.kafka.local {
        votechain::kafka::ensure_topics(&cfg.kafka).await?;
        return Ok(None);
    }
    let opts = KafkaLocalOptions {
        nodes: cfg.kafka.local_brokers,
        port: cfg.kafka.local_port,
        data_dir: std::env::var_os("VOTECHAIN_KAFKA_DATA_DIR").map(PathBuf::from),
        ..KafkaLocalOptions::nodes(cfg.kafka.local_brokers)
    };
    let started = std::time::Instant::now();
    let k = KafkaLocal::start_with_topics(opts, &cfg.kafka).await?;
    cfg.kafka = k.topic_config(&cfg.kafka);
    tracing::info!(
        bootstrap = %cfg.kafka.bootstrap_servers,
        nodes = cfg.kafka.local_brokers,
        secs = started.elapsed().as_secs_f64(),
        log = %k.log_file(1).display(),
        "Apache Kafka started"
    );
    println!(
        "Apache Kafka {} on {} (log: {})",
        votechain::dev::kafka_version().unwrap_or_else(|| "?".into()),
        cfg.kafka.bootstrap_servers,
        k.log_file(1).display()
    );
    Ok(Some(k))
}

/// The demo election, as `votechain dev` creates it.
pub const DEMO_ELECTION: &str = "demo-2026";
const DEMO_CANDIDATES: [&str; 3] = ["alice", "bob", "carol"];
const DEMO_REGIONS: [&str; 4] = ["north", "south", "east", "west"];
/// The demo's window: open from a minute before its creation for this long.
const DEMO_OPEN_MS: i64 = 30 * 24 * 3600 * 1000;

/// Creates the demo election's manifest when the config serves it and the ledger has none:
/// one chain, open now for 30 days, its log key the dev key (made on first use), and
/// `witness` (the dev witness's verifier key), if any, as its policy with quorum 1.
async fn ensure_demo_manifest(cfg: &Config, witness: Option<String>) -> Result<()> {
    if !cfg
        .elections
        .iter()
        .any(|e| e.id == DEMO_ELECTION && !e.is_v1())
    {
        return Ok(());
    }
    let db = dynamo::client(&cfg.dynamodb).await;
    tables::ensure_all(&db, &cfg.dynamodb).await?;
    let ledger = Ledger::new(db, cfg.dynamodb.ledger_table.clone());
    if let Some(m) = manifests::get(&ledger, DEMO_ELECTION).await? {
        tracing::info!(digest = %m.digest, "demo manifest already stored");
        return Ok(());
    }
    let origin = format!("localhost/{DEMO_ELECTION}");
    let dir = &super::dev_dir().join("dev-log-key");
    if !dir.join("log-key.pub").exists() {
        super::keygen::write_keys(dir, &origin, 1)?;
    }
    let public = std::fs::read_to_string(dir.join("log-key.pub"))?;
    let opens = votechain::now_ms() - 60_000;
    let manifest = Manifest {
        election_id: DEMO_ELECTION.into(),
        candidates: DEMO_CANDIDATES.map(String::from).to_vec(),
        regions: DEMO_REGIONS.map(String::from).to_vec(),
        chains: 1,
        opens_at_ms: opens,
        closes_at_ms: opens + DEMO_OPEN_MS,
        log_origin: origin,
        log_public_key: public.trim().to_string(),
        witness_quorum: witness.as_ref().map(|_| 1),
        witnesses: witness.map(|w| vec![w]),
    };
    if let Err(problems) = manifest.validate() {
        bail!("the demo manifest is invalid: {}", problems.join("; "));
    }
    let stored = manifests::create(&ledger, &manifest).await?;
    println!(
        "created election {DEMO_ELECTION} (manifest digest {}, log key {}/)",
        stored.digest,
        dir.display()
    );
    Ok(())
}

/// The dev witness's name (its verifier key's name).
const DEV_WITNESS_NAME: &str = "localhost/dev-witness";

/// The dev witness's key: `<dev dir>/dev-witness-key.pem`, made (0600) on first use.
fn dev_witness_key() -> Result<ed25519_dalek::SigningKey> {
    use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
    let path = super::dev_dir().join("dev-witness-key.pem");
    if let Ok(pem) = std::fs::read_to_string(&path) {
        return ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .map_err(|_| anyhow::anyhow!("{} is not a PKCS#8 key", path.display()));
    }
    use rand::TryRngCore;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut seed)?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding the witness key: {e}"))?;
    std::fs::create_dir_all(super::dev_dir())?;
    std::fs::write(&path, pem.as_bytes())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(key)
}

/// One witness in this process, so the demo's checkpoints are published cosigned. It is
/// not independent (the same operator runs it) and it forgets at each start (its state
/// is reset, as dev's Kafka and DynamoDB Local are); a real witness never does. Started
/// after the demo manifest exists: it learns the logs it witnesses from the manifests.
async fn start_dev_witness(
    cfg: &Config,
    key: ed25519_dalek::SigningKey,
    addr: std::net::SocketAddr,
) -> Result<String> {
    let state = super::dev_dir().join("dev-witness-state.json");
    let _ = std::fs::remove_file(&state);
    let db = dynamo::client(&cfg.dynamodb).await;
    let ledger = Ledger::new(db, cfg.dynamodb.ledger_table.clone());
    let logs = votechain::witness::known_logs(&ledger).await?;
    let w = votechain::witness::Witness::open(DEV_WITNESS_NAME, key, logs, state)?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("the dev witness cannot listen on {addr} ({e}): pass --witness-addr")
    })?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) =
            axum::serve(listener, votechain::witness::router(std::sync::Arc::new(w))).await
        {
            tracing::error!(error = %e, "dev witness stopped");
        }
    });
    Ok(format!("http://{bound}"))
}

/// Starts DynamoDB Local on the config's endpoint port (default 8000).
async fn start_dynamodb_local(cfg: &mut Config) -> Result<DynamoDbLocal> {
    let endpoint = cfg.dynamodb.endpoint.as_deref();
    let port = endpoint
        .and_then(|e| e.rsplit(':').next())
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or(8000);
    // `VOTECHAIN_DYNAMODB_LOCAL_DB_PATH`: an empty directory for its data instead of
    // memory (a million-vote run that must be read back after it).
    let db_path = std::env::var_os("VOTECHAIN_DYNAMODB_LOCAL_DB_PATH").map(PathBuf::from);
    let d = DynamoDbLocal::start_in(port, db_path.as_deref()).await?;
    tracing::info!(endpoint = %d.endpoint, "DynamoDB Local started");
    cfg.dynamodb.endpoint = Some(d.endpoint.clone());
    Ok(d)
}

/// Dev's Kafka starts empty: a ledger written from an earlier log has checkpoints past its
/// end, and its writers would (rightly) refuse to write.
async fn refuse_an_earlier_ledger(cfg: &Config) -> Result<()> {
    let db = dynamo::client(&cfg.dynamodb).await;
    tables::ensure_all(&db, &cfg.dynamodb).await?;
    let ledger = Ledger::new(db, cfg.dynamodb.ledger_table.clone());
    for p in 0..cfg.kafka.partitions as i32 {
        if let Some(c) = ledger.checkpoint(&cfg.kafka.votes_topic, p).await? {
            bail!(
                "table {} already holds a ledger (partition {p} checkpoint at offset {}) written from an earlier Kafka log, \
                 but `dev` starts an empty Kafka: its writers would refuse to chain. Use a fresh DynamoDB Local \
                 (omit --dynamodb-endpoint), or other table names in the config",
                cfg.dynamodb.ledger_table,
                c.next_offset
            );
        }
    }
    Ok(())
}
