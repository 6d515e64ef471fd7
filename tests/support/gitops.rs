//! A GitOps tool beside serin: every `period` it server-side-applies "the manifests in Git"
//! with its own field manager, forced, as Argo CD's and Flux's syncs do (the fake API
//! server's apply: `fake_apiserver/patch.rs`). After each apply it checks that what serin
//! keeps on its candidates (`serin.io/status`, the finalizer) survived it.
//!
//! Include after `fake_apiserver` and `e2e`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::e2e::NS;
use crate::fake_apiserver::FakeApiServer;

/// Argo CD's application controller's field manager.
pub const MANAGER: &str = "argocd-controller";

pub struct GitOpsTool {
    stop: Arc<AtomicBool>,
    applies: Arc<AtomicUsize>,
    /// What an apply took away from serin, one line each (empty: nothing).
    pub lost: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitOpsTool {
    /// Applies `manifests` once at once (a sync before serin's first write), then every `period`.
    pub fn start(api: Arc<FakeApiServer>, manifests: Vec<Value>, period: Duration) -> GitOpsTool {
        let (stop, applies) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let lost = Arc::new(Mutex::new(Vec::new()));
        sync(&api, &manifests, &lost);
        applies.fetch_add(1, Ordering::Relaxed);
        let (stopped, count, losses) = (stop.clone(), applies.clone(), lost.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(period);
                sync(&api, &manifests, &losses);
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
        GitOpsTool { stop, applies, lost, thread: Some(thread) }
    }

    pub fn applies(&self) -> usize {
        self.applies.load(Ordering::Relaxed)
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the tool's thread");
        }
    }
}

impl Drop for GitOpsTool {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One sync: every manifest applied, serin's metadata on Deployments checked before/after.
fn sync(api: &FakeApiServer, manifests: &[Value], lost: &Mutex<Vec<String>>) {
    for manifest in manifests {
        let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
        let kept = |o: &Value| {
            let status = o["metadata"]["annotations"]["serin.io/status"].is_string();
            let finalizer =
                o["metadata"]["finalizers"].as_array().is_some_and(|f| f.contains(&json!("serin.io/traffic")));
            (status, finalizer)
        };
        let before = api.get("apps/v1", "Deployment", NS, name).filter(|_| manifest["kind"] == "Deployment");
        let after = api.server_side_apply(manifest.clone(), MANAGER);
        if let Some(before) = before {
            let ((status, finalizer), (status_after, finalizer_after)) = (kept(&before), kept(&after));
            if (status && !status_after) || (finalizer && !finalizer_after) {
                lost.lock().unwrap().push(format!("{name}: {}", after["metadata"]));
            }
        }
    }
}

/// `object` as the tool tracks it: Argo CD's tracking label and annotation.
pub fn tracked(mut object: Value) -> Value {
    let (kind, name) = (object["kind"].as_str().unwrap_or_default(), object["metadata"]["name"].clone());
    let group = object["apiVersion"].as_str().unwrap_or_default().rsplit_once('/').map_or("", |(g, _)| g).to_string();
    let id = format!("sark:{group}/{kind}:{NS}/{}", name.as_str().unwrap_or_default());
    object["metadata"]["labels"]["app.kubernetes.io/instance"] = json!("sark");
    object["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] = json!(id);
    object
}

/// `object` without the field at `pointer` (a field the tool is told to ignore).
pub fn without(mut object: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    if let Some(map) = object.pointer_mut(parent).and_then(Value::as_object_mut) {
        map.remove(key);
    }
    object
}

/// Whether `object` carries a GitOps tool's tracking label or annotation.
pub fn carries_tracking(object: &Value) -> bool {
    !object["metadata"]["labels"]["app.kubernetes.io/instance"].is_null()
        || !object["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"].is_null()
}
