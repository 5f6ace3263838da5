//! Every metric votechain exports, in one place: names (`votechain_*`, units in the
//! name), their help text, and the Prometheus recorder. Labels are bounded by
//! construction: outcomes, error kinds, roles, actor kinds, configured elections
//! and chains, partitions. Never a vote_id, a client key or a request id.
//!
//! Call sites use the constants below with the `metrics` macros, e.g.
//! `metrics::counter!(m::WRITER_VOTES_CHAINED).increment(n)`.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

// ingest
pub const INGEST_REQUESTS: &str = "votechain_ingest_requests_total";
pub const INGEST_REQUEST_SECONDS: &str = "votechain_ingest_request_duration_seconds";
pub const INGEST_BATCH_VOTES: &str = "votechain_ingest_batch_votes";
pub const INGEST_TRANSACTIONS: &str = "votechain_ingest_transactions_total";
pub const INGEST_IN_FLIGHT: &str = "votechain_ingest_transactions_in_flight";
pub const INGEST_TRANSACTION_SECONDS: &str = "votechain_ingest_transaction_duration_seconds";
pub const INGEST_TRANSACTION_PHASE_SECONDS: &str =
    "votechain_ingest_transaction_phase_duration_seconds";
pub const INGEST_COMMIT_RETRIES: &str = "votechain_ingest_commit_retries_total";
pub const INGEST_QUEUE_DEPTH: &str = "votechain_ingest_queue_depth_votes";
pub const INGEST_KEYS: &str = "votechain_ingest_keys";
pub const INGEST_CAP_RESERVATIONS: &str = "votechain_ingest_cap_reservations_total";
pub const INGEST_KEYS_RELOAD_FAILURES: &str = "votechain_ingest_keys_reload_failures_total";
// writer
pub const WRITER_RECORDS: &str = "votechain_writer_records_consumed_total";
pub const WRITER_VOTES_CHAINED: &str = "votechain_writer_votes_chained_total";
pub const WRITER_DUPLICATES: &str = "votechain_writer_duplicates_total";
pub const WRITER_DEAD_LETTERS: &str = "votechain_writer_dead_letters_total";
pub const WRITER_CONFLICTS: &str = "votechain_writer_conflicts_total";
pub const WRITER_BATCH_SECONDS: &str = "votechain_writer_batch_duration_seconds";
pub const WRITER_BATCH_VOTES: &str = "votechain_writer_batch_votes";
pub const WRITER_FENCED: &str = "votechain_writer_fenced_total";
pub const WRITER_REPLANS: &str = "votechain_writer_replans_total";
pub const WRITER_DYNAMODB_RETRIES: &str = "votechain_writer_dynamodb_retries_total";
pub const WRITER_LOG_GAPS: &str = "votechain_writer_log_gaps_total";
pub const WRITER_PARTITIONS: &str = "votechain_writer_partitions_assigned";
pub const WRITER_CHECKPOINT_OFFSET: &str = "votechain_writer_checkpoint_offset";
pub const CHAIN_TIP_SEQ: &str = "votechain_chain_tip_seq";
// projector
pub const PROJECTOR_LEASES_HELD: &str = "votechain_projector_leases_held";
pub const PROJECTOR_LEASES_TAKEN: &str = "votechain_projector_leases_taken_total";
pub const PROJECTOR_LEASES_LOST: &str = "votechain_projector_leases_lost_total";
pub const PROJECTOR_OPEN_SHARDS: &str = "votechain_projector_open_shards";
pub const PROJECTOR_RECORDS: &str = "votechain_projector_records_applied_total";
pub const PROJECTOR_BATCHES: &str = "votechain_projector_batches_applied_total";
pub const PROJECTOR_STREAM_LAG: &str = "votechain_projector_stream_lag_seconds";
pub const PROJECTOR_APPLY_DELAY: &str = "votechain_projector_apply_delay_seconds";
pub const PROJECTOR_STEP_SECONDS: &str = "votechain_projector_step_seconds";
pub const PROJECTOR_TRIMMED: &str = "votechain_projector_trimmed_data_total";
pub const PROJECTOR_UNREADABLE: &str = "votechain_projector_unreadable_items_total";
pub const PROJECTOR_LEASE_CONFLICTS: &str = "votechain_projector_lease_conflicts_total";
pub const PROJECTOR_RECORDS_LOST: &str = "votechain_projector_records_lost_total";
pub const PROJECTION_NEEDS_REPLAY: &str = "votechain_projection_needs_replay_elections";
pub const PROJECTOR_LEASES_DELETED: &str = "votechain_projector_leases_deleted_total";
pub const PROJECTOR_HANDOFFS: &str = "votechain_projector_handoffs_total";
pub const PROJECTOR_LEASE_TABLE_LEASES: &str = "votechain_projector_lease_table_leases";
pub const PROJECTOR_LIVE_WORKERS: &str = "votechain_projector_live_workers";
pub const PROJECTOR_SYNC_LEADER: &str = "votechain_projector_shard_sync_leader";
// lag monitor and scaling
pub const LAG_KAFKA_RECORDS: &str = "votechain_lag_kafka_records";
pub const LAG_KAFKA_COMMITTED_RECORDS: &str = "votechain_lag_kafka_committed_records";
pub const LAG_KAFKA_UNSTABLE_RECORDS: &str = "votechain_lag_kafka_unstable_records";
pub const LAG_STREAM_SECONDS: &str = "votechain_lag_stream_seconds";
pub const LAG_OPEN_SHARDS: &str = "votechain_lag_open_shards";
pub const LAG_PARTITIONS: &str = "votechain_lag_partitions";
pub const LAG_LEASES_PER_WORKER: &str = "votechain_lag_leases_per_worker";
pub const SCALING_DESIRED: &str = "votechain_scaling_desired_replicas";
pub const SCALING_ACTUAL: &str = "votechain_scaling_actual_replicas";
// replay and recount
pub const REPLAY_RECORDS: &str = "votechain_replay_records_total";
pub const RECOUNT_MISMATCHES: &str = "votechain_recount_mismatches";
// query
pub const QUERY_REQUESTS: &str = "votechain_query_requests_total";
pub const QUERY_REQUEST_SECONDS: &str = "votechain_query_request_duration_seconds";
// supervision and process
pub const ACTOR_RESTARTS: &str = "votechain_actor_restarts_total";
pub const ACTOR_ESCALATIONS: &str = "votechain_actor_escalations_total";
pub const BUILD_INFO: &str = "votechain_build_info";
// http (query and every role's API)
pub const HTTP_REQUESTS: &str = "votechain_http_requests_total";
pub const LEDGER_MUTATIONS: &str = "votechain_ledger_mutations_total";
pub const HTTP_OPEN_CONNECTIONS: &str = "votechain_http_open_connections";
pub const HTTP_IDLE_CLOSED: &str = "votechain_http_idle_closed_total";
pub const HTTP_SHED: &str = "votechain_http_requests_shed_total";
// publisher (transparency logs)
pub const LOG_ENTRIES: &str = "votechain_log_entries_total";
pub const LOG_CHECKPOINTS: &str = "votechain_log_checkpoints_total";
pub const LOG_SIZE: &str = "votechain_log_size_entries";
pub const LOG_CHAIN_BREAKS: &str = "votechain_log_chain_breaks_total";
pub const LOG_PUBLISH_SECONDS: &str = "votechain_log_publish_duration_seconds";
pub const PROOF_REQUESTS: &str = "votechain_proof_requests_total";
// votechain audit --follow
pub const AUDIT_FAILED: &str = "votechain_audit_failed";
pub const AUDIT_LAST_PASS: &str = "votechain_audit_last_pass_timestamp_seconds";

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 49.0, 100.0, 256.0, 512.0, 1024.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often histogram samples are folded into their buckets (see [`install`]).
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Installs the process-wide recorder once (later calls return the same handle) and
/// describes every metric so `/metrics` carries HELP and TYPE lines.
///
/// The recorder keeps every histogram sample until it is folded into its buckets, which a
/// scrape does, and otherwise only an upkeep call (`install_recorder` spawns none). A node
/// nobody scraped grew by every vote's samples (`votechain dev`: +88 MB over a million
/// votes, docs/benchmarks-million.md), and a pod whose Prometheus is down would grow the
/// same way until killed. So a thread of its own runs the upkeep every second.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_votes".into()), SIZE_BUCKETS)
                })
                .expect("static buckets are valid")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                })
                .expect("a thread can be spawned at start");
            describe();
            export_from_start();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            process().describe();
            process().collect();
            handle
        })
        .clone()
}

