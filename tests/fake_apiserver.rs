//! The fake Kubernetes API server (tests/support/fake_apiserver) behaves as the real one
//! where serin's integration tests rely on it, checked through the real `kube::Client`:
//! metadata stamping, Status errors, optimistic concurrency, patches, validation, the
//! simulated Deployment controller, watches (and kube's watcher), finalizers, garbage
//! collection and kube's event Recorder.

#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;

use std::time::Duration;

use fake_apiserver::{DeploymentBehaviour, FakeApiServer, deployment_manifest};
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::Status;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);

fn deployment(name: &str, app: &str, replicas: i64) -> Deployment {
    serde_json::from_value(deployment_manifest(name, app, replicas)).unwrap()
}

fn config_map(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(json!({ "metadata": { "name": name, "labels": labels }, "data": { "k": "v" } })).unwrap()
}

/// The Status of a failed call, which must be a `kube::Error::Api`.
fn status<T: std::fmt::Debug>(result: kube::Result<T>) -> Box<Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn rv<K: Resource>(obj: &K) -> u64 {
    obj.meta().resource_version.as_deref().unwrap().parse().unwrap()
}

async fn next<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(WAIT, stream.next()).await.expect("no watch event in time").expect("the stream ended")
}

#[tokio::test]
async fn create_get_and_list_with_selectors() {
    let server = FakeApiServer::start();
    let client = server.client().await;
    let maps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    let web = maps.create(&pp, &config_map("web", json!({ "app": "web", "tier": "front" }))).await.unwrap();
    let api = maps.create(&pp, &config_map("api", json!({ "app": "api" }))).await.unwrap();
    let worker = maps.create(&pp, &config_map("worker", json!({ "app": "worker", "tier": "back" }))).await.unwrap();
    assert!(rv(&web) < rv(&api) && rv(&api) < rv(&worker), "one growing resourceVersion counter");
    let meta = &web.metadata;
    assert_eq!((meta.namespace.as_deref(), meta.generation), (Some("default"), Some(1)));
    assert!(meta.uid.as_ref().is_some_and(|u| u.len() == 36) && meta.creation_timestamp.is_some());
    assert_eq!(maps.get("web").await.unwrap().uid(), web.uid());

    for (selector, expected) in [
        ("app=web", vec!["web"]),
        ("app==web", vec!["web"]),
        ("app in (web,api)", vec!["api", "web"]),
        ("app notin (web)", vec!["api", "worker"]),
        ("tier", vec!["web", "worker"]),
        ("!tier", vec!["api"]),
        ("tier!=front", vec!["api", "worker"]),
        ("app,tier=back", vec!["worker"]),
    ] {
        let list = maps.list(&ListParams::default().labels(selector)).await.unwrap();
        assert_eq!(list.iter().map(|m| m.name_any()).collect::<Vec<_>>(), expected, "selector {selector}");
        assert_eq!(list.metadata.resource_version, Some(server.resource_version().to_string()));
    }
    let by_name = maps.list(&ListParams::default().fields("metadata.name=api")).await.unwrap();
    assert_eq!(by_name.items.len(), 1);
    let everywhere: Api<ConfigMap> = Api::all(client.clone());
    assert_eq!(everywhere.list(&ListParams::default()).await.unwrap().items.len(), 3);

    let generated: ConfigMap = serde_json::from_value(json!({ "metadata": { "generateName": "cm-" } })).unwrap();
    let generated = maps.create(&pp, &generated).await.unwrap();
    assert!(generated.name_any().starts_with("cm-") && generated.name_any().len() == 8);
    let leases: Api<Lease> = Api::namespaced(client, "kube-system");
    let lease = serde_json::from_value(json!({ "metadata": { "name": "serin" }, "spec": { "holderIdentity": "a" } }));
    assert_eq!(leases.create(&pp, &lease.unwrap()).await.unwrap().namespace().as_deref(), Some("kube-system"));
    assert!(server.get("coordination.k8s.io/v1", "Lease", "kube-system", "serin").is_some());
}

