//! The vote domain: identifiers, the HTTP request body, the events on Kafka, and the
//! one acceptance rule every consumer of the `votes` topic applies.
//!
//! [`accept_event`] is the single place that decides whether a record on `votes` is a
//! vote that may be chained. The ChainWriter uses it, and so does every recount or
//! replay, so the ledger and any rebuild agree by construction.

use crate::chain::{Hash, Rule, Salt, Tip, VoteFields, salt_from_hex};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Version tag of an unsalted [`VoteEvent`] (a v1 election's vote). Bump only with a
/// reader for the old one.
pub const VOTE_EVENT_VERSION: u32 = 1;
/// Version tag of a salted [`VoteEvent`] (a v2 election's vote: it carries `salt`).
pub const VOTE_EVENT_SALTED: u32 = 2;

/// `election_id`, `candidate_id`, `region_id`: 1–64 characters of `[A-Za-z0-9._-]`.
pub fn is_valid_ident(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// True for a version-4 (random) UUID, the only kind a v2 election accepts: other versions
/// embed a time or a name, which could link a ballot to its device or moment.
pub fn is_v4_vote_id(s: &str) -> bool {
    is_valid_vote_id(s) && uuid::Uuid::try_parse(s).is_ok_and(|u| u.get_version_num() == 4)
}

/// `vote_id`: a UUID in canonical lowercase text form (36 characters).
pub fn is_valid_vote_id(s: &str) -> bool {
    s.len() == 36
        && !s.bytes().any(|b| b.is_ascii_uppercase())
        && uuid::Uuid::try_parse(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

/// The body of `POST /v1/elections/{id}/votes`. Unknown fields are refused: a client that
/// sends fields we do not read has a bug we want it to hear about.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteRequest {
    pub vote_id: String,
    pub candidate_id: String,
    pub region_id: String,
    /// v2 elections: 64 lowercase hex characters (32 bytes). Absent: ingest draws one.
    #[serde(default)]
    pub salt: Option<String>,
}

/// One election as every role knows it: from its stored manifest (v2), or for chains cast
/// before manifests existed, from the config (v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Election {
    pub id: String,
    pub candidates: BTreeSet<String>,
    pub regions: BTreeSet<String>,
    /// Number of hash chains the election is split into.
    pub chains: u32,
    /// v1 only: a closed election refuses new votes (422) but stays readable and
    /// verifiable. A v2 election's window is in `terms`.
    pub open: bool,
    /// The hash rule of its chains, with the manifest digest for v2.
    pub rule: Rule,
    /// v2: the voting window `[opens_at_ms, closes_at_ms)`.
    pub window: Option<(i64, i64)>,
    /// v2: the transparency log's origin and the key that signs its checkpoints.
    pub log: Option<LogKey>,
}

/// An election's log: chain `c`'s origin is `{origin}/{c}`; `public_key` signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey {
    pub origin: String,
    pub public_key: [u8; 32],
    /// The manifest's witness policy (contract v2.1); the default (none) for a manifest
    /// that names none: its checkpoints are published once signed.
    pub witnesses: crate::checkpoint::WitnessPolicy,
}

/// Where a time stands against an election's voting window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    NotOpen,
    Open,
    Closed,
}

impl Election {
    /// A v1 election (config-defined, unsalted, open).
    pub fn v1(id: &str, candidates: &[&str], regions: &[&str], chains: u32) -> Election {
        Election {
            id: id.into(),
            candidates: candidates.iter().map(|s| s.to_string()).collect(),
            regions: regions.iter().map(|s| s.to_string()).collect(),
            chains,
            open: true,
            rule: Rule::V1,
            window: None,
            log: None,
        }
    }
    /// The tip of an empty chain of this election.
    pub fn tip0(&self, chain: u32) -> Tip {
        self.rule.tip0(&self.id, chain)
    }
    /// True when its votes carry a salt (v2).
    pub fn salted(&self) -> bool {
        self.rule.salted()
    }
    /// Where `at_ms` stands against the voting window (always `Open` without one).
    pub fn window_at(&self, at_ms: i64) -> Window {
        match self.window {
            Some((opens, _)) if at_ms < opens => Window::NotOpen,
            Some((_, closes)) if at_ms >= closes => Window::Closed,
            _ => Window::Open,
        }
    }
}

