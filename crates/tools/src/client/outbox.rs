//! The durable client outbox: an append-only file of JSON lines, fsync'd, so a polling
//! station that crashes or loses its network for minutes resends everything unacknowledged
//! on restart and loses nothing.
//!
//! A vote is written (`add`) and fsync'd BEFORE it is first sent; its acknowledgement
//! (`ack`) is appended after the 202. On open, `add`s without an `ack` are pending. A torn
//! last line (crash mid-write) is ignored: its vote was never sent.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
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
        if path.exists() {
            for line in BufReader::new(File::open(path).map_err(io)?).lines() {
                let line = line.map_err(io)?;
                match serde_json::from_str::<Line>(&line) {
                    Ok(Line::Add(v)) => {
                        pending.insert(v.vote_id.clone(), v);
                    }
                    Ok(Line::Ack { vote_id }) => {
                        if pending.remove(&vote_id).is_some() {
                            acked += 1;
                        }
                    }
                    Err(_) => {} // a torn last line: never fsync'd, never sent
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
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
        let mut out = Vec::new();
        for line in BufReader::new(File::open(path).map_err(io)?).lines() {
            if let Ok(Line::Add(v)) = serde_json::from_str::<Line>(&line.map_err(io)?) {
                out.push(v);
            }
        }
        Ok(out)
    }

    fn append(&mut self, l: &Line, sync: bool) -> Result<(), OutboxError> {
        let io = |source| OutboxError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let mut buf = serde_json::to_vec(l).expect("serializes");
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
        let o = Outbox::open(&p).unwrap();
        let ids: Vec<String> = o.pending().into_iter().map(|v| v.vote_id).collect();
        assert_eq!(ids, vec!["id-0", "id-2", "id-4"]);
        assert_eq!(o.acked(), 2);
        assert_eq!(Outbox::all_added(&p).unwrap().len(), 5);
    }
}