/// Counters whose series would otherwise appear only after their first event, at 0 from
/// the start: dashboards show 0, not "no data", and `increase()`/`absent()` rules see them
/// (issue 15). Labelled ones are created for their bounded label values.
const COUNTERS_FROM_START: &[&str] = &[
    ACTOR_RESTARTS,
    ACTOR_ESCALATIONS,
    INGEST_COMMIT_RETRIES,
    WRITER_VOTES_CHAINED,
    WRITER_RECORDS,
    WRITER_DUPLICATES,
    WRITER_CONFLICTS,
    WRITER_FENCED,
    WRITER_REPLANS,
    PROJECTOR_RECORDS,
    PROJECTOR_BATCHES,
    PROJECTOR_LEASES_LOST,
    PROJECTOR_LEASE_CONFLICTS,
    PROJECTOR_TRIMMED,
    PROJECTOR_UNREADABLE,
    PROJECTOR_LEASES_DELETED,
    PROJECTOR_HANDOFFS,
    LOG_ENTRIES,
    LOG_CHECKPOINTS,
    LOG_CHAIN_BREAKS,
    HTTP_IDLE_CLOSED,
    HTTP_SHED,
    INGEST_KEYS_RELOAD_FAILURES,
    WRITER_LOG_GAPS,
];

