//! The durable client outbox: an append-only file of JSON lines, fsync'd, so a polling
//! station that crashes or loses its network for minutes resends everything unacknowledged
//! on restart and loses nothing.
//!
//! A vote is written (`add`) and fsync'd BEFORE it is first sent; its acknowledgement
//! (`ack`) is appended after the 202. On open, `add`s without an `ack` are pending.
//!
//! Crash safety. Each record is one line, `<sha256 of the JSON, first 8 bytes, hex> <JSON>`
//! (lines of bare JSON, the earlier format, are still read). A torn last line (power loss
//! mid-write: no final newline) was never fsync'd, so its vote was never sent: on open the
//! file is **truncated** to the last complete record, so the next record does not land on
//! the fragment (which would make that later, sent vote unreadable after the next
//! restart). A complete line whose checksum or JSON does not hold is corruption, not a tear:
//! opening fails and names the line; nothing is silently dropped. The file's directory is
//! fsync'd when the file is created, so the file itself survives a crash.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Line {
    Add(OutVote),
    Ack { vote_id: String },
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
}

/// `<checksum> <json>`: the first 8 bytes of SHA-256 of the JSON, in hex.
fn checksum(json: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(json)[..8])
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

pub struct Outbox {
    path: PathBuf,
    file: File,
    pending: BTreeMap<String, OutVote>,
    acked: u64,
}

impl Outbox {
    /// Opens (or creates) the outbox file and reloads what is pending.
    pub fn open(path: &Path) -> Result<Outbox, OutboxError> {
        let io = |source| OutboxError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut pending = BTreeMap::new();
        let mut acked = 0;
        let created = !path.exists();
        let data = if created {
            vec![]
        } else {
            std::fs::read(path).map_err(io)?
        };
        let (records, complete) = read_records(path, &data)?;
        for r in records {
            match r {
                Line::Add(v) => {
                    pending.insert(v.vote_id.clone(), v);
                }
                Line::Ack { vote_id } => {
                    if pending.remove(&vote_id).is_some() {
                        acked += 1;
                    }
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        if complete < data.len() as u64 {
            // Cut the torn tail, durably, before anything is appended after it.
            file.set_len(complete).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        if created {
            // The new file's directory entry, durably.
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            File::open(dir.unwrap_or(Path::new(".")))
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(Outbox {
            path: path.to_path_buf(),
            file,
            pending,
            acked,
        })
    }

    /// Records a vote durably before it is sent.
    pub fn add(&mut self, v: &OutVote) -> Result<(), OutboxError> {
        self.append(&Line::Add(v.clone()), true)?;
        self.pending.insert(v.vote_id.clone(), v.clone());
        Ok(())
    }

    /// Records an acknowledgement. Not fsync'd each time: losing it only causes a harmless resend.
    pub fn ack(&mut self, vote_id: &str) -> Result<(), OutboxError> {
        if self.pending.remove(vote_id).is_some() {
            self.acked += 1;
            self.append(
                &Line::Ack {
                    vote_id: vote_id.into(),
                },
                false,
            )?;
        }
        Ok(())
    }

    pub fn pending(&self) -> Vec<OutVote> {
        self.pending.values().cloned().collect()
    }
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Every vote ever added (pending or acknowledged), for checking: re-reads the file.
    pub fn all_added(path: &Path) -> Result<Vec<OutVote>, OutboxError> {
        let io = |source| OutboxError::Io {
            path: path.display().to_string(),
            source,
        };
        let data = std::fs::read(path).map_err(io)?;
        let (records, _) = read_records(path, &data)?;
        Ok(records
            .into_iter()
            .filter_map(|r| match r {
                Line::Add(v) => Some(v),
                Line::Ack { .. } => None,
            })
            .collect())
    }

    fn append(&mut self, l: &Line, sync: bool) -> Result<(), OutboxError> {
        let io = |source| OutboxError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let json = serde_json::to_vec(l).expect("serializes");
        let mut buf = format!("{} ", checksum(&json)).into_bytes();
        buf.extend_from_slice(&json);
        buf.push(b'\n');
        self.file.write_all(&buf).map_err(io)?;
        if sync {
            self.file.sync_data().map_err(io)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u32) -> OutVote {
        OutVote {
            election_id: "e".into(),
            vote_id: format!("id-{n}"),
            candidate_id: "a".into(),
            region_id: "r".into(),
            salt: n.is_multiple_of(2).then(new_salt),
        }
    }

    #[test]
    fn pending_survives_reopen_and_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("outbox.jsonl");
        {
            let mut o = Outbox::open(&p).unwrap();
            for n in 0..5 {
                o.add(&v(n)).unwrap();
            }
            o.ack("id-1").unwrap();
            o.ack("id-3").unwrap();
        }
        // A crash in the middle of writing a line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"op\":\"add\",\"elect")
            .unwrap();
        let mut o = Outbox::open(&p).unwrap();
        let ids: Vec<String> = o.pending().into_iter().map(|v| v.vote_id).collect();
        assert_eq!(ids, vec!["id-0", "id-2", "id-4"]);
        assert_eq!(o.acked(), 2);
        assert_eq!(Outbox::all_added(&p).unwrap().len(), 5);
        // The vote added after the tear (sent, maybe acknowledged to the voter) must
        // survive the next restart: the fragment was cut, not written onto.
        o.add(&v(9)).unwrap();
        drop(o);
        let o = Outbox::open(&p).unwrap();
        let ids: Vec<String> = o.pending().into_iter().map(|v| v.vote_id).collect();
        assert_eq!(ids, vec!["id-0", "id-2", "id-4", "id-9"]);
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
}
