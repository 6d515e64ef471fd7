//! End-to-end rigs: the fake API server holding the `deploy/examples/` objects, a traffic exporter
//! whose split follows what serin set (canary weight or Service selector), a real
//! Prometheus scraping it every second, and the real `serin run` binary.
//!
//! Include after the other support modules:
//! ```ignore
//! #[path = "support/fake_apiserver/mod.rs"] mod fake_apiserver;
//! #[path = "support/traffic.rs"] mod traffic;
//! #[path = "support/prometheus.rs"] mod prometheus;
//! #[path = "support/daemon.rs"] mod daemon;
//! #[path = "support/e2e.rs"] mod e2e;
//! ```
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::daemon::Daemon;
use crate::fake_apiserver::FakeApiServer;
use crate::prometheus::TestPrometheus;
use crate::traffic::{Profile, TrafficConfig, TrafficExporter, WeightFn};

pub const NS: &str = "production";
pub const WEIGHT: &str = "nginx.ingress.kubernetes.io/canary-weight";
/// Generous bound for a whole rollout on a loaded 2-core CI machine.
pub const ROLLOUT_TIMEOUT: Duration = Duration::from_secs(150);

/// The serin.io annotations every rig uses: short enough for a test, long enough for
/// Prometheus' 1 s scrapes to give each window three samples.
pub const FAST: &[(&str, &str)] = &[("serin.io/interval", "3s"), ("serin.io/progress-deadline", "60s")];

pub struct Rig {
    pub api: Arc<FakeApiServer>,
    pub exporter: TrafficExporter,
    pub prometheus: TestPrometheus,
    pub daemon: Option<Daemon>,
    pub dir: tempfile::TempDir,
    daemon_args: Vec<String>,
}

pub fn deployment(name: &str, labels: Value, image: &str, replicas: u32, annotations: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "annotations": annotations},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels.clone()},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "sark", "image": image,
                                                       "ports": [{"name": "http", "containerPort": 8000}]}]}}}
    })
}

pub fn service(name: &str, selector: Value, target_port: u16) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
           "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": target_port}]}})
}

/// The stable Ingress `sark` of the canary rig, routing api.example.com to Service `sark`.
pub fn stable_ingress() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "sark", "namespace": NS},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "api.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "sark", "port": {"number": 80}}}}]}}]}
    })
}

pub fn annotations(extra: &[(&str, &str)]) -> Value {
    let mut map = serde_json::Map::new();
    for (k, v) in FAST.iter().chain(extra) {
        map.insert((*k).to_string(), json!(v));
    }
    Value::Object(map)
}

impl Rig {
    /// Guide 001's canary: stable `sark` (Service + Ingress) and candidate `sark-canary`.
    pub fn canary(candidate: Profile, extra: &[(&str, &str)]) -> Rig {
        Rig::canary_with_daemon(candidate, extra, &[], &[])
    }

    /// [`Rig::canary`] whose first daemon also gets `daemon_extra` arguments and `env`.
    pub fn canary_with_daemon(
        candidate: Profile,
        extra: &[(&str, &str)],
        daemon_extra: &[&str],
        env: &[(&str, &str)],
    ) -> Rig {
        Rig::canary_selecting(json!({"app": "sark", "version": "stable"}), &[], candidate, extra, daemon_extra, env)
    }

    /// [`Rig::canary_with_daemon`] whose stable Service `sark` selects `stable_selector`,
    /// with `more` objects created before the daemon starts.
    pub fn canary_selecting(
        stable_selector: Value,
        more: &[Value],
        candidate: Profile,
        extra: &[(&str, &str)],
        daemon_extra: &[&str],
        env: &[(&str, &str)],
    ) -> Rig {
        let api = Arc::new(FakeApiServer::start());
        api.create(deployment("sark", json!({"app": "sark", "version": "stable"}), "sark:0.9", 4, json!({})));
        api.create(service("sark", stable_selector, 8000));
        api.create(stable_ingress());
        let mut all = vec![("serin.io/strategy", "canary"), ("serin.io/step-min", "3s")];
        all.extend_from_slice(extra);
        let candidate_labels = json!({"app": "sark", "version": "canary"});
        api.create(deployment("sark-canary", candidate_labels, "sark:1.0", 1, annotations(&all)));
        for object in more {
            api.create(object.clone());
        }
        let reader = api.clone();
        let weight: WeightFn = Arc::new(move || canary_weight(&reader).unwrap_or(0));
        let config = TrafficConfig::nginx(NS, "sark", "sark", "sark-canary", 80).weight(weight);
        Rig::start_with(api, TrafficConfig { candidate, rate_per_second: 400.0, ..config }, daemon_extra, env)
    }

