//! Objects shared between rollouts (README, "Lifecycle"): each reconcile builds its
//! rollout's claims (`target::claims`) and those of the other rollouts of its namespace,
//! and `target::refusal` decides whether this one may write its objects. The answer goes to
//! `lifecycle::plan` as `Input::refused`: a run that would start on objects another run
//! holds does not, a run in flight that yields holds its weight.
//!
//! The other rollouts come from the controllers' caches of Deployment metadata (their
//! `serin.io/` annotations: configuration and record): their names, and whether and since
//! when a run of theirs holds its objects. A rollout that may start a run decides under its
//! namespace's start lock and reads the rollouts it shares objects with fresh: of two
//! reconciles starting at once, the second sees the first's record, which the cache may
//! not show yet, so exactly one starts (a run that started first could otherwise hold a
//! canary Ingress the other may not touch, and neither would move). Pods and
//! selectors are compared within the rollout only (its stable Service against its canary
//! pods, its canary Service against the stable pods), from the objects it resolved.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::runtime::reflector::Store;
use tokio::sync::OwnedMutexGuard;

use crate::k8s::objects::pod_labels;
use crate::k8s::selector::selector;
use crate::k8s::{K8sError, api_error};
use crate::lifecycle::{Record, holds_objects};
use crate::spec::{self, RolloutSpec, Strategy};
use crate::target::claims::{Claims, Side, shared};
use crate::target::refusal::{Contender, refusals};

use super::context::Apis;
use super::controller::Candidate;
use super::execute::selector_labels;
use super::resolve::World;
use super::snapshot;

/// How long a reconcile waits for the caches' first full list before deciding.
const CACHE_WAIT: Duration = Duration::from_secs(10);

/// The controllers' caches of candidates (one per watched scope), registered at start, and
/// one start lock per namespace.
#[derive(Clone, Default)]
pub struct Peers {
    stores: Arc<RwLock<Vec<Store<Candidate>>>>,
    starts: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Each namespace's contenders by name, with the resourceVersion they were read at: a
    /// record (up to 32 KiB) is parsed once per change, not at every reconcile of its
    /// namespace.
    seen: Arc<Mutex<HashMap<String, Seen>>>,
}

/// By name, so that refusals list the other rollouts in a stable order.
type Seen = std::collections::BTreeMap<String, (Option<String>, Option<Contender>)>;

impl Peers {
    pub fn register(&self, store: Store<Candidate>) {
        self.stores.write().unwrap_or_else(|e| e.into_inner()).push(store);
    }

    /// For a rollout without a run that holds objects (it may start one): its namespace's
    /// start lock, to keep until its record is written. A run in flight needs none: a
    /// newcomer always yields to it.
    pub async fn may_start(&self, namespace: &str, stored: Option<&Record>) -> Option<OwnedMutexGuard<()>> {
        if stored.is_some_and(holds_objects) {
            return None;
        }
        let lock =
            self.starts.lock().unwrap_or_else(|e| e.into_inner()).entry(namespace.to_string()).or_default().clone();
        Some(lock.lock_owned().await)
    }

