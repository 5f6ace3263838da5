//! votechain, the node: counts votes exactly once, proves the ledger untampered, serves
//! live results. The pure rules live in `votechain_core`; this crate runs them: config,
//! metrics, the DynamoDB and Kafka adapters, supervision, the actors, HTTP, the runtime.
//!
//! Data flow (see ARCHITECTURE.md): HTTP `ingest` → one Kafka transaction (vote + audit)
//! → `ChainWriter` per partition → DynamoDB hash chain (conditional transactions) →
//! Streams → projections → `query`.
//!
//! Layers inside the crate, lowest first; a module imports only from its own layer's
//! leaves or lower ones (the tools crate's `layers` test fails on any cycle):
//! 1. `shared`, `process`, `failpoint`, `metrics`: leaves;
//! 2. `config`; 3. `dynamo`, `kafka`; 4. `projector`, `verify`, `replay`, `dlq`;
//! 5. `tables`, `manifests`, `supervision`; 6. `actors`, `recount`; 7. `topology` (config → actor
//!    tree); 8. `http`; 9. `runtime` (one process); `dev` (DynamoDB Local) stands apart.
//!
//! Bench, chaos, loadgen and the client live in the `votechain-tools` crate; the CLI's
//! commands in the binary (`src/cmd/`).

pub mod actors;
pub mod audit;
pub mod certify;
pub mod config;
pub mod dev;
pub mod dlq;
pub mod dynamo;
pub mod failpoint;
pub mod http;
pub mod kafka;
pub mod keys;
pub mod logstore;
pub mod manifests;
pub mod metrics;
pub mod process;
pub mod projector;
pub mod recount;
pub mod replay;
pub mod runtime;
pub mod secret_file;
pub mod shared;
pub mod signer;
pub mod supervision;
pub mod tables;
pub mod topology;
pub mod verify;
pub mod witness;

pub use shared::now_ms;
pub use votechain_core as core;
