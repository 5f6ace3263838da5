//! `votechain-verify` as a voter or an auditor runs it, on the contract's v2 vectors: a
//! receipt (tlog-proof) with the right ballot, a wrong choice, a wrong salt, a missing
//! witness; a checkpoint; a consistency proof; a tally statement. Exit codes: 0 yes,
//! 1 no (with the failed step), 2 unreadable.

use std::path::PathBuf;
use std::process::Command;

const V: &str = include_str!("../../core/tests/data/v2-vectors.txt");

fn value(key: &str) -> &'static str {
    V.lines()
        .find_map(|l| l.strip_prefix(key).map(str::trim))
        .expect(key)
}

fn block(title: &str) -> String {
    let start = V.find(&format!("---8<--- {title}\n")).expect(title) + title.len() + 10;
    let end = start + V[start..].find("--->8---").expect("block end");
    V[start..end].to_string()
}

const MANIFEST: &str = r#"{"election_id":"demo-2026","candidates":["alice","bob","carol"],
"regions":["north","south","east","west"],"chains":2,"opens_at_ms":1795000000000,
"closes_at_ms":1795086400000,"log_origin":"votes.example.org/demo-2026",
"log_public_key":"ag450fBniVDUAAb+xu11jrqSWmINxtQBbcZ3BlbXpnw="}"#;
/// The same manifest with its witness policy (contract v2.1, the vectors' `[manifest, v2.1]`).
fn manifest_v2_1() -> String {
    let mut m: serde_json::Value = serde_json::from_str(MANIFEST).unwrap();
    m["witnesses"] = serde_json::json!([value("witness_vkey")]);
    m["witness_quorum"] = serde_json::json!(1);
    m.to_string()
}
const SALT: &str = "f94f0ad45023b3d51a4be3f093d1e4a168e72d8830bd57f99bc98e65925727ed";

struct Files(PathBuf);
impl Files {
    fn new(name: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("vv-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Files(dir)
    }
    fn put(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    }
}
impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_votechain-verify"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_voter_checks_the_receipt_offline_and_each_failure_names_its_step() {
    let f = Files::new("receipt");
    let (m, proof) = (
        f.put("m.json", MANIFEST),
        f.put("r.tlog-proof", &block("tlog-proof")),
    );
    let w = value("witness_vkey");
    let base = [
        "receipt",
        &proof,
        "--manifest",
        &m,
        "--witness",
        w,
        "--region",
        "north",
    ];
    let with = |cand: &str, salt: &str| {
        let mut a = base.to_vec();
        a.extend(["--candidate", cand, "--salt", salt]);
        run(&a)
    };
    let (code, out) = with("bob", SALT);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("chain 1 seq 4"), "{out}");
    let (code, out) = with("alice", SALT);
    assert!(code == 1 && out.contains("step 5"), "{out}");
    assert!(out.contains("refused as a conflict"), "says why: {out}");
    let (code, out) = with("bob", &SALT.replace('f', "0"));
    assert!(code == 1 && out.contains("step 5"), "{out}");
    // Two witnesses required, one known to have signed: the quorum step fails.
    use votechain_core::note;
    let w2 = note::signing_key(&[9; 32]).verifying_key().to_bytes();
    let other = note::verifier_key("w2.example", note::COSIGNATURE_V1, &w2);
    let mut a = base.to_vec();
    a.extend(["--witness", &other, "--candidate", "bob", "--salt", SALT]);
    let (code, out) = run(&a);
    assert!(code == 1 && out.contains("step 4"), "{out}");
    // A flipped byte in the proof.
    let tampered = block("tlog-proof").replacen("index 3", "index 2", 1);
    let bad = f.put("bad.tlog-proof", &tampered);
    let (code, out) = run(&[
        "receipt",
        &bad,
        "--manifest",
        &m,
        "--witness",
        w,
        "--candidate",
        "bob",
        "--region",
        "north",
        "--salt",
        SALT,
    ]);
    assert!(code == 1 && out.contains("step 2"), "{out}");
    let (code, _) = run(&[
        "receipt",
        "/nonexistent",
        "--candidate",
        "a",
        "--region",
        "b",
    ]);
    assert_eq!(code, 2);
}

