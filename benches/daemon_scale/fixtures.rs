//! The rollouts the benchmark puts in the fake API server, and the mix of states they are
//! in when the daemon starts. Each rollout is the `deploy/examples/canary.yaml` shape, in one of a few
//! namespaces: a stable Deployment `app-NNNN` (2 replicas) with its Service and Ingress,
//! and a candidate `app-NNNN-canary` annotated `serin.io/strategy: canary` and
//! `serin.io/interval: 1m`.
//!
//! The settled states carry a `serin.io/status` built from serin's own [`Record`], with
//! the last verdicts (and their evidence) of a simulated run of the shipped `healthy` or
//! `error-regression` scenario, so the annotation is as large as after a real run.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};
use serin::judge::{JudgeConfig, MetricVerdict};
use serin::k8s::objects::revision;
use serin::k8s::record::Record;
use serin::k8s::router::nginx::canary_ingress_name;
use serin::rollout::{Phase, RolloutState};
use serin::template::Catalog;
use serin_sim::sim::Scenario;

use crate::fake_apiserver::FakeApiServer;

/// What a rollout looks like when the daemon starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The candidate runs the stable's pod spec and has no status: nothing to roll out.
    Fresh,
    /// Promoted earlier: same pod spec as the stable, candidate at 0 replicas, its canary
    /// Service left, a settled `Succeeded` status.
    Succeeded,
    /// Rolled back earlier: the candidate's newer pod spec is not retried (settled
    /// `RolledBack` status, candidate at 0 replicas, its canary Service left).
    RolledBack,
    /// A newer pod spec nobody has analysed: the daemon starts a run when it starts.
    InFlight,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Fresh, Kind::Succeeded, Kind::RolledBack, Kind::InFlight];

    /// By place out of 100: 60 fresh, 30 succeeded, 8 rolled back, 2 in flight.
    fn of(place: usize) -> Kind {
        match place {
            0..60 => Kind::Fresh,
            60..90 => Kind::Succeeded,
            90..98 => Kind::RolledBack,
            _ => Kind::InFlight,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::Fresh => "candidate = stable pod spec, no status (nothing to roll out), 1 replica",
            Kind::Succeeded => "promoted earlier: settled `Succeeded` status, candidate at 0, canary Service left",
            Kind::RolledBack => "rolled back earlier: newer pod spec, settled `RolledBack` status, candidate at 0",
            Kind::InFlight => "newer pod spec, no status: the daemon starts a run (weight 10, then 1 m ticks)",
        }
    }
}

pub struct Rollout {
    pub namespace: String,
    /// The stable Deployment's name, also its Service's and Ingress's.
    pub app: String,
    pub kind: Kind,
}

impl Rollout {
    pub fn candidate(&self) -> String {
        format!("{}-canary", self.app)
    }
}

/// The verdicts a finished run leaves in its status.
struct History {
    succeeded: Past,
    rolled_back: Past,
}

struct Past {
    verdicts: Vec<MetricVerdict>,
    reason: String,
    trigger: Option<String>,
}

impl History {
    fn simulate() -> History {
        History { succeeded: Past::of("healthy"), rolled_back: Past::of("error-regression") }
    }
}

impl Past {
    fn of(scenario: &str) -> Past {
        let path = Scenario::shipped_dir().join(format!("{scenario}.yaml"));
        let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let run = serin_sim::simulate::run(&scenario, None, &Catalog::builtin(), &JudgeConfig::default())
            .unwrap_or_else(|e| panic!("simulating {}: {e}", path.display()));
        let replay = run.replay;
        let verdicts = replay.judgements.last().map(|j| j.metrics.clone()).unwrap_or_default();
        Past { verdicts, reason: replay.reason, trigger: replay.trigger }
    }
}

