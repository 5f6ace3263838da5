//! `votechain-verify`: the tool an auditor or a voter runs offline. Built on
//! `votechain-core` alone (no network, no Kafka, no AWS SDK), so what it checks does not
//! depend on trusting the node, its database or its operators.
//!
//! `votechain-verify chain FILE`: recomputes every hash of a chain export written by
//! `votechain export` and checks every link, every seq and every vote_id. Exit 0 intact,
//! 1 broken, 2 when the file cannot be checked at all.
//!
//! `votechain-verify receipt FILE --candidate C --region R --salt S` (v1: no salt): a voter's check
//! that their receipt holds the ballot they cast. FILE is the JSON of
//! `GET .../votes/{vote_id}` (the chain alone), or the C2SP `tlog-proof` of
//! `GET .../votes/{vote_id}/proof`, which also needs `--manifest`: then the log's
//! signature, the witness quorum of the manifest's policy (contract v2.1) and the inclusion
//! in the checkpoint are checked too, and a failure names its step. A manifest without a
//! policy requires no cosignature, and the output says so; `--witness VKEY... --quorum N`
//! then adds your own requirement (refused beside a manifest's policy).
//! Exit 0 when it does, 1 when it does not, 2 when it cannot be checked.
//!
//! `votechain-verify checkpoint FILE --manifest M --chain C`: a signed checkpoint of chain
//! C's log: the manifest's key and its witness quorum.
//! `votechain-verify consistency OLD NEW PROOF --manifest M --chain C`: two checkpoints
//! and the consistency proof between them (base64 hashes, one per line).
//! `votechain-verify tally FILE --manifest M`: a signed tally statement.

use clap::{Parser, Subcommand};
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;
use votechain_core::checkpoint::{Checkpoint, WitnessPolicy, verify_published};
use votechain_core::export::verify_export;
use votechain_core::manifest::Manifest;
use votechain_core::receipt::{
    Ballot, PROOF_HEADER, ProofCheckError, Receipt, ReceiptError, check_proof,
};
use votechain_core::tally::verify_statement;

#[derive(Parser)]
#[command(
    name = "votechain-verify",
    version,
    about = "Offline verification of votechain artifacts"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Verifies a chain export (`votechain export`): every hash, link, seq and vote_id.
    Chain {
        /// The export file (`-`: standard input).
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Checks that a receipt holds your ballot: your choice and the salt of your 202 answer.
    Receipt {
        /// The receipt: JSON, or a tlog-proof (`-`: standard input).
        file: PathBuf,
        #[arg(long)]
        candidate: String,
        #[arg(long)]
        region: String,
        /// The salt of the 202 answer: required for a v2 receipt (every election with a
        /// manifest); a v1 receipt has none.
        #[arg(long)]
        salt: Option<String>,
        #[command(flatten)]
        trust: Trust,
    },
    /// Checks a signed checkpoint of one chain's log.
    Checkpoint {
        file: PathBuf,
        #[arg(long)]
        chain: u32,
        #[command(flatten)]
        trust: Trust,
    },
    /// Checks that checkpoint NEW extends checkpoint OLD, with the consistency proof.
    Consistency {
        old: PathBuf,
        new: PathBuf,
        /// Base64 hashes, one per line.
        proof: PathBuf,
        #[arg(long)]
        chain: u32,
        #[command(flatten)]
        trust: Trust,
    },
    /// Checks a signed tally statement against the manifest.
    Tally {
        file: PathBuf,
        #[command(flatten)]
        trust: Trust,
    },
}

/// What a verifier trusts: the election's manifest (its log key, origins and, contract
/// v2.1, its witness policy).
#[derive(clap::Args)]
struct Trust {
    /// The election's manifest (JSON, as `GET .../manifest` serves it).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// For a manifest that names no witness policy only: a witness whose cosignature you
    /// require (`name+id+key`); repeat for each. A manifest's own policy cannot be changed.
    #[arg(long = "witness")]
    witnesses: Vec<String>,
    /// With --witness: cosignatures needed (default: every --witness given).
    #[arg(long)]
    quorum: Option<usize>,
}

