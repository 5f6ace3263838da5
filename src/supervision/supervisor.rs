//! The generic supervisor actor: starts its children in order from their [`ChildSpec`]s,
//! and when one exits applies the [`Policy`]: which children restart (strategy), whether
//! (permanent/transient/temporary), when (backoff), and when to give up (intensity),
//! in which case it fails itself so that ITS supervisor sees the failure (escalation).
//!
//! Messages: `Restart(indices)` (sent to itself after the backoff), `Inspect` (the live
//! tree for `/debug/actors`), `Shutdown` (stop children in reverse start order, waiting for
//! each: intake first when the builder lists intake last).
//! State: the live cell of each child, restart history and counts.
//! Supervised by: its parent supervisor, or by the process (`runtime`) at the root.
//! Metrics: `votechain_actor_restarts_total{actor_kind, reason}`,
//! `votechain_actor_escalations_total{supervisor}`.

use crate::metrics as m;
use futures::future::BoxFuture;
use ractor::{
    Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr, SupervisionEvent,
};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use votechain_core::restart::{Exit, Policy, Restart, RestartTracker, affected, should_restart};

/// The child and how it ended, for the two supervision events that matter; `None` otherwise.
pub fn exit_of(evt: SupervisionEvent) -> Option<(ActorCell, Exit)> {
    match evt {
        SupervisionEvent::ActorTerminated(cell, _, reason) => Some((cell, Exit::Normal(reason))),
        SupervisionEvent::ActorFailed(cell, err) => Some((cell, Exit::Failed(err.to_string()))),
        _ => None,
    }
}

/// Restart bookkeeping for a supervisor with dynamic children (one per partition or shard):
/// records the restart under the policy's intensity and counts it. `Ok(delay)` before the
/// restart, or `Err` to escalate (fail the supervisor).
pub fn restart_child(
    tracker: &mut RestartTracker,
    policy: &Policy,
    kind: &'static str,
    who: &str,
    exit: &Exit,
) -> Result<Duration, ActorProcessingErr> {
    if let Err(e) = tracker.record(tokio::time::Instant::now().into_std(), &policy.intensity) {
        metrics::counter!(m::ACTOR_ESCALATIONS).increment(1);
        return Err(format!("{kind} {who}: {e}").into());
    }
    metrics::counter!(m::ACTOR_RESTARTS, "actor_kind" => kind, "reason" => exit.label())
        .increment(1);
    Ok(tracker.delay(&policy.backoff))
}

/// Starts one child linked to the given supervisor cell. Used for the first start and every restart.
pub type StartFn =
    Arc<dyn Fn(ActorCell) -> BoxFuture<'static, Result<ActorCell, SpawnErr>> + Send + Sync>;

#[derive(Clone)]
pub struct ChildSpec {
    /// Unique among siblings, for humans: `ingest-batcher`, `writer-coordinator`.
    pub name: String,
    /// Bounded metric label: the actor type.
    pub kind: &'static str,
    pub restart: Restart,
    pub start: StartFn,
}

/// One node of the live tree, as `/debug/actors` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ActorView {
    pub name: String,
    pub kind: String,
    pub status: String,
    pub restarts: u32,
    pub children: Vec<ActorView>,
}

pub struct Supervisor;

pub struct SupervisorArgs {
    pub name: String,
    pub policy: Policy,
    pub children: Vec<ChildSpec>,
}

pub struct SupervisorState {
    name: String,
    policy: Policy,
    specs: Vec<ChildSpec>,
    live: Vec<Option<ActorCell>>,
    restarts: Vec<u32>,
    tracker: RestartTracker,
}

pub enum SupervisorMsg {
    Restart(Vec<usize>),
    Inspect(RpcReplyPort<ActorView>),
    /// Stops children one by one in reverse start order, then the supervisor itself.
    Shutdown(Duration, RpcReplyPort<()>),
}

/// What to do after a child exit: a pure decision over the state, tested without actors.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// The cell is not (any more) one of ours: we stopped it on purpose.
    Ignore,
    /// Leave it down (temporary, or transient that exited normally).
    LeaveDown(usize),
    /// Stop these siblings now and restart all of `restart` after `delay`.
    Restart {
        stop: Vec<usize>,
        restart: Vec<usize>,
        delay: Duration,
    },
    /// Too many restarts: stop everything and fail.
    Escalate(String),
}

