//! The Kubernetes adapters: everything that reads or writes cluster objects.
//!
//! Each concern is one file, with its decisions as pure functions beside a thin apply:
//! - `objects`: pure readings (revision hash, rolled out?, the engine's `Target`);
//! - `record`: the state serin keeps on the candidate (`serin.io/phase|weight|status`);
//! - `router`: the canary traffic split behind the [`router::TrafficRouter`] trait
//!   (ingress-nginx canary Ingress, or serin's part of a Gateway API HTTPRoute);
//! - `selector`: the blue-green Service selector flip;
//! - `workload`: promotion (stable takes the candidate's pod spec) and scaling;
//! - `smoke`: HTTP smoke checks of a blue-green candidate's pods;
//! - `events`: Kubernetes Events for every transition, with the evidence;
//! - `watch`: the list page size of serin's watches and which Deployments its caches keep;
//! - `operation`: the operator's operations (promote, abort, pause, resume, retry), shared
//!   by the HTTP API and the command line.

pub mod events;
pub mod memory;
pub mod objects;
pub mod operation;
pub mod record;
pub mod router;
pub mod selector;
pub mod smoke;
pub mod watch;
pub mod workload;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Api, Client, Resource, ResourceExt};

/// Label on every object serin creates; objects without it are never modified by serin.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "serin");

/// The finalizer serin holds on a candidate while deleting it must first restore traffic.
pub const FINALIZER: &str = "serin.io/traffic";

#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// serin will not touch the object (not managed by it, or missing what it needs).
    #[error("{0}")]
    Refused(String),
    /// The work must wait for the cluster (it stays pending and is tried again).
    #[error("waiting: {0}")]
    Waiting(String),
}

impl K8sError {
    /// A stale write: re-read and try again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, K8sError::Api { source, .. } if is_conflict_error(source))
    }

    /// A short name for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            K8sError::Api { .. } if self.is_conflict() => "conflict",
            K8sError::Api { .. } => "api",
            K8sError::Refused(_) => "refused",
            K8sError::Waiting(_) => "waiting",
        }
    }
}

/// Wraps a kube error with what serin was doing.
pub fn api_error(what: impl Into<String>) -> impl FnOnce(kube::Error) -> K8sError {
    let what = what.into();
    move |source| K8sError::Api { what, source }
}

/// True for a 409 from the API server: a stale resourceVersion (or the object exists).
pub fn is_conflict_error(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

/// True for a 404 from the API server.
pub fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// An API handle for one namespace, or for all (`None`).
pub fn scoped_api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// An owner reference to `owner`, so what serin creates for a candidate goes with it.
pub fn owner_reference<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.name_any(),
        uid: owner.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// True when serin created the object (it carries the managed-by label).
pub fn is_managed<K: Resource>(object: &K) -> bool {
    object.meta().labels.as_ref().and_then(|l| l.get(MANAGED_BY.0)).is_some_and(|v| v == MANAGED_BY.1)
}
