//! [`KafkaLocal`]: Apache Kafka (the version pinned in `scripts/kafka/pom.xml`, installed by
//! `scripts/setup` into `.local/kafka/libs/`) as KRaft nodes that are child processes of
//! this one, for `votechain dev`, the integration tests, chaos and the bench.
//!
//! Each node is one JVM running Kafka's own main class, `kafka.Kafka`, as broker and
//! controller at once (`process.roles=broker,controller`), so `ps` shows what it is. One
//! node by default; three for fault tests, set up as production is: replication factor
//! 3, `min.insync.replicas=2`, `unclean.leader.election.enable=false`, the transaction
//! state log at replication 3 and min ISR 2. Storage is formatted (Kafka's `StorageTool`)
//! on a node's first start only, so a node restarted on its data rejoins as itself.
//!
//! Readiness is the broker's own answer, not a port: every node registered in the
//! cluster's metadata (and, with [`KafkaLocal::start_with_topics`], the topics created by
//! CreateTopics and read back by DescribeConfigs, as `setup-topics` does on MSK). A node
//! that does not get there in time is an error naming its log file and quoting its end.
//!
//! Stopping: [`KafkaLocal::shutdown`] asks every node to stop (SIGTERM: Kafka's controlled
//! shutdown) and waits; drop kills what is left (SIGKILL); the kernel kills the nodes if
//! this process dies (`PR_SET_PDEATHSIG`, which follows the *thread* that spawned them:
//! start them from a thread that lives as long as they should, never `spawn_blocking`).
//! The chaos runner and the fault tests kill, pause (SIGSTOP) and restart single nodes.

use crate::config::KafkaConfig;
use rdkafka::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Partitions of each local cluster's `__transaction_state` (Kafka's default is 50; fewer
/// start faster, and [`transaction_state_partition`] needs the number).
pub const TXN_STATE_PARTITIONS: u32 = 8;
/// How long a node may take from spawn to registered (a cold JVM on 2 busy cores).
const READY_WITHIN: Duration = Duration::from_secs(90);
/// How long a node may take for its controlled shutdown before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(30);
/// Kafka's own defaults from `kafka-run-class.sh`, for a broker's latency.
const JVM_FLAGS: [&str; 5] = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
];
/// The broker's log: everything at INFO to standard output, which is the node's
/// `broker.log`.
const LOG4J2: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="stdout"/></Root>
  </Loggers>
</Configuration>
"#;

#[derive(Debug, thiserror::Error)]
pub enum KafkaLocalError {
    #[error(
        "Apache Kafka is not installed (looked for libs/ in {0}); run scripts/setup, or set VOTECHAIN_KAFKA_DIR"
    )]
    NotInstalled(String),
    #[error("a local Kafka cluster has 1 to 5 nodes, not {0}")]
    Nodes(u32),
    #[error("Kafka node {node}: {what}: {source}")]
    Io {
        node: u32,
        what: &'static str,
        source: std::io::Error,
    },
    #[error(
        "port {0} is already in use; stop what runs there, set kafka.local_port, or point kafka.bootstrap_servers at a running cluster"
    )]
    PortInUse(u16),
    #[error("cannot format Kafka node {node}'s storage ({command}):\n{output}")]
    Format {
        node: u32,
        command: String,
        output: String,
    },
    #[error("Kafka node {node} exited ({status}) during start; its log {log} ends:\n{tail}")]
    Exited {
        node: u32,
        status: String,
        log: String,
        tail: String,
    },
    #[error(
        "Kafka node {node} was not ready within {secs} s ({waiting}); its log {log} ends:\n{tail}"
    )]
    NotReady {
        node: u32,
        secs: u64,
        waiting: String,
        log: String,
        tail: String,
    },
    #[error("creating the topics on the local Kafka: {0}")]
    Topics(#[from] crate::kafka::KafkaSetupError),
}

/// What to start.
#[derive(Debug, Clone)]
pub struct KafkaLocalOptions {
    /// KRaft nodes, each broker and controller: 1 (dev, most tests) or 3 (fault tests).
    pub nodes: u32,
    /// Node `i`'s client port is `port + 2i`, its controller port one above; 0 picks free
    /// ports.
    pub port: u16,
    /// The nodes' folders (configs, logs, data); `None`: a temporary folder, removed when
    /// the cluster is dropped. A folder used before is started on its data.
    pub data_dir: Option<PathBuf>,
    /// Each node's Java heap (`-Xms` = `-Xmx`).
    pub heap: String,
}

