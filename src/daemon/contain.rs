//! One rollout's failure never stops the others: kube-runtime polls every reconcile
//! inside one stream, so a reconcile that unwinds would end the controller and with it
//! every rollout of the namespace. [`contained`] turns a panic into that rollout's error,
//! logged in its span and retried like any other failure.

use std::any::Any;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use kube::runtime::controller;

use super::context::Error;
use crate::source::budget;

/// Runs `reconcile`; a panic in it becomes [`Error::Panicked`] naming the rollout. Its
/// Prometheus queries share one time budget ([`budget::RECONCILE_BUDGET`]): a hanging
/// Prometheus holds the rollout's reconcile slot that long at most.
pub async fn contained<F>(namespace: &str, name: &str, reconcile: F) -> Result<controller::Action, Error>
where
    F: Future<Output = Result<controller::Action, Error>>,
{
    let reconcile = budget::within(budget::RECONCILE_BUDGET, reconcile);
    // Unwind safety: the reconcile shares only the Context (clients, metrics, caches
    // behind their own locks); a half-done reconcile leaves nothing that the next one,
    // which starts from a fresh read of the candidate, would trust.
    match AssertUnwindSafe(reconcile).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            tracing::error!(%message, "reconcile panicked; retrying, the other rollouts go on");
            Err(Error::Panicked { namespace: namespace.to_string(), name: name.to_string(), message })
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(text), _) => (*text).to_string(),
        (_, Some(text)) => text.clone(),
        _ => "a panic without a message".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    #[tokio::test]
    async fn a_panicking_reconcile_is_that_rollouts_error_and_the_next_one_runs() {
        let panicking = contained("production", "sark-canary", async {
            let far = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::MAX / 2);
            let _ = far + Duration::from_secs(u64::MAX / 2);
            Ok(controller::Action::await_change())
        });
        match panicking.await {
            Err(e @ Error::Panicked { .. }) => {
                assert_eq!(e.label(), "panic");
                let text = e.to_string();
                assert!(text.starts_with("production/sark-canary: reconcile panicked: overflow"), "{text}");
            }
            other => panic!("expected a contained panic, got {other:?}"),
        }
        let fine = contained("production", "other", async { Ok(controller::Action::await_change()) }).await;
        assert!(fine.is_ok(), "{fine:?}");
    }
}