#[tokio::test]
async fn errors_are_status_objects() {
    let server = FakeApiServer::start();
    let client = server.client().await;
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    deployments.create(&PostParams::default(), &deployment("web", "web", 1)).await.unwrap();
    let exists = status(deployments.create(&PostParams::default(), &deployment("web", "web", 1)).await);
    assert!(exists.is_already_exists() && exists.code == 409, "{exists:?}");
    let missing = status(deployments.get("nope").await);
    assert!(missing.is_not_found(), "{missing:?}");
    assert_eq!(missing.message, "deployments.apps \"nope\" not found");
    assert!(status(deployments.delete("nope", &DeleteParams::default()).await).is_not_found());
    // An immediate delete answers a success Status, except for Pods and Services (the object).
    let gone = deployments.delete("web", &DeleteParams::default()).await.unwrap().right().unwrap();
    assert!(gone.is_success() && gone.details.unwrap().name == "web");
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod = json!({ "metadata": { "name": "p" }, "spec": { "containers": [{ "name": "c", "image": "i" }] } });
    pods.create(&PostParams::default(), &serde_json::from_value(pod).unwrap()).await.unwrap();
    assert_eq!(pods.delete("p", &DeleteParams::default()).await.unwrap().left().unwrap().name_any(), "p");
    let resource = kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk("example.com", "v1", "Widget"));
    let widgets: Api<kube::api::DynamicObject> = Api::default_namespaced_with(client.clone(), &resource);
    assert!(status(widgets.list(&ListParams::default()).await).is_not_found());
    assert_eq!(client.apiserver_version().await.unwrap().minor, "33");
}

#[tokio::test]
async fn replace_with_a_stale_resource_version_conflicts() {
    let server = FakeApiServer::start();
    let maps: Api<ConfigMap> = Api::default_namespaced(server.client().await);
    let original = maps.create(&PostParams::default(), &config_map("cm", json!({}))).await.unwrap();
    let mut changed = original.clone();
    changed.data = Some([("k".to_string(), "w".to_string())].into());
    let updated = maps.replace("cm", &PostParams::default(), &changed).await.unwrap();
    assert!(rv(&updated) > rv(&original));
    let conflict = status(maps.replace("cm", &PostParams::default(), &original).await);
    assert!(conflict.is_conflict() && conflict.code == 409, "{conflict:?}");
    assert!(conflict.message.contains("the object has been modified; please apply your changes"));
    let mut unconditional = original.clone();
    unconditional.metadata.resource_version = None;
    assert_eq!(maps.replace("cm", &PostParams::default(), &unconditional).await.unwrap().data, original.data);
}

#[tokio::test]
async fn merge_json_and_strategic_patches() {
    let server = FakeApiServer::start();
    let deployments: Api<Deployment> = Api::default_namespaced(server.client().await);
    let created = deployments.create(&PostParams::default(), &deployment("web", "web", 1)).await.unwrap();
    let pp = PatchParams::default();
    let merge = json!({ "metadata": { "annotations": { "serin.io/state": "s1" }, "labels": { "app": null } } });
    let patched = deployments.patch("web", &pp, &Patch::Merge(&merge)).await.unwrap();
    assert_eq!(patched.annotations()["serin.io/state"], "s1");
    assert!(!patched.labels().contains_key("app"));
    assert_eq!(patched.metadata.generation, Some(2), "annotations bump a Deployment's generation");

    let stale = json!({ "metadata": { "resourceVersion": created.resource_version(), "annotations": { "x": "y" } } });
    assert!(status(deployments.patch("web", &pp, &Patch::Merge(&stale)).await).is_conflict());
    let current = json!({ "metadata": { "resourceVersion": patched.resource_version(), "annotations": { "x": "y" } } });
    deployments.patch("web", &pp, &Patch::Merge(&current)).await.unwrap();

    let test_ok: json_patch::Patch = serde_json::from_value(json!([
        { "op": "test", "path": "/metadata/annotations/serin.io~1state", "value": "s1" },
        { "op": "replace", "path": "/metadata/annotations/serin.io~1state", "value": "s2" },
    ]))
    .unwrap();
    let patched = deployments.patch("web", &pp, &Patch::<()>::Json(test_ok.clone())).await.unwrap();
    assert_eq!(patched.annotations()["serin.io/state"], "s2");
    let failed = status(deployments.patch("web", &pp, &Patch::<()>::Json(test_ok)).await);
    assert!(failed.is_invalid() && failed.code == 422, "{failed:?}");
    assert_eq!(failed.message, "the server rejected our request due to an error in our request");

    let image =
        json!({ "spec": { "template": { "spec": { "containers": [{ "name": "app", "image": "example/app:2" }] } } } });
    let patched = deployments.patch("web", &pp, &Patch::Strategic(&image)).await.unwrap();
    let container = &patched.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(container.image.as_deref(), Some("example/app:2"));
    assert_eq!(container.ports.as_ref().unwrap()[0].container_port, 8080, "merged by name, not replaced");

    let maps: Api<ConfigMap> = Api::default_namespaced(server.client().await);
    let applied =
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "ssa" }, "data": { "a": "1" } });
    let apply = PatchParams::apply("tests").force();
    assert_eq!(maps.patch("ssa", &apply, &Patch::Apply(&applied)).await.unwrap().data.unwrap()["a"], "1");
    let last = server.requests().pop().unwrap();
    assert_eq!((last.method.as_str(), last.status), ("PATCH", 201));
    assert_eq!(last.content_type.as_deref(), Some("application/apply-patch+yaml"));
}

