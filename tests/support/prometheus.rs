//! A real, throwaway Prometheus for integration tests.
//!
//! The data is backfilled with `promtool tsdb create-blocks-from openmetrics` into a fresh
//! temp dir, so tests query exactly the samples they wrote, at fixed past timestamps,
//! with no scraping. The server listens on a free loopback port and is killed on drop.
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

/// A running Prometheus serving a backfilled TSDB; killed (and reaped) on drop.
pub struct TestPrometheus {
    child: Child,
    url: String,
    log_path: PathBuf,
    // Last field: dropped after the process is gone.
    dir: tempfile::TempDir,
}

impl TestPrometheus {
    /// Backfills `text` (OpenMetrics, timestamps in seconds, ending in `# EOF`) and starts
    /// Prometheus on it. Panics with the reason (and the server log) if anything fails.
    pub fn start_with_openmetrics(text: &str) -> TestPrometheus {
        let prometheus = find_on_path("prometheus");
        let promtool = find_on_path("promtool");
        let dir = tempfile::tempdir().expect("create a temp dir for Prometheus");
        let data = dir.path().join("data");
        let metrics = dir.path().join("metrics.om");
        std::fs::write(&metrics, text).expect("write the OpenMetrics file");
        backfill(&promtool, &metrics, &data);
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, CONFIG).expect("write prometheus.yml");

        let log_path = dir.path().join("prometheus.log");
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_loopback_port();
            let mut child = spawn(&prometheus, &config, &data, port, &log_path);
            match wait_until_ready(&mut child, port) {
                Ok(()) => {
                    return TestPrometheus { child, url: format!("http://127.0.0.1:{port}"), log_path, dir };
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

/// `GET /-/ready` over a plain TcpStream: 200 once the TSDB is open.
fn is_ready(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status_line = [0u8; 12];
    stream.read_exact(&mut status_line).is_ok() && status_line.ends_with(b" 200")
}

fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}
