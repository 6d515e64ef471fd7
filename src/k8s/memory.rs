//! serin's memory of each candidate (`serin_core::lifecycle::memory`), kept in a ConfigMap
//! `serin-memory` of the candidate's namespace, one key per candidate: where GitOps tools,
//! which rewrite the candidate from its manifest, do not write.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::lifecycle::memory::Memory;

use super::{K8sError, MANAGED_BY, api_error};

pub const NAME: &str = "serin-memory";

/// What serin remembers of `candidate` (nothing, when the ConfigMap or its key is absent or
/// unreadable: memory only ever adds caution).
pub async fn read(client: &kube::Client, namespace: &str, candidate: &str) -> Result<Memory, K8sError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let found = api.get_opt(NAME).await.map_err(api_error(format!("reading ConfigMap {NAME}")))?;
    let text = found.and_then(|c| c.data.and_then(|mut d| d.remove(candidate)));
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default())
}

/// Writes `memory` under `candidate`'s key, creating the ConfigMap when absent; a merge
/// patch of the one key, guarded by the resourceVersion read.
pub async fn write(client: &kube::Client, namespace: &str, candidate: &str, memory: &Memory) -> Result<(), K8sError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let text = serde_json::to_string(memory).unwrap_or_default();
    let what = format!("writing ConfigMap {NAME}");
    match api.get_opt(NAME).await.map_err(api_error(&what))? {
        None => {
            let map = ConfigMap {
                metadata: kube::api::ObjectMeta {
                    name: Some(NAME.into()),
                    labels: Some(BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())])),
                    ..Default::default()
                },
                data: Some(BTreeMap::from([(candidate.to_string(), text)])),
                ..Default::default()
            };
            api.create(&PostParams::default(), &map).await.map_err(api_error(what))?;
        }
        Some(existing) => {
            let patch =
                json!({"metadata": {"resourceVersion": existing.resource_version()}, "data": {candidate: text}});
            api.patch(NAME, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(api_error(what))?;
        }
    }
    Ok(())
}
