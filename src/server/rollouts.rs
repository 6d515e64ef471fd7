//! The rollouts as the API, the page and the metrics show them, read from the candidates'
//! annotations (`serin.io/*`) in a metadata-only cache: every replica answers reads
//! without asking the API server, leader or not.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde::Serialize;

use crate::judge::{MetricVerdict, Verdict};
use crate::k8s::objects::serin_key;
use crate::k8s::record::Record;
use crate::k8s::{scoped_api, watch};
use crate::rollout::Phase;
use crate::spec;
use crate::telemetry::metrics::RolloutGauge;

pub type CandidateMeta = PartialObjectMeta<Deployment>;

/// The metadata caches of the namespaces serin watches, and the views parsed from them.
#[derive(Clone, Default)]
pub struct RolloutIndex {
    stores: Vec<Store<CandidateMeta>>,
    /// Bumped by every watch event applied to a store.
    generation: Arc<AtomicU64>,
    /// The views of one generation: `GET /`, the list and `/metrics` share them instead of
    /// parsing every rollout's status on every request.
    views: Arc<Mutex<Option<Parsed>>>,
}

/// Views and the cache generation they were parsed at.
type Parsed = (u64, Arc<Vec<RolloutView>>);

impl RolloutIndex {
    pub fn new(stores: Vec<Store<CandidateMeta>>) -> RolloutIndex {
        RolloutIndex { stores, ..RolloutIndex::default() }
    }

    /// Marks the stores changed: the next [`all`](Self::all) parses them again.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Starts a metadata-only watch of the Deployments of each scope (`None`: all
    /// namespaces). Only `serin.io/*` annotations are kept: the cache stays small however
    /// many Deployments the cluster has. The future resolves once every cache has synced.
    pub fn watch(
        client: &Client,
        scopes: &[Option<String>],
    ) -> (RolloutIndex, impl Future<Output = ()> + Send + use<>) {
        let generation = Arc::new(AtomicU64::new(0));
        let stores: Vec<Store<CandidateMeta>> = scopes
            .iter()
            .map(|namespace| {
                let generation = generation.clone();
                // An Api of PartialObjectMeta asks for metadata only.
                let api = scoped_api::<CandidateMeta>(client, namespace.as_deref());
                let (reader, writer) = reflector::store();
                let stream = watcher(api, watch::config())
                    .default_backoff()
                    .modify(keep_only_serin_metadata)
                    .try_filter_map(|event| std::future::ready(Ok(watch::serins_only(event))));
                // Each event reaches here after the store applied it.
                tokio::spawn(reflector(writer, stream).for_each(move |_| {
                    generation.fetch_add(1, Ordering::AcqRel);
                    std::future::ready(())
                }));
                reader
            })
            .collect();
        let waiting = stores.clone();
        let synced = async move {
            for store in waiting {
                let _ = store.wait_until_ready().await;
            }
        };
        (RolloutIndex { stores, generation, views: Arc::default() }, synced)
    }

    /// Every opted-in Deployment, sorted by namespace and name; parsed again only after
    /// the stores changed.
    pub fn all(&self) -> Arc<Vec<RolloutView>> {
        // Read before parsing: an event applied meanwhile bumps it past what is cached.
        let generation = self.generation.load(Ordering::Acquire);
        let mut cached = self.views.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, views)) = cached.as_ref().filter(|(at, _)| *at == generation) {
            return views.clone();
        }
        let views = Arc::new(self.parse_all());
        *cached = Some((generation, views.clone()));
        views
    }

    fn parse_all(&self) -> Vec<RolloutView> {
        let mut views: Vec<RolloutView> = self
            .stores
            .iter()
            .flat_map(|store| store.state())
            .filter_map(|meta| RolloutView::from_annotations(&meta.namespace()?, &meta.name_any(), meta.annotations()))
            .collect();
        views.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        views
    }

    /// One rollout, reading only its own annotations.
    pub fn get(&self, namespace: &str, name: &str) -> Option<RolloutView> {
        let key = ObjectRef::new(name).within(namespace);
        let meta = self.stores.iter().find_map(|store| store.get(&key))?;
        RolloutView::from_annotations(namespace, name, meta.annotations())
    }
}

fn keep_only_serin_metadata(meta: &mut CandidateMeta) {
    crate::k8s::objects::keep_serin_metadata(&mut meta.metadata);
}

/// One rollout: what it is configured to do and where it is.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutView {
    pub namespace: String,
    pub name: String,
    /// `canary` or `blue-green` (as annotated, even when invalid).
    pub strategy: String,
    /// `None` until serin has written a status.
    pub phase: Option<Phase>,
    pub weight: Option<u8>,
    pub revision: Option<String>,
    pub reason: Option<String>,
    pub trigger: Option<String>,
    /// The `serin.io/*` configuration annotations (not serin's own writes).
    pub config: BTreeMap<String, String>,
    /// A command written through the API and not yet applied by the leader.
    pub pending_command: Option<String>,
    #[serde(skip)]
    pub record: Option<Record>,
}

/// The list entry: no evidence, one line per metric.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub strategy: &'a str,
    pub phase: Option<Phase>,
    pub weight: Option<u8>,
    pub revision: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub verdicts: Vec<VerdictLine<'a>>,
}

#[derive(Debug, Serialize)]
pub struct VerdictLine<'a> {
    pub metric: &'a str,
    pub verdict: Verdict,
    pub reason: &'a str,
}