impl Trust {
    fn manifest(&self) -> Result<Manifest, String> {
        let path = self.manifest.as_ref().ok_or("--manifest is needed")?;
        let text = read(path)?;
        Manifest::parse_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The witness policy that counts, and one line saying whose it is
    /// ([`Manifest::policy_for_verifier`]).
    fn policy(&self, m: &Manifest) -> Result<(WitnessPolicy, String), String> {
        m.policy_for_verifier(&self.witnesses, self.quorum)
    }

    /// The manifest and its policy, as most commands need them.
    fn manifest_and_policy(&self) -> Result<(Manifest, WitnessPolicy, String), String> {
        let m = self.manifest()?;
        let (p, line) = self.policy(&m)?;
        Ok((m, p, line))
    }
}

fn read(path: &PathBuf) -> Result<String, String> {
    if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin().lock())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Chain { file, json } => chain(&file, json),
        Cmd::Receipt {
            file,
            candidate,
            region,
            salt,
            trust,
        } => receipt(&file, &candidate, &region, salt.as_deref(), &trust),
        Cmd::Checkpoint { file, chain, trust } => checkpoint(&file, chain, &trust),
        Cmd::Consistency {
            old,
            new,
            proof,
            chain,
            trust,
        } => consistency(&old, &new, &proof, chain, &trust),
        Cmd::Tally { file, trust } => tally(&file, &trust),
    }
}

/// Exit 0 with `ok`, 1 with a verdict, 2 when the inputs cannot be read.
fn verdict(r: Result<Result<String, String>, String>) -> ExitCode {
    match r {
        Ok(Ok(ok)) => {
            println!("{ok}");
            ExitCode::SUCCESS
        }
        Ok(Err(no)) => {
            println!("FAILED: {no}");
            ExitCode::from(1)
        }
        Err(e) => fail(&e),
    }
}

fn signed_checkpoint(
    path: &PathBuf,
    chain: u32,
    m: &Manifest,
    policy: &WitnessPolicy,
) -> Result<Result<Checkpoint, String>, String> {
    let text = read(path)?;
    if chain >= m.chains {
        return Err(format!("the election has {} chain(s)", m.chains));
    }
    let key = m
        .public_key_bytes()
        .ok_or("the manifest's key is malformed")?;
    let origin = m.log_origin_of_chain(chain);
    let log = votechain_core::checkpoint::log_verifier(&origin, &key);
    Ok(verify_published(&text, &origin, &log, policy).map_err(|e| e.to_string()))
}

fn checkpoint(file: &PathBuf, chain: u32, trust: &Trust) -> ExitCode {
    verdict((|| {
        let (m, p, policy) = trust.manifest_and_policy()?;
        Ok(signed_checkpoint(file, chain, &m, &p)?.map(|cp| {
            format!(
                "checkpoint of {} verified: size {}, signed by the log, {}",
                cp.origin,
                cp.size,
                quorum_met(&p, &policy)
            )
        }))
    })())
}

