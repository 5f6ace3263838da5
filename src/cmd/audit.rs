//! `votechain audit --election ID [--url U] [--manifest F | --manifest-digest D]
//! [--witness VKEY ... --quorum N] [--with-ledger]`: checks an election's transparency
//! logs over HTTP as an outside auditor would (see `votechain::audit`), under the witness
//! policy of the manifest (contract v2.1; `--witness` only for a manifest without one). With
//! `--with-ledger` it also reads the chains from DynamoDB (the config's, or `--endpoint`)
//! and checks they are exactly what the logs committed to. Exit 0 when every chain
//! checks, 1 when one does not (each problem named), 2 when it cannot run.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use votechain::audit::Audit;
use votechain_core::manifest::Manifest;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    election: String,
    /// The node serving the logs (its query role).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The manifest you trust (JSON). Without it, the served one, which must then have
    /// the digest given with --manifest-digest.
    #[arg(long)]
    manifest: Option<PathBuf>,
    #[arg(long)]
    manifest_digest: Option<String>,
    /// For a manifest that names no witness policy only (v2.1 manifests carry their
    /// own, which cannot be changed here): a witness you require; repeat for each.
    #[arg(long = "witness")]
    witnesses: Vec<String>,
    /// With --witness: cosignatures needed (default: every --witness given).
    #[arg(long)]
    quorum: Option<usize>,
    /// Where the last checkpoint seen per chain is kept.
    #[arg(long, default_value = ".local/audit")]
    state_dir: PathBuf,
    /// Also read the chains from DynamoDB and check them against the logs.
    #[arg(long)]
    with_ledger: bool,
    /// Also check the certified tally statement: its signature, that its trees are the
    /// logs' published ones, and (with --with-ledger) that it is what the chains give.
    #[arg(long)]
    tally: bool,
    /// Keep auditing every --interval-s; exit 1 at the first failure (after --linger-s,
    /// so Prometheus scrapes the failure from --metrics-listen).
    #[arg(long)]
    follow: bool,
    #[arg(long, default_value_t = 30)]
    interval_s: u64,
    #[arg(long, default_value_t = 30)]
    linger_s: u64,
    /// Serve `/metrics` here while following (votechain_audit_*).
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    target: super::Target,
    #[arg(long)]
    json: bool,
}

