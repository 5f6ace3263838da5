//! Starting and stopping one votechain process (a "node"): the role supervisor tree
//! built from config, and the HTTP server for the roles it runs. `votechain run`,
//! `votechain dev` and the integration tests all start nodes through [`Node::start`].

use crate::actors::ingest_batcher::IngestMsg;
use crate::config::{Config, Role};
use crate::dynamo::{self, ledger::Ledger};
use crate::http;
use crate::shared::{Shared, Slot};
use crate::supervision::{Supervisor, SupervisorArgs, SupervisorMsg};
use crate::topology::{self, TreeInputs};
use ractor::{Actor, ActorRef};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Build(#[from] topology::BuildError),
    #[error(transparent)]
    Elections(#[from] crate::manifests::ResolveError),
    #[error("cannot start the actor tree: {0}")]
    Spawn(String),
    #[error(transparent)]
    Tls(#[from] crate::http::serve::TlsError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeysError),
    #[error(
        "vote caps are configured but the caps table {table} cannot be read ({detail}); \
         create it with `votechain setup-tables`"
    )]
    CapsTable { table: String, detail: String },
    #[error("the Kafka topics are not usable: {0}")]
    Topics(#[from] crate::kafka::KafkaSetupError),
    #[error("cannot bind HTTP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// With a vote cap in force, ingest refuses to start without its caps table: every capped
/// vote would otherwise be answered 503.
async fn caps_table_ready(db: &dynamo::Client, table: &str) -> Result<(), StartError> {
    match db.describe_table().table_name(table).send().await {
        Ok(_) => Ok(()),
        Err(e) => Err(StartError::CapsTable {
            table: table.to_string(),
            detail: dynamo::describe(&e),
        }),
    }
}

/// A running process: its supervisor tree and HTTP server.
pub struct Node {
    pub config: Arc<Config>,
    pub root: ActorRef<SupervisorMsg>,
    pub http_addr: SocketAddr,
    /// The admin listener's address (`node.admin_addr`), when it has one.
    pub admin_addr: Option<SocketAddr>,
    pub ledger: Ledger,
    http_stop: tokio::sync::watch::Sender<bool>,
    http_tasks: Vec<tokio::task::JoinHandle<()>>,
    root_task: tokio::task::JoinHandle<()>,
}

impl Node {
    /// Reads the v2 elections' manifests (refusing to start on a missing one or a digest
    /// other than the configured one), builds the tree for the config's roles, then serves
    /// HTTP (intake opens last).
    pub async fn start(mut config: Config) -> Result<Node, StartError> {
        // Before anything starts: a bad certificate or keys file refuses the start, naming it.
        let tls = match &config.node.tls {
            Some(files) => Some(http::serve::acceptor(files)?),
            None => None,
        };
        let keys = Arc::new(crate::keys::Keys::new(&config.ingest)?);
        let handle = crate::metrics::install();
        let db = dynamo::client(&config.dynamodb).await;
        let ledger = Ledger::new(db, config.dynamodb.ledger_table.clone());
        crate::manifests::resolve(&ledger, &mut config).await?;
        if config.runs(Role::Ingest) && (config.ingest.key_max_votes > 0 || keys.any_cap()) {
            caps_table_ready(&ledger.db, &config.dynamodb.caps_table).await?;
        }
        // A topic with another retention, cleanup policy, replication or partition count
        // than votechain's would lose votes or move chains: refuse, naming the setting.
        let k = &config.kafka;
        let mut used: Vec<&str> = vec![];
        if config.runs(Role::Ingest) {
            used.extend([k.votes_topic.as_str(), k.audit_topic.as_str()]);
        }
        if config.runs(Role::Writer) {
            used.extend([k.votes_topic.as_str(), k.dead_letter_topic.as_str()]);
        }
        if !used.is_empty() {
            crate::kafka::check_topics(k, Some(&used)).await?;
        }
        let config = Arc::new(config);
        let ingest_slot: Slot<IngestMsg> = Slot::default();
        let streams = if config.runs(crate::config::Role::Projector)
            || config.runs(crate::config::Role::LagMonitor)
        {
            let arn = crate::projector::stream::stream_arn(&ledger.db, &ledger.table)
                .await
                .map_err(|e| StartError::Spawn(e.to_string()))?;
            Some((dynamo::streams_client(&config.dynamodb).await, arn))
        } else {
            None
        };
        let scaling: Shared<votechain_core::scaling::ScalingReport> = Shared::default();
        let inputs = TreeInputs {
            config: config.clone(),
            ledger: ledger.clone(),
            streams,
            ingest_slot: ingest_slot.clone(),
            scaling: scaling.clone(),
        };
        let children = topology::build(&inputs)?;
        let args = SupervisorArgs {
            name: format!("node-{}", config.node.instance_id),
            policy: crate::supervision::root_policy(),
            children,
        };
        let (root, root_task) = Actor::spawn(None, Supervisor, args)
            .await
            .map_err(|e| StartError::Spawn(e.to_string()))?;

        let state = http::AppState::new(
            config.clone(),
            ledger.clone(),
            ingest_slot,
            scaling,
            root.clone(),
            handle,
            keys.clone(),
        );
        let routers = http::routers(state);
        let (listener, http_addr) = bind(config.node.http_addr).await?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (http_stop, rx) = tokio::sync::watch::channel(false);
        let limits = config.http.clone();
        let (mut http_tasks, mut admin_addr) = (vec![], None);
        // The admin listener (plain HTTP: in-cluster, behind its NetworkPolicy) when set.
        let app = match config.node.admin_addr {
            Some(addr) => {
                let (admin, bound) = bind(addr).await?;
                let app = routers.admin;
                let serve = http::serve::serve(admin, app, None, limits.clone(), rx.clone());
                http_tasks.push(tokio::spawn(serve));
                admin_addr = Some(bound);
                routers.public
            }
            None => routers.admin,
        };
        let serve = http::serve::serve(listener, app, tls, limits, rx.clone());
        http_tasks.push(tokio::spawn(serve));
        if config.runs(Role::Ingest) && config.ingest.keys_file.is_some() {
            let every = Duration::from_millis(config.ingest.keys_reload_ms);
            http_tasks.push(tokio::spawn(reload_keys(keys, every, rx)));
        }
        tracing::info!(%http_addr, ?admin_addr, scheme, roles = ?config.roles, "node started");
        Ok(Node {
            config,
            root,
            http_addr,
            admin_addr,
            ledger,
            http_stop,
            http_tasks,
            root_task,
        })
    }

    /// Graceful shutdown: stop intake (HTTP) first, then the actors in reverse start order
    /// (each finishes its batch; writes are atomic, so a cut-off batch is simply redone).
    pub async fn shutdown(self) {
        let grace = Duration::from_millis(self.config.node.shutdown_grace_ms);
        let _ = self.http_stop.send(true);
        let _ = tokio::time::timeout(grace / 2, futures::future::join_all(self.http_tasks)).await;
        let _ = self
            .root
            .call(|r| SupervisorMsg::Shutdown(grace / 8, r), Some(grace / 4))
            .await;
        self.root.stop(Some("shutdown".into()));
        let _ = tokio::time::timeout(grace / 4, self.root_task).await;
        tracing::info!("node stopped");
    }

    /// True while the root supervisor runs (it fails when a child escalates).
    pub fn is_alive(&self) -> bool {
        !self.root_task.is_finished()
    }
}

/// A listener on `addr` and the address it got (port 0: a free one).
async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), StartError> {
    let bind_error = |source| StartError::Bind { addr, source };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    Ok((listener, bound))
}

/// Re-reads the station keys file every `every` until `stop`: a changed file comes into
/// force (logged, `votechain_ingest_keys` set); a bad one is refused and the keys in force
/// stay (logged, `votechain_ingest_keys_reload_failures_total`).
async fn reload_keys(
    keys: Arc<crate::keys::Keys>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    metrics::gauge!(crate::metrics::INGEST_KEYS).set(keys.count() as f64);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let k = keys.clone();
        match tokio::task::spawn_blocking(move || k.reload()).await {
            Ok(Ok(true)) => {
                tracing::info!(keys = keys.count(), "station keys reloaded");
                metrics::gauge!(crate::metrics::INGEST_KEYS).set(keys.count() as f64);
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "station keys file refused; the keys in force stay");
                metrics::counter!(crate::metrics::INGEST_KEYS_RELOAD_FAILURES).increment(1);
            }
            Err(e) => tracing::error!(error = %e, "station keys reload panicked"),
        }
    }
}
