//! Kubernetes Events: one per transition, with a specific PascalCase reason and the
//! evidence in the note (never one catch-all reason, unlike Flagger's "Synced"). Which
//! Events a transition gives is pure ([`notices`]); [`EventSink`] publishes them.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

pub use serin_core::lifecycle::notice::{Notice, notices};

/// The Events API caps notes at 1 kB.
const MAX_NOTE: usize = 1024;

/// Publishes Events on the candidate. Events are best effort: a failure is logged, never
/// fails the reconcile.
#[derive(Clone)]
pub struct EventSink {
    client: kube::Client,
    reporter: Reporter,
}

impl EventSink {
    pub fn new(client: kube::Client) -> EventSink {
        let reporter = Reporter { controller: "serin".into(), instance: std::env::var("POD_NAME").ok() };
        EventSink { client, reporter }
    }

    pub async fn publish(&self, regarding: &ObjectReference, notice: &Notice) {
        let event = Event {
            type_: if notice.warning { EventType::Warning } else { EventType::Normal },
            reason: notice.reason.into(),
            note: Some(truncate(&notice.note, MAX_NOTE)),
            action: notice.reason.into(),
            secondary: None,
        };
        // A fresh Recorder each time: a shared one folds Events with the same reason into a
        // series within 6 minutes and keeps the *first* note, so "weight 25% → 50%" would
        // be reported as the earlier "10% → 25%". Each transition is its own Event.
        let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        if let Err(e) = recorder.publish(&event, regarding).await {
            tracing::warn!(reason = notice.reason, error = %e, "could not publish an Event");
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_at_a_char_boundary() {
        let long = "é".repeat(600);
        let cut = truncate(&long, MAX_NOTE);
        assert!(cut.len() <= MAX_NOTE && cut.ends_with("..."));
    }
}
