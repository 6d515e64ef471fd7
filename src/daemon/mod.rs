//! `serin run`: the in-cluster daemon (spec §4).
//!
//! A kube-runtime [`Controller`] over Deployments. Changes to the objects a rollout names
//! (its Ingresses, Services, stable Deployment) re-trigger the candidate's reconcile, and
//! every reconcile asks to be requeued at the rollout's next analysis tick: timing comes
//! from requeues, not from one ticker per rollout. kube-runtime never reconciles one object
//! twice at once, which is the per-rollout serialisation the state needs.
//!
//! Files: `reconcile` (one reconcile, the pipeline), `run_start` (when a run starts),
//! `resolve` (the objects a rollout names), `execute` (doing the work), `release`
//! (restoring traffic on opt-out or deletion), `plan` (pure timing and work rules),
//! `context` (what reconciles share).

mod context;
mod execute;
mod plan;
mod reconcile;
mod release;
mod resolve;
mod run_start;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};

pub use context::{Context, Error};

use crate::judge::JudgeConfig;
use crate::k8s::events::EventSink;
use crate::k8s::router::nginx::canary_ingress_name;
use crate::source::PrometheusSource;
use crate::spec::{self, Strategy};
use crate::template::Catalog;

/// `serin run`'s configuration.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub prometheus: String,
    pub catalog: Catalog,
    /// Namespaces to watch; empty = all.
    pub namespaces: Vec<String>,
    pub dry_run: bool,
}

/// Runs the controllers until SIGTERM or SIGINT.
pub async fn run(config: RunConfig) -> anyhow::Result<()> {
    let client = Client::try_default().await.map_err(|e| anyhow::anyhow!("connecting to Kubernetes: {e}"))?;
    let source = PrometheusSource::new(&config.prometheus)?;
    let context = Arc::new(Context {
        client: client.clone(),
        source,
        catalog: config.catalog,
        judge: JudgeConfig::default(),
        events: EventSink::new(client.clone()),
        http: reqwest::Client::builder().build()?,
        dry_run: config.dry_run,
    });
    tracing::info!(
        prometheus = %config.prometheus,
        namespaces = ?config.namespaces,
        dry_run = config.dry_run,
        "serin daemon starting"
    );
    let scopes: Vec<Option<String>> =
        if config.namespaces.is_empty() { vec![None] } else { config.namespaces.into_iter().map(Some).collect() };
    let controllers = scopes.into_iter().map(|namespace| controller(client.clone(), namespace, context.clone()));
    futures::future::join_all(controllers).await;
    tracing::info!("serin daemon stopped");
    Ok(())
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn controller(client: Client, namespace: Option<String>, context: Arc<Context>) {
    let ns = namespace.as_deref();
    let controller = Controller::new(api::<Deployment>(&client, ns), watcher::Config::default());
    let store = controller.store();
    let (for_ingress, for_service, for_stable) = (store.clone(), store.clone(), store);
    controller
        .watches(api::<Ingress>(&client, ns), watcher::Config::default(), move |ingress: Ingress| {
            candidates_naming(&for_ingress, &ingress, Related::Ingress)
        })
        .watches(api::<Service>(&client, ns), watcher::Config::default(), move |service: Service| {
            candidates_naming(&for_service, &service, Related::Service)
        })
        .watches(api::<Deployment>(&client, ns), watcher::Config::default(), move |stable: Deployment| {
            candidates_naming(&for_stable, &stable, Related::Stable)
        })
        .shutdown_on_signal()
        .run(reconcile::reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}

fn error_policy(_: Arc<Deployment>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(error = %error, kind = error.label(), "reconcile failed; retrying");
    Action::requeue(if error.is_conflict() { Duration::from_secs(1) } else { Duration::from_secs(10) })
}

#[derive(Clone, Copy)]
enum Related {
    Ingress,
    Service,
    Stable,
}

/// The candidates (in the controller's cache) whose rollout names `object`, or own it.
fn candidates_naming<K: Resource>(
    store: &Store<Deployment>,
    object: &K,
    related: Related,
) -> Vec<ObjectRef<Deployment>> {
    let (name, namespace) = (object.meta().name.clone().unwrap_or_default(), object.meta().namespace.clone());
    let owners: Vec<String> = object.meta().owner_references.iter().flatten().map(|o| o.uid.clone()).collect();
    store
        .state()
        .iter()
        .filter(|d| d.namespace() == namespace && spec::is_opted_in(d.annotations()))
        .filter(|d| d.uid().is_some_and(|uid| owners.contains(&uid)) || names(d, related, &name))
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

fn names(candidate: &Deployment, related: Related, name: &str) -> bool {
    let Ok(spec) = spec::parse(&candidate.name_any(), candidate.annotations()) else { return false };
    match (&spec.strategy, related) {
        (Strategy::Canary(c), Related::Ingress) => c.ingress == name || canary_ingress_name(&c.ingress) == name,
        (Strategy::Canary(c), Related::Service) => c.canary_service == name,
        (Strategy::Canary(c), Related::Stable) => c.stable == name,
        (Strategy::BlueGreen(bg), Related::Service) => bg.service == name,
        (Strategy::BlueGreen(_), _) => false,
    }
}

/// `serin run`'s entry from the CLI: a multi-threaded runtime around [`run`].
pub fn main(config: RunConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run(config))
}