/// The reasons a record is dead-lettered (`Invalid::kind`), each a series from the start.
const DEAD_LETTER_REASONS: &[&str] = &[
    "bad_field",
    "unknown_election",
    "election_closed",
    "election_not_open",
    "outside_window",
    "unknown_candidate",
    "unknown_region",
    "undecodable",
    "wrong_chain",
    "conflict",
    "unauthenticated",
    "wrong_partition",
];

/// `votechain_projector_records_lost_total{reason}`: `projector::loss::LossReason` labels
/// (a test there keeps the two in step).
pub const PROJECTOR_LOSS_REASONS: &[&str] = &["trimmed", "shard_gone", "lineage_gap", "old_stream"];

/// `votechain_ingest_requests_total{outcome}`: every answer ingest gives (`http/ingest.rs`).
const INGEST_OUTCOMES: &[&str] = &[
    "accepted",
    "bad_request",
    "unauthorized",
    "forbidden",
    "rate_limited",
    "cap_reached",
    "too_large",
    "body_timeout",
    "unprocessable",
    "overloaded",
    "unavailable",
    "outcome_unknown",
];

/// `votechain_writer_dynamodb_retries_total{error}`: `dynamo::classify`'s retry kinds.
const DYNAMODB_RETRY_KINDS: &[&str] = &[
    "throughput_exceeded",
    "throttling",
    "request_limit",
    "transaction_conflict",
    "transaction_in_progress",
    "server_error",
    "timeout",
    "dispatch",
    "response",
];

fn export_from_start() {
    for outcome in INGEST_OUTCOMES {
        metrics::counter!(INGEST_REQUESTS, "outcome" => *outcome).absolute(0);
    }
    for result in ["commit", "abort", "failed"] {
        metrics::counter!(INGEST_TRANSACTIONS, "result" => result).absolute(0);
    }
    for result in ["counted", "again", "reached", "unavailable"] {
        metrics::counter!(INGEST_CAP_RESERVATIONS, "result" => result).absolute(0);
    }
    for kind in DYNAMODB_RETRY_KINDS {
        metrics::counter!(WRITER_DYNAMODB_RETRIES, "error" => *kind).absolute(0);
    }
    for name in COUNTERS_FROM_START {
        metrics::counter!(*name).absolute(0);
    }
    metrics::gauge!(HTTP_OPEN_CONNECTIONS).set(0.0);
    for kind in ["modify", "remove", "outside_manifest"] {
        metrics::counter!(LEDGER_MUTATIONS, "kind" => kind).absolute(0);
    }
    for reason in DEAD_LETTER_REASONS {
        metrics::counter!(WRITER_DEAD_LETTERS, "reason" => *reason).absolute(0);
    }
    for reason in PROJECTOR_LOSS_REASONS {
        metrics::counter!(PROJECTOR_RECORDS_LOST, "reason" => *reason).absolute(0);
    }
    for how in votechain_core::balance::Take::ALL {
        metrics::counter!(PROJECTOR_LEASES_TAKEN, "how" => how.label()).absolute(0);
    }
}