/// Server-side apply replaces a Service's selector whole (`+mapType=atomic`), keeps what
/// the applier leaves out (another writer's annotations), and `versions` lists each state.
#[tokio::test]
async fn server_side_apply_replaces_atomic_selectors_and_keeps_what_it_omits() {
    let server = FakeApiServer::start();
    let service = |selector: Value| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"selector": selector, "ports": [{"port": 80}]}})
    };
    server.server_side_apply(service(json!({"app": "web", "version": "blue"})), "argocd-controller");
    let services: Api<Service> = Api::default_namespaced(server.client().await);
    let mark = json!({"metadata": {"annotations": {"serin.io/x": "1"}}, "spec": {"selector": {"version": "green"}}});
    services.patch("web", &PatchParams::default(), &Patch::Merge(&mark)).await.unwrap();
    let applied = server.server_side_apply(service(json!({"app": "web"})), "argocd-controller");
    assert_eq!(applied["spec"]["selector"], json!({"app": "web"}), "the applied selector, not a merge");
    assert_eq!(applied["metadata"]["annotations"]["serin.io/x"], "1", "fields the applier omits stay");
    let mut without_selector = service(Value::Null);
    without_selector["spec"].as_object_mut().unwrap().remove("selector");
    let kept = server.server_side_apply(without_selector, "argocd-controller");
    assert_eq!(kept["spec"]["selector"], json!({"app": "web"}), "an apply without a selector keeps it");
    let selectors: Vec<Value> = server
        .versions("v1", "Service", "default", "web")
        .into_iter()
        .map(|v| v.expect("never deleted")["spec"]["selector"].clone())
        .collect();
    assert_eq!(
        selectors,
        [json!({"app": "web", "version": "blue"}), json!({"app": "web", "version": "green"}), json!({"app": "web"})]
    );
}

#[tokio::test]
async fn a_write_that_changes_nothing_is_not_a_write() {
    let server = FakeApiServer::start();
    let maps: Api<ConfigMap> = Api::default_namespaced(server.client().await);
    let created = maps.create(&PostParams::default(), &config_map("cm", json!({ "a": "b" }))).await.unwrap();
    let same = json!({ "data": { "k": "v" }, "metadata": { "labels": { "a": "b" } } });
    let patched = maps.patch("cm", &PatchParams::default(), &Patch::Merge(&same)).await.unwrap();
    let replaced = maps.replace("cm", &PostParams::default(), &created).await.unwrap();
    assert_eq!((rv(&patched), rv(&replaced)), (rv(&created), rv(&created)));
    assert_eq!(server.resource_version(), rv(&created), "no write, so no watch event");
}

