//! Validation of a [`TemplateDoc`] into a [`Template`]: everything the YAML types cannot
//! say (exactly one metric kind, triggers that match their metric, limits in range,
//! well-formed placeholders). All problems are collected into one error.

use std::collections::BTreeSet;
use std::time::Duration;

use super::schema::{Above, HistogramDoc, MetricDoc, RatioDoc, RatioQueriesDoc, Scalar, TemplateDoc, TriggerDoc};
use super::{
    ArgDef, Condition, HistogramMetric, Metric, MetricKind, QuantileLimit, RatioMetric, RatioQueries, Template,
    TemplateError, Trigger, ValueMetric, render,
};
use crate::spec::{BUILTIN_VARIABLES, values};

/// Requests the canary must have served at a step before a metric may pass (`analysis-templates/README.md`:
/// "three requests do not make an error rate").
pub const DEFAULT_MIN_REQUESTS: u64 = 20;

pub fn validate(doc: TemplateDoc) -> Result<Template, TemplateError> {
    let mut problems = Vec::new();
    let name = doc.name.trim().to_string();
    if values::object_name(&name).is_err() {
        problems.push(format!("name {name:?}: expected lowercase letters, digits and '-' (e.g. nginx-canary)"));
    }

    let mut args = Vec::new();
    for (arg, def) in doc.args {
        if !values::is_variable_name(&arg) {
            problems
                .push(format!("args.{arg}: expected a name of letters, digits and '_' (it is used as {{{{{arg}}}}})"));
        } else if BUILTIN_VARIABLES.contains(&arg.as_str()) {
            problems.push(format!("args.{arg}: {arg} is a built-in variable and cannot be an argument"));
        }
        let default = def.default.map(|d| d.as_text());
        args.push(ArgDef { name: arg, default, description: def.description, raw: def.raw });
    }

    if doc.metrics.is_empty() {
        problems.push("metrics: expected at least one metric".into());
    }
    // Names of every metric written, valid or not: a trigger on an invalid metric is not
    // also "unknown" (its metric's own error is enough).
    let declared: Vec<String> = doc.metrics.iter().map(|m| m.name.clone()).collect();
    let mut metrics: Vec<Metric> = Vec::new();
    let mut names = BTreeSet::new();
    for m in doc.metrics {
        let at = format!("metric {:?}", m.name);
        if !names.insert(m.name.clone()) {
            problems.push(format!("{at}: duplicate metric name"));
        }
        if m.name.trim().is_empty() {
            problems.push("metrics: a metric has an empty name".into());
        }
        if let Some(metric) = metric(m, &mut problems, &at) {
            metrics.push(metric);
        }
    }

    let mut triggers: Vec<Trigger> = Vec::new();
    let mut names = BTreeSet::new();
    for t in doc.triggers {
        let at = format!("trigger {:?}", t.name);
        if !names.insert(t.name.clone()) {
            problems.push(format!("{at}: duplicate trigger name"));
        }
        if let Some(trigger) = trigger(t, &metrics, &declared, &mut problems, &at) {
            triggers.push(trigger);
        }
    }

    let template = Template { name: name.clone(), description: doc.description, args, metrics, triggers };
    if problems.is_empty() { Ok(template) } else { Err(TemplateError::Invalid { name, message: problems.join("; ") }) }
}

/// Every query of a metric as written: none empty, placeholders well-formed. Checked on
/// the document so a query is reported even when the rest of its metric is invalid.
fn check_queries(m: &MetricDoc, problems: &mut Vec<String>, at: &str) {
    let mut queries: Vec<(&str, &str)> = Vec::new();
    if let Some(r) = &m.ratio {
        queries.extend([("ratio.canary.bad", r.canary.bad.as_str()), ("ratio.canary.total", r.canary.total.as_str())]);
        if let Some(b) = &r.baseline {
            queries.extend([("ratio.baseline.bad", b.bad.as_str()), ("ratio.baseline.total", b.total.as_str())]);
        }
    }
    if let Some(h) = &m.histogram {
        queries.push(("histogram.canary", h.canary.as_str()));
        queries.extend(h.baseline.as_deref().map(|b| ("histogram.baseline", b)));
    }
    if let Some(v) = &m.value {
        queries.push(("value.query", v.query.as_str()));
    }
    for (field, query) in queries {
        if query.trim().is_empty() {
            problems.push(format!("{at}: {field}: a query is empty"));
        } else if let Err(e) = render::placeholders(query) {
            problems.push(format!("{at}: {field}: {e}"));
        }
    }
}

