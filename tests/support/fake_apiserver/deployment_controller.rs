//! A simulated Deployment controller (with the ReplicaSet controller and kubelet folded
//! in): a background task that, once a Deployment's status or Pods have lagged its
//! spec for the configured delay, brings them in step in one atomic write: one Pod per
//! replica named `<deployment>-<template hash>-<i>`, owned by the Deployment (real Pods
//! are owned by a ReplicaSet; there are none here), Running with the configured IP, and
//! Ready unless the Deployment is set `never_ready`; then the status (observedGeneration,
//! replica counts, Available and Progressing conditions). A template change replaces the
//! Pods at once rather than rolling them, and a `never_ready` Deployment stays
//! Progressing=True (ReplicaSetUpdated): there is no ProgressDeadlineExceeded.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::object::{being_deleted, labels, meta_str, now_rfc3339, owner_uids, safe_hash};
use super::resources::Resource;
use super::store::{Store, key};
use super::{DeploymentBehaviour, Shared, lock};

const DEFAULT_DELAY: Duration = Duration::from_millis(300);
const TICK: Duration = Duration::from_millis(20);

/// What tests set: per-Deployment behaviour, keyed by (namespace, name), and Pod IPs.
#[derive(Clone, PartialEq)]
pub struct ControllerConfig {
    pub behaviours: HashMap<(String, String), DeploymentBehaviour>,
    pub pod_ip: String,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig { behaviours: HashMap::new(), pod_ip: "127.0.0.1".to_string() }
    }
}

/// (namespace, name) of a Deployment.
type Id = (String, String);

/// What the controller remembers between ticks.
#[derive(Default)]
struct Tracker {
    /// The store's resourceVersion at the start of the last tick: Deployments and Pods
    /// written after it are looked at again. None: look at every Deployment.
    seen: Option<u64>,
    /// The configuration the last tick ran with: a change looks at every Deployment.
    config: Option<ControllerConfig>,
    /// Since when each Deployment has lagged, and in which state (a new state restarts the clock).
    lagging: HashMap<Id, (String, Instant)>,
}

/// Runs until the server shuts down.
pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut tracker = Tracker::default();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = ticks.tick() => reconcile_changed(&shared, &mut tracker),
        }
    }
}

/// Plans the Deployments that may be out of step: those written since the last tick (or
/// whose Pods were), and those still lagging. A Deployment whose plan was empty stays in
/// step until it or its Pods change, so with thousands of Deployments a tick costs what
/// changed rather than a scan of every Deployment and its namespace's Pods every 20 ms
/// (which held the store's lock most of the time at 2,000 Deployments).
fn reconcile_changed(shared: &Shared, tracker: &mut Tracker) {
    let config = lock(&shared.controller).clone();
    let mut store = lock(&shared.store);
    let rv = store.rv();
    let changed = match (tracker.seen, tracker.config.as_ref() == Some(&config)) {
        (Some(seen), true) if seen == rv && tracker.lagging.is_empty() => return,
        (Some(seen), true) => changed_since(&store, seen),
        _ => None,
    };
    // Our own writes below come after `rv`: the next tick plans those Deployments again,
    // as a full scan would.
    tracker.seen = Some(rv);
    tracker.config = Some(config.clone());
    let ids: Vec<Id> = match changed {
        Some(mut ids) => {
            ids.extend(tracker.lagging.keys().cloned());
            ids.into_iter().collect()
        }
        None => store.iter(Resource::deployments(), None).map(id).collect(),
    };
    let now = Instant::now();
    for id in ids {
        let deployment = store.get(Resource::deployments(), &id.0, &id.1).filter(|d| !being_deleted(d)).cloned();
        let Some(deployment) = deployment else {
            tracker.lagging.remove(&id);
            continue;
        };
        let behaviour = config.behaviours.get(&id).cloned().unwrap_or_default();
        let plan = Plan::new(&store, &deployment, &behaviour, &config.pod_ip);
        if plan.is_empty() {
            tracker.lagging.remove(&id);
            continue;
        }
        let since = match tracker.lagging.get(&id) {
            Some((state, since)) if *state == plan.state => *since,
            _ => {
                tracker.lagging.insert(id.clone(), (plan.state.clone(), now));
                now
            }
        };
        if now.duration_since(since) >= behaviour.ready_delay.unwrap_or(DEFAULT_DELAY) {
            plan.execute(&mut store);
            tracker.lagging.remove(&id);
        }
    }
}

