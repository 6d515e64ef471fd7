//! serin's own install (`deploy/`): every kustomization renders with `kubectl kustomize`
//! without warnings, every object passes kubernetes-validate's strict Kubernetes schemas,
//! and the properties a wrong edit would break hold: replicas and PDB, the locked-down
//! pod, probes on a named port, the hash-named templates ConfigMap, selectors, the
//! NetworkPolicy, and the Dockerfile's user.
//! RBAC is checked in `deploy_manifests/rbac_rules.rs`; monitoring (alerts, dashboard,
//! ServiceMonitor) in `deploy_manifests/monitoring.rs`.
//! Needs kubectl, kubernetes-validate and promtool: scripts/install-test-deps.sh.

#[path = "support/manifests.rs"]
mod manifests;
#[path = "deploy_manifests/monitoring.rs"]
mod monitoring;
#[path = "support/rbac.rs"]
mod rbac;
#[path = "deploy_manifests/rbac_rules.rs"]
mod rbac_rules;

use std::collections::BTreeSet;

use manifests::{docs, find, is_custom, kubernetes_validate, of_kind, render, render_at, repo, selects};
use serde_json::{Value, json};

/// The installs a user applies (the base, for those who patch it themselves).
const INSTALLS: [&str; 3] = ["deploy/base", "deploy/overlays/dev", "deploy/overlays/prod"];
const NAMESPACE: &str = "serin-system";
const CLUSTER_SCOPED: [&str; 4] = ["Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass"];
/// The image's user (Dockerfile `USER`), which the manifests must run as.
const UID: i64 = 65532;

fn install(dir: &str) -> Vec<Value> {
    docs(&render(dir))
}

fn deployment(objects: &[Value]) -> &Value {
    find(objects, "Deployment", "serin")
}

fn pod_spec(objects: &[Value]) -> &Value {
    &deployment(objects)["spec"]["template"]["spec"]
}

fn pod_labels(objects: &[Value]) -> &Value {
    &deployment(objects)["spec"]["template"]["metadata"]["labels"]
}

