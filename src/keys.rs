//! Station keys: who may submit votes, for which elections and regions.
//!
//! A key is 256 random bits from the OS (`vck_` + base64url, [`create`]); the node only
//! ever holds its SHA-256. Keys come from `ingest.clients` in the config (fixed at start;
//! `key`/`key_env` for dev and the legacy feed key, `sha256` for a hashed one) and from
//! `ingest.keys_file`, a TOML file of hashed entries (a Kubernetes Secret in `deploy/`)
//! that [`Keys::reload`] re-reads when it changes: a station's key is added, rotated or
//! revoked without a restart. A bad file never replaces a good set: the previous keys
//! stay, and the reload failure is counted and logged.
//!
//! ```toml
//! [[keys]]
//! id = "station-0042"                # recorded in every audit event of its votes
//! sha256 = "<64 hex>"                # of the key as the station sends it
//! elections = ["demo-2026"]          # empty: every election
//! regions = ["north"]                # empty: every region
//! # votes_per_s = 5                  # its own quota (ingest.key_votes_per_s otherwise)
//! # max_votes = 1200                 # its cap per election (ingest.key_max_votes otherwise)
//! ```

use crate::config::IngestConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// One key the node accepts, by its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    pub id: String,
    pub digest: [u8; 32],
    /// Empty: every election.
    pub elections: BTreeSet<String>,
    /// Empty: every region.
    pub regions: BTreeSet<String>,
    pub votes_per_s: Option<u32>,
    /// Distinct vote_ids per election; `None`: `ingest.key_max_votes`; 0: no cap.
    pub max_votes: Option<u64>,
}

impl KeyEntry {
    /// Whether this key may vote in `election`, for `region`.
    pub fn allows(&self, election: &str, region: &str) -> bool {
        (self.elections.is_empty() || self.elections.contains(election))
            && (self.regions.is_empty() || self.regions.contains(region))
    }
}

/// An entry of the keys file, as `votechain keys create` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileKey {
    pub id: String,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elections: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub votes_per_s: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_votes: Option<u64>,
}

/// The keys file: `[[keys]]` entries.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    #[serde(default)]
    pub keys: Vec<FileKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("keys file {path}: {detail}")]
    File { path: String, detail: String },
    #[error("keys file {path}: {}", problems.join("; "))]
    Invalid { path: String, problems: Vec<String> },
}

/// SHA-256 of a key as presented (the bearer token, surrounding whitespace removed).
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.trim().as_bytes()).into()
}

pub use crate::config::parse_sha256;

/// A new key for `station` (256 bits from the OS CSPRNG) and the entry naming its digest.
pub fn create(station: &str, elections: &[String], regions: &[String]) -> (String, FileKey) {
    use base64::Engine;
    use rand::TryRngCore;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut raw)
        .expect("the OS random source is available");
    let key = format!(
        "vck_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    let entry = FileKey {
        id: station.into(),
        sha256: hex::encode(digest(&key)),
        elections: elections.to_vec(),
        regions: regions.to_vec(),
        votes_per_s: None,
        max_votes: None,
    };
    (key, entry)
}

