//! The ledger's item layout, exactly as the contract's "DynamoDB write table" says,
//! plus votechain's own item types under other `pk` prefixes:
//!
//! | item | pk | sk | written by |
//! | --- | --- | --- | --- |
//! | vote | `ELECTION#{e}` or `ELECTION#{e}#{chain}` | `VOTE#{seq:020}` | ChainWriter, create-only; v2 votes add `salt` and `hash_v` = 2 |
//! | vote_id marker | `VOTEID#{e}#{vote_id}` | `VOTEID` | ChainWriter, create-only, same transaction as the vote; `chain`, `seq`, `choice` (a digest, see `linking::Choice`) |
//! | partition checkpoint | `CHECKPOINT#{topic}#{partition}` | `CHECKPOINT` | ChainWriter, conditional update |
//! | refused resubmissions | `REFUSED#{e}#{vote_id}` | `REFUSED` | ChainWriter, when it dead-letters another ballot under a chained vote_id: `offsets` (a number set: the Kafka offsets of those records, so a record seen twice counts once), `first_at_ms`, `last_at_ms` (their `cast_at_ms`); never a choice or a salt |
//!
//! The marker makes a vote_id chain at most once per election (its `attribute_not_exists`
//! condition) and maps a vote_id to its receipt. The checkpoint holds the next Kafka
//! offset of the partition; its condition fences a zombie writer.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use votechain_core::chain::{self, Hash};
use votechain_core::linking::Choice;
pub use votechain_core::linking::choice_of_item;
pub use votechain_core::model::{VoteItem, chain_pk, vote_sk};

pub type Item = HashMap<String, AttributeValue>;

pub fn marker_pk(election_id: &str, vote_id: &str) -> String {
    format!("VOTEID#{election_id}#{vote_id}")
}
pub const MARKER_SK: &str = "VOTEID";

pub fn refused_pk(election_id: &str, vote_id: &str) -> String {
    format!("REFUSED#{election_id}#{vote_id}")
}
pub const REFUSED_SK: &str = "REFUSED";

/// Later ballots under a chained vote_id that the writer refused as conflicts: how many,
/// and when ingest received the first and the last of them. Nothing of their choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusals {
    pub count: u64,
    pub first_at_ms: i64,
    pub last_at_ms: i64,
}

pub fn parse_refusals(it: &Item) -> Result<Refusals, ItemError> {
    let r = Reader { it };
    let count = match it.get("offsets") {
        Some(AttributeValue::Ns(v)) => v.len() as u64,
        Some(_) => return Err(r.err("offsets", "is not a number set")),
        None => return Err(r.err("offsets", "is missing")),
    };
    Ok(Refusals {
        count,
        first_at_ms: r.n("first_at_ms")?,
        last_at_ms: r.n("last_at_ms")?,
    })
}

pub fn checkpoint_pk(topic: &str, partition: i32) -> String {
    format!("CHECKPOINT#{topic}#{partition}")
}
pub const CHECKPOINT_SK: &str = "CHECKPOINT";

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The key of any item.
pub fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// The full vote item for `chains` chains in its election.
pub fn vote_item(v: &VoteItem, chains: u32) -> Item {
    let mut it = key(chain_pk(&v.election_id, v.chain, chains), vote_sk(v.seq));
    it.extend([
        ("election_id".into(), s(&v.election_id)),
        ("chain".into(), n(v.chain)),
        ("seq".into(), n(v.seq)),
        ("vote_id".into(), s(&v.vote_id)),
        ("candidate_id".into(), s(&v.candidate_id)),
        ("region_id".into(), s(&v.region_id)),
        ("cast_at_ms".into(), n(v.cast_at_ms)),
        ("prev_hash".into(), s(chain::to_hex(&v.prev_hash))),
        ("hash".into(), s(chain::to_hex(&v.hash))),
        ("kafka_topic".into(), s(&v.kafka_topic)),
        ("kafka_partition".into(), n(v.kafka_partition)),
        ("kafka_offset".into(), n(v.kafka_offset)),
    ]);
    if let Some(salt) = &v.salt {
        it.insert("salt".into(), s(hex::encode(salt)));
        it.insert("hash_v".into(), n(2));
    }
    it
}