#[test]
fn an_auditor_checks_checkpoints_consistency_and_the_tally() {
    let f = Files::new("audit");
    let m = f.put("m.json", MANIFEST);
    let w = value("witness_vkey");
    let cosigned = f.put("cp", &block("cosigned checkpoint"));
    let signed_only = f.put("cp0", &block("signed checkpoint"));
    let (code, out) = run(&[
        "checkpoint",
        &cosigned,
        "--chain",
        "1",
        "--manifest",
        &m,
        "--witness",
        w,
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&[
        "checkpoint",
        &signed_only,
        "--chain",
        "1",
        "--manifest",
        &m,
        "--witness",
        w,
    ]);
    assert!(code == 1 && out.contains("witness"), "{out}");
    let (code, out) = run(&["checkpoint", &cosigned, "--chain", "0", "--manifest", &m]);
    assert!(code == 1 && out.contains("origin"), "{out}");
    // The same checkpoint is consistent with itself through an empty proof.
    let empty = f.put("p", "");
    let (code, out) = run(&[
        "consistency",
        &cosigned,
        &cosigned,
        &empty,
        "--chain",
        "1",
        "--manifest",
        &m,
    ]);
    assert_eq!(code, 0, "{out}");
    let junk = f.put("j", "not base64\n");
    let (code, _) = run(&[
        "consistency",
        &cosigned,
        &cosigned,
        &junk,
        "--chain",
        "1",
        "--manifest",
        &m,
    ]);
    assert_eq!(code, 2);
    let tally = f.put("t", &block("tally statement"));
    let (code, out) = run(&["tally", &tally, "--manifest", &m]);
    assert!(code == 0 && out.contains("7 vote(s)"), "{out}");
    let forged = f.put(
        "t2",
        &block("tally statement").replace("total 7", "total 8"),
    );
    let (code, out) = run(&["tally", &forged, "--manifest", &m]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn a_json_receipt_of_another_ballot_says_the_first_ballot_is_the_one_counted() {
    use votechain_core::chain::{self, VoteFields};
    let f = Files::new("json-receipt");
    let prev = [7u8; 32];
    let fields = VoteFields {
        election_id: "demo-2026",
        chain: 0,
        seq: 3,
        vote_id: "6f1c2a4e-0000-4000-8000-000000000001",
        candidate_id: "alice",
        region_id: "north",
        cast_at_ms: 1_795_000_000_123,
    };
    let salt = chain::salt_from_hex(SALT).unwrap();
    // As the query role serves it.
    let receipt = serde_json::json!({
        "vote_id": fields.vote_id,
        "election_id": fields.election_id,
        "chain": 0,
        "seq": 3,
        "prev_hash": chain::to_hex(&prev),
        "hash": chain::to_hex(&chain::hash_of(&fields, Some(&salt), &prev)),
        "cast_at_ms": fields.cast_at_ms,
        "hash_v": 2,
    });
    let r = f.put("r.json", &receipt.to_string());
    let args = |cand: &'static str, salt: &'static str| {
        [
            "receipt",
            r.as_str(),
            "--candidate",
            cand,
            "--region",
            "north",
            "--salt",
            salt,
        ]
        .map(String::from)
    };
    let run_s = |a: [String; 8]| run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, out) = run_s(args("alice", SALT));
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("conflict"), "{out}");
    // The README's curl resent without the salt: the same choice under another salt.
    let other_salt = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    for (cand, salt) in [("bob", SALT), ("alice", other_salt)] {
        let (code, out) = run_s(args(cand, salt));
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("does NOT hold"), "{out}");
        assert!(
            out.contains("different ballot under the vote_id 6f1c2a4e-0000-4000-8000-000000000001")
                && out.contains("refused as a conflict")
                && out.contains("FIRST 202"),
            "says why: {out}"
        );
    }
}

#[test]
fn the_witness_policy_comes_from_the_manifest_and_the_output_says_whose() {
    let f = Files::new("policy");
    let (v1, v21) = (
        f.put("m1.json", MANIFEST),
        f.put("m21.json", &manifest_v2_1()),
    );
    let cosigned = f.put("cp", &block("cosigned checkpoint"));
    let signed_only = f.put("cp0", &block("signed checkpoint"));
    let check = |cp: &str, m: &str, extra: &[&str]| {
        let mut a = vec!["checkpoint", cp, "--chain", "1", "--manifest", m];
        a.extend(extra);
        run(&a)
    };
    // The manifest names witness.example.org/w1, quorum 1: met, and said so.
    let (code, out) = check(&cosigned, &v21, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "witness quorum met: witness policy: 1 of 1 (witness.example.org/w1) (the manifest's)"
        ),
        "{out}"
    );
    let (code, out) = check(&signed_only, &v21, &[]);
    assert!(code == 1 && out.contains("cosignature"), "{out}");
    // A manifest's policy cannot be changed on the command line, neither loosened nor
    // tightened: the election's record binds it.
    let w2 = votechain_core::note::signing_key(&[9; 32])
        .verifying_key()
        .to_bytes();
    let other =
        votechain_core::note::verifier_key("w2.example", votechain_core::note::COSIGNATURE_V1, &w2);
    let (code, out) = check(&cosigned, &v21, &["--witness", &other]);
    assert!(
        code == 2 && out.contains("names its witness policy"),
        "{out}"
    );
    let (code, out) = check(&signed_only, &v21, &["--quorum", "0"]);
    assert_eq!(code, 2, "{out}");
    // Without a policy in the manifest: no cosignature required, and the output says so.
    let (code, out) = check(&signed_only, &v1, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not witnessed: no witness policy"), "{out}");
    // A policy given for such a manifest must be whole: one witness twice is refused.
    let w = value("witness_vkey");
    let (code, out) = check(&cosigned, &v1, &["--witness", w, "--witness", w]);
    assert!(code == 2 && out.contains("listed twice"), "{out}");
    let (code, out) = check(&cosigned, &v1, &["--witness", w, "--quorum", "0"]);
    assert!(code == 2 && out.contains("quorum"), "{out}");
}
