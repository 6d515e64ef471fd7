//! Blue-green smoke checks: before the flip, `GET` each `serin.io/smoke` path on every
//! ready pod of the candidate, straight at the pod IP (the Service still points at the
//! other slot). Every answer must be 2xx.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::record::SmokeResult;
use super::{K8sError, api_error};

/// How long one smoke request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A pod that can take a smoke request: Ready, with an IP, not terminating.
pub fn address(pod: &Pod, service: &Service) -> Option<String> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let status = pod.status.as_ref()?;
    let ready = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
    let ip = status.pod_ip.as_ref().filter(|ip| !ip.is_empty() && ready)?;
    let port = target_port(pod, service)?;
    Some(if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") })
}

/// The port the Service sends traffic to on this pod (its first port's targetPort).
fn target_port(pod: &Pod, service: &Service) -> Option<i32> {
    let port = service.spec.as_ref()?.ports.as_ref()?.first()?;
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port),
    }
}

/// Runs the checks on the candidate's ready pods (selected by `selector`).
pub async fn check(
    pods: &Api<Pod>,
    selector: &str,
    service: &Service,
    paths: &[String],
    http: &reqwest::Client,
) -> Result<SmokeResult, K8sError> {
    let listed =
        pods.list(&ListParams::default().labels(selector)).await.map_err(api_error("listing candidate pods"))?;
    let targets: Vec<(String, String)> =
        listed.items.iter().filter_map(|p| address(p, service).map(|a| (p.name_any(), a))).collect();
    if targets.is_empty() {
        return Ok(SmokeResult { passed: false, detail: format!("no ready pod matches {selector}") });
    }
    for (pod, address) in &targets {
        for path in paths {
            let url = format!("http://{address}{path}");
            let outcome = http.get(&url).timeout(REQUEST_TIMEOUT).send().await;
            let failure = match outcome {
                Ok(response) if response.status().is_success() => continue,
                Ok(response) => format!("answered {}", response.status()),
                Err(e) => format!("failed: {e}"),
            };
            return Ok(SmokeResult { passed: false, detail: format!("pod {pod}: GET {url} {failure}") });
        }
    }
    Ok(SmokeResult {
        passed: true,
        detail: format!("GET {} on {} ready pod(s): all 2xx", paths.join(", "), targets.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ready: &str, ip: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "sark-green-1"},
            "spec": {"containers": [{"name": "sark", "ports": [{"name": "http", "containerPort": 8000}]}]},
            "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": ready}]}
        }))
        .unwrap()
    }

    fn service(target_port: serde_json::Value) -> Service {
        serde_json::from_value(json!({"spec": {"ports": [{"port": 80, "targetPort": target_port}]}})).unwrap()
    }

    #[test]
    fn addresses_ready_pods_on_the_services_target_port() {
        assert_eq!(address(&pod("True", "10.0.0.7"), &service(json!(8000))).as_deref(), Some("10.0.0.7:8000"));
        assert_eq!(address(&pod("True", "10.0.0.7"), &service(json!("http"))).as_deref(), Some("10.0.0.7:8000"));
        assert_eq!(address(&pod("True", "fd00::7"), &service(json!(8000))).as_deref(), Some("[fd00::7]:8000"));
        assert_eq!(address(&pod("False", "10.0.0.7"), &service(json!(8000))), None);
        assert_eq!(address(&pod("True", "10.0.0.7"), &service(json!("missing"))), None);
    }
}