impl SupervisorState {
    pub fn decide(
        &mut self,
        idx: Option<usize>,
        exit: &Exit,
        now: tokio::time::Instant,
    ) -> Decision {
        let Some(idx) = idx else {
            return Decision::Ignore;
        };
        self.live[idx] = None;
        if !should_restart(self.specs[idx].restart, exit) {
            return Decision::LeaveDown(idx);
        }
        if let Err(e) = self.tracker.record(now.into_std(), &self.policy.intensity) {
            return Decision::Escalate(format!("supervisor {}: {e}", self.name));
        }
        let restart = affected(self.policy.strategy, self.specs.len(), idx);
        let stop = restart
            .iter()
            .copied()
            .filter(|i| *i != idx && self.live[*i].is_some())
            .collect();
        Decision::Restart {
            stop,
            restart,
            delay: self.tracker.delay(&self.policy.backoff),
        }
    }

    fn index_of(&self, cell: &ActorCell) -> Option<usize> {
        self.live
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.get_id() == cell.get_id()))
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut live = Vec::with_capacity(args.children.len());
        for spec in &args.children {
            let cell = (spec.start)(myself.get_cell()).await.map_err(|e| {
                format!(
                    "supervisor {}: child {} failed to start: {e}",
                    args.name, spec.name
                )
            })?;
            live.push(Some(cell));
        }
        let n = args.children.len();
        Ok(SupervisorState {
            name: args.name,
            policy: args.policy,
            specs: args.children,
            live,
            restarts: vec![0; n],
            tracker: RestartTracker::default(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: SupervisorMsg,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Restart(list) => {
                for idx in list {
                    if st.live[idx].is_some() {
                        continue;
                    }
                    let spec = st.specs[idx].clone();
                    match (spec.start)(myself.get_cell()).await {
                        Ok(cell) => {
                            st.live[idx] = Some(cell);
                            st.restarts[idx] += 1;
                            tracing::info!(supervisor = %st.name, child = %spec.name, "child restarted");
                        }
                        Err(e) => {
                            // A failed start counts as a failure: same policy, same intensity limit.
                            tracing::warn!(supervisor = %st.name, child = %spec.name, error = %e, "child failed to restart");
                            match st.decide(
                                Some(idx),
                                &Exit::Failed(e.to_string()),
                                tokio::time::Instant::now(),
                            ) {
                                Decision::Escalate(why) => return Err(escalate(&myself, st, why)),
                                Decision::Restart { delay, restart, .. } => {
                                    myself
                                        .send_after(delay, move || SupervisorMsg::Restart(restart));
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
            SupervisorMsg::Inspect(reply) => {
                let mut v = view(&myself.get_cell(), st);
                // A nested supervisor (a role) answers for its own children.
                for (i, spec) in st.specs.iter().enumerate() {
                    if let (super::SUPERVISOR_KIND, Some(cell)) = (spec.kind, &st.live[i]) {
                        let sub: ActorRef<SupervisorMsg> = cell.clone().into();
                        let answer = sub
                            .call(SupervisorMsg::Inspect, Some(Duration::from_secs(1)))
                            .await;
                        if let Ok(ractor::rpc::CallResult::Success(mut inner)) = answer {
                            inner.name = spec.name.clone();
                            inner.restarts = v.children[i].restarts;
                            v.children[i] = inner;
                        }
                    }
                }
                let _ = reply.send(v);
            }
            SupervisorMsg::Shutdown(per_child, reply) => {
                for idx in (0..st.live.len()).rev() {
                    if let Some(cell) = st.live[idx].take() {
                        if st.specs[idx].kind == super::SUPERVISOR_KIND {
                            // A role: its children stop in their own order first.
                            let sub: ActorRef<SupervisorMsg> = cell.clone().into();
                            let shutdown = |r| SupervisorMsg::Shutdown(per_child, r);
                            let _ = sub.call(shutdown, Some(per_child * 4)).await;
                        }
                        let _ = cell
                            .stop_and_wait(Some("shutdown".into()), Some(per_child))
                            .await;
                    }
                }
                let _ = reply.send(());
                myself.stop(Some("shutdown".into()));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, exit)) = exit_of(evt) else {
            return Ok(());
        };
        let idx = st.index_of(&cell);
        if let Some(i) = idx {
            tracing::warn!(supervisor = %st.name, child = %st.specs[i].name, exit = ?exit, "child exited");
        }
        match st.decide(idx, &exit, tokio::time::Instant::now()) {
            Decision::Ignore | Decision::LeaveDown(_) => {}
            Decision::Escalate(why) => return Err(escalate(&myself, st, why)),
            Decision::Restart {
                stop,
                restart,
                delay,
            } => {
                for i in stop {
                    if let Some(c) = st.live[i].take() {
                        c.stop(Some("sibling restart".into()));
                    }
                }
                for i in &restart {
                    metrics::counter!(m::ACTOR_RESTARTS, "actor_kind" => st.specs[*i].kind, "reason" => exit.label()).increment(1);
                }
                myself.send_after(delay, move || SupervisorMsg::Restart(restart));
            }
        }
        Ok(())
    }
}

fn escalate(
    myself: &ActorRef<SupervisorMsg>,
    st: &mut SupervisorState,
    why: String,
) -> ActorProcessingErr {
    tracing::error!(supervisor = %st.name, "{why}; escalating");
    metrics::counter!(m::ACTOR_ESCALATIONS).increment(1);
    for c in st.live.iter_mut().filter_map(Option::take) {
        c.stop(Some("supervisor escalated".into()));
    }
    let _ = myself;
    why.into()
}

fn view(me: &ActorCell, st: &SupervisorState) -> ActorView {
    ActorView {
        name: st.name.clone(),
        kind: "supervisor".into(),
        status: format!("{:?}", me.get_status()),
        restarts: 0,
        children: st
            .specs
            .iter()
            .zip(&st.live)
            .zip(&st.restarts)
            .map(|((spec, cell), r)| ActorView {
                name: spec.name.clone(),
                kind: spec.kind.into(),
                status: cell
                    .as_ref()
                    .map(|c| format!("{:?}", c.get_status()))
                    .unwrap_or_else(|| "Down".into()),
                restarts: *r,
                children: cell
                    .as_ref()
                    .map(|c| c.get_children().iter().map(leaf).collect())
                    .unwrap_or_default(),
            })
            .collect(),
    }
}

fn leaf(c: &ActorCell) -> ActorView {
    ActorView {
        name: c.get_name().unwrap_or_else(|| format!("{}", c.get_id())),
        kind: "actor".into(),
        status: format!("{:?}", c.get_status()),
        restarts: 0,
        children: c.get_children().iter().map(leaf).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use votechain_core::restart::{Backoff, Intensity, Strategy};

    fn state(strategy: Strategy, kinds: &[Restart]) -> SupervisorState {
        let specs = kinds
            .iter()
            .enumerate()
            .map(|(i, r)| ChildSpec {
                name: format!("c{i}"),
                kind: "test",
                restart: *r,
                start: Arc::new(|_| Box::pin(async { Err(SpawnErr::ActorAlreadyStarted) })),
            })
            .collect::<Vec<_>>();
        SupervisorState {
            name: "t".into(),
            policy: Policy {
                strategy,
                intensity: Intensity {
                    max_restarts: 2,
                    period: Duration::from_secs(5),
                },
                backoff: Backoff {
                    initial: Duration::from_millis(10),
                    max: Duration::from_secs(1),
                    factor: 2.0,
                },
            },
            live: vec![None; specs.len()],
            restarts: vec![0; specs.len()],
            specs,
            tracker: RestartTracker::default(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn decisions_follow_strategy_kind_and_intensity() {
        let now = tokio::time::Instant::now;
        let fail = Exit::Failed("x".into());
        let mut st = state(
            Strategy::RestForOne,
            &[Restart::Permanent, Restart::Transient, Restart::Temporary],
        );
        assert_eq!(st.decide(None, &fail, now()), Decision::Ignore);
        assert_eq!(st.decide(Some(2), &fail, now()), Decision::LeaveDown(2));
        assert_eq!(
            st.decide(Some(1), &Exit::Normal(None), now()),
            Decision::LeaveDown(1)
        );
        match st.decide(Some(1), &fail, now()) {
            Decision::Restart { restart, delay, .. } => {
                assert_eq!(restart, vec![1, 2]);
                assert_eq!(delay, Duration::from_millis(10));
            }
            d => panic!("{d:?}"),
        }
        assert!(
            matches!(st.decide(Some(0), &fail, now()), Decision::Restart { delay, .. } if delay == Duration::from_millis(20))
        );
        assert!(matches!(
            st.decide(Some(0), &fail, now()),
            Decision::Escalate(_)
        ));
    }
}
