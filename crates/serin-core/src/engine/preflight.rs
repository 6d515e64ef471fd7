//! Rendered templates checked against the Prometheus they will query, before a run
//! moves any traffic (the daemon) or in CI (`serin lint --prometheus`):
//!
//! - every query runs: Prometheus rejecting one (a syntax error, a bad matcher) is a problem;
//! - the series a ratio's `total` (or a histogram) reads exist in the last hour, on the
//!   canary's or the baseline's side (before a run the canary usually has none yet);
//! - every label a `bad` query filters on, beyond the total's own matchers, is a label of
//!   the total's series: otherwise the errors read as 0 forever and the canary passes;
//! - a histogram's series carry `le`, with a `+Inf` bucket (the count of all requests).
//!
//! A problem is a sentence naming the template and metric. A source that cannot be
//! reached is an error, not a problem: nothing was learned about the template.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use crate::source::{MetricSource, Sample, SourceError};
use crate::template::selectors::{Selector, selectors};
use crate::template::{MetricKind, RatioQueries, Template};

/// How far back series count as existing (a quiet hour keeps its counters' series).
pub const LOOKBACK: &str = "1h";

/// Every problem of `templates` against `source` at `at`.
pub async fn check<S: MetricSource>(
    source: &S,
    templates: &[Template],
    at: SystemTime,
) -> Result<Vec<String>, SourceError> {
    let mut checker = Checker { source, at, answers: BTreeMap::new() };
    let mut problems = Vec::new();
    for template in templates {
        for metric in &template.metrics {
            let prefix = format!("template {}, metric {}", template.name, metric.name);
            let mut found = Vec::new();
            for query in metric_queries(&metric.kind) {
                if let Err(why) = checker.runs(query).await? {
                    found.push(format!("Prometheus rejects {query}: {why}"));
                }
            }
            if found.is_empty() {
                match &metric.kind {
                    MetricKind::Ratio(r) => {
                        let sides: Vec<&RatioQueries> = std::iter::once(&r.canary).chain(&r.baseline).collect();
                        found.extend(checker.ratio(&sides).await?);
                    }
                    MetricKind::Histogram(h) => {
                        let queries: Vec<&str> =
                            std::iter::once(h.canary.as_str()).chain(h.baseline.as_deref()).collect();
                        found.extend(checker.histogram(&queries).await?);
                    }
                    MetricKind::Value(_) => {}
                }
            }
            problems.extend(found.into_iter().map(|p| format!("{prefix}: {p}")));
        }
    }
    Ok(problems)
}

fn metric_queries(kind: &MetricKind) -> Vec<&str> {
    match kind {
        MetricKind::Ratio(r) => {
            std::iter::once(&r.canary).chain(&r.baseline).flat_map(|q| [q.bad.as_str(), q.total.as_str()]).collect()
        }
        MetricKind::Histogram(h) => std::iter::once(h.canary.as_str()).chain(h.baseline.as_deref()).collect(),
        MetricKind::Value(v) => vec![v.query.as_str()],
    }
}

struct Checker<'a, S> {
    source: &'a S,
    at: SystemTime,
    /// Each query once, however many metrics share it.
    answers: BTreeMap<String, Result<Vec<Sample>, String>>,
}

