//! The durable client outbox: an append-only file of checksummed JSON lines, fsync'd, so a
//! polling station that crashes or loses its network for hours resends everything
//! unacknowledged on restart, in the order it was cast, and loses nothing.
//!
//! Records. `add` (the vote, with its choice and salt) is fsync'd BEFORE the vote is first
//! sent. `ack` is appended, fsync'd too, after the 202: a restart never resends an
//! acknowledged vote (the server would deduplicate it, but the client does not rely on
//! that). An `ack` keeps what the voter's receipt needs (election, vote_id, salt, cast
//! time: never the choice) until `handed_over` records that the voter has it.
//!
//! Choices at rest. The device keeps a choice only while its vote is unacknowledged:
//! every `compact_after` acknowledgements (and on open) the file is rewritten with only
//! the pending votes and the receipts not yet handed over, written to a temporary file,
//! fsync'd, renamed over the outbox, and the directory fsync'd: a crash at any point
//! leaves either the old file or the new one. A stolen device holds the unsent ballots,
//! not the station's history.
//!
//! Crash safety. Each record is one line, `<sha256 of the JSON, first 8 bytes, hex> <JSON>`
//! (lines of bare JSON, the earlier format, are still read). A torn last line (power loss
//! mid-write: no final newline) was never fsync'd, so its vote was never sent: on open the
//! file is **truncated** to the last complete record, so the next record does not land on
//! the fragment (which would make that later, sent vote unreadable after the next
//! restart). A complete line whose checksum or JSON does not hold is corruption, not a tear:
//! opening fails and names the line; nothing is silently dropped. The file's directory is
//! fsync'd when the file is created, so the file itself survives a crash.
//!
//! Bounds. At most `capacity` votes pending: `add` beyond it is refused with
//! [`OutboxError::Full`] (the station must not accept a ballot it cannot keep).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
/// One vote as the client holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutVote {
    pub election_id: String,
    pub vote_id: String,
    pub candidate_id: String,
    pub region_id: String,
    /// v2 elections: the vote's salt (64 hex), chosen once and sent on every resend, so a
    /// retry is the same ballot (never a conflict). `None` for a v1 election.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
}

/// A fresh salt from the OS CSPRNG: 64 lowercase hex characters.
pub fn new_salt() -> String {
    use rand::TryRngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut b)
        .expect("the OS random source is available");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What the voter's receipt needs once the vote is acknowledged: never the choice (the voter
/// brings that to the check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub election_id: String,
    pub vote_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// The 202's `cast_at_ms`, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cast_at_ms: Option<u64>,
    /// The C2SP tlog-proof from `.../votes/{id}/proof`, once the log covers the vote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
    /// The log holds another ballot under this vote_id (its cast time is not this
    /// station's 202's): this ballot was refused as a conflict and is never counted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub conflict: bool,
}

impl Kept {
    /// Whether `proof` shows another ballot than this station's under the vote_id: the
    /// chained vote's `cast_at_ms` (the receipt's extra line) is not the 202's.
    fn conflicts_with(&self, proof: &str) -> bool {
        use votechain_core::receipt::{ReceiptExtra, TlogProof};
        let chained = TlogProof::parse(proof)
            .ok()
            .and_then(|p| p.extra)
            .and_then(|e| String::from_utf8(e).ok())
            .and_then(|e| ReceiptExtra::parse(&e).ok())
            .map(|e| e.cast_at_ms);
        matches!((self.cast_at_ms, chained), (Some(ours), Some(theirs)) if ours as i64 != theirs)
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Line {
    Add {
        #[serde(flatten)]
        vote: OutVote,
        /// When the station accepted it (ms since the epoch; 0 in the earlier format).
        #[serde(default)]
        at_ms: u64,
    },
    Ack {
        vote_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keep: Option<Kept>,
    },
    /// The voter has the receipt: forget the vote.
    Handed { vote_id: String },
    /// Written first by a compaction: how many votes were acknowledged before it.
    Meta { acked: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "outbox {path}: record on line {line} is corrupt ({why}); repair or restore the file, nothing was dropped"
    )]
    Corrupt {
        path: String,
        line: usize,
        why: &'static str,
    },
    #[error(
        "outbox full: {capacity} votes are waiting to be sent; accept no more ballots until the link is back"
    )]
    Full { capacity: usize },
    #[error("outbox: vote {0} is already in it")]
    Duplicate(String),
}

