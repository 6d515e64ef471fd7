//! Tests of [`parse`](super::parse): one per default, one per kind of error.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (format!("serin.io/{k}"), v.to_string())).collect()
}

fn canary_ok(pairs: &[(&str, &str)]) -> (RolloutSpec, CanarySpec) {
    let mut all = vec![("strategy", "canary")];
    all.extend_from_slice(pairs);
    let spec = parse("sark-canary", &ann(&all)).unwrap_or_else(|e| panic!("{e}"));
    match spec.strategy.clone() {
        Strategy::Canary(c) => (spec, c),
        Strategy::BlueGreen(_) => panic!("not canary"),
    }
}

fn blue_green_ok(pairs: &[(&str, &str)]) -> (RolloutSpec, BlueGreenSpec) {
    let mut all = vec![("strategy", "blue-green"), ("service", "sark")];
    all.extend_from_slice(pairs);
    let spec = parse("sark-green", &ann(&all)).unwrap_or_else(|e| panic!("{e}"));
    match spec.strategy.clone() {
        Strategy::BlueGreen(b) => (spec, b),
        Strategy::Canary(_) => panic!("not blue-green"),
    }
}

/// The errors of a parse that must fail.
fn errors(deployment: &str, pairs: &[(&str, &str)]) -> Vec<SpecError> {
    match parse(deployment, &ann(pairs)) {
        Ok(spec) => panic!("expected errors, got {spec:?}"),
        Err(SpecErrors(e)) => e,
    }
}

fn one_error(deployment: &str, pairs: &[(&str, &str)], annotation: &str, needle: &str) {
    let e = errors(deployment, pairs);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].annotation, format!("serin.io/{annotation}"));
    let text = e[0].to_string();
    assert!(text.contains(needle), "{text:?} lacks {needle:?}");
}

#[test]
fn canary_defaults() {
    let (spec, c) = canary_ok(&[]);
    assert_eq!(spec.analysis, vec!["nginx-canary"]);
    assert_eq!(spec.interval, Duration::from_secs(60));
    assert_eq!(spec.progress_deadline, Duration::from_secs(600));
    assert!(spec.windows.is_always());
    assert!(!spec.dry_run && !spec.paused);
    assert_eq!(spec.retry, None);
    assert!(spec.args.is_empty());
    assert_eq!(c.stable, "sark");
    assert_eq!(c.ingress, "sark");
    assert_eq!(c.canary_service, "sark-canary");
    assert_eq!(c.steps, vec![10, 25, 50, 100]);
    assert_eq!(c.step_min, Duration::from_secs(300));
    assert_eq!(c.step_max, Duration::from_secs(1800));
    assert_eq!(c.on_inconclusive, OnInconclusive::Hold);
    assert!(!c.scale_with_weight);
    assert_eq!(c.routing, Routing::Weight);
    assert_eq!(spec.strategy_name(), "canary");
}

#[test]
fn canary_values() {
    let (spec, c) = canary_ok(&[
        ("analysis", "nginx-canary, extra"),
        ("arg.port", "8080"),
        ("interval", "30s"),
        ("progress-deadline", "15m"),
        ("window", "* * 9-17 * * Mon-Fri"),
        ("dry-run", "true"),
        ("paused", "true"),
        ("retry", "2"),
        ("stable", "sark-main"),
        ("ingress", "sark-ing"),
        ("canary-service", "sark-next"),
        ("steps", "5%,20,100"),
        ("step-min", "1m"),
        ("step-max", "1h30m"),
        ("on-inconclusive", "advance"),
        ("scale-with-weight", "true"),
        ("header", "X-Canary=always"),
    ]);
    assert_eq!(spec.analysis, vec!["nginx-canary", "extra"]);
    assert_eq!(spec.args.get("port").map(String::as_str), Some("8080"));
    assert_eq!(spec.interval, Duration::from_secs(30));
    assert_eq!(spec.progress_deadline, Duration::from_secs(900));
    assert_eq!(spec.windows.patterns(), ["* * 9-17 * * Mon-Fri"]);
    assert!(spec.dry_run && spec.paused);
    assert_eq!(spec.retry.as_deref(), Some("2"));
    assert_eq!(
        (c.stable.as_str(), c.ingress.as_str(), c.canary_service.as_str()),
        ("sark-main", "sark-ing", "sark-next")
    );
    assert_eq!(c.steps, vec![5, 20, 100]);
    assert_eq!((c.step_min, c.step_max), (Duration::from_secs(60), Duration::from_secs(5400)));
    assert_eq!(c.on_inconclusive, OnInconclusive::Advance);
    assert!(c.scale_with_weight);
    assert_eq!(c.routing, Routing::Header { name: "X-Canary".into(), value: Some("always".into()) });
}