/// All elections by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    elections: BTreeMap<String, Election>,
}

impl Registry {
    pub fn new(elections: impl IntoIterator<Item = Election>) -> Registry {
        Registry {
            elections: elections.into_iter().map(|e| (e.id.clone(), e)).collect(),
        }
    }
    pub fn get(&self, id: &str) -> Option<&Election> {
        self.elections.get(id)
    }
    pub fn iter(&self) -> impl Iterator<Item = &Election> {
        self.elections.values()
    }
}

/// Why a request or an event is refused. The HTTP layer maps these to 400 / 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("{0}")]
    BadField(String),
    #[error("unknown election '{0}'")]
    UnknownElection(String),
    #[error("election '{0}' is closed")]
    ElectionClosed(String),
    #[error("election '{0}' is not open yet")]
    ElectionNotOpen(String),
    /// A record on `votes` cast outside its election's window (never accepted by ingest).
    #[error("vote cast outside election '{0}''s voting window")]
    OutsideWindow(String),
    #[error("unknown candidate '{0}'")]
    UnknownCandidate(String),
    #[error("unknown region '{0}'")]
    UnknownRegion(String),
    #[error("undecodable event: {0}")]
    Undecodable(String),
    #[error("vote routed to chain {got} but belongs on chain {want}")]
    WrongChain { got: u32, want: u32 },
    /// Found when linking, not by [`accept_event`]: the vote_id was chained with another
    /// choice (see `linking`). The message never names the choice.
    #[error("vote_id {0} is already chained with another choice (conflicting ballot)")]
    Conflict(String),
    /// Found by the writer, not by [`accept_event`]: the record is on another partition
    /// than its chain's ([`partition_of`]), so another writer may chain the same chain.
    #[error("a record of partition {want} found on partition {got}")]
    WrongPartition { got: i32, want: i32 },
    /// Found by the writer, not by [`accept_event`]: the record on `votes` carries no valid
    /// ingest signature (`provenance`): it did not come through ingest.
    #[error("no valid ingest signature: {0}")]
    Unauthenticated(String),
}

impl Invalid {
    /// A stable, bounded label for metrics and dead-letter headers.
    pub fn kind(&self) -> &'static str {
        match self {
            Invalid::BadField(_) => "bad_field",
            Invalid::UnknownElection(_) => "unknown_election",
            Invalid::ElectionClosed(_) => "election_closed",
            Invalid::ElectionNotOpen(_) => "election_not_open",
            Invalid::OutsideWindow(_) => "outside_window",
            Invalid::UnknownCandidate(_) => "unknown_candidate",
            Invalid::UnknownRegion(_) => "unknown_region",
            Invalid::Undecodable(_) => "undecodable",
            Invalid::WrongChain { .. } => "wrong_chain",
            Invalid::Conflict(_) => "conflict",
            Invalid::Unauthenticated(_) => "unauthenticated",
            Invalid::WrongPartition { .. } => "wrong_partition",
        }
    }
    /// True when the input is well-formed but refers to something that does not exist (422).
    pub fn is_unprocessable(&self) -> bool {
        !matches!(self, Invalid::BadField(_) | Invalid::Undecodable(_))
    }
}

