//! Local backends for `votechain dev` and the integration tests.
//!
//! [`DynamoDbLocal`] runs AWS's DynamoDB Local (installed by `scripts/setup` into
//! `.local/dynamodb-local/`) as a child process that dies with us: it is killed on drop,
//! and the kernel kills it if this process dies first (`PR_SET_PDEATHSIG`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error(
        "DynamoDB Local is not installed (looked for DynamoDBLocal.jar in {0}); run scripts/setup, or set VOTECHAIN_DYNAMODB_LOCAL_DIR"
    )]
    NotInstalled(String),
    #[error(
        "port {0} is already in use; stop what runs there, or pass --dynamodb-endpoint URL to use a DynamoDB Local that is already running"
    )]
    PortInUse(u16),
    #[error(
        "cannot start java for DynamoDB Local: {0} (Java 17+ is required; scripts/setup checks it)"
    )]
    Spawn(std::io::Error),
    #[error("DynamoDB Local did not accept connections on {0} within 60 s")]
    NotListening(SocketAddr),
    #[error("no free local port for DynamoDB Local: {0}")]
    NoFreePort(std::io::Error),
    #[error(
        "DynamoDB Local's database directory {0} is not usable: {1} (give an empty or new directory)"
    )]
    DbPath(String, String),
}

/// The folder holding `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`.
pub fn dynamodb_local_dir() -> Result<PathBuf, DevError> {
    let mut tried = Vec::new();
    let mut candidates = Vec::new();
    if let Ok(d) = std::env::var("VOTECHAIN_DYNAMODB_LOCAL_DIR") {
        candidates.push(PathBuf::from(d));
    }
    // The repository root: the working directory or an ancestor of it or of the executable.
    let roots = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    for root in roots.into_iter().flatten() {
        for anc in root.ancestors() {
            candidates.push(anc.join(".local/dynamodb-local"));
        }
    }
    for c in candidates {
        if c.join("DynamoDBLocal.jar").is_file() {
            return Ok(c);
        }
        tried.push(c.display().to_string());
    }
    Err(DevError::NotInstalled(
        tried.into_iter().take(3).collect::<Vec<_>>().join(", "),
    ))
}

/// A running DynamoDB Local: in memory, or in one SQLite file under a directory
/// ([`DynamoDbLocal::start_in`]).
pub struct DynamoDbLocal {
    child: Child,
    pub endpoint: String,
}

impl DynamoDbLocal {
    /// Starts DynamoDB Local in memory on 127.0.0.1:`port` and waits until it accepts
    /// connections.
    pub async fn start(port: u16) -> Result<DynamoDbLocal, DevError> {
        Self::start_in(port, None).await
    }

    /// The same, its data in `db_path` (DynamoDB Local's `-dbPath`: one SQLite file) when
    /// given, else in memory. On disk the JVM's heap holds no data, so a run of a million
    /// votes can still be read back; writes are slower. The directory must be empty or new.
    pub async fn start_in(port: u16, db_path: Option<&Path>) -> Result<DynamoDbLocal, DevError> {
        let dir = dynamodb_local_dir()?;
        let db_path = db_path.map(prepare_db_path).transpose()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        if port != 0
            && std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        {
            return Err(DevError::PortInUse(port));
        }
        let child = spawn_java(&dir, port, db_path.as_deref())?;
        let mut me = DynamoDbLocal {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..600 {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(me);
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                tracing::error!(%status, "DynamoDB Local exited during startup");
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(DevError::NotListening(addr))
    }

    /// Starts DynamoDB Local on a free port of 127.0.0.1 (for benches and tests). A port
    /// found free can be taken before the JVM binds it (or look taken: a probe connect can
    /// meet itself on an ephemeral port), so up to five ports are tried.
    pub async fn start_on_free_port() -> Result<DynamoDbLocal, DevError> {
        let mut last = None;
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(DevError::NoFreePort)?
                .port();
            match DynamoDbLocal::start(port).await {
                Ok(d) => return Ok(d),
                Err(e @ (DevError::PortInUse(_) | DevError::NotListening(_))) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("tried at least once"))
    }
}

/// DynamoDB Local's Java heap: `$VOTECHAIN_DYNAMODB_LOCAL_HEAP` (e.g. `6g`, for a
/// million-vote run), else 2g. Anything but digits and one unit letter is ignored, with a
/// warning.
fn heap() -> String {
    let valid = |h: &str| {
        let (n, unit) = h.split_at(h.len().saturating_sub(1));
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && matches!(unit, "m" | "g")
    };
    match std::env::var("VOTECHAIN_DYNAMODB_LOCAL_HEAP") {
        Ok(h) if valid(&h) => h,
        Ok(h) => {
            tracing::warn!(value = %h, "VOTECHAIN_DYNAMODB_LOCAL_HEAP is not like 512m or 8g; using 2g");
            "2g".into()
        }
        Err(_) => "2g".into(),
    }
}

/// `db_path` made absolute and created; refused unless empty.
fn prepare_db_path(db_path: &Path) -> Result<PathBuf, DevError> {
    let bad = |e: String| DevError::DbPath(db_path.display().to_string(), e);
    std::fs::create_dir_all(db_path).map_err(|e| bad(e.to_string()))?;
    let mut entries = std::fs::read_dir(db_path).map_err(|e| bad(e.to_string()))?;
    if entries.next().is_some() {
        return Err(bad("it is not empty".into()));
    }
    std::fs::canonicalize(db_path).map_err(|e| bad(e.to_string()))
}

fn spawn_java(dir: &Path, port: u16, db_path: Option<&Path>) -> Result<Child, DevError> {
    let mut cmd = Command::new("java");
    cmd.arg(format!(
        "-Djava.library.path={}",
        dir.join("DynamoDBLocal_lib").display()
    ))
    .arg(format!("-Xmx{}", heap()))
    .arg("-jar")
    .arg(dir.join("DynamoDBLocal.jar"));
    match db_path {
        Some(p) => cmd.arg("-dbPath").arg(p),
        None => cmd.arg("-inMemory"),
    };
    cmd.args(["-sharedDb", "-disableTelemetry", "-port", &port.to_string()])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    crate::process::die_with_parent(&mut cmd)
        .spawn()
        .map_err(DevError::Spawn)
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_db_path_is_created_and_must_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("a/b");
        assert_eq!(prepare_db_path(&new).unwrap(), new.canonicalize().unwrap());
        std::fs::write(new.join("shared-local-instance.db"), b"x").unwrap();
        let e = prepare_db_path(&new).unwrap_err().to_string();
        assert!(e.contains("not empty") && e.contains("a/b"), "{e}");
    }
}