fn metric(m: MetricDoc, problems: &mut Vec<String>, at: &str) -> Option<Metric> {
    check_queries(&m, problems, at);
    let kinds = [m.ratio.is_some(), m.histogram.is_some(), m.value.is_some()].iter().filter(|k| **k).count();
    if kinds != 1 {
        problems.push(format!("{at}: expected exactly one of ratio, histogram, value (found {kinds})"));
        return None;
    }
    let kind = if let Some(r) = m.ratio {
        MetricKind::Ratio(ratio(r, problems, at)?)
    } else if let Some(h) = m.histogram {
        MetricKind::Histogram(histogram(h, problems, at)?)
    } else {
        let v = m.value?;
        if let Some((min, max)) = v.min.zip(v.max).filter(|(min, max)| min > max) {
            problems.push(format!("{at}: value.min {min} is above value.max {max}"));
        }
        if v.min.is_none() && v.max.is_none() {
            problems.push(format!("{at}: value needs min, max or both"));
        }
        if m.min_requests.is_some() {
            problems.push(format!("{at}: min-requests applies to ratio and histogram metrics only"));
        }
        MetricKind::Value(ValueMetric { query: v.query, min: v.min, max: v.max })
    };
    let default = if matches!(kind, MetricKind::Value(_)) { 0 } else { DEFAULT_MIN_REQUESTS };
    Some(Metric { name: m.name, kind, min_requests: m.min_requests.unwrap_or(default) })
}

fn ratio(r: RatioDoc, problems: &mut Vec<String>, at: &str) -> Option<RatioMetric> {
    let queries = |q: RatioQueriesDoc| RatioQueries { bad: q.bad, total: q.total };
    match fraction(&r.max) {
        Ok(max) => Some(RatioMetric { canary: queries(r.canary), baseline: r.baseline.map(queries), max }),
        Err(e) => {
            problems.push(format!("{at}: ratio.max {}: {e}", r.max.as_text()));
            None
        }
    }
}

fn histogram(h: HistogramDoc, problems: &mut Vec<String>, at: &str) -> Option<HistogramMetric> {
    if h.max.is_empty() {
        problems.push(format!("{at}: histogram.max needs at least one quantile limit (e.g. p95: 500ms)"));
        return None;
    }
    let mut max = Vec::new();
    for (key, value) in &h.max {
        match quantile_limit(key, value) {
            Ok(limit) => max.push(limit),
            Err(e) => problems.push(format!("{at}: histogram.max.{key}: {e}")),
        }
    }
    max.sort_by(|a, b| a.quantile.total_cmp(&b.quantile));
    let le_per_second = match h.le_unit.as_deref() {
        None | Some("s") => 1.0,
        Some("ms") => 1000.0,
        Some(other) => {
            problems.push(format!("{at}: histogram.le-unit: {other:?} is not s or ms"));
            return None;
        }
    };
    (max.len() == h.max.len()).then_some(HistogramMetric { canary: h.canary, baseline: h.baseline, max, le_per_second })
}