/// The sum of a metric's series in a Prometheus text page, over the lines that also
/// contain `filter` (e.g. a label pair; "" for all). `# HELP`/`# TYPE` lines never match.
pub fn sum_series(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with(name) && l[name.len()..].starts_with([' ', '{']) && l.contains(filter)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Renders the Prometheus text page, refreshing process gauges first.
pub fn render(handle: &PrometheusHandle) -> String {
    process().collect();
    handle.render()
}

/// The standard `process_*` metrics (`metrics-process`: CPU seconds, resident and virtual
/// memory, open and max file descriptors, threads, start time), read from /proc when
/// rendered.
fn process() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

fn describe() {
    describe_counter!(
        INGEST_REQUESTS,
        "Vote submissions by outcome (accepted, bad_request, unauthorized, forbidden, rate_limited, cap_reached, too_large, body_timeout, unprocessable, overloaded, unavailable, outcome_unknown)."
    );
    describe_counter!(
        INGEST_CAP_RESERVATIONS,
        "Vote-cap reservations (ingest.key_max_votes) by result: counted (a slot taken), again (a resubmitted vote_id, free), reached (403), unavailable (the caps table did not answer: 503)."
    );
    describe_histogram!(
        INGEST_REQUEST_SECONDS,
        Unit::Seconds,
        "Time from request to answer for vote submissions."
    );
    describe_histogram!(
        INGEST_BATCH_VOTES,
        Unit::Count,
        "Votes per Kafka transaction (group commit size)."
    );
    describe_gauge!(
        INGEST_IN_FLIGHT,
        Unit::Count,
        "Kafka transactions running now (at most ingest.producers: all of them busy means votes wait for a commit)."
    );
    describe_counter!(
        INGEST_TRANSACTIONS,
        "Kafka transactions by result (commit; abort: aborted, not recorded; failed: the producer is rebuilt)."
    );
    describe_histogram!(
        INGEST_TRANSACTION_SECONDS,
        Unit::Seconds,
        "Duration of one Kafka transaction: begin, produce, commit."
    );
    describe_counter!(
        INGEST_COMMIT_RETRIES,
        "commit_transaction calls repeated after a retriable error (librdkafka's contract); the outcome stays unknown until one succeeds."
    );
    describe_histogram!(
        INGEST_TRANSACTION_PHASE_SECONDS,
        Unit::Seconds,
        "Duration of each phase of a Kafka transaction (phase: begin, produce = until every record is acknowledged, commit)."
    );
    describe_gauge!(
        INGEST_QUEUE_DEPTH,
        Unit::Count,
        "Votes admitted and not yet answered."
    );
    describe_counter!(
        WRITER_RECORDS,
        "Records read from the votes topic by ChainWriters."
    );
    describe_counter!(WRITER_VOTES_CHAINED, "Votes appended to a hash chain.");
    describe_counter!(
        WRITER_DUPLICATES,
        "Records whose vote_id was already chained (resubmissions); chained nothing."
    );
    describe_counter!(
        WRITER_DEAD_LETTERS,
        "Records sent to the dead-letter topic, by reason."
    );
    describe_counter!(
        WRITER_CONFLICTS,
        "Records whose vote_id was already chained with another choice (a conflicting ballot); dead-lettered, never counted."
    );
    describe_histogram!(
        WRITER_BATCH_SECONDS,
        Unit::Seconds,
        "Duration of one ChainWriter batch: dedup check and DynamoDB transaction."
    );
    describe_histogram!(
        WRITER_BATCH_VOTES,
        Unit::Count,
        "Votes chained per DynamoDB transaction."
    );
    describe_counter!(
        WRITER_REPLANS,
        "Batches planned again because a vote_id marker already existed (a resubmission this writer did not remember); costs one extra read and transaction."
    );
    describe_counter!(
        WRITER_FENCED,
        "ChainWriters that found another writer had moved their partition's checkpoint and stopped."
    );
    describe_counter!(
        WRITER_DYNAMODB_RETRIES,
        "DynamoDB calls retried by the writer, by error kind."
    );
    describe_gauge!(
        WRITER_PARTITIONS,
        Unit::Count,
        "Partitions of the votes topic assigned to this writer."
    );
    describe_gauge!(
        WRITER_CHECKPOINT_OFFSET,
        Unit::Count,
        "Next Kafka offset each partition's checkpoint points at."
    );
    describe_gauge!(
        CHAIN_TIP_SEQ,
        Unit::Count,
        "Last seq linked on each chain, as seen by its ChainWriter."
    );
    describe_gauge!(
        PROJECTOR_LEASES_HELD,
        Unit::Count,
        "Stream shard leases this projector holds."
    );
    describe_counter!(
        PROJECTOR_LEASES_TAKEN,
        "Leases taken, by how (unowned: new, released or handed off; expired; reacquired)."
    );
    describe_counter!(
        PROJECTOR_RECORDS_LOST,
        "Stream ranges lost before they were applied, by reason (trimmed, shard_gone, lineage_gap, old_stream); one per loss event (how many records a trimmed range held is not knowable from the stream). Each marks the projection \"needs replay\"."
    );
    describe_gauge!(
        PROJECTION_NEEDS_REPLAY,
        Unit::Count,
        "Elections whose read model may miss votes lost from the stream, until `votechain replay` rebuilds them (0 = none)."
    );
    describe_counter!(
        PROJECTOR_LEASES_DELETED,
        "Finished (SHARD_END) leases deleted by the shard-sync worker once their children progressed."
    );
    describe_counter!(
        PROJECTOR_HANDOFFS,
        "Leases this worker handed off (checkpointed, released) because they hash to another live worker."
    );
    describe_gauge!(
        PROJECTOR_LEASE_TABLE_LEASES,
        Unit::Count,
        "Shard leases in the lease table (set by the shard-sync worker; bounded by lease hygiene)."
    );
    describe_gauge!(
        PROJECTOR_LIVE_WORKERS,
        Unit::Count,
        "Projector workers this process sees alive in the registry (the rendezvous set)."
    );
    describe_gauge!(
        PROJECTOR_SYNC_LEADER,
        Unit::Count,
        "1 on the one projector elected to sync shards (DescribeStream, lease creation and deletion)."
    );
    describe_counter!(
        PROJECTOR_LEASES_LOST,
        "Leases lost to a peer or not renewable in time."
    );
    describe_gauge!(
        PROJECTOR_OPEN_SHARDS,
        Unit::Count,
        "Open shards of the ledger's stream."
    );
    describe_counter!(PROJECTOR_RECORDS, "Vote records applied to the read model.");
    describe_counter!(
        PROJECTOR_BATCHES,
        "Read-model transactions committed (deltas + checkpoint)."
    );
    describe_gauge!(
        PROJECTOR_STREAM_LAG,
        Unit::Seconds,
        "Now minus the write time of the newest applied record (KCL's definition): its ApproximateCreationDateTime, sharpened to the millisecond by the writer checkpoint's updated_at_ms in the same transaction (DynamoDB Local rounds creation times to the minute)."
    );
    describe_histogram!(
        PROJECTOR_APPLY_DELAY,
        Unit::Seconds,
        "From a vote's cast_at_ms to its application to the read model."
    );
    describe_histogram!(
        PROJECTOR_STEP_SECONDS,
        Unit::Seconds,
        "Per batch of a shard worker, by step: read = waiting for GetRecords (the next read is issued while a batch is applied, so this is the part of it not hidden), apply = the read-model transaction(s)."
    );
    describe_counter!(
        PROJECTOR_TRIMMED,
        "TrimmedDataAccessException: stream records expired before being applied; rebuild the projection."
    );
    describe_counter!(
        PROJECTOR_UNREADABLE,
        "Vote items on the stream that could not be parsed (see votechain verify)."
    );
    describe_counter!(
        PROJECTOR_LEASE_CONFLICTS,
        "Read-model transactions refused by the lease condition."
    );
    describe_gauge!(
        LAG_KAFKA_RECORDS,
        Unit::Count,
        "Per partition of votes: high watermark minus the writer's checkpoint in DynamoDB (records not yet chained, transaction markers included: a drained partition shows 1)."
    );
    describe_gauge!(
        LAG_KAFKA_COMMITTED_RECORDS,
        Unit::Count,
        "Per partition: high watermark minus the consumer group's committed offset (for comparison only)."
    );
    describe_gauge!(
        LAG_KAFKA_UNSTABLE_RECORDS,
        Unit::Count,
        "Per partition: high watermark minus the last stable offset, records behind an open Kafka transaction that no read_committed reader (writer, replay, recount) can read yet."
    );
    describe_gauge!(
        LAG_STREAM_SECONDS,
        Unit::Seconds,
        "Per open shard: age of the oldest stream record not yet applied to the read model (0 when caught up)."
    );
    describe_gauge!(
        LAG_OPEN_SHARDS,
        Unit::Count,
        "Open shards of the ledger's stream."
    );
    describe_gauge!(
        LAG_PARTITIONS,
        Unit::Count,
        "Partitions of the votes topic."
    );
    describe_gauge!(
        LAG_LEASES_PER_WORKER,
        Unit::Count,
        "Stream leases held per projector worker."
    );
    describe_gauge!(
        SCALING_DESIRED,
        Unit::Count,
        "Replicas the LagMonitor asks for, per role (writer <= partitions, projector <= open shards)."
    );
    describe_gauge!(
        SCALING_ACTUAL,
        Unit::Count,
        "Replicas seen working, per role (writer: group members with partitions; projector: lease owners)."
    );
    describe_counter!(REPLAY_RECORDS, "Records read by replays.");
    describe_gauge!(
        RECOUNT_MISMATCHES,
        Unit::Count,
        "Counters that differed in the last recount (0 = all three counts agree)."
    );
    describe_counter!(QUERY_REQUESTS, "Query API requests by route and status.");
    describe_histogram!(
        QUERY_REQUEST_SECONDS,
        Unit::Seconds,
        "Query API latency by route."
    );
    describe_counter!(
        ACTOR_RESTARTS,
        "Actor restarts by supervisors, by actor kind and reason."
    );
    describe_counter!(
        ACTOR_ESCALATIONS,
        "Supervisors that exceeded their restart intensity and escalated."
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label says which build runs."
    );
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by matched route (the pattern, or `unmatched`) and status class."
    );
    describe_gauge!(HTTP_OPEN_CONNECTIONS, "HTTP connections open now.");
    describe_gauge!(INGEST_KEYS, "Station keys in force (config and keys file).");
    describe_counter!(
        WRITER_LOG_GAPS,
        "Times a writer refused a partition whose unchained records were deleted from the log (retention): acknowledged votes lost."
    );
    describe_counter!(
        INGEST_KEYS_RELOAD_FAILURES,
        "Times the station keys file changed but was refused (the keys in force stayed)."
    );
    describe_counter!(
        LEDGER_MUTATIONS,
        "Vote items the projector refused to count: modified or removed (kind modify, remove), or inserted outside their election's manifest (outside_manifest). Tampering."
    );
    describe_counter!(
        HTTP_IDLE_CLOSED,
        "HTTP connections closed after http.idle_timeout_ms without a byte either way."
    );
    describe_counter!(
        HTTP_SHED,
        "Requests answered 503 because http.max_inflight_requests were being handled."
    );
    describe_counter!(LOG_ENTRIES, "Votes appended to the transparency logs.");
    describe_counter!(LOG_CHECKPOINTS, "Checkpoints signed and published.");
    describe_gauge!(
        LOG_SIZE,
        "Entries in a chain's log as of its last signed checkpoint, by election and chain."
    );
    describe_counter!(
        LOG_CHAIN_BREAKS,
        "Ticks at which the publisher found a chain vote that does not verify (the log stops before it)."
    );
    describe_histogram!(
        LOG_PUBLISH_SECONDS,
        Unit::Seconds,
        "One publisher round: read new votes, store tiles, sign and publish."
    );
    describe_gauge!(
        AUDIT_FAILED,
        "1 when the last audit of the transparency logs failed (votechain audit --follow)."
    );
    describe_gauge!(
        AUDIT_LAST_PASS,
        Unit::Seconds,
        "When the transparency logs last passed an audit (votechain audit --follow)."
    );
    describe_counter!(
        PROOF_REQUESTS,
        "Receipt proof requests by outcome (ok, not_chained, not_covered, error)."
    );
}

