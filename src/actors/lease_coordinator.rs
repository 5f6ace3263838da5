//! `LeaseCoordinator`: the projector's KCL-style lease manager. One per projector process.
//!
//! Messages:
//! - `Renew` (every failover/3): bumps this worker's registration heartbeat, then
//!   `leaseCounter + 1` on each held lease, conditional on still holding it, with the
//!   worker's figures (lag, records waiting) for the LagMonitor. Renewals never
//!   wait behind a scan: the scan runs in its own task.
//! - `Tick` (every failover/2, and at once after a shard ends): starts a sync task unless
//!   one is running. The elected shard-sync worker (the smallest live worker id) runs
//!   `DescribeStream`, creates missing leases parents first, marks lineage gaps and an old
//!   stream "needs replay", and deletes finished leases whose children progressed; every
//!   worker then reads one consistent Scan of leases and registrations. Cost per tick: one
//!   Scan of a table the hygiene keeps bounded (plus DescribeStream on one worker).
//! - `Synced` (the task's result): observes counters, computes the live workers and the
//!   rendezvous plan (`votechain_core::balance::plan`): takes what hashes here (unowned,
//!   expired, or its own), and hands off what hashes elsewhere: its worker finishes the
//!   batch and stops, then the lease is released so the new owner takes it at once.
//! - `Release` (graceful shutdown: stop workers after their batch, give the leases up,
//!   deregister), `Inspect`.
//!
//! State: held leases (counter shared with the worker as an atomic), workers still
//! stopping (a shard is never served twice in one process: it is not retaken until its
//! old worker exited), leases being handed off, the expiry tracker (counters seen and when,
//! on this process's monotonic clock), whether this worker syncs shards.
//! Supervises: one `ShardWorker` per held, ready lease. A lease that cannot be renewed is
//! dropped and its worker stopped at once; the worker cannot apply anyway (its
//! transaction is conditioned on the counter), so the new owner never races it.
//! Supervised by: the role supervisor (built by `topology`), permanent.
//! Metrics: `votechain_projector_leases_held`, `votechain_projector_leases_taken_total{how}`,
//! `votechain_projector_leases_lost_total`, `votechain_projector_handoffs_total`,
//! `votechain_projector_leases_deleted_total`, `votechain_projector_open_shards`,
//! `votechain_projector_lease_table_leases`, `votechain_projector_live_workers`,
//! `votechain_projector_shard_sync_leader`, `votechain_projector_records_lost_total{reason}`.

use super::shard_worker::{
    ProjectorCtx, STOP_HANDOFF, STOP_LEASE_LOST, STOP_SHARD_END, ShardWorker, ShardWorkerMsg,
    SharedFigures,
};
use crate::metrics as m;
use crate::projector::lease::{Lease, LeaseError, Snapshot, WORKER_PREFIX};
use crate::projector::loss::{self, LossReason};
use crate::projector::stream;
use crate::supervision::supervisor::{exit_of, restart_child};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::time::Instant;
use votechain_core::balance::{Action, ExpiryTracker, live_workers, plan};
use votechain_core::restart::{Exit, Policy, RestartTracker};
use votechain_core::shards;

pub struct LeaseCoordinator {
    pub ctx: Arc<ProjectorCtx>,
    pub policy: Policy,
}

pub enum LeaseMsg {
    Tick,
    Synced(Box<Result<Synced, String>>),
    Renew,
    Release(RpcReplyPort<()>),
    Inspect(RpcReplyPort<LeaseView>),
}

/// What a sync task read: one consistent snapshot, and what the shard sync saw.
pub struct Synced {
    snapshot: Snapshot,
    /// Open shards, when this worker ran the shard sync.
    open_shards: Option<usize>,
}

/// What `/debug/actors` and tests see of a projector.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseView {
    pub worker_id: String,
    /// shard id -> counter held
    pub held: BTreeMap<String, i64>,
    /// The live workers as this one last saw them (the rendezvous set).
    pub live: Vec<String>,
    pub shard_sync_leader: bool,
}

struct Held {
    counter: Arc<AtomicI64>,
    figures: Arc<SharedFigures>,
    worker: Option<ActorRef<ShardWorkerMsg>>,
    renewed: Instant,
}