impl<S: MetricSource> Checker<'_, S> {
    /// The query's answer, or Prometheus' reason for rejecting it.
    async fn runs(&mut self, query: &str) -> Result<Result<Vec<Sample>, String>, SourceError> {
        if let Some(answer) = self.answers.get(query) {
            return Ok(answer.clone());
        }
        let answer = match self.source.query(query, self.at).await {
            Ok(samples) => Ok(samples),
            Err(SourceError::BadQuery(why)) => Err(why),
            Err(unavailable) => return Err(unavailable),
        };
        self.answers.insert(query.to_string(), answer.clone());
        Ok(answer)
    }

    /// The series `selector` matched in the last hour, keeping only the labels `by`.
    async fn series(&mut self, selector: &Selector, by: &BTreeSet<String>) -> Result<Vec<Sample>, SourceError> {
        let labels: Vec<&str> = by.iter().map(String::as_str).collect();
        let query = format!("count by ({}) (last_over_time({}[{LOOKBACK}]))", labels.join(", "), selector.text);
        // The selector came out of a query Prometheus accepted: a rejection here is its
        // lexer's limit, not the template's problem.
        Ok(self.runs(&query).await?.unwrap_or_default())
    }

    /// A ratio's totals exist, and its bad queries filter on labels the totals have.
    async fn ratio(&mut self, sides: &[&RatioQueries]) -> Result<Vec<String>, SourceError> {
        // Per metric name: the totals' selectors, and the labels the bad queries add.
        let mut totals: BTreeMap<String, (Vec<Selector>, BTreeSet<String>)> = BTreeMap::new();
        for side in sides {
            let side_totals = selectors(&side.total);
            for total in &side_totals {
                let Some(name) = total.name() else { continue };
                let entry = totals.entry(name.to_string()).or_default();
                if !entry.0.contains(total) {
                    entry.0.push(total.clone());
                }
            }
            for bad in selectors(&side.bad) {
                let Some(name) = bad.name() else { continue };
                // A bad query on a metric its total does not read is not compared.
                let Some(total) = side_totals.iter().find(|t| t.name() == Some(name)) else { continue };
                let added = bad
                    .matchers
                    .iter()
                    .filter(|m| m.label != "__name__" && !m.matches_empty() && !total.matchers.contains(m));
                totals.entry(name.to_string()).or_default().1.extend(added.map(|m| m.label.clone()));
            }
        }
        let mut problems = Vec::new();
        for (selectors, labels) in totals.values() {
            let mut seen: Vec<(&Selector, Vec<Sample>)> = Vec::new();
            for selector in selectors {
                let series = self.series(selector, labels).await?;
                if !series.is_empty() {
                    seen.push((selector, series));
                }
            }
            let Some((shown, _)) = seen.first() else {
                problems.push(no_series(selectors, "the total would read no requests"));
                continue;
            };
            for label in labels {
                let present =
                    seen.iter().flat_map(|(_, s)| s).any(|s| s.labels.get(label).is_some_and(|v| !v.is_empty()));
                if !present {
                    problems.push(format!("`{label}` is not a label of {}: errors would read as 0", shown.text));
                }
            }
        }
        Ok(problems)
    }

    /// A histogram's series exist and are buckets: `le`, up to `+Inf`.
    async fn histogram(&mut self, queries: &[&str]) -> Result<Vec<String>, SourceError> {
        let mut by_name: BTreeMap<String, Vec<Selector>> = BTreeMap::new();
        for selector in queries.iter().flat_map(|q| selectors(q)) {
            let Some(name) = selector.name() else { continue };
            let group = by_name.entry(name.to_string()).or_default();
            if !group.contains(&selector) {
                group.push(selector);
            }
        }
        let le = BTreeSet::from(["le".to_string()]);
        let mut problems = Vec::new();
        for selectors in by_name.values() {
            let mut seen: Vec<(&Selector, Vec<Sample>)> = Vec::new();
            for selector in selectors {
                let series = self.series(selector, &le).await?;
                if !series.is_empty() {
                    seen.push((selector, series));
                }
            }
            let Some((shown, _)) = seen.first() else {
                problems.push(no_series(selectors, "the histogram would read no requests"));
                continue;
            };
            let bounds: BTreeSet<&str> =
                seen.iter().flat_map(|(_, s)| s).filter_map(|s| s.labels.get("le")).map(String::as_str).collect();
            if bounds.iter().all(|b| b.is_empty()) {
                problems.push(format!("`le` is not a label of {}: not a histogram's buckets", shown.text));
            } else if !bounds.contains("+Inf") {
                problems
                    .push(format!("{} has no le=\"+Inf\" bucket: the count of all requests is missing", shown.text));
            }
        }
        Ok(problems)
    }
}

fn no_series(selectors: &[Selector], consequence: &str) -> String {
    let texts: Vec<&str> = selectors.iter().map(|s| s.text.as_str()).collect();
    format!(
        "no series match {} in the last {LOOKBACK}: {consequence} (is it scraped? are the labels right?)",
        texts.join(" nor ")
    )
}
