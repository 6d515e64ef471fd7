//! Which objects and pods each rollout takes for itself, and where two claims collide.
//! Pure: the claims are built by the caller (`serin lint` from manifests; the daemon
//! can build them from its caches), [`conflicts`] only compares.
//!
//! Two kinds of collision make a rollout wrong however well its own configuration reads:
//!
//! - **a shared object**: two rollouts both write the same Deployment, Ingress or Service
//!   (two candidates on one stable: each promotion overwrites the other's, each canary
//!   Ingress routes a share of the same host);
//! - **a selector overlap**: a Service that carries one side's traffic selects the other
//!   side's pods (a stable Service selecting canary pods gives the canary more traffic than
//!   its weight and mixes its errors into the baseline; a canary Service selecting stable
//!   pods judges the stable as the canary).
//!
//! ```
//! use std::collections::BTreeMap;
//! use serin_core::target::claims::{Claims, Side, conflicts};
//!
//! let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
//!     pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
//! };
//! let mut a = Claims::new("production", "sark-canary");
//! a.object("Deployment", "sark", "stable Deployment");
//! a.pods("sark-canary", Side::Canary, labels(&[("app", "sark"), ("version", "canary")]));
//! a.service("sark", Side::Stable, labels(&[("app", "sark")])); // selects the canary too
//! let mut b = Claims::new("production", "sark-canary-2");
//! b.object("Deployment", "sark", "stable Deployment");
//! let found = conflicts(&[a, b]);
//! assert_eq!(found.len(), 2);
//! assert!(found[0].message.contains("Deployment production/sark is the stable Deployment of both"));
//! assert!(found[1].message.contains("selects the canary pods of Deployment production/sark-canary"));
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::spec::{RolloutSpec, Strategy, canary_ingress_name};

/// Which traffic a Service carries, or which version pods run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Stable,
    Canary,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Stable => "stable",
            Side::Canary => "canary",
        })
    }
}

/// One rollout's claims, in its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub namespace: String,
    /// The candidate Deployment's name: the rollout.
    pub rollout: String,
    /// Objects the rollout writes or takes over: (kind, name, its role, e.g. "stable Deployment").
    pub objects: Vec<(String, String, String)>,
    /// Services carrying one side's traffic, with their selectors.
    pub services: Vec<(String, Side, BTreeMap<String, String>)>,
    /// Deployments whose pods are one side, with their pod labels.
    pub pods: Vec<(String, Side, BTreeMap<String, String>)>,
}

impl Claims {
    pub fn new(namespace: &str, rollout: &str) -> Claims {
        Claims {
            namespace: namespace.to_string(),
            rollout: rollout.to_string(),
            objects: Vec::new(),
            services: Vec::new(),
            pods: Vec::new(),
        }
    }

    pub fn object(&mut self, kind: &str, name: &str, role: &str) {
        self.objects.push((kind.to_string(), name.to_string(), role.to_string()));
    }

    pub fn service(&mut self, name: &str, side: Side, selector: BTreeMap<String, String>) {
        self.services.push((name.to_string(), side, selector));
    }

    pub fn pods(&mut self, deployment: &str, side: Side, labels: BTreeMap<String, String>) {
        self.pods.push((deployment.to_string(), side, labels));
    }

    /// `namespace/rollout`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.namespace, self.rollout)
    }

    /// The objects `spec` has the rollout write or take over, by name: a canary's stable
    /// Deployment (promotion writes it), the route it splits (the stable Ingress and the
    /// canary Ingress `<ingress>-canary`, or the HTTPRoute) and its canary Service; a
    /// blue-green rollout's Service (its selector is flipped). `serin lint` and the daemon
    /// both claim from this.
    pub fn spec_objects(&mut self, spec: &RolloutSpec) {
        match &spec.strategy {
            Strategy::Canary(c) => {
                self.object("Deployment", &c.stable, "stable Deployment");
                match &c.route {
                    Some(route) => self.object("HTTPRoute", route, "stable route"),
                    None => {
                        self.object("Ingress", &c.ingress, "stable Ingress");
                        self.object("Ingress", &canary_ingress_name(&c.ingress), "canary Ingress");
                    }
                }
                self.object("Service", &c.canary_service, "canary Service");
            }
            Strategy::BlueGreen(bg) => self.object("Service", &bg.service, "blue-green Service"),
        }
    }
}

