//! Answering instant queries from a recording, as Prometheus would have answered them.
//!
//! A `query_range` answer already encodes Prometheus' staleness handling: a series that
//! had no value at a step is simply missing there. So an instant query at `at` takes, per
//! series, the latest sample in `(at − step, at]` and never reaches further back; reaching
//! back would invent data across a gap.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use super::{Recording, parse_value, query_key};
use crate::source::{MetricSource, Sample, SourceError};
use crate::time::{format_instant, unix_seconds};

/// Float slack for comparing instants: recorded timestamps are decimal seconds, `at`
/// comes from a `SystemTime`; a millisecond is far below any sensible step.
const TOLERANCE_SECONDS: f64 = 1e-3;

/// Answers instant queries from a recording.
#[derive(Debug, Clone)]
pub struct RecordingSource {
    recording: Recording,
    index: Arc<Index>,
}

/// The recording reshaped for lookups: parsed values, sorted times.
#[derive(Debug)]
struct Index {
    queries: HashMap<String, Vec<IndexedSeries>>,
    /// Normalised query → its recorded text, or `None` when two recorded queries share a
    /// normalised form (then only an exact match is trusted).
    normalized: HashMap<String, Option<String>>,
    start: f64,
    end: f64,
    step: f64,
}

#[derive(Debug)]
struct IndexedSeries {
    labels: BTreeMap<String, String>,
    times: Vec<f64>,
    values: Vec<f64>,
}

impl RecordingSource {
    /// Builds the lookup index. Samples are sorted here; a value string that is not a
    /// number (possible only if the recording was built in memory without
    /// [`Recording::validate`]) is treated as a gap rather than a panic.
    pub fn new(recording: Recording) -> RecordingSource {
        let index = Arc::new(Index::build(&recording));
        RecordingSource { recording, index }
    }

    pub fn recording(&self) -> &Recording {
        &self.recording
    }

    /// The instant vector synchronously: a recording needs no I/O, and replay loops call
    /// this thousands of times.
    pub fn query_at(&self, promql: &str, at: SystemTime) -> Result<Vec<Sample>, SourceError> {
        let index = &*self.index;
        let series = index.series_of(promql).ok_or_else(|| {
            SourceError::BadQuery(format!(
                "query not in recording ({} recorded queries): {promql}",
                index.queries.len()
            ))
        })?;
        let t = unix_seconds(at);
        if t < index.start - TOLERANCE_SECONDS || t > index.end + TOLERANCE_SECONDS {
            return Err(SourceError::Unavailable(format!(
                "{} is outside the recording ({} to {})",
                format_instant(at),
                format_instant(self.recording.start),
                format_instant(self.recording.end)
            )));
        }
        Ok(series.iter().filter_map(|s| s.sample_at(t, index.step)).collect())
    }
}

impl MetricSource for RecordingSource {
    async fn query(&self, promql: &str, at: SystemTime) -> Result<Vec<Sample>, SourceError> {
        self.query_at(promql, at)
    }
}

impl Index {
    fn build(recording: &Recording) -> Index {
        let mut queries = HashMap::with_capacity(recording.queries.len());
        let mut normalized: HashMap<String, Option<String>> = HashMap::new();
        for (query, series) in &recording.queries {
            let indexed = series
                .iter()
                .map(|s| {
                    let mut points: Vec<(f64, f64)> = s
                        .values
                        .iter()
                        .filter_map(|(t, v)| Some((*t, parse_value(v)?)))
                        .filter(|(t, _)| t.is_finite())
                        .collect();
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    IndexedSeries {
                        labels: s.metric.clone(),
                        times: points.iter().map(|p| p.0).collect(),
                        values: points.iter().map(|p| p.1).collect(),
                    }
                })
                .collect();
            queries.insert(query.clone(), indexed);
            normalized
                .entry(query_key::normalize(query))
                .and_modify(|other| *other = None)
                .or_insert_with(|| Some(query.clone()));
        }
        Index {
            queries,
            normalized,
            start: unix_seconds(recording.start),
            end: unix_seconds(recording.end),
            step: recording.step.as_secs_f64(),
        }
    }

    fn series_of(&self, promql: &str) -> Option<&[IndexedSeries]> {
        if let Some(series) = self.queries.get(promql) {
            return Some(series);
        }
        let recorded = self.normalized.get(&query_key::normalize(promql))?.as_ref()?;
        self.queries.get(recorded).map(Vec::as_slice)
    }
}

