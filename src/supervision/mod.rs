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
pub use supervisor::{ActorView, ChildSpec, Supervisor, SupervisorArgs, SupervisorMsg};
