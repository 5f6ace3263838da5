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
    super::installed_dir(
        "VOTECHAIN_DYNAMODB_LOCAL_DIR",
        "dynamodb-local",
        "DynamoDBLocal.jar",
    )
    .map_err(DevError::NotInstalled)
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
            let port = super::free_port().map_err(DevError::NoFreePort)?;
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
/// million-vote run), else 2g.
fn heap() -> String {
    super::heap_from_env("VOTECHAIN_DYNAMODB_LOCAL_HEAP", "2g")
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

/// `DynamoDBLocal.jar` (its manifest names its libraries) and, when scripts/setup
/// installed it, the JAXB API: without it DynamoDB Local's AWS SDK warns at every start
/// that it falls back to a slower Base64 (scripts/dynamodb/pom.xml).
fn classpath(dir: &Path) -> String {
    let mut cp = dir.join("DynamoDBLocal.jar").display().to_string();
    let jaxb = dir.join("jaxb").join("libs");
    if jaxb.is_dir() {
        cp.push_str(&format!(":{}/*", jaxb.display()));
    }
    cp
}

fn spawn_java(dir: &Path, port: u16, db_path: Option<&Path>) -> Result<Child, DevError> {
    let mut cmd = Command::new("java");
    cmd.arg(format!(
        "-Djava.library.path={}",
        dir.join("DynamoDBLocal_lib").display()
    ))
    .arg(format!("-Xmx{}", heap()))
    .arg("-cp")
    .arg(classpath(dir))
    .arg("com.amazonaws.services.dynamodbv2.local.main.ServerRunner");
    match db_path {
        Some(p) => cmd.arg("-dbPath").arg(p),
        None => cmd.arg("-inMemory"),
    };
    cmd.args(["-sharedDb", "-disableTelemetry", "-port", &port.to_string()])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    use std::os::unix::process::CommandExt;
    // Its own process group: a Ctrl-C in the terminal stops votechain, which stops this.
    crate::process::die_with_parent(cmd.process_group(0))
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
