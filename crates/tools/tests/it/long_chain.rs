//! A chain longer than one page (`Ledger::chain_page`, [`CHAIN_PAGE_ITEMS`] items): every
//! reader that walks a chain (verify, recount, replay's check, audit, export) gets every
//! vote once, in seq order, across page boundaries; and a malformed item under the chain's
//! key is still read, so verify reports it rather than skipping it.
//!
//! Why it exists: on DynamoDB Local a Query without a limit reads every item of its key
//! range, and a range starting at the first vote made each page of a million-vote chain
//! cost 25 s (docs/performance.md). The page now carries a limit and starts its key range
//! at the previous page's last key. The votes are written straight into the ledger here,
//! 25 at a time (no writer: only the read path is under test).

use crate::common::*;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use votechain::dynamo::items;
use votechain::dynamo::ledger::CHAIN_PAGE_ITEMS;
use votechain_core::model::VoteItem;

/// Votes written: two full pages and part of a third.
const VOTES: u64 = 2 * CHAIN_PAGE_ITEMS as u64 + 100;

/// A page smaller than DynamoDB's 1 MB cap (~2,400 of these votes), so that pages of this
/// size show the limit is applied.
const SMALL_PAGE: i32 = 1_000;

/// `n` votes of chain 0 of `e`, linked from its genesis (salted when the election is).
fn chain(e: &votechain_core::model::Election, n: u64) -> Vec<VoteItem> {
    let mut prev = e.tip0(0).hash;
    (1..=n)
        .map(|seq| {
            let mut v = VoteItem {
                election_id: e.id.clone(),
                chain: 0,
                seq,
                vote_id: vote_id(77, seq as u32),
                candidate_id: ["alice", "bob"][(seq % 2) as usize].into(),
                region_id: "north".into(),
                cast_at_ms: 1_767_000_000_000 + seq as i64,
                salt: e.salted().then_some([seq as u8; 32]),
                prev_hash: prev,
                hash: [0; 32],
                kafka_topic: "votes".into(),
                kafka_partition: 0,
                kafka_offset: seq as i64 - 1,
            };
            v.hash = v.hash_on(&prev);
            prev = v.hash;
            v
        })
        .collect()
}

async fn put_all(env: &TestEnv, its: Vec<items::Item>) {
    for batch in its.chunks(25) {
        let mut req: Vec<WriteRequest> = batch
            .iter()
            .map(|it| {
                let put = PutRequest::builder().set_item(Some(it.clone())).build();
                WriteRequest::builder().put_request(put.unwrap()).build()
            })
            .collect();
        // DynamoDB may leave some unprocessed; write them again until none is left.
        while !req.is_empty() {
            let out = env
                .ledger
                .db
                .batch_write_item()
                .request_items(&env.ledger.table, req)
                .send()
                .await
                .unwrap();
            req = out
                .unprocessed_items()
                .and_then(|u| u.get(&env.ledger.table))
                .cloned()
                .unwrap_or_default();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_longer_than_a_page_is_read_whole_in_order() {
    let env = TestEnv::new("longchain", 1, DEMO).await;
    let e = env.election("demo-2026");
    let votes = chain(&e, VOTES);
    put_all(&env, votes.iter().map(|v| items::vote_item(v, 1)).collect()).await;

    // Page by page: full pages up to the last, each starting after the one before.
    let (mut start, mut pages, mut seqs) = (None, vec![], vec![]);
    loop {
        let (page, next) = env
            .ledger
            .chain_page_of("demo-2026", 0, 1, start, true, SMALL_PAGE)
            .await
            .unwrap();
        pages.push(page.len());
        seqs.extend(page.iter().map(|it| items::parse_vote(it).unwrap().seq));
        match next {
            Some(k) => start = Some(k),
            None => break,
        }
    }
    assert_eq!(
        pages.len(),
        VOTES.div_ceil(SMALL_PAGE as u64) as usize,
        "{pages:?}"
    );
    assert!(pages.iter().all(|n| *n <= SMALL_PAGE as usize), "{pages:?}");
    assert_eq!(seqs, (1..=VOTES).collect::<Vec<_>>());

    // verify walks the chain in pages of CHAIN_PAGE_ITEMS: every vote, the chain intact.
    let report = votechain::verify::verify_election(&env.ledger, &e)
        .await
        .unwrap();
    assert!(report.intact, "{:?}", report.problems);
    assert_eq!(report.votes, VOTES);

    // A malformed item under the chain's key, past the last vote: still read, and reported.
    let mut odd = items::vote_item(&votes[0], 1);
    odd.insert("sk".into(), AttributeValue::S("VOTE#zz".into()));
    put_all(&env, vec![odd]).await;
    let report = votechain::verify::verify_election(&env.ledger, &e)
        .await
        .unwrap();
    assert!(!report.intact, "a malformed item was skipped");
    assert_eq!(report.problem_count, 1, "{:?}", report.problems);
}
