//! Which configuration a run follows (README, "Lifecycle"). A run keeps the configuration
//! it started with: the names it resolved (stable, Ingress, Services) and its analysis stay
//! until it ends, so an annotation changed mid-run applies to the next run. Two keys are
//! operator controls and act at once: `serin.io/paused` and `serin.io/window`. A
//! configuration broken mid-run does not unguard the canary: the run goes on under the one
//! it started with, rollbacks and aborts still act, and nothing progresses until it is
//! fixed.

use std::collections::BTreeMap;

use crate::spec::{self, PREFIX, RolloutSpec, keys};

/// Keys read from the candidate at every reconcile, even mid-run.
pub const LIVE: &[&str] = &["paused", "window"];

/// The configuration annotations (`serin.io/*` that serin reads, not those it writes).
pub fn of(annotations: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    annotations
        .iter()
        .filter(|(key, _)| key.strip_prefix(PREFIX).is_some_and(|k| keys::classify(k) != keys::KeyClass::Written))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The spec a reconcile works with.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub spec: RolloutSpec,
    /// Problems of the current annotations: the run is guarded (no progress) while any.
    pub broken: Vec<String>,
    /// Keys changed since the run started that wait for the next run.
    pub deferred: Vec<String>,
}

/// The spec for `annotations` given the run's configuration `kept` (`None`: no run in
/// flight, or one that predates kept configurations). `Err`: nothing valid to follow.
pub fn effective(
    name: &str,
    annotations: &BTreeMap<String, String>,
    kept: Option<&BTreeMap<String, String>>,
) -> Result<Effective, Vec<String>> {
    let current = spec::parse(name, annotations).map_err(|e| e.0.iter().map(ToString::to_string).collect::<Vec<_>>());
    let Some(kept) = kept else {
        return current.map(|spec| Effective { spec, broken: Vec::new(), deferred: Vec::new() });
    };
    let mut merged = kept.clone();
    for key in LIVE {
        let key = format!("{PREFIX}{key}");
        match annotations.get(&key) {
            Some(value) => merged.insert(key, value.clone()),
            None => merged.remove(&key),
        };
    }
    // A live key may itself be what broke: then the kept value holds.
    let spec = spec::parse(name, &merged).or_else(|_| spec::parse(name, kept));
    let Ok(spec) = spec else { return current.map(|spec| Effective { spec, broken: vec![], deferred: vec![] }) };
    let now = of(annotations);
    let deferred = now
        .keys()
        .chain(kept.keys())
        .filter(|k| !LIVE.iter().any(|live| k.strip_prefix(PREFIX) == Some(live)))
        .filter(|k| now.get(*k) != kept.get(*k))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let broken = current.err().unwrap_or_default();
    Ok(Effective { spec, broken, deferred })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string())).collect()
    }

    #[test]
    fn without_a_run_the_current_annotations_decide() {
        let a = annotations(&[("strategy", "canary"), ("ingress", "web")]);
        let e = effective("sark-canary", &a, None).unwrap();
        assert!(e.broken.is_empty() && e.deferred.is_empty());
        assert!(effective("sark-canary", &annotations(&[("strategy", "canary"), ("steps", "x")]), None).is_err());
    }

    #[test]
    fn a_run_keeps_its_names_and_defers_changes_but_pause_acts_at_once() {
        let kept = of(&annotations(&[("strategy", "canary"), ("ingress", "web"), ("status", "{}")]));
        assert!(!kept.contains_key("serin.io/status"), "serin's own annotations are not configuration");
        let now = annotations(&[("strategy", "canary"), ("ingress", "other"), ("paused", "true")]);
        let e = effective("sark-canary", &now, Some(&kept)).unwrap();
        let crate::spec::Strategy::Canary(c) = &e.spec.strategy else { panic!() };
        assert_eq!(c.ingress, "web", "the Ingress resolved at run start");
        assert!(e.spec.paused, "serin.io/paused is an operator control");
        assert_eq!(e.deferred, vec!["serin.io/ingress".to_string()]);
        assert!(e.broken.is_empty());
    }

    #[test]
    fn a_broken_configuration_mid_run_is_guarded_by_the_kept_one() {
        let kept = of(&annotations(&[("strategy", "canary"), ("steps", "10,50")]));
        let now = annotations(&[("strategy", "canary"), ("steps", "10,5O")]);
        let e = effective("sark-canary", &now, Some(&kept)).unwrap();
        let crate::spec::Strategy::Canary(c) = &e.spec.strategy else { panic!() };
        assert_eq!(c.steps, vec![10, 50]);
        assert_eq!(e.broken.len(), 1, "{:?}", e.broken);
        assert!(e.broken[0].contains("steps"), "{:?}", e.broken);
    }
}
