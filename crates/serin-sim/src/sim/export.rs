//! What a simulated world looks like from outside: a recording (README, "Commands"), the input of
//! `serin replay --recording`, and the raw ingress-nginx counters in OpenMetrics text, to
//! backfill a real Prometheus with `promtool tsdb create-blocks-from openmetrics` and check
//! the templates' PromQL against the same traffic.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::source::recording::{RangeSeries, Recording};
use crate::time::unix_seconds;

use super::answer::QueryRole;
use super::latency::LE_LABELS;
use super::scenario::Scenario;
use super::scrape::{Quantity, Series};
use super::world::{Arm, World};

impl World {
    /// The `query_range` answer of every query in `roles` at each instant `start`,
    /// `start + step`, … ≤ `end`, each instant answered as [`World::answer`] does. Empty
    /// answers leave no point (so gaps are missing points); a query that never answered
    /// has no series. A zero `step` gives the single instant `start`. The recording names
    /// the scenario's candidate ([`Scenario::candidate`]), so a replay needs no manifest.
    pub fn to_recording(
        &mut self,
        roles: &BTreeMap<String, QueryRole>,
        window: Duration,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Recording {
        let mut instants = vec![start];
        if !step.is_zero() {
            let mut t = start;
            while let Some(next) = t.checked_add(step).filter(|n| *n <= end) {
                instants.push(next);
                t = next;
            }
        }
        let mut queries = BTreeMap::new();
        for (query, role) in roles {
            // Series keyed by their label set, points in time order.
            let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, String)>> = BTreeMap::new();
            for &at in &instants {
                for sample in self.answer(*role, at, window) {
                    series.entry(sample.labels).or_default().push((unix_seconds(at), format_value(sample.value)));
                }
            }
            let mut result: Vec<RangeSeries> =
                series.into_iter().map(|(metric, values)| RangeSeries { metric, values }).collect();
            // Prometheus orders `le` numerically in practice; keep that rather than string order.
            result.sort_by_key(|s| le_rank(&s.metric));
            queries.insert(query.clone(), result);
        }
        let deployment = Some(self.scenario().candidate());
        Recording { serin_recording: 1, start, end, step, queries, deployment, rollout_start: None }
    }

    /// The counters of every scrape so far, as ingress-nginx exposes them:
    /// `nginx_ingress_controller_requests` (status `200` / `500`) and
    /// `nginx_ingress_controller_request_duration_seconds` (`_bucket`, `_count`, `_sum`),
    /// labelled with `scenario.target`, one series per controller pod (`controller_pod`),
    /// sampled at that pod's scrape instants (`scenario.scrape`; Unix seconds). Canary-served
    /// series carry `canary="<namespace>-<canary service>-<port>"`; the main ones have no
    /// `canary` label (ingress-nginx exposes it empty, which Prometheus drops). A series
    /// starts at its first non-zero value, as a real counter appears with its first
    /// increment; gap instants emit nothing. Call [`World::advance_to`] first to export the
    /// whole scenario.
    pub fn to_openmetrics(&self, scenario: &Scenario) -> String {
        let target = &scenario.target;
        let canary_upstream = format!("{}-{}-{}", target.namespace, target.canary_service, target.port);
        let base_labels = |arm: Arm| {
            let mut labels = vec![
                ("namespace", target.namespace.clone()),
                ("ingress", target.ingress.clone()),
                ("service", target.stable.clone()),
            ];
            if arm == Arm::Canary {
                labels.push(("canary", canary_upstream.clone()));
            }
            labels
        };
        let mut out = String::new();
        out.push_str("# HELP nginx_ingress_controller_requests The total number of client requests\n");
        out.push_str("# TYPE nginx_ingress_controller_requests counter\n");
        for arm in [Arm::Baseline, Arm::Canary] {
            for (status, count) in [("200", Quantity::Ok), ("500", Quantity::Errors)] {
                let mut labels = base_labels(arm);
                labels.insert(3, ("status", status.to_string()));
                self.write_series(&mut out, "nginx_ingress_controller_requests", &labels, arm, Series::counter(count));
            }
        }
        let family = "nginx_ingress_controller_request_duration_seconds";
        let _ = writeln!(out, "# HELP {family} The request processing time in seconds");
        let _ = writeln!(out, "# TYPE {family} histogram");
        for arm in [Arm::Baseline, Arm::Canary] {
            for (k, le) in LE_LABELS.iter().enumerate() {
                let mut labels = base_labels(arm);
                labels.push(("le", le.to_string()));
                let bucket = Series::histogram(Quantity::Bucket(k));
                self.write_series(&mut out, &format!("{family}_bucket"), &labels, arm, bucket);
            }
            let labels = base_labels(arm);
            let count = Series::histogram(Quantity::Requests);
            self.write_series(&mut out, &format!("{family}_count"), &labels, arm, count);
            let sum = Series::histogram(Quantity::LatencySum);
            self.write_series(&mut out, &format!("{family}_sum"), &labels, arm, sum);
        }
        out.push_str("# EOF\n");
        out
    }