/// The vote_id marker: where the vote with this id was chained.
pub fn marker_item(v: &VoteItem) -> Item {
    let mut it = key(marker_pk(&v.election_id, &v.vote_id), MARKER_SK);
    it.extend([
        ("election_id".into(), s(&v.election_id)),
        ("vote_id".into(), s(&v.vote_id)),
        ("chain".into(), n(v.chain)),
        ("seq".into(), n(v.seq)),
        ("choice".into(), s(hex::encode(choice_of_item(v)))),
    ]);
    it
}

/// The choice recorded on a marker; `None` for a marker written before choices were kept.
pub fn marker_choice(it: &Item) -> Option<Choice> {
    let hex_text = it.get("choice")?.as_s().ok()?;
    hex::decode(hex_text).ok()?.try_into().ok()
}

/// Why a stored item could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item {pk}/{sk}: attribute {attr} {problem}")]
pub struct ItemError {
    pub pk: String,
    pub sk: String,
    pub attr: &'static str,
    pub problem: &'static str,
}

struct Reader<'a> {
    it: &'a Item,
}

impl Reader<'_> {
    fn err(&self, attr: &'static str, problem: &'static str) -> ItemError {
        let get = |k: &str| {
            self.it
                .get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        ItemError {
            pk: get("pk"),
            sk: get("sk"),
            attr,
            problem,
        }
    }
    fn s(&self, attr: &'static str) -> Result<String, ItemError> {
        match self.it.get(attr) {
            Some(AttributeValue::S(v)) => Ok(v.clone()),
            Some(_) => Err(self.err(attr, "is not a string")),
            None => Err(self.err(attr, "is missing")),
        }
    }
    fn n<T: std::str::FromStr>(&self, attr: &'static str) -> Result<T, ItemError> {
        match self.it.get(attr) {
            Some(AttributeValue::N(v)) => v
                .parse()
                .map_err(|_| self.err(attr, "is not a number of the right range")),
            Some(_) => Err(self.err(attr, "is not a number")),
            None => Err(self.err(attr, "is missing")),
        }
    }
    fn hash(&self, attr: &'static str) -> Result<Hash, ItemError> {
        chain::from_hex(&self.s(attr)?)
            .ok_or_else(|| self.err(attr, "is not 64 lowercase hex characters"))
    }
}

/// Reads a vote item back. Every attribute must be present and well-typed.
pub fn parse_vote(it: &Item) -> Result<VoteItem, ItemError> {
    let r = Reader { it };
    let salt = match it.get("hash_v") {
        None => None,
        Some(_) if r.n::<u8>("hash_v")? == 1 => None,
        Some(_) if r.n::<u8>("hash_v")? == 2 => Some(
            chain::salt_from_hex(&r.s("salt")?)
                .ok_or_else(|| r.err("salt", "is not 64 lowercase hex characters"))?,
        ),
        Some(_) => return Err(r.err("hash_v", "is not 1 or 2")),
    };
    if salt.is_none() && it.contains_key("salt") {
        return Err(r.err("salt", "is present without hash_v = 2"));
    }
    Ok(VoteItem {
        election_id: r.s("election_id")?,
        chain: r.n("chain")?,
        seq: r.n("seq")?,
        vote_id: r.s("vote_id")?,
        candidate_id: r.s("candidate_id")?,
        region_id: r.s("region_id")?,
        cast_at_ms: r.n("cast_at_ms")?,
        salt,
        prev_hash: r.hash("prev_hash")?,
        hash: r.hash("hash")?,
        kafka_topic: r.s("kafka_topic")?,
        kafka_partition: r.n("kafka_partition")?,
        kafka_offset: r.n("kafka_offset")?,
    })
}

/// `(chain, seq)` of a vote_id marker.
pub fn parse_marker(it: &Item) -> Result<(u32, u64), ItemError> {
    let r = Reader { it };
    Ok((r.n("chain")?, r.n("seq")?))
}