#[test]
fn an_http_route_instead_of_an_ingress() {
    let (_, c) = canary_ok(&[("route", "sark-route"), ("header", "X-Canary")]);
    assert_eq!(c.route.as_deref(), Some("sark-route"));
    let (spec, _) = canary_ok(&[("route", "sark-route")]);
    assert_eq!(spec.analysis, vec!["app-canary"], "ingress-nginx's metrics are not there behind a Gateway");
    assert_eq!(c.routing, Routing::Header { name: "X-Canary".into(), value: None });
    let (_, c) = canary_ok(&[]);
    assert_eq!(c.route, None);
    one_error("sark-canary", &[("strategy", "canary"), ("ingress", "sark"), ("route", "sark")], "route", "not both");
    one_error("sark-canary", &[("strategy", "canary"), ("route", "Not_A_Name")], "route", "object name");
}

#[test]
fn ingress_defaults_to_the_given_stable() {
    let (_, c) = canary_ok(&[("stable", "sark-main")]);
    assert_eq!(c.ingress, "sark-main");
}

#[test]
fn header_without_value_and_cookie() {
    let (_, c) = canary_ok(&[("header", "X-Canary")]);
    assert_eq!(c.routing, Routing::Header { name: "X-Canary".into(), value: None });
    let (_, c) = canary_ok(&[("cookie", "canary")]);
    assert_eq!(c.routing, Routing::Cookie { name: "canary".into() });
}

#[test]
fn blue_green_defaults() {
    let (spec, b) = blue_green_ok(&[]);
    assert_eq!(spec.analysis, vec!["http-slo"]);
    assert_eq!(spec.strategy_name(), "blue-green");
    assert_eq!(b.service, "sark");
    assert_eq!(b.slot_label, "version");
    assert!(b.smoke.is_empty());
    assert_eq!(b.observe, Duration::from_secs(1800));
    assert_eq!(b.keep_previous, Some(Duration::from_secs(600)));
}

#[test]
fn blue_green_values() {
    let (_, b) = blue_green_ok(&[
        ("slot-label", "slot"),
        ("smoke", "/health, /ready"),
        ("observe", "1h"),
        ("keep-previous", "0"),
    ]);
    assert_eq!(b.slot_label, "slot");
    assert_eq!(b.smoke, vec!["/health", "/ready"]);
    assert_eq!(b.observe, Duration::from_secs(3600));
    assert_eq!(b.keep_previous, None);
    let (_, b) = blue_green_ok(&[("keep-previous", "24h")]);
    assert_eq!(b.keep_previous, Some(Duration::from_secs(86_400)));
}

#[test]
fn written_keys_and_foreign_prefixes_are_ignored() {
    let mut a = ann(&[("strategy", "canary"), ("phase", "Progressing"), ("weight", "25"), ("status", "{}")]);
    a.insert("nginx.ingress.kubernetes.io/canary".into(), "true".into());
    a.insert("deployment.kubernetes.io/revision".into(), "3".into());
    assert!(parse("sark-canary", &a).is_ok());
}

#[test]
fn strategy_missing_or_bad() {
    one_error("sark-canary", &[], "strategy", "missing: expected canary or blue-green");
    one_error("sark-canary", &[("strategy", "rolling")], "strategy", "\"rolling\" is invalid");
}

#[test]
fn stable_must_be_given_without_the_suffix() {
    one_error("sark-next", &[("strategy", "canary")], "stable", "must be given");
    one_error(
        "sark-canary",
        &[("strategy", "canary"), ("stable", "sark-canary")],
        "stable",
        "other than the candidate",
    );
    one_error("sark-canary", &[("strategy", "canary"), ("stable", "Sark")], "stable", "object name");
}

#[test]
fn each_bad_common_value() {
    let c = ("strategy", "canary");
    one_error("sark-canary", &[c, ("interval", "500ms")], "interval", "at least 1s");
    one_error("sark-canary", &[c, ("interval", "soon")], "interval", "duration");
    one_error("sark-canary", &[c, ("progress-deadline", "10")], "progress-deadline", "duration");
    one_error("sark-canary", &[c, ("window", "* * 25 * * *")], "window", "cron");
    one_error("sark-canary", &[c, ("window", "0 9 * * 1")], "window", "expected 6");
    one_error("sark-canary", &[c, ("dry-run", "yes")], "dry-run", "true or false");
    one_error("sark-canary", &[c, ("paused", "True")], "paused", "true or false");
    one_error("sark-canary", &[c, ("analysis", "a,,b")], "analysis", "template names");
    one_error("sark-canary", &[c, ("arg.my-port", "80")], "arg.my-port", "argument name");
    one_error("sark-canary", &[c, ("arg.namespace", "x")], "arg.namespace", "built-in");
}

