//! A live Prometheus over its HTTP API (prometheus-http-query). The only file that
//! imports that crate.

use std::time::SystemTime;

use super::{MetricSource, Sample, SourceError};

/// Instant queries against a Prometheus server.
#[derive(Debug, Clone)]
pub struct PrometheusSource {
    url: String,
}

impl PrometheusSource {
    pub fn new(url: &str) -> Result<PrometheusSource, SourceError> {
        Ok(PrometheusSource { url: url.to_string() })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl MetricSource for PrometheusSource {
    async fn query(&self, promql: &str, at: SystemTime) -> Result<Vec<Sample>, SourceError> {
        let _ = (promql, at);
        Err(SourceError::Unavailable("prometheus source not implemented yet".into()))
    }
}