/// Creates `count` rollouts over `namespaces` namespaces (`scale-00`, …), every
/// namespace with the same mix of kinds; `pace` apart when given (to add them while the
/// daemon runs), else at once. `realistic`: every Deployment carries the metadata `kubectl
/// apply` and the controllers leave (see [`realistic_metadata`]).
pub fn populate(
    api: &FakeApiServer,
    count: usize,
    namespaces: usize,
    pace: Option<Duration>,
    realistic: bool,
) -> Vec<Rollout> {
    let history = History::simulate();
    let now = SystemTime::now();
    let per_namespace = count.div_ceil(namespaces).max(1);
    (0..count)
        .map(|i| {
            // The kind follows the rollout's place within its namespace, scaled to 100, so
            // each namespace gets the mix (exactly, with 100 rollouts a namespace).
            let place = (i / namespaces) * 100 / per_namespace;
            let rollout = Rollout {
                namespace: format!("scale-{:02}", i % namespaces),
                app: format!("app-{i:04}"),
                kind: Kind::of(place),
            };
            create(api, &rollout, &history, now, realistic);
            if let Some(pace) = pace {
                std::thread::sleep(pace);
            }
            rollout
        })
        .collect()
}

fn create(api: &FakeApiServer, rollout: &Rollout, history: &History, now: SystemTime, realistic: bool) {
    let (ns, app) = (rollout.namespace.as_str(), rollout.app.as_str());
    let stable_labels = json!({"app": app, "version": "stable"});
    let deployment = |ns: &str, name: &str, labels: &Value, version: &str, replicas: u32, annotations: Value| {
        let object = deployment(ns, name, labels, version, replicas, annotations);
        if realistic { realistic_metadata(object) } else { object }
    };
    api.create(deployment(ns, app, &stable_labels, "1.0", 2, json!({})));
    api.create(service(ns, app, &stable_labels, None));
    api.create(ingress(ns, app));
    let newer = matches!(rollout.kind, Kind::RolledBack | Kind::InFlight);
    let settled = matches!(rollout.kind, Kind::Succeeded | Kind::RolledBack);
    let mut annotations = json!({"serin.io/strategy": "canary", "serin.io/interval": "1m"});
    let canary_labels = json!({"app": app, "version": "canary"});
    let image = if newer { "1.1" } else { "1.0" };
    let replicas = if settled { 0 } else { 1 };
    // A settled candidate opts in together with its status (one write), so a running
    // daemon never sees it without its history and starts a run.
    let initial = if settled { json!({}) } else { annotations.clone() };
    let candidate = api.create(deployment(ns, &rollout.candidate(), &canary_labels, image, replicas, initial));
    if !settled {
        return;
    }
    // serin computes the revision from the stored (defaulted) object, so must we.
    let typed: Deployment = serde_json::from_value(candidate.clone()).expect("a stored Deployment decodes");
    let past = if rollout.kind == Kind::Succeeded { &history.succeeded } else { &history.rolled_back };
    let phase = if rollout.kind == Kind::Succeeded { Phase::Succeeded } else { Phase::RolledBack };
    let record = settled_record(&revision(&typed), phase, past, app, now);
    for (key, value) in record.annotations() {
        annotations[key] = json!(value);
    }
    let patch = json!({"metadata": {"annotations": annotations}});
    api.patch_merge("apps/v1", "Deployment", ns, &rollout.candidate(), patch);
    // The canary Service serin created on the run's first step outlives the run.
    let owner = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": rollout.candidate(),
                       "uid": candidate["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true});
    api.create(service(ns, &rollout.candidate(), &canary_labels, Some(owner)));
}

/// A run that ended a day ago, as serin leaves it: settled, weight 0, the last verdicts.
fn settled_record(revision: &str, phase: Phase, past: &Past, app: &str, now: SystemTime) -> Record {
    let started = now - Duration::from_secs(24 * 3600);
    let decided = started + Duration::from_secs(30 * 60);
    let mut record = Record::new(RolloutState::new(revision, started));
    let state = &mut record.state;
    state.phase = phase;
    state.step = Some(if phase == Phase::Succeeded { 3 } else { 0 });
    state.step_started = decided;
    state.updated = decided;
    state.traffic_epoch = if phase == Phase::Succeeded { 5 } else { 2 };
    state.last_verdicts = past.verdicts.clone();
    state.reason = past.reason.clone();
    state.trigger = past.trigger.clone();
    state.decided_at = Some(decided);
    record.analysed_at = Some(decided);
    record.canary_ingress = Some(canary_ingress_name(app));
    record.replicas_before = Some(1);
    record.settled = true;
    record
}

fn deployment(ns: &str, name: &str, labels: &Value, version: &str, replicas: u32, annotations: Value) -> Value {
    let app = labels["app"].as_str().unwrap_or(name);
    // A container as real ones come: resources, a probe and some environment (the size of
    // every cached Deployment is part of the daemon's memory).
    let container = json!({
        "name": "app", "image": format!("registry.example.com/{app}:{version}"),
        "ports": [{"name": "http", "containerPort": 8000}],
        "env": [{"name": "APP", "value": app}, {"name": "LOG_LEVEL", "value": "info"},
                {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.observability:4317"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 5},
    });
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app}, "annotations": annotations},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}},
    })
}

