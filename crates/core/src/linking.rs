//! The linking rule: how a batch of accepted vote events becomes chained votes.
//!
//! [`plan_batch`] is the one function that assigns `seq`, `prev_hash` and `hash` to votes.
//! The ChainWriter calls it for every batch it writes; replay and recount call it to
//! reproduce the ledger from the log, so a rebuild agrees with the chain by construction.
//! Also here: [`RecentIds`] (the writer's memory of chained vote_ids, a shortcut only),
//! [`read_cancellation`] (what DynamoDB's cancellation reasons of an append mean) and
//! [`request_token`] (the idempotency token of one append). All pure.
//!
//! A vote_id is chained once. A later record with the same vote_id is a **duplicate** when
//! its [`Choice`] equals the chained one (a retry: skipped silently), and a **conflict**
//! when it differs (someone sent another ballot under that vote_id: dead-lettered with
//! reason `conflict`, counted and alerted; never merged).

use crate::chain::Tip;
use crate::model::{Registry, VoteEvent, VoteItem};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// One record read from the partition.
#[derive(Debug, Clone)]
pub struct Record {
    pub offset: i64,
    pub payload: Vec<u8>,
    /// Its `votechain-mac` header (`provenance`), if it has one.
    pub mac: Option<Vec<u8>>,
}

/// (election_id, chain)
pub type ChainKey = (String, u32);

/// A 16-byte digest of what a vote_id was cast for (election, vote_id, candidate, region),
/// kept with the vote_id's marker to tell a retry from a conflicting ballot. It binds the
/// vote_id, so equal choices of two votes have unrelated digests.
pub type Choice = [u8; 16];

