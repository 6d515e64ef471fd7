//! Tests of template parsing and validation.

use std::time::Duration;

use super::*;
use crate::template::TriggerAction;
use crate::template::catalog::BUILTIN_SOURCES;
use crate::template::schema::parse;

const GOOD: &str = r#"
name: demo
description: demo template
args:
  port: {default: 80, description: the port}
  slot: {description: no default}
metrics:
  - name: error-rate
    ratio:
      canary: {bad: 'bad{p="{{port}}"}', total: 'total{s="{{ slot }}"}'}
      max: 0.02
  - name: latency
    min-requests: 50
    histogram:
      canary: "sum by (le) (x)"
      max: {p99.9: 2s, p95: 0.5}
  - name: cpu
    value: {query: "cpu", min: 0, max: 0.9}
triggers:
  - {name: err, metric: error-rate, above: 5%, for: 5m, action: rollback}
  - {name: p99, metric: latency, above: {p99: 2s}, for: 5m, action: rollback-if-worse}
  - {name: down, metric: error-rate, outage: true, action: rollback}
  - {name: hot, metric: cpu, out-of-range: true, for: 2m, action: pause}
"#;

fn problems(text: &str) -> String {
    match parse(text, "test.yaml") {
        Ok(t) => panic!("expected an error, got {t:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_problem(text: &str, needle: &str) {
    let e = problems(text);
    assert!(e.contains(needle), "{e:?} lacks {needle:?}");
}

#[test]
fn good_template_parses_into_domain_types() {
    let t = parse(GOOD, "test.yaml").unwrap();
    assert_eq!(t.name, "demo");
    assert_eq!(t.args[0].default.as_deref(), Some("80"));
    assert_eq!(t.args[1].default, None);
    let MetricKind::Ratio(r) = &t.metrics[0].kind else { panic!() };
    assert_eq!(r.max, 0.02);
    assert!(r.baseline.is_none());
    assert_eq!(t.metrics[0].min_requests, DEFAULT_MIN_REQUESTS);
    let MetricKind::Histogram(h) = &t.metrics[1].kind else { panic!() };
    assert_eq!(t.metrics[1].min_requests, 50);
    assert_eq!(
        h.max,
        vec![QuantileLimit { quantile: 0.95, seconds: 0.5 }, QuantileLimit { quantile: 0.999, seconds: 2.0 }]
    );
    assert_eq!(h.max[1].label(), "p99.9");
    assert_eq!(t.metrics[2].min_requests, 0);
    assert_eq!(t.triggers[0].condition, Condition::RateAbove(0.05));
    assert_eq!(t.triggers[0].for_duration, Duration::from_secs(300));
    assert_eq!(t.triggers[1].condition, Condition::QuantileAbove(QuantileLimit { quantile: 0.99, seconds: 2.0 }));
    assert_eq!(t.triggers[1].action, TriggerAction::RollbackIfWorse);
    assert_eq!(t.triggers[2].condition, Condition::Outage);
    assert_eq!(t.triggers[2].for_duration, Duration::ZERO);
    assert_eq!(t.triggers[3].condition, Condition::ValueOutOfRange);
}

#[test]
fn shipped_templates_encode_guide_001_triggers() {
    for (file, text) in BUILTIN_SOURCES {
        let t = parse(text, file).unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(&str, &str, Condition, u64, TriggerAction)> = t
            .triggers
            .iter()
            .map(|t| (t.name.as_str(), t.metric.as_str(), t.condition.clone(), t.for_duration.as_secs(), t.action))
            .collect();
        let q = |quantile, seconds| Condition::QuantileAbove(QuantileLimit { quantile, seconds });
        assert_eq!(
            got,
            vec![
                ("error-rate-critical", "error-rate", Condition::RateAbove(0.05), 300, TriggerAction::Rollback),
                ("latency-p99-critical", "latency", q(0.99, 2.0), 300, TriggerAction::Rollback),
                ("outage", "error-rate", Condition::Outage, 0, TriggerAction::Rollback),
                ("error-rate-elevated", "error-rate", Condition::RateAbove(0.01), 600, TriggerAction::RollbackIfWorse),
                ("latency-p95-elevated", "latency", q(0.95, 0.5), 600, TriggerAction::RollbackIfWorse),
            ],
            "{file}"
        );
        assert!(t.metrics.iter().all(|m| m.min_requests >= DEFAULT_MIN_REQUESTS));
    }
}

#[test]
fn unknown_fields_are_refused_with_the_line() {
    let e = problems(&GOOD.replace("    ratio:", "    ratoi:"));
    assert!(e.contains("test.yaml") && e.contains("ratoi") && e.contains("line"), "{e}");
}

#[test]
fn each_validation_error() {
    assert_problem(&GOOD.replace("metric: cpu", "metric: memory"), "unknown metric \"memory\"");
    assert_problem(&GOOD.replace("above: 5%", "above: {p99: 2s}"), "does not fit ratio metric");
    assert_problem(&GOOD.replace("above: {p99: 2s}", "above: 5%"), "does not fit histogram metric");
    assert_problem(&GOOD.replace("out-of-range: true", "outage: true"), "does not fit value metric");
    assert_problem(&GOOD.replace("max: 0.02", "max: 2"), "ratio.max 2: out of range");
    assert_problem(&GOOD.replace("max: 0.02", "max: 150%"), "out of range");
    assert_problem(&GOOD.replace("max: 0.02", "max: lots"), "expected a percentage");
    assert_problem(&GOOD.replace("p99.9: 2s", "q99: 2s"), "histogram.max.q99: expected a quantile");
    assert_problem(&GOOD.replace("p99.9: 2s", "p100: 2s"), "expected a quantile");
    assert_problem(&GOOD.replace("p99.9: 2s", "p99.9: slow"), "expected a latency");
    assert_problem(&GOOD.replace("for: 5m, action: rollback}", "for: soon, action: rollback}"), "for \"soon\"");
    assert_problem(&GOOD.replace("\"sum by (le) (x)\"", "\"  \""), "a query is empty");
    assert_problem(&GOOD.replace("name: cpu", "name: latency"), "duplicate metric name");
    assert_problem(&GOOD.replace("name: hot", "name: err"), "duplicate trigger name");
    assert_problem(&GOOD.replace("{{ slot }}", "{{ slot"), "unclosed");
    assert_problem(&GOOD.replace("min: 0, max: 0.9", "min: 1, max: 0.9"), "above value.max");
    assert_problem(&GOOD.replace("name: demo", "name: Demo_1"), "name \"Demo_1\"");
    assert_problem(&GOOD.replace("  port:", "  namespace:"), "built-in variable");
    assert_problem(&GOOD.replace("outage: true, action", "action"), "exactly one condition");
    assert_problem(&GOOD.replace("action: pause", "action: explode"), "explode");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text =
        GOOD.replace("metric: cpu", "metric: memory").replace("max: 0.02", "max: 2").replace("name: hot", "name: err");
    let e = problems(&text);
    assert_eq!(e.matches("; ").count(), 2, "{e}");
}

#[test]
fn a_metric_needs_exactly_one_kind() {
    let text = "name: x\nmetrics:\n  - name: m\n    value: {query: q, max: 1}\n    ratio: {canary: {bad: b, total: t}, max: 1%}\n";
    assert_problem(text, "exactly one of ratio, histogram, value (found 2)");
    assert_problem("name: x\nmetrics: []\n", "at least one metric");
}

#[test]
fn quantiles_and_fractions() {
    assert_eq!(quantile("p95"), Ok(0.95));
    assert_eq!(quantile("p99.9"), Ok(0.999));
    assert_eq!(quantile("p5"), Ok(0.05));
    for bad in ["95", "p", "p0", "p100", "p99.", "p-1", "pxx"] {
        assert!(quantile(bad).is_err(), "{bad}");
    }
    assert_eq!(fraction(&Scalar::Text("1%".into())), Ok(0.01));
    assert_eq!(fraction(&Scalar::Number(0.01)), Ok(0.01));
    assert!(fraction(&Scalar::Number(0.0)).is_err());
    assert_eq!(seconds(&Scalar::Text("500ms".into())), Ok(0.5));
}
