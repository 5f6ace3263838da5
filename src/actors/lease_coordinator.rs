//! `LeaseCoordinator`: the projector's KCL-style lease manager. One per projector process.
//!
//! Messages: `Renew` (every failover/3: `leaseCounter + 1` on each held lease, conditional
//! on still holding it), `Tick` (every failover/2: discover shards with paging, create
//! missing leases, observe counters, take expired/unowned leases, steal at most one),
//! `Release` (graceful shutdown: stop workers after their batch, then give the leases up so
//! a peer takes them at once), `Inspect`.
//! State: held leases (counter shared with the worker as an atomic), the expiry tracker
//! (counters seen and when, on this process's monotonic clock), the last shard list.
//! Supervises: one `ShardWorker` per held, ready lease. A lease that cannot be renewed is
//! dropped and its worker stopped at once; the worker cannot apply anyway (its
//! transaction is conditioned on the counter), so the new owner never races it.
//! Supervised by: the role supervisor (built by `topology`), permanent.
//! Metrics: `votechain_projector_leases_held`, `votechain_projector_leases_taken_total{how}`,
//! `votechain_projector_leases_lost_total`, `votechain_projector_open_shards`.

use super::shard_worker::{
    ProjectorCtx, STOP_LEASE_LOST, STOP_SHARD_END, ShardWorker, ShardWorkerMsg,
};
use crate::metrics as m;
use crate::projector::lease::{Lease, LeaseError};
use crate::projector::stream;
use crate::supervision::supervisor::{exit_of, restart_child};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::time::Instant;
use votechain_core::balance::{ExpiryTracker, choose_leases};
use votechain_core::restart::{Exit, Policy, RestartTracker};
use votechain_core::shards::{self, Shard};

pub struct LeaseCoordinator {
    pub ctx: Arc<ProjectorCtx>,
    pub policy: Policy,
}

pub enum LeaseMsg {
    Tick,
    Renew,
    Release(RpcReplyPort<()>),
    Inspect(RpcReplyPort<LeaseView>),
}

/// What `/debug/actors` and tests see of a projector.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseView {
    pub worker_id: String,
    /// shard id -> counter held
    pub held: BTreeMap<String, i64>,
    pub open_shards: usize,
}

struct Held {
    counter: Arc<AtomicI64>,
    worker: Option<ActorRef<ShardWorkerMsg>>,
    renewed: Instant,
}

pub struct LeaseState {
    /// This incarnation's context (its own worker id).
    ctx: Arc<ProjectorCtx>,
    held: HashMap<String, Held>,
    tracker: ExpiryTracker,
    restarts: HashMap<String, RestartTracker>,
    shards: Vec<Shard>,
    releasing: bool,
    timers: Vec<tokio::task::JoinHandle<()>>,
}

