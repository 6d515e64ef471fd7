//! How serin watches the cluster: the list page size of every watch, and which
//! Deployments its caches keep. Pure.
//!
//! On a cluster of 10,000 Deployments of which 1,000 are rollouts, the daemon's memory was
//! the caches of Deployments serin never acts on and the list pages that fill them
//! (`simulations/daemon-scale-cluster.md`).

use kube::Resource;
use kube::runtime::watcher::{self, Event};

use crate::spec::PREFIX;

/// Objects per list page. kube's default (500) holds 500 Deployments' metadata (with their
/// ~3 KiB `last-applied-configuration`) as text, as JSON values and as objects at once:
/// ~10 MiB for every initial list or re-list, and memory the allocator keeps after.
const LIST_PAGE: u32 = 100;

/// The watch configuration of every watch serin runs.
pub fn config() -> watcher::Config {
    watcher::Config::default().page_size(LIST_PAGE)
}

/// Whether serin has anything to do with an object: a `serin.io/` annotation (opted in,
/// or a record left to clean up) or serin's finalizer (a run still holds traffic).
pub fn is_serins<K: Resource>(object: &K) -> bool {
    let meta = object.meta();
    let annotated = meta.annotations.iter().flatten().any(|(key, _)| key.starts_with(PREFIX));
    annotated || meta.finalizers.iter().flatten().any(|f| f.starts_with(PREFIX))
}

/// A watch event as a cache of serin's Deployments needs it: an object serin has nothing to
/// do with never enters it, and one that lost the last of serin's metadata leaves it as if
/// deleted (nothing is left to reconcile: opting out keeps the record until serin released
/// the run). Other teams' Deployments cost a cluster-wide watch nothing but the list pages.
pub fn serins_only<K: Resource>(event: Event<K>) -> Option<Event<K>> {
    match event {
        Event::InitApply(object) if !is_serins(&object) => None,
        Event::Apply(object) if !is_serins(&object) => Some(Event::Delete(object)),
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::ObjectMeta;

    use super::*;

    fn deployment(annotations: &[&str], finalizers: &[&str]) -> Deployment {
        let annotations = annotations.iter().map(|k| (k.to_string(), "x".to_string())).collect();
        let finalizers = finalizers.iter().map(|f| f.to_string()).collect();
        let metadata = ObjectMeta {
            name: Some("sark".into()),
            annotations: Some(annotations),
            finalizers: Some(finalizers),
            ..Default::default()
        };
        Deployment { metadata, ..Default::default() }
    }

    fn kind<K>(event: &Option<Event<K>>) -> &'static str {
        match event {
            None => "dropped",
            Some(Event::Apply(_)) => "apply",
            Some(Event::InitApply(_)) => "init-apply",
            Some(Event::Delete(_)) => "delete",
            Some(Event::Init) => "init",
            Some(Event::InitDone) => "init-done",
        }
    }

    #[test]
    fn other_teams_deployments_never_enter_the_cache() {
        let theirs = deployment(&["kubectl.kubernetes.io/last-applied-configuration"], &["example.com/keep"]);
        assert_eq!(kind(&serins_only(Event::InitApply(theirs.clone()))), "dropped");
        assert_eq!(kind(&serins_only(Event::Apply(theirs.clone()))), "delete", "one that lost serin's metadata leaves");
        assert_eq!(kind(&serins_only(Event::Delete(theirs))), "delete");
        assert_eq!(kind(&serins_only(Event::<Deployment>::Init)), "init");
        assert_eq!(kind(&serins_only(Event::<Deployment>::InitDone)), "init-done");
    }

    #[test]
    fn opted_in_recorded_and_held_deployments_stay() {
        for ours in [
            deployment(&["serin.io/strategy"], &[]),
            deployment(&["serin.io/status"], &[]),
            deployment(&[], &["serin.io/traffic"]),
        ] {
            assert_eq!(kind(&serins_only(Event::InitApply(ours.clone()))), "init-apply");
            assert_eq!(kind(&serins_only(Event::Apply(ours))), "apply");
        }
    }
}
