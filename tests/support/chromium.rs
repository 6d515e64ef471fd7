//! Headless Chromium (Debian's package, installed by scripts/install-test-deps.sh) for
//! tests that look at a page as a browser renders it. Include with
//! `#[path = "support/chromium.rs"] mod chromium;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Headless, and nothing that reaches beyond loopback (this machine's network is closed).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// Runs Chromium on `url` with `action` (`--dump-dom` or `--screenshot=…`), killed after 60 s.
pub fn chromium(url: &str, action: &str, profile: &Path) -> Output {
    chromium_sized(url, action, profile, (1280, 720))
}

/// [`chromium`] with a window of `size` (a screenshot's width and height).
pub fn chromium_sized(url: &str, action: &str, profile: &Path, size: (u32, u32)) -> Output {
    let child = Command::new("chromium")
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(action)
        .arg(format!("--window-size={},{}", size.0, size.1))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium (scripts/install-test-deps.sh installs Debian's package)");
    let pid = child.id();
    let started = Instant::now();
    let watchdog = std::thread::spawn(move || {
        while started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(200));
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
        }
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    });
    let output = child.wait_with_output().expect("chromium's output");
    let _ = watchdog.join();
    output
}

pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}
