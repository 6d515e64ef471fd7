//! Notifications (`serin run --notify URL`, README "Notifications"): one JSON object per
//! transition of a rollout, or a readable message for a Slack incoming webhook.
//!
//! ```text
//! daemon: record saved ──► transitions(before, after, now)  (pure)
//!                      ──► Notifier::saved ──► per-URL bounded queue ──► task: POST, retry, or drop
//! ```
//!
//! The daemon calls [`Notifier::saved`] in one place, after a record was written: what
//! is announced is what the cluster holds, and queueing never waits.

mod deliver;
pub mod slack;
pub mod transitions;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

pub use deliver::{QUEUE, Retry};
pub use transitions::{Kind, MetricLine, Notification, transitions};

use crate::k8s::record::Record;
use crate::telemetry::Metrics;

/// The `--notify` URLs. They are credentials: `Debug` shows how many, never which.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Targets(pub Vec<String>);

impl Targets {
    /// From `--notify` values and `SERIN_NOTIFY` (a Secret's value: URLs separated by
    /// commas, spaces or newlines).
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Targets {
        let urls = values.into_iter().flat_map(|v| v.split([',', ' ', '\n', '\r', '\t'])).filter(|u| !u.is_empty());
        Targets(urls.map(str::to_string).collect())
    }
}

impl fmt::Debug for Targets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Targets({} URLs, not shown)", self.0.len())
    }
}

/// Hands each saved record's notifications to every receiver's queue.
#[derive(Default)]
pub struct Notifier {
    queues: Vec<deliver::Queue>,
    metrics: Arc<Metrics>,
}

impl Notifier {
    /// Starts one delivery task per URL (needs a Tokio runtime). A bad URL is an error
    /// that names its position, not its value.
    pub fn start(targets: &Targets, retry: Retry, metrics: Arc<Metrics>) -> Result<Notifier, String> {
        let queues = targets
            .0
            .iter()
            .enumerate()
            .map(|(i, url)| deliver::start(i + 1, url, retry, metrics.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let receivers: Vec<&str> = queues.iter().map(|q| q.receiver.label.as_str()).collect();
        if !receivers.is_empty() {
            tracing::info!(receivers = ?receivers, "notifications on");
        }
        Ok(Notifier { queues, metrics })
    }

    /// `after` was written over `before` on `namespace/name`: queue what changed.
    pub fn saved(&self, namespace: &str, name: &str, before: Option<&Record>, after: &Record) {
        if self.queues.is_empty() {
            return;
        }
        for note in transitions((namespace, name), before, after, SystemTime::now()) {
            for queue in &self.queues {
                queue.offer(note.clone(), &self.metrics);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_come_from_flags_and_a_secret_and_are_never_shown() {
        let secret = "https://hooks.slack.com/services/T0/B0/s3cr3t,\nhttp://ci.example/hook\n";
        let targets = Targets::parse(["http://a.example/x", secret]);
        assert_eq!(
            targets.0,
            ["http://a.example/x", "https://hooks.slack.com/services/T0/B0/s3cr3t", "http://ci.example/hook"]
        );
        assert_eq!(format!("{targets:?}"), "Targets(3 URLs, not shown)");
    }

    #[tokio::test]
    async fn a_bad_url_is_named_by_its_position_only() {
        let targets = Targets(vec!["http://ok.example/".into(), "ftp://user:s3cr3t@host/".into()]);
        let error = Notifier::start(&targets, Retry::default(), Arc::default()).err().unwrap();
        assert!(error.starts_with("notification URL #2 "), "{error}");
        assert!(!error.contains("s3cr3t"), "{error}");
    }
}