#[tokio::test]
async fn deployments_are_validated_like_apps_v1() {
    let server = FakeApiServer::start();
    let deployments: Api<Deployment> = Api::default_namespaced(server.client().await);
    let pp = PostParams::default();
    let mut mismatch = deployment_manifest("web", "web", 1);
    mismatch["spec"]["template"]["metadata"]["labels"]["app"] = json!("other");
    let mismatch = status(deployments.create(&pp, &serde_json::from_value(mismatch).unwrap()).await);
    assert!(mismatch.is_invalid() && mismatch.code == 422, "{mismatch:?}");
    assert!(mismatch.message.contains("`selector` does not match template `labels`"), "{}", mismatch.message);
    let mut bad = deployment_manifest("web", "web", -1);
    bad["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
    let bad = status(deployments.create(&pp, &serde_json::from_value(bad).unwrap()).await);
    assert!(bad.message.contains("spec.replicas: Invalid value: -1"), "{}", bad.message);
    assert!(bad.message.contains("spec.template.spec.containers[0].image: Required value"), "{}", bad.message);

    let mut with_status = deployment_manifest("web", "web", 1);
    with_status["status"] = json!({ "replicas": 99 });
    let created = deployments.create(&pp, &serde_json::from_value(with_status).unwrap()).await.unwrap();
    assert!(created.status.is_none(), "status is a subresource: clients cannot set it on create");
    let mut moved = deployment_manifest("web", "other", 1);
    moved["metadata"]["resourceVersion"] = json!(created.resource_version());
    let immutable = status(deployments.replace("web", &pp, &serde_json::from_value(moved).unwrap()).await);
    assert!(
        immutable.message.contains("spec.selector: Invalid value") && immutable.message.contains("field is immutable")
    );

    let services: Api<kube::api::DynamicObject> =
        Api::default_namespaced_with(server.client().await, &kube::api::ApiResource::erase::<Service>(&()));
    let service = json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "web" },
        "spec": { "selector": { "app": 1 }, "ports": [{ "port": 80 }] } });
    let wrong_type = status(services.create(&pp, &serde_json::from_value(service).unwrap()).await);
    assert_eq!(wrong_type.code, 400, "{wrong_type:?}");
}

#[tokio::test]
async fn controller_makes_deployments_available_and_keeps_pods_in_step() {
    let server = FakeApiServer::start();
    server.set_pod_ip("127.0.0.2");
    let client = server.client().await;
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client);
    deployments.create(&PostParams::default(), &deployment("web", "web", 2)).await.unwrap();
    let available = |s: &FakeApiServer| {
        let d = s.get("apps/v1", "Deployment", "default", "web").unwrap();
        d["status"]["observedGeneration"] == d["metadata"]["generation"]
            && d["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Available" && c["status"] == "True"))
    };
    server.wait_until_async(WAIT, "web is Available", available).await;
    let d = deployments.get("web").await.unwrap();
    let st = d.status.clone().unwrap();
    assert_eq!(
        (st.replicas, st.ready_replicas, st.available_replicas, st.updated_replicas),
        (Some(2), Some(2), Some(2), Some(2))
    );
    let mut with_status = d.clone();
    with_status.status.as_mut().unwrap().replicas = Some(99);
    let replaced = deployments.replace("web", &PostParams::default(), &with_status).await.unwrap();
    assert_eq!((rv(&replaced), &replaced.status), (rv(&d), &d.status), "status is a subresource: kept, no write");
    let listed = pods.list(&ListParams::default().labels("app=web")).await.unwrap().items;
    assert_eq!(listed.len(), 2);
    let hash = listed[0].labels()["pod-template-hash"].clone();
    assert_eq!(listed[0].name_any(), format!("web-{hash}-0"));
    assert_eq!(listed[0].owner_references()[0].uid, d.uid().unwrap());
    let pod_status = listed[0].status.clone().unwrap();
    assert_eq!((pod_status.phase.as_deref(), pod_status.pod_ip.as_deref()), (Some("Running"), Some("127.0.0.2")));

    let image =
        json!({ "spec": { "template": { "spec": { "containers": [{ "name": "app", "image": "example/app:2" }] } } } });
    deployments.patch("web", &PatchParams::default(), &Patch::Strategic(&image)).await.unwrap();
    let replaced = |s: &FakeApiServer| {
        let names: Vec<String> =
            s.list("v1", "Pod", "default").iter().map(|p| p["metadata"]["name"].to_string()).collect();
        available(s) && names.len() == 2 && names.iter().all(|n| !n.contains(&hash))
    };
    server.wait_until_async(WAIT, "the new template's Pods replace the old ones", replaced).await;
    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({ "spec": { "replicas": 0 } })))
        .await
        .unwrap();
    let scaled_down = |s: &FakeApiServer| available(s) && s.list("v1", "Pod", "default").is_empty();
    server.wait_until_async(WAIT, "scaling to 0 removes the Pods", scaled_down).await;
}

