//! Issue 13, certification: an election that closes during the test is certified: the
//! signed tally statement names each chain's published tree and the counts the chains
//! give, it verifies against the manifest, it is served at `GET .../tally`, certifying
//! again is a no-op, and certifying before the close is refused.
//! No transaction is aborted here: nothing relies on `read_committed`.

use crate::common::*;
use std::time::Duration;
use votechain::certify::{CertifyError, certify};
use votechain::logstore::LogStore;
use votechain::signer::PemSigner;
use votechain_core::tally::verify_statement;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_election_is_certified_once_from_its_logs() {
    let closes = votechain::now_ms() + 12_000;
    let elections = format!(
        r#"
[[elections]]
id = "demo-2026"
candidates = ["alice", "bob", "carol"]
regions = ["north", "south", "east", "west"]
chains = 2
closes_at_ms = {closes}
"#
    );
    let mut env = TestEnv::new("certify", 2, &elections).await;
    let dir = tempfile::tempdir().unwrap();
    let key = votechain_tools::fixture::write_test_log_key(dir.path()).unwrap();
    env.config
        .publisher
        .key_files
        .insert("demo-2026".into(), key.clone());
    env.config.publisher.checkpoint_interval_ms = 200;
    let node = env
        .node(&["ingest", "writer", "query", "publisher"], "certify-0")
        .await;
    let http = reqwest::Client::new();
    submit_range(&http, &node, 16, 0, 120).await;
    let m = votechain::manifests::get(&env.ledger, "demo-2026")
        .await
        .unwrap()
        .unwrap()
        .manifest;
    let logs = LogStore {
        db: env.ledger.db.clone(),
        table: env.ledger.table.clone(),
    };
    let signer = PemSigner::load(&key).unwrap();
    let early = certify(
        &env.ledger,
        &logs,
        &m,
        &signer,
        votechain::now_ms(),
        Duration::ZERO,
    )
    .await;
    assert!(
        matches!(early, Err(CertifyError::StillOpen { .. })),
        "{early:?}"
    );
    let wait = (closes - votechain::now_ms()).max(0) as u64 + 200;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    // After the close: ingest refuses, the statement is derived once the logs cover all.
    assert_eq!(
        submit(
            &http,
            &node,
            "demo-2026",
            &vote_id(16, 999),
            "alice",
            "north"
        )
        .await,
        422
    );
    let statement = certify(
        &env.ledger,
        &logs,
        &m,
        &signer,
        votechain::now_ms(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let t = verify_statement(&statement, &m).unwrap();
    assert_eq!(t.total, 120);
    let results = chain_results(&env.ledger, "demo-2026", 2).await;
    for (c, n) in &t.candidates {
        assert_eq!(results["candidates"][c].as_u64().unwrap_or(0), *n, "{c}");
    }
    let sizes: u64 = t.chains.iter().map(|(s, _)| s).sum();
    assert_eq!(sizes, 120);
    // Served, and idempotent.
    let served = get_text(
        &http,
        &format!("http://{}/v1/elections/demo-2026/tally", node.http_addr),
    )
    .await;
    assert_eq!(served, statement);
    let again = certify(
        &env.ledger,
        &logs,
        &m,
        &signer,
        votechain::now_ms(),
        Duration::ZERO,
    )
    .await
    .unwrap();
    assert_eq!(again, statement);
    // Another key is refused.
    let other = PemSigner::from_key(ed25519_dalek::SigningKey::from_bytes(&[8; 32]));
    let wrong = certify(
        &env.ledger,
        &logs,
        &m,
        &other,
        votechain::now_ms(),
        Duration::ZERO,
    )
    .await;
    assert!(matches!(wrong, Err(CertifyError::WrongKey)), "{wrong:?}");
    node.shutdown().await;
}
