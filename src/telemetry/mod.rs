//! What serin says about itself: logs ([`init_logging`]) and metrics ([`metrics`]).

pub mod metrics;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use clap::ValueEnum;

pub use metrics::Metrics;

use crate::source::{MetricSource, Sample, SourceError};

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// JSON in a cluster (`KUBERNETES_SERVICE_HOST` set), human-readable elsewhere.
    Auto,
    /// One JSON object per line, for log pipelines.
    Json,
    /// Human-readable lines.
    Human,
}

impl LogFormat {
    /// `Auto` decided for this process.
    pub fn resolve(self) -> LogFormat {
        match self {
            LogFormat::Auto if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => LogFormat::Json,
            LogFormat::Auto => LogFormat::Human,
            other => other,
        }
    }
}

/// Logs to stderr; `RUST_LOG` filters (default `info`). In JSON each line carries the
/// fields of its spans, so a rollout's lines carry its namespace, name and revision.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // Colours only for a person at a terminal: escape codes in a file or pipeline are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format.resolve() {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).flatten_event(true).init(),
        _ => builder.init(),
    }
}

/// A metric source whose queries are timed and counted in [`Metrics`].
#[derive(Clone)]
pub struct Instrumented<S> {
    pub inner: S,
    pub metrics: Arc<Metrics>,
}

impl<S: MetricSource + Sync> MetricSource for Instrumented<S> {
    async fn query(&self, promql: &str, at: SystemTime) -> Result<Vec<Sample>, SourceError> {
        let started = Instant::now();
        let result = self.inner.query(promql, at).await;
        self.metrics.queried(started.elapsed(), result.is_ok());
        result
    }
}