    /// Guide 001's blue-green: Service `sark` on `sark-blue`, candidate `sark-green`.
    /// `smoke_port` is where the test serves the candidate's smoke paths (pod IP 127.0.0.1).
    pub fn blue_green(candidate: Profile, smoke_port: u16, extra: &[(&str, &str)]) -> Rig {
        let api = Arc::new(FakeApiServer::start());
        api.create(service("sark", json!({"app": "sark", "version": "blue"}), smoke_port));
        api.create(deployment("sark-blue", json!({"app": "sark", "version": "blue"}), "sark:0.9", 3, json!({})));
        let mut all = vec![("serin.io/strategy", "blue-green"), ("serin.io/service", "sark")];
        all.extend_from_slice(extra);
        let green = json!({"app": "sark", "version": "green"});
        api.create(deployment("sark-green", green, "sark:1.0", 3, annotations(&all)));
        let reader = api.clone();
        let weight: WeightFn = Arc::new(move || if live_slot(&reader).as_deref() == Some("green") { 100 } else { 0 });
        let config = TrafficConfig::http_slo(NS, "sark", "version", "green", "blue").weight(weight);
        Rig::start(api, TrafficConfig { candidate, rate_per_second: 400.0, ..config })
    }

    pub fn start(api: Arc<FakeApiServer>, traffic: TrafficConfig) -> Rig {
        Rig::start_with(api, traffic, &[], &[])
    }

    fn start_with(api: Arc<FakeApiServer>, traffic: TrafficConfig, extra: &[&str], env: &[(&str, &str)]) -> Rig {
        let exporter = TrafficExporter::start(traffic);
        let prometheus = TestPrometheus::start_scraping(&[exporter.address()], Duration::from_secs(1));
        prometheus.wait_until_targets_up(Duration::from_secs(30));
        let dir = tempfile::tempdir().expect("temp dir");
        api.write_kubeconfig(&dir.path().join("kubeconfig"));
        let mut rig =
            Rig { api, exporter, prometheus, daemon: None, dir, daemon_args: vec!["--namespace".into(), NS.into()] };
        let url = rig.prometheus.url().to_string();
        rig.daemon = Some(rig.spawn_daemon(&url, extra, env));
        rig
    }

    pub fn start_daemon(&mut self) {
        let url = self.prometheus.url().to_string();
        self.start_daemon_with(&url, &[]);
    }

    /// Starts the daemon against another Prometheus URL and with extra arguments.
    pub fn start_daemon_with(&mut self, prometheus: &str, extra: &[&str]) {
        self.daemon = Some(self.spawn_daemon(prometheus, extra, &[]));
    }

    /// (Re)starts the rig's daemon with extra arguments and environment variables.
    pub fn restart_daemon_env(&mut self, extra: &[&str], env: &[(&str, &str)]) {
        self.kill_daemon();
        let url = self.prometheus.url().to_string();
        self.daemon = Some(self.spawn_daemon(&url, extra, env));
    }

    /// Another daemon on the rig's objects, beside the rig's own, logging to `log_name`.
    pub fn spawn_daemon(&self, prometheus: &str, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        self.spawn_daemon_logging(prometheus, extra, env, "serin.log")
    }

    pub fn spawn_daemon_logging(
        &self,
        prometheus: &str,
        extra: &[&str],
        env: &[(&str, &str)],
        log_name: &str,
    ) -> Daemon {
        let mut args: Vec<&str> = self.daemon_args.iter().map(String::as_str).collect();
        args.extend_from_slice(extra);
        let log = self.dir.path().join(log_name);
        Daemon::start_with_env(&self.dir.path().join("kubeconfig"), prometheus, &args, &log, env)
    }

