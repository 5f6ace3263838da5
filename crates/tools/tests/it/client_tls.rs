//! Issue 17, "what it must show" 3: the polling-station client against an ingest behind
//! TLS, with a test certificate (rcgen, self-signed for `localhost`).
//!
//! - The node serves HTTPS on its listener (`node.tls`); the client trusts the test CA
//!   (`ca_file`) and its vote is acknowledged and chained.
//! - Without that CA, the same client never gets an answer it trusts: it gives up with the
//!   vote still pending (no plain-HTTP fallback), and nothing reaches the ledger.
//! - A plain-HTTP request to the HTTPS listener gets no answer.

use crate::common::*;
use std::time::Duration;
use votechain_tools::client::outbox::{OutVote, new_salt};
use votechain_tools::client::{Client, ClientConfig, SubmitError, retry};

fn client(url: &str, ca_file: Option<std::path::PathBuf>) -> Client {
    Client::new(ClientConfig {
        base_url: url.into(),
        key: KEY.into(),
        timeout: Duration::from_secs(5),
        retry: retry::Policy {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
            give_up_after: Some(Duration::from_secs(2)),
        },
        ca_file,
    })
    .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_votes_over_tls_and_trusts_only_its_ca() {
    let env = TestEnv::new("tls", 1, DEMO).await;
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let node = env
        .node_with(|c| {
            c.node.tls = Some(votechain::config::TlsFiles {
                cert_file: cert.clone(),
                key_file: key,
            })
        })
        .await;
    let url = format!("https://localhost:{}", node.http_addr.port());
    let vote = |n: u32| OutVote {
        election_id: "demo-2026".into(),
        vote_id: vote_id(71, n),
        candidate_id: "alice".into(),
        region_id: "north".into(),
        salt: Some(new_salt()),
    };

    // Trusting the test CA: acknowledged, with the salt it sent, and chained.
    let acked = client(&url, Some(cert.clone()))
        .submit(&vote(1), 0.0)
        .await
        .expect("acknowledged over TLS");
    assert_eq!(acked.answer["vote_id"], vote_id(71, 1));
    eventually(Duration::from_secs(30), "the TLS vote chained", || async {
        let items = chain_items(&env.ledger, "demo-2026", 0, 1).await;
        (items.len() == 1).then_some(())
    })
    .await;

    // Without the CA (system roots only): never sent in the clear, given up, pending.
    let err = client(&url, None).submit(&vote(2), 0.0).await.unwrap_err();
    assert!(matches!(err, SubmitError::GaveUp(_)), "{err:?}");

    // Plain HTTP to the HTTPS listener: no HTTP answer.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap()
        .get(format!(
            "http://127.0.0.1:{}/healthz",
            node.http_addr.port()
        ))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(chain_items(&env.ledger, "demo-2026", 0, 1).await.len(), 1);
    node.shutdown().await;
}
