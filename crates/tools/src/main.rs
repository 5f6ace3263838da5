//! The `votechain-tools` command line: `bench`, `chaos run|soak`, `loadgen`, `client`. `votechain
//! bench ...` (and the others) run this binary, so operators type the same commands as
//! before the split; it is built by `cargo build -p votechain-tools` and never shipped in
//! a deploy image. Parses and dispatches; each command is a module of `cmd/`.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "votechain",
    bin_name = "votechain",
    version,
    about = "votechain's tools: benchmarks, chaos scenarios, load"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Chaos scenarios: load through the HTTP API while injecting faults, then the checker.
    Chaos {
        #[command(subcommand)]
        cmd: cmd::chaos::ChaosCmd,
    },
    /// Polling-station clients against a running votechain: durable outbox, retries with the
    /// same vote_id; reports acknowledged / chained / projected, throughput, latency.
    Loadgen(cmd::loadgen::Args),
    /// Benchmarks ours against the raw backends in one run; writes a Markdown report.
    Bench(cmd::bench::Args),
    /// The polling-station client: cast into a durable outbox, send, status, receipts.
    Client {
        #[command(subcommand)]
        cmd: cmd::client::ClientCmd,
    },
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let default = "info,rdkafka=warn,librdkafka=warn,aws_config=warn,aws_smithy_runtime=warn";
    let filter =
        EnvFilter::try_from_env("VOTECHAIN_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    let r = match Cli::parse().cmd {
        Cmd::Chaos { cmd } => cmd::chaos::run(cmd).await,
        Cmd::Loadgen(a) => cmd::loadgen::run(a).await,
        Cmd::Bench(a) => cmd::bench::run(a).await,
        Cmd::Client { cmd } => cmd::client::run(cmd).await,
    };
    r.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}