fn container(objects: &[Value]) -> &Value {
    let containers = pod_spec(objects)["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "serin runs one container");
    &containers[0]
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

#[test]
fn every_install_renders_without_warnings_and_passes_strict_schema_validation() {
    for dir in INSTALLS {
        let objects = install(dir);
        assert!(!objects.iter().any(is_custom), "{dir} must not need prometheus-operator's CRDs");
        for object in &objects {
            let kind = object["kind"].as_str().unwrap();
            let expected = if CLUSTER_SCOPED.contains(&kind) { Value::Null } else { json!(NAMESPACE) };
            assert_eq!(object["metadata"]["namespace"], expected, "{dir}: namespace of {kind}");
        }
        kubernetes_validate(&objects, &dir.replace('/', "-"));
    }
    let monitoring = install("deploy/monitoring");
    let kinds: BTreeSet<&str> = monitoring.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(kinds, BTreeSet::from(["PrometheusRule", "ServiceMonitor"]));
    assert!(monitoring.iter().all(|o| o["metadata"]["namespace"] == NAMESPACE));
}

#[test]
fn replicas_pdb_and_rolling_update_keep_a_replica_for_the_lease() {
    for (dir, replicas) in [("deploy/base", 2), ("deploy/overlays/prod", 2), ("deploy/overlays/dev", 1)] {
        let objects = install(dir);
        let spec = &deployment(&objects)["spec"];
        assert_eq!(spec["replicas"], replicas, "{dir}");
        // A new pod is Ready before an old one goes.
        assert_eq!(spec["strategy"]["rollingUpdate"], json!({"maxSurge": 1, "maxUnavailable": 0}), "{dir}");
        let pdbs = of_kind(&objects, "PodDisruptionBudget");
        if replicas >= 2 {
            assert_eq!(pdbs.len(), 1, "{dir}");
            let min = pdbs[0]["spec"]["minAvailable"].as_i64().expect("minAvailable as a count");
            assert!(min >= 1 && min < replicas, "{dir}: minAvailable {min} of {replicas} replicas blocks drains");
            assert!(selects(&pdbs[0]["spec"]["selector"], pod_labels(&objects)), "{dir}: the PDB selects serin's pods");
        } else {
            assert!(pdbs.is_empty(), "{dir}: a PDB with minAvailable 1 over one replica would block every drain");
        }
        for constraint in pod_spec(&objects)["topologySpreadConstraints"].as_array().into_iter().flatten() {
            assert!(selects(&constraint["labelSelector"], pod_labels(&objects)), "{dir}: spread counts serin's pods");
        }
    }
}

/// CPU in cores or memory in bytes, for the suffixes used here.
fn quantity(value: &Value) -> f64 {
    let text = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
    let suffixes = [("m", 1e-3), ("Ki", 1024.0), ("Mi", 1024f64.powi(2)), ("Gi", 1024f64.powi(3))];
    let (number, factor) =
        suffixes.iter().find_map(|(s, f)| text.strip_suffix(s).map(|n| (n, *f))).unwrap_or((text.as_str(), 1.0));
    number.parse::<f64>().unwrap_or_else(|_| panic!("quantity {text}")) * factor
}

#[test]
fn the_pod_is_locked_down_and_sized() {
    let mut memory_limits = Vec::new();
    for dir in INSTALLS {
        let objects = install(dir);
        let pod = pod_spec(&objects);
        assert_eq!(pod["serviceAccountName"], "serin", "{dir}");
        find(&objects, "ServiceAccount", "serin");
        assert_eq!(pod["automountServiceAccountToken"], true, "{dir}: in-cluster config needs the token");
        for key in ["hostNetwork", "hostPID", "hostIPC"] {
            assert!(pod[key].is_null() || pod[key] == false, "{dir}: {key}");
        }
        let containers = pod["containers"].as_array().unwrap().iter();
        for c in containers.chain(pod["initContainers"].as_array().into_iter().flatten()) {
            let (sc, pod_sc) = (&c["securityContext"], &pod["securityContext"]);
            let name = c["name"].as_str().unwrap();
            let either = |key: &str| if sc[key].is_null() { &pod_sc[key] } else { &sc[key] };
            assert_eq!(either("runAsNonRoot"), true, "{dir} {name}");
            assert_eq!(either("runAsUser"), UID, "{dir} {name}: the image's user");
            assert_eq!(either("seccompProfile"), &json!({"type": "RuntimeDefault"}), "{dir} {name}");
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{dir} {name}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{dir} {name}");
            assert!(sc["privileged"].is_null() || sc["privileged"] == false, "{dir} {name}");
            assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"], "{dir} {name}");
            assert!(sc["capabilities"]["add"].is_null(), "{dir} {name}: no capability added");
            let resources = &c["resources"];
            for what in ["cpu", "memory"] {
                let (request, limit) = (quantity(&resources["requests"][what]), quantity(&resources["limits"][what]));
                assert!(request > 0.0 && limit >= request, "{dir} {name}: {what} request {request}, limit {limit}");
            }
            memory_limits.push(quantity(&resources["limits"]["memory"]));
        }
    }
    let (base, prod) = (memory_limits[0], memory_limits[2]);
    assert!(prod > base, "prod has room for a large cluster's caches: {prod} vs base {base}");
}

#[test]
fn args_env_and_probes_are_what_serin_run_serves() {
    for dir in INSTALLS {
        let objects = install(dir);
        let c = container(&objects);
        let image = c["image"].as_str().unwrap();
        let tag = image.rsplit('/').next().unwrap().split_once([':', '@']).map(|(_, t)| t);
        assert!(tag.is_some_and(|t| t != "latest"), "{dir}: image {image} is pinned");
        let args = strings(&c["args"]);
        let expected = "run --prometheus $(SERIN_PROMETHEUS) --templates /etc/serin/templates --listen 0.0.0.0:8080 \
                        --leader-election";
        assert_eq!(args.join(" "), expected, "{dir}");
        let env: Vec<&Value> = c["env"].as_array().unwrap().iter().collect();
        let var = |name: &str| *env.iter().find(|e| e["name"] == name).unwrap_or_else(|| panic!("{dir}: env {name}"));
        for arg in &args {
            if let Some(name) = arg.strip_prefix("$(").and_then(|a| a.strip_suffix(')')) {
                assert!(var(name)["value"].as_str().is_some_and(|v| v.starts_with("http")), "{dir}: {name}");
            }
        }
        assert_eq!(var("POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
        assert_eq!(var("POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace");
        let token = &var("SERIN_API_TOKEN")["valueFrom"]["secretKeyRef"];
        assert_eq!(token, &json!({"name": "serin-api-token", "key": "token", "optional": true}), "{dir}");
        let notify = &var("SERIN_NOTIFY")["valueFrom"]["secretKeyRef"];
        assert_eq!(
            notify,
            &json!({"name": "serin-notify", "key": "urls", "optional": true}),
            "{dir}: URLs are credentials"
        );

        let ports = c["ports"].as_array().unwrap();
        let http = ports.iter().find(|p| p["name"] == "http").expect("a port named http");
        let listen_port = args[args.iter().position(|a| *a == "--listen").unwrap() + 1].rsplit(':').next().unwrap();
        assert_eq!(http["containerPort"].to_string(), listen_port, "{dir}: the port serin listens on");
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            let get = &c[probe]["httpGet"];
            assert_eq!(get["path"], path, "{dir} {probe}");
            let port = get["port"].as_str().expect("probes name their port");
            assert!(ports.iter().any(|p| p["name"] == port), "{dir} {probe}: no container port named {port}");
        }
    }
}

#[test]
fn the_templates_configmap_is_the_generated_one_and_holds_every_template() {
    let mut templates: BTreeSet<String> = std::fs::read_dir(repo().join("analysis-templates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    assert!(templates.remove("kustomization.yaml"));
    for dir in INSTALLS {
        let objects = install(dir);
        let volume = &pod_spec(&objects)["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "templates");
        let name = volume.expect("a templates volume")["configMap"]["name"].as_str().unwrap();
        assert!(name.starts_with("serin-analysis-templates-"), "{dir}: {name} is the hash-suffixed name");
        let configmap = find(&objects, "ConfigMap", name);
        let keys: BTreeSet<String> = configmap["data"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, templates, "{dir}: every template of analysis-templates/ is in the ConfigMap");
        for key in &keys {
            let file = std::fs::read_to_string(repo().join("analysis-templates").join(key)).unwrap();
            assert_eq!(configmap["data"][key], file.as_str(), "{dir}: {key}");
        }
        let mount = container(&objects)["volumeMounts"].as_array().unwrap().iter().find(|m| m["name"] == "templates");
        let mount = mount.expect("templates mounted");
        assert_eq!(mount["readOnly"], true);
        let args = strings(&container(&objects)["args"]);
        assert_eq!(mount["mountPath"], args[args.iter().position(|a| *a == "--templates").unwrap() + 1]);
    }
}

#[test]
fn changing_a_template_renames_the_configmap_so_the_pods_roll() {
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["analysis-templates", "deploy/base"] {
        std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, tmp.path().join(dir).join(path.file_name().unwrap())).unwrap();
        }
    }
    let volume_of =
        |objects: &[Value]| pod_spec(objects)["volumes"][0]["configMap"]["name"].as_str().unwrap().to_string();
    let before = docs(&render_at(tmp.path(), "deploy/base"));
    let template = tmp.path().join("analysis-templates/http-slo.yaml");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, text.replace("min-requests: 20", "min-requests: 50")).unwrap();
    let after = docs(&render_at(tmp.path(), "deploy/base"));
    assert_ne!(volume_of(&before), volume_of(&after), "a template change must change the pod template");
    find(&after, "ConfigMap", &volume_of(&after));
}

#[test]
fn service_and_network_policy_select_serins_pods_and_allow_only_what_it_needs() {
    let objects = install("deploy/base");
    let labels = pod_labels(&objects);
    let service = &find(&objects, "Service", "serin")["spec"];
    assert!(selects(&json!({"matchLabels": service["selector"]}), labels), "the Service selects serin's pods");
    assert_eq!(service["ports"], json!([{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]));

    let policy = &find(&objects, "NetworkPolicy", "serin")["spec"];
    assert!(selects(&policy["podSelector"], labels), "the NetworkPolicy applies to serin's pods");
    assert_eq!(strings(&policy["policyTypes"]), ["Ingress", "Egress"]);
    for rule in policy["ingress"].as_array().unwrap() {
        assert_eq!(rule["ports"], json!([{"protocol": "TCP", "port": 8080}]), "ingress only to 8080");
    }
    let mut open = BTreeSet::new();
    for rule in policy["egress"].as_array().unwrap() {
        match rule["ports"].as_array() {
            Some(ports) => open.extend(ports.iter().map(|p| (p["protocol"].to_string(), p["port"].to_string()))),
            // Any port: only to pods (smoke checks), never to an address block.
            None => assert_eq!(rule["to"], json!([{"namespaceSelector": {}}]), "unrestricted egress: {rule}"),
        }
    }
    let wanted: BTreeSet<(String, String)> = [("TCP", 443), ("TCP", 6443), ("TCP", 9090), ("UDP", 53), ("TCP", 53)]
        .iter()
        .map(|(p, n)| (format!("\"{p}\""), n.to_string()))
        .collect();
    assert_eq!(open, wanted, "egress: API server, Prometheus, DNS");
}

#[test]
fn the_image_runs_as_the_user_the_manifests_expect() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let last_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(last_stage.starts_with("gcr.io/distroless/static-debian12:nonroot"), "final stage: {last_stage}");
    assert!(last_stage.contains(&format!("\nUSER {UID}:{UID}\n")), "the manifests' runAsUser is the image's user");
    assert!(last_stage.contains("ENTRYPOINT [\"/serin\"]"));
    assert!(dockerfile.contains("--target x86_64-unknown-linux-musl"), "a static binary for the static base image");
    let ignored = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    assert!(ignored.lines().any(|l| l.trim_matches('/') == "target") && ignored.lines().any(|l| l.trim() == ".git"));
}