impl Actor for LeaseCoordinator {
    type Msg = LeaseMsg;
    type State = LeaseState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<LeaseMsg>,
        _: (),
    ) -> Result<LeaseState, ActorProcessingErr> {
        // Lease owner = this incarnation: a restarted coordinator is a new worker to its peers,
        // so workers orphaned by a crash can never pass for the new owner's.
        let ctx = Arc::new(ProjectorCtx {
            worker_id: format!(
                "{}#{}",
                self.ctx.worker_id,
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            ..(*self.ctx).clone()
        });
        let f = ctx.failover;
        let timers = vec![
            myself.send_interval(f / 3, || LeaseMsg::Renew),
            myself.send_interval(f / 2, || LeaseMsg::Tick),
        ];
        myself.send_message(LeaseMsg::Tick)?;
        tracing::info!(worker_id = %ctx.worker_id, failover = ?f, "lease coordinator started");
        Ok(LeaseState {
            ctx,
            held: HashMap::new(),
            tracker: ExpiryTracker::default(),
            restarts: HashMap::new(),
            shards: vec![],
            releasing: false,
            timers,
        })
    }

    async fn post_stop(
        &self,
        _: ActorRef<LeaseMsg>,
        st: &mut LeaseState,
    ) -> Result<(), ActorProcessingErr> {
        for t in st.timers.drain(..) {
            t.abort();
        }
        // Graceful stop (SIGTERM, shutdown) or escalation alike: workers finish their batch and
        // stop FIRST, then the leases are released so a peer takes them without waiting.
        self.release_all(st).await;
        metrics::gauge!(m::PROJECTOR_LEASES_HELD).set(0.0);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<LeaseMsg>,
        msg: LeaseMsg,
        st: &mut LeaseState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            LeaseMsg::Renew if !st.releasing => self.renew(st).await,
            LeaseMsg::Tick if !st.releasing => {
                if let Err(e) = self.tick(&myself, st).await {
                    tracing::warn!(error = %e, "lease tick failed; retrying next tick");
                }
            }
            LeaseMsg::Renew | LeaseMsg::Tick => {}
            LeaseMsg::Release(reply) => {
                self.release_all(st).await;
                let _ = reply.send(());
            }
            LeaseMsg::Inspect(reply) => {
                let _ = reply.send(LeaseView {
                    worker_id: st.ctx.worker_id.clone(),
                    held: st
                        .held
                        .iter()
                        .map(|(k, h)| (k.clone(), h.counter.load(Ordering::Acquire)))
                        .collect(),
                    open_shards: shards::open_count(&st.shards),
                });
            }
        }
        metrics::gauge!(m::PROJECTOR_LEASES_HELD).set(st.held.len() as f64);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<LeaseMsg>,
        evt: SupervisionEvent,
        st: &mut LeaseState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, exit)) = exit_of(evt) else {
            return Ok(());
        };
        let Some(key) = st
            .held
            .iter()
            .find(|(_, h)| {
                h.worker
                    .as_ref()
                    .is_some_and(|w| w.get_id() == cell.get_id())
            })
            .map(|(k, _)| k.clone())
        else {
            return Ok(());
        };
        match &exit {
            Exit::Normal(Some(r)) if r == STOP_SHARD_END => {
                // Finished: keep nothing; the lease stays at SHARD_END so children become ready.
                st.held.remove(&key);
                myself.send_message(LeaseMsg::Tick)?;
            }
            Exit::Normal(Some(r)) if r == STOP_LEASE_LOST => {
                metrics::counter!(m::PROJECTOR_LEASES_LOST).increment(1);
                st.held.remove(&key);
            }
            _ => {
                // A crash: restart the worker while we hold the lease, under the restart policy.
                if let Some(h) = st.held.get_mut(&key) {
                    h.worker = None;
                }
                // Restarted at once (the lease would otherwise idle); the intensity limit still applies.
                restart_child(
                    st.restarts.entry(key.clone()).or_default(),
                    &self.policy,
                    "shard_worker",
                    &key,
                    &exit,
                )?;
                tracing::warn!(shard = %key, ?exit, "shard worker exited; restarting");
                self.spawn_worker(&myself, st, &key).await;
            }
        }
        Ok(())
    }
}

impl LeaseCoordinator {
    /// Stops every worker (each finishes its batch; each batch is checkpointed), then gives
    /// the leases up. Later ticks and renewals do nothing.
    async fn release_all(&self, st: &mut LeaseState) {
        st.releasing = true;
        for (key, mut h) in st.held.drain() {
            if let Some(w) = h.worker.take() {
                let _ = w
                    .stop_and_wait(Some("release".into()), Some(st.ctx.failover))
                    .await;
            }
            match st
                .ctx
                .leases
                .release(&key, &st.ctx.worker_id, h.counter.load(Ordering::Acquire))
                .await
            {
                Ok(()) => tracing::info!(shard = %key, "lease released"),
                Err(e) => {
                    tracing::warn!(shard = %key, error = %e, "lease release failed; peers take it on expiry")
                }
            }
        }
    }

