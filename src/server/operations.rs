//! `POST /api/v1/rollouts/{ns}/{name}/{operation}`: the shared operations
//! ([`crate::k8s::operation`], also used by `serin abort NS/NAME` and the kubectl plugin)
//! with their refusals as HTTP statuses. Any replica can take the request; only the
//! leader acts on what it writes.

use axum::http::StatusCode;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use serde_json::{Map, Value};

pub use crate::k8s::operation::Operation;
use crate::k8s::operation::{self, Refusal};

/// Why an operation was not accepted: the HTTP status and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub StatusCode, pub String);

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Refused {
        let status = match refusal {
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::NotApplicable(_) | Refusal::Changed => StatusCode::CONFLICT,
            Refusal::Api(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        Refused(status, refusal.to_string())
    }
}

/// Reads the candidate, checks the operation applies, and writes its annotations guarded
/// by the resourceVersion it was checked at. Returns what was written.
pub async fn perform(
    deployments: &Api<Deployment>,
    name: &str,
    operation: Operation,
) -> Result<Map<String, Value>, Refused> {
    operation::perform(deployments, name, operation).await.map_err(Refused::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_the_api_statuses() {
        let status = |refusal| Refused::from(refusal).0;
        assert_eq!(status(Refusal::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(status(Refusal::NotApplicable("nothing to abort".into())), StatusCode::CONFLICT);
        assert_eq!(status(Refusal::Changed), StatusCode::CONFLICT);
        let unreachable = kube::Error::Service("connection refused".into());
        let refused = Refused::from(Refusal::Api(unreachable));
        assert_eq!(refused.0, StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.1.starts_with("Kubernetes API:"), "{}", refused.1);
    }
}
