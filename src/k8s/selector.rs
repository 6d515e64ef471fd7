//! Blue-green traffic: the Service's selector picks a slot by one label (`version` by
//! default, `serin.io/slot-label`). A flip patches that one key and nothing else, guarded
//! by the resourceVersion it read, and is a no-op when the selector already points there.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::{K8sError, api_error};

/// The selector of a Service (empty when it has none).
pub fn selector(service: &Service) -> BTreeMap<String, String> {
    service.spec.as_ref().and_then(|s| s.selector.clone()).unwrap_or_default()
}

/// The slot the Service selects now.
pub fn current_slot(service: &Service, slot_label: &str) -> Option<String> {
    selector(service).get(slot_label).cloned()
}

/// The merge patch pointing `slot_label` at `slot`, guarded by `resource_version`.
pub fn flip_patch(slot_label: &str, slot: &str, resource_version: Option<String>) -> serde_json::Value {
    json!({"metadata": {"resourceVersion": resource_version}, "spec": {"selector": {slot_label: slot}}})
}

/// Points the Service at `slot`. Returns the slot it selected before, or `None` when it
/// already selected `slot` (nothing was written).
pub async fn flip(
    services: &Api<Service>,
    name: &str,
    slot_label: &str,
    slot: &str,
) -> Result<Option<String>, K8sError> {
    let service = services.get(name).await.map_err(api_error(format!("reading Service {name}")))?;
    let before = current_slot(&service, slot_label);
    if before.as_deref() == Some(slot) {
        return Ok(None);
    }
    let patch = flip_patch(slot_label, slot, service.resource_version());
    services
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_error(format!("pointing Service {name} at {slot_label}={slot}")))?;
    Ok(Some(before.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flip_touches_one_selector_key_and_is_guarded() {
        let patch = flip_patch("version", "green", Some("17".into()));
        assert_eq!(patch, json!({"metadata": {"resourceVersion": "17"}, "spec": {"selector": {"version": "green"}}}));
        let service: Service = serde_json::from_value(
            json!({"metadata": {"name": "sark"}, "spec": {"selector": {"app": "sark", "version": "blue"}}}),
        )
        .unwrap();
        assert_eq!(current_slot(&service, "version").as_deref(), Some("blue"));
        assert_eq!(current_slot(&service, "slot"), None);
    }
}
