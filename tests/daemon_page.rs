//! `GET /` in a real browser: headless Chromium (Debian's package, installed by
//! scripts/install-test-deps.sh) loads the page the real daemon serves mid-rollout, and the
//! test reads the DOM Chromium built and keeps a screenshot in
//! `target/test-artifacts/rollouts-page.png`. Needs prometheus and chromium.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/traffic.rs"]
mod traffic;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use e2e::{ROLLOUT_TIMEOUT, Rig};
use traffic::Profile;

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
    "--window-size=1280,720",
];

/// Runs Chromium on `url` with `action` (`--dump-dom` or `--screenshot=…`), killed after 60 s.
fn chromium(url: &str, action: &str, profile: &Path) -> Output {
    let child = Command::new("chromium")
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(action)
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

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}

#[test]
fn the_rollouts_page_renders_in_chromium_with_phase_weight_and_evidence() {
    let mut rig = Rig::canary(Profile::healthy(), &[("serin.io/step-min", "5m")]);
    let addr = rig.http_addr();
    rig.wait_for_phase("sark-canary", "Progressing", ROLLOUT_TIMEOUT);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "verdicts in the status", |_| {
        rig.status("sark-canary")["last_verdicts"].as_array().is_some_and(|v| v.len() >= 2)
    });
    let url = format!("http://{addr}/");
    let profile = tempfile::tempdir().expect("a Chromium profile dir");

    let dom = chromium(&url, "--dump-dom", profile.path());
    let html = String::from_utf8_lossy(&dom.stdout).to_string();
    assert!(dom.status.success(), "chromium failed: {}", String::from_utf8_lossy(&dom.stderr));
    assert!(html.contains("<title>serin: rollouts</title>"), "not serin's page:\n{html}");
    let row_start = html.find("data-rollout=\"production/sark-canary\"").unwrap_or_else(|| panic!("no row:\n{html}"));
    let row = &html[row_start..html[row_start..].find("</tr>").map_or(html.len(), |end| row_start + end)];
    for expected in ["Progressing", "canary", "error-rate", "latency", "class=\"bar\""] {
        assert!(row.contains(expected), "{expected} missing from the row:\n{row}");
    }
    let weight = rig.annotation("sark-canary", "serin.io/weight").expect("a weight");
    assert!(row.contains(&format!("{weight}%")), "weight {weight}% missing:\n{row}");
    assert!(row.contains(" vs baseline "), "the evidence (canary vs baseline counts) is shown:\n{row}");
    for external in ["src=\"http", "href=\"http", "<script"] {
        assert!(!html.contains(external), "the page must be self-contained ({external}):\n{html}");
    }

    let screenshot = artifacts().join("rollouts-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = chromium(&url, &format!("--screenshot={}", screenshot.display()), profile.path());
    assert!(shot.status.success(), "chromium screenshot failed: {}", String::from_utf8_lossy(&shot.stderr));
    let png = std::fs::read(&screenshot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(png.len() > 10_000, "a rendered page, not a blank one ({} bytes)", png.len());
    println!("screenshot: {}", screenshot.display());
}