/// Checks a request body's fields and that the choice exists in an election open at
/// `now_ms`. A v2 election takes only version-4 vote_ids and a well-formed salt if given.
pub fn validate_request(
    reg: &Registry,
    election_id: &str,
    req: &VoteRequest,
    now_ms: i64,
) -> Result<(), Invalid> {
    if !is_valid_ident(election_id) {
        return Err(Invalid::BadField(
            "election_id must be 1-64 characters of [A-Za-z0-9._-]".into(),
        ));
    }
    if !is_valid_vote_id(&req.vote_id) {
        return Err(Invalid::BadField(
            "vote_id must be a canonical lowercase UUID".into(),
        ));
    }
    for (name, v) in [
        ("candidate_id", &req.candidate_id),
        ("region_id", &req.region_id),
    ] {
        if !is_valid_ident(v) {
            return Err(Invalid::BadField(format!(
                "{name} must be 1-64 characters of [A-Za-z0-9._-]"
            )));
        }
    }
    if req
        .salt
        .as_deref()
        .is_some_and(|s| salt_from_hex(s).is_none())
    {
        return Err(Invalid::BadField(
            "salt must be 64 lowercase hex characters (32 bytes)".into(),
        ));
    }
    let e = reg
        .get(election_id)
        .ok_or_else(|| Invalid::UnknownElection(election_id.into()))?;
    if e.salted() && !is_v4_vote_id(&req.vote_id) {
        return Err(Invalid::BadField(
            "vote_id must be a version-4 (random) UUID".into(),
        ));
    }
    if !e.salted() && req.salt.is_some() {
        return Err(Invalid::BadField(format!(
            "election '{election_id}' is a v1 election: it takes no salt"
        )));
    }
    match e.window_at(now_ms) {
        Window::NotOpen => return Err(Invalid::ElectionNotOpen(election_id.into())),
        Window::Closed => return Err(Invalid::ElectionClosed(election_id.into())),
        Window::Open if !e.open => return Err(Invalid::ElectionClosed(election_id.into())),
        Window::Open => {}
    }
    check_choice(e, &req.candidate_id, &req.region_id)
}

fn check_choice(e: &Election, candidate: &str, region: &str) -> Result<(), Invalid> {
    if !e.candidates.contains(candidate) {
        return Err(Invalid::UnknownCandidate(candidate.into()));
    }
    if !e.regions.contains(region) {
        return Err(Invalid::UnknownRegion(region.into()));
    }
    Ok(())
}

/// The record on the `votes` topic. No client id, no address: the ballot is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteEvent {
    pub v: u32,
    pub election_id: String,
    pub chain: u32,
    pub vote_id: String,
    pub candidate_id: String,
    pub region_id: String,
    pub cast_at_ms: i64,
    /// v2 (`v` = 2): the vote's salt, 64 lowercase hex. Absent in v1 events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
}

impl VoteEvent {
    /// The raw salt, when the event carries a well-formed one.
    pub fn salt_bytes(&self) -> Option<Salt> {
        self.salt.as_deref().and_then(salt_from_hex)
    }
    /// The Kafka key: all votes of one chain share it, so one chain lives in one partition.
    pub fn kafka_key(&self) -> String {
        kafka_key(&self.election_id, self.chain)
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("VoteEvent serializes")
    }
}

/// `"{election_id}#{chain}"`.
pub fn kafka_key(election_id: &str, chain: u32) -> String {
    format!("{election_id}#{chain}")
}

/// The partition of `votes` (and `vote-audit`) a chain's records go to: the first four
/// bytes of SHA-256 of its Kafka key, modulo the partitions the config names, not the
/// topic's current count, so partitions added to a live topic move no chain. Ingest
/// produces to it; a writer dead-letters a record found elsewhere (`wrong_partition`).
pub fn partition_of(election_id: &str, chain: u32, partitions: u32) -> i32 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(kafka_key(election_id, chain).as_bytes());
    (u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % partitions.max(1)) as i32
}

/// Version tag of [`AuditEvent`]. Version 1 also carried a SHA-256 of the vote event,
/// which anyone could match against the few possible choices (contract v2, "Audit topic").
pub const AUDIT_EVENT_VERSION: u32 = 2;

/// The record on the `vote-audit` topic: which client submitted which vote_id, in which
/// request, when. Nothing in it is computed from the choice, so it reveals none: two
/// submissions that differ only in their choice have identical audit events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    pub v: u32,
    pub election_id: String,
    pub vote_id: String,
    pub client_id: String,
    /// Generated by the server for this request; never copied from the client.
    pub request_id: String,
    pub received_at_ms: i64,
}

