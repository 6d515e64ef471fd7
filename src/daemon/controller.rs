//! The kube-runtime [`Controller`] over candidate Deployments: what triggers a reconcile.
//!
//! Changes to the objects a rollout names (its Ingresses, Services, stable Deployment)
//! re-trigger the candidate's reconcile, and every reconcile asks to be requeued at the
//! rollout's next analysis tick: timing comes from requeues, not from one ticker per
//! rollout. kube-runtime never reconciles one object twice at once, which is the
//! per-rollout serialisation the state needs.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::DynamicObject;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use crate::k8s::objects::keep_serin_metadata;
use crate::k8s::router::{self, Watched, gateway_apply};
use crate::k8s::{scoped_api, watch};
use crate::spec::{self, Strategy};

use super::context::{Context, Error};
use super::{claims, reconcile};

/// The controller watches metadata only (every reconcile reads the candidate fresh), so its
/// cache holds no pod templates or status: a third of the memory with 1,000 rollouts.
pub type Candidate = PartialObjectMeta<Deployment>;

/// Reconciles running at once. kube's client speaks HTTP/1.1 and keeps every connection it
/// opened, so unbounded concurrency at startup (one reconcile per candidate, all at once)
/// left ~1,500 idle connections and doubled the daemon's memory with 1,000 rollouts.
const MAX_CONCURRENT_RECONCILES: u16 = 16;

/// Runs the controller of one namespace (`None`: all) until `stop` resolves.
pub async fn run(
    client: Client,
    namespace: Option<String>,
    context: Arc<Context>,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = namespace.as_deref();
    // The cache keeps only the Deployments serin has to do with (`watch::serins_only`), and
    // of them only what the triggers and the reconcile's first look need
    // (`objects::keep_serin_metadata`).
    let (store, writer) = reflector::store();
    context.peers.register(store.clone());
    let candidates = watcher(scoped_api::<Candidate>(&client, ns), watch::config())
        .default_backoff()
        .modify(|candidate: &mut Candidate| keep_serin_metadata(&mut candidate.metadata))
        .try_filter_map(|event| std::future::ready(Ok(watch::serins_only(event))))
        .reflect(writer)
        .applied_objects();
    let controller = Controller::for_stream(candidates, store.clone())
        .with_config(controller::Config::default().concurrency(MAX_CONCURRENT_RECONCILES));
    let (for_ingress, for_service, for_stable) = (store.clone(), store.clone(), store.clone());
    // Gateway API's CRDs are installed separately: a watch of a missing resource would fail
    // forever, and back off every other trigger with it.
    let controller = if gateway_apply::serves_http_routes(&client).await {
        let resource = gateway_apply::http_route_resource();
        let routes = match ns {
            Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource),
            None => Api::<DynamicObject>::all_with(client.clone(), &resource),
        };
        controller.watches_with(routes, resource, watch::config(), move |route| {
            candidates_naming(&store, &route, Related::Route)
        })
    } else {
        tracing::info!("the cluster serves no gateway.networking.k8s.io/v1 HTTPRoutes: not watching them");
        controller
    };
    controller
        .watches(scoped_api::<PartialObjectMeta<Ingress>>(&client, ns), watch::config(), move |ingress| {
            candidates_naming(&for_ingress, &ingress, Related::Ingress)
        })
        .watches(scoped_api::<PartialObjectMeta<Service>>(&client, ns), watch::config(), move |service| {
            candidates_naming(&for_service, &service, Related::Service)
        })
        .watches(scoped_api::<Candidate>(&client, ns), watch::config(), move |stable| {
            candidates_naming(&for_stable, &stable, Related::Stable)
        })
        .graceful_shutdown_on(stop)
        .run(reconcile::reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}

/// The failure is logged by the reconcile itself, inside the rollout's span.
fn error_policy(_: Arc<Candidate>, error: &Error, _: Arc<Context>) -> Action {
    let after = match error.label() {
        "conflict" => Duration::from_secs(1),
        // Work waiting for the cluster (a slot becoming Available): look again soon.
        "waiting" => Duration::from_secs(2),
        _ => Duration::from_secs(10),
    };
    Action::requeue(after)
}

#[derive(Clone, Copy)]
enum Related {
    Ingress,
    Service,
    Stable,
    Route,
}

/// The candidates (in the controller's cache) whose rollout names `object`, or own it.
fn candidates_naming<K: Resource>(store: &Store<Candidate>, object: &K, related: Related) -> Vec<ObjectRef<Candidate>> {
    // Called for every watch event of every Ingress, Service and Deployment, over every
    // cached Deployment: compare borrowed strings, cheapest test first.
    let meta = object.meta();
    let (name, namespace) = (meta.name.as_deref().unwrap_or_default(), meta.namespace.as_deref());
    let owners: Vec<&str> = meta.owner_references.iter().flatten().map(|o| o.uid.as_str()).collect();
    // A rollout's run ending frees the objects others wait for (daemon/claims.rs).
    let empty = Default::default();
    let sharing = match related {
        Related::Stable => {
            claims::sharing(namespace.unwrap_or_default(), name, meta.annotations.as_ref().unwrap_or(&empty))
        }
        _ => None,
    };
    store
        .state()
        .iter()
        .filter(|d| d.meta().namespace.as_deref() == namespace && spec::is_opted_in(d.annotations()))
        .filter(|d| {
            if d.meta().uid.as_deref().is_some_and(|uid| owners.contains(&uid)) {
                return true;
            }
            let Ok(spec) = spec::parse(&d.name_any(), d.annotations()) else { return false };
            names(&spec, related, name) || sharing.as_ref().is_some_and(|shares| shares(&d.name_any(), &spec))
        })
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

fn names(spec: &spec::RolloutSpec, related: Related, name: &str) -> bool {
    match (&spec.strategy, related) {
        (Strategy::Canary(c), Related::Ingress) => router::watches(c, Watched::Ingress, name),
        (Strategy::Canary(c), Related::Route) => router::watches(c, Watched::HttpRoute, name),
        (Strategy::Canary(c), Related::Service) => c.canary_service == name,
        (Strategy::Canary(c), Related::Stable) => c.stable == name,
        (Strategy::BlueGreen(bg), Related::Service) => bg.service == name,
        (Strategy::BlueGreen(_), _) => false,
    }
}