fn id(deployment: &Value) -> Id {
    (meta_str(deployment, "namespace").to_string(), meta_str(deployment, "name").to_string())
}

/// The Deployments written since `seen`, and the owners of Pods written since; None when
/// those events have left the history (then every Deployment is looked at).
fn changed_since(store: &Store, seen: u64) -> Option<HashSet<Id>> {
    let mut ids = HashSet::new();
    for event in store.events_after(seen).ok()? {
        if std::ptr::eq(event.res, Resource::deployments()) {
            ids.insert(id(&event.object));
        } else if std::ptr::eq(event.res, Resource::pods()) {
            let refs = event.object.pointer("/metadata/ownerReferences").and_then(Value::as_array);
            let owners = refs.into_iter().flatten().filter(|r| r["kind"] == "Deployment");
            let ns = meta_str(&event.object, "namespace");
            ids.extend(owners.filter_map(|r| r["name"].as_str()).map(|name| (ns.to_string(), name.to_string())));
        }
    }
    Some(ids)
}

/// The writes that bring one Deployment in step.
struct Plan {
    /// What the Deployment should look like, timestamps aside: a change restarts the delay.
    state: String,
    remove_pods: Vec<String>,
    write_pods: Vec<Value>,
    deployment: Option<Value>,
    namespace: String,
}

impl Plan {
    fn new(store: &Store, deployment: &Value, behaviour: &DeploymentBehaviour, pod_ip: &str) -> Plan {
        let ns = meta_str(deployment, "namespace");
        let uid = meta_str(deployment, "uid");
        let replicas = deployment.pointer("/spec/replicas").and_then(Value::as_u64).unwrap_or(1);
        let template = deployment.pointer("/spec/template").cloned().unwrap_or_default();
        let hash = safe_hash(&template);
        let ready = !behaviour.never_ready;
        let owned: Vec<&Value> =
            store.iter(Resource::pods(), Some(ns)).filter(|p| owner_uids(p).iter().any(|u| u == uid)).collect();
        let wanted: Vec<Value> = (0..replicas)
            .map(|i| {
                let name = format!("{}-{hash}-{i}", meta_str(deployment, "name"));
                let existing = owned.iter().copied().find(|p| meta_str(p, "name") == name);
                pod(deployment, &template, &hash, &name, existing, ready, pod_ip)
            })
            .collect();
        let remove_pods = owned
            .iter()
            .map(|p| meta_str(p, "name").to_string())
            .filter(|name| !wanted.iter().any(|w| meta_str(w, "name") == name))
            .collect();
        let write_pods = wanted.into_iter().filter(|w| owned.iter().all(|p| !same_pod(p, w))).collect::<Vec<Value>>();
        let status = deployment_status(deployment, &hash, replicas, ready);
        let deployment_update = (deployment.get("status") != Some(&status)).then(|| {
            let mut updated = deployment.clone();
            updated["status"] = status;
            updated
        });
        let generation = deployment.pointer("/metadata/generation").cloned().unwrap_or_default();
        Plan {
            state: format!("{generation}/{replicas}/{hash}/{ready}/{pod_ip}"),
            remove_pods,
            write_pods,
            deployment: deployment_update,
            namespace: ns.to_string(),
        }
    }

    fn is_empty(&self) -> bool {
        self.remove_pods.is_empty() && self.write_pods.is_empty() && self.deployment.is_none()
    }

    /// Pods first, then the status: whoever sees the Deployment Available finds its Pods.
    fn execute(self, store: &mut Store) {
        let pods = Resource::pods();
        for name in &self.remove_pods {
            store.remove(pods, &key(pods, &self.namespace, name));
        }
        for pod in self.write_pods {
            store.write_internal(pods, pod);
        }
        if let Some(deployment) = self.deployment {
            store.write_internal(Resource::deployments(), deployment);
        }
    }
}