/// `SHA256(field("votechain/choice/v1") || field(election) || field(vote_id) ||
/// field(candidate) || field(region) [|| field(salt hex)])[0..16]`. A v2 vote's salt is
/// part of its choice: the same candidate and region under another salt is a different
/// ballot (a conflict), and the marker's digest cannot be searched without the salt.
pub fn choice_of(
    election_id: &str,
    vote_id: &str,
    candidate_id: &str,
    region_id: &str,
    salt: Option<&str>,
) -> Choice {
    let mut h = Sha256::new();
    let parts = [
        "votechain/choice/v1",
        election_id,
        vote_id,
        candidate_id,
        region_id,
    ];
    for part in parts.into_iter().chain(salt) {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize()[..16].try_into().expect("16 of 32 bytes")
}

/// The [`Choice`] of an event.
pub fn choice_of_event(ev: &VoteEvent) -> Choice {
    choice_of(
        &ev.election_id,
        &ev.vote_id,
        &ev.candidate_id,
        &ev.region_id,
        ev.salt.as_deref(),
    )
}

/// The [`Choice`] of a chained vote (as its marker records it).
pub fn choice_of_item(v: &VoteItem) -> Choice {
    let salt = v.salt.map(hex::encode);
    choice_of(
        &v.election_id,
        &v.vote_id,
        &v.candidate_id,
        &v.region_id,
        salt.as_deref(),
    )
}

/// vote_ids known to be chained before a batch, with their choice when known (`None`: a
/// marker written before choices were recorded; a re-submission then counts as a
/// duplicate, never as a conflict).
pub type Chained = HashMap<(String, String), Option<Choice>>;
/// A bounded FIFO set of 16-byte SHA-256 digests of `(election_id, vote_id)` that this
/// writer has chained. A hit lets a resubmission skip without a failed transaction; a miss
/// proves nothing (the marker condition catches it). A false hit would drop a vote, which
/// needs a 128-bit collision of SHA-256: about 1e-21 for a billion votes.
#[derive(Debug, Default)]
pub struct RecentIds {
    max: usize,
    set: HashMap<[u8; 16], Choice>,
    order: std::collections::VecDeque<[u8; 16]>,
}

impl RecentIds {
    pub fn new(max: usize) -> RecentIds {
        RecentIds {
            max,
            ..Default::default()
        }
    }
    fn digest(election_id: &str, vote_id: &str) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(election_id.as_bytes());
        h.update([0]);
        h.update(vote_id.as_bytes());
        h.finalize()[..16].try_into().expect("16 of 32 bytes")
    }
    pub fn contains(&self, election_id: &str, vote_id: &str) -> bool {
        self.get(election_id, vote_id).is_some()
    }
    /// The choice the vote_id was chained with, if this writer remembers it.
    pub fn get(&self, election_id: &str, vote_id: &str) -> Option<Choice> {
        if self.max == 0 {
            return None;
        }
        self.set.get(&Self::digest(election_id, vote_id)).copied()
    }
    /// Remembers a chained vote_id and its choice, forgetting the oldest beyond `max`.
    pub fn insert(&mut self, election_id: &str, vote_id: &str, choice: Choice) {
        if self.max == 0 {
            return;
        }
        let d = Self::digest(election_id, vote_id);
        if self.set.insert(d, choice).is_none() {
            self.order.push_back(d);
            while self.order.len() > self.max {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
    pub fn len(&self) -> usize {
        self.order.len()
    }
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// vote_ids that come with more than one choice in this batch and are not in `already`:
/// before planning, the writer reads their markers, so that a conflict is only ever
/// declared against a ballot known to be the first (chained before, or first in a batch
/// whose vote_id was chained nowhere). A declared conflict then never changes when the
/// batch is planned again, and can be dead-lettered before the transaction.
pub fn contested(accepted: &[(i64, VoteEvent)], already: &Chained) -> Vec<(String, String)> {
    let mut choices: HashMap<(&str, &str), Choice> = HashMap::new();
    let mut out: Vec<(String, String)> = Vec::new();
    for (_, ev) in accepted {
        let key = (ev.election_id.clone(), ev.vote_id.clone());
        if already.contains_key(&key) || out.contains(&key) {
            continue;
        }
        let first = *choices
            .entry((&ev.election_id, &ev.vote_id))
            .or_insert_with(|| choice_of_event(ev));
        if first != choice_of_event(ev) {
            out.push(key);
        }
    }
    out
}

/// What a cancelled append says about its own actions (one vote item and one marker per
/// vote, then the checkpoint), from DynamoDB's cancellation reasons.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// Some vote_id markers exist (duplicates) and the checkpoint condition held.
    Duplicates,
    /// The checkpoint moved (fenced, or our own earlier attempt landed), or the reasons do
    /// not say: re-read the checkpoint to know.
    Checkpoint,
}

/// Reads the cancellation reasons of an append of `votes` votes. Pure.
pub fn read_cancellation(codes: &[String], votes: usize) -> Cancelled {
    let failed = |c: &String| c == "ConditionalCheckFailed";
    if codes.len() != votes * 2 + 1 || failed(&codes[votes * 2]) {
        return Cancelled::Checkpoint;
    }
    let marker_failed = (0..votes).any(|i| failed(&codes[2 * i + 1]));
    if marker_failed {
        Cancelled::Duplicates
    } else {
        Cancelled::Checkpoint
    }
}

/// The DynamoDB writes one batch amounts to, computed without I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Vote items with their election's chain count.
    pub votes: Vec<(VoteItem, u32)>,
    pub duplicates: u64,
    /// Offsets of records whose vote_id was chained with another choice: to dead-letter.
    pub conflicts: Vec<i64>,
    /// Tips after the batch, for the chains it touched.
    pub tips: HashMap<ChainKey, Tip>,
    pub next_offset: i64,
}

/// Links a batch of accepted events onto the current tips. Pure: same input, same plan.
/// `already` holds the vote_ids chained before this batch; a vote_id seen again (there or
/// earlier in the batch) chains nothing: a duplicate with the same choice, a conflict with
/// another one.
pub fn plan_batch(
    tips: &HashMap<ChainKey, Tip>,
    accepted: &[(i64, VoteEvent)],
    already: &Chained,
    registry: &Registry,
    topic: &str,
    partition: i32,
    last_offset: i64,
) -> Plan {
    let mut new_tips: HashMap<ChainKey, Tip> = HashMap::new();
    let mut seen: HashMap<(&str, &str), Choice> = HashMap::new();
    let mut votes = Vec::new();
    let (mut duplicates, mut conflicts) = (0, Vec::new());
    for (offset, ev) in accepted {
        let choice = choice_of_event(ev);
        let before = already
            .get(&(ev.election_id.clone(), ev.vote_id.clone()))
            .copied()
            .or_else(|| {
                seen.get(&(ev.election_id.as_str(), ev.vote_id.as_str()))
                    .map(|c| Some(*c))
            });
        match before {
            Some(Some(c)) if c != choice => conflicts.push(*offset),
            Some(_) => duplicates += 1,
            None => {
                seen.insert((&ev.election_id, &ev.vote_id), choice);
            }
        }
        if before.is_some() {
            continue;
        }
        let key = (ev.election_id.clone(), ev.chain);
        let election = registry.get(&ev.election_id);
        let tip = new_tips
            .get(&key)
            .or_else(|| tips.get(&key))
            .copied()
            .or_else(|| election.map(|e| e.tip0(ev.chain)))
            .unwrap_or_else(|| Tip::genesis(&ev.election_id, ev.chain));
        let chains = election.map(|e| e.chains).unwrap_or(1);
        let mut item = VoteItem {
            election_id: ev.election_id.clone(),
            chain: ev.chain,
            seq: tip.seq + 1,
            vote_id: ev.vote_id.clone(),
            candidate_id: ev.candidate_id.clone(),
            region_id: ev.region_id.clone(),
            cast_at_ms: ev.cast_at_ms,
            // Accepted events of a v2 election carry a valid salt (`accept_event`).
            salt: ev.salt_bytes(),
            prev_hash: tip.hash,
            hash: [0; 32],
            kafka_topic: topic.to_string(),
            kafka_partition: partition,
            kafka_offset: *offset,
        };
        item.hash = item.hash_on(&tip.hash);
        new_tips.insert(
            key,
            Tip {
                seq: item.seq,
                hash: item.hash,
            },
        );
        votes.push((item, chains));
    }
    Plan {
        votes,
        duplicates,
        conflicts,
        tips: new_tips,
        next_offset: last_offset + 1,
    }
}

/// The idempotency token of one append: the same writer retrying the same offsets sends
/// the same token, so DynamoDB applies the transaction at most once.
/// `attempt` counts re-plans of the same offsets (after duplicates were found): a re-plan
/// is a different transaction and must not reuse the token.
pub fn request_token(
    writer_id: &str,
    partition: i32,
    first: i64,
    next: i64,
    attempt: u32,
) -> String {
    let d = Sha256::digest(format!("{writer_id}/{partition}/{first}/{next}/{attempt}"));
    hex::encode(&d[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain;
    use crate::model::Election;

    fn reg() -> Registry {
        Registry::new([Election::v1("e", &["a"], &["r"], 1)])
    }

    fn ev(n: u32) -> VoteEvent {
        VoteEvent {
            v: 1,
            election_id: "e".into(),
            chain: 0,
            vote_id: format!("00000000-0000-4000-8000-{n:012}"),
            candidate_id: "a".into(),
            region_id: "r".into(),
            cast_at_ms: n as i64,
            salt: None,
        }
    }

    #[test]
    fn a_plan_links_in_order_and_skips_duplicates() {
        let accepted = vec![(10, ev(1)), (11, ev(2)), (12, ev(1)), (13, ev(3))];
        let already = Chained::from([(
            ("e".to_string(), ev(3).vote_id),
            Some(choice_of_event(&ev(3))),
        )]);
        let plan = plan_batch(&HashMap::new(), &accepted, &already, &reg(), "votes", 0, 13);
        assert_eq!(plan.duplicates, 2);
        assert!(plan.conflicts.is_empty());
        assert_eq!(plan.next_offset, 14);
        let seqs: Vec<u64> = plan.votes.iter().map(|(v, _)| v.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        assert_eq!(plan.votes[0].0.prev_hash, chain::genesis("e", 0));
        assert_eq!(plan.votes[1].0.prev_hash, plan.votes[0].0.hash);
        assert_eq!(plan.votes[1].0.kafka_offset, 11);
        assert_eq!(plan.tips[&("e".to_string(), 0)].hash, plan.votes[1].0.hash);
    }

    #[test]
    fn a_plan_continues_from_the_given_tip_and_is_deterministic() {
        let tip = Tip {
            seq: 41,
            hash: [7; 32],
        };
        let tips = HashMap::from([(("e".to_string(), 0), tip)]);
        let a = plan_batch(&tips, &[(5, ev(9))], &Chained::new(), &reg(), "votes", 3, 5);
        let b = plan_batch(&tips, &[(5, ev(9))], &Chained::new(), &reg(), "votes", 3, 5);
        assert_eq!(a, b);
        assert_eq!(a.votes[0].0.seq, 42);
        assert_eq!(a.votes[0].0.prev_hash, [7; 32]);
    }

    fn choosing(n: u32, candidate: &str) -> VoteEvent {
        VoteEvent {
            candidate_id: candidate.into(),
            ..ev(n)
        }
    }

    #[test]
    fn another_choice_under_a_chained_vote_id_is_a_conflict_not_a_duplicate() {
        // In the batch: the first submission is chained, a different ballot is a conflict,
        // a retry of the first is a duplicate.
        let accepted = vec![
            (1, choosing(1, "a")),
            (2, choosing(1, "b")),
            (3, choosing(1, "a")),
        ];
        let plan = plan_batch(
            &HashMap::new(),
            &accepted,
            &Chained::new(),
            &reg(),
            "votes",
            0,
            3,
        );
        assert_eq!(
            (plan.votes.len(), plan.duplicates, plan.conflicts.clone()),
            (1, 1, vec![2])
        );
        assert_eq!(
            plan.votes[0].0.candidate_id, "a",
            "the first submission wins"
        );
        // Chained before the batch, with its choice known: the same rules.
        let before = Chained::from([(
            ("e".to_string(), ev(1).vote_id),
            Some(choice_of_event(&choosing(1, "a"))),
        )]);
        let plan = plan_batch(
            &HashMap::new(),
            &[(7, choosing(1, "b")), (8, choosing(1, "a"))],
            &before,
            &reg(),
            "votes",
            0,
            8,
        );
        assert_eq!(
            (plan.votes.len(), plan.duplicates, plan.conflicts),
            (0, 1, vec![7])
        );
        // A marker without a recorded choice: never a conflict.
        let legacy = Chained::from([(("e".to_string(), ev(1).vote_id), None)]);
        let plan = plan_batch(
            &HashMap::new(),
            &[(9, choosing(1, "b"))],
            &legacy,
            &reg(),
            "votes",
            0,
            9,
        );
        assert_eq!((plan.duplicates, plan.conflicts.len()), (1, 0));
    }

    #[test]
    fn only_vote_ids_with_two_choices_in_the_batch_and_unknown_before_are_contested() {
        let batch = vec![
            (1, choosing(1, "a")),
            (2, choosing(1, "a")),
            (3, choosing(2, "a")),
            (4, choosing(2, "b")),
            (5, choosing(2, "b")),
            (6, choosing(3, "a")),
            (7, choosing(3, "b")),
        ];
        let known = Chained::from([(("e".to_string(), ev(3).vote_id), None)]);
        assert_eq!(
            contested(&batch, &known),
            vec![("e".to_string(), ev(2).vote_id)]
        );
    }

    #[test]
    fn a_choice_binds_every_field_and_the_vote_id() {
        let base = choice_of("e", "v1", "alice", "north", None);
        assert_eq!(base, choice_of("e", "v1", "alice", "north", None));
        for other in [
            choice_of("f", "v1", "alice", "north", None),
            choice_of("e", "v2", "alice", "north", None),
            choice_of("e", "v1", "bob", "north", None),
            choice_of("e", "v1", "alice", "south", None),
            choice_of("e", "v1", "alicen", "orth", None),
            choice_of("e", "v1", "alice", "north", Some("00")),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn a_v2_plan_links_salted_votes_on_the_manifest_genesis() {
        let digest = [9u8; 32];
        let mut e = Election::v1("e", &["a"], &["r"], 1);
        e.rule = chain::Rule::V2 {
            manifest_digest: digest,
        };
        let registry = Registry::new([e]);
        let salted = |n: u32, salt: u8| VoteEvent {
            v: crate::model::VOTE_EVENT_SALTED,
            salt: Some(hex::encode([salt; 32])),
            ..ev(n)
        };
        let accepted = vec![(1, salted(1, 1)), (2, salted(2, 2)), (3, salted(1, 3))];
        let plan = plan_batch(
            &HashMap::new(),
            &accepted,
            &Chained::new(),
            &registry,
            "t",
            0,
            3,
        );
        let (first, second) = (&plan.votes[0].0, &plan.votes[1].0);
        assert_eq!(first.prev_hash, chain::genesis_v2("e", 0, &digest));
        assert_eq!(first.salt, Some([1; 32]));
        assert_eq!(
            first.hash,
            chain::vote_hash_v2(&first.fields(), &[1; 32], &first.prev_hash)
        );
        assert_eq!(second.prev_hash, first.hash);
        // The same vote_id and choice under another salt is another ballot.
        assert_eq!((plan.conflicts.clone(), plan.duplicates), (vec![3], 0));
    }

    #[test]
    fn request_tokens_differ_by_incarnation_and_range() {
        let t = request_token("w1", 0, 1, 5, 0);
        assert_eq!(t.len(), 32);
        assert_eq!(t, request_token("w1", 0, 1, 5, 0));
        assert_ne!(t, request_token("w2", 0, 1, 5, 0));
        assert_ne!(t, request_token("w1", 0, 1, 6, 0));
        assert_ne!(
            t,
            request_token("w1", 0, 1, 5, 1),
            "a re-plan is another transaction"
        );
    }

    #[test]
    fn recent_ids_remember_the_newest_and_forget_the_oldest() {
        let mut r = RecentIds::new(2);
        r.insert("e", "a", [1; 16]);
        r.insert("e", "b", [2; 16]);
        r.insert("e", "b", [2; 16]);
        assert_eq!(r.len(), 2);
        assert!(r.contains("e", "a") && r.contains("e", "b"));
        assert_eq!(r.get("e", "b"), Some([2; 16]), "with its choice");
        assert!(!r.contains("f", "a"), "keyed by election too");
        r.insert("e", "c", [3; 16]);
        assert!(!r.contains("e", "a") && r.contains("e", "b") && r.contains("e", "c"));
        let mut off = RecentIds::new(0);
        off.insert("e", "a", [1; 16]);
        assert!(!off.contains("e", "a") && off.is_empty());
    }

    fn codes(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cancellation_reasons_tell_duplicates_from_a_moved_checkpoint() {
        const F: &str = "ConditionalCheckFailed";
        // 2 votes: [item, marker, item, marker, checkpoint]
        assert_eq!(
            read_cancellation(&codes(&["None", "None", "None", F, "None"]), 2),
            Cancelled::Duplicates
        );
        assert_eq!(
            read_cancellation(&codes(&["None", F, "None", F, F]), 2),
            Cancelled::Checkpoint
        );
        assert_eq!(
            read_cancellation(&codes(&[F, F, F, F, F]), 2),
            Cancelled::Checkpoint,
            "our own landed attempt"
        );
        assert_eq!(
            read_cancellation(&codes(&[F, "None", "None", "None", "None"]), 2),
            Cancelled::Checkpoint,
            "a seq taken: not a duplicate"
        );
        assert_eq!(
            read_cancellation(&codes(&["None", F]), 2),
            Cancelled::Checkpoint,
            "reasons that do not match the request"
        );
    }
}
