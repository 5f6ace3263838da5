//! Integration tests against DynamoDB Local and librdkafka's mock cluster.
//! One binary (one link of the heavy dependency tree), one module per scenario.

mod common;

mod append_idempotency;
mod ballot_secrecy;
mod certified_tally;
mod chaos_suite;
mod client_outbox;
mod client_station;
mod client_tls;
mod conflicts;
mod e2e_http;
mod edge_limits;
mod election_window;
mod event_provenance;
mod fencing;
mod ingest_commit;
mod ingest_producers;
mod lag_scaling;
mod layers;
mod ledger_protection;
mod ledger_tripwire;
mod log_gap;
mod long_chain;
mod manifests;
mod metrics_upkeep;
mod partition_routing;
mod projector_backlog;
mod projector_failover;
mod projector_fencing;
mod read_load;
mod recreated_topic;
mod rendezvous_handoff;
mod replay_recount;
mod role_escalation;
mod secret_logs;
mod station_keys;
mod stream_loss;
mod stream_topology;
mod tamper;
mod transparency_log;
mod vote_cap;
mod witnessed_log;
mod writer_dedup;
mod writer_restart;