/// One collision, naming both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The rollouts involved (`namespace/name`), one or two.
    pub rollouts: Vec<String>,
    pub message: String,
}

/// Every collision among `rollouts`: shared objects first, then selector overlaps, each
/// once, in the order of the claims.
pub fn conflicts(rollouts: &[Claims]) -> Vec<Conflict> {
    let mut found = Vec::new();
    for (i, a) in rollouts.iter().enumerate() {
        for b in &rollouts[i + 1..] {
            found.extend(shared_objects(a, b));
        }
    }
    for holder in rollouts {
        for (service, side, selector) in &holder.services {
            if selector.is_empty() {
                continue;
            }
            for owner in rollouts.iter().filter(|o| o.namespace == holder.namespace) {
                for (deployment, pod_side, labels) in &owner.pods {
                    let selected = selector.iter().all(|(k, v)| labels.get(k) == Some(v));
                    if pod_side == side || !selected {
                        continue;
                    }
                    let (ns, leak) = (&holder.namespace, leak(*side));
                    found.push(Conflict {
                        rollouts: names(holder, owner),
                        message: format!(
                            "Service {ns}/{service} ({side} Service of {}) selects the {pod_side} pods of Deployment \
                             {ns}/{deployment} ({} of {}): {leak}",
                            holder.name(),
                            if *pod_side == Side::Stable { "stable" } else { "candidate" },
                            owner.name(),
                        ),
                    });
                }
            }
        }
    }
    found
}

fn shared_objects(a: &Claims, b: &Claims) -> Vec<Conflict> {
    let each = |shared: String| Conflict {
        rollouts: vec![a.name(), b.name()],
        message: format!("{shared}: each would overwrite the other's work"),
    };
    shared(a, b).into_iter().map(each).collect()
}

/// Each object both `a` and `b` claim, in `a`'s order, in words: "Deployment ns/sark is the
/// stable Deployment of both ns/a and ns/b".
pub fn shared(a: &Claims, b: &Claims) -> Vec<String> {
    if a.namespace != b.namespace {
        return Vec::new();
    }
    let mut found = Vec::new();
    for (kind, name, role) in &a.objects {
        let Some((_, _, other)) = b.objects.iter().find(|(k, n, _)| k == kind && n == name) else { continue };
        let (ns, a_name, b_name) = (&a.namespace, a.name(), b.name());
        found.push(if role == other {
            format!("{kind} {ns}/{name} is the {role} of both {a_name} and {b_name}")
        } else {
            format!("{kind} {ns}/{name} is the {role} of {a_name} and the {other} of {b_name}")
        });
    }
    found
}

fn names(a: &Claims, b: &Claims) -> Vec<String> {
    if a.name() == b.name() { vec![a.name()] } else { vec![a.name(), b.name()] }
}