    /// Every rollout of `namespace` as the others see it. Waits for the caches' first list:
    /// a rollout missing from a half-filled cache would look like it holds nothing.
    async fn contenders(&self, namespace: &str) -> Result<Vec<Contender>, K8sError> {
        let stores = self.stores.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut cached = Vec::new();
        for store in stores {
            if tokio::time::timeout(CACHE_WAIT, store.wait_until_ready()).await.is_err() {
                return Err(K8sError::Waiting("the cache of Deployments has not synced yet".into()));
            }
            cached.extend(store.state().into_iter().filter(|d| d.namespace().as_deref() == Some(namespace)));
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let before = seen.remove(namespace).unwrap_or_default();
        // Rebuilt from the cache each time, so a deleted rollout is forgotten.
        let mut now = Seen::new();
        for d in cached {
            let (name, version) = (d.name_any(), d.resource_version());
            let known = before.get(&name).filter(|(v, _)| *v == version).map(|(_, c)| c.clone());
            let found = known.unwrap_or_else(|| contender(namespace, &name, d.annotations()));
            now.insert(name, (version, found));
        }
        let found = now.values().filter_map(|(_, c)| c.clone()).collect();
        seen.insert(namespace.to_string(), now);
        Ok(found)
    }
}

/// A rollout from its annotations: a run that holds its objects claims what its kept
/// configuration names; otherwise what its annotations name now.
fn contender(
    namespace: &str,
    name: &str,
    annotations: &std::collections::BTreeMap<String, String>,
) -> Option<Contender> {
    if !spec::is_opted_in(annotations) {
        return None;
    }
    let holding = Record::read(annotations).ok().flatten().filter(holds_objects);
    let spec = match holding.as_ref().filter(|r| !r.config.is_empty()) {
        Some(record) => spec::parse(name, &record.config).or_else(|_| spec::parse(name, annotations)),
        None => spec::parse(name, annotations),
    };
    let mut claims = Claims::new(namespace, name);
    claims.spec_objects(&spec.ok()?);
    Some(Contender { claims, running_since: holding.map(|r| r.state.started) })
}

/// Why this rollout may not write its objects now (`target::refusal`); empty when it may.
pub async fn refused(
    peers: &Peers,
    apis: &Apis,
    candidate: &Deployment,
    spec: &RolloutSpec,
    world: &World,
    stored: Option<&Record>,
) -> Result<Vec<String>, K8sError> {
    let namespace = candidate.namespace().unwrap_or_default();
    let mut claims = Claims::new(&namespace, &candidate.name_any());
    claims.spec_objects(spec);
    let holding = stored.filter(|r| holds_objects(r));
    // Only a start is refused for its own selectors, and only a start needs the others'
    // records fresh: read them only when one may start (a settled run's reconciles read
    // nothing more).
    let starting = holding.is_none() && snapshot::may_start(candidate, stored);
    if let (true, World::Canary(canary), Strategy::Canary(c)) = (starting, world, &spec.strategy) {
        claims.pods(&canary.stable.name_any(), Side::Stable, pod_labels(&canary.stable));
        claims.pods(&candidate.name_any(), Side::Canary, pod_labels(candidate));
        claims.service(&canary.stable_service.name_any(), Side::Stable, selector(&canary.stable_service));
        let existing =
            apis.services.get_opt(&c.canary_service).await.map_err(api_error("reading the canary Service"))?;
        // Absent, it is created selecting the candidate's pods (`workload::desired_canary_service`).
        let canary_selector = existing.as_ref().map_or_else(|| selector_labels(candidate), selector);
        claims.service(&c.canary_service, Side::Canary, canary_selector);
    }
    let mut others = peers.contenders(&namespace).await?;
    if starting {
        let own = candidate.name_any();
        for other in others.iter_mut().filter(|o| o.claims.rollout != own && !shared(&o.claims, &claims).is_empty()) {
            // Under the start lock: a run that started a moment ago may not be cached yet.
            let name = other.claims.rollout.clone();
            let fresh =
                apis.deployments.get_opt(&name).await.map_err(api_error("reading a rollout sharing objects"))?;
            let fresh = fresh.and_then(|d| contender(&namespace, &name, d.annotations()));
            *other = fresh.unwrap_or_else(|| Contender { claims: Claims::new(&namespace, &name), running_since: None });
        }
    }
    let me = Contender { claims, running_since: holding.map(|r| r.state.started) };
    Ok(refusals(&me, &others))
}

/// The rollouts whose claims share an object with the candidate `changed` (by its
/// annotations now), for the controller to reconcile again: a run that ends frees the
/// objects another rollout waits for. `None` for a Deployment that is no rollout.
pub fn sharing(
    namespace: &str,
    changed: &str,
    annotations: &std::collections::BTreeMap<String, String>,
) -> Option<impl Fn(&str, &RolloutSpec) -> bool> {
    let claims = contender(namespace, changed, annotations)?.claims;
    let changed = changed.to_string();
    Some(move |name: &str, spec: &RolloutSpec| {
        let mut other = Claims::new(&claims.namespace, name);
        other.spec_objects(spec);
        name != changed && !shared(&claims, &other).is_empty()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (format!("serin.io/{k}"), v.to_string())).collect()
    }

    #[test]
    fn a_run_in_flight_claims_what_it_started_with() {
        let mut record = Record::new(crate::rollout::RolloutState::new("r", std::time::UNIX_EPOCH));
        record.state.phase = crate::rollout::Phase::Progressing;
        record.config = annotations(&[("strategy", "canary"), ("stable", "sark")]);
        let mut now = annotations(&[("strategy", "canary"), ("stable", "other")]);
        now.extend(record.annotations());
        let held = contender("production", "sark-v2", &now).unwrap();
        assert_eq!(held.running_since, Some(std::time::UNIX_EPOCH));
        assert!(held.claims.objects.iter().any(|(kind, name, _)| kind == "Deployment" && name == "sark"));
        record.settled = true;
        record.state.phase = crate::rollout::Phase::Succeeded;
        now.extend(record.annotations());
        let idle = contender("production", "sark-v2", &now).unwrap();
        assert_eq!(idle.running_since, None, "a settled run holds nothing");
        assert!(idle.claims.objects.iter().any(|(kind, name, _)| kind == "Deployment" && name == "other"));
        assert!(contender("production", "web", &BTreeMap::new()).is_none(), "not a rollout");
    }

    #[test]
    fn a_change_of_one_rollout_concerns_those_sharing_its_objects() {
        let first = annotations(&[("strategy", "canary"), ("stable", "sark")]);
        let concerns = sharing("production", "sark-canary", &first).unwrap();
        let spec =
            |stable: &str| spec::parse("x", &annotations(&[("strategy", "canary"), ("stable", stable)])).unwrap();
        assert!(concerns("sark-v2", &spec("sark")));
        assert!(!concerns("web-canary", &spec("web")));
        assert!(!concerns("sark-canary", &spec("sark")), "not itself");
    }
}
