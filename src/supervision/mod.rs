//! Supervision: the generic supervisor actor ([`supervisor`]), deciding with the restart
//! policy of `votechain_core::restart`. It knows no concrete actor: the one builder that
//! turns a role config into its actor tree is `crate::topology`.
//!
//! ractor on its own restarts nothing: by default a supervisor simply stops when a
//! child fails. Everything that restarts an actor in votechain goes through here.

pub mod supervisor;

pub use votechain_core::restart::{Policy, Restart, Strategy};

/// True when the actor's supervisor is gone (killed without running `post_stop`): an
/// orphan must stop itself, since nobody would restart, fence or account for it.
pub fn orphaned(cell: &ractor::ActorCell) -> bool {
    cell.try_get_supervisor().is_some_and(|s| {
        matches!(
            s.get_status(),
            ractor::ActorStatus::Stopped | ractor::ActorStatus::Stopping
        )
    })
}
pub use supervisor::{ActorView, ChildSpec, Supervisor, SupervisorArgs, SupervisorMsg};

/// A unique actor name that starts with its kind: `chain_writer/ingest-0/p3/1a2b3c4d`
/// (`/debug/actors`, chaos actor kills and metrics read the kind from it).
pub fn actor_name(kind: &str, detail: &str) -> String {
    format!(
        "{kind}/{detail}/{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}