/// `<checksum> <json>`: the first 8 bytes of SHA-256 of the JSON, in hex.
fn checksum(json: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(json)[..8])
}

/// One record as its line, newline included.
fn encode(l: &Line) -> Vec<u8> {
    let json = serde_json::to_vec(l).expect("serializes");
    let mut buf = format!("{} ", checksum(&json)).into_bytes();
    buf.extend_from_slice(&json);
    buf.push(b'\n');
    buf
}

/// One complete line (without its newline) as a record, checking its checksum.
fn parse_record(line: &[u8]) -> Result<Line, &'static str> {
    let (json, sum) = match line.iter().position(|&b| b == b' ') {
        Some(16) if line[0] != b'{' => (&line[17..], Some(&line[..16])),
        _ => (line, None), // the earlier format: bare JSON
    };
    if let Some(sum) = sum
        && sum != checksum(json).as_bytes()
    {
        return Err("checksum mismatch");
    }
    serde_json::from_slice(json).map_err(|_| "not a record")
}

/// Reads every complete record; returns them and the length of the complete part (a torn
/// tail after it is to be cut). A complete line that is not a valid record is an error.
fn read_records(path: &Path, data: &[u8]) -> Result<(Vec<Line>, u64), OutboxError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    for (n, chunk) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        let Some(line) = chunk.strip_suffix(b"\n") else {
            break; // the torn tail
        };
        if line.is_empty() {
            at += chunk.len();
            continue;
        }
        let rec = parse_record(line).map_err(|why| OutboxError::Corrupt {
            path: path.display().to_string(),
            line: n + 1,
            why,
        })?;
        out.push(rec);
        at += chunk.len();
    }
    Ok((out, at as u64))
}

/// Limits of an outbox.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Votes pending at most.
    pub capacity: usize,
    /// Compact after this many acknowledgements (`None`: never, keeping every choice
    /// in the file: for checks that need the whole history, never on a station).
    pub compact_after: Option<u64>,
}

impl Limits {
    /// Never compacted: every vote ever added stays in the file with its choice (what
    /// `loadgen --outbox-keep-history` uses, for checks; never on a station).
    pub const KEEP_HISTORY: Limits = Limits {
        capacity: 100_000,
        compact_after: None,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            capacity: 100_000,
            compact_after: Some(256),
        }
    }
}

/// What the station operator sees (`votechain client status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub pending: usize,
    pub acknowledged: u64,
    /// Receipts kept for voters, not yet handed over.
    pub receipts_kept: usize,
    /// Of those, ballots the log refused as conflicts (it holds another ballot under their
    /// vote_id): learned when their proofs are fetched.
    pub refused_conflicts: usize,
    /// When the oldest pending vote was accepted (ms since the epoch; 0: unknown).
    pub oldest_pending_at_ms: Option<u64>,
    pub capacity: usize,
}

/// The outbox's contents, as replayed from its records.
#[derive(Default)]
struct Contents {
    /// Pending votes by the order they were added in (`seq`), and their acceptance time.
    pending: BTreeMap<u64, (OutVote, u64)>,
    by_id: HashMap<String, u64>,
    kept: BTreeMap<String, Kept>,
    acked: u64,
    next_seq: u64,
}

impl Contents {
    fn apply(&mut self, r: Line) {
        match r {
            Line::Add { vote, at_ms } => {
                if !self.by_id.contains_key(&vote.vote_id) {
                    self.by_id.insert(vote.vote_id.clone(), self.next_seq);
                    self.pending.insert(self.next_seq, (vote, at_ms));
                    self.next_seq += 1;
                }
            }
            Line::Ack { vote_id, keep } => {
                if let Some(seq) = self.by_id.remove(&vote_id) {
                    self.pending.remove(&seq);
                    self.acked += 1;
                }
                if let Some(k) = keep {
                    self.kept.insert(vote_id, k);
                }
            }
            Line::Handed { vote_id } => {
                self.kept.remove(&vote_id);
            }
            Line::Meta { acked } => self.acked += acked,
        }
    }