impl KafkaLocalOptions {
    /// `nodes` nodes on free ports in a temporary folder, the heap from
    /// `$VOTECHAIN_KAFKA_HEAP` (default 512m).
    pub fn nodes(nodes: u32) -> KafkaLocalOptions {
        KafkaLocalOptions {
            nodes,
            port: 0,
            data_dir: None,
            heap: super::heap_from_env("VOTECHAIN_KAFKA_HEAP", "512m"),
        }
    }
}

/// One KRaft node.
struct Node {
    id: u32,
    port: u16,
    controller_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn log(&self) -> PathBuf {
        self.dir.join("broker.log")
    }
    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// A running local Kafka cluster.
pub struct KafkaLocal {
    nodes: Vec<Node>,
    libs: PathBuf,
    heap: String,
    _temp: Option<tempfile::TempDir>,
}

/// The folder holding `libs/` (the broker's jars).
pub fn kafka_dir() -> Result<PathBuf, KafkaLocalError> {
    super::installed_dir("VOTECHAIN_KAFKA_DIR", "kafka", "libs")
        .map_err(KafkaLocalError::NotInstalled)
}

/// The installed Kafka's version, from its broker jar's name (`kafka_2.13-4.4.0.jar`).
pub fn kafka_version() -> Option<String> {
    let libs = kafka_dir().ok()?.join("libs");
    std::fs::read_dir(libs).ok()?.find_map(|e| {
        let name = e.ok()?.file_name().into_string().ok()?;
        let v = name.strip_prefix("kafka_2.13-")?.strip_suffix(".jar")?;
        Some(v.to_string())
    })
}

impl KafkaLocal {
    /// Starts the cluster and waits until every node is registered. Free ports are tried
    /// up to five times (another process may take one first).
    pub async fn start(opts: KafkaLocalOptions) -> Result<KafkaLocal, KafkaLocalError> {
        if !(1..=5).contains(&opts.nodes) {
            return Err(KafkaLocalError::Nodes(opts.nodes));
        }
        let mut last = None;
        for _ in 0..if opts.port == 0 { 5 } else { 1 } {
            match Self::start_once(&opts).await {
                Err(e @ KafkaLocalError::PortInUse(_)) if opts.port == 0 => last = Some(e),
                other => return other,
            }
        }
        Err(last.expect("tried at least once"))
    }

    /// [`Self::start`], then the topics of `cfg` (its `partitions`, the replication factor
    /// at most the nodes) created and checked by [`crate::kafka::ensure_topics`].
    pub async fn start_with_topics(
        opts: KafkaLocalOptions,
        cfg: &KafkaConfig,
    ) -> Result<KafkaLocal, KafkaLocalError> {
        let k = Self::start(opts).await?;
        crate::kafka::ensure_topics(&k.topic_config(cfg)).await?;
        Ok(k)
    }

    /// `cfg` pointed at this cluster, its replication factor at most the nodes.
    pub fn topic_config(&self, cfg: &KafkaConfig) -> KafkaConfig {
        let mut c = cfg.clone();
        c.bootstrap_servers = self.bootstrap_servers();
        c.local = false;
        c.replication_factor = c.replication_factor.clamp(1, self.nodes.len() as u32);
        c
    }

