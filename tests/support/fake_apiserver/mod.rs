//! A stateful fake Kubernetes API server for integration tests: the real `kube::Client`
//! (or the `serin` binary, through a kubeconfig) talks HTTP to it on 127.0.0.1, and it
//! answers as strictly as the real server where a client could get it wrong (Status
//! errors, optimistic concurrency, validation, finalizers, watch semantics). A simulated
//! Deployment controller makes Deployments Available and keeps their Pods in step.
//!
//! ```ignore
//! #[path = "support/fake_apiserver/mod.rs"]
//! mod fake_apiserver;
//! let server = fake_apiserver::FakeApiServer::start();
//! server.create(json!({"apiVersion": "apps/v1", "kind": "Deployment", ...}));
//! let deployments: kube::Api<Deployment> = kube::Api::default_namespaced(server.client().await);
//! ```
//!
//! Deviations from the real server are described where they live (patch.rs, store.rs,
//! deployment_controller.rs, resources.rs) and summed up here: namespaces need not
//! exist and there are no Namespace objects; core/v1 and events.k8s.io/v1 Events are
//! separate collections; strategic merge patch and server-side apply are approximated
//! (patch.rs); deletion propagation is always background, garbage collection and Pod
//! deletion immediate; lists serve pages of `limit` items, each of the latest state (the
//! `continue` token is an offset);
//! one global watch history (10,000 events) rather than one per resource; Services get
//! no clusterIP; no ReplicaSets (Pods are owned by their Deployment); no
//! authentication, no managedFields. Deployments, like the real ones, get a new
//! `generation` for annotation changes too, not only for spec changes. HTTPRoutes (a CRD
//! on a real cluster) are checked against the parts of their schema a client editing rules
//! can break, and a simulated gateway controller answers them in `status.parents`
//! (httproute.rs).

#![allow(dead_code)]

mod defaults;
mod deployment_controller;
mod discovery;
mod faults;
mod http;
mod httproute;
mod object;
mod patch;
mod reaction;
mod resources;
mod selector;
mod status;
mod store;
mod validate;
mod watch;
mod write;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use deployment_controller::ControllerConfig;
use resources::Resource;
use selector::Selector;
use store::Store;

/// One HTTP request the server answered.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    /// The body as JSON (YAML for server-side apply), None when empty or not parseable.
    pub body: Option<Value>,
    pub status: u16,
    /// When the answer was ready (a write is committed by then).
    pub at: Instant,
}

/// How the simulated controller treats one Deployment.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeploymentBehaviour {
    /// Pods exist and run but never become Ready: the Deployment stays Available=False.
    pub never_ready: bool,
    /// How long the Deployment lags its spec before the controller catches up (300 ms).
    pub ready_delay: Option<Duration>,
}

/// How the simulated gateway controller answers one HTTPRoute (README of this module:
/// httproute.rs).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct GatewayBehaviour {
    /// How long after a change of the route its status answers it (200 ms).
    pub delay: Option<Duration>,
    /// Refuse every generation: `Accepted=False` with this (reason, message).
    pub refuse: Option<(String, String)>,
}

/// State shared by the HTTP handlers, watch streams, the controller and the handle.
pub struct Shared {
    store: Mutex<Store>,
    requests: Mutex<Vec<RecordedRequest>>,
    controller: Mutex<ControllerConfig>,
    /// The gateway controller's behaviour per HTTPRoute (namespace, name).
    gateway: Mutex<std::collections::HashMap<(String, String), GatewayBehaviour>>,
    /// Kinds whose creates and updates an admission webhook refuses (the message it gives).
    refused_writes: Mutex<Vec<(String, String)>>,
    /// Lease holders whose Lease writes hang (a partitioned replica).
    hung_lease_writers: Mutex<Vec<String>>,
    /// Writers that react to a write at once (reaction.rs).
    reactions: Mutex<Vec<reaction::Reaction>>,
    /// Set to true when the handle drops: every task ends.
    shutdown: tokio::sync::watch::Sender<bool>,
    log: bool,
}