#[cfg(test)]
mod tests {
    /// The first quoted string after each `marker` in `src`.
    fn quoted_after<'a>(src: &'a str, marker: &str) -> Vec<&'a str> {
        src.match_indices(marker)
            .filter_map(|(at, m)| {
                let rest = src[at + m.len()..].trim_start();
                let rest = rest.strip_prefix('"')?;
                Some(&rest[..rest.find('"')?])
            })
            .collect()
    }

    #[test]
    fn every_ingest_outcome_is_exported_from_the_start() {
        let src = include_str!("http/ingest.rs");
        let mut used = quoted_after(src, "fail(");
        used.extend(quoted_after(src, "\"outcome\" =>"));
        used.retain(|o| !o.is_empty());
        for o in &used {
            assert!(
                super::INGEST_OUTCOMES.contains(o),
                "outcome {o} is not in INGEST_OUTCOMES"
            );
        }
        assert!(used.len() >= 8, "{used:?}");
    }

    #[test]
    fn sum_series_adds_the_matching_series_only() {
        let text = "# HELP votechain_x_total x\n# TYPE votechain_x_total counter\nvotechain_x_total{kind=\"a\"} 2\nvotechain_x_total{kind=\"b\"} 3\nvotechain_x_total_other 100\nvotechain_y 7\n";
        assert_eq!(super::sum_series(text, "votechain_x_total", ""), 5.0);
        assert_eq!(
            super::sum_series(text, "votechain_x_total", "kind=\"b\""),
            3.0
        );
        assert_eq!(super::sum_series(text, "votechain_y", ""), 7.0);
        assert_eq!(super::sum_series(text, "votechain_z", ""), 0.0);
    }

    #[test]
    fn every_dead_letter_reason_is_exported_from_start() {
        use votechain_core::model::Invalid;
        let kinds = [
            Invalid::BadField(String::new()),
            Invalid::UnknownElection(String::new()),
            Invalid::ElectionClosed(String::new()),
            Invalid::ElectionNotOpen(String::new()),
            Invalid::OutsideWindow(String::new()),
            Invalid::UnknownCandidate(String::new()),
            Invalid::UnknownRegion(String::new()),
            Invalid::Undecodable(String::new()),
            Invalid::WrongChain { got: 0, want: 0 },
            Invalid::Conflict(String::new()),
            Invalid::Unauthenticated(String::new()),
            Invalid::WrongPartition { got: 0, want: 0 },
        ];
        // A new variant fails to compile here, and must be added above and to the list.
        for k in &kinds {
            match k {
                Invalid::BadField(_)
                | Invalid::UnknownElection(_)
                | Invalid::ElectionClosed(_)
                | Invalid::ElectionNotOpen(_)
                | Invalid::OutsideWindow(_)
                | Invalid::UnknownCandidate(_)
                | Invalid::UnknownRegion(_)
                | Invalid::Undecodable(_)
                | Invalid::WrongChain { .. }
                | Invalid::Conflict(_)
                | Invalid::Unauthenticated(_)
                | Invalid::WrongPartition { .. } => {}
            }
        }
        let mut want: Vec<&str> = kinds.iter().map(|k| k.kind()).collect();
        let mut have = super::DEAD_LETTER_REASONS.to_vec();
        want.sort();
        have.sort();
        assert_eq!(want, have);
    }
}
