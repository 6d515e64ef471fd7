//! The real `serin run` binary as a child process, pointed at a fake API server through a
//! kubeconfig and at a test Prometheus. Killed (SIGKILL, like a crashed pod) on drop.
//! Include with `#[path = "support/daemon.rs"] mod daemon;`.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Daemon {
    child: Child,
    log: PathBuf,
    /// Length of the log when this daemon started: its own lines come after.
    log_start: usize,
}

impl Daemon {
    /// Starts `serin run --prometheus <url> <extra args>` with `KUBECONFIG=kubeconfig`;
    /// its log goes to `log` (appended, so a restart keeps the earlier lines). The HTTP
    /// server listens on an ephemeral loopback port unless `extra` names `--listen`
    /// ([`Daemon::http_addr`]).
    pub fn start(kubeconfig: &Path, prometheus: &str, extra: &[&str], log: &Path) -> Daemon {
        Daemon::start_with_env(kubeconfig, prometheus, extra, log, &[])
    }

    /// [`Daemon::start`] with extra environment variables (e.g. `SERIN_API_TOKEN`).
    pub fn start_with_env(
        kubeconfig: &Path,
        prometheus: &str,
        extra: &[&str],
        log: &Path,
        env: &[(&str, &str)],
    ) -> Daemon {
        let log_start = std::fs::metadata(log).map(|m| m.len() as usize).unwrap_or(0);
        let listen: &[&str] = if extra.contains(&"--listen") { &[] } else { &["--listen", "127.0.0.1:0"] };
        let out = File::options().create(true).append(true).open(log).expect("open the daemon log");
        let err = out.try_clone().expect("clone the log handle");
        let child = Command::new(env!("CARGO_BIN_EXE_serin"))
            .args(["run", "--prometheus", prometheus])
            .args(extra)
            .args(listen)
            // The host's token must not leak into a test; `env` may set one.
            .env_remove("SERIN_API_TOKEN")
            .env_remove("SERIN_NOTIFY")
            .envs(env.iter().copied())
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,serin=debug")
            .env_remove("SERIN_PROMETHEUS")
            // kube would route a kubeconfig without a proxy through these.
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start serin run");
        Daemon { child, log: log.to_path_buf(), log_start }
    }

    /// The address the HTTP server bound, from this daemon's log line
    /// `HTTP server listening address=…` (waits up to 30 s for it).
    pub fn http_addr(&mut self) -> std::net::SocketAddr {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let log = self.log();
            let own = log.get(self.log_start..).unwrap_or_default();
            let found = own.lines().find_map(|line| {
                let rest = line.split("HTTP server listening").nth(1)?;
                let addr = rest.split("address=").nth(1)?.split(|c: char| c.is_whitespace() || c == '"').next()?;
                addr.parse().ok()
            });
            if let Some(addr) = found {
                return addr;
            }
            assert!(self.is_running(), "serin exited before listening:\n{own}");
            assert!(std::time::Instant::now() < deadline, "serin did not log its address within 30 s:\n{own}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The process id (for /proc readings).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to clean up, as when a node dies.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}
