//! `GET /` in a real browser: headless Chromium (Debian's package, installed by
//! scripts/install-test-deps.sh) loads the page the real daemon serves mid-rollout, and the
//! test reads the DOM Chromium built and keeps a screenshot in
//! `target/test-artifacts/rollouts-page.png`. Needs prometheus and chromium.

#[path = "support/chromium.rs"]
mod chromium;
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

use chromium::{artifacts, chromium};
use e2e::{ROLLOUT_TIMEOUT, Rig};
use traffic::Profile;

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