#[test]
fn never_ready_and_slow_deployments_stay_unavailable() {
    let server = FakeApiServer::start();
    server.set_deployment_behaviour("default", "stuck", DeploymentBehaviour { never_ready: true, ready_delay: None });
    let slow = DeploymentBehaviour { never_ready: false, ready_delay: Some(Duration::from_secs(30)) };
    server.set_deployment_behaviour("default", "slow", slow);
    for name in ["stuck", "slow", "quick"] {
        server.create(deployment_manifest(name, name, 1));
    }
    let observed =
        |s: &FakeApiServer, name: &str| s.get("apps/v1", "Deployment", "default", name).unwrap()["status"].clone();
    server.wait_until(WAIT, "quick and stuck are observed", |s| {
        observed(s, "quick")["availableReplicas"] == 1 && observed(s, "stuck")["observedGeneration"] == 1
    });
    let stuck = observed(&server, "stuck");
    assert_eq!(stuck["conditions"][0]["type"], "Available");
    assert_eq!((&stuck["conditions"][0]["status"], &stuck["availableReplicas"]), (&json!("False"), &Value::Null));
    let stuck_pod = server.get("v1", "Pod", "default", &format!("stuck-{}-0", pod_hash(&server, "stuck"))).unwrap();
    let ready = &stuck_pod["status"]["conditions"][0];
    assert_eq!(
        (&ready["type"], &ready["status"], &stuck_pod["status"]["phase"]),
        (&json!("Ready"), &json!("False"), &json!("Running"))
    );
    assert_eq!(observed(&server, "slow"), Value::Null, "a 30 s ready delay has not passed");
}