    /// The records that recreate these contents.
    fn records(&self) -> Vec<Line> {
        let mut out = vec![Line::Meta { acked: self.acked }];
        out.extend(self.kept.values().map(|k| Line::Ack {
            vote_id: k.vote_id.clone(),
            keep: Some(k.clone()),
        }));
        out.extend(self.pending.values().map(|(v, at)| Line::Add {
            vote: v.clone(),
            at_ms: *at,
        }));
        out
    }
}

pub struct Outbox {
    path: PathBuf,
    file: File,
    limits: Limits,
    c: Contents,
    /// Acknowledgements since the last compaction.
    since_compaction: u64,
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// fsync of `path`'s directory: a created or renamed file's entry survives a crash.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    File::open(dir.unwrap_or(Path::new("."))).and_then(|d| d.sync_all())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Outbox {
    /// Opens (or creates) the outbox file with the default [`Limits`].
    pub fn open(path: &Path) -> Result<Outbox, OutboxError> {
        Outbox::open_with(path, Limits::default())
    }

    /// Opens (or creates) the outbox file, reloads what is pending, cuts a torn tail, and
    /// compacts it (unless `limits.compact_after` is `None`).
    pub fn open_with(path: &Path, limits: Limits) -> Result<Outbox, OutboxError> {
        let io = io_error(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(&io)?;
        }
        let created = !path.exists();
        let data = if created {
            vec![]
        } else {
            std::fs::read(path).map_err(&io)?
        };
        let (records, complete) = read_records(path, &data)?;
        let mut c = Contents::default();
        for r in records {
            c.apply(r);
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(&io)?;
        if complete < data.len() as u64 {
            // Cut the torn tail, durably, before anything is appended after it.
            file.set_len(complete).map_err(&io)?;
            file.sync_all().map_err(&io)?;
        }
        if created {
            sync_dir(path).map_err(&io)?;
        }
        let mut o = Outbox {
            path: path.to_path_buf(),
            file,
            limits,
            c,
            since_compaction: 0,
        };
        if limits.compact_after.is_some() && !created {
            o.compact()?;
        }
        Ok(o)
    }

    /// Records a vote durably before it is sent; refused when the outbox is full or already
    /// holds this vote_id.
    pub fn add(&mut self, v: &OutVote) -> Result<(), OutboxError> {
        if self.c.by_id.contains_key(&v.vote_id) {
            return Err(OutboxError::Duplicate(v.vote_id.clone()));
        }
        if self.c.pending.len() >= self.limits.capacity {
            return Err(OutboxError::Full {
                capacity: self.limits.capacity,
            });
        }
        let line = Line::Add {
            vote: v.clone(),
            at_ms: now_ms(),
        };
        self.append(&line)?;
        self.c.apply(line);
        Ok(())
    }

    /// Records an acknowledgement durably (a restart never resends it) and keeps what the
    /// voter's receipt needs; the choice is forgotten at the next compaction.
    pub fn ack(&mut self, vote_id: &str, cast_at_ms: Option<u64>) -> Result<(), OutboxError> {
        self.ack_keeping(vote_id, cast_at_ms, true)
    }

    /// An acknowledgement whose receipt the voter took at once (one record, not an `ack` and
    /// a `handed_over`): nothing of the vote is kept. What `loadgen` does, so its outbox
    /// stays as small as its pending votes however many it sends.
    pub fn ack_handed_over(&mut self, vote_id: &str) -> Result<(), OutboxError> {
        self.ack_keeping(vote_id, None, false)
    }

    fn ack_keeping(
        &mut self,
        vote_id: &str,
        cast_at_ms: Option<u64>,
        receipt: bool,
    ) -> Result<(), OutboxError> {
        let Some(seq) = self.c.by_id.get(vote_id) else {
            return Ok(());
        };
        let v = &self.c.pending[seq].0;
        let keep = receipt.then(|| Kept {
            election_id: v.election_id.clone(),
            vote_id: v.vote_id.clone(),
            salt: v.salt.clone(),
            cast_at_ms,
            proof: None,
            conflict: false,
        });
        let line = Line::Ack {
            vote_id: vote_id.into(),
            keep,
        };
        self.append(&line)?;
        self.c.apply(line);
        self.since_compaction += 1;
        if self
            .limits
            .compact_after
            .is_some_and(|n| self.since_compaction >= n)
        {
            self.compact()?;
        }
        Ok(())
    }

    /// Keeps the log's proof with a receipt (durably: an `ack` record carrying it).
    pub fn set_proof(&mut self, vote_id: &str, proof: &str) -> Result<(), OutboxError> {
        let Some(k) = self.c.kept.get(vote_id) else {
            return Ok(());
        };
        let keep = Kept {
            proof: Some(proof.into()),
            conflict: k.conflicts_with(proof),
            ..k.clone()
        };
        let line = Line::Ack {
            vote_id: vote_id.into(),
            keep: Some(keep),
        };
        self.append(&line)?;
        self.c.apply(line);
        Ok(())
    }

    /// The voter has the receipt: the outbox forgets the vote.
    pub fn handed_over(&mut self, vote_id: &str) -> Result<(), OutboxError> {
        if self.c.kept.contains_key(vote_id) {
            let line = Line::Handed {
                vote_id: vote_id.into(),
            };
            self.append(&line)?;
            self.c.apply(line);
        }
        Ok(())
    }

    /// Pending votes, in the order they were added (the order to send them in).
    pub fn pending(&self) -> Vec<OutVote> {
        self.c.pending.values().map(|(v, _)| v.clone()).collect()
    }

    pub fn acked(&self) -> u64 {
        self.c.acked
    }

    /// Receipts kept for voters (acknowledged, not handed over).
    pub fn receipts(&self) -> Vec<Kept> {
        self.c.kept.values().cloned().collect()
    }

    pub fn status(&self) -> Status {
        Status {
            pending: self.c.pending.len(),
            acknowledged: self.c.acked,
            receipts_kept: self.c.kept.len(),
            refused_conflicts: self.c.kept.values().filter(|k| k.conflict).count(),
            oldest_pending_at_ms: self.c.pending.values().map(|(_, at)| *at).min(),
            capacity: self.limits.capacity,
        }
    }

    /// Every vote added and still in the file (pending, or acknowledged but not yet
    /// compacted away): re-reads the file. With `compact_after: None`, every vote ever added.
    pub fn all_added(path: &Path) -> Result<Vec<OutVote>, OutboxError> {
        let data = std::fs::read(path).map_err(io_error(path))?;
        let (records, _) = read_records(path, &data)?;
        Ok(records
            .into_iter()
            .filter_map(|r| match r {
                Line::Add { vote, .. } => Some(vote),
                _ => None,
            })
            .collect())
    }

    /// Rewrites the file with only what is still needed: a temporary file, fsync'd, renamed
    /// over the outbox, the directory fsync'd; then appends go to the new file.
    pub fn compact(&mut self) -> Result<(), OutboxError> {
        let io = io_error(&self.path);
        let tmp = self.path.with_extension("compacting");
        let mut f = File::create(&tmp).map_err(&io)?;
        for r in self.c.records() {
            f.write_all(&encode(&r)).map_err(&io)?;
        }
        f.sync_all().map_err(&io)?;
        std::fs::rename(&tmp, &self.path).map_err(&io)?;
        sync_dir(&self.path).map_err(&io)?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(&io)?;
        // The replayed counts start again from the Meta record.
        self.since_compaction = 0;
        Ok(())
    }

    fn append(&mut self, l: &Line) -> Result<(), OutboxError> {
        let io = io_error(&self.path);
        self.file.write_all(&encode(l)).map_err(&io)?;
        self.file.sync_data().map_err(&io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u32) -> OutVote {
        OutVote {
            election_id: "e".into(),
            vote_id: format!("id-{n}"),
            candidate_id: format!("cand-{n}"),
            region_id: "r".into(),
            salt: n.is_multiple_of(2).then(|| format!("{n:064x}")),
        }
    }

    fn ids(o: &Outbox) -> Vec<String> {
        o.pending().into_iter().map(|v| v.vote_id).collect()
    }

    const KEEP_ALL: Limits = Limits {
        capacity: 1000,
        compact_after: None,
    };

    #[test]
    fn pending_survives_reopen_and_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("outbox.jsonl");
        {
            let mut o = Outbox::open(&p).unwrap();
            for n in [5, 0, 1, 2, 3, 4] {
                o.add(&v(n)).unwrap();
            }
            o.ack("id-1", Some(7)).unwrap();
            o.ack("id-3", None).unwrap();
        }
        // A crash in the middle of writing a line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"op\":\"add\",\"elect")
            .unwrap();
        let mut o = Outbox::open(&p).unwrap();
        // In the order they were added, not by vote_id.
        assert_eq!(ids(&o), ["id-5", "id-0", "id-2", "id-4"]);
        assert_eq!(o.acked(), 2);
        // The vote added after the tear (sent, maybe acknowledged to the voter) must
        // survive the next restart: the fragment was cut, not written onto.
        o.add(&v(9)).unwrap();
        drop(o);
        let o = Outbox::open(&p).unwrap();
        assert_eq!(ids(&o), ["id-5", "id-0", "id-2", "id-4", "id-9"]);
        assert_eq!(o.acked(), 2, "the count survives compaction");
    }

    #[test]
    fn a_corrupt_record_is_reported_never_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("outbox.jsonl");
        {
            let mut o = Outbox::open(&p).unwrap();
            for n in 0..3 {
                o.add(&v(n)).unwrap();
            }
        }
        let text = std::fs::read_to_string(&p).unwrap();
        // One flipped character inside the second record (a complete line).
        let bad = text.replacen("id-1", "id-7", 1);
        std::fs::write(&p, &bad).unwrap();
        let err = Outbox::open(&p).err().expect("refused").to_string();
        assert!(err.contains("line 2") && err.contains("checksum"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            bad,
            "the file is left as it was"
        );
        // The earlier format (bare JSON lines) still reads.
        std::fs::write(&p, "{\"op\":\"add\",\"election_id\":\"e\",\"vote_id\":\"old\",\"candidate_id\":\"a\",\"region_id\":\"r\"}\n").unwrap();
        let o = Outbox::open(&p).unwrap();
        assert_eq!(o.pending()[0].vote_id, "old");
    }

    /// Issue 17, "what it must show" 1: for every byte offset of a record's write (an add,
    /// then an ack), a crash there, a restart and more adds lose nothing that was fsync'd
    /// and returned to the caller, and never bring back (to be sent again) a vote whose
    /// acknowledgement was recorded.
    #[test]
    fn a_torn_write_at_any_byte_loses_nothing_and_resends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.jsonl");
        {
            let mut o = Outbox::open_with(&base, KEEP_ALL).unwrap();
            for n in 0..4 {
                o.add(&v(n)).unwrap();
            }
            o.ack("id-1", Some(1)).unwrap();
        }
        let before = std::fs::read(&base).unwrap();
        let torn_add = encode(&Line::Add {
            vote: v(50),
            at_ms: 1,
        });
        let torn_ack = encode(&Line::Ack {
            vote_id: "id-2".into(),
            keep: None,
        });
        for (what, record) in [("add", &torn_add), ("ack", &torn_ack)] {
            for cut in 0..record.len() {
                let p = dir.path().join(format!("{what}-{cut}.jsonl"));
                let mut bytes = before.clone();
                bytes.extend_from_slice(&record[..cut]);
                std::fs::write(&p, &bytes).unwrap();
                // The restart: the torn record never returned to its caller.
                let mut o = Outbox::open_with(&p, KEEP_ALL)
                    .unwrap_or_else(|e| panic!("{what} cut at {cut}: {e}"));
                assert_eq!(ids(&o), ["id-0", "id-2", "id-3"], "{what} cut at {cut}");
                assert_eq!(o.acked(), 1, "{what} cut at {cut}");
                // More adds and an ack after the restart, then another restart.
                o.add(&v(60)).unwrap();
                o.ack("id-0", None).unwrap();
                o.add(&v(61)).unwrap();
                drop(o);
                let o = Outbox::open(&p).unwrap();
                assert_eq!(
                    ids(&o),
                    ["id-2", "id-3", "id-60", "id-61"],
                    "{what} cut at {cut}"
                );
                assert_eq!(o.acked(), 2, "{what} cut at {cut}");
                assert_eq!(o.pending()[2], v(60), "choices and salts intact");
            }
            // The whole record, newline included, is a complete write.
            let p = dir.path().join(format!("{what}-whole.jsonl"));
            let mut bytes = before.clone();
            bytes.extend_from_slice(record);
            std::fs::write(&p, &bytes).unwrap();
            let o = Outbox::open_with(&p, KEEP_ALL).unwrap();
            let want: &[&str] = match what {
                "add" => &["id-0", "id-2", "id-3", "id-50"],
                _ => &["id-0", "id-3"],
            };
            assert_eq!(ids(&o), want, "{what} whole");
        }
    }

