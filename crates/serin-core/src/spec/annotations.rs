//! `serin.io/*` annotations → [`RolloutSpec`](super::RolloutSpec).
//!
//! Every annotation is read once, through [`Reader`], which records each bad value and
//! carries on with the default: a user fixing a manifest sees every problem at once,
//! not one per `kubectl apply`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use super::keys::{self, KeyClass};
use super::values::{MAX_HOLD, MAX_STEP};
use super::{BlueGreenSpec, CanarySpec, OnInconclusive, PREFIX, RolloutSpec, Routing, Strategy, Windows, values};

/// One bad annotation: which, what it held, what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub annotation: String,
    pub value: Option<String>,
    pub expected: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}: {:?} is invalid: expected {}", self.annotation, v, self.expected),
            None => write!(f, "{}: missing: expected {}", self.annotation, self.expected),
        }
    }
}

/// Every problem found in one Deployment's annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

const SECOND: Duration = Duration::from_secs(1);

/// Suffix that names a canary after its stable Deployment (`sark` → `sark-canary`).
const CANARY_SUFFIX: &str = "-canary";

/// Template names used when `serin.io/analysis` is absent.
pub const DEFAULT_CANARY_ANALYSIS: &str = "nginx-canary";
/// With `serin.io/route`: the application's own metrics work behind any Gateway API
/// implementation (their per-backend metrics differ; see analysis-templates/README.md).
pub const DEFAULT_ROUTE_ANALYSIS: &str = "app-canary";
pub const DEFAULT_BLUE_GREEN_ANALYSIS: &str = "http-slo";

/// Variable names a template always gets from serin; `arg.<name>` may not shadow them.
pub const BUILTIN_VARIABLES: &[&str] =
    &["namespace", "deployment", "stable", "ingress", "service", "canary_service", "interval"];

/// True when the annotations opt the Deployment in (`serin.io/strategy` is present).
pub fn is_opted_in(annotations: &BTreeMap<String, String>) -> bool {
    annotations.contains_key(&format!("{PREFIX}strategy"))
}

/// Parses and validates the annotations of the Deployment `deployment`.
pub fn parse(deployment: &str, annotations: &BTreeMap<String, String>) -> Result<RolloutSpec, SpecErrors> {
    let mut r = Reader::new(annotations);
    let strategy = r.raw("strategy").map(|s| s.trim().to_string());
    let kind = match strategy.as_deref() {
        Some("canary") => Some(KeyClass::Canary),
        Some("blue-green") => Some(KeyClass::BlueGreen),
        other => {
            r.fail("strategy", other.map(str::to_string), "canary or blue-green");
            None
        }
    };
    r.check_keys(kind);

    let default_analysis = match kind {
        Some(KeyClass::BlueGreen) => DEFAULT_BLUE_GREEN_ANALYSIS,
        _ if r.raw("route").is_some() => DEFAULT_ROUTE_ANALYSIS,
        _ => DEFAULT_CANARY_ANALYSIS,
    };
    let analysis = r.read("analysis", values::template_names).unwrap_or_else(|| vec![default_analysis.to_string()]);
    let interval = r.read("interval", |t| values::duration(t, SECOND, MAX_STEP)).unwrap_or(Duration::from_secs(60));
    let progress_deadline =
        r.read("progress-deadline", |t| values::duration(t, SECOND, MAX_STEP)).unwrap_or(Duration::from_secs(600));
    let windows = r.windows();
    let dry_run = r.read("dry-run", values::boolean).unwrap_or(false);
    let paused = r.read("paused", values::boolean).unwrap_or(false);
    let retry = r.raw("retry").map(str::to_string);
    let args = r.args();

    let strategy = match kind {
        Some(KeyClass::Canary) => Some(Strategy::Canary(canary(&mut r, deployment))),
        Some(KeyClass::BlueGreen) => Some(Strategy::BlueGreen(blue_green(&mut r, interval))),
        _ => None,
    };
    match strategy {
        Some(strategy) if r.errors.is_empty() => {
            Ok(RolloutSpec { strategy, analysis, args, interval, progress_deadline, windows, dry_run, paused, retry })
        }
        _ => Err(SpecErrors(r.errors)),
    }
}