fn pod_hash(server: &FakeApiServer, app: &str) -> String {
    let pod = server.list("v1", "Pod", "default").into_iter().find(|p| p["metadata"]["labels"]["app"] == app).unwrap();
    pod["metadata"]["labels"]["pod-template-hash"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn kube_watcher_sees_every_write_and_watches_resume() {
    let server = FakeApiServer::start();
    let maps: Api<ConfigMap> = Api::default_namespaced(server.client().await);
    maps.create(&PostParams::default(), &config_map("before", json!({}))).await.unwrap();
    let mut events = watcher(maps.clone(), watcher::Config::default()).boxed();
    assert!(matches!(next(&mut events).await.unwrap(), watcher::Event::Init));
    assert!(matches!(next(&mut events).await.unwrap(), watcher::Event::InitApply(m) if m.name_any() == "before"));
    assert!(matches!(next(&mut events).await.unwrap(), watcher::Event::InitDone));
    let created = maps.create(&PostParams::default(), &config_map("cm", json!({ "a": "b" }))).await.unwrap();
    maps.patch("cm", &PatchParams::default(), &Patch::Merge(json!({ "data": { "k": "w" } }))).await.unwrap();
    maps.delete("cm", &DeleteParams::default()).await.unwrap();
    assert!(
        matches!(next(&mut events).await.unwrap(), watcher::Event::Apply(m) if m.data.as_ref().unwrap()["k"] == "v")
    );
    assert!(
        matches!(next(&mut events).await.unwrap(), watcher::Event::Apply(m) if m.data.as_ref().unwrap()["k"] == "w")
    );
    assert!(matches!(next(&mut events).await.unwrap(), watcher::Event::Delete(m) if m.name_any() == "cm"));
    let watch_log = server.requests().into_iter().find(|r| r.query.contains("watch=true")).unwrap();
    assert!(watch_log.query.contains("allowWatchBookmarks=true") && watch_log.query.contains("timeoutSeconds=290"));

    // A client that restarts resumes from the last resourceVersion it saw: the rest is replayed.
    let params = WatchParams::default().labels("a=b");
    let mut resumed = maps.watch(&params, &created.resource_version().unwrap()).await.unwrap().boxed();
    assert!(
        matches!(next(&mut resumed).await.unwrap(), WatchEvent::Modified(m) if m.data.as_ref().unwrap()["k"] == "w")
    );
    assert!(matches!(next(&mut resumed).await.unwrap(), WatchEvent::Deleted(m) if m.name_any() == "cm"));

    let mut streamed = watcher(maps.clone(), watcher::Config::default().streaming_lists()).boxed();
    assert!(matches!(next(&mut streamed).await.unwrap(), watcher::Event::Init));
    assert!(matches!(next(&mut streamed).await.unwrap(), watcher::Event::InitApply(m) if m.name_any() == "before"));
    assert!(matches!(next(&mut streamed).await.unwrap(), watcher::Event::InitDone));
}

#[tokio::test]
async fn a_selective_watch_sees_objects_enter_and_leave_its_selector() {
    let server = FakeApiServer::start();
    let maps: Api<ConfigMap> = Api::default_namespaced(server.client().await);
    let created = maps.create(&PostParams::default(), &config_map("cm", json!({ "a": "x" }))).await.unwrap();
    let params = WatchParams::default().labels("a=b");
    let mut stream = maps.watch(&params, &created.resource_version().unwrap()).await.unwrap().boxed();
    for value in ["b", "c"] {
        let label = json!({ "metadata": { "labels": { "a": value } } });
        maps.patch("cm", &PatchParams::default(), &Patch::Merge(&label)).await.unwrap();
    }
    assert!(matches!(next(&mut stream).await.unwrap(), WatchEvent::Added(m) if m.labels()["a"] == "b"));
    assert!(matches!(next(&mut stream).await.unwrap(), WatchEvent::Deleted(m) if m.labels()["a"] == "c"));
}

#[tokio::test]
async fn a_watch_from_an_expired_resource_version_gets_410() {
    let server = FakeApiServer::start();
    server.set_watch_history_limit(3);
    let maps: Api<ConfigMap> = Api::default_namespaced(server.client().await);
    for i in 0..6 {
        maps.create(&PostParams::default(), &config_map(&format!("cm{i}"), json!({}))).await.unwrap();
    }
    let mut stream = maps.watch(&WatchParams::default(), "1").await.unwrap().boxed();
    match next(&mut stream).await.unwrap() {
        WatchEvent::Error(gone) => assert_eq!((gone.code, gone.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    let mut recent = maps.watch(&WatchParams::default(), "4").await.unwrap().boxed();
    assert!(matches!(next(&mut recent).await.unwrap(), WatchEvent::Added(m) if m.name_any() == "cm4"));
}

#[tokio::test]
async fn watches_send_bookmarks_and_end_at_their_timeout() {
    let server = FakeApiServer::start();
    let maps: Api<ConfigMap> = Api::default_namespaced(server.client().await);
    let created = maps.create(&PostParams::default(), &config_map("cm", json!({}))).await.unwrap();
    let started = std::time::Instant::now();
    let mut stream = maps.watch(&WatchParams::default().timeout(2), "0").await.unwrap().boxed();
    assert!(matches!(next(&mut stream).await.unwrap(), WatchEvent::Added(m) if m.name_any() == "cm"));
    match next(&mut stream).await.unwrap() {
        WatchEvent::Bookmark(mark) => assert_eq!(Some(mark.metadata.resource_version), created.resource_version()),
        other => panic!("expected a BOOKMARK, got {other:?}"),
    }
    while let Some(event) = tokio::time::timeout(WAIT, stream.next()).await.expect("the watch ends by itself") {
        assert!(matches!(event.unwrap(), WatchEvent::Bookmark(_)));
    }
    assert!(started.elapsed() >= Duration::from_secs(2), "timeoutSeconds is honoured");
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let server = FakeApiServer::start();
    let maps: Api<ConfigMap> = Api::default_namespaced(server.client().await);
    let mut held = config_map("held", json!({}));
    held.metadata.finalizers = Some(vec!["example.com/hold".to_string()]);
    let created = maps.create(&PostParams::default(), &held).await.unwrap();
    let marked = maps.delete("held", &DeleteParams::default()).await.unwrap().left().unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(maps.get("held").await.is_ok(), "still there while a finalizer holds it");
    let more = json!({ "metadata": { "finalizers": ["example.com/hold", "example.com/new"] } });
    let forbidden = status(maps.patch("held", &PatchParams::default(), &Patch::Merge(&more)).await);
    assert!(forbidden.is_invalid() && forbidden.message.contains("no new finalizers"), "{forbidden:?}");
    let release = json!({ "metadata": { "finalizers": null } });
    maps.patch("held", &PatchParams::default(), &Patch::Merge(&release)).await.unwrap();
    assert!(status(maps.get("held").await).is_not_found());
    let mut history = maps.watch(&WatchParams::default(), &created.resource_version().unwrap()).await.unwrap().boxed();
    assert!(
        matches!(next(&mut history).await.unwrap(), WatchEvent::Modified(m) if m.metadata.deletion_timestamp.is_some())
    );
    assert!(matches!(next(&mut history).await.unwrap(), WatchEvent::Deleted(_)));
}

#[tokio::test]
async fn removing_an_owner_collects_what_it_owns() {
    let server = FakeApiServer::start();
    let owner = server.create(deployment_manifest("web", "web", 1));
    let other = server.create(json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "other" } }));
    let reference = |o: &Value, kind: &str| {
        json!({ "apiVersion": o["apiVersion"], "kind": kind,
        "name": o["metadata"]["name"], "uid": o["metadata"]["uid"] })
    };
    server.create(json!({ "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": { "name": "web-canary", "ownerReferences": [reference(&owner, "Deployment")] },
        "spec": { "rules": [{ "http": { "paths": [{ "path": "/", "pathType": "Prefix",
            "backend": { "service": { "name": "web-canary", "port": { "number": 80 } } } }] } }] } }));
    server.create(json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "shared",
        "ownerReferences": [reference(&owner, "Deployment"), reference(&other, "ConfigMap")] } }));
    server.wait_until(WAIT, "web has a Pod", |s| !s.list("v1", "Pod", "default").is_empty());
    let deployments: Api<Deployment> = Api::default_namespaced(server.client().await);
    deployments.delete("web", &DeleteParams::default()).await.unwrap();
    assert!(server.get("networking.k8s.io/v1", "Ingress", "default", "web-canary").is_none());
    assert!(server.list("v1", "Pod", "default").is_empty());
    let shared = server.get("v1", "ConfigMap", "default", "shared").expect("another owner keeps it");
    assert_eq!(shared["metadata"]["ownerReferences"], json!([reference(&other, "ConfigMap")]));
}

