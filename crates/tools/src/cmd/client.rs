//! `votechain client ...`: the polling-station client on its durable outbox.
//!
//! - `vote` accepts a ballot into the outbox (fsync'd) and then tries to send it: offline,
//!   it stays pending and the command says so (exit 0: the ballot is safe on the device).
//! - `send` sends everything pending, oldest first, each until acknowledged or the deadline.
//! - `status` shows pending, acknowledged, receipts kept and the oldest pending age.
//! - `receipts` lists what voters' receipts need (vote_id, salt, cast time, and the log's
//!   proof once `--fetch-from` got it; never a choice), `--export DIR` writes them, and
//!   `--handed-over ID` forgets one once its voter has it.
//! - `verify-receipt` checks a kept receipt offline against the voter's choice, the
//!   manifest and the witness policy (the same check as `votechain-verify receipt`).
//!
//! The station key comes from `--key-file` or `VOTECHAIN_STATION_KEY`, never the command
//! line; `https://` ingest is verified against the system's roots or `--ca-file`.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use votechain_tools::client::outbox::{Limits, OutVote, Outbox, new_salt};
use votechain_tools::client::{Client, ClientConfig, SubmitError, read_key_file, retry};

#[derive(clap::Subcommand)]
pub enum ClientCmd {
    /// Accept a ballot into the outbox, then try to send it.
    Vote {
        #[command(flatten)]
        link: Link,
        #[arg(long)]
        election: String,
        #[arg(long)]
        candidate: String,
        #[arg(long)]
        region: String,
        /// A v1 election (no salt). v2, the default, draws a fresh salt for the ballot.
        #[arg(long)]
        unsalted: bool,
    },
    /// Send every pending vote, oldest first.
    Send {
        #[command(flatten)]
        link: Link,
    },
    /// What the outbox holds.
    Status {
        #[command(flatten)]
        outbox: OutboxArg,
        #[arg(long)]
        json: bool,
    },
    /// Receipts kept for voters: list them, fetch the log's proofs, export them, or forget
    /// one once its voter has it.
    Receipts {
        #[command(flatten)]
        outbox: OutboxArg,
        /// Fetch the proof (`.../votes/{id}/proof`) of every kept receipt that lacks one from
        /// this query URL; a vote the log does not cover yet is left for the next fetch.
        #[arg(long)]
        fetch_from: Option<String>,
        /// A PEM CA certificate to trust for an `https://` URL.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Write each kept receipt to DIR: `<vote_id>.json` (vote_id, salt, cast time, and
        /// the proof when fetched) and `<vote_id>.tlog-proof`.
        #[arg(long)]
        export: Option<PathBuf>,
        #[arg(long)]
        handed_over: Option<String>,
    },
    /// Checks offline that a kept receipt holds the ballot the voter names: the log's
    /// signature, the witnesses, the inclusion, and the voter's choice with the kept salt.
    VerifyReceipt {
        #[command(flatten)]
        outbox: OutboxArg,
        #[arg(long)]
        vote_id: String,
        #[arg(long)]
        candidate: String,
        #[arg(long)]
        region: String,
        /// The election's manifest (JSON, as `GET .../manifest` serves it).
        #[arg(long)]
        manifest: PathBuf,
        /// For a manifest that names no witness policy only (a v2.1 manifest carries its
        /// own): a witness you require (`name+id+key`); repeat for each.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// With --witness: cosignatures needed (default: every --witness given).
        #[arg(long)]
        quorum: Option<usize>,
    },
}

#[derive(clap::Args)]
pub struct OutboxArg {
    /// The station's outbox file.
    #[arg(long, default_value = ".local/station-outbox.jsonl")]
    outbox: PathBuf,
    /// Votes the outbox holds pending at most.
    #[arg(long, default_value_t = 100_000)]
    capacity: usize,
}

impl OutboxArg {
    fn open(&self) -> Result<Outbox> {
        let limits = Limits {
            capacity: self.capacity,
            ..Default::default()
        };
        Ok(Outbox::open_with(&self.outbox, limits)?)
    }
}

/// Where ingest is and how to reach it: shared by `client` and `loadgen`.
#[derive(clap::Args)]
pub struct Endpoint {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The station key's file (its first line); else `VOTECHAIN_STATION_KEY`. Never on the
    /// command line, where `ps` and the shell history would show it.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// A PEM CA certificate to trust for an `https://` url (besides the system's roots).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
}