fn leak(service_side: Side) -> &'static str {
    match service_side {
        Side::Stable => {
            "canary pods would serve the stable's traffic beyond the canary weight, and their errors count for the baseline"
        }
        Side::Canary => "the canary's share and its metrics would include stable pods",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn canary(name: &str, stable: &str) -> Claims {
        let mut c = Claims::new("production", name);
        c.object("Deployment", stable, "stable Deployment");
        c.object("Ingress", stable, "stable Ingress");
        c.object("Service", name, "canary Service");
        c.pods(stable, Side::Stable, labels(&[("app", stable), ("version", "stable")]));
        c.pods(name, Side::Canary, labels(&[("app", stable), ("version", "canary")]));
        c.service(stable, Side::Stable, labels(&[("app", stable), ("version", "stable")]));
        c.service(name, Side::Canary, labels(&[("app", stable), ("version", "canary")]));
        c
    }

    #[test]
    fn separate_rollouts_do_not_conflict() {
        assert_eq!(conflicts(&[canary("sark-canary", "sark"), canary("web-canary", "web")]), vec![]);
    }

    #[test]
    fn two_candidates_on_one_stable_share_its_deployment_and_ingress() {
        let found = conflicts(&[canary("sark-canary", "sark"), canary("sark-v2", "sark")]);
        let text: Vec<&str> = found.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(found.len(), 2, "{text:#?}");
        assert!(text[0].starts_with(
            "Deployment production/sark is the stable Deployment of both production/sark-canary and production/sark-v2"
        ));
        assert!(text[1].starts_with("Ingress production/sark is the stable Ingress of both"));
        assert_eq!(found[0].rollouts, ["production/sark-canary", "production/sark-v2"]);
    }

    #[test]
    fn a_different_role_on_one_object_is_named_on_each_side() {
        let mut other = Claims::new("production", "web-canary");
        other.object("Service", "sark-canary", "blue-green Service");
        let found = conflicts(&[canary("sark-canary", "sark"), other]);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.starts_with(
            "Service production/sark-canary is the canary Service of production/sark-canary and the blue-green Service of production/web-canary"
        ), "{}", found[0].message);
    }

    #[test]
    fn broad_selectors_select_the_other_sides_pods() {
        let mut c = canary("sark-canary", "sark");
        c.services = vec![
            ("sark".into(), Side::Stable, labels(&[("app", "sark")])),
            ("sark-canary".into(), Side::Canary, labels(&[("app", "sark")])),
        ];
        let found = conflicts(&[c]);
        let text: Vec<&str> = found.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(found.len(), 2, "{text:#?}");
        assert!(text[0].starts_with("Service production/sark (stable Service of production/sark-canary) selects the canary pods of Deployment production/sark-canary (candidate of production/sark-canary)"));
        assert!(text[1].starts_with("Service production/sark-canary (canary Service of production/sark-canary) selects the stable pods of Deployment production/sark (stable of production/sark-canary)"));
        assert_eq!(found[0].rollouts, ["production/sark-canary"]);
    }

    #[test]
    fn a_spec_claims_the_objects_serin_writes_for_it() {
        let parse = |pairs: &[(&str, &str)]| {
            let annotations = pairs.iter().map(|(k, v)| (format!("serin.io/{k}"), v.to_string())).collect();
            crate::spec::parse("sark-canary", &annotations).unwrap()
        };
        let objects = |spec| {
            let mut c = Claims::new("production", "sark-canary");
            c.spec_objects(&spec);
            c.objects.into_iter().map(|(kind, name, _)| format!("{kind}/{name}")).collect::<Vec<_>>()
        };
        let nginx = objects(parse(&[("strategy", "canary")]));
        assert_eq!(nginx, ["Deployment/sark", "Ingress/sark", "Ingress/sark-canary", "Service/sark-canary"]);
        let gateway = objects(parse(&[("strategy", "canary"), ("route", "sark-route")]));
        assert_eq!(gateway, ["Deployment/sark", "HTTPRoute/sark-route", "Service/sark-canary"]);
        let blue_green = objects(parse(&[("strategy", "blue-green"), ("service", "sark")]));
        assert_eq!(blue_green, ["Service/sark"]);
    }

    #[test]
    fn other_namespaces_and_empty_selectors_are_not_compared() {
        let mut a = canary("sark-canary", "sark");
        a.services = vec![("sark".into(), Side::Stable, BTreeMap::new())];
        let mut b = canary("sark-canary", "sark");
        b.namespace = "staging".into();
        assert_eq!(conflicts(&[a, b]), vec![]);
    }
}