fn consistency(
    old: &PathBuf,
    new: &PathBuf,
    proof: &PathBuf,
    chain: u32,
    trust: &Trust,
) -> ExitCode {
    use base64::Engine as _;
    verdict((|| {
        let (m, p, policy) = trust.manifest_and_policy()?;
        let a = match signed_checkpoint(old, chain, &m, &p)? {
            Ok(cp) => cp,
            Err(e) => return Ok(Err(format!("old checkpoint: {e}"))),
        };
        let b = match signed_checkpoint(new, chain, &m, &p)? {
            Ok(cp) => cp,
            Err(e) => return Ok(Err(format!("new checkpoint: {e}"))),
        };
        let hashes = read(proof)?
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                base64::engine::general_purpose::STANDARD
                    .decode(l)
                    .ok()
                    .and_then(|h| <[u8; 32]>::try_from(h).ok())
                    .ok_or_else(|| format!("proof line '{l}' is not base64 of 32 bytes"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(
            votechain_core::merkle::verify_consistency(a.size, b.size, &a.root, &b.root, &hashes)
                .map(|()| {
                    format!(
                        "size {} extends size {}: consistent; both {}",
                        b.size,
                        a.size,
                        quorum_met(&p, &policy)
                    )
                })
                .map_err(|e| format!("not consistent: {e}")),
        )
    })())
}

fn tally(file: &PathBuf, trust: &Trust) -> ExitCode {
    verdict((|| {
        let (m, _, policy) = trust.manifest_and_policy()?;
        let text = read(file)?;
        Ok(verify_statement(&text, &m)
            .map(|t| {
                format!(
                    "tally of {} signed by its log key: {} vote(s)\n{policy}: check the final checkpoints it names with `votechain-verify checkpoint`",
                    m.election_id, t.total
                )
            })
            .map_err(|e| e.to_string()))
    })())
}

fn receipt(
    file: &PathBuf,
    candidate: &str,
    region: &str,
    salt: Option<&str>,
    trust: &Trust,
) -> ExitCode {
    let text = match read(file) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let ballot = Ballot {
        candidate_id: candidate,
        region_id: region,
        salt,
    };
    if text.starts_with(PROOF_HEADER) {
        return verdict((|| {
            let (m, p, policy) = trust.manifest_and_policy()?;
            Ok(check_proof(&text, &m, &p, &ballot)
                .map_err(|e| match e {
                    // The checkpoint is the log's, witnessed: either the proof's hashes were
                    // altered, or (for a proof as the log served it) the ballot given differs.
                    ProofCheckError::Inclusion(_) => format!(
                        "{e}\nif this proof is as the log served it, {}",
                        other_ballot_hint("of this receipt")
                    ),
                    e => e.to_string(),
                })
                .map(|v| {
                    format!(
                        "receipt holds your ballot: {} chain {} seq {}, in the log's checkpoint of size {}, {}",
                        v.extra.election_id,
                        v.extra.chain,
                        v.extra.seq,
                        v.checkpoint.size,
                        quorum_met(&p, &policy)
                    )
                })
)
        })());
    }
    let r: Receipt = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => return fail(&format!("not a receipt: {e}")),
    };
    match votechain_core::receipt::check(&r, &ballot) {
        Ok(()) => {
            println!(
                "receipt holds your ballot: {} chain {} seq {} (hash {})",
                r.election_id, r.chain, r.seq, r.hash
            );
            ExitCode::SUCCESS
        }
        Err(e @ ReceiptError::Mismatch { .. }) => {
            println!("receipt does NOT hold this ballot: {e}");
            println!("{}", other_ballot_hint(&r.vote_id));
            // The query role tells, with the receipt, of later ballots it refused.
            let refused = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["refused_resubmissions"]["count"].as_u64());
            if let Some(n) = refused {
                println!(
                    "the receipt says {n} later ballot(s) under this vote_id were refused as conflicts"
                );
            }
            ExitCode::from(1)
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// How a verified checkpoint met the policy, for the output: who had to witness it.
fn quorum_met(p: &WitnessPolicy, policy: &str) -> String {
    if p.is_none() {
        format!("not witnessed: {policy}")
    } else {
        format!("witness quorum met: {policy}")
    }
}

/// What a voter needs to know when a receipt holds another ballot than the one given: the
/// first ballot under a vote_id is the one counted (contract v2), and a resend without the
/// first 202's salt is another ballot.
fn other_ballot_hint(vote_id: &str) -> String {
    format!(
        "the chain holds a different ballot under the vote_id {vote_id}: another choice, or another salt. \
Only the first ballot sent under a vote_id is counted; a later one with another choice, or resent \
without the salt of the first 202 answer (ingest then draws a new salt), is refused as a conflict \
and never counted. Check that --salt is the salt of the FIRST 202 answer for this vote_id."
    )
}

fn chain(file: &PathBuf, json: bool) -> ExitCode {
    let report = if file.as_os_str() == "-" {
        verify_export(std::io::stdin().lock())
    } else {
        match std::fs::File::open(file) {
            Ok(f) => verify_export(BufReader::new(f)),
            Err(e) => return fail(&format!("cannot open {}: {e}", file.display())),
        }
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(&e.to_string()),
        }
    } else {
        println!("{}", report.text());
    }
    if report.intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}