pub struct LeaseState {
    /// This incarnation's context (its own worker id).
    ctx: Arc<ProjectorCtx>,
    held: HashMap<String, Held>,
    /// Workers told to stop whose exit has not arrived yet, by shard: not retaken meanwhile.
    stopping: HashMap<String, ActorRef<ShardWorkerMsg>>,
    /// Held leases whose worker is stopping for a handoff: released when it exits.
    handing_off: HashSet<String>,
    tracker: ExpiryTracker,
    restarts: HashMap<String, RestartTracker>,
    live: Vec<String>,
    leader: bool,
    syncing: bool,
    /// A tick arrived during a sync (a shard ended): sync again as soon as it is done.
    tick_again: bool,
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
        ctx.leases.register(&ctx.worker_id).await?;
        let f = ctx.failover;
        let timers = vec![
            myself.send_interval(f / 3, || LeaseMsg::Renew),
            myself.send_interval(f / 2, || LeaseMsg::Tick),
        ];
        myself.send_message(LeaseMsg::Tick)?;
        tracing::info!(worker_id = %ctx.worker_id, failover = ?f, "lease coordinator started");
        Ok(LeaseState {
            live: vec![ctx.worker_id.clone()],
            ctx,
            held: HashMap::new(),
            stopping: HashMap::new(),
            handing_off: HashSet::new(),
            tracker: ExpiryTracker::default(),
            restarts: HashMap::new(),
            leader: false,
            syncing: false,
            tick_again: false,
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
        metrics::gauge!(m::PROJECTOR_SYNC_LEADER).set(0.0);
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
            LeaseMsg::Tick if !st.releasing && !st.syncing => {
                st.syncing = true;
                let (ctx, leader) = (st.ctx.clone(), st.leader);
                let me = myself.clone();
                tokio::spawn(async move {
                    let r = sync(&ctx, leader).await;
                    let _ = me.send_message(LeaseMsg::Synced(Box::new(r)));
                });
            }
            LeaseMsg::Synced(r) => {
                st.syncing = false;
                if std::mem::take(&mut st.tick_again) {
                    myself.send_message(LeaseMsg::Tick)?;
                }
                match *r {
                    Ok(s) if !st.releasing => self.apply_plan(&myself, st, s).await?,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "lease sync failed; retrying next tick"),
                }
            }
            LeaseMsg::Tick if st.syncing => st.tick_again = true,
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
                    live: st.live.clone(),
                    shard_sync_leader: st.leader,
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
        // A worker stopped after its lease was lost: the shard may be served again now.
        if let Some(key) = st
            .stopping
            .iter()
            .find(|(_, w)| w.get_id() == cell.get_id())
            .map(|(k, _)| k.clone())
        {
            st.stopping.remove(&key);
            return Ok(());
        }
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
                st.handing_off.remove(&key);
                myself.send_message(LeaseMsg::Tick)?;
            }
            Exit::Normal(Some(r)) if r == STOP_LEASE_LOST => {
                metrics::counter!(m::PROJECTOR_LEASES_LOST).increment(1);
                st.held.remove(&key);
                st.handing_off.remove(&key);
            }
            _ if st.handing_off.remove(&key) => {
                // Its batch is checkpointed and it applies nothing more: give the lease up.
                if let Some(h) = st.held.remove(&key) {
                    self.release(st, &key, &h).await;
                    metrics::counter!(m::PROJECTOR_HANDOFFS).increment(1);
                }
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

/// One sync: the shard sync when `leader`, then a consistent snapshot. Runs in its own
/// task, so renewals never wait for it.
async fn sync(ctx: &ProjectorCtx, leader: bool) -> Result<Synced, String> {
    let mut snapshot = ctx.leases.snapshot().await.map_err(|e| e.to_string())?;
    if !leader {
        return Ok(Synced {
            snapshot,
            open_shards: None,
        });
    }
    let view = stream::describe(&ctx.streams, &ctx.leases.stream_arn)
        .await
        .map_err(|e| e.to_string())?;
    let fresh = shards::new_leases(&view.shards, &snapshot.leases);
    let elections: Vec<String> = ctx.registry.iter().map(|e| e.id.clone()).collect();
    let db = &ctx.leases.db;
    let table = &ctx.leases.table;
    let age_ms = crate::now_ms() - view.created_ms;
    if snapshot.leases.is_empty()
        && !fresh.is_empty()
        && view.created_ms > 0
        && age_ms > ctx.retention.as_millis() as i64
    {
        // First start on a stream older than its retention: TRIM_HORIZON is not its start.
        loss::mark(db, table, &elections, LossReason::OldStream, "*")
            .await
            .map_err(|e| e.to_string())?;
    }
    for gap in shards::lineage_gaps(&view.shards, &snapshot.leases, &fresh) {
        loss::mark(db, table, &elections, LossReason::LineageGap, &gap)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut changed = false;
    for l in &fresh {
        // Parents first; stop at the first failure so no child exists without its parent.
        ctx.leases.create(l).await.map_err(|e| e.to_string())?;
        changed = true;
    }
    for key in shards::deletable(&snapshot.leases, &view.shards) {
        match ctx.leases.delete_finished(&key).await {
            Ok(()) => {
                metrics::counter!(m::PROJECTOR_LEASES_DELETED).increment(1);
                changed = true;
            }
            Err(e) => tracing::debug!(shard = %key, error = %e, "finished lease not deleted"),
        }
    }
    if changed {
        snapshot = ctx.leases.snapshot().await.map_err(|e| e.to_string())?;
    }
    metrics::gauge!(m::PROJECTOR_LEASE_TABLE_LEASES).set(snapshot.leases.len() as f64);
    Ok(Synced {
        snapshot,
        open_shards: Some(shards::open_count(&view.shards)),
    })
}

impl LeaseCoordinator {
    /// Stops every worker (each finishes its batch; each batch is checkpointed), then gives
    /// the leases up and deregisters. Later ticks and renewals do nothing.
    async fn release_all(&self, st: &mut LeaseState) {
        st.releasing = true;
        let held: Vec<(String, Held)> = st.held.drain().collect();
        for (key, mut h) in held {
            if let Some(w) = h.worker.take() {
                let _ = w
                    .stop_and_wait(Some("release".into()), Some(st.ctx.failover))
                    .await;
            }
            self.release(st, &key, &h).await;
        }
        if let Err(e) = st.ctx.leases.deregister(&st.ctx.worker_id).await {
            tracing::warn!(error = %e, "deregistration failed; peers drop this worker on expiry");
        }
    }

    async fn release(&self, st: &LeaseState, key: &str, h: &Held) {
        let counter = h.counter.load(Ordering::Acquire);
        match st.ctx.leases.release(key, &st.ctx.worker_id, counter).await {
            Ok(()) => tracing::info!(shard = %key, "lease released"),
            Err(e) => {
                tracing::warn!(shard = %key, error = %e, "lease release failed; peers take it on expiry")
            }
        }
    }

    async fn renew(&self, st: &mut LeaseState) {
        let now = Instant::now();
        match st.ctx.leases.heartbeat(&st.ctx.worker_id).await {
            Ok(()) => {}
            Err(LeaseError::Lost(_)) => {
                // Deregistered by the shard-sync worker (we were silent too long): come back.
                if let Err(e) = st.ctx.leases.register(&st.ctx.worker_id).await {
                    tracing::warn!(error = %e, "re-registration failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
        let mut lost = vec![];
        for (key, h) in st.held.iter_mut() {
            let held = h.counter.load(Ordering::Acquire);
            crate::failpoint!("shard_worker::lease_renewal", ());
            let figures = h.figures.get();
            match st
                .ctx
                .leases
                .renew(key, &st.ctx.worker_id, held, figures)
                .await
            {
                Ok(next) => {
                    h.counter.store(next, Ordering::Release);
                    h.renewed = now;
                }
                Err(LeaseError::Lost(_)) => {
                    // A renewal whose answer was lost committed: the lease is still ours,
                    // one ahead. Anything else means a peer took it.
                    match st.ctx.leases.get(key).await {
                        Ok(Some(l))
                            if l.owner.as_deref() == Some(&st.ctx.worker_id)
                                && l.counter == held + 1 =>
                        {
                            h.counter.store(l.counter, Ordering::Release);
                            h.renewed = now;
                        }
                        _ => lost.push(key.clone()),
                    }
                }
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
                st.handing_off.remove(&key);
                metrics::counter!(m::PROJECTOR_LEASES_LOST).increment(1);
                tracing::warn!(shard = %key, "lease lost (taken by a peer or not renewable); stopping its worker");
                if let Some(w) = h.worker {
                    w.stop(Some(STOP_LEASE_LOST.into()));
                    // Not served again by this process until this worker has exited.
                    st.stopping.insert(key, w);
                }
            }
        }
    }

    /// Folds a snapshot in and acts on the rendezvous plan.
    async fn apply_plan(
        &self,
        myself: &ActorRef<LeaseMsg>,
        st: &mut LeaseState,
        s: Synced,
    ) -> Result<(), ActorProcessingErr> {
        let now = Instant::now();
        let me = st.ctx.worker_id.clone();
        let regs: Vec<(String, i64)> = s
            .snapshot
            .workers
            .iter()
            .map(|(w, c)| (format!("{WORKER_PREFIX}{w}"), *c))
            .collect();
        let counters = s
            .snapshot
            .leases
            .iter()
            .map(|l| (l.key.as_str(), l.counter))
            .chain(regs.iter().map(|(k, c)| (k.as_str(), *c)));
        st.tracker.observe_counters(counters, now.into_std());
        let failover = st.ctx.failover;
        let tracker = &st.tracker;
        let expired = |k: &str| tracker.is_expired(k, failover, now.into_std());
        let live = live_workers(&me, &s.snapshot.workers, |w| {
            expired(&format!("{WORKER_PREFIX}{w}"))
        });
        let was_leader = st.leader;
        st.leader = live.first() == Some(&me);
        metrics::gauge!(m::PROJECTOR_SYNC_LEADER).set(if st.leader { 1.0 } else { 0.0 });
        metrics::gauge!(m::PROJECTOR_LIVE_WORKERS).set(live.len() as f64);
        if let Some(open) = s.open_shards {
            metrics::gauge!(m::PROJECTOR_OPEN_SHARDS).set(open as f64);
        }
        if st.leader {
            // Registrations silent for 10 failovers are gone for good: keep the table bounded.
            for (w, _) in &s.snapshot.workers {
                let k = format!("{WORKER_PREFIX}{w}");
                if *w != me && tracker.is_expired(&k, failover * 10, now.into_std()) {
                    let _ = st.ctx.leases.deregister(w).await;
                }
            }
        }
        let ready = shards::ready(&s.snapshot.leases);
        let serving = |k: &str| st.held.contains_key(k) || st.stopping.contains_key(k);
        let actions = plan(&me, &ready, &live, expired, serving);
        st.live = live;
        for a in actions {
            match a {
                Action::Take(key, how) => {
                    let Some(seen) = ready.iter().find(|l| l.key == key) else {
                        continue;
                    };
                    self.take(myself, st, seen, how.label()).await;
                }
                Action::HandOff(key) => self.hand_off(st, &key).await,
            }
        }
        if st.leader && !was_leader {
            // Just elected: sync the shards now rather than a tick later.
            myself.send_message(LeaseMsg::Tick)?;
        }
        Ok(())
    }

    async fn take(
        &self,
        myself: &ActorRef<LeaseMsg>,
        st: &mut LeaseState,
        seen: &Lease,
        how: &'static str,
    ) {
        match st.ctx.leases.take(seen, &st.ctx.worker_id).await {
            Ok(l) => {
                metrics::counter!(m::PROJECTOR_LEASES_TAKEN, "how" => how).increment(1);
                tracing::info!(shard = %l.key, how, previous_owner = ?seen.owner, "lease taken");
                st.held.insert(
                    l.key.clone(),
                    Held {
                        counter: Arc::new(AtomicI64::new(l.counter)),
                        figures: Arc::default(),
                        worker: None,
                        renewed: Instant::now(),
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

    /// The shard hashes to another live worker: stop ours after its batch, release on exit.
    async fn hand_off(&self, st: &mut LeaseState, key: &str) {
        if st.handing_off.contains(key) {
            return;
        }
        let Some(h) = st.held.get_mut(key) else {
            return;
        };
        match h.worker.clone() {
            Some(w) => {
                tracing::info!(shard = %key, "handing the lease off to its rendezvous owner");
                st.handing_off.insert(key.to_string());
                w.stop(Some(STOP_HANDOFF.into()));
            }
            None => {
                if let Some(h) = st.held.remove(key) {
                    self.release(st, key, &h).await;
                    metrics::counter!(m::PROJECTOR_HANDOFFS).increment(1);
                }
            }
        }
    }

    async fn spawn_worker(&self, myself: &ActorRef<LeaseMsg>, st: &mut LeaseState, key: &str) {
        let Some(h) = st.held.get_mut(key) else {
            return;
        };
        let w = ShardWorker {
            ctx: st.ctx.clone(),
            shard: key.to_string(),
            held: h.counter.clone(),
            figures: h.figures.clone(),
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
