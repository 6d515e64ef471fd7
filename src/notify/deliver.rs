//! Delivery: one bounded queue and one task per URL. Queueing never waits (a full queue
//! drops the notification), so a slow or dead receiver cannot delay a decision or a
//! traffic change; each task posts in order, retrying with backoff, and drops what still
//! fails after the last attempt, with a metric and a log line. URLs are credentials (a
//! Slack webhook's path is its secret): logs and errors name a receiver by its number and
//! host only.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use tokio::sync::mpsc;

use super::slack;
use super::transitions::Notification;
use crate::telemetry::Metrics;

/// Notifications waiting per receiver; beyond this they are dropped.
pub const QUEUE: usize = 256;

/// How hard to try one notification.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub backoff: Duration,
    /// One request's limit, connection included.
    pub timeout: Duration,
}

impl Default for Retry {
    /// Five attempts over about 15 s (1, 2, 4, 8 s apart): a receiver restarting or
    /// briefly overloaded gets the notification; a dead one costs the queue 15 s each.
    fn default() -> Retry {
        Retry { attempts: 5, backoff: Duration::from_secs(1), timeout: Duration::from_secs(5) }
    }
}

/// One receiver as logs and metrics may name it.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// `webhook 2 (example.org)`: its place in `--notify` and its host, never the URL.
    pub label: String,
    /// `slack` or `webhook` (the metric's label).
    pub format: &'static str,
}

/// The sending side of one receiver's queue.
pub struct Queue {
    pub receiver: Receiver,
    tx: mpsc::Sender<Notification>,
}

impl Queue {
    /// Queues `note` without waiting: false (and counted) when the queue is full.
    pub fn offer(&self, note: Notification, metrics: &Metrics) -> bool {
        match self.tx.try_send(note) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(note) | mpsc::error::TrySendError::Closed(note)) => {
                metrics.notified(self.receiver.format, "queue_full");
                tracing::warn!(
                    receiver = %self.receiver.label,
                    action = note.action.as_str(),
                    rollout = %format!("{}/{}", note.namespace, note.name),
                    "notification dropped: the receiver's queue is full"
                );
                false
            }
        }
    }
}

/// Parses `url` (the `index`th of `--notify`, from 1) and starts its delivery task.
pub fn start(index: usize, url: &str, retry: Retry, metrics: Arc<Metrics>) -> Result<Queue, String> {
    let parsed = Url::parse(url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            format!(
                "notification URL #{index} (--notify, then SERIN_NOTIFY): not an http(s) URL (not shown: a credential)"
            )
        })?;
    let format = if slack::is_slack(&parsed) { "slack" } else { "webhook" };
    let host = parsed.host_str().unwrap_or_default();
    let receiver = Receiver { label: format!("{format} {index} ({host})"), format };
    // No redirects: a webhook that moved must be reconfigured, not followed with the body.
    let client = reqwest::Client::builder()
        .timeout(retry.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("serin/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("notification URL #{index}: {e}"))?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let task = Task { receiver: receiver.clone(), url: parsed, client, retry, metrics };
    tokio::spawn(task.run(rx));
    Ok(Queue { receiver, tx })
}

struct Task {
    receiver: Receiver,
    url: Url,
    client: reqwest::Client,
    retry: Retry,
    metrics: Arc<Metrics>,
}

/// Why one attempt failed, without the URL.
struct Failure {
    retryable: bool,
    why: String,
}

impl Task {
    async fn run(self, mut rx: mpsc::Receiver<Notification>) {
        while let Some(note) = rx.recv().await {
            let body = if self.receiver.format == "slack" {
                slack::message(&note)
            } else {
                serde_json::to_value(&note).unwrap_or_default()
            };
            let body = serde_json::to_vec(&body).unwrap_or_default();
            match self.send(&body).await {
                Ok(attempts) => {
                    self.metrics.notified(self.receiver.format, "sent");
                    tracing::debug!(receiver = %self.receiver.label, action = note.action.as_str(), attempts, "notified");
                }
                Err(failure) => {
                    self.metrics.notified(self.receiver.format, "failed");
                    tracing::warn!(
                        receiver = %self.receiver.label,
                        action = note.action.as_str(),
                        rollout = %format!("{}/{}", note.namespace, note.name),
                        error = %failure.why,
                        "notification dropped after {} attempts",
                        self.retry.attempts
                    );
                }
            }
        }
    }

    /// Posts `body` until it is taken or the attempts run out; the attempts it took.
    async fn send(&self, body: &[u8]) -> Result<u32, Failure> {
        let mut backoff = self.retry.backoff;
        let mut attempt = 1;
        loop {
            match self.post(body).await {
                Ok(()) => return Ok(attempt),
                Err(failure) if !failure.retryable || attempt >= self.retry.attempts => return Err(failure),
                Err(failure) => {
                    tracing::debug!(receiver = %self.receiver.label, attempt, error = %failure.why, "notification failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
            }
        }
    }

    async fn post(&self, body: &[u8]) -> Result<(), Failure> {
        let request = self.client.post(self.url.clone()).header("content-type", "application/json").body(body.to_vec());
        let response = request
            .send()
            .await
            // reqwest's errors quote the URL; this one must not.
            .map_err(|e| Failure { retryable: true, why: e.without_url().to_string() })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // A server error, a rate limit or a timeout may pass; a 4xx (a revoked Slack hook
        // answers 404 or 410) will not.
        let retryable = status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT;
        Err(Failure { retryable, why: format!("the receiver answered {status}") })
    }
}