impl AuditEvent {
    pub fn for_vote(ev: &VoteEvent, client_id: &str, request_id: &str) -> AuditEvent {
        AuditEvent {
            v: AUDIT_EVENT_VERSION,
            election_id: ev.election_id.clone(),
            vote_id: ev.vote_id.clone(),
            client_id: client_id.into(),
            request_id: request_id.into(),
            received_at_ms: ev.cast_at_ms,
        }
    }
}

/// THE acceptance rule for a record read from `votes`: decodes it and checks it against the
/// registry exactly as ingest did (a closed election still accepts votes already in the log:
/// they were acknowledged while it was open). `Err` means dead-letter, never drop.
pub fn accept_event(reg: &Registry, payload: &[u8]) -> Result<VoteEvent, Invalid> {
    let ev: VoteEvent =
        serde_json::from_slice(payload).map_err(|e| Invalid::Undecodable(e.to_string()))?;
    if ev.v != VOTE_EVENT_VERSION && ev.v != VOTE_EVENT_SALTED {
        return Err(Invalid::Undecodable(format!(
            "unsupported event version {}",
            ev.v
        )));
    }
    if !is_valid_ident(&ev.election_id) || !is_valid_vote_id(&ev.vote_id) {
        return Err(Invalid::BadField("malformed identifier in event".into()));
    }
    let e = reg
        .get(&ev.election_id)
        .ok_or_else(|| Invalid::UnknownElection(ev.election_id.clone()))?;
    check_event_rule(e, &ev)?;
    check_choice(e, &ev.candidate_id, &ev.region_id)?;
    let want = crate::chain::chain_of(&ev.vote_id, e.chains);
    if ev.chain != want {
        return Err(Invalid::WrongChain {
            got: ev.chain,
            want,
        });
    }
    Ok(ev)
}

/// A v2 election's events are salted (`v` = 2, a valid salt, a version-4 vote_id) and cast
/// inside the window; a v1 election's are unsalted (`v` = 1).
fn check_event_rule(e: &Election, ev: &VoteEvent) -> Result<(), Invalid> {
    if !e.salted() {
        return match (ev.v, &ev.salt) {
            (VOTE_EVENT_VERSION, None) => Ok(()),
            _ => Err(Invalid::BadField("salted event for a v1 election".into())),
        };
    }
    if ev.v != VOTE_EVENT_SALTED || ev.salt_bytes().is_none() {
        return Err(Invalid::BadField(
            "a v2 election's event needs v = 2 and a 64-hex salt".into(),
        ));
    }
    if !is_v4_vote_id(&ev.vote_id) {
        return Err(Invalid::BadField("vote_id is not a version-4 UUID".into()));
    }
    if e.window_at(ev.cast_at_ms) != Window::Open {
        return Err(Invalid::OutsideWindow(ev.election_id.clone()));
    }
    Ok(())
}

/// A vote as stored in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteItem {
    pub election_id: String,
    pub chain: u32,
    pub seq: u64,
    pub vote_id: String,
    pub candidate_id: String,
    pub region_id: String,
    pub cast_at_ms: i64,
    /// v2 votes: the salt (stored as `salt`, with `hash_v` = 2). `None`: a v1 vote.
    pub salt: Option<Salt>,
    pub prev_hash: Hash,
    pub hash: Hash,
    pub kafka_topic: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
}

impl VoteItem {
    pub fn fields(&self) -> VoteFields<'_> {
        VoteFields {
            election_id: &self.election_id,
            chain: self.chain,
            seq: self.seq,
            vote_id: &self.vote_id,
            candidate_id: &self.candidate_id,
            region_id: &self.region_id,
            cast_at_ms: self.cast_at_ms,
        }
    }
    /// The vote's hash on `prev`, under v2 when it has a salt, else v1.
    pub fn hash_on(&self, prev: &Hash) -> Hash {
        crate::chain::hash_of(&self.fields(), self.salt.as_ref(), prev)
    }
    /// The `hash_v` attribute: 2 for a salted vote, 1 otherwise.
    pub fn hash_v(&self) -> u8 {
        if self.salt.is_some() { 2 } else { 1 }
    }
}

