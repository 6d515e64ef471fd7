//! The candidate Deployment a rollout is about, as far as analysis needs it: identity,
//! annotations, pod-template labels. Read from a manifest (`--deployment FILE`), embedded in
//! recordings, or (in the daemon) from the API object.

pub mod claims;
pub mod refusal;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The pod template's labels (blue-green reads its slot from them).
    #[serde(default)]
    pub pod_labels: BTreeMap<String, String>,
}

fn default_namespace() -> String {
    "default".into()
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a YAML Deployment manifest: {message}")]
    Manifest { path: String, message: String },
    #[error("--set {0:?}: expected key=value (e.g. steps=10,50,100)")]
    Set(String),
}

impl Target {
    /// Reads the first `kind: Deployment` document of a YAML manifest.
    pub fn from_manifest(path: &Path) -> Result<Target, TargetError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TargetError::Io { path: shown.clone(), source })?;
        Target::from_manifest_text(&text).map_err(|message| TargetError::Manifest { path: shown, message })
    }

    pub fn from_manifest_text(text: &str) -> Result<Target, String> {
        for document in serde_yaml_ng::Deserializer::from_str(text) {
            let value = serde_yaml_ng::Value::deserialize(document).map_err(|e| e.to_string())?;
            if value.get("kind").and_then(|k| k.as_str()) != Some("Deployment") {
                continue;
            }
            let metadata = value.get("metadata");
            let text_at = |v: Option<&serde_yaml_ng::Value>, key: &str| {
                v.and_then(|m| m.get(key)).and_then(|n| n.as_str()).map(str::to_string)
            };
            let name = text_at(metadata, "name").ok_or("the Deployment has no metadata.name")?;
            let template_metadata = value.get("spec").and_then(|s| s.get("template")).and_then(|t| t.get("metadata"));
            return Ok(Target {
                namespace: text_at(metadata, "namespace").unwrap_or_else(default_namespace),
                name,
                annotations: string_map(metadata.and_then(|m| m.get("annotations")))?,
                pod_labels: string_map(template_metadata.and_then(|m| m.get("labels")))?,
            });
        }
        Err("no document of kind Deployment".into())
    }

    /// Applies `--set key=value` overrides; `key` may omit the `serin.io/` prefix.
    pub fn apply_sets(&mut self, sets: &[String]) -> Result<(), TargetError> {
        for set in sets {
            let (key, value) = set.split_once('=').ok_or_else(|| TargetError::Set(set.clone()))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(TargetError::Set(set.clone()));
            }
            let key = if key.contains('/') { key.to_string() } else { format!("{}{key}", crate::spec::PREFIX) };
            self.annotations.insert(key, value.trim().to_string());
        }
        Ok(())
    }
}

fn string_map(value: Option<&serde_yaml_ng::Value>) -> Result<BTreeMap<String, String>, String> {
    let Some(value) = value else { return Ok(BTreeMap::new()) };
    let mapping = value.as_mapping().ok_or("annotations and labels must be maps")?;
    let mut out = BTreeMap::new();
    for (k, v) in mapping {
        let key = k.as_str().ok_or("annotation and label keys must be strings")?;
        let text = match v {
            serde_yaml_ng::Value::String(s) => s.clone(),
            serde_yaml_ng::Value::Bool(b) => b.to_string(),
            serde_yaml_ng::Value::Number(n) => n.to_string(),
            _ => return Err(format!("{key}: annotation and label values must be strings")),
        };
        out.insert(key.to_string(), text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_deployment_document_and_applies_sets() {
        let text = "kind: Service\nmetadata: {name: x}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: sark-canary\n  namespace: production\n  annotations:\n    serin.io/strategy: canary\nspec:\n  template:\n    metadata:\n      labels: {app: sark, version: canary}\n";
        let mut target = Target::from_manifest_text(text).unwrap();
        assert_eq!(target.name, "sark-canary");
        assert_eq!(target.namespace, "production");
        assert_eq!(target.pod_labels["version"], "canary");
        target.apply_sets(&["steps=10,50,100".into(), "serin.io/interval=30s".into()]).unwrap();
        assert_eq!(target.annotations["serin.io/steps"], "10,50,100");
        assert_eq!(target.annotations["serin.io/interval"], "30s");
        assert!(target.apply_sets(&["nonsense".into()]).is_err());
        assert!(Target::from_manifest_text("kind: Service\n").is_err());
    }
}