    /// Writes one series per controller pod, each contiguous and in time order: the pod's
    /// share of the series' value at each of its scrape instants, from the first where the
    /// series exists (see [`Series`]).
    fn write_series(&self, out: &mut String, name: &str, labels: &[(&str, String)], arm: Arm, series: Series) {
        let pods = self.scenario().scrape.pods.max(1);
        let labels = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect::<Vec<_>>().join(",");
        for pod in 0..pods {
            for (at, counters) in self.scrape_points(pod, arm, self.origin(), self.now()) {
                if series.creator.of(&counters) <= 0.0 {
                    continue;
                }
                let v = format_value(series.value.of(&counters) / f64::from(pods));
                let _ = writeln!(
                    out,
                    "{name}{{{labels},controller_pod=\"ingress-nginx-controller-{pod}\"}} {v} {}",
                    unix_seconds(at)
                );
            }
        }
    }
}

/// Position of a series' `le` in the bucket list (series without `le` first).
fn le_rank(metric: &BTreeMap<String, String>) -> usize {
    metric.get("le").and_then(|le| LE_LABELS.iter().position(|l| l == le)).map(|i| i + 1).unwrap_or(0)
}

/// Prometheus' float text: `12`, `0.5`, `NaN`, `+Inf`.
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        v.to_string()
    }
}

/// OpenMetrics label-value escaping.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::answer::Measure;
    use crate::sim::world::tests::scenario;

    const MINUTE: Duration = Duration::from_secs(60);

    fn roles() -> BTreeMap<String, QueryRole> {
        BTreeMap::from([
            ("ct".to_string(), QueryRole { arm: Arm::Canary, measure: Measure::Total, form: crate::sim::Form::Delta }),
            (
                "bt".to_string(),
                QueryRole { arm: Arm::Baseline, measure: Measure::Total, form: crate::sim::Form::Delta },
            ),
            (
                "ch".to_string(),
                QueryRole { arm: Arm::Canary, measure: Measure::Buckets, form: crate::sim::Form::Delta },
            ),
        ])
    }

    #[test]
    fn recording_matches_answers_and_omits_gaps() {
        let s = scenario("gaps: [{from: 8m, to: 25m}]\n");
        let mut w = World::new(&s, None);
        w.advance_to(s.start + 5 * MINUTE);
        w.set_weight(10);
        let (start, end) = (s.start, s.start + 30 * MINUTE);
        let rec = w.to_recording(&roles(), MINUTE, start, end, MINUTE);
        assert_eq!(rec.serin_recording, 1);
        let bt = &rec.queries["bt"];
        assert_eq!(bt.len(), 1);
        assert!(bt[0].metric.is_empty());
        // 31 instants from 0m to 30m; none at 0m (no data yet), none at 13m..=24m (gap; until
        // 12m Prometheus' 5-minute lookback still finds the scrapes before 8m).
        assert_eq!(bt[0].values.len(), 31 - 1 - 12);
        let ch = &rec.queries["ch"];
        assert_eq!(ch.len(), 12);
        assert_eq!(ch[0].metric["le"], "0.005");
        assert_eq!(ch[11].metric["le"], "+Inf");
        // The canary series appear once the canary has traffic.
        let first = rec.queries["ct"][0].values[0].0;
        assert_eq!(first, unix_seconds(s.start + 6 * MINUTE));
        let mut again = World::new(&s, None);
        again.advance_to(s.start + 5 * MINUTE);
        again.set_weight(10);
        assert_eq!(again.to_recording(&roles(), MINUTE, start, end, MINUTE), rec);
    }

    #[test]
    fn openmetrics_is_well_formed() {
        let s = scenario("gaps: [{from: 8m, to: 10m}]\n");
        let mut w = World::new(&s, None);
        w.advance_to(s.start + 5 * MINUTE);
        w.set_weight(25);
        w.advance_to(s.end());
        let text = w.to_openmetrics(&s);
        assert!(text.ends_with("# EOF\n"));
        let mut seen: Vec<String> = Vec::new();
        let mut last: Option<(String, f64, f64)> = None;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, rest) = line.rsplit_once('}').unwrap();
            let mut parts = rest.split_whitespace();
            let value: f64 = parts.next().unwrap().parse().unwrap();
            let ts: f64 = parts.next().unwrap().parse().unwrap();
            match &last {
                Some((name, v, t)) if name == series => {
                    assert!(ts > *t && value >= *v, "{line}");
                }
                _ => {
                    assert!(!seen.iter().any(|s| s == series), "series {series} not contiguous");
                    seen.push(series.to_string());
                }
            }
            if series.starts_with("nginx_ingress_controller_requests") {
                assert_eq!(value.fract(), 0.0);
            }
            last = Some((series.to_string(), value, ts));
        }
        // 2 versions × (2 statuses + 12 buckets + count + sum), one pod.
        assert_eq!(seen.len(), 32);
        assert!(text.contains("canary=\"production-sark-canary-80\""));
        let gap_ts = unix_seconds(s.start + 9 * MINUTE).to_string();
        assert!(!text.contains(&format!(" {gap_ts}\n")));
    }
}
