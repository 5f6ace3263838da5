//! `votechain witness --name N --key PEM --state FILE [--listen ADDR]`: a C2SP
//! `tlog-witness` for the election logs whose manifests are in the config's ledger table
//! (see `votechain::witness`). It prints its verifier key, which a log's
//! `[[publisher.witnesses]]` and every verifier's `--witness` name.

use anyhow::{Context, Result};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use votechain::witness::{Witness, known_logs, router};

#[derive(clap::Args)]
pub struct Args {
    /// The witness's name (its key name), e.g. witness.example.org/w1.
    #[arg(long)]
    name: String,
    /// Its Ed25519 key, PKCS#8 PEM (`votechain keygen` writes one).
    #[arg(long)]
    key: PathBuf,
    /// Where it keeps the last checkpoint cosigned per log (replaced atomically).
    #[arg(long)]
    state: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    #[command(flatten)]
    target: super::Target,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let pem = votechain::secret_file::read(&a.key)?;
    let key = SigningKey::from_pkcs8_pem(&pem)
        .map_err(|_| anyhow::anyhow!("{} is not an Ed25519 PKCS#8 PEM key", a.key.display()))?;
    let (_, ledger) = a.target.open_ledger().await?;
    let logs = known_logs(&ledger).await?;
    let w = Arc::new(Witness::open(&a.name, key, logs, a.state.clone())?);
    println!(
        "witness {} ({} logs), verifier key {}",
        w.name,
        w.logs.len(),
        w.verifier_key()
    );
    serve(w, a.listen).await?;
    Ok(ExitCode::SUCCESS)
}

/// Serves `w` on `addr` until Ctrl-C, with the node's HTTP limits (header and idle
/// timeouts, a connection cap: `[http]` defaults), since a witness listens to the network.
pub async fn serve(w: Arc<Witness>, addr: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
    });
    let limits = votechain::config::HttpConfig::default();
    votechain::http::serve::serve(listener, router(w), None, limits, rx).await;
    Ok(())
}
