//! Issue 14, "the writer's retried append": an append retried after a lost response sends
//! the same `ClientRequestToken`, so it must be the identical request, the checkpoint's
//! `updated_at_ms` included; DynamoDB then answers the retry as the first call (no second
//! write, no error). The same token with another stamp is what the writer used to send:
//! DynamoDB refuses it (`IdempotentParameterMismatch`), which restarted the writer.

use crate::common::*;
use votechain::dynamo::ledger::AppendOutcome;
use votechain_core::model::VoteItem;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_append_is_the_identical_request() {
    let env = TestEnv::new("idem", 1, DEMO).await;
    let e = env.election("demo-2026");
    let vid = vote_id(0x1de, 1);
    let mut v = VoteItem {
        election_id: e.id.clone(),
        chain: 0,
        seq: 1,
        vote_id: vid.clone(),
        candidate_id: "alice".into(),
        region_id: "north".into(),
        cast_at_ms: votechain::now_ms(),
        salt: votechain_core::chain::salt_from_hex(&test_salt(&vid)),
        prev_hash: e.tip0(0).hash,
        hash: [0; 32],
        kafka_topic: "votes".into(),
        kafka_partition: 0,
        kafka_offset: 0,
    };
    v.hash = v.hash_on(&v.prev_hash);
    let votes = vec![(v, 1)];
    let append = |stamp: i64| {
        env.ledger
            .append(&votes, "votes", 0, None, 1, "w-1", "i-1", "token-1", stamp)
    };
    assert_eq!(append(1_000).await.unwrap(), AppendOutcome::Committed);
    // The retry of a call whose answer was lost: answered as the first, nothing written twice.
    assert_eq!(append(1_000).await.unwrap(), AppendOutcome::Committed);
    assert_eq!(chain_items(&env.ledger, "demo-2026", 0, 1).await.len(), 1);
    // Another stamp under the same token is another request: refused.
    let err = append(2_000).await.unwrap_err();
    assert!(err.detail.contains("IdempotentParameterMismatch"), "{err}");
}