fn canary(r: &mut Reader<'_>, deployment: &str) -> CanarySpec {
    let stable = match r.read("stable", values::object_name) {
        Some(stable) => stable,
        None if r.raw("stable").is_some() => String::new(),
        None => {
            match deployment.strip_suffix(CANARY_SUFFIX).filter(|s| !s.is_empty()) {
                Some(stable) => stable.to_string(),
                None => {
                    r.fail(
                    "stable",
                    None,
                    &format!("the stable Deployment's name: it must be given because {deployment:?} does not end in -canary"),
                );
                    String::new()
                }
            }
        }
    };
    if stable == deployment {
        r.fail("stable", Some(stable.clone()), "a Deployment other than the candidate itself");
    }
    let route = r.read("route", values::object_name);
    if route.is_some() && r.raw("ingress").is_some() {
        let value = r.raw("route").map(str::to_string);
        r.fail(
            "route",
            value,
            "no HTTPRoute when serin.io/ingress is set: route with an Ingress or an HTTPRoute, not both",
        );
    }
    let ingress = r.read("ingress", values::object_name).unwrap_or_else(|| stable.clone());
    let canary_service = r.read("canary-service", values::object_name).unwrap_or_else(|| deployment.to_string());
    let steps = r.read("steps", values::steps).unwrap_or_else(|| vec![10, 25, 50, 100]);
    let step_min =
        r.read("step-min", |t| values::duration(t, Duration::ZERO, MAX_STEP)).unwrap_or(Duration::from_secs(300));
    let step_max = r.read("step-max", |t| values::duration(t, SECOND, MAX_STEP)).unwrap_or(Duration::from_secs(1800));
    if step_max < step_min {
        let shown = r.raw("step-max").map_or_else(|| "30m (default)".to_string(), str::to_string);
        r.fail(
            "step-max",
            Some(shown),
            &format!("a duration at least serin.io/step-min ({})", humantime::format_duration(step_min)),
        );
    }
    let on_inconclusive = r.read("on-inconclusive", values::on_inconclusive).unwrap_or(OnInconclusive::Hold);
    let scale_with_weight = r.read("scale-with-weight", values::boolean).unwrap_or(false);
    let header = r.read("header", values::header);
    let cookie = r.read("cookie", values::cookie);
    let routing = match (header, cookie) {
        (Some(_), Some(_)) => {
            let value = r.raw("cookie").map(str::to_string);
            r.fail("cookie", value, "no cookie when serin.io/header is set: route by header or by cookie, not both");
            Routing::Weight
        }
        (Some((name, value)), None) => Routing::Header { name, value },
        (None, Some(name)) => Routing::Cookie { name },
        (None, None) => Routing::Weight,
    };
    CanarySpec {
        stable,
        ingress,
        route,
        canary_service,
        steps,
        step_min,
        step_max,
        on_inconclusive,
        scale_with_weight,
        routing,
    }
}

fn blue_green(r: &mut Reader<'_>, interval: Duration) -> BlueGreenSpec {
    let service = r.read("service", values::object_name).unwrap_or_default();
    if r.raw("service").is_none() {
        r.fail("service", None, "the name of the Service whose selector serin flips (required for blue-green)");
    }
    let slot_label = r.read("slot-label", values::label_key).unwrap_or_else(|| "version".to_string());
    let smoke = r.read("smoke", values::smoke_paths).unwrap_or_default();
    let observe = r.read("observe", |t| values::duration(t, interval.max(SECOND), MAX_HOLD));
    let keep_previous = match r.raw("keep-previous") {
        Some("0") => None,
        _ => {
            Some(r.read("keep-previous", |t| values::duration(t, SECOND, MAX_HOLD)).unwrap_or(Duration::from_secs(600)))
        }
    };
    BlueGreenSpec { service, slot_label, smoke, observe: observe.unwrap_or(Duration::from_secs(1800)), keep_previous }
}

/// Reads `serin.io/<key>` values and collects every error.
struct Reader<'a> {
    /// `serin.io/` annotations, prefix stripped; other prefixes are not serin's business.
    ours: BTreeMap<&'a str, &'a str>,
    errors: Vec<SpecError>,
}