    async fn renew(&self, st: &mut LeaseState) {
        let now = Instant::now();
        let mut lost = vec![];
        for (key, h) in st.held.iter_mut() {
            let held = h.counter.load(Ordering::Acquire);
            crate::failpoint!("shard_worker::lease_renewal", ());
            match st.ctx.leases.renew(key, &st.ctx.worker_id, held).await {
                Ok(next) => {
                    h.counter.store(next, Ordering::Release);
                    h.renewed = now;
                }
                Err(LeaseError::Lost(_)) => lost.push(key.clone()),
                Err(e) => {
                    // Could not reach the table: after a whole failover without renewal, peers
                    // consider the lease expired, so we must stop too.
                    if now.duration_since(h.renewed) > st.ctx.failover {
                        lost.push(key.clone());
                    }
                    tracing::warn!(shard = %key, error = %e, "lease renewal failed");
                }
            }
        }
        for key in lost {
            if let Some(h) = st.held.remove(&key) {
                metrics::counter!(m::PROJECTOR_LEASES_LOST).increment(1);
                tracing::warn!(shard = %key, "lease lost (taken by a peer or not renewable); stopping its worker");
                if let Some(w) = h.worker {
                    w.stop(Some(STOP_LEASE_LOST.into()));
                }
            }
        }
    }

    async fn tick(
        &self,
        myself: &ActorRef<LeaseMsg>,
        st: &mut LeaseState,
    ) -> Result<(), ActorProcessingErr> {
        st.shards = stream::list_shards(&st.ctx.streams, &st.ctx.leases.stream_arn).await?;
        metrics::gauge!(m::PROJECTOR_OPEN_SHARDS).set(shards::open_count(&st.shards) as f64);
        let mut leases = st.ctx.leases.scan().await?;
        let fresh = shards::new_leases(&st.shards, &leases);
        if !fresh.is_empty() {
            for l in &fresh {
                st.ctx.leases.create(l).await?;
            }
            leases = st.ctx.leases.scan().await?;
        }
        let now = Instant::now();
        st.tracker.observe(&leases, now.into_std());
        let ready = shards::ready(&leases, &st.shards);
        // Leases this worker id owns but no live worker serves (a restarted coordinator): re-take them.
        let mut wanted: Vec<(Lease, &'static str)> = ready
            .iter()
            .filter(|l| {
                l.owner.as_deref() == Some(&st.ctx.worker_id) && !st.held.contains_key(&l.key)
            })
            .map(|l| (l.clone(), "reacquired"))
            .collect();
        let failover = st.ctx.failover;
        let tracker = &st.tracker;
        let picks = choose_leases(&st.ctx.worker_id, &ready, |k| {
            tracker.is_expired(k, failover, now.into_std())
        });
        for (key, how) in picks {
            if let Some(l) = ready.iter().find(|l| l.key == key) {
                wanted.push((l.clone(), how.label()));
            }
        }
        for (seen, how) in wanted {
            match st.ctx.leases.take(&seen, &st.ctx.worker_id).await {
                Ok(l) => {
                    metrics::counter!(m::PROJECTOR_LEASES_TAKEN, "how" => how).increment(1);
                    tracing::info!(shard = %l.key, how, previous_owner = ?seen.owner, "lease taken");
                    st.held.insert(
                        l.key.clone(),
                        Held {
                            counter: Arc::new(AtomicI64::new(l.counter)),
                            worker: None,
                            renewed: now,
                        },
                    );
                    self.spawn_worker(myself, st, &l.key).await;
                }
                Err(LeaseError::Lost(_)) => {
                    tracing::debug!(shard = %seen.key, "another worker took the lease first")
                }
                Err(e) => tracing::warn!(shard = %seen.key, error = %e, "taking lease failed"),
            }
        }
        Ok(())
    }

    async fn spawn_worker(&self, myself: &ActorRef<LeaseMsg>, st: &mut LeaseState, key: &str) {
        let Some(h) = st.held.get_mut(key) else {
            return;
        };
        let w = ShardWorker {
            ctx: st.ctx.clone(),
            shard: key.to_string(),
            held: h.counter.clone(),
        };
        let name = crate::supervision::actor_name("shard_worker", &st.ctx.worker_id);
        match Actor::spawn_linked(Some(name), w, (), myself.get_cell()).await {
            Ok((r, _)) => h.worker = Some(r),
            Err(e) => {
                // Give the lease back to the pool: a peer (or our next tick) retries.
                tracing::warn!(shard = %key, error = %e, "shard worker failed to start; releasing its lease");
                let _ = st
                    .ctx
                    .leases
                    .release(key, &st.ctx.worker_id, h.counter.load(Ordering::Acquire))
                    .await;
                st.held.remove(key);
            }
        }
    }
}
