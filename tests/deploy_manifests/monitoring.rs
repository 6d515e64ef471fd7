//! deploy/monitoring: the PrometheusRule (promtool check + the unit tests beside this
//! file), the ServiceMonitor's shape, and the Grafana dashboard; every query of both
//! reads only serin's own metrics (and `up`).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::manifests::{docs, find, metric_names, promtool, render, repo};

/// serin's metrics (fixed names, README "metrics"); histograms are read through their
/// `_bucket`/`_sum`/`_count` series.
const GAUGES_AND_COUNTERS: [&str; 10] = [
    "serin_rollouts",
    "serin_canary_weight",
    "serin_verdicts_total",
    "serin_decisions_total",
    "serin_prometheus_query_errors_total",
    "serin_reconcile_errors_total",
    "serin_leader",
    "serin_build_info",
    "serin_notifications_total",
    "up",
];
const HISTOGRAMS: [&str; 2] = ["serin_prometheus_query_duration_seconds", "serin_reconcile_duration_seconds"];

fn known_metric(name: &str) -> bool {
    GAUGES_AND_COUNTERS.contains(&name)
        || HISTOGRAMS.iter().any(|h| ["_bucket", "_sum", "_count"].iter().any(|suffix| name == format!("{h}{suffix}")))
}

fn assert_known_metrics(expr: &str, context: &str) {
    let names = metric_names(expr);
    assert!(!names.is_empty(), "{context}: reads no metric? {expr}");
    let unknown: Vec<&String> = names.iter().filter(|n| !known_metric(n)).collect();
    assert!(unknown.is_empty(), "{context}: {unknown:?} are not serin's metrics: {expr}");
}