fn service(ns: &str, name: &str, selector: &Value, owner: Option<Value>) -> Value {
    let mut service = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": 8000}]},
    });
    if let Some(owner) = owner {
        service["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "serin"});
        service["metadata"]["ownerReferences"] = json!([owner]);
    }
    service
}

fn ingress(ns: &str, app: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": app, "namespace": ns},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": format!("{app}.example.com"), "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": app, "port": {"number": 80}}}}]}}]},
    })
}

/// Deployments of other teams, not opted in, `count` of them over the namespaces
/// (`svc-NNNNN`, one replica), with realistic metadata: what a cluster's watch of every
/// Deployment brings in besides the rollouts.
pub fn populate_others(api: &FakeApiServer, count: usize, namespaces: usize) {
    for i in 0..count {
        let name = format!("svc-{i:05}");
        let labels = json!({"app": name});
        let ns = format!("scale-{:02}", i % namespaces);
        api.create(realistic_metadata(deployment(&ns, &name, &labels, "2.3", 1, json!({}))));
    }
}

/// `object` as `kubectl apply` and the controllers leave it: the
/// `kubectl.kubernetes.io/last-applied-configuration` annotation (the manifest, ~3 KiB
/// with its environment), a few labels and annotations, and managedFields for the client
/// and the controller manager.
pub fn realistic_metadata(mut object: Value) -> Value {
    let containers = &mut object["spec"]["template"]["spec"]["containers"];
    for i in 0..28 {
        containers[0]["env"].as_array_mut().expect("env").push(json!({
            "name": format!("FEATURE_FLAG_{i:02}"), "value": format!("enabled-for-tenant-group-{i:02}")}));
    }
    let applied = serde_json::to_string(&object).expect("a manifest serialises");
    let metadata = &mut object["metadata"];
    metadata["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json!(applied);
    metadata["annotations"]["deployment.kubernetes.io/revision"] = json!("7");
    metadata["annotations"]["team.example.com/owner"] = json!("platform-payments@example.com");
    metadata["labels"]["app.kubernetes.io/part-of"] = json!("storefront");
    metadata["labels"]["app.kubernetes.io/version"] = json!("2.3.1");
    let spec_fields = json!({"f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:env": {}, "f:image": {}, "f:name": {},
        "f:ports": {}, "f:readinessProbe": {}, "f:resources": {}}}}}}});
    metadata["managedFields"] = json!([
        {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "apps/v1",
         "time": "2026-11-01T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": spec_fields},
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
         "time": "2026-11-01T10:00:05Z", "fieldsType": "FieldsV1", "subresource": "status",
         "fieldsV1": {"f:status": {"f:availableReplicas": {}, "f:conditions": {}, "f:observedGeneration": {},
                                   "f:readyReplicas": {}, "f:replicas": {}, "f:updatedReplicas": {}}}},
    ]);
    object
}

/// True once the simulated Deployment controller has caught up with every Deployment.
pub fn all_rolled_out(api: &FakeApiServer) -> bool {
    api.list("apps/v1", "Deployment", "").iter().all(|d| {
        let generation = &d["metadata"]["generation"];
        d["status"]["observedGeneration"] == *generation
    })
}
