//! serin's own metrics (`GET /metrics`), with prometheus-client.
//!
//! Counters and histograms are updated where things happen (a verdict, a decision, a query,
//! a reconcile). The per-rollout gauges (`serin_rollouts`, `serin_canary_weight`) are
//! rebuilt from the rollouts' annotations at every scrape, and only the leader reports
//! them: a sum over serin's replicas then counts each rollout once.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::judge::Judgement;
use crate::rollout::{Action, Phase};

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every phase, so a phase with no rollout reports 0 rather than vanishing.
const PHASES: [Phase; 7] = [
    Phase::Pending,
    Phase::Progressing,
    Phase::Paused,
    Phase::Promoting,
    Phase::Succeeded,
    Phase::RolledBack,
    Phase::Invalid,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RolloutLabels {
    namespace: String,
    rollout: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    metric: String,
    verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    action: &'static str,
    trigger: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotifyLabels {
    /// `webhook` or `slack`, never the URL (a credential).
    format: &'static str,
    /// `sent`, `failed` (after every retry), `queue_full`.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// One rollout as the per-rollout gauges see it.
pub struct RolloutGauge<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub phase: Phase,
    /// Canary weight in percent; `None` for blue-green.
    pub canary_weight: Option<u8>,
}

pub struct Metrics {
    registry: Registry,
    rollouts: Family<PhaseLabels, Gauge>,
    canary_weight: Family<RolloutLabels, Gauge>,
    verdicts: Family<VerdictLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    query_duration: Histogram,
    query_errors: Counter,
    reconcile_duration: Histogram,
    reconcile_errors: Family<KindLabels, Counter>,
    leader: Gauge,
    notifications: Family<NotifyLabels, Counter>,
    /// Rebuilding the rollout gauges and encoding happen under one lock, so a scrape never
    /// sees a half-rebuilt family.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("serin");
        let rollouts = Family::<PhaseLabels, Gauge>::default();
        registry.register("rollouts", "Rollouts driven by this replica (the leader), by phase", rollouts.clone());
        let canary_weight = Family::<RolloutLabels, Gauge>::default();
        registry.register("canary_weight", "Canary weight in percent, per canary rollout", canary_weight.clone());
        let verdicts = Family::<VerdictLabels, Counter>::default();
        registry.register("verdicts", "Metric verdicts at analysis ticks, by metric and verdict", verdicts.clone());
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register("decisions", "Decisions taken, by action and trigger", decisions.clone());
        // 5 ms … ~41 s: a healthy Prometheus answers in milliseconds; the client gives up at 10 s.
        let query_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register("prometheus_query_duration_seconds", "Prometheus query latency", query_duration.clone());
        let query_errors = Counter::default();
        registry.register("prometheus_query_errors", "Prometheus queries that failed", query_errors.clone());
        let reconcile_duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register("reconcile_duration_seconds", "Duration of one reconcile", reconcile_duration.clone());
        let reconcile_errors = Family::<KindLabels, Counter>::default();
        registry.register("reconcile_errors", "Reconciles that failed, by kind of error", reconcile_errors.clone());
        let leader = Gauge::default();
        registry.register("leader", "1 while this replica holds the leader Lease (or runs alone)", leader.clone());
        let notifications = Family::<NotifyLabels, Counter>::default();
        registry.register(
            "notifications",
            "Notifications by receiver format and outcome (failed: dropped after every retry)",
            notifications.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        registry.register("build_info", "serin's version", build);
        Metrics {
            registry,
            rollouts,
            canary_weight,
            verdicts,
            decisions,
            query_duration,
            query_errors,
            reconcile_duration,
            reconcile_errors,
            leader,
            notifications,
            scrape: Mutex::new(()),
        }
    }

    pub fn judged(&self, judgement: &Judgement) {
        for m in &judgement.metrics {
            let labels = VerdictLabels { metric: m.metric.clone(), verdict: m.verdict.as_str() };
            self.verdicts.get_or_create(&labels).inc();
        }
    }

    pub fn decided<'a>(&self, actions: impl IntoIterator<Item = &'a Action>) {
        for action in actions {
            let trigger = match action {
                Action::Rollback { trigger, .. } => trigger.clone(),
                _ => String::new(),
            };
            self.decisions.get_or_create(&DecisionLabels { action: action.name(), trigger }).inc();
        }
    }

    pub fn queried(&self, took: Duration, ok: bool) {
        self.query_duration.observe(took.as_secs_f64());
        if !ok {
            self.query_errors.inc();
        }
    }

    pub fn reconciled(&self, took: Duration, error: Option<&'static str>) {
        self.reconcile_duration.observe(took.as_secs_f64());
        if let Some(kind) = error {
            self.reconcile_errors.get_or_create(&KindLabels { kind }).inc();
        }
    }

    /// One notification to a `format` receiver ended as `outcome`.
    pub fn notified(&self, format: &'static str, outcome: &'static str) {
        self.notifications.get_or_create(&NotifyLabels { format, outcome }).inc();
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub fn is_leader(&self) -> bool {
        self.leader.get() == 1
    }

    /// The text exposition, with the per-rollout gauges rebuilt from `rollouts` (empty on
    /// a follower).
    pub fn encode<'a>(&self, rollouts: impl IntoIterator<Item = RolloutGauge<'a>>) -> String {
        let _scrape = self.scrape.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.canary_weight.clear();
        for phase in PHASES {
            self.rollouts.get_or_create(&PhaseLabels { phase: phase.as_str() }).set(0);
        }
        for rollout in rollouts {
            self.rollouts.get_or_create(&PhaseLabels { phase: rollout.phase.as_str() }).inc();
            if let Some(weight) = rollout.canary_weight {
                let labels = RolloutLabels { namespace: rollout.namespace.into(), rollout: rollout.name.into() };
                self.canary_weight.get_or_create(&labels).set(i64::from(weight));
            }
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn rollout_gauges_are_rebuilt_at_each_scrape() {
        let metrics = Metrics::new();
        let first = metrics.encode([
            RolloutGauge {
                namespace: "production",
                name: "sark-canary",
                phase: Phase::Progressing,
                canary_weight: Some(25),
            },
            RolloutGauge { namespace: "production", name: "web", phase: Phase::Progressing, canary_weight: None },
        ]);
        assert_eq!(
            line(&first, "serin_rollouts{phase=\"Progressing\"}"),
            Some("serin_rollouts{phase=\"Progressing\"} 2")
        );
        assert!(first.contains("serin_canary_weight{namespace=\"production\",rollout=\"sark-canary\"} 25"), "{first}");
        let second = metrics.encode([]);
        assert_eq!(
            line(&second, "serin_rollouts{phase=\"Progressing\"}"),
            Some("serin_rollouts{phase=\"Progressing\"} 0")
        );
        assert!(!second.contains("sark-canary"), "a finished rollout's weight must go: {second}");
    }

    #[test]
    fn counters_histograms_and_leader_are_exposed() {
        let metrics = Metrics::new();
        metrics.decided(&[Action::Rollback { trigger: "outage".into(), reason: "x".into() }]);
        metrics.queried(Duration::from_millis(20), false);
        metrics.reconciled(Duration::from_millis(3), Some("conflict"));
        metrics.set_leader(true);
        metrics.notified("slack", "failed");
        let text = metrics.encode([]);
        for expected in [
            "serin_decisions_total{action=\"rollback\",trigger=\"outage\"} 1",
            "serin_prometheus_query_errors_total 1",
            "serin_prometheus_query_duration_seconds_count 1",
            "serin_reconcile_errors_total{kind=\"conflict\"} 1",
            "serin_leader 1",
            "serin_notifications_total{format=\"slack\",outcome=\"failed\"} 1",
            "serin_build_info{version=",
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
