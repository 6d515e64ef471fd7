//! A live Prometheus over its HTTP API (prometheus-http-query). The only file that
//! imports that crate.
//!
//! Errors are sorted by whose fault they are: the server's or the network's
//! ([`SourceError::Unavailable`], worth retrying) or the query's
//! ([`SourceError::BadQuery`], retrying will not help).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use prometheus_http_query::error::PrometheusErrorType;
use prometheus_http_query::response::{Data, PromqlResult};
use prometheus_http_query::{Client, Error as ApiError, reqwest};

use super::recording::{RangeSeries, format_value};
use super::{MetricSource, Sample, SourceError};
use crate::time::unix_seconds;

/// How long one HTTP request may take before the source counts as unavailable.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Points per range request (plus one shared with the next); Prometheus refuses more
/// than 11,000 per series.
const MAX_POINTS_PER_REQUEST: u64 = 10_000;

/// Instant queries against a Prometheus server.
#[derive(Clone)]
pub struct PrometheusSource {
    url: String,
    client: Client,
    timeout: Duration,
}

impl std::fmt::Debug for PrometheusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusSource").field("url", &self.url).field("timeout", &self.timeout).finish()
    }
}

impl PrometheusSource {
    /// Checks that `url` is an absolute http(s) URL; nothing is sent yet.
    ///
    /// The error is `Unavailable`: a source that cannot be addressed cannot answer.
    pub fn new(url: &str) -> Result<PrometheusSource, SourceError> {
        let url = url.trim().trim_end_matches('/');
        let invalid = |why: String| SourceError::Unavailable(format!("invalid Prometheus URL {url:?}: {why}"));
        let http = build_http_client(DEFAULT_TIMEOUT)?;
        let client = Client::from(http, url).map_err(|e| invalid(error_chain(&e)))?;
        let base = client.base_url();
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid(format!("scheme {:?} is not http or https", base.scheme())));
        }
        if base.host().is_none() {
            return Err(invalid("no host".into()));
        }
        Ok(PrometheusSource { url: url.to_string(), client, timeout: DEFAULT_TIMEOUT })
    }

    /// Replaces the per-request timeout ([`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(self, timeout: Duration) -> Result<PrometheusSource, SourceError> {
        let client = Client::from(build_http_client(timeout)?, &self.url)
            .map_err(|e| SourceError::Unavailable(error_chain(&e)))?;
        Ok(PrometheusSource { client, timeout, ..self })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// `query_range` over `[start, end]` at `step`, as the series of a recording (README, "Commands").
    ///
    /// Start and end are whole seconds (start rounded up, end down). Long ranges are split
    /// into requests of at most 10,000 points and the series joined again.
    pub async fn query_range(
        &self,
        promql: &str,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Result<Vec<RangeSeries>, SourceError> {
        let start_s = unix_seconds(start).ceil() as i64;
        let end_s = unix_seconds(end).floor() as i64;
        let step_ms = step.as_millis() as u64;
        if step_ms == 0 {
            return Err(SourceError::BadQuery("range query step must be at least 1ms".into()));
        }
        if start_s > end_s {
            return Err(SourceError::BadQuery("range query start must not be after end".into()));
        }
        // Each chunk starts on the grid (MAX_POINTS × step_ms is a whole number of seconds)
        // and ends on the next chunk's start, since the API takes whole-second bounds; the
        // point both return is kept once.
        let chunk_seconds = (MAX_POINTS_PER_REQUEST * step_ms / 1000) as i64;
        let mut merged: BTreeMap<BTreeMap<String, String>, Vec<(f64, String)>> = BTreeMap::new();
        let mut chunk_start = start_s;
        while chunk_start <= end_s {
            let chunk_end = end_s.min(chunk_start + chunk_seconds);
            let request = self
                .client
                .query_range(promql, chunk_start, chunk_end, step_ms as f64 / 1000.0)
                .timeout(self.timeout.as_millis() as i64);
            let data = self.send(request.post()).await?;
            for series in range_series(data) {
                let points = merged.entry(series.metric).or_default();
                let last = points.last().map_or(f64::NEG_INFINITY, |p| p.0);
                points.extend(series.values.into_iter().filter(|p| p.0 > last));
            }
            chunk_start += chunk_seconds;
        }
        Ok(merged.into_iter().map(|(metric, values)| RangeSeries { metric, values }).collect())
    }

    /// Awaits one request (the HTTP client enforces the timeout, and the work's
    /// [`budget`](super::budget) its deadline) and sorts out its errors.
    async fn send(&self, request: impl Future<Output = Result<PromqlResult, ApiError>>) -> Result<Data, SourceError> {
        super::budget::bounded(async {
            match request.await {
                Err(e) => Err(classify(&self.url, &e)),
                Ok(result) => Ok(result.into_inner().0),
            }
        })
        .await
    }
}

