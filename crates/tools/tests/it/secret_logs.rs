//! Issue 12, "audit without the choice": no log line of votechain, at any level, names a
//! voter's choice. A `votechain run` child process logs at `trace` while it takes valid
//! votes, a conflicting ballot, ballots ingest refuses (an unknown candidate, an unknown
//! region), and records the writer dead-letters (produced straight to `votes` with a
//! candidate and a region the election does not have). Its whole log is then searched for
//! every candidate and region name used; the names are unusual so nothing else matches.

use crate::common::*;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use votechain_core::model::VoteEvent;

const ELECTION: &str = r#"
[[elections]]
id = "secret-2026"
candidates = ["cand-alpha-7q", "cand-beta-7q"]
regions = ["reg-north-7q", "reg-south-7q"]
"#;
const NAMES: [&str; 8] = [
    "cand-alpha-7q",
    "cand-beta-7q",
    "reg-north-7q",
    "reg-south-7q",
    "cand-ghost-7q",
    "reg-ghost-7q",
    "cand-refused-7q",
    "reg-refused-7q",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_at_any_level_names_a_choice() {
    let env = TestEnv::new("secretlog", 1, ELECTION).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("node.toml");
    std::fs::write(
        &cfg,
        format!("roles = [\"ingest\", \"writer\", \"query\"]\n{}", env.toml),
    )
    .unwrap();
    let log = dir.path().join("node.log");
    let mut child = Command::new(node_bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .env("VOTECHAIN_LOG", "off,votechain=trace")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Its stdout is read to the end by a thread: a pipe closed early would make the
    // node's next print fail (EPIPE) and the node exit.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the node prints its address");
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect(&first)
        .to_string();
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/v1/elections/secret-2026/votes");
    let post = |vid: String, c: &'static str, r: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let body = serde_json::json!({"vote_id": vid, "candidate_id": c, "region_id": r});
            for _ in 0..200 {
                let sent = http.post(&url).bearer_auth(KEY).json(&body).send().await;
                match sent.map(|r| r.status()) {
                    Ok(s) if s != reqwest::StatusCode::SERVICE_UNAVAILABLE => return s.as_u16(),
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            panic!("no answer but 503 or a broken connection for {body}");
        }
    };
    for i in 0..20 {
        let (c, r) = (NAMES[(i % 2) as usize], NAMES[2 + (i / 2 % 2) as usize]);
        assert_eq!(post(vote_id(70, i), c, r).await, 202);
    }
    assert_eq!(
        post(vote_id(70, 0), "cand-beta-7q", "reg-south-7q").await,
        202,
        "a conflict"
    );
    assert_eq!(
        post(vote_id(70, 99), "cand-refused-7q", "reg-north-7q").await,
        422
    );
    assert_eq!(
        post(vote_id(70, 98), "cand-alpha-7q", "reg-refused-7q").await,
        422
    );
    // Straight to `votes`, past ingest: the writer dead-letters them.
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", env.kafka.bootstrap_servers())
        .create()
        .unwrap();
    for (i, (c, r)) in [
        ("cand-ghost-7q", "reg-north-7q"),
        ("cand-alpha-7q", "reg-ghost-7q"),
    ]
    .into_iter()
    .enumerate()
    {
        let ev = VoteEvent {
            v: votechain_core::model::VOTE_EVENT_SALTED,
            election_id: "secret-2026".into(),
            chain: 0,
            vote_id: vote_id(71, i as u32),
            candidate_id: c.into(),
            region_id: r.into(),
            cast_at_ms: votechain::now_ms(),
            salt: Some("5a".repeat(32)),
        };
        let bytes = ev.to_bytes();
        let rec = FutureRecord::to(&env.config.kafka.votes_topic)
            .key("secret-2026#0")
            .payload(&bytes);
        producer.send(rec, Duration::from_secs(10)).await.unwrap();
    }
    let dead_letters = || async {
        let text = http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        Some(votechain::metrics::sum_series(
            &text,
            "votechain_writer_dead_letters_total",
            "",
        ))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while dead_letters().await.unwrap_or(0.0) < 3.0 {
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "3 records not dead-lettered in 60 s ({:?}); the node's log:\n{log_text}",
                dead_letters().await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A graceful stop (SIGTERM), so that shutdown logging is in the log too.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() >= 5, "the node logged: {text}");
    assert!(
        text.contains("dead-lettering record"),
        "the dead letters were logged"
    );
    eprintln!("{text}");
    let leaks: Vec<&str> = text
        .lines()
        .filter(|l| NAMES.iter().any(|n| l.contains(n)))
        .take(5)
        .collect();
    assert!(leaks.is_empty(), "log lines naming a choice: {leaks:#?}");
}
