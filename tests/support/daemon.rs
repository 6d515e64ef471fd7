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
}

impl Daemon {
    /// Starts `serin run --prometheus <url> <extra args>` with `KUBECONFIG=kubeconfig`;
    /// its log goes to `log` (appended, so a restart keeps the earlier lines).
    pub fn start(kubeconfig: &Path, prometheus: &str, extra: &[&str], log: &Path) -> Daemon {
        let out = File::options().create(true).append(true).open(log).expect("open the daemon log");
        let err = out.try_clone().expect("clone the log handle");
        let child = Command::new(env!("CARGO_BIN_EXE_serin"))
            .args(["run", "--prometheus", prometheus])
            .args(extra)
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
        Daemon { child, log: log.to_path_buf() }
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