impl KeysFile {
    pub fn read(path: &Path) -> Result<KeysFile, KeysError> {
        let bad = |detail: String| KeysError::File {
            path: path.display().to_string(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        toml::from_str(&text).map_err(|e| bad(e.to_string()))
    }

    /// Every entry as a [`KeyEntry`]; every problem at once (duplicate id, bad digest).
    pub fn entries(&self, path: &Path) -> Result<Vec<KeyEntry>, KeysError> {
        let mut problems = vec![];
        let mut ids = BTreeSet::new();
        let mut out = vec![];
        for k in &self.keys {
            if k.id.trim().is_empty() {
                problems.push("an entry without an id".to_string());
            } else if !ids.insert(&k.id) {
                problems.push(format!("duplicate id '{}'", k.id));
            }
            match parse_sha256(&k.sha256) {
                Some(digest) => out.push(KeyEntry {
                    id: k.id.clone(),
                    digest,
                    elections: k.elections.iter().cloned().collect(),
                    regions: k.regions.iter().cloned().collect(),
                    votes_per_s: k.votes_per_s,
                    max_votes: k.max_votes,
                }),
                None => problems.push(format!(
                    "'{}': sha256 is not 64 lowercase hex characters",
                    k.id
                )),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(KeysError::Invalid {
                path: path.display().to_string(),
                problems,
            })
        }
    }

    /// Writes the file atomically (temporary file, fsync, rename).
    pub fn write(&self, path: &Path) -> Result<(), KeysError> {
        let bad = |e: std::io::Error| KeysError::File {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        let text = toml::to_string(self).map_err(|e| KeysError::File {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        let tmp = path.with_extension("writing");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(bad)?;
            f.write_all(text.as_bytes()).map_err(bad)?;
            f.sync_all().map_err(bad)?;
        }
        std::fs::rename(&tmp, path).map_err(bad)
    }
}

/// The keys of the config's `ingest.clients` (a `key`, a `key_env` or a `sha256` each).
fn fixed_keys(cfg: &IngestConfig) -> Vec<KeyEntry> {
    cfg.clients
        .iter()
        .filter_map(|c| {
            let digest = match (&c.key, &c.key_env, &c.sha256) {
                (Some(k), _, _) => digest(k),
                (_, Some(var), _) => digest(&std::env::var(var).ok()?),
                (_, _, Some(h)) => parse_sha256(h)?,
                _ => return None,
            };
            Some(KeyEntry {
                id: c.id.clone(),
                digest,
                elections: c.elections.iter().cloned().collect(),
                regions: c.regions.iter().cloned().collect(),
                votes_per_s: c.votes_per_s,
                max_votes: c.max_votes,
            })
        })
        .collect()
}

/// The keys in force: the config's, then the keys file's as last read.
pub struct Keys {
    fixed: Vec<KeyEntry>,
    file: Option<PathBuf>,
    /// The keys in force by digest: one lookup a request, whatever the number of stations.
    current: RwLock<Arc<HashMap<[u8; 32], Arc<KeyEntry>>>>,
    /// The file's modification time and length when last read.
    seen: Mutex<Option<(std::time::SystemTime, u64)>>,
}

impl Keys {
    /// The config's keys and, when `ingest.keys_file` is set, the file's (which must read).
    pub fn new(cfg: &IngestConfig) -> Result<Keys, KeysError> {
        let keys = Keys {
            fixed: fixed_keys(cfg),
            file: cfg.keys_file.clone(),
            current: RwLock::new(Arc::new(HashMap::new())),
            seen: Mutex::new(None),
        };
        keys.reload()?;
        Ok(keys)
    }

    /// The key whose digest is `presented`. Looked up by digest: the lookup's timing depends
    /// only on the SHA-256 of what was presented, which tells nothing about any valid key
    /// (learning one from it would take a SHA-256 preimage), so no constant-time scan of
    /// every key is needed.
    pub fn find(&self, presented: &[u8; 32]) -> Option<Arc<KeyEntry>> {
        let all = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        all.get(presented).cloned()
    }

    /// Whether a key in force has its own cap of votes per election.
    pub fn any_cap(&self) -> bool {
        let all = self.current.read().unwrap_or_else(|e| e.into_inner());
        all.values().any(|k| k.max_votes.is_some_and(|n| n > 0))
    }

    /// Keys in force.
    pub fn count(&self) -> usize {
        self.current.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Re-reads the keys file if it changed since the last read (blocking file I/O: call
    /// it off the async workers). `Ok(true)`: a new set is in force. On an error the
    /// previous set stays.
    pub fn reload(&self) -> Result<bool, KeysError> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = self.fixed.clone();
        match &self.file {
            None if seen.is_some() => return Ok(false),
            None => *seen = Some((std::time::UNIX_EPOCH, 0)),
            Some(path) => {
                let meta = std::fs::metadata(path).map_err(|e| KeysError::File {
                    path: path.display().to_string(),
                    detail: e.to_string(),
                })?;
                let stamp = (meta.modified().unwrap_or(std::time::UNIX_EPOCH), meta.len());
                if *seen == Some(stamp) {
                    return Ok(false);
                }
                let from_file = KeysFile::read(path)?.entries(path)?;
                let fixed: BTreeSet<&str> = all.iter().map(|k| k.id.as_str()).collect();
                if let Some(dup) = from_file.iter().find(|k| fixed.contains(k.id.as_str())) {
                    return Err(KeysError::Invalid {
                        path: path.display().to_string(),
                        problems: vec![format!("id '{}' is also in ingest.clients", dup.id)],
                    });
                }
                all.extend(from_file);
                if let Some(problem) = shared_digest(&all) {
                    return Err(KeysError::Invalid {
                        path: path.display().to_string(),
                        problems: vec![problem],
                    });
                }
                *seen = Some(stamp);
            }
        }
        let by_digest = all.into_iter().map(|k| (k.digest, Arc::new(k))).collect();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(by_digest);
        Ok(true)
    }
}

/// Two entries with one digest (one key under two ids): which one a vote came from would
/// be ambiguous.
fn shared_digest(all: &[KeyEntry]) -> Option<String> {
    let mut seen: HashMap<[u8; 32], &str> = HashMap::new();
    for k in all {
        if let Some(other) = seen.insert(k.digest, &k.id) {
            return Some(format!("ids '{other}' and '{}' have the same key", k.id));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(file: Option<PathBuf>) -> IngestConfig {
        IngestConfig {
            clients: vec![crate::config::ClientKey {
                id: "feed".into(),
                key: Some("feed-key-1".into()),
                ..Default::default()
            }],
            keys_file: file,
            ..Default::default()
        }
    }

    #[test]
    fn created_keys_are_256_bits_and_only_their_digest_is_kept() {
        let (key, entry) = create("s-1", &["e".into()], &[]);
        assert!(key.starts_with("vck_") && key.len() == 4 + 43, "{key}");
        assert_eq!(parse_sha256(&entry.sha256), Some(digest(&key)));
        assert!(!toml::to_string(&entry).unwrap().contains(&key[4..]));
        let (other, _) = create("s-1", &[], &[]);
        assert_ne!(key, other);
    }

    #[test]
    fn one_key_under_two_ids_is_refused() {
        let k = |id: &str, d: u8| KeyEntry {
            id: id.into(),
            digest: [d; 32],
            elections: BTreeSet::new(),
            regions: BTreeSet::new(),
            votes_per_s: None,
            max_votes: None,
        };
        assert_eq!(shared_digest(&[k("a", 1), k("b", 2)]), None);
        let p = shared_digest(&[k("a", 1), k("b", 2), k("c", 1)]).unwrap();
        assert!(p.contains("'a'") && p.contains("'c'"), "{p}");
    }

    #[test]
    fn scopes_limit_elections_and_regions() {
        let k = KeyEntry {
            id: "s".into(),
            digest: [0; 32],
            elections: ["e1".to_string()].into(),
            regions: ["north".to_string()].into(),
            votes_per_s: None,
            max_votes: None,
        };
        assert!(k.allows("e1", "north"));
        assert!(!k.allows("e2", "north"));
        assert!(!k.allows("e1", "south"));
        let any = KeyEntry {
            elections: BTreeSet::new(),
            regions: BTreeSet::new(),
            ..k
        };
        assert!(any.allows("e2", "south"));
    }

    #[test]
    fn the_file_is_reloaded_when_it_changes_and_a_bad_one_keeps_the_old_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.toml");
        let (k1, e1) = create("s-1", &[], &[]);
        KeysFile { keys: vec![e1] }.write(&path).unwrap();
        let keys = Keys::new(&cfg(Some(path.clone()))).unwrap();
        assert_eq!(keys.find(&digest(&k1)).unwrap().id, "s-1");
        assert_eq!(keys.find(&digest("feed-key-1")).unwrap().id, "feed");
        assert!(!keys.reload().unwrap(), "unchanged");
        // Rotated: s-1's new key works, the old one no longer does.
        let (k2, e2) = create("s-1", &[], &[]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        KeysFile { keys: vec![e2] }.write(&path).unwrap();
        assert!(keys.reload().unwrap());
        assert!(keys.find(&digest(&k1)).is_none());
        assert_eq!(keys.find(&digest(&k2)).unwrap().id, "s-1");
        // A broken file: refused, the set in force stays.
        std::fs::write(&path, "[[keys]]\nid = \"s-2\"\nsha256 = \"XYZ\"\n").unwrap();
        let err = keys.reload().unwrap_err().to_string();
        assert!(
            err.contains("s-2") && err.contains("64 lowercase hex"),
            "{err}"
        );
        assert!(keys.find(&digest(&k2)).is_some());
        // Revoked: the entry removed.
        KeysFile::default().write(&path).unwrap();
        assert!(keys.reload().unwrap());
        assert!(keys.find(&digest(&k2)).is_none());
        assert_eq!(keys.count(), 1, "the config's key stays");
        assert!(!keys.any_cap());
        // A key with its own cap per election.
        let (_, mut e3) = create("s-3", &[], &[]);
        e3.max_votes = Some(1200);
        KeysFile { keys: vec![e3] }.write(&path).unwrap();
        assert!(keys.reload().unwrap());
        assert!(keys.any_cap());
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("max_votes = 1200")
        );
    }
}
