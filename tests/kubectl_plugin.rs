//! `kubectl serin …` end to end: the real `serin run` daemon drives the `deploy/examples/canary.yaml`
//! against the fake API server and a real Prometheus (needs prometheus), and the operator
//! uses the same binary as a kubectl plugin (a symlink named `kubectl-serin`, run through
//! the real `kubectl` when it is on PATH) with the kubeconfig's credentials.

#[path = "support/cli.rs"]
mod cli;
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
use std::process::Output;

use cli::{describe, stderr, stdout};
use e2e::{ROLLOUT_TIMEOUT, Rig, canary_weight};
use traffic::Profile;

const ROLLOUT: &str = "production/sark-canary";

/// `kubectl serin args…`: through kubectl when there is one (kubectl finds the plugin on
/// PATH), else the plugin itself, as kubectl would run it.
struct Plugin {
    bin: tempfile::TempDir,
    kubeconfig: PathBuf,
    kubectl: Option<PathBuf>,
}

impl Plugin {
    fn install(kubeconfig: &Path) -> Plugin {
        let bin = tempfile::tempdir().expect("temp dir");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_serin"), bin.path().join("kubectl-serin")).expect("symlink");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let kubectl = std::env::split_paths(&path).map(|dir| dir.join("kubectl")).find(|k| k.is_file());
        if kubectl.is_none() {
            eprintln!("no kubectl on PATH: running the kubectl-serin symlink directly");
        }
        Plugin { bin, kubeconfig: kubeconfig.to_path_buf(), kubectl }
    }

    fn run(&self, args: &[&str]) -> Output {
        let plugin = self.bin.path().join("kubectl-serin");
        let mut command = match &self.kubectl {
            Some(kubectl) => cli::command(kubectl, &self.kubeconfig, &[&["serin"], args].concat()),
            None => cli::command(&plugin, &self.kubeconfig, args),
        };
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(self.bin.path().to_path_buf()).chain(std::env::split_paths(&path));
        command.env("PATH", std::env::join_paths(dirs).expect("a PATH"));
        command.output().expect("run kubectl serin")
    }
}

#[test]
fn kubectl_serin_pauses_resumes_and_aborts_a_running_canary() {
    let rig = Rig::canary(Profile::healthy(), &[("serin.io/step-min", "5m")]);
    let plugin = Plugin::install(&rig.dir.path().join("kubeconfig"));
    rig.api.wait_until(ROLLOUT_TIMEOUT, "canary traffic", |api| canary_weight(api).is_some_and(|w| w > 0));

    let shown = plugin.run(&["status", ROLLOUT]);
    assert_eq!(shown.status.code(), Some(0), "{}", describe(&shown));
    assert!(stdout(&shown).contains("production/sark-canary  canary  Progressing  weight 10%"), "{}", describe(&shown));

    let pause = plugin.run(&["pause", ROLLOUT]);
    assert_eq!(pause.status.code(), Some(0), "{}", describe(&pause));
    assert_eq!(stdout(&pause).trim(), "pause production/sark-canary: serin.io/paused=true");
    rig.wait_for_phase("sark-canary", "Paused", ROLLOUT_TIMEOUT);
    let resume = plugin.run(&["resume", ROLLOUT]);
    assert_eq!(
        stdout(&resume).trim(),
        "resume production/sark-canary: serin.io/paused removed",
        "{}",
        describe(&resume)
    );
    rig.wait_for_phase("sark-canary", "Progressing", ROLLOUT_TIMEOUT);

    // Refused like the API's 409: nothing written, exit 1.
    let retry = plugin.run(&["retry", ROLLOUT]);
    assert_eq!(retry.status.code(), Some(1), "{}", describe(&retry));
    assert!(stderr(&retry).contains("only a rolled-back rollout can be retried"), "{}", describe(&retry));
    assert_eq!(rig.annotation("sark-canary", "serin.io/retry"), None);

    let patches_before = rig.api.requests().len();
    let abort = plugin.run(&["abort", ROLLOUT]);
    assert_eq!(abort.status.code(), Some(0), "{}", describe(&abort));
    let revision = rig.status("sark-canary")["revision"].as_str().unwrap_or_default().to_string();
    assert_eq!(stdout(&abort).trim(), format!("abort production/sark-canary: serin.io/command=abort@{revision}"));
    let written = rig.api.requests_since(patches_before).into_iter().find(|r| {
        r.method == "PATCH"
            && r.body.as_ref().is_some_and(|b| !b["metadata"]["annotations"]["serin.io/command"].is_null())
    });
    let written = written.expect("the CLI's PATCH of serin.io/command");
    assert!(written.body.unwrap()["metadata"]["resourceVersion"].is_string(), "guarded by the resourceVersion read");

    let watched = plugin.run(&["status", ROLLOUT, "--watch", "--timeout", "120s"]);
    assert_eq!(watched.status.code(), Some(1), "rolled back: {}", describe(&watched));
    let last = stdout(&watched).lines().last().unwrap_or_default().to_string();
    assert!(last.contains("production/sark-canary RolledBack weight 0%"), "{}", describe(&watched));
    assert_eq!(rig.status("sark-canary")["trigger"], "manual");
    assert_eq!(*rig.weights_written().last().unwrap(), 0, "the canary's traffic is gone");
    assert_eq!(rig.annotation("sark-canary", "serin.io/command"), None, "the leader consumed the command");

    let again = plugin.run(&["abort", ROLLOUT]);
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    assert!(
        stderr(&again).contains("error: cannot abort production/sark-canary: nothing to abort"),
        "{}",
        describe(&again)
    );
}