fn trigger(
    t: TriggerDoc,
    metrics: &[Metric],
    declared: &[String],
    problems: &mut Vec<String>,
    at: &str,
) -> Option<Trigger> {
    let for_duration = match t.for_duration.as_deref().map(str::trim) {
        None => Duration::ZERO,
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) => d,
            Err(_) => {
                problems.push(format!("{at}: for {text:?}: expected a duration such as 5m"));
                Duration::ZERO
            }
        },
    };
    let Some(metric) = metrics.iter().find(|m| m.name == t.metric) else {
        if declared.contains(&t.metric) {
            return None;
        }
        let known: Vec<&str> = declared.iter().map(String::as_str).collect();
        problems.push(format!("{at}: unknown metric {:?} (metrics: {})", t.metric, known.join(", ")));
        return None;
    };
    let conditions = [t.above.is_some(), t.outage == Some(true), t.out_of_range == Some(true)];
    if conditions.iter().filter(|c| **c).count() != 1 {
        problems.push(format!("{at}: expected exactly one condition: above, outage: true or out-of-range: true"));
        return None;
    }
    let kind = match &metric.kind {
        MetricKind::Ratio(_) => "ratio",
        MetricKind::Histogram(_) => "histogram",
        MetricKind::Value(_) => "value",
    };
    let condition = match (&metric.kind, t.above) {
        (MetricKind::Ratio(_), Some(Above::Rate(rate))) => match fraction(&rate) {
            Ok(f) => Condition::RateAbove(f),
            Err(e) => {
                problems.push(format!("{at}: above {}: {e}", rate.as_text()));
                return None;
            }
        },
        (MetricKind::Histogram(_), Some(Above::Quantiles(q))) if q.len() == 1 => {
            let (key, value) = q.iter().next()?;
            match quantile_limit(key, value) {
                Ok(limit) => Condition::QuantileAbove(limit),
                Err(e) => {
                    problems.push(format!("{at}: above.{key}: {e}"));
                    return None;
                }
            }
        }
        (MetricKind::Ratio(_), None) if t.outage == Some(true) => Condition::Outage,
        (MetricKind::Value(_), None) if t.out_of_range == Some(true) => Condition::ValueOutOfRange,
        _ => {
            let fits = match kind {
                "ratio" => "above: <percent> (e.g. 5%) or outage: true",
                "histogram" => "above: {<quantile>: <duration>} with one quantile (e.g. {p99: 2s})",
                _ => "out-of-range: true",
            };
            problems.push(format!("{at}: condition does not fit {kind} metric {:?}: expected {fits}", metric.name));
            return None;
        }
    };
    Some(Trigger { name: t.name, metric: t.metric, condition, for_duration, action: t.action })
}

/// `1%` or `0.01` → 0.01, within (0, 1].
pub fn fraction(s: &Scalar) -> Result<f64, String> {
    const EXPECTED: &str = "expected a percentage such as 1% or a fraction such as 0.01, above 0 and at most 100%";
    let f = match s {
        Scalar::Number(n) => *n,
        Scalar::Text(t) => match t.trim().strip_suffix('%') {
            Some(p) => p.trim().parse::<f64>().map_err(|_| EXPECTED.to_string())? / 100.0,
            None => t.trim().parse::<f64>().map_err(|_| EXPECTED.to_string())?,
        },
        Scalar::Bool(_) => return Err(EXPECTED.into()),
    };
    if f.is_finite() && f > 0.0 && f <= 1.0 { Ok(f) } else { Err(format!("out of range: {EXPECTED}")) }
}

/// `p95` → 0.95, `p99.9` → 0.999 (built from the digits so 0.999 is the nearest double).
pub fn quantile(key: &str) -> Result<f64, String> {
    const EXPECTED: &str = "expected a quantile such as p50, p95 or p99.9 (strictly between p0 and p100)";
    let digits = key.trim().strip_prefix('p').ok_or(EXPECTED)?;
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int_ok = !int.is_empty() && int.len() <= 2 && int.chars().all(|c| c.is_ascii_digit());
    let frac_ok = frac.chars().all(|c| c.is_ascii_digit()) && !(digits.contains('.') && frac.is_empty());
    if !int_ok || !frac_ok {
        return Err(EXPECTED.into());
    }
    let q: f64 = format!("0.{int:0>2}{frac}").parse().map_err(|_| EXPECTED.to_string())?;
    if q > 0.0 && q < 1.0 { Ok(q) } else { Err(EXPECTED.into()) }
}

/// `500ms`, `2s` (or a number of seconds) → seconds, above 0.
pub fn seconds(s: &Scalar) -> Result<f64, String> {
    const EXPECTED: &str = "expected a latency such as 500ms or 2s";
    let secs = match s {
        Scalar::Number(n) => *n,
        Scalar::Text(t) => humantime::parse_duration(t.trim()).map_err(|_| EXPECTED.to_string())?.as_secs_f64(),
        Scalar::Bool(_) => return Err(EXPECTED.into()),
    };
    if secs.is_finite() && secs > 0.0 { Ok(secs) } else { Err(EXPECTED.into()) }
}

fn quantile_limit(key: &str, value: &Scalar) -> Result<QuantileLimit, String> {
    Ok(QuantileLimit { quantile: quantile(key)?, seconds: seconds(value)? })
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