impl RolloutView {
    /// `None` for a Deployment that is not opted in.
    pub fn from_annotations(
        namespace: &str,
        name: &str,
        annotations: &BTreeMap<String, String>,
    ) -> Option<RolloutView> {
        let strategy = annotations.get(&serin_key("strategy"))?.clone();
        // An unreadable status shows as no status; the reconciler reports it.
        let record = Record::read(annotations).ok().flatten();
        let written = |key: &str| key.strip_prefix(spec::PREFIX).is_some_and(|k| spec::keys::WRITTEN.contains(&k));
        let config = annotations
            .iter()
            .filter(|(k, _)| k.starts_with(spec::PREFIX) && !written(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Some(RolloutView {
            namespace: namespace.into(),
            name: name.into(),
            phase: record.as_ref().map(Record::phase),
            weight: record.as_ref().map(|r| r.state.weight),
            revision: record.as_ref().map(|r| r.state.revision.clone()),
            reason: record.as_ref().map(|r| invalid_or(r, &r.state.reason)),
            trigger: record.as_ref().and_then(|r| r.state.trigger.clone()),
            pending_command: annotations.get(&serin_key("command")).cloned(),
            strategy,
            config,
            record,
        })
    }

    pub fn verdicts(&self) -> &[MetricVerdict] {
        self.record.as_ref().map(|r| r.state.last_verdicts.as_slice()).unwrap_or_default()
    }

    pub fn summary(&self) -> Summary<'_> {
        Summary {
            namespace: &self.namespace,
            name: &self.name,
            strategy: &self.strategy,
            phase: self.phase,
            weight: self.weight,
            revision: self.revision.as_deref(),
            reason: self.reason.as_deref(),
            verdicts: self
                .verdicts()
                .iter()
                .map(|m| VerdictLine { metric: &m.metric, verdict: m.verdict, reason: &m.reason })
                .collect(),
        }
    }

    /// The detail: the summary's fields plus the whole status (verdicts with evidence,
    /// trigger counters, pending work) and the configuration.
    pub fn detail(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("a view always serialises");
        value["status"] = serde_json::to_value(&self.record).expect("a record always serialises");
        value
    }

    /// What the per-rollout gauges need; `None` before serin wrote a status.
    pub fn gauge(&self) -> Option<RolloutGauge<'_>> {
        Some(RolloutGauge {
            namespace: &self.namespace,
            name: &self.name,
            phase: self.phase?,
            canary_weight: (self.strategy == "canary").then_some(self.weight?),
        })
    }
}

fn invalid_or(record: &Record, reason: &str) -> String {
    if record.invalid.is_empty() {
        reason.to_string()
    } else {
        format!("invalid configuration: {}", record.invalid.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::rollout::RolloutState;

    #[test]
    fn a_view_shows_config_and_status_but_not_serins_own_annotations() {
        let mut record = Record::new(RolloutState::new("abc", SystemTime::now()));
        record.state.phase = Phase::Progressing;
        record.state.weight = 25;
        let mut annotations = record.annotations();
        annotations.insert("serin.io/strategy".into(), "canary".into());
        annotations.insert("serin.io/steps".into(), "10,25,50,100".into());
        annotations.insert("kubectl.kubernetes.io/last-applied-configuration".into(), "{}".into());
        let view = RolloutView::from_annotations("production", "sark-canary", &annotations).unwrap();
        assert_eq!((view.phase, view.weight), (Some(Phase::Progressing), Some(25)));
        assert_eq!(view.config.keys().collect::<Vec<_>>(), ["serin.io/steps", "serin.io/strategy"]);
        let gauge = view.gauge().unwrap();
        assert_eq!(gauge.canary_weight, Some(25));
        assert_eq!(view.detail()["status"]["revision"], "abc");
    }

    #[test]
    fn deployments_without_a_strategy_are_not_rollouts() {
        let annotations = BTreeMap::from([("serin.io/steps".to_string(), "10".to_string())]);
        assert!(RolloutView::from_annotations("ns", "web", &annotations).is_none());
        let fresh = BTreeMap::from([("serin.io/strategy".to_string(), "blue-green".to_string())]);
        let view = RolloutView::from_annotations("ns", "web", &fresh).unwrap();
        assert!(view.phase.is_none() && view.gauge().is_none());
    }

    #[test]
    fn views_are_parsed_once_per_change_of_the_cache() {
        use kube::core::{ObjectMeta, PartialObjectMetaExt};
        let candidate = |phase: Phase| {
            let mut record = Record::new(RolloutState::new("abc", SystemTime::now()));
            record.state.phase = phase;
            let mut annotations = record.annotations();
            annotations.insert("serin.io/strategy".into(), "canary".into());
            let meta = ObjectMeta {
                name: Some("sark-canary".into()),
                namespace: Some("production".into()),
                annotations: Some(annotations),
                ..ObjectMeta::default()
            };
            watcher::Event::Apply(meta.into_response_partial::<Deployment>())
        };
        let (reader, mut writer) = reflector::store();
        writer.apply_watcher_event(&candidate(Phase::Progressing));
        let index = RolloutIndex::new(vec![reader]);
        let first = index.all();
        assert_eq!(first[0].phase, Some(Phase::Progressing));
        assert!(Arc::ptr_eq(&first, &index.all()), "no change: the same parsed views");
        writer.apply_watcher_event(&candidate(Phase::Paused));
        index.changed();
        let second = index.all();
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(second[0].phase, Some(Phase::Paused));
    }
}