#[test]
fn metric_names_finds_what_an_expression_reads() {
    let names = |expr: &str| metric_names(expr).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"histogram_quantile(0.95, sum by (le) (rate(serin_reconcile_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))"#
        ),
        ["serin_reconcile_duration_seconds_bucket"]
    );
    assert_eq!(names("max(serin_leader) < 1 or absent(serin_leader)"), ["serin_leader"]);
    assert_eq!(
        names(r#"sum by (trigger) (a_total{x="or b"} unless on (pod) group_left b offset 10m) > 0 and bool 1e3"#),
        ["a_total", "b"]
    );
    assert_eq!(names(r#"count without (version) (serin_buildinfo{version!=""})"#), ["serin_buildinfo"]);
    assert!(!known_metric("serin_buildinfo"), "a typo is caught");
    assert!(!known_metric("serin_reconcile_duration_seconds"), "a classic histogram has no bare series");
}

/// The PrometheusRule's spec, as a Prometheus rule file.
fn rule_spec() -> Value {
    let objects = docs(&render("deploy/monitoring"));
    find(&objects, "PrometheusRule", "serin")["spec"].clone()
}

fn rules(spec: &Value) -> impl Iterator<Item = &Value> {
    spec["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap())
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    let spec = rule_spec();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("serin-rules.yaml"), serde_yaml_ng::to_string(&spec).unwrap()).unwrap();
    // Syntax, and the annotations' templates.
    promtool(&["check", "rules", "serin-rules.yaml"], dir.path());

    // Unit tests compare annotations exactly: run them on the rules without.
    let mut bare = spec.clone();
    for group in bare["groups"].as_array_mut().unwrap() {
        for rule in group["rules"].as_array_mut().unwrap() {
            rule.as_object_mut().unwrap().remove("annotations");
        }
    }
    std::fs::write(dir.path().join("rules.yaml"), serde_yaml_ng::to_string(&bare).unwrap()).unwrap();
    let tests = repo().join("tests/deploy_manifests/alerts_test.yaml");
    std::fs::copy(&tests, dir.path().join("alerts_test.yaml")).unwrap();
    promtool(&["test", "rules", "alerts_test.yaml"], dir.path());

    // Every alert is covered by a unit test, and carries what a responder needs.
    let tested = std::fs::read_to_string(tests).unwrap();
    for rule in rules(&spec) {
        let alert = rule["alert"].as_str().expect("alerting rules only");
        assert!(tested.contains(&format!("alertname: {alert}")), "{alert} has no promtool unit test");
        assert_known_metrics(rule["expr"].as_str().unwrap(), alert);
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(["critical", "warning", "info"].contains(&severity), "{alert}: severity {severity:?}");
        for key in ["summary", "description"] {
            assert!(rule["annotations"][key].as_str().is_some_and(|s| s.len() > 10), "{alert}: {key}");
        }
    }
    let alerts: BTreeSet<&str> = rules(&spec).filter_map(|r| r["alert"].as_str()).collect();
    for wanted in [
        "SerinNoLeader",
        "SerinReconcileErrors",
        "SerinPrometheusQueryErrors",
        "SerinRolloutPausedTooLong",
        "SerinRollback",
        "SerinNotificationsFailing",
        "SerinDown",
    ] {
        assert!(alerts.contains(wanted), "missing alert {wanted}");
    }
}

#[test]
fn the_service_monitor_scrapes_the_serin_service() {
    let monitoring = docs(&render("deploy/monitoring"));
    let monitor = &find(&monitoring, "ServiceMonitor", "serin")["spec"];
    let base = docs(&render("deploy/base"));
    let service = find(&base, "Service", "serin");
    assert!(
        crate::manifests::selects(&monitor["selector"], &service["metadata"]["labels"]),
        "the ServiceMonitor selects the Service's labels"
    );
    let namespace = service["metadata"]["namespace"].clone();
    assert_eq!(monitor["namespaceSelector"], json!({"matchNames": [namespace]}));
    // No jobLabel: the job is the Service's name, which the alerts' up{job="serin"} uses.
    assert!(monitor["jobLabel"].is_null() && service["metadata"]["name"] == "serin");
    let endpoints = monitor["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1);
    let port = &endpoints[0]["port"];
    assert!(service["spec"]["ports"].as_array().unwrap().iter().any(|p| &p["name"] == port), "port {port}");
    assert_eq!(endpoints[0]["path"], "/metrics");
    let allowed = ["port", "path", "interval", "scrapeTimeout", "honorLabels", "relabelings", "metricRelabelings"];
    for key in endpoints[0].as_object().unwrap().keys() {
        assert!(allowed.contains(&key.as_str()), "unexpected endpoint field {key}");
    }
}

/// Every panel, rows' nested panels included.
fn all_panels(panels: &[Value]) -> Vec<&Value> {
    panels
        .iter()
        .flat_map(|p| std::iter::once(p).chain(all_panels(p["panels"].as_array().map_or(&[], Vec::as_slice))))
        .collect()
}

#[test]
fn the_grafana_dashboard_is_self_contained_and_reads_only_serins_metrics() {
    let text = std::fs::read_to_string(repo().join("deploy/monitoring/serin-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    // File provisioning (the Grafana sidecar) resolves no import inputs: the Prometheus is
    // a datasource variable, which a provisioned dashboard offers as a drop-down.
    assert!(dashboard.get("__inputs").is_none(), "no import-only inputs");
    assert!(!text.contains("DS_PROMETHEUS"), "no reference to an import input is left");
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let source = variables.iter().find(|v| v["type"] == "datasource").expect("a datasource variable");
    assert_eq!((&source["name"], &source["query"]), (&json!("datasource"), &json!("prometheus")));
    let datasource = json!({"type": "prometheus", "uid": "${datasource}"});

    let panels = all_panels(dashboard["panels"].as_array().unwrap());
    assert!(panels.len() >= 6);
    let ids: BTreeSet<i64> = panels.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    let mut exprs = Vec::new();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().unwrap();
        assert_eq!(panel["datasource"], datasource, "{title}: the panel's datasource is the variable");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}");
        for target in targets {
            assert_eq!(target["datasource"], datasource, "{title}: each query's datasource is the variable");
            exprs.push((title.to_string(), target["expr"].as_str().unwrap().to_string()));
        }
    }
    for annotation in dashboard["annotations"]["list"].as_array().unwrap() {
        assert_eq!(annotation["datasource"], datasource);
        exprs.push(("annotation".into(), annotation["expr"].as_str().unwrap().to_string()));
    }
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        assert_eq!(variable["datasource"], datasource, "variable {}", variable["name"]);
        let query = variable["definition"].as_str().unwrap();
        let (metric, label) =
            query.strip_prefix("label_values(").unwrap().trim_end_matches(')').split_once(',').unwrap();
        assert!(known_metric(metric.trim()), "variable {}: {query}", variable["name"]);
        assert!(!label.trim().is_empty());
    }
    // Every dashboard metric appears; every query is valid PromQL (checked by promtool as
    // recording rules, Grafana's variables replaced by what Grafana would put there).
    let mut rules = Vec::new();
    for (i, (title, expr)) in exprs.iter().enumerate() {
        assert_known_metrics(expr, title);
        let promql = expr
            .replace("$__rate_interval", "2m")
            .replace("$__range", "6h")
            .replace("${namespace:regex}", ".*")
            .replace("$namespace", ".*");
        assert!(!promql.contains('$'), "{title}: a variable promtool cannot check: {expr}");
        rules.push(json!({"record": format!("dashboard:query_{i}"), "expr": promql}));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(dir.path().join("dashboard.yaml"), serde_yaml_ng::to_string(&file).unwrap()).unwrap();
    promtool(&["check", "rules", "dashboard.yaml"], dir.path());
}
