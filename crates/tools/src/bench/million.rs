//! `votechain bench --million`: a million votes through `votechain dev`, outside CI
//! (issue #16, part 2). Writes `docs/benchmarks-million.md`.
//!
//! 1. Starts `votechain dev` (a child process: every role, Apache Kafka, DynamoDB Local as
//!    its child) and samples the RSS of both every second.
//! 2. Sends the votes with `loadgen` (in this process: polling-station clients with a
//!    durable outbox, at a steady rate) and takes its per-minute table: throughput, p99
//!    latency to 202, p99 submit-to-visible delay, by the minute a vote was first sent.
//! 3. Times `verify`, `recount`, `replay` and `audit --with-ledger` on the result (child
//!    processes; their peak RSS sampled too), each against the raw read of the same
//!    items in the same run: a consistent Query of every vote item of the election
//!    (DynamoDB), and a plain consume of the votes topic (Kafka).
//!
//! Degradation is judged on the full minutes: the last within 10 % of the first.

use super::*;
use crate::loadgen::{LoadOptions, LoadReport};

const ELECTION: &str = "demo-2026";
const DEV_URL: &str = "http://127.0.0.1:8080";
const DEV_DYNAMODB: &str = "http://127.0.0.1:8000";

/// What to run.
#[derive(Debug, Clone)]
pub struct MillionOptions {
    pub votes: u64,
    pub rate: u32,
    pub clients: u32,
    pub receipt_sample: usize,
    /// The `votechain` binary (release).
    pub bin: PathBuf,
}

/// One tool run on the result.
#[derive(Debug, Clone, Serialize)]
pub struct ToolRun {
    pub command: String,
    pub seconds: f64,
    pub ok: bool,
    pub peak_rss_mb: f64,
    /// Items (or records) it had to read, per second, and the raw rate it is compared with.
    pub per_s: f64,
    pub raw_per_s: f64,
    pub baseline: String,
    /// A failed run's last line of output (its reason).
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MillionReport {
    pub machine: String,
    pub options: String,
    pub load: LoadReport,
    /// Max RSS sampled per minute of the run: (minute, dev MB, DynamoDB Local MB, Kafka MB).
    pub rss_by_minute: Vec<(u64, f64, f64, f64)>,
    pub dev_peak_rss_mb: f64,
    pub dynamodb_local_peak_rss_mb: f64,
    pub kafka_peak_rss_mb: f64,
    /// The Kafka broker's version and the JVM's (`java -version`).
    pub kafka_version: String,
    pub jvm_version: String,
    pub chained: u64,
    /// Why the raw reads failed, if they did (the tools still ran).
    pub raw_error: Option<String>,
    pub tools: Vec<ToolRun>,
}

/// RSS sampled in one minute, MB: (votechain dev, DynamoDB Local, the Kafka broker).
type Rss = (f64, f64, f64);

/// VmHWM and VmRSS of `pid`, MB.
fn rss(pid: u32) -> Option<(f64, f64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let l = s.lines().find(|l| l.starts_with(name))?;
        Some(l.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// The child process of `pid` whose command line contains `needle` (DynamoDB Local, or
/// the Kafka broker, under `votechain dev`).
fn child_of(pid: u32, needle: &str) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        // Fields after the command (in parentheses): state, ppid.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        if ppid == Some(pid) && String::from_utf8_lossy(&cmdline).contains(needle) {
            return Some(p);
        }
    }
    None
}