impl<'a> Reader<'a> {
    fn new(annotations: &'a BTreeMap<String, String>) -> Reader<'a> {
        let ours = annotations.iter().filter_map(|(k, v)| k.strip_prefix(PREFIX).map(|k| (k, v.as_str()))).collect();
        Reader { ours, errors: Vec::new() }
    }

    fn raw(&self, key: &str) -> Option<&'a str> {
        self.ours.get(key).copied()
    }

    fn fail(&mut self, key: &str, value: Option<String>, expected: &str) {
        self.errors.push(SpecError { annotation: format!("{PREFIX}{key}"), value, expected: expected.to_string() });
    }

    /// The parsed value, `None` when absent; a bad value is recorded and also gives `None`.
    fn read<T>(&mut self, key: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let value = self.raw(key)?;
        match parse(value.trim()) {
            Ok(v) => Some(v),
            Err(expected) => {
                self.fail(key, Some(value.to_string()), &expected);
                None
            }
        }
    }

    fn windows(&mut self) -> Windows {
        let Some(text) = self.raw("window") else { return Windows::always() };
        match Windows::parse(text) {
            Ok(w) => w,
            Err(problems) => {
                for problem in problems {
                    let expected = format!("6-field cron expressions with seconds, in UTC, ';'-separated ({problem})");
                    self.fail("window", Some(text.to_string()), &expected);
                }
                Windows::always()
            }
        }
    }

    fn args(&mut self) -> BTreeMap<String, String> {
        let mut args = BTreeMap::new();
        let entries: Vec<(&str, &str)> = self.ours.iter().map(|(k, v)| (*k, *v)).collect();
        for (key, value) in entries {
            let Some(name) = key.strip_prefix(keys::ARG_PREFIX) else { continue };
            if !values::is_variable_name(name) {
                let expected =
                    "an argument name of letters, digits and '_' after serin.io/arg. (e.g. serin.io/arg.port)";
                self.fail(key, Some(value.to_string()), expected);
            } else if BUILTIN_VARIABLES.contains(&name) {
                let expected = format!("no serin.io/arg.{name}: {name} is a built-in variable serin sets itself");
                self.fail(key, Some(value.to_string()), &expected);
            } else {
                args.insert(name.to_string(), value.to_string());
            }
        }
        args
    }

    /// Unknown keys, and strategy-specific keys on the other strategy (`kind` = `None`
    /// when the strategy itself is bad: then only unknown keys can be judged).
    fn check_keys(&mut self, kind: Option<KeyClass>) {
        let entries: Vec<(&str, &str)> = self.ours.iter().map(|(k, v)| (*k, *v)).collect();
        for (key, value) in entries {
            let class = keys::classify(key);
            let misplaced = match (class, kind) {
                (KeyClass::Canary, Some(KeyClass::BlueGreen)) => Some(("canary", "blue-green")),
                (KeyClass::BlueGreen, Some(KeyClass::Canary)) => Some(("blue-green", "canary")),
                _ => None,
            };
            if let Some((owner, actual)) = misplaced {
                let expected =
                    format!("nothing here: {PREFIX}{key} applies to {owner} only, and the strategy is {actual}");
                self.fail(key, Some(value.to_string()), &expected);
            } else if class == KeyClass::Unknown {
                let expected = match keys::suggest(key) {
                    Some(s) => format!("a known serin.io/ annotation (did you mean {PREFIX}{s}?)"),
                    None => "a known serin.io/ annotation (see the README, section Annotations)".to_string(),
                };
                self.fail(key, Some(value.to_string()), &expected);
            }
        }
    }
}

/// Keys of `annotations` that serin reads as configuration (the written ones excluded).
pub fn configuration_keys(annotations: &BTreeMap<String, String>) -> BTreeSet<String> {
    annotations
        .keys()
        .filter_map(|k| k.strip_prefix(PREFIX))
        .filter(|k| keys::classify(k) != KeyClass::Written)
        .map(|k| format!("{PREFIX}{k}"))
        .collect()
}

#[cfg(test)]
#[path = "annotations_tests.rs"]
mod tests;