fn same_pod(existing: &Value, wanted: &Value) -> bool {
    meta_str(existing, "name") == meta_str(wanted, "name")
        && ["/metadata/labels", "/metadata/ownerReferences", "/spec", "/status"]
            .iter()
            .all(|p| existing.pointer(p) == wanted.pointer(p))
}

/// The Pod for replica `name`, keeping what the existing one has that is still right
/// (the time its conditions last changed).
fn pod(
    deployment: &Value,
    template: &Value,
    hash: &str,
    name: &str,
    existing: Option<&Value>,
    ready: bool,
    pod_ip: &str,
) -> Value {
    let mut pod_labels = labels(template);
    pod_labels.insert("pod-template-hash".to_string(), json!(hash));
    let owner = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": meta_str(deployment, "name"),
        "uid": meta_str(deployment, "uid"),
        "controller": true,
        "blockOwnerDeletion": true,
    });
    let old_conditions = existing.and_then(|p| p.pointer("/status/conditions")).cloned().unwrap_or_default();
    let status = if ready { "True" } else { "False" };
    let conditions: Vec<Value> =
        ["Ready", "ContainersReady"].iter().map(|kind| condition(&old_conditions, kind, status, None, None)).collect();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": meta_str(deployment, "namespace"),
            "labels": pod_labels,
            "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
            "ownerReferences": [owner],
        },
        "spec": template.get("spec").cloned().unwrap_or_default(),
        "status": {
            "phase": "Running",
            "podIP": pod_ip,
            "podIPs": [{ "ip": pod_ip }],
            "hostIP": "127.0.0.1",
            "conditions": conditions,
        },
    })
}

/// A condition; its times are kept from the old one while its status (and reason) hold.
fn condition(old: &Value, kind: &str, status: &str, reason: Option<&str>, message: Option<&str>) -> Value {
    let previous = old.as_array().and_then(|l| l.iter().find(|c| c["type"] == kind));
    let now = json!(now_rfc3339());
    let same_status = previous.is_some_and(|p| p["status"] == status);
    let transition = previous.filter(|_| same_status).map(|p| p["lastTransitionTime"].clone()).unwrap_or(now.clone());
    let mut cond = json!({ "type": kind, "status": status, "lastTransitionTime": transition });
    if let Some(reason) = reason {
        let same = same_status && previous.is_some_and(|p| p["reason"] == reason);
        cond["lastUpdateTime"] = previous.filter(|_| same).map(|p| p["lastUpdateTime"].clone()).unwrap_or(now);
        cond["reason"] = json!(reason);
        cond["message"] = json!(message.unwrap_or(""));
    }
    cond
}

/// The status the real controllers converge to; zero counts are omitted as the real
/// server's JSON omits them.
fn deployment_status(deployment: &Value, hash: &str, replicas: u64, ready: bool) -> Value {
    let available = if ready { replicas } else { 0 };
    let replica_set = format!("{}-{hash}", meta_str(deployment, "name"));
    let old = deployment.pointer("/status/conditions").cloned().unwrap_or_default();
    let minimum = available == replicas;
    let conditions = [
        if minimum {
            condition(
                &old,
                "Available",
                "True",
                Some("MinimumReplicasAvailable"),
                Some("Deployment has minimum availability."),
            )
        } else {
            let message = "Deployment does not have minimum availability.";
            condition(&old, "Available", "False", Some("MinimumReplicasUnavailable"), Some(message))
        },
        if ready {
            let message = format!("ReplicaSet {replica_set:?} has successfully progressed.");
            condition(&old, "Progressing", "True", Some("NewReplicaSetAvailable"), Some(&message))
        } else {
            let message = format!("ReplicaSet {replica_set:?} is progressing.");
            condition(&old, "Progressing", "True", Some("ReplicaSetUpdated"), Some(&message))
        },
    ];
    let mut status = json!({
        "observedGeneration": deployment.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        "conditions": conditions,
    });
    for (field, count) in [
        ("replicas", replicas),
        ("updatedReplicas", replicas),
        ("readyReplicas", available),
        ("availableReplicas", available),
        ("unavailableReplicas", replicas - available),
    ] {
        if count > 0 {
            status[field] = json!(count);
        }
    }
    status
}