/// Runs `bin args` to the end (its output to `log`): wall seconds, success, peak RSS
/// (VmHWM sampled every 50 ms).
async fn timed(
    bin: &std::path::Path,
    args: &[&str],
    log: &std::path::Path,
) -> Result<(f64, bool, f64), BenchError> {
    let t0 = Instant::now();
    let out = std::fs::File::create(log)?;
    let mut child = tokio::process::Command::new(bin)
        .args(args)
        .env("VOTECHAIN_LOG", "warn")
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("no pid")?;
    let mut peak = 0.0f64;
    let status = loop {
        if let Some((hwm, _)) = rss(pid) {
            peak = peak.max(hwm);
        }
        tokio::select! {
            s = child.wait() => break s?,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    };
    Ok((t0.elapsed().as_secs_f64(), status.success(), peak))
}

/// Starts `votechain dev` (its log discarded; DynamoDB Local's heap `heap`, else its
/// default; its data in the empty directory `db_path`, else in memory) and waits up to
/// 60 s for `/readyz`. Ports 8080 and 8000 must be free: another
/// process there would answer in its place.
pub(super) async fn spawn_dev(
    bin: &std::path::Path,
    heap: Option<&str>,
    db_path: Option<&std::path::Path>,
) -> Result<tokio::process::Child, BenchError> {
    for port in [8080, 8000] {
        drop(
            std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
                format!("port {port} is busy ({e}): stop the other `votechain dev`")
            })?,
        );
    }
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("dev")
        .env("VOTECHAIN_LOG", "error")
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(h) = heap {
        cmd.env("VOTECHAIN_DYNAMODB_LOCAL_HEAP", h);
    }
    if let Some(p) = db_path {
        cmd.env("VOTECHAIN_DYNAMODB_LOCAL_DB_PATH", p);
    }
    let dev = cmd.spawn()?;
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if dev_ready(&http).await {
            return Ok(dev);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("votechain dev did not become ready within 60 s".into())
}