impl IndexedSeries {
    /// The latest sample in `(t − step, t]`, by binary search.
    fn sample_at(&self, t: f64, step: f64) -> Option<Sample> {
        let after = self.times.partition_point(|&x| x <= t + TOLERANCE_SECONDS);
        let i = after.checked_sub(1)?;
        (self.times[i] > t - step + TOLERANCE_SECONDS)
            .then(|| Sample { labels: self.labels.clone(), value: self.values[i] })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::source::recording::RangeSeries;
    use crate::time::from_unix_seconds;

    const T0: f64 = 1_795_140_000.0;

    fn series(labels: &[(&str, &str)], values: &[(f64, &str)]) -> RangeSeries {
        RangeSeries {
            metric: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            values: values.iter().map(|(t, v)| (T0 + t, v.to_string())).collect(),
        }
    }

    fn source(queries: Vec<(&str, Vec<RangeSeries>)>) -> RecordingSource {
        RecordingSource::new(Recording {
            serin_recording: 1,
            start: from_unix_seconds(T0),
            end: from_unix_seconds(T0 + 3600.0),
            step: Duration::from_secs(15),
            queries: queries.into_iter().map(|(q, s)| (q.to_string(), s)).collect(),
            deployment: None,
            rollout_start: None,
        })
    }

    fn values(src: &RecordingSource, q: &str, offset: f64) -> Vec<f64> {
        let samples = src.query_at(q, from_unix_seconds(T0 + offset)).unwrap();
        samples.iter().map(|s| s.value).collect()
    }

    #[test]
    fn grid_points_and_instants_between_them() {
        let src = source(vec![("q", vec![series(&[("a", "1")], &[(0.0, "1"), (15.0, "2"), (30.0, "3")])])]);
        assert_eq!(values(&src, "q", 0.0), vec![1.0]);
        assert_eq!(values(&src, "q", 15.0), vec![2.0]);
        assert_eq!(values(&src, "q", 20.0), vec![2.0]);
        assert_eq!(values(&src, "q", 29.9), vec![2.0]);
        assert_eq!(values(&src, "q", 30.0), vec![3.0]);
        let samples = src.query_at("q", from_unix_seconds(T0 + 15.0)).unwrap();
        assert_eq!(samples[0].labels["a"], "1");
    }

    #[test]
    fn gaps_are_absent_series_not_older_values() {
        let src = source(vec![(
            "q",
            vec![
                series(&[("s", "gappy")], &[(0.0, "1"), (45.0, "4")]),
                series(&[("s", "full")], &[(0.0, "1"), (15.0, "2"), (30.0, "3"), (45.0, "4")]),
            ],
        )]);
        assert_eq!(values(&src, "q", 15.0), vec![2.0], "gappy is missing at 15");
        assert_eq!(values(&src, "q", 35.0), vec![3.0], "and stays missing until 45");
        assert_eq!(values(&src, "q", 45.0), vec![4.0, 4.0]);
        assert_eq!(values(&src, "q", 1000.0), Vec::<f64>::new(), "after the last sample: nothing");
    }

    #[test]
    fn special_values_and_unsorted_samples() {
        let src =
            source(vec![("q", vec![series(&[], &[(30.0, "-Inf"), (0.0, "NaN"), (15.0, "+Inf"), (45.0, "bogus")])])]);
        assert!(values(&src, "q", 0.0)[0].is_nan());
        assert_eq!(values(&src, "q", 15.0), vec![f64::INFINITY]);
        assert_eq!(values(&src, "q", 30.0), vec![f64::NEG_INFINITY]);
        assert_eq!(values(&src, "q", 45.0), Vec::<f64>::new(), "an unparsable value is a gap");
    }

    #[test]
    fn unknown_queries_and_instants_outside_the_recording_are_errors() {
        let src = source(vec![("sum by (le) (x)", vec![series(&[], &[(0.0, "1")])])]);
        match src.query_at("y", from_unix_seconds(T0)) {
            Err(SourceError::BadQuery(msg)) => assert!(msg.contains("query not in recording"), "{msg}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            src.query_at("sum by (le) (x)", from_unix_seconds(T0 + 7200.0)),
            Err(SourceError::Unavailable(_))
        ));
        assert_eq!(values(&src, "sum by(le)(\n  x\n)", 0.0), vec![1.0], "whitespace fallback");
    }

    #[test]
    fn ambiguous_normalised_forms_need_an_exact_match() {
        let src =
            source(vec![("sum(x)", vec![series(&[], &[(0.0, "1")])]), ("sum( x )", vec![series(&[], &[(0.0, "2")])])]);
        assert_eq!(values(&src, "sum( x )", 0.0), vec![2.0]);
        assert!(src.query_at("sum (x)", from_unix_seconds(T0)).is_err());
    }

    #[test]
    fn a_day_of_lookups_is_fast() {
        let points: Vec<(f64, String)> = (0..5760).map(|i| (T0 + 15.0 * i as f64, i.to_string())).collect();
        let queries = (0..10)
            .map(|q| {
                let s = (0..4)
                    .map(|k| RangeSeries { metric: [("k".to_string(), k.to_string())].into(), values: points.clone() })
                    .collect();
                (format!("query_{q}"), s)
            })
            .collect();
        let src = RecordingSource::new(Recording {
            serin_recording: 1,
            start: from_unix_seconds(T0),
            end: from_unix_seconds(T0 + 86_400.0),
            step: Duration::from_secs(15),
            queries,
            deployment: None,
            rollout_start: None,
        });
        let started = std::time::Instant::now();
        let mut total = 0usize;
        for minute in 0..1440 {
            for q in 0..10 {
                let at = from_unix_seconds(T0 + 60.0 * minute as f64);
                total += src.query_at(&format!("query_{q}"), at).unwrap().len();
            }
        }
        assert_eq!(total, 1440 * 10 * 4);
        // Generous for debug builds on a busy machine; release is a few milliseconds.
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }
}
