//! Blue-green smoke checks: before the flip, `GET` each `serin.io/smoke` path on every
//! ready pod of the candidate, straight at the pod IP (the Service still points at the
//! other slot). Every answer must be 2xx.
//!
//! A redirect is not followed (it fails, naming its `Location`): the check is about this
//! pod, and a redirect could send serin's request anywhere. Each request has a timeout;
//! a pod that just turned ready may still refuse or answer 5xx for a moment, so those
//! are retried with backoff, while 3xx and 4xx are answers and are not.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::record::SmokeResult;
use super::{K8sError, api_error};

/// How the checks request: a timeout per request, and the pauses between attempts.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub timeout: Duration,
    /// One more attempt after each pause: `[0.5 s, 1 s]` is three attempts.
    pub backoff: &'static [Duration],
}

pub const POLICY: Policy =
    Policy { timeout: Duration::from_secs(5), backoff: &[Duration::from_millis(500), Duration::from_secs(1)] };

/// The client the checks use: no redirects, no proxy (pod IPs are reached directly).
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build()
}

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
    Ok(probe(http, &targets, paths, &POLICY).await)
}

/// `GET` every path on every `(pod, address)`; the first failure decides.
pub async fn probe(
    http: &reqwest::Client,
    targets: &[(String, String)],
    paths: &[String],
    policy: &Policy,
) -> SmokeResult {
    for (pod, address) in targets {
        for path in paths {
            let url = format!("http://{address}{path}");
            if let Err(failure) = get(http, &url, policy).await {
                return SmokeResult { passed: false, detail: format!("pod {pod}: GET {url} {failure}") };
            }
        }
    }
    SmokeResult { passed: true, detail: format!("GET {} on {} ready pod(s): all 2xx", paths.join(", "), targets.len()) }
}

/// One path on one pod, retried per `policy`; the failure says what the last attempt saw.
async fn get(http: &reqwest::Client, url: &str, policy: &Policy) -> Result<(), String> {
    let attempts = policy.backoff.len() + 1;
    let mut pauses = policy.backoff.iter();
    let mut attempt = 1;
    loop {
        let (failure, retry) = match http.get(url).timeout(policy.timeout).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) if response.status().is_redirection() => {
                let location = response.headers().get(reqwest::header::LOCATION);
                let location =
                    location.map_or("no Location".into(), |l| String::from_utf8_lossy(l.as_bytes()).into_owned());
                (
                    format!("answered {} redirecting to {location} (redirects are not followed)", response.status()),
                    false,
                )
            }
            Ok(response) => (format!("answered {}", response.status()), response.status().is_server_error()),
            Err(e) if e.is_timeout() => {
                (format!("got no answer within {}", humantime::format_duration(policy.timeout)), true)
            }
            Err(e) => (format!("failed: {e}"), true),
        };
        match pauses.next().filter(|_| retry) {
            Some(pause) => {
                tracing::debug!(url, attempt, failure, "smoke check failed; retrying");
                tokio::time::sleep(*pause).await;
                attempt += 1;
            }
            None if attempt > 1 => return Err(format!("{failure} (attempt {attempt} of {attempts})")),
            None => return Err(failure),
        }
    }
}

#[cfg(test)]
#[path = "smoke_tests.rs"]
mod probe_tests;

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
