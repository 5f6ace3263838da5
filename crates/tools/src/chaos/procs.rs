//! The roles a scenario runs as `votechain run` child processes: one per entry of its
//! `processes` (a role may repeat), each with its own config, instance id and HTTP port,
//! so the runner can SIGKILL and restart any of them and the load can reach every ingest
//! instance.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// One `votechain run` child process for one role, restartable.
pub struct RoleProcess {
    pub role: String,
    /// `http://127.0.0.1:PORT` of its listener.
    pub base_url: String,
    binary: PathBuf,
    config: PathBuf,
    child: Option<std::process::Child>,
}

impl RoleProcess {
    pub fn start(&mut self) -> std::io::Result<()> {
        let mut cmd = std::process::Command::new(&self.binary);
        cmd.args(["run", "--config"])
            .arg(&self.config)
            .env("VOTECHAIN_LOG", "warn,rdkafka=off,librdkafka=off")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        self.child = Some(votechain::process::die_with_parent(&mut cmd).spawn()?);
        Ok(())
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL: no drain, no checkpoint, no lease release.
    pub fn sigkill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        self.sigkill();
    }
}

/// Every role process of a run.
#[derive(Default)]
pub struct Processes {
    pub all: Vec<RoleProcess>,
}

/// The instance id of role process `i` (also its Kafka `transactional.id` suffix).
pub fn instance_id(i: usize) -> String {
    format!("chaos-proc-{i}")
}

impl Processes {
    /// Writes a config per process into `dir` (`toml(role, instance, http_addr)` gives it)
    /// and starts them all.
    pub fn start(
        roles: &[String],
        binary: &Path,
        dir: &Path,
        toml: impl Fn(&str, &str, &str) -> String,
    ) -> std::io::Result<Processes> {
        let mut all = vec![];
        for (i, role) in roles.iter().enumerate() {
            let port = votechain::dev::free_port()?;
            let addr = format!("127.0.0.1:{port}");
            let config = dir.join(format!("{i}-{role}.toml"));
            std::fs::write(&config, toml(role, &instance_id(i), &addr))?;
            let mut p = RoleProcess {
                role: role.clone(),
                base_url: format!("http://{addr}"),
                binary: binary.to_path_buf(),
                config,
                child: None,
            };
            p.start()?;
            all.push(p);
        }
        Ok(Processes { all })
    }

    /// Waits until every process answers `/healthz`; the names of those that did not.
    pub async fn wait_healthy(&self, within: Duration) -> Vec<String> {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + within;
        let mut pending: Vec<&RoleProcess> = self.all.iter().collect();
        while !pending.is_empty() && tokio::time::Instant::now() < deadline {
            let mut still = vec![];
            for p in pending {
                let ok = http
                    .get(format!("{}/healthz", p.base_url))
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if !ok {
                    still.push(p);
                }
            }
            pending = still;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        pending
            .iter()
            .map(|p| format!("{} at {}", p.role, p.base_url))
            .collect()
    }

    /// The indices of `role`'s processes.
    pub fn of_role(&self, role: &str) -> Vec<usize> {
        (0..self.all.len())
            .filter(|i| self.all[*i].role == role)
            .collect()
    }

    /// Starts every process that is down; how many were started.
    pub fn start_stopped(&mut self) -> u64 {
        let mut n = 0;
        for p in &mut self.all {
            if !p.running() && p.start().is_ok() {
                n += 1;
            }
        }
        n
    }
}
