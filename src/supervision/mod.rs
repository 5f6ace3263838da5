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

use ractor::Actor;
use std::sync::Arc;
use std::time::Duration;
use votechain_core::restart::{Backoff, Intensity};

/// `ChildSpec::kind` of a child that is itself a [`Supervisor`] (a role's subtree).
pub const SUPERVISOR_KIND: &str = "supervisor";

/// A child that supervises `children` under `policy`: one role of the process. When the
/// role exceeds its restart intensity it fails, and only it: its parent (the root, under
/// [`root_policy`]) builds it again after a backoff, while the other roles keep running.
pub fn subtree(name: &str, policy: Policy, children: Vec<ChildSpec>) -> ChildSpec {
    let sup_name = name.to_string();
    let start: supervisor::StartFn = Arc::new(move |parent| {
        let args = SupervisorArgs {
            name: sup_name.clone(),
            policy,
            children: children.clone(),
        };
        let name = actor_name(SUPERVISOR_KIND, &sup_name);
        Box::pin(async move {
            Actor::spawn_linked(Some(name), Supervisor, args, parent)
                .await
                .map(|(r, _)| r.get_cell())
        })
    });
    ChildSpec {
        name: name.into(),
        kind: SUPERVISOR_KIND,
        restart: Restart::Permanent,
        start,
    }
}

/// The root of a process supervises its roles and never gives up on one: a role that
/// escalated is rebuilt after a backoff growing to 30 s, for as long as it takes (its
/// readiness is down meanwhile), so a Kafka that cannot commit stops ingest, not the
/// query role beside it. Escalations stay visible (`votechain_actor_escalations_total`).
pub fn root_policy() -> Policy {
    Policy {
        strategy: Strategy::OneForOne,
        intensity: Intensity {
            max_restarts: u32::MAX,
            period: Duration::from_secs(1),
        },
        backoff: Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            factor: 2.0,
        },
    }
}

/// A unique actor name that starts with its kind: `chain_writer/ingest-0/p3/1a2b3c4d`
/// (`/debug/actors`, chaos actor kills and metrics read the kind from it).
pub fn actor_name(kind: &str, detail: &str) -> String {
    format!(
        "{kind}/{detail}/{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}
