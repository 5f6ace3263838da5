//! `LogPublisher`: keeps one chain's transparency log (contract v2, "One transparency log
//! per chain"): follows the chain in seq order, stores its tiles and entry bundles, and
//! signs a checkpoint when the tree grew, at most every `interval`.
//!
//! Messages: `Tick` (every `interval`).
//! State: the log's right edge (`tiles::Edge`), the last signed checkpoint, and the hash of
//! the last logged vote (the next vote's `prev_hash` must be it).
//! Decisions are pure: [`next_entries`] checks each new vote links onto the last logged
//! one and hashes to its stored hash under the chain's rule (a broken chain is never
//! logged: it stops the log at the break, with an error and a metric); `tiles::Edge`
//! computes the tiles and root.
//! Append-only, across restarts and racing publishers: on its first tick the edge is
//! rebuilt from the tiles of the signed checkpoint and must give its root, and the chain's
//! vote at that size must still be the one logged (a rewritten chain is never extended); full tiles are create-only
//! (other bytes are a fork, refused); a checkpoint replaces only the one it extends
//! (`LogStore::replace_signed`). A publisher that loses a race fails and is restarted
//! by its supervisor, reloading what the winner signed.
//! Publication: with no witness policy (quorum 0) a signed checkpoint is published at
//! once; otherwise each witness is asked to cosign it (C2SP `tlog-witness`, with a
//! consistency proof from the size the witness last cosigned, learned from its 409), and
//! it is published with their cosignatures once the quorum's are collected; short of
//! that it stays pending and is asked again next tick.
//! Supervised by: the publisher role's supervisor, permanent, one per (election, chain).
//! Metrics: `votechain_log_entries_total`, `votechain_log_checkpoints_total`,
//! `votechain_log_size_entries{election,chain}`, `votechain_log_chain_breaks_total`,
//! `votechain_log_publish_duration_seconds`.

use crate::dynamo::ledger::Ledger;
use crate::logstore::{LogError, LogStore, Stored};
use crate::metrics as m;
use crate::signer::Signer;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;
use std::time::{Duration, Instant};
use votechain_core::checkpoint::Checkpoint;
use votechain_core::merkle::Hash;
use votechain_core::model::{Election, VoteItem};
use votechain_core::tiles::{self, Edge};

#[derive(Clone)]
pub struct LogPublisher {
    pub ledger: Ledger,
    pub store: LogStore,
    pub election: Election,
    pub chain: u32,
    /// `{log_origin}/{chain}`.
    pub origin: String,
    pub signer: Arc<dyn Signer>,
    pub interval: Duration,
    /// Most votes read per tick.
    pub batch_max: i32,
    /// Witnesses asked to cosign: (submission prefix URL, verifier key).
    pub witnesses: Vec<(String, votechain_core::note::NoteVerifier)>,
    /// Cosignatures needed before a checkpoint is published.
    pub quorum: usize,
    pub http: reqwest::Client,
}

pub enum PublisherMsg {
    Tick,
}

pub struct PublisherState {
    /// Loaded on the first tick.
    log: Option<LogState>,
    timer: tokio::task::JoinHandle<()>,
}

/// Where the log stands.
pub struct LogState {
    edge: Edge,
    signed: Option<Stored>,
    /// The hash of the last logged vote (the chain's genesis before the first).
    last: Hash,
    /// Signed but not yet published (waiting for the witnesses' quorum).
    pending: Option<Stored>,
    /// The size each witness last cosigned, as it told us (by URL).
    witnessed: std::collections::HashMap<String, u64>,
}

/// Why new votes stop being logged at some seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub seq: u64,
    pub why: &'static str,
}

/// The entries (vote hashes) of `votes`, in order, while each follows the last logged
/// vote: seq `size + 1, ...`, `prev_hash` the previous hash, `hash` recomputed under the
/// chain's rule. Stops at the first vote that does not, and says why.
pub fn next_entries(
    e: &Election,
    size: u64,
    last: Hash,
    votes: &[VoteItem],
) -> (Vec<Hash>, Option<Break>) {
    let (mut out, mut prev) = (Vec::with_capacity(votes.len()), last);
    for (i, v) in votes.iter().enumerate() {
        let seq = size + 1 + i as u64;
        let why = if v.seq != seq {
            Some("seq does not follow the log")
        } else if v.prev_hash != prev {
            Some("prev_hash is not the last logged vote's hash")
        } else if v.salt.is_some() != e.salted() {
            Some("the vote's hash rule is not the chain's")
        } else if v.hash_on(&v.prev_hash) != v.hash {
            Some("hash does not match the vote's data")
        } else {
            None
        };
        if let Some(why) = why {
            return (out, Some(Break { seq, why }));
        }
        out.push(v.hash);
        prev = v.hash;
    }
    (out, None)
}