/// A partition checkpoint: the next offset to read and the writer incarnation that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub next_offset: i64,
    pub writer_id: String,
    /// The pod (node instance) whose ChainWriter wrote it.
    pub instance: Option<String>,
}

pub fn parse_checkpoint(it: &Item) -> Result<Checkpoint, ItemError> {
    let r = Reader { it };
    Ok(Checkpoint {
        next_offset: r.n("next_offset")?,
        writer_id: r.s("writer_id")?,
        instance: r.s("instance").ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VoteItem {
        VoteItem {
            election_id: "demo-2026".into(),
            chain: 0,
            seq: 7,
            vote_id: "6f1c2a4e-0000-4000-8000-000000000001".into(),
            candidate_id: "alice".into(),
            region_id: "north".into(),
            cast_at_ms: 1_795_000_000_000,
            salt: None,
            prev_hash: chain::genesis("demo-2026", 0),
            hash: chain::genesis("x", 1),
            kafka_topic: "votes".into(),
            kafka_partition: 2,
            kafka_offset: 99,
        }
    }

    #[test]
    fn refusals_count_distinct_offsets_and_need_every_attribute() {
        let mut it = key(refused_pk("e", "v"), REFUSED_SK);
        it.insert(
            "offsets".into(),
            AttributeValue::Ns(vec!["3".into(), "9".into()]),
        );
        it.insert("first_at_ms".into(), n(1));
        it.insert("last_at_ms".into(), n(2));
        let want = Refusals {
            count: 2,
            first_at_ms: 1,
            last_at_ms: 2,
        };
        assert_eq!(parse_refusals(&it), Ok(want));
        it.insert("offsets".into(), s("3"));
        assert_eq!(
            parse_refusals(&it).unwrap_err().problem,
            "is not a number set"
        );
        it.remove("offsets");
        assert_eq!(parse_refusals(&it).unwrap_err().problem, "is missing");
    }

    #[test]
    fn vote_item_matches_the_contract_layout() {
        let it = vote_item(&sample(), 1);
        assert_eq!(it["pk"].as_s().unwrap(), "ELECTION#demo-2026");
        assert_eq!(it["sk"].as_s().unwrap(), "VOTE#00000000000000000007");
        assert_eq!(it["seq"].as_n().unwrap(), "7");
        assert_eq!(
            it.len(),
            14,
            "pk, sk and the 12 contract attributes, nothing else"
        );
        assert_eq!(parse_vote(&it).unwrap(), sample());
        let split = vote_item(&sample(), 4);
        assert_eq!(split["pk"].as_s().unwrap(), "ELECTION#demo-2026#0");
    }

    #[test]
    fn a_v2_vote_item_adds_salt_and_hash_v() {
        let v = VoteItem {
            salt: Some([0xab; 32]),
            ..sample()
        };
        let it = vote_item(&v, 1);
        assert_eq!(it.len(), 16);
        assert_eq!(it["salt"].as_s().unwrap(), &"ab".repeat(32));
        assert_eq!(it["hash_v"].as_n().unwrap(), "2");
        assert_eq!(parse_vote(&it).unwrap(), v);
        let mut stripped = it.clone();
        stripped.remove("hash_v");
        assert_eq!(parse_vote(&stripped).unwrap_err().attr, "salt");
        let mut bad = it;
        bad.insert("salt".into(), AttributeValue::S("zz".into()));
        assert_eq!(parse_vote(&bad).unwrap_err().attr, "salt");
    }

    #[test]
    fn tampered_attributes_are_named() {
        let mut it = vote_item(&sample(), 1);
        it.insert("hash".into(), AttributeValue::S("ABC".into()));
        let e = parse_vote(&it).unwrap_err();
        assert_eq!(
            (e.attr, e.sk.as_str()),
            ("hash", "VOTE#00000000000000000007")
        );
        it.remove("seq");
        assert_eq!(parse_vote(&it).unwrap_err().attr, "seq");
    }
}