#[test]
fn each_bad_canary_value() {
    let c = ("strategy", "canary");
    for steps in ["10,5,100", "0,50", "10,101", "10,10", "", "ten"] {
        one_error("sark-canary", &[c, ("steps", steps)], "steps", "strictly increasing");
    }
    one_error("sark-canary", &[c, ("step-min", "1 fortnight")], "step-min", "duration");
    one_error("sark-canary", &[c, ("step-min", "10m"), ("step-max", "5m")], "step-max", "at least serin.io/step-min");
    one_error("sark-canary", &[c, ("step-min", "1h")], "step-max", "30m (default)");
    one_error("sark-canary", &[c, ("on-inconclusive", "pause")], "on-inconclusive", "hold, advance or rollback");
    one_error("sark-canary", &[c, ("scale-with-weight", "1")], "scale-with-weight", "true or false");
    one_error("sark-canary", &[c, ("header", "X Canary")], "header", "Name=value");
    one_error("sark-canary", &[c, ("header", "X-Canary=")], "header", "Name=value");
    one_error("sark-canary", &[c, ("cookie", "a;b")], "cookie", "cookie name");
    one_error("sark-canary", &[c, ("header", "X-Canary"), ("cookie", "c")], "cookie", "not both");
    one_error("sark-canary", &[c, ("ingress", "")], "ingress", "object name");
    one_error("sark-canary", &[c, ("canary-service", "sark_canary")], "canary-service", "object name");
}

#[test]
fn each_bad_blue_green_value() {
    one_error("sark-green", &[("strategy", "blue-green")], "service", "required for blue-green");
    let b = [("strategy", "blue-green"), ("service", "sark")];
    let with = |extra: (&'static str, &'static str)| {
        let mut v = b.to_vec();
        v.push(extra);
        v
    };
    one_error("sark-green", &with(("slot-label", "bad label")), "slot-label", "label key");
    one_error("sark-green", &with(("smoke", "/health,ready")), "smoke", "starting with /");
    one_error("sark-green", &with(("observe", "30s")), "observe", "at least 1m");
    one_error("sark-green", &with(("keep-previous", "forever")), "keep-previous", "duration");
}

#[test]
fn strategy_specific_keys_on_the_wrong_strategy() {
    one_error("sark-canary", &[("strategy", "canary"), ("observe", "1h")], "observe", "applies to blue-green only");
    let e = errors("sark-green", &[("strategy", "blue-green"), ("service", "sark"), ("steps", "10,100")]);
    assert_eq!(e.len(), 1);
    assert!(e[0].to_string().contains("serin.io/steps applies to canary only"), "{}", e[0]);
}

#[test]
fn unknown_keys_with_and_without_suggestion() {
    one_error("sark-canary", &[("strategy", "canary"), ("step", "10")], "step", "did you mean serin.io/steps?");
    one_error(
        "sark-canary",
        &[("strategy", "canary"), ("frobnicate", "1")],
        "frobnicate",
        "known serin.io/ annotation",
    );
}

#[test]
fn three_bad_annotations_give_three_errors() {
    let e = errors(
        "sark-canary",
        &[("strategy", "canary"), ("interval", "fast"), ("steps", "50,10"), ("dry-run", "maybe")],
    );
    assert_eq!(e.len(), 3, "{e:?}");
    let names: Vec<&str> = e.iter().map(|e| e.annotation.as_str()).collect();
    for expected in ["serin.io/interval", "serin.io/steps", "serin.io/dry-run"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    // Each message names the annotation, the value and what is expected.
    let text = SpecErrors(e).to_string();
    assert!(text.contains("serin.io/interval: \"fast\" is invalid: expected a duration"), "{text}");
}

#[test]
fn opt_in_and_configuration_keys() {
    assert!(is_opted_in(&ann(&[("strategy", "canary")])));
    assert!(!is_opted_in(&ann(&[("phase", "Succeeded")])));
    let keys = configuration_keys(&ann(&[("phase", "Succeeded"), ("steps", "10")]));
    assert_eq!(keys.into_iter().collect::<Vec<_>>(), vec!["serin.io/steps"]);
}

#[test]
fn durations_are_bounded_and_the_error_names_the_largest() {
    let c = ("strategy", "canary");
    for key in ["interval", "progress-deadline", "step-min", "step-max"] {
        one_error("sark-canary", &[c, (key, "300000000000y")], key, "at most 7days");
        one_error("sark-canary", &[c, (key, "8d")], key, "at most 7days");
    }
    let (spec, _) = canary_ok(&[("interval", "7d"), ("step-max", "7d")]);
    assert_eq!(spec.interval, Duration::from_secs(7 * 86_400));
    let bg = [("strategy", "blue-green"), ("service", "sark")];
    for key in ["observe", "keep-previous"] {
        one_error("sark-green", &[bg[0], bg[1], (key, "31d")], key, "at most 30days");
    }
    let (_, b) = blue_green_ok(&[("observe", "30d")]);
    assert_eq!(b.observe, Duration::from_secs(30 * 86_400));
}