impl Actor for LogPublisher {
    type Msg = PublisherMsg;
    type State = PublisherState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<PublisherMsg>,
        _: (),
    ) -> Result<PublisherState, ActorProcessingErr> {
        // Loading reads DynamoDB and may refuse (a rewritten chain): it happens on the
        // first tick, so a refusing log never keeps the process or its other roles from
        // starting; its failures go through the supervisor's restart policy.
        let timer = myself.send_interval(self.interval, || PublisherMsg::Tick);
        myself.send_message(PublisherMsg::Tick)?;
        Ok(PublisherState { log: None, timer })
    }

    async fn post_stop(
        &self,
        _: ActorRef<PublisherMsg>,
        st: &mut PublisherState,
    ) -> Result<(), ActorProcessingErr> {
        st.timer.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<PublisherMsg>,
        _: PublisherMsg,
        st: &mut PublisherState,
    ) -> Result<(), ActorProcessingErr> {
        if st.log.is_none() {
            st.log = Some(self.load().await?);
        }
        let log = st.log.as_mut().expect("loaded above");
        self.publish_once(log).await?;
        Ok(())
    }
}

impl LogPublisher {
    /// Rebuilds the log's edge from the tiles of its signed checkpoint, which must give
    /// its root, and checks the chain's vote at that size is still the one logged.
    async fn load(&self) -> Result<LogState, ActorProcessingErr> {
        let (e, c) = (&self.election.id, self.chain);
        let signed = self.store.signed(e, c).await?;
        let size = signed.as_ref().map_or(0, |s| s.size);
        let partials: Vec<tiles::Tile> = tiles::tiles_of(size)
            .into_iter()
            .filter(|t| !t.is_full())
            .collect();
        let stored = self.store.tiles(e, c, &partials).await?;
        let edge = Edge::load(size, |t| stored.get(t).cloned().ok_or("missing"))
            .map_err(|err| format!("log {}: cannot rebuild its edge: {err}", self.origin))?;
        if let Some(s) = &signed
            && edge.root() != s.root
        {
            return Err(format!(
                "log {}: the stored tiles do not give the signed checkpoint's root (size {}); refusing to sign",
                self.origin, s.size
            )
            .into());
        }
        let last = match size {
            0 => self.election.tip0(c).hash,
            n => {
                let in_chain = self.last_logged(n).await?;
                let in_log = self.last_entry(&edge, n).await?;
                if in_chain != in_log {
                    metrics::counter!(m::LOG_CHAIN_BREAKS).increment(1);
                    return Err(format!(
                        "log {}: the chain's vote {n} is not the one logged: the ledger was rewritten after it was logged; refusing to extend the log (run `votechain audit --with-ledger`)",
                        self.origin
                    )
                    .into());
                }
                in_log
            }
        };
        metrics::gauge!(m::LOG_SIZE, "election" => e.clone(), "chain" => c.to_string())
            .set(size as f64);
        // A signed checkpoint not published yet (a restart while waiting for witnesses).
        let published = self.store.published(e, c).await?.map_or(0, |p| p.size);
        let pending = signed
            .clone()
            .filter(|s| s.size > published || published == 0);
        Ok(LogState {
            edge,
            signed,
            last,
            pending,
            witnessed: Default::default(),
        })
    }

    /// The hash of the vote at `seq` (the last one logged), from the ledger.
    async fn last_logged(&self, seq: u64) -> Result<Hash, ActorProcessingErr> {
        let v = self
            .ledger
            .votes_after(&self.election, self.chain, seq - 1, 1)
            .await?;
        match v.first() {
            Some(v) if v.seq == seq => Ok(v.hash),
            _ => Err(format!(
                "log {}: vote {seq}, the last logged, is missing from the chain",
                self.origin
            )
            .into()),
        }
    }