async fn trusted_manifest(a: &Args) -> Result<Manifest> {
    if let Some(path) = &a.manifest {
        let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
        return Manifest::parse_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let Some(want) = &a.manifest_digest else {
        bail!("pass the manifest you trust (--manifest FILE) or its digest (--manifest-digest)");
    };
    let url = format!(
        "{}/v1/elections/{}/manifest",
        a.url.trim_end_matches('/'),
        a.election
    );
    let text = reqwest::get(&url).await?.error_for_status()?.text().await?;
    let m = Manifest::parse_json(&text).map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let got = hex::encode(m.digest());
    if got != *want {
        bail!("the served manifest's digest is {got}, not the trusted {want}");
    }
    Ok(m)
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let manifest = trusted_manifest(&a).await?;
    if manifest.election_id != a.election {
        bail!("the manifest is of election '{}'", manifest.election_id);
    }
    let (policy, whose) = manifest
        .policy_for_verifier(&a.witnesses, a.quorum)
        .map_err(|e| anyhow::anyhow!(e))?;
    if !a.json {
        println!("{whose}");
    }
    let ledger = if a.with_ledger {
        Some(a.target.open_ledger().await?.1)
    } else {
        None
    };
    let audit = Audit {
        base_url: a.url.clone(),
        manifest: &manifest,
        policy,
        state_dir: a.state_dir.clone(),
        ledger,
    };
    if a.follow {
        return follow(&a, &manifest, &audit).await;
    }
    once(&a, &manifest, &audit).await
}

/// Audits until the first failure; every pass and failure is in `votechain_audit_*`.
async fn follow(a: &Args, manifest: &Manifest, audit: &Audit<'_>) -> Result<ExitCode> {
    use votechain::metrics as m;
    let handle = m::install();
    if let Some(addr) = a.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let h = handle.clone();
                async move { m::render(&h) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    loop {
        let code = once(a, manifest, audit).await?;
        if code != ExitCode::SUCCESS {
            metrics::gauge!(m::AUDIT_FAILED).set(1.0);
            eprintln!("audit failed; exiting in {} s", a.linger_s);
            tokio::time::sleep(std::time::Duration::from_secs(a.linger_s)).await;
            return Ok(code);
        }
        metrics::gauge!(m::AUDIT_FAILED).set(0.0);
        metrics::gauge!(m::AUDIT_LAST_PASS).set(votechain::now_ms() as f64 / 1000.0);
        tokio::time::sleep(std::time::Duration::from_secs(a.interval_s)).await;
    }
}

/// One audit of every chain (and the tally if asked); prints the result.
async fn once(a: &Args, manifest: &Manifest, audit: &Audit<'_>) -> Result<ExitCode> {
    let chains = audit.run().await?;
    let tally_problems = if a.tally {
        check_tally(a, manifest, &chains, audit.ledger.as_ref()).await?
    } else {
        vec![]
    };
    let ok = chains.iter().all(|c| c.problems.is_empty()) && tally_problems.is_empty();
    if a.json {
        super::print_json(
            &serde_json::json!({"election": a.election, "ok": ok, "witness_policy": audit.policy.describe(), "chains": chains, "tally_problems": tally_problems}),
        )?;
    } else {
        for c in &chains {
            let status = if c.problems.is_empty() {
                "ok"
            } else {
                "FAILED"
            };
            println!(
                "chain {}: size {} root {} {status}",
                c.chain, c.size, c.root
            );
            for p in &c.problems {
                println!("  - {p}");
            }
        }
        if a.tally {
            let status = if tally_problems.is_empty() {
                "ok"
            } else {
                "FAILED"
            };
            println!("tally: {status}");
            for p in &tally_problems {
                println!("  - {p}");
            }
        }
        println!(
            "election {}: {}",
            a.election,
            if ok { "AUDIT PASSED" } else { "AUDIT FAILED" }
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The tally statement: signed by the log key, its trees the published ones, and (with the
/// ledger) exactly what the verified chains give.
async fn check_tally(
    a: &Args,
    m: &Manifest,
    chains: &[votechain::audit::ChainAudit],
    ledger: Option<&votechain::dynamo::ledger::Ledger>,
) -> Result<Vec<String>> {
    let url = format!(
        "{}/v1/elections/{}/tally",
        a.url.trim_end_matches('/'),
        a.election
    );
    let res = reqwest::get(&url).await?;
    if res.status() == 404 {
        return Ok(vec!["not certified yet".into()]);
    }
    let text = res.error_for_status()?.text().await?;
    let t = match votechain_core::tally::verify_statement(&text, m) {
        Ok(t) => t,
        Err(e) => return Ok(vec![format!("statement: {e}")]),
    };
    let mut problems = Vec::new();
    for c in chains {
        let tree = t
            .chains
            .get(c.chain as usize)
            .map(|(size, root)| (*size, hex::encode(root)));
        if tree != Some((c.size, c.root.clone())) {
            problems.push(format!(
                "chain {}: the tally's tree is not the log's published checkpoint",
                c.chain
            ));
        }
    }
    if let Some(ledger) = ledger {
        let logs = votechain::logstore::LogStore {
            db: ledger.db.clone(),
            table: ledger.table.clone(),
        };
        match votechain::certify::derive(ledger, &logs, m).await {
            Ok(d) if d == t => {}
            Ok(_) => problems.push("the counts are not what the chains give".into()),
            Err(e) => problems.push(format!("re-deriving from the chains: {e}")),
        }
    }
    Ok(problems)
}
