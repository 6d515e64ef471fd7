//! A real, throwaway Prometheus for integration tests, in one of two modes:
//!
//! - backfill ([`TestPrometheus::start_with_openmetrics`]): the data is written with
//!   `promtool tsdb create-blocks-from openmetrics` into a fresh temp dir, so tests query
//!   exactly the samples they wrote, at fixed past timestamps, with no scraping;
//! - scraping ([`TestPrometheus::start_scraping`]): a fresh TSDB and one scrape job over
//!   loopback targets (e.g. `support/traffic.rs`), for tests that run in real time.
//!
//! The server listens on a free loopback port and is killed on drop.
//! Include with `#[path = "support/prometheus.rs"] mod prometheus;`.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Prometheus may take to become ready before the test gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts when another process grabs the picked port between pick and bind.
const PORT_ATTEMPTS: usize = 3;

const CONFIG: &str = "global:\n  scrape_interval: 15s\nscrape_configs: []\n";
/// The scrape job of scraping mode (the `job` label, unless a target exposes its own).
pub const SCRAPE_JOB: &str = "serin-e2e";
/// How often [`TestPrometheus::wait_until_targets_up`] asks.
const TARGETS_POLL: Duration = Duration::from_millis(100);

/// A running Prometheus; killed (and reaped) on drop.
pub struct TestPrometheus {
    child: Child,
    url: String,
    port: u16,
    /// Scrape targets (`host:port`); empty in backfill mode.
    targets: Vec<String>,
    log_path: PathBuf,
    // Last field: dropped after the process is gone.
    dir: tempfile::TempDir,
}

impl TestPrometheus {
    /// Backfills `text` (OpenMetrics, timestamps in seconds, ending in `# EOF`) and starts
    /// Prometheus on it. Panics with the reason (and the server log) if anything fails.
    pub fn start_with_openmetrics(text: &str) -> TestPrometheus {
        let promtool = find_on_path("promtool");
        let dir = tempfile::tempdir().expect("create a temp dir for Prometheus");
        let metrics = dir.path().join("metrics.om");
        std::fs::write(&metrics, text).expect("write the OpenMetrics file");
        backfill(&promtool, &metrics, &dir.path().join("data"));
        launch(dir, CONFIG, Vec::new())
    }

    /// Starts Prometheus on an empty TSDB, scraping `GET /metrics` of every target
    /// (`host:port`) every `scrape_interval`, which is also the rule evaluation interval
    /// and the scrape timeout. Returns once the server is ready, which may be before the
    /// first scrape: see [`TestPrometheus::wait_until_targets_up`].
    ///
    /// `honor_labels: true`: a target's own `job`/`instance`/`namespace` labels win, as if a
    /// Kubernetes service discovery had attached them (the http-slo template selects on them).
    pub fn start_scraping(targets: &[String], scrape_interval: Duration) -> TestPrometheus {
        assert!(scrape_interval >= Duration::from_millis(1), "scrape interval must be at least 1ms");
        let interval = format!("{}ms", scrape_interval.as_millis());
        let quoted: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n  evaluation_interval: {interval}\n\
             scrape_configs:\n  - job_name: {SCRAPE_JOB}\n    honor_labels: true\n    \
             static_configs:\n      - targets: [{}]\n",
            quoted.join(", ")
        );
        let dir = tempfile::tempdir().expect("create a temp dir for Prometheus");
        launch(dir, &config, targets.to_vec())
    }

    /// Waits until every target's last scrape succeeded (`/api/v1/targets` health `up`),
    /// i.e. its series are in the TSDB. Panics after `timeout` with each target's state
    /// and the server log.
    pub fn wait_until_targets_up(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let states = self.target_states();
            if states.iter().all(|(_, health, _)| health == "up") {
                return;
            }
            if Instant::now() >= deadline {
                panic!("targets not up after {timeout:?}: {states:?}\n--- prometheus log ---\n{}", self.log());
            }
            std::thread::sleep(TARGETS_POLL);
        }
    }

    /// `(target, health, last error)` of each scrape target; health is `missing` while
    /// Prometheus does not list it yet.
    pub fn target_states(&self) -> Vec<(String, String, String)> {
        let body = http_get(self.port, "/api/v1/targets?state=active")
            .filter(|(status, _)| *status == 200)
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok());
        let active = body.as_ref().and_then(|b| b["data"]["activeTargets"].as_array());
        self.targets
            .iter()
            .map(|target| {
                let url = format!("http://{target}/metrics");
                let found = active.into_iter().flatten().find(|t| t["scrapeUrl"].as_str() == Some(url.as_str()));
                let field = |name: &str| found.and_then(|t| t[name].as_str()).unwrap_or("missing").to_string();
                (target.clone(), field("health"), field("lastError"))
            })
            .collect()
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's output so far (useful in assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The temp dir holding data, config and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestPrometheus {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Writes `config`, starts Prometheus on `dir/data` and waits until it is ready, retrying
/// on another free port if the picked one was taken meanwhile.
fn launch(dir: tempfile::TempDir, config: &str, targets: Vec<String>) -> TestPrometheus {
    let prometheus = find_on_path("prometheus");
    let data = dir.path().join("data");
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write prometheus.yml");
    let log_path = dir.path().join("prometheus.log");
    for attempt in 1..=PORT_ATTEMPTS {
        let port = free_loopback_port();
        let mut child = spawn(&prometheus, &config_path, &data, port, &log_path);
        match wait_until_ready(&mut child, port) {
            Ok(()) => {
                let url = format!("http://127.0.0.1:{port}");
                return TestPrometheus { child, url, port, targets, log_path, dir };
            }
            Err(why) => {
                stop(&mut child);
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                if attempt < PORT_ATTEMPTS && log.contains("address already in use") {
                    continue;
                }
                panic!("Prometheus did not start: {why}\n--- prometheus log ---\n{log}");
            }
        }
    }
    unreachable!("the last attempt returns or panics")
}

fn find_on_path(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`{program}` is not on PATH: run scripts/install-test-deps.sh"))
}

fn backfill(promtool: &Path, metrics: &Path, data: &Path) {
    let output = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(metrics)
        .arg(data)
        .stdin(Stdio::null())
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "promtool tsdb create-blocks-from openmetrics failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Binds port 0 and releases it; the small race with other processes is covered by
/// retrying on "address already in use".
fn free_loopback_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

fn spawn(prometheus: &Path, config: &Path, data: &Path, port: u16, log_path: &Path) -> Child {
    let log = File::create(log_path).expect("create the Prometheus log file");
    let log_err = log.try_clone().expect("clone the log file handle");
    Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // Backfilled blocks lie in the past: keep them past the first retention pass.
        .arg("--storage.tsdb.retention.time=3650d")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .spawn()
        .expect("start prometheus")
}

fn wait_until_ready(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("prometheus exited with {status}"));
        }
        if is_ready(port) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("not ready on 127.0.0.1:{port} after {READY_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /-/ready`: 200 once the TSDB is open.
fn is_ready(port: u16) -> bool {
    http_get(port, "/-/ready").is_some_and(|(status, _)| status == 200)
}

/// `GET path` over a plain HTTP/1.0 TcpStream (no chunking, the server closes the
/// connection after the body): the status code and body, or None on any failure.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}
