//! The `votechain` command line. It parses and dispatches; each command is a module of
//! `cmd/` (its arguments, its work through the library, its output). `anyhow` lives in
//! the binary only; library modules have typed errors.
//!
//! Commands: `dev` (everything in one process), `run` (the roles of one config file, one
//! pod), `verify`, `export`, `audit`, `replay`, `recount`, `election create|show|list`, `keygen`, `keys`, `witness`, `dlq list`,
//! `actors`, `setup-tables`, `setup-topics`. The tool commands `bench`, `chaos` and
//! `loadgen`, `client` run the `votechain-tools` binary (see `cmd/tool.rs`).

mod cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "votechain",
    version,
    about = "Exactly-once, tamper-evident vote counting",
    after_help = "Tool commands (the votechain-tools binary, not in production images): bench, chaos, client, loadgen"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Everything on this machine: Apache Kafka and DynamoDB Local as child processes, every
    /// role in this process, the demo election.
    Dev(cmd::dev::Args),
    /// Runs the roles named in a config file (one pod's part of the topology).
    Run(cmd::serve::Args),
    /// Walks every chain of an election and recomputes every hash. Exit 0 only when intact.
    Verify(cmd::verify::Args),
    /// Writes an election's chains as a chain export, for `votechain-verify chain` offline.
    /// CONFIDENTIAL: it pairs every vote_id with its choice and salt (a voter's receipt plus
    /// the export reveal that voter's choice); written 0600, never publish it.
    Export(cmd::export::Args),
    /// Transparency logs: export them as static files.
    Log {
        #[command(subcommand)]
        cmd: cmd::log::LogCmd,
    },
    /// Checks an election's transparency logs as an outside auditor (signatures, witnesses,
    /// every tile, append-only since last time; with --with-ledger the chains too).
    Audit(cmd::audit::Args),
    /// Rebuilds an election's projection from the Kafka log into a new table; switches the
    /// query role to it only if it equals the chain's counts. Exit 0 switched, 1 not.
    Replay(cmd::replay::Args),
    /// Counts an election from Kafka, from the chain (verifying it) and from the read model,
    /// side by side. Exit 0 only when all three agree.
    Recount(cmd::recount::Args),
    /// Election manifests (contract v2): create (once), show, list.
    Election {
        #[command(subcommand)]
        cmd: cmd::election::ElectionCmd,
    },
    /// Writes an Ed25519 key pair for an election's log: PKCS#8 PEM, public key, verifier keys.
    Keygen(cmd::keygen::Args),
    /// Station keys (hashed, scoped, reloaded by ingest without a restart): create, rotate,
    /// revoke, list.
    Keys {
        #[command(subcommand)]
        cmd: cmd::keys::KeysCmd,
    },
    /// A transparency-log witness (C2SP tlog-witness) for the logs of the stored manifests.
    Witness(cmd::witness::Args),
    /// The dead-letter topic: what the writers refused and why (never the choice, unless asked).
    Dlq {
        #[command(subcommand)]
        cmd: cmd::dlq::DlqCmd,
    },
    /// Shows the live supervision tree of a running node (its /debug/actors).
    Actors(cmd::actors::Args),
    /// Creates the DynamoDB tables if missing (idempotent; real AWS too).
    SetupTables(cmd::setup::TablesArgs),
    /// Creates the Kafka topics if missing (idempotent; MSK too).
    SetupTopics(cmd::setup::TopicsArgs),
    /// bench, chaos, client, loadgen: run by the votechain-tools binary.
    #[command(external_subcommand)]
    Tool(Vec<OsString>),
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("VOTECHAIN_LOG").unwrap_or_else(|_| {
        EnvFilter::new("info,rdkafka=warn,librdkafka=warn,aws_config=warn,aws_smithy_runtime=warn")
    });
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if std::env::var("VOTECHAIN_LOG_FORMAT").as_deref() == Ok("json") {
        b.json().init()
    } else {
        b.init()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Dev(a) => cmd::dev::run(a).await,
        Cmd::Run(a) => cmd::serve::run(a).await,
        Cmd::Verify(a) => cmd::verify::run(a).await,
        Cmd::Export(a) => cmd::export::run(a).await,
        Cmd::Audit(a) => cmd::audit::run(a).await,
        Cmd::Log { cmd } => cmd::log::run(cmd).await,
        Cmd::Replay(a) => cmd::replay::run(a).await,
        Cmd::Recount(a) => cmd::recount::run(a).await,
        Cmd::Election { cmd } => cmd::election::run(cmd).await,
        Cmd::Keygen(a) => cmd::keygen::run(a),
        Cmd::Keys { cmd } => cmd::keys::run(cmd),
        Cmd::Witness(a) => cmd::witness::run(a).await,
        Cmd::Dlq { cmd } => cmd::dlq::run(cmd).await,
        Cmd::Actors(a) => cmd::actors::run(a).await,
        Cmd::SetupTables(a) => cmd::setup::tables(a).await,
        Cmd::SetupTopics(a) => cmd::setup::topics(a).await,
        Cmd::Tool(args) => cmd::tool::run(args),
    }
}