    /// The HTTP address of the rig's daemon.
    pub fn http_addr(&mut self) -> std::net::SocketAddr {
        self.daemon.as_mut().expect("a running daemon").http_addr()
    }

    pub fn kill_daemon(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.kill();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serin.log")).unwrap_or_default()
    }

    pub fn deployment(&self, name: &str) -> Value {
        self.api.get("apps/v1", "Deployment", NS, name).unwrap_or(Value::Null)
    }

    pub fn annotation(&self, name: &str, key: &str) -> Option<String> {
        self.deployment(name)["metadata"]["annotations"][key].as_str().map(str::to_string)
    }

    pub fn phase(&self, name: &str) -> Option<String> {
        self.annotation(name, "serin.io/phase")
    }

    pub fn status(&self, name: &str) -> Value {
        self.annotation(name, "serin.io/status").and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(Value::Null)
    }

    /// Waits for `name`'s phase, with the daemon's log in the failure message.
    pub fn wait_for_phase(&self, name: &str, phase: &str, timeout: Duration) {
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.api
                .wait_until(timeout, &format!("{name} phase {phase}"), |_| self.phase(name).as_deref() == Some(phase))
        }));
        if waited.is_err() {
            panic!(
                "{name} never reached {phase}: phase {:?}\nstatus: {}\n--- serin log ---\n{}",
                self.phase(name),
                self.status(name),
                tail(&self.log(), 60)
            );
        }
    }

    /// The canary weights serin wrote, in order (creations, replacements and patches).
    /// The weights written once the run's canary Ingress is gone: a run's record says
    /// Succeeded or RolledBack before the work it decided (write-ahead), so the last
    /// weight may still be on its way when the phase is seen.
    pub fn weights_written_by_the_end(&self) -> Vec<u8> {
        let gone = |api: &FakeApiServer| api.get("networking.k8s.io/v1", "Ingress", NS, "sark-canary").is_none();
        self.api.wait_until(Duration::from_secs(20), "the canary Ingress removed", gone);
        self.weights_written()
    }

    pub fn weights_written(&self) -> Vec<u8> {
        self.api
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/ingresses") || r.path.ends_with("/ingresses/sark-canary"))
            .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH") && r.status < 300)
            .filter_map(|r| r.body.as_ref()?["metadata"]["annotations"][WEIGHT].as_str()?.parse().ok())
            .collect()
    }

    /// Writes (not reads) serin made to Ingresses and Services.
    pub fn traffic_writes(&self) -> Vec<String> {
        self.api
            .requests()
            .iter()
            .filter(|r| r.path.contains("/ingresses") || r.path.contains("/services"))
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// Events about `name`: (type, reason, note).
    pub fn events(&self, name: &str) -> Vec<(String, String, String)> {
        self.api
            .list("events.k8s.io/v1", "Event", NS)
            .iter()
            .filter(|e| e["regarding"]["name"] == name)
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (text("type"), text("reason"), text("note"))
            })
            .collect()
    }

    /// Waits for an Event with `reason` about `name` (Events follow the state write).
    pub fn wait_for_event(&self, name: &str, reason: &str) -> (String, String, String) {
        let mut found = None;
        self.api.wait_until(Duration::from_secs(20), &format!("a {reason} Event on {name}"), |_| {
            found = self.events(name).into_iter().find(|(_, r, _)| r == reason);
            found.is_some()
        });
        found.expect("waited for it")
    }

    pub fn event_reasons(&self, name: &str) -> Vec<String> {
        self.events(name).into_iter().map(|(_, reason, _)| reason).collect()
    }
}

pub fn canary_weight(api: &FakeApiServer) -> Option<u8> {
    let ingress = api.get("networking.k8s.io/v1", "Ingress", NS, "sark-canary")?;
    ingress["metadata"]["annotations"][WEIGHT].as_str()?.parse().ok()
}

pub fn live_slot(api: &FakeApiServer) -> Option<String> {
    let service = api.get("v1", "Service", NS, "sark")?;
    service["spec"]["selector"]["version"].as_str().map(str::to_string)
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