#[tokio::test]
async fn kube_recorder_publishes_events_k8s_io_events() {
    let server = FakeApiServer::start();
    let client = server.client().await;
    let web = server.create(deployment_manifest("web", "web", 1));
    let web: Deployment = serde_json::from_value(web).unwrap();
    let recorder = Recorder::new(client.clone(), Reporter { controller: "serin".into(), instance: None });
    let event = |reason: &str, note: String| Event {
        type_: EventType::Normal,
        reason: reason.into(),
        note: Some(note),
        action: "Promote".into(),
        secondary: None,
    };
    // The Recorder keys events by (type, action, reason, object): a repeat within its
    // cache TTL is a series PATCH that keeps the first note (the second one is lost).
    for note in ["canary promoted", "promoted again"] {
        recorder.publish(&event("Promoted", note.into()), &web.object_ref(&())).await.unwrap();
    }
    let calls: Vec<(String, Option<String>)> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/apis/events.k8s.io/v1/namespaces/default/events"))
        .map(|r| (r.method, r.content_type))
        .collect();
    assert_eq!(calls[0].0, "POST");
    assert_eq!((calls[1].0.as_str(), calls[1].1.as_deref()), ("PATCH", Some("application/merge-patch+json")));
    let stored = server.list("events.k8s.io/v1", "Event", "default");
    assert_eq!(stored.len(), 1);
    assert_eq!((&stored[0]["series"]["count"], &stored[0]["regarding"]["name"]), (&json!(2), &json!("web")));
    assert_eq!(stored[0]["note"], "canary promoted");
    let too_long = status(recorder.publish(&event("Noisy", "x".repeat(1025)), &web.object_ref(&())).await);
    assert!(too_long.is_invalid() && too_long.message.contains("note: Too long"), "{too_long:?}");
}

#[tokio::test]
async fn kubeconfig_apply_and_shutdown() {
    let server = FakeApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path);
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let deployments: Api<Deployment> = Api::default_namespaced(client);

    server.apply(deployment_manifest("web", "web", 1));
    let state = json!({ "metadata": { "annotations": { "serin.io/state": "canary" } } });
    deployments.patch("web", &PatchParams::default(), &Patch::Merge(&state)).await.unwrap();
    let mut next_version = deployment_manifest("web", "web", 3);
    next_version["metadata"]["labels"] = json!({});
    let applied = server.apply(next_version);
    assert_eq!(applied["metadata"]["annotations"]["serin.io/state"], "canary", "kubectl apply keeps others' fields");
    assert_eq!((&applied["spec"]["replicas"], &applied["metadata"]["labels"]), (&json!(3), &json!({})));

    let url = server.url();
    drop(server);
    let address = url.trim_start_matches("http://");
    assert!(std::net::TcpStream::connect(address).is_err(), "the server stops when its handle drops");
}
