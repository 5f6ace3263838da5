//! Supervision: the restart policy ([`policy`]), the generic supervisor actor
//! ([`supervisor`]), and the one builder that turns a role config into its actor tree
//! ([`tree`]), used for the first start and every restart alike.
//!
//! ractor on its own restarts nothing: by default a supervisor simply stops when a
//! child fails. Everything that restarts an actor in votechain goes through here.

pub mod policy;
pub mod supervisor;
pub mod tree;

pub use policy::{Policy, Restart, Strategy};

/// True when the actor's supervisor is gone (killed without running `post_stop`): an
/// orphan must stop itself, since nobody would restart, fence or account for it.
pub fn orphaned(cell: &ractor::ActorCell) -> bool {
    cell.try_get_supervisor().is_some_and(|s| matches!(s.get_status(), ractor::ActorStatus::Stopped | ractor::ActorStatus::Stopping))
}
pub use supervisor::{ActorView, ChildSpec, Supervisor, SupervisorArgs, SupervisorMsg};