    async fn start_once(opts: &KafkaLocalOptions) -> Result<KafkaLocal, KafkaLocalError> {
        let libs = kafka_dir()?.join("libs");
        let (root, temp) = match &opts.data_dir {
            Some(d) => (d.clone(), None),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("votechain-kafka-")
                    .tempdir()
                    .map_err(|source| KafkaLocalError::Io {
                        node: 0,
                        what: "creating a temporary folder",
                        source,
                    })?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let nodes = plan_nodes(opts, &root)?;
        let mut k = KafkaLocal {
            nodes,
            libs,
            heap: opts.heap.clone(),
            _temp: temp,
        };
        k.write_configs()?;
        k.format().await?;
        for i in 0..k.nodes.len() {
            k.spawn(i)?;
        }
        k.wait_registered(None).await?;
        Ok(k)
    }

    /// `host:port,...` of every node.
    pub fn bootstrap_servers(&self) -> String {
        let all: Vec<String> = self.nodes.iter().map(Node::bootstrap).collect();
        all.join(",")
    }

    /// The node ids (1..=nodes), as Kafka's metadata names the brokers.
    pub fn node_ids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// A node's `broker.log`.
    pub fn log_file(&self, id: u32) -> PathBuf {
        self.node(id).log()
    }

    /// The node's JVM process id, while it runs.
    pub fn pid(&self, id: u32) -> Option<u32> {
        self.node(id).child.as_ref().map(Child::id)
    }

    fn node(&self, id: u32) -> &Node {
        &self.nodes[(id - 1) as usize]
    }

    /// SIGKILL: the node dies at once, as a crashed machine would (nothing flushed).
    pub fn kill(&mut self, id: u32) {
        if let Some(mut c) = self.nodes[(id - 1) as usize].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP: the node stops answering but keeps its connections (a hung machine).
    pub fn pause(&self, id: u32) {
        self.signal(id, libc::SIGSTOP);
    }

    /// SIGCONT after [`Self::pause`].
    pub fn resume(&self, id: u32) {
        self.signal(id, libc::SIGCONT);
    }

    fn signal(&self, id: u32, sig: libc::c_int) {
        if let Some(pid) = self.pid(id) {
            // SAFETY: kill(2) on our own child's pid; no memory is touched.
            unsafe { libc::kill(pid as libc::pid_t, sig) };
        }
    }

    /// SIGTERM and wait for the controlled shutdown (killed after 30 s).
    pub async fn stop(&mut self, id: u32) {
        let i = (id - 1) as usize;
        self.signal(id, libc::SIGTERM);
        if let Some(c) = self.nodes[i].child.as_mut() {
            wait_exit(c, STOP_WITHIN).await;
        }
        self.kill(id);
    }

    /// Starts a stopped or killed node again, on its data, and waits until it is
    /// registered.
    pub async fn restart(&mut self, id: u32) -> Result<(), KafkaLocalError> {
        let i = (id - 1) as usize;
        if self.nodes[i].child.is_none() {
            self.spawn(i)?;
        }
        self.wait_registered(Some(i)).await
    }

    /// Every node asked to stop at once (SIGTERM), each waited for (killed after 30 s).
    pub async fn shutdown(mut self) {
        for n in &self.nodes {
            self.signal(n.id, libc::SIGTERM);
        }
        for n in &mut self.nodes {
            if let Some(c) = n.child.as_mut() {
                wait_exit(c, STOP_WITHIN).await;
            }
        }
        for id in self.node_ids() {
            self.kill(id);
        }
    }

    /// The cluster's metadata, asked of every running node.
    pub async fn metadata(&self, topic: Option<&str>) -> Option<Metadata> {
        let bootstrap = self.bootstrap_servers();
        let topic = topic.map(str::to_string);
        tokio::task::spawn_blocking(move || fetch_metadata(&bootstrap, topic.as_deref()))
            .await
            .ok()
            .flatten()
    }

    /// The broker leading `topic`'s `partition`, as the metadata says.
    pub async fn leader(&self, topic: &str, partition: i32) -> Option<u32> {
        let md = self.metadata(Some(topic)).await?;
        let t = md.topics().iter().find(|t| t.name() == topic)?;
        let p = t.partitions().iter().find(|p| p.id() == partition)?;
        u32::try_from(p.leader()).ok()
    }

    /// The broker coordinating the transactions of `transactional_id`: the leader of its
    /// partition of `__transaction_state`.
    pub async fn transaction_coordinator(&self, transactional_id: &str) -> Option<u32> {
        let p = transaction_state_partition(transactional_id, TXN_STATE_PARTITIONS);
        self.leader("__transaction_state", p as i32).await
    }

    /// Waits until every partition of `topics` has its full replica set in sync and a
    /// leader (after a restart, before the next node of a rolling restart stops).
    pub async fn wait_in_sync(&self, topics: &[&str], within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let mut all = true;
            for t in topics {
                all &= self
                    .metadata(Some(t))
                    .await
                    .is_some_and(|md| in_sync(&md, t));
            }
            if all {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        false
    }

    fn write_configs(&self) -> Result<(), KafkaLocalError> {
        let voters: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port))
            .collect();
        for n in &self.nodes {
            let io = |what| {
                move |source| KafkaLocalError::Io {
                    node: n.id,
                    what,
                    source,
                }
            };
            std::fs::create_dir_all(&n.dir).map_err(io("creating its folder"))?;
            let props = server_properties(n, &voters.join(","), self.nodes.len() as u32);
            std::fs::write(n.dir.join("server.properties"), props)
                .map_err(io("writing server.properties"))?;
            std::fs::write(n.dir.join("log4j2.xml"), LOG4J2).map_err(io("writing log4j2.xml"))?;
        }
        Ok(())
    }

    /// Formats the storage of every node that has none, all with one cluster id (read
    /// from a formatted node, else new); the nodes format in parallel.
    async fn format(&self) -> Result<(), KafkaLocalError> {
        let unformatted: Vec<&Node> = self
            .nodes
            .iter()
            .filter(|n| !n.dir.join("data/meta.properties").exists())
            .collect();
        if unformatted.is_empty() {
            return Ok(());
        }
        let cluster_id = self
            .nodes
            .iter()
            .find_map(|n| cluster_id_of(&n.dir.join("data/meta.properties")))
            .unwrap_or_else(new_cluster_id);
        let mut running = vec![];
        for n in unformatted {
            let mut cmd = Command::new("java");
            cmd.args(["-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp"])
                .arg(self.classpath())
                .args(["kafka.tools.StorageTool", "format", "-t", &cluster_id, "-c"])
                .arg(n.dir.join("server.properties"))
                .stdin(Stdio::null());
            let shown = format!("{cmd:?}");
            let child = tokio::process::Command::from(cmd).output();
            running.push((n.id, shown, child));
        }
        for (node, command, child) in running {
            let out = child.await.map_err(|source| KafkaLocalError::Io {
                node,
                what: "running Kafka's StorageTool (is Java 17+ installed?)",
                source,
            })?;
            if !out.status.success() {
                let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
                output.push_str(&String::from_utf8_lossy(&out.stderr));
                return Err(KafkaLocalError::Format {
                    node,
                    command,
                    output,
                });
            }
        }
        Ok(())
    }

    fn classpath(&self) -> String {
        format!("{}/*", self.libs.display())
    }

    fn spawn(&mut self, i: usize) -> Result<(), KafkaLocalError> {
        use std::os::unix::process::CommandExt;
        let n = &self.nodes[i];
        let io = |what| {
            move |source| KafkaLocalError::Io {
                node: n.id,
                what,
                source,
            }
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(n.log())
            .map_err(io("opening broker.log"))?;
        let err = log.try_clone().map_err(io("opening broker.log"))?;
        let mut cmd = Command::new("java");
        cmd.arg(format!("-Xmx{}", self.heap))
            .arg(format!("-Xms{}", self.heap))
            .args(JVM_FLAGS)
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                n.dir.join("log4j2.xml").display()
            ))
            .arg(format!("-Dkafka.logs.dir={}", n.dir.display()))
            .arg("-cp")
            .arg(self.classpath())
            .arg("kafka.Kafka")
            .arg(n.dir.join("server.properties"))
            .current_dir(&n.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            // Its own process group: a Ctrl-C in the terminal stops votechain, which then
            // stops the broker after its own clients (no broker-gone errors on the way out).
            .process_group(0);
        let child = crate::process::die_with_parent(&mut cmd)
            .spawn()
            .map_err(io(
                "starting java (Java 17+ is required; scripts/setup checks it)",
            ))?;
        self.nodes[i].child = Some(child);
        Ok(())
    }

    /// Waits until node `only` (or every node) listens and the metadata, asked of that
    /// node, lists every node as a broker.
    async fn wait_registered(&mut self, only: Option<usize>) -> Result<(), KafkaLocalError> {
        let started = Instant::now();
        let want = self.nodes.len();
        let which: Vec<usize> = match only {
            Some(i) => vec![i],
            None => (0..want).collect(),
        };
        for i in which {
            loop {
                if let Some(e) = self.exited(i) {
                    return Err(e);
                }
                let bootstrap = self.nodes[i].bootstrap();
                let listening = std::net::TcpStream::connect_timeout(
                    &([127, 0, 0, 1], self.nodes[i].port).into(),
                    Duration::from_millis(200),
                )
                .is_ok();
                let registered = listening
                    && tokio::task::spawn_blocking(move || fetch_metadata(&bootstrap, None))
                        .await
                        .ok()
                        .flatten()
                        .is_some_and(|md| md.brokers().len() == want);
                if registered {
                    break;
                }
                if started.elapsed() > READY_WITHIN {
                    let n = &self.nodes[i];
                    let waiting = if listening {
                        format!("listening, but not all {want} brokers registered")
                    } else {
                        format!("nothing listens on port {}", n.port)
                    };
                    return Err(KafkaLocalError::NotReady {
                        node: n.id,
                        secs: READY_WITHIN.as_secs(),
                        waiting,
                        log: n.log().display().to_string(),
                        tail: tail(&n.log(), 30),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// The error for node `i` if its JVM has exited (a port taken is told apart).
    fn exited(&mut self, i: usize) -> Option<KafkaLocalError> {
        let n = &mut self.nodes[i];
        let status = n.child.as_mut()?.try_wait().ok().flatten()?;
        n.child = None;
        let log = tail(&n.log(), 30);
        if log.contains("Address already in use") {
            return Some(KafkaLocalError::PortInUse(n.port));
        }
        Some(KafkaLocalError::Exited {
            node: n.id,
            status: status.to_string(),
            log: n.log().display().to_string(),
            tail: log,
        })
    }
}

impl Drop for KafkaLocal {
    fn drop(&mut self) {
        for id in self.node_ids() {
            self.kill(id);
        }
    }
}

/// The nodes' ports and folders: given ports in a row, or free ones (refused when taken).
fn plan_nodes(opts: &KafkaLocalOptions, root: &Path) -> Result<Vec<Node>, KafkaLocalError> {
    let mut nodes = vec![];
    for id in 1..=opts.nodes {
        let (port, controller_port) = if opts.port == 0 {
            let p = |what| {
                super::free_port().map_err(|source| KafkaLocalError::Io {
                    node: id,
                    what,
                    source,
                })
            };
            (p("finding a free port")?, p("finding a free port")?)
        } else {
            let p = opts.port + 2 * (id as u16 - 1);
            for q in [p, p + 1] {
                if std::net::TcpStream::connect_timeout(
                    &([127, 0, 0, 1], q).into(),
                    Duration::from_millis(200),
                )
                .is_ok()
                {
                    return Err(KafkaLocalError::PortInUse(q));
                }
            }
            (p, p + 1)
        };
        nodes.push(Node {
            id,
            port,
            controller_port,
            dir: root.join(format!("node-{id}")),
            child: None,
        });
    }
    Ok(nodes)
}

/// A node's `server.properties`: broker and controller in one, a quorum of every node,
/// and the durability settings production uses when there are three.
fn server_properties(n: &Node, voters: &str, nodes: u32) -> String {
    let rf = nodes.min(3);
    let min_isr = if nodes >= 3 { 2 } else { 1 };
    let mut s = String::from("# Written by votechain (src/dev/kafka.rs) at each start.\n");
    let _ = write!(
        s,
        "process.roles=broker,controller
node.id={id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
num.partitions=1
auto.create.topics.enable=false
default.replication.factor={rf}
min.insync.replicas={min_isr}
unclean.leader.election.enable=false
offsets.topic.replication.factor={rf}
offsets.topic.num.partitions=8
transaction.state.log.replication.factor={rf}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions={txn_parts}
share.coordinator.state.topic.replication.factor={rf}
share.coordinator.state.topic.min.isr={min_isr}
group.initial.rebalance.delay.ms=0
",
        id = n.id,
        port = n.port,
        cport = n.controller_port,
        data = n.dir.join("data").display(),
        txn_parts = TXN_STATE_PARTITIONS,
    );
    s
}

/// The metadata as the brokers at `bootstrap` give it (quietly: a node not up yet is not
/// an error worth a log line here).
fn fetch_metadata(bootstrap: &str, topic: Option<&str>) -> Option<Metadata> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set_log_level(RDKafkaLogLevel::Emerg)
        .create()
        .ok()?;
    c.fetch_metadata(topic, Duration::from_secs(2)).ok()
}

/// Every partition of `topic` led and fully in sync.
fn in_sync(md: &Metadata, topic: &str) -> bool {
    md.topics()
        .iter()
        .find(|t| t.name() == topic)
        .is_some_and(|t| {
            !t.partitions().is_empty()
                && t.partitions().iter().all(|p| {
                    p.leader() >= 0 && p.error().is_none() && p.isr().len() == p.replicas().len()
                })
        })
}

/// Waits up to `within` for `c` to exit.
async fn wait_exit(c: &mut Child, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if c.try_wait().ok().flatten().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last `lines` lines of a log file (or why there are none).
fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let all: Vec<&str> = s.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read it: {e})"),
    }
}

/// A new cluster id: 16 random bytes in URL-safe base64 without padding, as Kafka's
/// `Uuid.randomUuid().toString()` writes one.
fn new_cluster_id() -> String {
    use base64::Engine as _;
    // As Kafka's own `Uuid.randomUuid` does, never one that starts with '-': the storage
    // tool would read it as an option.
    loop {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(uuid::Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// The `cluster.id` of a formatted node's `meta.properties`.
fn cluster_id_of(meta: &Path) -> Option<String> {
    let text = std::fs::read_to_string(meta).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("cluster.id="))
        .map(|s| s.trim().to_string())
}

/// Java's `String.hashCode` (over UTF-16 code units, wrapping), which Kafka uses to place
/// a transactional id.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The partition of `__transaction_state` that holds `transactional_id`'s state: Kafka's
/// `TransactionStateManager.partitionFor`, `Utils.abs(id.hashCode) % partitions`.
pub fn transaction_state_partition(transactional_id: &str, partitions: u32) -> u32 {
    let h = java_string_hash(transactional_id);
    let abs = if h == i32::MIN { 0 } else { h.unsigned_abs() };
    abs % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javas_string_hash_and_the_transaction_partition() {
        // Values from Java: "".hashCode() == 0, "a" == 97, "hello" == 99162322,
        // "polygenelubricants" == Integer.MIN_VALUE (whose Utils.abs is 0).
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(transaction_state_partition("polygenelubricants", 8), 0);
        // "Aa" and "BB" collide in Java (2112); a negative hash is made positive first.
        assert_eq!(java_string_hash("Aa"), java_string_hash("BB"));
        assert!(java_string_hash("votechain-ingest-ingest-0-0") != 0);
        let neg = "zzzzzzzzzz";
        assert!(java_string_hash(neg) < 0);
        assert_eq!(
            transaction_state_partition(neg, 50),
            java_string_hash(neg).unsigned_abs() % 50
        );
    }

    #[test]
    fn three_nodes_are_configured_as_production_is() {
        let n = Node {
            id: 2,
            port: 9094,
            controller_port: 9095,
            dir: PathBuf::from("/x/node-2"),
            child: None,
        };
        let p = server_properties(&n, "1@a:1,2@a:2,3@a:3", 3);
        for line in [
            "node.id=2",
            "controller.quorum.voters=1@a:1,2@a:2,3@a:3",
            "listeners=PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095",
            "min.insync.replicas=2",
            "unclean.leader.election.enable=false",
            "transaction.state.log.replication.factor=3",
            "transaction.state.log.min.isr=2",
            "log.dirs=/x/node-2/data",
        ] {
            assert!(p.lines().any(|l| l == line), "{line} in\n{p}");
        }
        let one = server_properties(&n, "2@a:2", 1);
        assert!(one.lines().any(|l| l == "min.insync.replicas=1"));
        assert!(
            one.lines()
                .any(|l| l == "transaction.state.log.replication.factor=1")
        );
    }

    #[test]
    fn a_cluster_id_is_sixteen_bytes_and_is_read_back() {
        use base64::Engine as _;
        for _ in 0..1000 {
            assert!(
                !new_cluster_id().starts_with('-'),
                "the storage tool would read it as an option"
            );
        }
        let id = new_cluster_id();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&id)
            .unwrap();
        assert_eq!(bytes.len(), 16);
        let dir = tempfile::tempdir().unwrap();
        let meta = dir.path().join("meta.properties");
        std::fs::write(&meta, format!("#\nnode.id=1\ncluster.id={id}\nversion=1\n")).unwrap();
        assert_eq!(cluster_id_of(&meta), Some(id));
    }
}