/// Locks, ignoring poisoning: a panicking test must not cascade into every other call.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The running server; dropping it stops the server and its tasks.
pub struct FakeApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl FakeApiServer {
    /// Binds 127.0.0.1 on an ephemeral port and serves from a thread with its own
    /// runtime, so sync tests, async tests and child processes can all use it.
    pub fn start() -> FakeApiServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("bound address");
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new()),
            requests: Mutex::new(Vec::new()),
            controller: Mutex::new(ControllerConfig::default()),
            gateway: Mutex::new(std::collections::HashMap::new()),
            refused_writes: Mutex::new(Vec::new()),
            hung_lease_writers: Mutex::new(Vec::new()),
            reactions: Mutex::new(Vec::new()),
            shutdown,
            log: std::env::var("FAKE_APISERVER_LOG").is_ok_and(|v| v == "1"),
        });
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fake-apiserver".to_string())
            .spawn(move || serve(for_thread, listener))
            .expect("spawn the server thread");
        FakeApiServer { shared, addr, thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client for this server, with "default" as its default namespace.
    pub async fn client(&self) -> kube::Client {
        let mut config = kube::Config::new(self.url().parse().expect("a valid URL"));
        config.default_namespace = "default".to_string();
        kube::Client::try_from(config).expect("a client for the fake API server")
    }

    /// A kubeconfig whose current context points at this server (with a dummy token).
    /// kube falls back to `HTTPS_PROXY` when a kubeconfig names no proxy: start child
    /// processes without it (and `https_proxy`) where it may be set.
    pub fn write_kubeconfig(&self, path: &Path) {
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{ "name": "fake", "cluster": { "server": self.url() } }],
            "users": [{ "name": "fake", "user": { "token": "fake-token" } }],
            "contexts": [{ "name": "fake", "context": { "cluster": "fake", "user": "fake", "namespace": "default" } }],
            "current-context": "fake",
        });
        let text = serde_yaml_ng::to_string(&config).expect("kubeconfig serialises");
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Creates an object as `kubectl create` would (namespace "default" unless it
    /// says otherwise); panics with the server's message if the server refuses it.
    pub fn create(&self, object: Value) -> Value {
        let (res, ns) = resolve(&object);
        lock(&self.shared.store).create(res, &ns, object, false).unwrap_or_else(|e| panic!("create: {}", e.message))
    }

    /// Creates or updates an object as a user's `kubectl apply` does: unconditionally,
    /// as a three-way merge with the configuration applied last time (kept, as kubectl
    /// keeps it, in the `kubectl.kubernetes.io/last-applied-configuration` annotation).
    /// Fields others wrote (a controller's annotations, status) survive, as they do
    /// with the real kubectl.
    pub fn apply(&self, object: Value) -> Value {
        const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
        let (res, ns) = resolve(&object);
        let name = object::meta_str(&object, "name").to_string();
        let mut applied = object.clone();
        applied["metadata"]["annotations"][LAST_APPLIED] = json!(object.to_string());
        let mut store = lock(&self.shared.store);
        let result = match store.get(res, &ns, &name) {
            None => store.create(res, &ns, applied, false),
            Some(current) => {
                let previous = current.pointer("/metadata/annotations").and_then(|a| a.get(LAST_APPLIED));
                let previous = previous.and_then(Value::as_str).and_then(|t| serde_json::from_str(t).ok());
                let mut patch = patch::three_way(&previous.unwrap_or(json!({})), &applied);
                object::set_meta(&mut patch, "resourceVersion", Value::Null);
                let body = patch.to_string();
                let merge = patch::PatchKind::Merge;
                store.patch(res, &ns, &name, merge, body.as_bytes(), None, write::Part::Main, false).map(|(o, _)| o)
            }
        };
        result.unwrap_or_else(|e| panic!("apply: {}", e.message))
    }

    /// A JSON merge patch, as `kubectl patch --type=merge` (or `kubectl annotate k-`).
    pub fn patch_merge(&self, api_version: &str, kind: &str, namespace: &str, name: &str, patch: Value) -> Value {
        let target =
            json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": namespace, "name": name}});
        let (res, ns) = resolve(&target);
        let body = patch.to_string();
        let mut store = lock(&self.shared.store);
        let result =
            store.patch(res, &ns, name, patch::PatchKind::Merge, body.as_bytes(), None, write::Part::Main, false);
        result.map(|(o, _)| o).unwrap_or_else(|e| panic!("patch: {}", e.message))
    }

    /// A forced server-side apply by `field_manager`, as a GitOps tool's sync sends it
    /// (approximated: patch.rs); creates the object when absent.
    pub fn server_side_apply(&self, object: Value, field_manager: &str) -> Value {
        let (res, ns) = resolve(&object);
        let name = object::meta_str(&object, "name").to_string();
        let (body, kind, part) = (object.to_string(), patch::PatchKind::Apply, write::Part::Main);
        let result =
            lock(&self.shared.store).patch(res, &ns, &name, kind, body.as_bytes(), Some(field_manager), part, false);
        result.map(|(o, _)| o).unwrap_or_else(|e| panic!("server-side apply: {}", e.message))
    }

    /// Every state one object had, oldest first, from the watch history (`None`: deleted).
    pub fn versions(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Vec<Option<Value>> {
        let res = resource(api_version, kind);
        let store = lock(&self.shared.store);
        let history = store.events_after(0).unwrap_or_else(|_| panic!("the watch history was compacted"));
        history
            .filter(|e| std::ptr::eq(e.res, res))
            .filter(|e| {
                object::meta_str(&e.object, "namespace") == namespace && object::meta_str(&e.object, "name") == name
            })
            .map(|e| (e.kind != "DELETED").then(|| e.object.clone()))
            .collect()
    }

    pub fn get(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        lock(&self.shared.store).get(resource(api_version, kind), namespace, name).cloned()
    }

    /// Objects of a kind in a namespace ("" for all namespaces), with apiVersion and kind.
    pub fn list(&self, api_version: &str, kind: &str, namespace: &str) -> Vec<Value> {
        let ns = Some(namespace).filter(|ns| !ns.is_empty());
        lock(&self.shared.store).list(resource(api_version, kind), ns, &Selector::default())
    }

    /// Deletes as `kubectl delete` would (finalizers delay the removal); a missing
    /// object is not an error, so tests can clean up unconditionally.
    pub fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) {
        let result = lock(&self.shared.store).delete(resource(api_version, kind), namespace, name, &Value::Null, false);
        if let Err(e) = result
            && e.code != 404
        {
            panic!("delete: {}", e.message);
        }
    }

    pub fn set_deployment_behaviour(&self, namespace: &str, name: &str, behaviour: DeploymentBehaviour) {
        let key = (namespace.to_string(), name.to_string());
        lock(&self.shared.controller).behaviours.insert(key, behaviour);
    }

    /// How the simulated gateway controller answers the HTTPRoute from now on.
    pub fn set_gateway_behaviour(&self, namespace: &str, name: &str, behaviour: GatewayBehaviour) {
        let key = (namespace.to_string(), name.to_string());
        lock(&self.shared.gateway).insert(key, behaviour);
    }

    /// The IP of Pods from now on (existing Pods are updated too).
    pub fn set_pod_ip(&self, ip: &str) {
        lock(&self.shared.controller).pod_ip = ip.to_string();
    }

    /// Keeps only the last `events` watch events (10,000 by default): watches from
    /// older resourceVersions get 410 Gone. A small value makes expiry cheap to test.
    pub fn set_watch_history_limit(&self, events: usize) {
        lock(&self.shared.store).set_history_limit(events);
    }

    /// The current resourceVersion of the whole store.
    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.store).rv()
    }

    /// Every HTTP request served so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many HTTP requests have been served so far.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    /// The requests served after the first `from` (cheaper than `requests()` when many
    /// thousands have been served and only the latest matter).
    pub fn requests_since(&self, from: usize) -> Vec<RecordedRequest> {
        let requests = lock(&self.shared.requests);
        requests.get(from..).map(<[RecordedRequest]>::to_vec).unwrap_or_default()
    }

    /// Polls `check` every 50 ms until it holds; panics naming `what` after `timeout`.
    /// Blocks the thread: from an async test whose client tasks must keep running on
    /// the same (current-thread) runtime, use `wait_until_async`.
    pub fn wait_until(&self, timeout: Duration, what: &str, mut check: impl FnMut(&FakeApiServer) -> bool) {
        let deadline = Instant::now() + timeout;
        while !check(self) {
            assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting until {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `wait_until` for async tests: sleeps on the runtime rather than the thread.
    pub async fn wait_until_async(&self, timeout: Duration, what: &str, mut check: impl FnMut(&FakeApiServer) -> bool) {
        let deadline = Instant::now() + timeout;
        while !check(self) {
            assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting until {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(thread) = self.thread.take() {
            // The thread ends promptly: its runtime drops every task once serving stops.
            let _ = thread.join();
        }
    }
}

/// The server thread: HTTP and the controller until shutdown, then the runtime (and
/// with it every connection and watch task) is dropped.
fn serve(shared: Arc<Shared>, listener: std::net::TcpListener) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        let mut shutdown = shared.shutdown.subscribe();
        tokio::spawn(deployment_controller::run(shared.clone()));
        tokio::spawn(httproute::run(shared.clone()));
        let app = http::router(shared);
        tokio::select! {
            result = axum::serve(listener, app) => result.expect("the fake API server failed"),
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    });
}

/// A minimal valid apps/v1 Deployment in "default": `replicas` Pods labelled
/// `app: <app>`, one container `app` (image `example/app:1`, port 8080). Tests adjust
/// the returned JSON as they need.
pub fn deployment_manifest(name: &str, app: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "namespace": "default", "labels": { "app": app } },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": app } },
            "template": {
                "metadata": { "labels": { "app": app } },
                "spec": { "containers": [{ "name": "app", "image": "example/app:1", "ports": [{ "containerPort": 8080 }] }] },
            },
        },
    })
}

fn resource(api_version: &str, kind: &str) -> &'static Resource {
    Resource::by_kind(api_version, kind)
        .unwrap_or_else(|| panic!("the fake API server does not serve {api_version} {kind}"))
}

/// The resource and namespace of a test's object.
fn resolve(object: &Value) -> (&'static Resource, String) {
    let field = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or("");
    let ns = Some(object::meta_str(object, "namespace")).filter(|ns| !ns.is_empty()).unwrap_or("default");
    (resource(field("apiVersion"), field("kind")), ns.to_string())
}