    /// The log's entry `n - 1` (its last): from the edge's partial bundle, or the full
    /// bundle before it.
    async fn last_entry(&self, edge: &Edge, n: u64) -> Result<Hash, ActorProcessingErr> {
        if let Some(h) = edge.last_entry() {
            return Ok(h);
        }
        let t = tiles::Tile {
            kind: tiles::Kind::Entries,
            index: (n - 1) / tiles::TILE_WIDTH,
            width: tiles::TILE_WIDTH as u16,
        };
        let data = self
            .store
            .tile(&self.election.id, self.chain, &t)
            .await?
            .ok_or_else(|| format!("log {}: bundle {} is missing", self.origin, t.path()))?;
        let entries = tiles::parse_bundle(t.width, &data)?;
        Ok(entries[entries.len() - 1])
    }

    /// Reads new votes, stores tiles, signs and publishes a checkpoint if the tree grew
    /// (or the log has none yet).
    async fn publish_once(&self, st: &mut LogState) -> Result<(), ActorProcessingErr> {
        let started = Instant::now();
        let (e, c) = (&self.election.id, self.chain);
        let size = st.edge.size();
        let votes = self
            .ledger
            .votes_after(&self.election, c, size, self.batch_max)
            .await?;
        let (entries, broken) = next_entries(&self.election, size, st.last, &votes);
        if let Some(b) = &broken {
            metrics::counter!(m::LOG_CHAIN_BREAKS).increment(1);
            tracing::error!(log = %self.origin, seq = b.seq, why = b.why, "the chain does not verify here; the log stops before it");
        }
        if entries.is_empty() && st.signed.is_some() {
            return self.try_publish(st).await;
        }
        let mut edge = st.edge.clone();
        let full = edge.append(&entries);
        for w in full.iter().chain(edge.partials().iter()) {
            self.store.put_tile(e, c, w).await?;
        }
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size: edge.size(),
            root: edge.root(),
        };
        let text = cp.text();
        let next = Stored {
            size: cp.size,
            root: cp.root,
            note: format!("{text}\n{}", self.signer.sign_line(&text, &self.origin)),
        };
        if !self
            .store
            .replace_signed(e, c, st.signed.as_ref(), &next)
            .await?
        {
            // Another publisher signed first: restart and continue from its checkpoint.
            return Err(LogError::Call {
                op: "PutItem(signed checkpoint)",
                detail: format!(
                    "log {}: another publisher moved the checkpoint",
                    self.origin
                ),
            }
            .into());
        }
        metrics::counter!(m::LOG_ENTRIES).increment(entries.len() as u64);
        metrics::counter!(m::LOG_CHECKPOINTS).increment(1);
        metrics::gauge!(m::LOG_SIZE, "election" => e.clone(), "chain" => c.to_string())
            .set(next.size as f64);
        metrics::histogram!(m::LOG_PUBLISH_SECONDS).record(started.elapsed().as_secs_f64());
        if let Some(h) = entries.last() {
            st.last = *h;
        }
        st.edge = edge;
        st.signed = Some(next.clone());
        st.pending = Some(next);
        self.try_publish(st).await
    }

    /// Publishes the pending checkpoint once the witnesses' quorum cosigned it (at once
    /// without a policy). Short of the quorum it stays pending and is retried next tick.
    async fn try_publish(&self, st: &mut LogState) -> Result<(), ActorProcessingErr> {
        let Some(p) = st.pending.clone() else {
            return Ok(());
        };
        let mut note = p.note.clone();
        let mut got = 0;
        for (url, vkey) in &self.witnesses {
            match self.cosign_by(st, url, vkey, &p).await {
                Ok(lines) => {
                    note.push_str(&lines);
                    got += 1;
                }
                Err(why) => {
                    tracing::warn!(log = %self.origin, witness = %url, %why, "no cosignature")
                }
            }
        }
        if got < self.quorum {
            tracing::warn!(log = %self.origin, got, quorum = self.quorum, size = p.size, "checkpoint signed, not yet published: too few cosignatures");
            return Ok(());
        }
        let published = Stored { note, ..p };
        self.store
            .publish(&self.election.id, self.chain, &published)
            .await?;
        st.pending = None;
        Ok(())
    }

    /// Asks one witness to cosign `p`, from the size it last cosigned (learned from its
    /// 409 when we do not know it). Returns its cosignature lines, verified.
    async fn cosign_by(
        &self,
        st: &mut LogState,
        url: &str,
        vkey: &votechain_core::note::NoteVerifier,
        p: &Stored,
    ) -> Result<String, String> {
        use votechain_core::witness::AddCheckpoint;
        let mut old = st.witnessed.get(url).copied().unwrap_or(0);
        for _ in 0..2 {
            if old > p.size {
                return Err(format!(
                    "the witness is at size {old}, beyond this checkpoint"
                ));
            }
            let proof = self.consistency(old, p.size).await?;
            let body = AddCheckpoint {
                old,
                proof,
                note: p.note.clone(),
            }
            .body();
            let res = self
                .http
                .post(format!("{}/add-checkpoint", url.trim_end_matches('/')))
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = res.status().as_u16();
            let text = res.text().await.map_err(|e| e.to_string())?;
            match status {
                200 => {
                    let cosigned = format!("{}{text}", p.note);
                    votechain_core::note::verify(&cosigned, vkey).map_err(|e| e.to_string())?;
                    st.witnessed.insert(url.to_string(), p.size);
                    return Ok(text);
                }
                409 => {
                    old = text
                        .trim()
                        .parse()
                        .map_err(|_| format!("409 without a size: {text}"))?;
                    st.witnessed.insert(url.to_string(), old);
                }
                _ => return Err(format!("HTTP {status}: {}", text.trim())),
            }
        }
        Err("the witness's size kept changing".into())
    }

    /// The consistency proof from `old` to `new`, from this log's stored tiles.
    async fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash>, String> {
        use votechain_core::merkle;
        let rec = tiles::TileRecorder::new(new);
        merkle::consistency_proof(&rec, old, new).map_err(|e| e.to_string())?;
        let fetched = self
            .store
            .tiles(&self.election.id, self.chain, &rec.into_tiles())
            .await
            .map_err(|e| e.to_string())?;
        let nodes = tiles::TileNodes {
            size: new,
            read: |t: &tiles::Tile| {
                let d = fetched
                    .get(t)
                    .ok_or_else(|| format!("tile {} missing", t.path()))?;
                tiles::parse_hashes(t, d).map_err(|e| e.to_string())
            },
        };
        merkle::consistency_proof(&nodes, old, new).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use votechain_core::chain::{Rule, Tip};

    fn chain(e: &Election, n: u64) -> Vec<VoteItem> {
        let mut tip: Tip = e.tip0(0);
        (1..=n)
            .map(|seq| {
                let mut v = VoteItem {
                    election_id: e.id.clone(),
                    chain: 0,
                    seq,
                    vote_id: format!("00000000-0000-4000-8000-{seq:012}"),
                    candidate_id: "a".into(),
                    region_id: "r".into(),
                    cast_at_ms: seq as i64,
                    salt: Some([seq as u8; 32]),
                    prev_hash: tip.hash,
                    hash: [0; 32],
                    kafka_topic: "votes".into(),
                    kafka_partition: 0,
                    kafka_offset: seq as i64,
                };
                v.hash = v.hash_on(&tip.hash);
                tip = Tip { seq, hash: v.hash };
                v
            })
            .collect()
    }

    fn election() -> Election {
        let mut e = Election::v1("e", &["a"], &["r"], 1);
        e.rule = Rule::V2 {
            manifest_digest: [1; 32],
        };
        e
    }

    #[test]
    fn a_linked_chain_is_logged_whole() {
        let e = election();
        let votes = chain(&e, 5);
        let (entries, broken) = next_entries(&e, 0, e.tip0(0).hash, &votes);
        assert_eq!(broken, None);
        assert_eq!(entries, votes.iter().map(|v| v.hash).collect::<Vec<_>>());
        // From the middle: the last logged hash is the one before.
        let (rest, _) = next_entries(&e, 2, votes[1].hash, &votes[2..]);
        assert_eq!(rest.len(), 3);
    }

    #[test]
    fn the_log_stops_at_a_break_and_says_why() {
        let e = election();
        let mut votes = chain(&e, 6);
        votes[3].candidate_id = "b".into(); // data changed, hash kept
        let (entries, broken) = next_entries(&e, 0, e.tip0(0).hash, &votes);
        assert_eq!(entries.len(), 3);
        assert_eq!(broken.unwrap().seq, 4);
        let votes = chain(&e, 3);
        let (entries, broken) = next_entries(&e, 0, [9; 32], &votes);
        assert!(entries.is_empty());
        assert_eq!(
            broken.unwrap().why,
            "prev_hash is not the last logged vote's hash"
        );
        let (_, broken) = next_entries(&e, 1, votes[0].hash, &votes[2..]);
        assert_eq!(broken.unwrap().why, "seq does not follow the log");
    }
}