impl MetricSource for PrometheusSource {
    /// An instant query at `at` (millisecond precision), sent as POST so that long
    /// rendered queries do not hit URL length limits.
    async fn query(&self, promql: &str, at: SystemTime) -> Result<Vec<Sample>, SourceError> {
        let request = self
            .client
            .query(promql)
            .query("time", format!("{:.3}", unix_seconds(at)))
            .timeout(self.timeout.as_millis() as i64);
        match self.send(request.post()).await? {
            Data::Vector(vector) => Ok(vector
                .into_iter()
                .map(|element| {
                    let (labels, sample) = element.into_inner();
                    Sample { labels: labels.into_iter().collect(), value: sample.value() }
                })
                .collect()),
            Data::Scalar(sample) => Ok(vec![Sample { labels: BTreeMap::new(), value: sample.value() }]),
            Data::Matrix(_) => {
                Err(SourceError::BadQuery(format!("{promql} is a range vector; an instant vector or scalar is needed")))
            }
        }
    }
}

/// The HTTP client, with a bound on the whole request (connect, send, read). Built
/// here rather than by prometheus-http-query, whose default client has no timeout.
/// Idle connections kept to Prometheus: as many as reconciles run at once.
const IDLE_CONNECTIONS: usize = 16;

fn build_http_client(timeout: Duration) -> Result<reqwest::Client, SourceError> {
    // Idle connections kept per Prometheus: each holds its read buffers, and a burst of
    // first ticks (rollouts primed at once) would otherwise leave hundreds open for good.
    reqwest::Client::builder()
        .pool_max_idle_per_host(IDLE_CONNECTIONS)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .build()
        .map_err(|e| SourceError::Unavailable(format!("cannot build an HTTP client: {}", error_chain(&e))))
}

/// Any result of a range query as labelled point lists (a matrix normally; a scalar or
/// vector only from odd servers, kept rather than dropped).
fn range_series(data: Data) -> Vec<RangeSeries> {
    let point = |s: &prometheus_http_query::response::Sample| (s.timestamp(), format_value(s.value()));
    match data {
        Data::Matrix(matrix) => matrix
            .into_iter()
            .map(|series| {
                let (labels, samples) = series.into_inner();
                RangeSeries { metric: labels.into_iter().collect(), values: samples.iter().map(point).collect() }
            })
            .collect(),
        Data::Vector(vector) => vector
            .into_iter()
            .map(|element| {
                let (labels, sample) = element.into_inner();
                RangeSeries { metric: labels.into_iter().collect(), values: vec![point(&sample)] }
            })
            .collect(),
        Data::Scalar(sample) => vec![RangeSeries { metric: BTreeMap::new(), values: vec![point(&sample)] }],
    }
}

/// Prometheus' own verdict on the query (`bad_data`: parse errors, bad parameters;
/// `execution`: e.g. many-to-many matching) is the query's fault; everything else
/// (connection refused, 5xx, timeouts, proxies answering HTML) is the server's.
fn classify(url: &str, error: &ApiError) -> SourceError {
    match error {
        ApiError::Prometheus(e)
            if matches!(e.error_type(), PrometheusErrorType::BadData | PrometheusErrorType::Execution) =>
        {
            SourceError::BadQuery(e.message().to_string())
        }
        other => SourceError::Unavailable(format!("{url}: {}", error_chain(other))),
    }
}

/// The error and its causes, so that "failed to send request" comes with "connection
/// refused".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_or_https() {
        assert!(PrometheusSource::new("http://127.0.0.1:9090").is_ok());
        let source = PrometheusSource::new("https://prom.example.com/prometheus/").unwrap();
        assert_eq!(source.url(), "https://prom.example.com/prometheus");
        for bad in ["ftp://example.com", "not a url", "127.0.0.1:9090", ""] {
            match PrometheusSource::new(bad) {
                Err(SourceError::Unavailable(msg)) => assert!(msg.contains("invalid Prometheus URL"), "{msg}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
