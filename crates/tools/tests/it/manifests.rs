//! Issue 12, "manifests" and "bad input": `votechain election create --file F` stores a
//! manifest once (JSON or TOML), refuses a second one for the same id and leaves the
//! stored one as it was, refuses a malformed one naming every problem and storing
//! nothing; `election show` and `list` read them back; the query role serves
//! `GET /v1/elections/{id}/manifest` with its text as created and its digest in
//! `Votechain-Manifest-Digest`, which is the core's digest of that manifest.

use crate::common::*;
use votechain_core::manifest::Manifest;

const GOOD: &str = r#"{
  "election_id": "mayor-2027",
  "candidates": ["alice", "bob", "carol"],
  "regions": ["north", "south", "east", "west"],
  "chains": 2,
  "opens_at_ms": 1795000000000,
  "closes_at_ms": 1795086400000,
  "log_origin": "votes.example.org/mayor-2027",
  "log_public_key": "ag450fBniVDUAAb+xu11jrqSWmINxtQBbcZ3BlbXpnw="
}"#;

/// `votechain election ARGS` against this test's tables: (success, stdout, stderr).
fn election(env: &TestEnv, dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let cfg = dir.join("node.toml");
    std::fs::write(&cfg, format!("roles = [\"query\"]\n{}", env.toml)).unwrap();
    let out = std::process::Command::new(node_bin())
        .arg("election")
        .args(&args[..1])
        .args(["--config"])
        .arg(&cfg)
        .args(&args[1..])
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_are_created_once_read_back_and_served() {
    let env = TestEnv::new("manifest", 1, DEMO).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mayor.json");
    std::fs::write(&file, GOOD).unwrap();
    let f = file.to_str().unwrap();
    let want = hex_digest(&Manifest::parse_json(GOOD).unwrap());

    let (ok, out, err) = election(&env, dir.path(), &["create", "--file", f]);
    assert!(ok && out.contains(&want), "{out}{err}");
    // A second create with another definition under the same id: refused, unchanged.
    let changed = dir.path().join("changed.json");
    std::fs::write(&changed, GOOD.replace("\"chains\": 2", "\"chains\": 3")).unwrap();
    let (ok, _, err) = election(
        &env,
        dir.path(),
        &["create", "--file", changed.to_str().unwrap()],
    );
    assert!(
        !ok && err.contains("already has a manifest") && err.contains(&want),
        "{err}"
    );
    // Malformed: every problem named, nothing stored.
    let bad = dir.path().join("bad.toml");
    let bad_toml = "election_id = \"bad-1\"\ncandidates = [\"a\", \"a\"]\nregions = [\"r\"]\nchains = 0\n\
        opens_at_ms = 5\ncloses_at_ms = 5\nlog_origin = \"o\"\nlog_public_key = \"short\"\n";
    std::fs::write(&bad, bad_toml).unwrap();
    let (ok, _, err) = election(
        &env,
        dir.path(),
        &["create", "--file", bad.to_str().unwrap()],
    );
    assert!(!ok, "{err}");
    for problem in ["candidate 'a'", "chains", "opens_at_ms", "log_public_key"] {
        assert!(err.contains(problem), "names {problem}: {err}");
    }
    // Read back: show, list.
    let (ok, out, err) = election(&env, dir.path(), &["show", "--election", "mayor-2027"]);
    assert!(ok && err.contains(&want), "{err}");
    assert_eq!(
        Manifest::parse_json(&out).unwrap(),
        Manifest::parse_json(GOOD).unwrap()
    );
    let (ok, out, _) = election(&env, dir.path(), &["list"]);
    assert!(ok);
    // The env's own election, then mayor-2027; bad-1 was never stored.
    let ids: Vec<&str> = out.lines().collect();
    assert_eq!(ids.len(), 2, "{out}");
    assert!(ids[0].starts_with("demo-2026 ") && ids[1] == format!("mayor-2027 {want}"));

    // Served by the query role.
    let node = env.node(&["query"], "manifest-0").await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/elections/mayor-2027/manifest", node.http_addr);
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let header = res.headers()["votechain-manifest-digest"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(header, want);
    let served = Manifest::parse_json(&res.text().await.unwrap()).unwrap();
    assert_eq!(
        hex_digest(&served),
        want,
        "the served text is the manifest of that digest"
    );
    let missing = http
        .get(url.replace("mayor-2027", "nobody-2027"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    node.shutdown().await;
}

fn hex_digest(m: &Manifest) -> String {
    m.digest().iter().map(|b| format!("{b:02x}")).collect()
}
