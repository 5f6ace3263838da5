//! `votechain chaos run FILE` (one scenario, exit 0 only if the checker passes) and
//! `votechain chaos soak --minutes N` (every scenario's faults, repeated).

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use votechain_tools::chaos::{self, RunOptions, scenario::Scenario};

#[derive(clap::Subcommand)]
pub enum ChaosCmd {
    /// Runs one scenario file; exit 0 only if the checker passes (lost = 0, duplicated = 0, ...).
    Run {
        scenario: PathBuf,
        /// Use a running DynamoDB Local instead of starting one.
        #[arg(long)]
        dynamodb_endpoint: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Runs every scenario's faults, repeated, for N minutes; prints the same report.
    Soak {
        #[arg(long)]
        minutes: u64,
        /// Scenario files to cycle through (default: every chaos/*.toml except failpoints without --features chaos).
        #[arg(long)]
        scenario: Vec<PathBuf>,
        #[arg(long)]
        dynamodb_endpoint: Option<String>,
    },
}

pub async fn run(cmd: ChaosCmd) -> Result<ExitCode> {
    match cmd {
        ChaosCmd::Run {
            scenario,
            dynamodb_endpoint,
            json,
        } => {
            let s = Scenario::load(&scenario)?;
            let r = chaos::run(
                &s,
                RunOptions {
                    dynamodb_endpoint,
                    ..Default::default()
                },
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?)
            } else {
                println!("{r}")
            }
            Ok(if r.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        ChaosCmd::Soak {
            minutes,
            scenario,
            dynamodb_endpoint,
        } => soak(minutes, scenario, dynamodb_endpoint).await,
    }
}

/// Every `chaos/*.toml` (failpoints only in a `--features chaos` build).
fn default_scenarios() -> Result<Vec<PathBuf>> {
    let toml = |p: &PathBuf| p.extension().is_some_and(|x| x == "toml");
    let mut v: Vec<PathBuf> = std::fs::read_dir("chaos")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(toml)
        .collect();
    v.sort();
    v.retain(|p| cfg!(feature = "chaos") || !p.to_string_lossy().contains("failpoint"));
    Ok(v)
}

async fn soak(
    minutes: u64,
    scenario: Vec<PathBuf>,
    dynamodb_endpoint: Option<String>,
) -> Result<ExitCode> {
    let files = if scenario.is_empty() {
        default_scenarios()?
    } else {
        scenario
    };
    let deadline = Instant::now() + Duration::from_secs(minutes * 60);
    let (mut all_passed, mut runs) = (true, 0);
    'soak: loop {
        for f in &files {
            if Instant::now() >= deadline {
                break 'soak;
            }
            let s = Scenario::load(f)?;
            let r = chaos::run(
                &s,
                RunOptions {
                    dynamodb_endpoint: dynamodb_endpoint.clone(),
                    ..Default::default()
                },
            )
            .await?;
            runs += 1;
            println!("[soak run {runs}] {r}\n");
            all_passed &= r.passed;
        }
    }
    println!(
        "soak: {runs} runs in {minutes} min: {}",
        if all_passed { "ALL PASSED" } else { "FAILURES" }
    );
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