impl Endpoint {
    /// The station key; `default` when neither the file nor the environment gives one.
    pub fn key(&self, default: Option<&str>) -> Result<String> {
        if let Some(f) = &self.key_file {
            return Ok(read_key_file(f)?);
        }
        match (std::env::var("VOTECHAIN_STATION_KEY"), default) {
            (Ok(k), _) => Ok(k),
            (Err(_), Some(d)) => Ok(d.into()),
            (Err(_), None) => bail!("no station key: give --key-file or set VOTECHAIN_STATION_KEY"),
        }
    }
}

#[derive(clap::Args)]
pub struct Link {
    #[command(flatten)]
    outbox: OutboxArg,
    #[command(flatten)]
    endpoint: Endpoint,
    /// Per-attempt timeout.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Stop retrying a vote after this long (it stays pending for the next `send`).
    #[arg(long, default_value_t = 30)]
    give_up_after_s: u64,
}

impl Link {
    fn client(&self) -> Result<Client> {
        Ok(Client::new(ClientConfig {
            base_url: self.endpoint.url.clone(),
            key: self.endpoint.key(None)?,
            timeout: Duration::from_millis(self.timeout_ms),
            retry: retry::Policy {
                initial: Duration::from_millis(200),
                max: Duration::from_secs(10),
                give_up_after: Some(Duration::from_secs(self.give_up_after_s)),
            },
            ca_file: self.endpoint.ca_file.clone(),
        })?)
    }
}