/// `ELECTION#{e}` for a one-chain election, `ELECTION#{e}#{chain}` otherwise.
pub fn chain_pk(election_id: &str, chain: u32, chains: u32) -> String {
    if chains <= 1 {
        format!("ELECTION#{election_id}")
    } else {
        format!("ELECTION#{election_id}#{chain}")
    }
}

/// `VOTE#` and `seq` zero-padded to 20 digits, so string order is seq order.
pub fn vote_sk(seq: u64) -> String {
    format!("VOTE#{seq:020}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chains_partition_is_pinned_and_ignores_the_topics_count() {
        // Pinned: changing the function would move every chain to another partition.
        // SHA-256("demo-2026#0")[..4] as a big-endian u32, modulo the partitions.
        assert_eq!(partition_of("demo-2026", 0, 4), 1);
        assert_eq!(partition_of("demo-2026", 0, 12), 9);
        assert_eq!(partition_of("e", 3, 8), 5);
        assert_eq!(partition_of("e", 3, 1), 0);
        assert_eq!(
            partition_of("e", 3, 0),
            0,
            "no partitions configured: 0, not a panic"
        );
        for c in 0..64 {
            assert!((0..12).contains(&partition_of("e", c, 12)));
        }
    }

    fn reg() -> Registry {
        Registry::new([Election::v1("demo-2026", &["alice", "bob"], &["north"], 1)])
    }
    const VID: &str = "6f1c2a4e-0000-4000-8000-000000000001";

    fn req(c: &str, r: &str) -> VoteRequest {
        VoteRequest {
            vote_id: VID.into(),
            candidate_id: c.into(),
            region_id: r.into(),
            salt: None,
        }
    }

    #[test]
    fn identifiers() {
        assert!(is_valid_ident("demo-2026") && is_valid_ident("a.b_c"));
        assert!(!is_valid_ident("") && !is_valid_ident("a b") && !is_valid_ident(&"x".repeat(65)));
        assert!(is_valid_vote_id(VID));
        assert!(!is_valid_vote_id(&VID.to_uppercase()));
        assert!(!is_valid_vote_id("6f1c2a4e00004000800000000000000000001"));
        assert!(!is_valid_vote_id("{6f1c2a4e-0000-4000-8000-00000000001}"));
    }

    #[test]
    fn request_validation_maps_to_the_right_error() {
        let r = reg();
        assert_eq!(
            validate_request(&r, "demo-2026", &req("alice", "north"), 0),
            Ok(())
        );
        assert!(matches!(
            validate_request(&r, "nope", &req("alice", "north"), 0),
            Err(Invalid::UnknownElection(_))
        ));
        assert!(matches!(
            validate_request(&r, "demo-2026", &req("zed", "north"), 0),
            Err(Invalid::UnknownCandidate(_))
        ));
        assert!(matches!(
            validate_request(&r, "demo-2026", &req("alice", "south"), 0),
            Err(Invalid::UnknownRegion(_))
        ));
        let e = validate_request(&r, "demo-2026", &req("al ice", "north"), 0).unwrap_err();
        assert!(!e.is_unprocessable());
    }

    #[test]
    fn acceptance_rule_round_trips_and_dead_letters() {
        let r = reg();
        let ev = VoteEvent {
            v: 1,
            election_id: "demo-2026".into(),
            chain: 0,
            vote_id: VID.into(),
            candidate_id: "bob".into(),
            region_id: "north".into(),
            cast_at_ms: 5,
            salt: None,
        };
        assert_eq!(accept_event(&r, &ev.to_bytes()), Ok(ev.clone()));
        assert_eq!(
            accept_event(&r, b"{not json").unwrap_err().kind(),
            "undecodable"
        );
        let wrong = VoteEvent {
            chain: 3,
            ..ev.clone()
        };
        assert_eq!(
            accept_event(&r, &wrong.to_bytes()).unwrap_err().kind(),
            "wrong_chain"
        );
        let ghost = VoteEvent {
            candidate_id: "mallory".into(),
            ..ev
        };
        assert_eq!(
            accept_event(&r, &ghost.to_bytes()).unwrap_err().kind(),
            "unknown_candidate"
        );
    }

    #[test]
    fn audit_event_never_carries_the_choice() {
        let ev = VoteEvent {
            v: 1,
            election_id: "demo-2026".into(),
            chain: 0,
            vote_id: VID.into(),
            candidate_id: "alice".into(),
            region_id: "north".into(),
            cast_at_ms: 5,
            salt: None,
        };
        let a = serde_json::to_string(&AuditEvent::for_vote(&ev, "client-1", "req-1")).unwrap();
        assert!(!a.contains("alice") && !a.contains("north"));
        // Nothing derived from the choice either: another choice, the same audit bytes.
        let other = VoteEvent {
            candidate_id: "bob".into(),
            region_id: "south".into(),
            ..ev
        };
        let b = serde_json::to_string(&AuditEvent::for_vote(&other, "client-1", "req-1")).unwrap();
        assert_eq!(a, b);
    }

    fn v2_reg() -> Registry {
        let mut e = Election::v1("v2e", &["alice", "bob"], &["north"], 2);
        e.rule = Rule::V2 {
            manifest_digest: [7; 32],
        };
        e.window = Some((100, 200));
        Registry::new([e])
    }
    const SALT: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn a_v2_request_needs_a_v4_id_a_good_salt_and_the_window() {
        let r = v2_reg();
        let mut q = req("alice", "north");
        q.salt = Some(SALT.into());
        assert_eq!(validate_request(&r, "v2e", &q, 150), Ok(()));
        let kind = |q: &VoteRequest, at| validate_request(&r, "v2e", q, at).unwrap_err().kind();
        assert_eq!(kind(&q, 99), "election_not_open");
        assert_eq!(kind(&q, 200), "election_closed");
        let mut v1_id = q.clone();
        v1_id.vote_id = "6f1c2a4e-0000-1000-8000-000000000001".into();
        assert_eq!(kind(&v1_id, 150), "bad_field");
        for bad in [&SALT[1..], &SALT.to_uppercase(), "zz"] {
            let mut b = q.clone();
            b.salt = Some(bad.into());
            assert_eq!(kind(&b, 150), "bad_field", "{bad}");
        }
        q.salt = None; // ingest draws one
        assert_eq!(validate_request(&r, "v2e", &q, 150), Ok(()));
        // A v1 election takes no salt.
        let mut s = req("alice", "north");
        s.salt = Some(SALT.into());
        assert_eq!(
            validate_request(&reg(), "demo-2026", &s, 0)
                .unwrap_err()
                .kind(),
            "bad_field"
        );
    }

    #[test]
    fn a_v2_event_is_salted_and_inside_the_window() {
        let r = v2_reg();
        let ev = VoteEvent {
            v: VOTE_EVENT_SALTED,
            election_id: "v2e".into(),
            chain: crate::chain::chain_of(VID, 2),
            vote_id: VID.into(),
            candidate_id: "bob".into(),
            region_id: "north".into(),
            cast_at_ms: 150,
            salt: Some(SALT.into()),
        };
        assert_eq!(accept_event(&r, &ev.to_bytes()), Ok(ev.clone()));
        let kind = |e: &VoteEvent| accept_event(&r, &e.to_bytes()).unwrap_err().kind();
        for at in [99, 200] {
            assert_eq!(
                kind(&VoteEvent {
                    cast_at_ms: at,
                    ..ev.clone()
                }),
                "outside_window"
            );
        }
        assert_eq!(
            kind(&VoteEvent {
                salt: None,
                ..ev.clone()
            }),
            "bad_field"
        );
        assert_eq!(kind(&VoteEvent { v: 1, ..ev.clone() }), "bad_field");
        // A v1 election refuses a salted event.
        let v1 = VoteEvent {
            election_id: "demo-2026".into(),
            chain: 0,
            ..ev
        };
        assert_eq!(
            accept_event(&reg(), &v1.to_bytes()).unwrap_err().kind(),
            "bad_field"
        );
    }
}
