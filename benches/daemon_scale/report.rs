//! The benchmark's report: markdown, printed and written to `simulations/daemon-scale.md`.

use std::fmt::Write;
use std::time::Duration;

use crate::fixtures::Kind;
use crate::latency::Burst;
use crate::procstat::Window;
use crate::requests;
use crate::startup::Startup;

/// Targets of the issue, at steady state.
const RSS_TARGET_MIB: f64 = 64.0;
const CPU_TARGET_PERCENT: f64 = 5.0;

/// One measured window: the daemon's figures, its API requests and what it logged.
pub struct Measured {
    pub window: Window,
    pub requests: Vec<(String, usize)>,
    pub log_bytes: u64,
}

pub struct Report {
    /// Rollouts a second created after the daemon started; None: all before.
    pub ramp: Option<f64>,
    /// `--cluster`: Deployments in all, with realistic metadata.
    pub cluster: Option<usize>,
    pub rollouts: usize,
    pub namespaces: usize,
    pub mix: Vec<(Kind, usize)>,
    /// Objects in the fake server once the rollouts were created, by kind.
    pub objects: Vec<(&'static str, usize)>,
    pub startup: Startup,
    pub steady: Measured,
    pub churn: Measured,
    /// Stable Deployments scaled during the churn window.
    pub scales: usize,
    pub burst: Burst,
    pub burst_window: Measured,
    pub wall: Duration,
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn target(ok: bool, what: &str) -> String {
    format!("{what}: {}", if ok { "met" } else { "**missed**" })
}

fn total(counts: &[(String, usize)]) -> usize {
    counts.iter().map(|(_, n)| n).sum()
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find_map(|l| l.strip_prefix("model name"));
    format!("{cores} cores ({})", model.map(|m| m.trim_start_matches([' ', '\t', ':'])).unwrap_or("unknown CPU"))
}

/// The rows of one measured window.
fn window_rows(rows: &mut Vec<(String, String, String)>, name: &str, m: &Measured, targets: bool) {
    let w = &m.window;
    let rss_ok = (w.rss_max_kib as f64 / 1024.0) < RSS_TARGET_MIB;
    let cpu_ok = w.cpu_percent() < CPU_TARGET_PERCENT;
    let (rss_target, cpu_target) = if targets {
        (target(rss_ok, &format!("< {RSS_TARGET_MIB} MiB")), target(cpu_ok, &format!("< {CPU_TARGET_PERCENT}%")))
    } else {
        Default::default()
    };
    let mut row = |figure: &str, value: String, target: String| rows.push((format!("{name}: {figure}"), value, target));
    row("window", format!("{:.0} s", w.wall.as_secs_f64()), String::new());
    row("RSS mean (max sampled)", format!("{} ({})", mib(w.rss_mean_kib), mib(w.rss_max_kib)), rss_target);
    row("anonymous RSS mean", mib(w.rss_anon_mean_kib), String::new());
    row("CPU, % of one core", format!("{:.2}%", w.cpu_percent()), cpu_target);
    row("API requests", total(&m.requests).to_string(), String::new());
    row("log written", format!("{:.1} KiB", m.log_bytes as f64 / 1024.0), String::new());
    row("threads, open file descriptors", format!("{}, {}", w.threads, w.fds), String::new());
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(w, "# serin daemon at scale\n");
        let _ = writeln!(
            w,
            "Written by `cargo bench --bench daemon_scale` (`benches/daemon_scale.rs`): the real `serin run` \
             (release build) against the fake API server of the tests (`tests/support/fake_apiserver/`, in the \
             benchmark's process, 127.0.0.1), on {}. The figures are the daemon process's alone (/proc/<pid>); \
             the fake server and the benchmark share the machine with it.\n",
            machine()
        );
        self.setup(w);
        let _ = writeln!(w, "## Results\n\n| figure | value | target |\n|---|---|---|");
        for (figure, value, target) in self.rows() {
            let _ = writeln!(w, "| {figure} | {value} | {target} |");
        }
        let _ = writeln!(
            w,
            "\nLatency runs from just before the benchmark commits a new candidate image in the fake server to \
             the moment the server answered the daemon's PATCH of `serin.io/status` naming the new revision \
             (both on the server's clock; no polling in the figure). The changed rollouts were fresh and \
             promoted ones, spread over the namespaces; each starts a run.\n\n\
             Open file descriptors are nearly all the daemon's connections to the API server: kube's client \
             speaks HTTP/1.1, so every concurrent request holds a connection of its own, and its pool keeps \
             idle connections (it runs no idle reaper); the fake server never closes them either (kube-apiserver \
             closes idle ones after 90 s).\n"
        );
        let (st, b) = (&self.startup, &self.burst);
        let _ = writeln!(w, "## API requests\n");
        let _ = writeln!(
            w,
            "Startup (until synced):\n\n{}",
            requests::table(&st.requests, Some(("candidate", self.rollouts)))
        );
        let _ = writeln!(w, "Steady window:\n\n{}", requests::table(&self.steady.requests, None));
        let _ = writeln!(w, "Churn window:\n\n{}", requests::table(&self.churn.requests, Some(("scale", self.scales))));
        let _ = writeln!(
            w,
            "Burst of changes:\n\n{}",
            requests::table(&self.burst_window.requests, Some(("change", b.changes)))
        );
        out
    }

    fn setup(&self, w: &mut String) {
        let _ = writeln!(
            w,
            "## Setup\n\n{} rollouts over {} namespaces, each the `deploy/examples/canary.yaml` shape: a stable Deployment (2 replicas) \
             with its Service and Ingress, and a candidate `<app>-canary` annotated `serin.io/strategy: canary`, \
             `serin.io/interval: 1m`: {} annotated Deployments among {}.\n",
            self.rollouts,
            self.namespaces,
            self.rollouts,
            2 * self.rollouts
        );
        let _ = writeln!(w, "| rollouts | count | state when the daemon starts |\n|---|---:|---|");
        for (kind, count) in &self.mix {
            let _ = writeln!(w, "| {kind:?} | {count} | {} |", kind.describe());
        }
        if let Some(total) = self.cluster {
            let _ = writeln!(
                w,
                "\n`--cluster {total}`: {} more Deployments of other teams, not opted in, make {total} in all; \
                 every Deployment carries what `kubectl apply` and the controllers leave: a \
                 `kubectl.kubernetes.io/last-applied-configuration` of ~3 KiB, labels, managedFields.",
                total.saturating_sub(2 * self.rollouts)
            );
        }
        let objects: Vec<String> = self.objects.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
        let _ = writeln!(w, "\nObjects in the fake server: {}.\n", objects.join(", "));
        let _ = match self.ramp {
            None => writeln!(
                w,
                "They all exist, rolled out, when the daemon starts (a daemon (re)starting in a busy cluster).\n"
            ),
            Some(rate) => writeln!(
                w,
                "`--ramp {rate}`: the daemon starts on an empty cluster, then the rollouts are created, {rate} a \
                 second (\"startup\" below includes that ramp).\n"
            ),
        };
        let _ = writeln!(
            w,
            "The daemon watches all namespaces (no `--namespace`) and logs with `RUST_LOG=info,serin=debug` (as \
             `tests/support/daemon.rs` starts it). Its `--prometheus` is a stub on loopback that answers at once: \
             the template check a run starts with passes, and the in-flight runs' analyses (at their 1 m ticks) \
             get no data (verdict `inconclusive`). No rollout is promoted or rolled back.\n\n\
             Windows: *steady*, nothing changes but the in-flight runs' ticks; *churn*, {} stable Deployments \
             scaled by one replica (an HPA's doing) over {:.0} s, so the objects the daemon watches change while \
             no rollout does; *burst*, {} candidates get a new image, one every {} ms, until the daemon recorded \
             them all and 5 s more.\n",
            self.scales,
            self.churn.window.wall.as_secs_f64(),
            self.burst.changes,
            self.burst.spacing.as_millis()
        );
    }

    fn rows(&self) -> Vec<(String, String, String)> {
        let (st, b) = (&self.startup, &self.burst);
        let mut rows = Vec::new();
        let mut row = |figure: &str, value: String| rows.push((figure.to_string(), value, String::new()));
        row("startup: every candidate reconciled once", format!("{:.1} s", st.reconciled_all.as_secs_f64()));
        row("startup: until its requests stopped (3 s without any)", format!("{:.1} s", st.settled.as_secs_f64()));
        row("startup: CPU time used", format!("{:.2} s", st.cpu_seconds));
        row("startup: peak RSS (VmHWM)", mib(st.peak_rss_kib));
        window_rows(&mut rows, "steady", &self.steady, true);
        rows.push(("steady: peak RSS since start (VmHWM)".into(), mib(self.steady.window.hwm_kib), String::new()));
        window_rows(&mut rows, "churn", &self.churn, true);
        let mut row = |figure: &str, value: String| rows.push((figure.to_string(), value, String::new()));
        row("churn: stable scales", self.scales.to_string());
        row("burst: changes recorded by the daemon", format!("{} of {}", b.latencies.len(), b.changes));
        row("burst: latency to the status write, p50", ms(b.percentile(0.5)));
        row("burst: p90", ms(b.percentile(0.9)));
        row("burst: p99", ms(b.percentile(0.99)));
        row("burst: max", ms(b.latencies.last().copied().unwrap_or_default()));
        window_rows(&mut rows, "burst", &self.burst_window, false);
        rows.push(("wall time of the benchmark".into(), format!("{:.0} s", self.wall.as_secs_f64()), String::new()));
        rows
    }
}