pub async fn run(cmd: ClientCmd) -> Result<ExitCode> {
    match cmd {
        ClientCmd::Vote {
            link,
            election,
            candidate,
            region,
            unsalted,
        } => {
            let mut outbox = link.outbox.open()?;
            let v = OutVote {
                election_id: election,
                vote_id: uuid::Uuid::new_v4().to_string(),
                candidate_id: candidate,
                region_id: region,
                salt: (!unsalted).then(new_salt),
            };
            outbox.add(&v)?;
            println!("accepted {} into the outbox", v.vote_id);
            // Offline is fine: the ballot is safe on the device and goes with the next send.
            let sent = send_pending(&link, outbox).await?;
            Ok(ExitCode::from(if sent.refused > 0 { 2 } else { 0 }))
        }
        ClientCmd::Send { link } => {
            let outbox = link.outbox.open()?;
            let sent = send_pending(&link, outbox).await?;
            Ok(ExitCode::from(match sent {
                Sent { refused: 1.., .. } => 2,
                Sent { waiting: true, .. } => 1,
                _ => 0,
            }))
        }
        ClientCmd::Status { outbox, json } => {
            let st = outbox.open()?.status();
            if json {
                println!("{}", serde_json::to_string_pretty(&st)?);
            } else {
                let age = st.oldest_pending_at_ms.map_or("-".into(), |t| {
                    format!(
                        "{:.0} s",
                        (votechain::now_ms() as u64).saturating_sub(t) as f64 / 1e3
                    )
                });
                println!(
                    "pending {} of {} / acknowledged {} / receipts kept {} / oldest pending {age}",
                    st.pending, st.capacity, st.acknowledged, st.receipts_kept
                );
                if st.refused_conflicts > 0 {
                    println!(
                        "REFUSED as conflicts: {} ballot(s): the log holds another ballot under their vote_id (`votechain client receipts` lists them); they are not counted",
                        st.refused_conflicts
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ClientCmd::Receipts {
            outbox,
            fetch_from,
            ca_file,
            export,
            handed_over,
        } => {
            let mut o = outbox.open()?;
            if let Some(id) = handed_over {
                if !o.receipts().iter().any(|k| k.vote_id == id) {
                    bail!("no receipt kept for {id}");
                }
                o.handed_over(&id)?;
                println!("forgot {id}");
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(url) = fetch_from {
                fetch_proofs(&mut o, &url, ca_file.as_deref()).await?;
            }
            if let Some(dir) = export {
                export_receipts(&o, &dir)?;
            }
            for k in o.receipts() {
                let proof = match (&k.proof, k.conflict) {
                    (_, true) => {
                        "REFUSED as a conflict: the log holds another ballot under this vote_id"
                    }
                    (Some(_), false) => "proof",
                    (None, false) => "no proof yet",
                };
                println!("{} {} ({proof})", k.election_id, k.vote_id);
            }
            Ok(ExitCode::SUCCESS)
        }
        ClientCmd::VerifyReceipt {
            outbox,
            vote_id,
            candidate,
            region,
            manifest,
            witnesses,
            quorum,
        } => {
            let o = outbox.open()?;
            let k = o
                .receipts()
                .into_iter()
                .find(|k| k.vote_id == vote_id)
                .with_context(|| format!("no receipt kept for {vote_id}"))?;
            let proof = k.proof.as_deref().with_context(|| {
                format!(
                    "no proof for {vote_id} yet: run `votechain client receipts --fetch-from URL`"
                )
            })?;
            let text = std::fs::read_to_string(&manifest)
                .with_context(|| format!("cannot read {}", manifest.display()))?;
            let m = votechain_core::manifest::Manifest::parse_json(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", manifest.display()))?;
            let (policy, whose) = m
                .policy_for_verifier(&witnesses, quorum)
                .map_err(|e| anyhow::anyhow!(e))?;
            let ballot = votechain_core::receipt::Ballot {
                candidate_id: &candidate,
                region_id: &region,
                salt: k.salt.as_deref(),
            };
            match votechain_core::receipt::check_proof(proof, &m, &policy, &ballot) {
                Ok(v) => {
                    println!(
                        "receipt holds this ballot: {} chain {} seq {}, in the log's checkpoint of size {}; {whose}",
                        v.extra.election_id, v.extra.chain, v.extra.seq, v.checkpoint.size,
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("receipt does NOT check: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// Fetches the proof of every kept receipt without one; 425 (not covered yet) and 404 leave
/// it for the next fetch.
async fn fetch_proofs(o: &mut Outbox, url: &str, ca: Option<&std::path::Path>) -> Result<()> {
    let http = votechain_tools::client::http_client(Duration::from_secs(10), ca, 4)?;
    for k in o.receipts().into_iter().filter(|k| k.proof.is_none()) {
        let u = format!(
            "{}/v1/elections/{}/votes/{}/proof",
            url.trim_end_matches('/'),
            k.election_id,
            k.vote_id
        );
        let r = http.get(&u).send().await?;
        match r.status().as_u16() {
            200 => {
                let text = r.text().await?;
                if !text.starts_with(votechain_core::receipt::PROOF_HEADER) {
                    bail!("{u}: not a tlog-proof");
                }
                o.set_proof(&k.vote_id, &text)?;
            }
            425 => eprintln!("{}: not covered by the log yet", k.vote_id),
            s => eprintln!("{}: {s} from {u}", k.vote_id),
        }
    }
    Ok(())
}

/// Writes every kept receipt to `dir` (created; existing files are replaced).
fn export_receipts(o: &Outbox, dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for k in o.receipts() {
        let base = dir.join(&k.vote_id);
        std::fs::write(
            base.with_extension("json"),
            serde_json::to_string_pretty(&k)?,
        )?;
        if let Some(p) = &k.proof {
            std::fs::write(base.with_extension("tlog-proof"), p)?;
        }
    }
    println!(
        "exported {} receipt(s) to {}",
        o.receipts().len(),
        dir.display()
    );
    Ok(())
}

/// What a send left: votes the server refused (they stay pending, for a person to look at:
/// a refused ballot is never dropped silently), and whether the link was down.
struct Sent {
    refused: usize,
    waiting: bool,
}

/// Sends every pending vote, oldest first, stopping at the first that gets no answer.
async fn send_pending(link: &Link, mut outbox: Outbox) -> Result<Sent> {
    let client = link.client()?;
    let (mut refused, mut waiting) = (0, false);
    for v in outbox.pending() {
        match client.submit(&v, 0.0).await {
            Ok(a) => {
                outbox.ack(&v.vote_id, a.answer["cast_at_ms"].as_u64())?;
                println!("acknowledged {}", v.vote_id);
            }
            Err(SubmitError::GaveUp(_)) => {
                waiting = true;
                // The link is down: the later votes would wait just as long.
                break;
            }
            Err(e @ SubmitError::Refused { .. }) => {
                refused += 1;
                eprintln!("{}: {e}", v.vote_id);
            }
        }
    }
    let st = outbox.status();
    println!(
        "pending {} / acknowledged {} / receipts kept {}",
        st.pending, st.acknowledged, st.receipts_kept
    );
    if waiting {
        eprintln!(
            "no answer from {}: pending votes stay in the outbox; run `votechain client send` again",
            link.endpoint.url
        );
    }
    Ok(Sent { refused, waiting })
}
