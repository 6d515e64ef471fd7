//! What every reconcile shares: the API client, the metric source, the templates, the
//! judge's configuration and the event sink; and the per-namespace API handles.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Api;

use crate::judge::JudgeConfig;

use super::leader::Leadership;
use crate::k8s::K8sError;
use crate::k8s::events::EventSink;
use crate::source::PrometheusSource;
use crate::telemetry::{Instrumented, Metrics};
use crate::template::Catalog;

pub struct Context {
    pub client: kube::Client,
    pub source: Instrumented<PrometheusSource>,
    pub catalog: Catalog,
    pub judge: JudgeConfig,
    pub events: EventSink,
    /// For blue-green smoke checks.
    pub http: reqwest::Client,
    /// `--dry-run`: every rollout only records what it would do.
    pub dry_run: bool,
    pub metrics: Arc<Metrics>,
    /// Whether this replica may write traffic now (leader election's renew deadline).
    pub leadership: Leadership,
    /// `--notify`: told of every record written.
    pub notifier: crate::notify::Notifier,
    /// The controllers' caches of candidates: which objects the other rollouts hold.
    pub peers: super::claims::Peers,
}

impl Context {
    pub fn apis(&self, namespace: &str) -> Apis {
        Apis {
            client: self.client.clone(),
            deployments: Api::namespaced(self.client.clone(), namespace),
            services: Api::namespaced(self.client.clone(), namespace),
            pods: Api::namespaced(self.client.clone(), namespace),
        }
    }
}

/// The API handles of one namespace.
pub struct Apis {
    /// For the routers, which make their own handles (`k8s::router`).
    pub client: kube::Client,
    pub deployments: Api<Deployment>,
    pub services: Api<Service>,
    pub pods: Api<Pod>,
}

/// Why a reconcile failed; the controller retries it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{namespace}/{name}: {source}")]
    Cluster {
        namespace: String,
        name: String,
        #[source]
        source: K8sError,
    },
    /// The reconcile panicked (a bug, or input no parser foresaw): contained to this
    /// rollout and retried like any failure, see [`super::contain`].
    #[error("{namespace}/{name}: reconcile panicked: {message}")]
    Panicked { namespace: String, name: String, message: String },
}

impl Error {
    pub fn is_conflict(&self) -> bool {
        match self {
            Error::Cluster { source, .. } => source.is_conflict(),
            Error::Panicked { .. } => false,
        }
    }

    /// A short name for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Cluster { source, .. } => source.label(),
            Error::Panicked { .. } => "panic",
        }
    }
}