async fn dev_ready(http: &reqwest::Client) -> bool {
    http.get(format!("{DEV_URL}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// The raw reads: items/s of a consistent Query of every vote item of the election, and
/// records/s of a plain consume of the votes topic; and the votes chained.
async fn raw_reads(bin: &std::path::Path) -> Result<(f64, f64, u64), BenchError> {
    let root = bin
        .ancestors()
        .find(|d| d.join("config/dev.toml").is_file())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut cfg = Config::from_toml(&std::fs::read_to_string(root.join("config/dev.toml"))?)?;
    cfg.kafka.local = false;
    cfg.kafka.bootstrap_servers = std::fs::read_to_string(root.join(".local/dev-kafka-bootstrap"))?
        .trim()
        .to_string();
    let db = dynamo::client(&cfg.dynamodb).await;
    let ledger = Ledger::new(db, cfg.dynamodb.ledger_table.clone());
    let mut resolved = cfg.clone();
    votechain::manifests::resolve(&ledger, &mut resolved)
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let e = resolved
        .registry()
        .get(ELECTION)
        .cloned()
        .ok_or("no demo election")?;
    let t0 = Instant::now();
    let mut items = 0u64;
    for c in 0..e.chains {
        let mut start = None;
        loop {
            // A page that times out is asked again (twice): DynamoDB Local slows down as it
            // fills.
            let mut tries = 0;
            let (page, next) = loop {
                match ledger
                    .chain_page(ELECTION, c, e.chains, start.clone(), true)
                    .await
                {
                    Ok(p) => break p,
                    Err(err) if tries < 2 => {
                        tries += 1;
                        tracing::warn!(error = %err, "raw Query page failed; asking again");
                    }
                    Err(err) => return Err(err.into()),
                }
            };
            items += page.len() as u64;
            match next {
                Some(k) => start = Some(k),
                None => break,
            }
        }
    }
    let query = items as f64 / t0.elapsed().as_secs_f64();
    let meta = Arc::new(kafka::base_config(&cfg.kafka).create::<StreamConsumer>()?);
    let hw = votechain::replay::high_watermarks(&meta, &cfg.kafka.votes_topic).await?;
    let consumer = votechain::replay::consumer(&kafka::base_config(&cfg.kafka))?;
    votechain::replay::assign(
        &consumer,
        &cfg.kafka.votes_topic,
        hw.keys().copied(),
        &Default::default(),
    )?;
    let t0 = Instant::now();
    let (mut n, mut last) = (0u64, t0);
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await {
        n += 1;
        last = Instant::now();
    }
    let consume = n as f64 / last.duration_since(t0).as_secs_f64().max(1e-3);
    Ok((query, consume, items))
}

/// `java -version`'s first line.
fn jvm_version() -> String {
    std::process::Command::new("java")
        .arg("-version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stderr).into_owned();
            text.lines().next().map(str::to_string)
        })
        .unwrap_or_else(|| "unknown JVM".into())
}

/// Records/s of Kafka's own `org.apache.kafka.tools.ConsumerPerformance` reading the votes
/// topic (`records` of them, read_committed as replay reads) from the dev broker.
async fn kafka_consumer_performance(
    bin: &std::path::Path,
    records: u64,
) -> Result<f64, BenchError> {
    let root = bin
        .ancestors()
        .find(|d| d.join("config/dev.toml").is_file())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let bootstrap = std::fs::read_to_string(root.join(".local/dev-kafka-bootstrap"))?;
    super::kafka_tools::consumer_performance(bootstrap.trim(), "votes", records).await
}

/// The run (module doc).
pub async fn run_million(
    o: MillionOptions,
    progress: impl Fn(&str),
) -> Result<MillionReport, BenchError> {
    progress("starting votechain dev");
    // A million votes and their stream records outgrow the default 2 GB heap.
    // On disk: the in-memory DynamoDB Local stopped answering once a million votes were
    // in (docs/benchmarks-million.md), and the tools must read them back.
    let db = std::path::Path::new(".local/million/dynamodb");
    if db.exists() {
        std::fs::remove_dir_all(db)?;
    }
    let mut dev = spawn_dev(&o.bin, Some("8g"), Some(db)).await?;
    let pid = dev.id().ok_or("no pid")?;
    let http = reqwest::Client::new();
    let java = child_of(pid, "DynamoDBLocal").ok_or("no DynamoDB Local under votechain dev")?;
    let broker = child_of(pid, "kafka.Kafka").ok_or("no Kafka broker under votechain dev")?;
    // RSS sampler: max per minute of the run.
    let samples: Arc<std::sync::Mutex<BTreeMap<u64, Rss>>> = Default::default();
    let t0 = Instant::now();
    let sampler = {
        let samples = samples.clone();
        tokio::spawn(async move {
            loop {
                let m = t0.elapsed().as_secs() / 60;
                let d = rss(pid).map_or(0.0, |r| r.1);
                let j = rss(java).map_or(0.0, |r| r.1);
                let k = rss(broker).map_or(0.0, |r| r.1);
                {
                    let mut s = samples.lock().unwrap_or_else(|e| e.into_inner());
                    let e = s.entry(m).or_default();
                    *e = (e.0.max(d), e.1.max(j), e.2.max(k));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    progress(&format!(
        "{} votes at {} votes/s (loadgen)",
        o.votes, o.rate
    ));
    let dir = tempfile::tempdir()?;
    let load = crate::loadgen::run(LoadOptions {
        url: DEV_URL.into(),
        key: "dev-key".into(),
        elections: vec![ELECTION.into()],
        rate: o.rate,
        duration: None,
        votes: Some(o.votes),
        clients: o.clients,
        resubmit_share: 0.0,
        timeout: Duration::from_secs(10),
        drop_answer_share: 0.0,
        outbox: dir.path().join("outbox.jsonl"),
        ca_file: None,
        keep_history: false,
        resume_only: false,
        progress: true,
        receipt_sample: Some(o.receipt_sample),
    })
    .await?;
    sampler.abort();
    // Kept at once: a later step failing must not lose the run.
    std::fs::create_dir_all(".local/million")?;
    std::fs::write(
        ".local/million/loadgen.json",
        serde_json::to_vec_pretty(&load).unwrap_or_default(),
    )?;
    progress(&format!("loadgen done: {load}"));
    let (dev_peak, java_peak, kafka_peak) = (
        rss(pid).map_or(0.0, |r| r.0),
        rss(java).map_or(0.0, |r| r.0),
        rss(broker).map_or(0.0, |r| r.0),
    );
    progress("raw reads of the result");
    let (raw_query, raw_consume, chained, raw_error) = match raw_reads(&o.bin).await {
        Ok((q, c, n)) => (q, c, n, None),
        Err(e) => {
            progress(&format!("raw reads failed: {e}"));
            (f64::NAN, f64::NAN, 0, Some(e.to_string()))
        }
    };
    let manifest = dir.path().join("manifest.json");
    std::fs::write(
        &manifest,
        http.get(format!("{DEV_URL}/v1/elections/{ELECTION}/manifest"))
            .send()
            .await?
            .bytes()
            .await?,
    )?;
    let audit_state = dir.path().join("audit");
    let (m, a) = (manifest.to_string_lossy(), audit_state.to_string_lossy());
    progress("Kafka's own ConsumerPerformance on the votes topic");
    let tool_consume = match kafka_consumer_performance(&o.bin, chained).await {
        Ok(r) => r,
        Err(e) => {
            progress(&format!("ConsumerPerformance failed: {e}"));
            f64::NAN
        }
    };
    let runs: [(&str, Vec<&str>, f64, &str); 5] = [
        (
            "verify",
            vec!["verify", "--election", ELECTION, "--endpoint", DEV_DYNAMODB],
            raw_query,
            "consistent Query of the same vote items",
        ),
        (
            "recount",
            vec!["recount", "--election", ELECTION, "--json"],
            raw_query,
            "consistent Query of the same vote items",
        ),
        (
            "replay",
            vec!["replay", "--election", ELECTION],
            raw_consume,
            "plain consume of the votes topic (librdkafka, read_committed)",
        ),
        (
            "replay",
            vec!["replay", "--election", ELECTION],
            tool_consume,
            "Kafka's ConsumerPerformance on the votes topic (read_committed)",
        ),
        (
            "audit --with-ledger",
            vec![
                "audit",
                "--election",
                ELECTION,
                "--manifest",
                &m,
                "--with-ledger",
                "--endpoint",
                DEV_DYNAMODB,
                "--state-dir",
                &a,
            ],
            raw_query,
            "consistent Query of the same vote items",
        ),
    ];
    let mut tools = vec![];
    for (name, args, raw, baseline) in runs {
        progress(name);
        let log = PathBuf::from(".local/million").join(format!("{}.log", args[0]));
        std::fs::create_dir_all(".local/million")?;
        let (seconds, ok, peak) = timed(&o.bin, &args, &log).await?;
        let mut note = String::new();
        if !ok {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            note = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .into();
            progress(&format!("{name} failed ({}): {note}", log.display()));
        }
        tools.push(ToolRun {
            command: format!("votechain {}", args.join(" ")),
            seconds,
            ok,
            peak_rss_mb: peak,
            per_s: chained as f64 / seconds,
            raw_per_s: raw,
            baseline: baseline.into(),
            note,
        });
    }
    let _ = dev.start_kill();
    let _ = dev.wait().await;
    let rss_by_minute = samples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(m, (d, j, k))| (*m, *d, *j, *k))
        .collect();
    Ok(MillionReport {
        machine: machine(),
        options: format!(
            "{} votes at {} votes/s, {} clients",
            o.votes, o.rate, o.clients
        ),
        load,
        rss_by_minute,
        dev_peak_rss_mb: dev_peak,
        dynamodb_local_peak_rss_mb: java_peak,
        kafka_peak_rss_mb: kafka_peak,
        kafka_version: votechain::dev::kafka_version().unwrap_or_else(|| "unknown".into()),
        jvm_version: jvm_version(),
        chained,
        raw_error,
        tools,
    })
}

impl MillionReport {
    /// The full minutes' first and last throughput, and whether the last is within 10 %.
    pub fn degradation(&self) -> Option<(f64, f64, bool)> {
        let m = &self.load.per_minute;
        if m.len() < 3 {
            return None;
        }
        // The last entry is partial: the full minutes are all but it.
        let (first, last) = (m[0].acked_per_s, m[m.len() - 2].acked_per_s);
        Some((first, last, last >= 0.9 * first))
    }

    pub fn markdown(&self, command: &str) -> String {
        use std::fmt::Write as _;
        let l = &self.load;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# A million votes\n\nProduced by `{command}`, not typed by hand (issue #16, part 2; outside CI). `votechain dev` runs every role in one process, with Apache Kafka (one KRaft node) and DynamoDB Local as its child processes (its data on disk, `.local/million/dynamodb`); `loadgen` sends the votes from the bench process (polling-station clients with a durable outbox, every vote fsync'd before it is sent); the tools then run on the result as separate processes.\n\n- machine: {}\n- Apache Kafka {} on {}\n- run: {}\n- acknowledged {} of {} sent, {} refused; votes chained (every vote item read back): {}; receipts checked: {} of a random sample, {} found\n- throughput {:.0} votes/s over {:.0} s; latency to 202 {}; submit to visible in results {}",
            self.machine,
            self.kafka_version,
            self.jvm_version,
            self.options,
            l.acknowledged,
            l.sent,
            l.refused,
            self.chained,
            l.receipts_checked,
            l.chained,
            l.acked_per_s,
            l.seconds,
            fmt_map(&l.latency_ms),
            fmt_map(&l.e2e_delay_ms_estimate)
        );
        let _ = writeln!(
            s,
            "- peak RSS: `votechain dev` {:.0} MB, DynamoDB Local (JVM) {:.0} MB, the Kafka broker (JVM) {:.0} MB, the bench process with loadgen {:.0} MB\n",
            self.dev_peak_rss_mb,
            self.dynamodb_local_peak_rss_mb,
            self.kafka_peak_rss_mb,
            l.peak_rss_mb
        );
        if let Some(e) = &self.raw_error {
            let _ = writeln!(s, "**The raw reads failed:** {e}\n");
        }
        if let Some((first, last, ok)) = self.degradation() {
            let _ = writeln!(
                s,
                "**Over time:** first full minute {first:.0} votes/s, last full minute {last:.0} votes/s: {}.\n",
                if ok {
                    "within 10 %"
                } else {
                    "**more than 10 % slower: a defect**"
                }
            );
        }
        s.push_str("## Per minute\n\nBy the minute a vote was first sent; RSS is the most sampled (every second) in that minute.\n\n| minute | acknowledged | votes/s | p99 to 202 (ms) | p99 submit to visible (ms) | dev RSS (MB) | DynamoDB Local RSS (MB) | Kafka RSS (MB) |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for m in &l.per_minute {
            let (d, j, k) = self
                .rss_by_minute
                .iter()
                .find(|r| r.0 == m.minute)
                .map_or((f64::NAN, f64::NAN, f64::NAN), |r| (r.1, r.2, r.3));
            let _ = writeln!(
                s,
                "| {} | {} | {:.0} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} |",
                m.minute, m.acknowledged, m.acked_per_s, m.latency_p99_ms, m.e2e_p99_ms, d, j, k
            );
        }
        s.push_str("\n## The tools on the result\n\nEach a separate process on the whole election; votes/s is the votes chained over its wall time, against the raw read of the same items in the same run.\n\n| command | seconds | exit | peak RSS (MB) | votes/s | raw | baseline | ratio |\n| --- | ---: | --- | ---: | ---: | ---: | --- | ---: |\n");
        let mut notes = String::new();
        for t in &self.tools {
            if !t.ok {
                let _ = writeln!(
                    s,
                    "| `{}` | {:.1} | **failed** | {:.0} | - | {:.0} | {} | - |",
                    t.command, t.seconds, t.peak_rss_mb, t.raw_per_s, t.baseline
                );
                let _ = writeln!(notes, "- `{}` failed: {}", t.command, t.note);
                continue;
            }
            let _ = writeln!(
                s,
                "| `{}` | {:.1} | 0 | {:.0} | {:.0} | {:.0} | {} | {:.2} |",
                t.command,
                t.seconds,
                t.peak_rss_mb,
                t.per_s,
                t.raw_per_s,
                t.baseline,
                t.per_s / t.raw_per_s.max(1e-9)
            );
        }
        if !notes.is_empty() {
            let _ = write!(s, "\n{notes}");
        }
        s
    }
}

fn fmt_map(m: &BTreeMap<String, f64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v:.1} ms"))
        .collect::<Vec<_>>()
        .join(", ")
}