    #[test]
    fn a_vote_acknowledged_and_handed_over_at_once_leaves_nothing_after_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.jsonl");
        let mut o = Outbox::open(&path).unwrap();
        for n in 0..600 {
            o.add(&v(n)).unwrap();
            o.ack_handed_over(&format!("id-{n}")).unwrap();
        }
        o.add(&v(600)).unwrap();
        o.compact().unwrap();
        assert_eq!(
            (o.acked(), o.receipts().len(), ids(&o)),
            (600, 0, vec!["id-600".to_string()])
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().count(),
            2,
            "the count and the one pending vote: {text}"
        );
        let o = Outbox::open(&path).unwrap();
        assert_eq!((o.acked(), o.receipts().len()), (600, 0));
    }

    #[test]
    fn compaction_forgets_acknowledged_choices_and_keeps_receipts_until_handed_over() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("outbox.jsonl");
        let limits = Limits {
            capacity: 3,
            compact_after: Some(2),
        };
        let mut o = Outbox::open_with(&p, limits).unwrap();
        for n in 0..3 {
            o.add(&v(n)).unwrap();
        }
        let full = o.add(&v(3)).unwrap_err().to_string();
        assert!(full.contains("outbox full: 3 votes"), "{full}");
        assert!(matches!(o.add(&v(0)), Err(OutboxError::Duplicate(_))));
        o.ack("id-0", Some(11)).unwrap();
        o.ack("id-1", Some(12)).unwrap(); // the second: compacts
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            !text.contains("cand-0") && !text.contains("cand-1"),
            "{text}"
        );
        assert!(text.contains("cand-2"), "the pending choice stays: {text}");
        let st = o.status();
        assert_eq!((st.pending, st.acknowledged, st.receipts_kept), (1, 2, 2));
        assert!(st.oldest_pending_at_ms.is_some_and(|t| t > 0));
        let kept = o.receipts();
        assert_eq!(kept[0].vote_id, "id-0");
        assert_eq!(kept[0].salt, v(0).salt);
        assert_eq!(kept[0].cast_at_ms, Some(11));
        o.set_proof("id-1", "c2sp.org/tlog-proof@v1\n...").unwrap();
        o.handed_over("id-0").unwrap();
        drop(o);
        let o = Outbox::open_with(&p, limits).unwrap();
        assert_eq!(ids(&o), ["id-2"]);
        assert_eq!(o.receipts().len(), 1);
        assert_eq!(
            o.receipts()[0].proof.as_deref(),
            Some("c2sp.org/tlog-proof@v1\n...")
        );
        assert_eq!(o.status().acknowledged, 2);
        assert!(!dir.path().join("outbox.compacting").exists());
    }

    /// A fetched proof whose chained vote has another cast time than this station's 202:
    /// the log holds another ballot under the vote_id, and status says it was refused.
    #[test]
    fn a_proof_of_another_ballot_marks_a_refused_conflict() {
        use votechain_core::receipt::{ReceiptExtra, TlogProof};
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(&dir.path().join("outbox")).unwrap();
        for n in 0..2 {
            o.add(&v(n)).unwrap();
            o.ack(&format!("id-{n}"), Some(1_000 + u64::from(n)))
                .unwrap();
        }
        let proof_at = |vote_id: &str, at: i64| {
            let extra = ReceiptExtra {
                election_id: "e".into(),
                chain: 0,
                seq: 1,
                vote_id: vote_id.into(),
                cast_at_ms: at,
                prev_hash: [0; 32],
            };
            TlogProof {
                extra: Some(extra.text().into_bytes()),
                index: 0,
                path: vec![],
                checkpoint: "o\n1\nAAAA\n\n— o AAAA\n".into(),
            }
            .text()
        };
        o.set_proof("id-0", &proof_at("id-0", 1_000)).unwrap();
        o.set_proof("id-1", &proof_at("id-1", 999)).unwrap();
        let kept = o.receipts();
        assert!(!kept[0].conflict && kept[1].conflict);
        assert_eq!(o.status().refused_conflicts, 1);
    }
}
