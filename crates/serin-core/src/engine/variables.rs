//! The variables templates are rendered with (`analysis-templates/README.md`).

use std::collections::BTreeMap;

use crate::spec::{RolloutSpec, Strategy};
use crate::target::Target;
use crate::time::prometheus_duration;

/// `namespace`, `deployment`, `stable`, `ingress`, `service`, `canary_service`, `interval`,
/// blue-green's `slot_label` / `candidate_slot` / `previous_slot`, then every `arg`
/// (args win, so a user can correct any of them).
pub fn variables(spec: &RolloutSpec, target: &Target) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let mut set = |k: &str, v: &str| {
        vars.insert(k.to_string(), v.to_string());
    };
    set("namespace", &target.namespace);
    set("deployment", &target.name);
    set("interval", &prometheus_duration(spec.interval));
    match &spec.strategy {
        Strategy::Canary(c) => {
            set("stable", &c.stable);
            set("ingress", &c.ingress);
            if let Some(route) = &c.route {
                set("route", route);
            }
            set("service", &c.stable);
            set("canary_service", &c.canary_service);
        }
        Strategy::BlueGreen(bg) => {
            // Blue-green has no stable Deployment or Ingress of its own: the flipped
            // Service stands in for all of them.
            for key in ["stable", "ingress", "service", "canary_service"] {
                set(key, &bg.service);
            }
            set("slot_label", &bg.slot_label);
            if let Some(slot) = target.pod_labels.get(&bg.slot_label) {
                set("candidate_slot", slot);
            }
        }
    }
    for (k, v) in &spec.args {
        vars.insert(k.clone(), v.clone());
    }
    vars
}
