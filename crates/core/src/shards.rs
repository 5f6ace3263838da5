//! Shard lineage, as KCL handles it: a child shard is processed only after all its
//! parents are checkpointed at `SHARD_END`; a parent that is no longer in the stream nor in
//! the lease table (trimmed away) does not block its children.
//!
//! Pure functions over synthetic or real shard lists; DynamoDB Local rarely splits shards,
//! so the many-generations cases are covered by unit tests here.

use crate::lease::{Lease, SHARD_END};
use std::collections::{HashMap, HashSet};

/// A shard as DescribeStream reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub id: String,
    pub parent: Option<String>,
    /// DescribeStream reports an ending sequence number once the shard is closed.
    pub closed: bool,
}

/// Leases to create for shards that have none yet: each records its parent.
pub fn new_leases(shards: &[Shard], leases: &[Lease]) -> Vec<Lease> {
    let have: HashSet<&str> = leases.iter().map(|l| l.key.as_str()).collect();
    shards
        .iter()
        .filter(|s| !have.contains(s.id.as_str()))
        .map(|s| Lease::new_for_shard(&s.id, s.parent.iter().cloned().collect()))
        .collect()
}

/// Leases that may be processed now: not finished, and every parent either finished
/// (`SHARD_END`) or gone from both the stream and the lease table.
pub fn ready(leases: &[Lease], shards: &[Shard]) -> Vec<Lease> {
    let by_key: HashMap<&str, &Lease> = leases.iter().map(|l| (l.key.as_str(), l)).collect();
    let in_stream: HashSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
    leases
        .iter()
        .filter(|l| l.checkpoint != SHARD_END)
        .filter(|l| {
            l.parents.iter().all(|p| match by_key.get(p.as_str()) {
                Some(parent) => parent.checkpoint == SHARD_END,
                None => !in_stream.contains(p.as_str()),
            })
        })
        .cloned()
        .collect()
}

/// Shards that are still open (the scaling signal counts them).
pub fn open_count(shards: &[Shard]) -> usize {
    shards.iter().filter(|s| !s.closed).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::TRIM_HORIZON;

    fn shard(id: &str, parent: Option<&str>, closed: bool) -> Shard {
        Shard {
            id: id.into(),
            parent: parent.map(String::from),
            closed,
        }
    }
    fn lease(id: &str, parent: Option<&str>, cp: &str) -> Lease {
        Lease {
            checkpoint: cp.into(),
            ..Lease::new_for_shard(id, parent.iter().map(|p| p.to_string()).collect())
        }
    }
    fn keys(v: &[Lease]) -> Vec<&str> {
        v.iter().map(|l| l.key.as_str()).collect()
    }

    #[test]
    fn new_leases_cover_unknown_shards_with_their_parents() {
        let shards = vec![shard("a", None, true), shard("b", Some("a"), false)];
        let got = new_leases(&shards, &[lease("a", None, TRIM_HORIZON)]);
        assert_eq!(keys(&got), vec!["b"]);
        assert_eq!(got[0].parents, vec!["a".to_string()]);
        assert_eq!(got[0].checkpoint, TRIM_HORIZON);
    }

    #[test]
    fn child_waits_for_parent_shard_end() {
        let shards = vec![shard("a", None, true), shard("b", Some("a"), false)];
        let mid = vec![
            lease("a", None, "000123"),
            lease("b", Some("a"), TRIM_HORIZON),
        ];
        assert_eq!(keys(&ready(&mid, &shards)), vec!["a"]);
        let done = vec![
            lease("a", None, SHARD_END),
            lease("b", Some("a"), TRIM_HORIZON),
        ];
        assert_eq!(keys(&ready(&done, &shards)), vec!["b"]);
    }

    #[test]
    fn many_generations_and_a_split_proceed_in_order() {
        // a -> b -> {c, d} (split) -> e (child of d)
        let shards = vec![
            shard("a", None, true),
            shard("b", Some("a"), true),
            shard("c", Some("b"), false),
            shard("d", Some("b"), true),
            shard("e", Some("d"), false),
        ];
        let mut leases: Vec<Lease> = new_leases(&shards, &[]);
        let mut order = vec![];
        for _ in 0..10 {
            let r = ready(&leases, &shards);
            if r.is_empty() {
                break;
            }
            let k = r[0].key.clone();
            order.push(k.clone());
            leases.iter_mut().find(|l| l.key == k).unwrap().checkpoint = SHARD_END.into();
        }
        assert_eq!(order, vec!["a", "b", "c", "d", "e"]);
        let pos = |s: &str| order.iter().position(|x| x == s).unwrap();
        assert!(pos("d") < pos("e") && pos("b") < pos("c"));
    }

    #[test]
    fn a_trimmed_parent_does_not_block() {
        // Parent "z" expired out of the stream and was never leased.
        let shards = vec![shard("b", Some("z"), false)];
        let leases = new_leases(&shards, &[]);
        assert_eq!(keys(&ready(&leases, &shards)), vec!["b"]);
        // But a parent still in the stream without a lease yet blocks (its lease is coming).
        let shards = vec![shard("z", None, true), shard("b", Some("z"), false)];
        let only_child = vec![lease("b", Some("z"), TRIM_HORIZON)];
        assert!(ready(&only_child, &shards).is_empty());
        assert_eq!(open_count(&shards), 1);
    }
}
