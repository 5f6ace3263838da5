//! The `votechain` command line: `dev` (everything in one process), `run` (the roles of
//! one config file, one pod), `verify`, and idempotent `setup-tables` / `setup-topics`.
//! `anyhow` lives here only; library modules have typed errors.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use votechain::config::Config;
use votechain::dev::DynamoDbLocal;
use votechain::dynamo::{self, ledger::Ledger, tables};
use votechain::kafka::{self, EmbeddedKafka};
use votechain::runtime::Node;
use votechain::verify;

#[derive(Parser)]
#[command(name = "votechain", version, about = "Exactly-once, tamper-evident vote counting")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Everything in one process: embedded Kafka, DynamoDB Local, every role, demo election.
    Dev {
        #[arg(long, default_value = "config/dev.toml")]
        config: PathBuf,
        /// Use a DynamoDB (Local) already running at this URL instead of starting one.
        #[arg(long)]
        dynamodb_endpoint: Option<String>,
    },
    /// Runs the roles named in a config file (one pod's part of the topology).
    Run {
        #[arg(long)]
        config: PathBuf,
    },
    /// Walks every chain of an election and recomputes every hash. Exit 0 only when intact.
    Verify {
        #[arg(long)]
        election: String,
        /// DynamoDB endpoint (DynamoDB Local); default: the config's, else AWS.
        #[arg(long)]
        endpoint: Option<String>,
        #[arg(long, default_value = "config/dev.toml")]
        config: PathBuf,
        /// Number of chains of the election; default: from the config's election.
        #[arg(long)]
        chains: Option<u32>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rebuilds an election's projection from the Kafka log into a new table; switches the
    /// query role to it only if it equals the chain's counts. Exit 0 switched, 1 not.
    Replay {
        #[arg(long)]
        election: String,
        /// Start offsets per partition, `P:OFFSET,...` (default: the beginning of each).
        #[arg(long, value_parser = parse_offsets)]
        from_offsets: Option<std::collections::BTreeMap<i32, i64>>,
        #[command(flatten)]
        target: Target,
        /// Longest time projections may stay frozen during the handover.
        #[arg(long, default_value_t = 60)]
        freeze_timeout_s: u64,
        #[arg(long)]
        json: bool,
    },
    /// Counts an election from Kafka, from the chain (verifying it) and from the read model,
    /// side by side. Exit 0 only when all three agree.
    Recount {
        #[arg(long)]
        election: String,
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Chaos scenarios: load through the HTTP API while injecting faults, then the checker.
    Chaos {
        #[command(subcommand)]
        cmd: ChaosCmd,
    },
    /// Polling-station clients against a running votechain: durable outbox, retries with the
    /// same vote_id; reports acknowledged / chained / projected, throughput, latency.
    Loadgen {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        #[arg(long, default_value = "dev-key")]
        key: String,
        /// Elections to vote in (repeatable; default: every open election the server lists).
        #[arg(long)]
        election: Vec<String>,
        /// Target votes/s over all clients (0: as fast as possible).
        #[arg(long, default_value_t = 200)]
        rate: u32,
        /// Run for this many seconds...
        #[arg(long)]
        duration_s: Option<u64>,
        /// ...or until this many new votes were sent (default: 2000 when neither is given).
        #[arg(long)]
        votes: Option<u64>,
        #[arg(long, default_value_t = 16)]
        clients: u32,
        /// Share of submissions that re-send an acknowledged vote_id.
        #[arg(long, default_value_t = 0.05)]
        resubmit_share: f64,
        /// Per-attempt client timeout (poor connectivity: make it short).
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        /// Share of answers the client pretends it never got (it retries).
        #[arg(long, default_value_t = 0.0)]
        drop_answer_share: f64,
        #[arg(long, default_value = ".local/loadgen-outbox.jsonl")]
        outbox: PathBuf,
        /// Only resend what the outbox still holds from an earlier (crashed) run.
        #[arg(long)]
        resume_only: bool,
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks ours against the raw backends in one run; writes a Markdown report.
    Bench {
        /// Votes per measure.
        #[arg(long, default_value_t = 3000)]
        votes: u64,
        #[arg(long, default_value = "docs/benchmarks.md")]
        out: PathBuf,
        /// Seconds of steady load for the projection-lag measure (at 80 % of peak).
        #[arg(long, default_value_t = 20)]
        lag_seconds: u64,
        /// Use a running DynamoDB Local instead of starting one. Every measure then shares it,
        /// the like-for-like ChainWriter baseline included, whose stream slows the ledger's
        /// (see docs/performance.md): the ChainWriter rows are only fair without this option.
        #[arg(long)]
        dynamodb_endpoint: Option<String>,
        /// Skip the peak-RSS measure of a `votechain dev` process (it needs port 8080).
        #[arg(long)]
        no_dev_rss: bool,
    },
    /// Shows the live supervision tree of a running node (its /debug/actors).
    Actors {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Creates the DynamoDB tables if missing (idempotent; real AWS too).
    SetupTables {
        #[arg(long, default_value = "config/dev.toml")]
        config: PathBuf,
        #[arg(long)]
        endpoint: Option<String>,
    },
    /// Creates the Kafka topics if missing (idempotent; MSK too).
    SetupTopics {
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum ChaosCmd {
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

/// Where an offline command finds Kafka and DynamoDB.
#[derive(clap::Args)]
struct Target {
    #[arg(long, default_value = "config/dev.toml")]
    config: PathBuf,
    /// DynamoDB endpoint (DynamoDB Local); default: the config's, else AWS.
    #[arg(long)]
    endpoint: Option<String>,
    /// Kafka bootstrap servers; default: the config's, or the running `votechain dev`'s.
    #[arg(long)]
    kafka_bootstrap: Option<String>,
}

impl Target {
    async fn open(&self) -> Result<(Config, Ledger)> {
        let mut cfg = load(&self.config)?;
        if let Some(ep) = &self.endpoint {
            cfg.dynamodb.endpoint = Some(ep.clone());
            cfg.dynamodb.local_credentials = true;
        }
        if let Some(b) = &self.kafka_bootstrap {
            cfg.kafka.bootstrap_servers = b.clone();
        } else if cfg.kafka.embedded {
            cfg.kafka.bootstrap_servers = std::fs::read_to_string(DEV_BOOTSTRAP_FILE)
                .map(|s| s.trim().to_string())
                .with_context(|| format!("{} not found: is `votechain dev` running? (or pass --kafka-bootstrap)", DEV_BOOTSTRAP_FILE))?;
        }
        let ledger = Ledger::new(dynamo::client(&cfg.dynamodb).await, cfg.dynamodb.ledger_table.clone());
        Ok((cfg, ledger))
    }
}

/// `votechain dev` writes its embedded cluster's bootstrap servers here for `replay`/`recount`.
const DEV_BOOTSTRAP_FILE: &str = ".local/dev-kafka-bootstrap";

fn parse_offsets(s: &str) -> Result<std::collections::BTreeMap<i32, i64>, String> {
    s.split(',')
        .map(|kv| {
            let (p, o) = kv.split_once(':').ok_or_else(|| format!("'{kv}' is not PARTITION:OFFSET"))?;
            Ok((p.trim().parse().map_err(|_| format!("bad partition '{p}'"))?, o.trim().parse().map_err(|_| format!("bad offset '{o}'"))?))
        })
        .collect()
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("VOTECHAIN_LOG").unwrap_or_else(|_| EnvFilter::new("info,rdkafka=warn,librdkafka=warn,aws_config=warn,aws_smithy_runtime=warn"));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("VOTECHAIN_LOG_FORMAT").as_deref() == Ok("json") { b.json().init() } else { b.init() }
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

fn load(path: &std::path::Path) -> Result<Config> {
    Config::load(path).with_context(|| format!("loading {}", path.display()))
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Dev { config, dynamodb_endpoint } => dev(load(&config)?, dynamodb_endpoint).await,
        Cmd::Run { config } => {
            let cfg = load(&config)?;
            if cfg.kafka.embedded {
                bail!("kafka.embedded is for `votechain dev`; `run` needs kafka.bootstrap_servers");
            }
            serve(cfg).await
        }
        Cmd::Verify { election, endpoint, config, chains, json } => {
            let mut cfg = load(&config)?;
            if endpoint.is_some() {
                cfg.dynamodb.endpoint = endpoint;
                cfg.dynamodb.local_credentials = true;
            }
            let chains = match chains.or_else(|| cfg.registry().get(&election).map(|e| e.chains)) {
                Some(c) => c,
                None => bail!("election '{election}' is not in {}; pass --chains N", config.display()),
            };
            let ledger = Ledger::new(dynamo::client(&cfg.dynamodb).await, cfg.dynamodb.ledger_table.clone());
            let report = verify::verify_election(&ledger, &election, chains).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for c in &report.chains {
                    println!("chain {}: {} votes, last seq {}, tip {}", c.chain, c.votes, c.last_seq, c.tip_hash);
                }
                if report.intact {
                    println!("election {}: INTACT ({} votes in {} chain(s))", election, report.votes, report.chains.len());
                } else {
                    println!("election {}: BROKEN ({} problem(s))", election, report.problem_count);
                    if let Some(first) = report.problems.iter().find(|p| !matches!(p, verify::Problem::Gap { .. })).or(report.problems.first()) {
                        println!("first broken link: {first}");
                    }
                    for p in report.problems.iter().take(50) {
                        println!("  {p}");
                    }
                }
            }
            Ok(if report.intact { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Cmd::Replay { election, from_offsets, target, freeze_timeout_s, json } => {
            let (cfg, ledger) = target.open().await?;
            let pb = indicatif::ProgressBar::new(0);
            pb.set_style(
                indicatif::ProgressStyle::with_template("{spinner} replay [{bar:40}] {pos}/{len} records  {per_sec}  ETA {eta}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            let actor = votechain::actors::replay::Replay {
                config: std::sync::Arc::new(cfg),
                ledger,
                election,
                from_offsets: from_offsets.unwrap_or_default(),
                freeze_timeout: std::time::Duration::from_secs(freeze_timeout_s),
                progress: Some(pb),
            };
            let (r, _) = ractor::Actor::spawn(None, actor, ()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let out = match r.call(votechain::actors::replay::ReplayMsg::Run, None).await {
                Ok(ractor::rpc::CallResult::Success(res)) => res.map_err(|e| anyhow::anyhow!(e))?,
                other => bail!("replay actor failed: {other:?}"),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!(
                    "replayed {} records: {} votes of {} ({} duplicates, {} invalid skipped) into {}",
                    out.records_read, out.votes, out.election_id, out.duplicates, out.invalid, out.table
                );
                if out.switched {
                    println!("checked against the chain: equal. The query role now serves {} (thresholds {:?}).", out.table, out.thresholds);
                } else {
                    println!("NOT switched: the rebuilt projection differs from the chain; the active projection is untouched.");
                    for (l, a, b) in &out.differences {
                        println!("  {l}: rebuilt {a}, chain {b}");
                    }
                    for p in &out.problems {
                        println!("  {p}");
                    }
                }
            }
            Ok(if out.switched { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Cmd::Recount { election, target, json } => {
            let (cfg, ledger) = target.open().await?;
            let r = votechain::recount::recount(&cfg, &ledger, &election, std::time::Duration::from_secs(60)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("{r}");
            }
            Ok(if r.agree { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Cmd::Chaos { cmd: ChaosCmd::Run { scenario, dynamodb_endpoint, json } } => {
            let s = votechain::chaos::scenario::Scenario::load(&scenario)?;
            let opts = votechain::chaos::RunOptions { dynamodb_endpoint, ..Default::default() };
            let r = votechain::chaos::run(&s, opts).await?;
            if json { println!("{}", serde_json::to_string_pretty(&r)?) } else { println!("{r}") }
            Ok(if r.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Cmd::Chaos { cmd: ChaosCmd::Soak { minutes, scenario, dynamodb_endpoint } } => {
            let files = if scenario.is_empty() {
                let mut v: Vec<PathBuf> = std::fs::read_dir("chaos")?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
                v.sort();
                v.retain(|p| cfg!(feature = "chaos") || !p.to_string_lossy().contains("failpoint"));
                v
            } else {
                scenario
            };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(minutes * 60);
            let mut all_passed = true;
            let mut runs = 0;
            'soak: loop {
                for f in &files {
                    if std::time::Instant::now() >= deadline {
                        break 'soak;
                    }
                    let s = votechain::chaos::scenario::Scenario::load(f)?;
                    let r = votechain::chaos::run(&s, votechain::chaos::RunOptions { dynamodb_endpoint: dynamodb_endpoint.clone(), ..Default::default() }).await?;
                    runs += 1;
                    println!("[soak run {runs}] {r}\n");
                    all_passed &= r.passed;
                }
            }
            println!("soak: {runs} runs in {minutes} min: {}", if all_passed { "ALL PASSED" } else { "FAILURES" });
            Ok(if all_passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Cmd::Loadgen { url, key, election, rate, duration_s, votes, clients, resubmit_share, timeout_ms, drop_answer_share, outbox, resume_only, json } => {
            if !(0.0..=0.9).contains(&resubmit_share) || !(0.0..=0.9).contains(&drop_answer_share) || clients == 0 {
                bail!("--resubmit-share and --drop-answer-share must be within 0..=0.9, --clients at least 1");
            }
            let votes = if duration_s.is_none() && votes.is_none() { Some(2000) } else { votes };
            let opts = votechain::loadgen::LoadOptions {
                url,
                key,
                elections: election,
                rate,
                duration: duration_s.map(std::time::Duration::from_secs),
                votes,
                clients,
                resubmit_share,
                timeout: std::time::Duration::from_millis(timeout_ms),
                drop_answer_share,
                outbox,
                resume_only,
                progress: !json,
            };
            let r = votechain::loadgen::run(opts).await?;
            if json { println!("{}", serde_json::to_string_pretty(&r)?) } else { println!("{r}") }
            Ok(if r.acknowledged == r.chained { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Cmd::Bench { votes, out, lag_seconds, dynamodb_endpoint, no_dev_rss } => {
            if cfg!(debug_assertions) {
                eprintln!("warning: a debug build; benchmark with `cargo build --release`");
            }
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            let bin = if no_dev_rss { None } else { Some(std::env::current_exe()?) };
            let r = votechain::bench::run(votes, lag_seconds, dynamodb_endpoint, bin, |s| eprintln!("bench: {s}...")).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let md = r.markdown(&command);
            std::fs::write(&out, &md)?;
            println!("{md}
written to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Actors { url } => {
            let v: serde_json::Value = reqwest::get(format!("{}/debug/actors", url.trim_end_matches('/'))).await?.error_for_status()?.json().await?;
            fn show(v: &serde_json::Value, depth: usize) {
                let restarts = v["restarts"].as_u64().unwrap_or(0);
                println!(
                    "{}{} [{}] {}{}",
                    "  ".repeat(depth),
                    v["name"].as_str().unwrap_or("?"),
                    v["kind"].as_str().unwrap_or("?"),
                    v["status"].as_str().unwrap_or("?"),
                    if restarts > 0 { format!(" (restarts: {restarts})") } else { String::new() }
                );
                for c in v["children"].as_array().into_iter().flatten() {
                    show(c, depth + 1);
                }
            }
            show(&v, 0);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::SetupTables { config, endpoint } => {
            let mut cfg = load(&config)?;
            if endpoint.is_some() {
                cfg.dynamodb.endpoint = endpoint;
                cfg.dynamodb.local_credentials = true;
            }
            let db = dynamo::client(&cfg.dynamodb).await;
            tables::ensure_all(&db, &cfg.dynamodb).await?;
            let d = &cfg.dynamodb;
            println!("tables {}, {}, {} ready", d.ledger_table, d.lease_table, d.results_table);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::SetupTopics { config } => {
            let cfg = load(&config)?;
            if cfg.kafka.embedded {
                bail!("setup-topics is for a real cluster; the embedded one creates its topics itself");
            }
            kafka::ensure_topics(&cfg.kafka).await?;
            println!("topics {}, {}, {} ready", cfg.kafka.votes_topic, cfg.kafka.audit_topic, cfg.kafka.dead_letter_topic);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `votechain dev`: DynamoDB Local + embedded Kafka + every role of the config.
async fn dev(mut cfg: Config, dynamodb_endpoint: Option<String>) -> Result<ExitCode> {
    let reused = dynamodb_endpoint.is_some();
    let _ddb = match dynamodb_endpoint {
        Some(url) => {
            cfg.dynamodb.endpoint = Some(url);
            None
        }
        None => {
            let port = cfg
                .dynamodb
                .endpoint
                .as_deref()
                .and_then(|e| e.rsplit(':').next())
                .and_then(|p| p.trim_end_matches('/').parse().ok())
                .unwrap_or(8000);
            let d = DynamoDbLocal::start(port).await?;
            tracing::info!(endpoint = %d.endpoint, "DynamoDB Local started");
            cfg.dynamodb.endpoint = Some(d.endpoint.clone());
            Some(d)
        }
    };
    cfg.dynamodb.local_credentials = true;
    if reused {
        // The embedded Kafka starts empty: a ledger written from an earlier log has
        // checkpoints past its end, and its writers would (rightly) refuse to write.
        let db = dynamo::client(&cfg.dynamodb).await;
        tables::ensure_all(&db, &cfg.dynamodb).await?;
        let ledger = Ledger::new(db, cfg.dynamodb.ledger_table.clone());
        for p in 0..cfg.kafka.partitions as i32 {
            if let Some(c) = ledger.checkpoint(&cfg.kafka.votes_topic, p).await? {
                bail!(
                    "table {} already holds a ledger (partition {p} checkpoint at offset {}) written from an earlier Kafka log, \
                     but `dev` starts an empty embedded Kafka: its writers would refuse to chain. Use a fresh DynamoDB Local \
                     (omit --dynamodb-endpoint), or other table names in the config",
                    cfg.dynamodb.ledger_table,
                    c.next_offset
                );
            }
        }
    }
    // The mock cluster is not Send: it lives on this (main) task until the end.
    let kafka = EmbeddedKafka::start(&cfg.kafka)?;
    cfg.kafka.bootstrap_servers = kafka.bootstrap_servers();
    tracing::info!(bootstrap = %cfg.kafka.bootstrap_servers, "embedded Kafka started");
    // For `votechain replay` / `recount` run beside this process.
    let _ = std::fs::create_dir_all(".local").and_then(|_| std::fs::write(DEV_BOOTSTRAP_FILE, &cfg.kafka.bootstrap_servers));
    let code = serve(cfg).await;
    drop(kafka);
    code
}

/// Creates tables when talking to DynamoDB Local, starts the node, waits for Ctrl-C / SIGTERM.
async fn serve(cfg: Config) -> Result<ExitCode> {
    if cfg.dynamodb.endpoint.is_some() {
        let db = dynamo::client(&cfg.dynamodb).await;
        tables::ensure_all(&db, &cfg.dynamodb).await?;
    }
    let elections: Vec<String> = cfg.elections.iter().map(|e| e.id.clone()).collect();
    let node = Node::start(cfg).await?;
    println!("votechain listening on http://{} (elections: {})", node.http_addr, elections.join(", "));
    if let Some(e) = elections.first() {
        println!(
            "try: curl -s -XPOST http://{}/v1/elections/{e}/votes -H 'Authorization: Bearer dev-key' -d '{{\"vote_id\":\"'$(cat /proc/sys/kernel/random/uuid)'\",\"candidate_id\":\"alice\",\"region_id\":\"north\"}}'",
            node.http_addr
        );
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut watch = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = watch.tick() => if !node.is_alive() {
                tracing::error!("root supervisor stopped (a child exceeded its restart intensity); exiting");
                return Ok(ExitCode::from(3));
            }
        }
    }
    tracing::info!("shutting down: intake first, then writers drain");
    node.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
