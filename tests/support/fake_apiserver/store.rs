//! The object store: every object by (resource, namespace, name), one global
//! resourceVersion counter, and the retained history of watch events. Every write goes
//! through `commit` or `remove`, so each one stamps a new resourceVersion, lands in the
//! history and wakes the watchers, and removing an object garbage-collects what it owns.
//! The request-level rules (validation, concurrency, patches) live in `write.rs`.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::object::{being_deleted, finalizers, meta_str, now_rfc3339, owner_uids, set_meta};
use super::resources::Resource;
use super::selector::Selector;

/// (apiVersion, plural, namespace, name)
pub type Key = (String, &'static str, String, String);

pub fn key(res: &Resource, ns: &str, name: &str) -> Key {
    (res.api_version(), res.plural, ns.to_string(), name.to_string())
}

/// One change, as a watch reports it. `previous` lets a selective watch turn a change
/// that moves an object into or out of its selector into ADDED or DELETED, as the real
/// watch cache does.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub kind: &'static str,
    pub res: &'static Resource,
    pub object: Value,
    pub previous: Option<Value>,
}

pub struct Store {
    objects: BTreeMap<Key, (&'static Resource, Value)>,
    rv: u64,
    history: VecDeque<Event>,
    pub history_limit: usize,
    /// resourceVersion of the newest event dropped from the history (0: none dropped).
    compacted: u64,
    changed: watch::Sender<u64>,
}

impl Store {
    pub fn new() -> Store {
        let (changed, _) = watch::channel(0);
        Store {
            objects: BTreeMap::new(),
            rv: 0,
            history: VecDeque::new(),
            history_limit: 10_000,
            compacted: 0,
            changed,
        }
    }

    /// The current resourceVersion: that of the latest write.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// Wakes on every write; the value is the new resourceVersion.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub fn get(&self, res: &Resource, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&key(res, ns, name)).map(|(_, obj)| obj)
    }

    /// Matching objects of one resource, in one namespace or (None) all of them, in
    /// (namespace, name) order as the real server lists them.
    pub fn list(&self, res: &Resource, ns: Option<&str>, selector: &Selector) -> Vec<Value> {
        self.iter(res, ns).filter(|obj| selector.matches(obj)).cloned().collect()
    }

    /// The objects of one resource, in one namespace or (None) all of them, in (namespace,
    /// name) order, without cloning. Keys sort by (apiVersion, plural, namespace, name), so
    /// they are one contiguous range of the map: a lookup costs what it returns, not the
    /// size of the whole store (which matters with thousands of objects).
    pub fn iter<'a>(&'a self, res: &Resource, ns: Option<&'a str>) -> impl Iterator<Item = &'a Value> + 'a {
        let (api_version, plural) = (res.api_version(), res.plural);
        // The empty name (and, for all namespaces, the empty namespace) sorts first.
        let first: Key = (api_version.clone(), plural, ns.unwrap_or("").to_string(), String::new());
        self.objects
            .range(first..)
            .take_while(move |((v, p, n, _), _)| *v == api_version && *p == plural && ns.is_none_or(|ns| ns == n))
            .map(|(_, (_, obj))| obj)
    }

    /// Events after `rv`, oldest first, or Err(oldest retained rv) when some of them
    /// have already been dropped from the history (the watcher must relist: 410).
    pub fn events_after(&self, rv: u64) -> Result<impl Iterator<Item = &Event>, u64> {
        if rv < self.compacted {
            return Err(self.compacted + 1);
        }
        let start = self.history.partition_point(|e| e.rv <= rv);
        Ok(self.history.iter().skip(start))
    }

    /// Writes an object (already validated and prepared) under a new resourceVersion.
    /// An object being deleted whose last finalizer went away is removed instead.
    pub fn commit(&mut self, res: &'static Resource, mut obj: Value) -> Value {
        if being_deleted(&obj) && finalizers(&obj).is_empty() {
            let k = key(res, meta_str(&obj, "namespace"), meta_str(&obj, "name"));
            if let Some(slot) = self.objects.get_mut(&k) {
                slot.1 = obj.clone();
            }
            return self.remove(res, &k).unwrap_or(obj);
        }
        self.rv += 1;
        set_meta(&mut obj, "resourceVersion", json!(self.rv.to_string()));
        let k = key(res, meta_str(&obj, "namespace"), meta_str(&obj, "name"));
        let previous = self.objects.insert(k, (res, obj.clone())).map(|(_, old)| old);
        let kind = if previous.is_some() { "MODIFIED" } else { "ADDED" };
        self.record(Event { rv: self.rv, kind, res, object: obj.clone(), previous });
        obj
    }

    /// Removes an object for good (DELETED event), then garbage-collects its
    /// dependents, breadth first, as the garbage collector's background propagation
    /// does (but at once rather than a moment later). Returns the removed object.
    pub fn remove(&mut self, res: &'static Resource, k: &Key) -> Option<Value> {
        let (_, mut removed) = self.objects.remove(k)?;
        self.rv += 1;
        set_meta(&mut removed, "resourceVersion", json!(self.rv.to_string()));
        let event = Event { rv: self.rv, kind: "DELETED", res, object: removed.clone(), previous: None };
        self.record(event);
        self.collect_dependents(meta_str(&removed, "uid"), meta_str(&removed, "namespace"));
        Some(removed)
    }

    /// Dependents of a removed owner: those with no other live owner are deleted (or,
    /// with finalizers, marked for deletion); the others just lose the dangling reference.
    fn collect_dependents(&mut self, uid: &str, ns: &str) {
        let dependents: Vec<(Key, &'static Resource, Value)> = self
            .objects
            .iter()
            .filter(|(k, (_, obj))| k.2 == ns && owner_uids(obj).iter().any(|u| u == uid))
            .map(|(k, (res, obj))| (k.clone(), *res, obj.clone()))
            .collect();
        for (k, res, mut obj) in dependents {
            let other_owner_alive = owner_uids(&obj)
                .iter()
                .any(|u| u != uid && self.objects.values().any(|(_, o)| meta_str(o, "uid") == u));
            if other_owner_alive {
                let refs = obj.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut);
                refs.expect("dependents have owner references").retain(|r| r.get("uid") != Some(&json!(uid)));
                self.commit(res, obj);
            } else if !finalizers(&obj).is_empty() {
                if !being_deleted(&obj) {
                    set_meta(&mut obj, "deletionTimestamp", json!(now_rfc3339()));
                    set_meta(&mut obj, "deletionGracePeriodSeconds", json!(0));
                    self.commit(res, obj);
                }
            } else {
                self.remove(res, &k);
            }
        }
    }

    fn record(&mut self, event: Event) {
        let rv = event.rv;
        self.history.push_back(event);
        while self.history.len() > self.history_limit {
            let dropped = self.history.pop_front().expect("history is longer than its limit");
            self.compacted = dropped.rv;
        }
        self.changed.send_replace(rv);
    }

    /// Drops history beyond a new limit at once, so tests of expiry need few writes.
    pub fn set_history_limit(&mut self, limit: usize) {
        self.history_limit = limit;
        while self.history.len() > limit {
            let dropped = self.history.pop_front().expect("history is longer than its limit");
            self.compacted = dropped.rv;
        }
    }
}
