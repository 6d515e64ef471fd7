//! A time budget for the Prometheus queries of one piece of work (one reconcile of the
//! daemon): a Prometheus that hangs answers each query only after its request timeout, and
//! a reconcile runs a dozen queries or more, so without a budget one rollout would hold its
//! reconcile slot for minutes. Within [`within`], every query of [`super::PrometheusSource`]
//! ends by the deadline: past it, queries fail at once as unavailable (the judge reads them
//! as query errors: three in a row pause the rollout, none promotes or rolls back).
//!
//! The deadline is task-local: the code between the reconcile and the source (the engine,
//! shared with replay and the simulations) does not carry it.

use std::time::Duration;

use tokio::time::Instant;

use super::SourceError;

/// The Prometheus time of one reconcile: its analysis tick (about six queries), and at a
/// run's start the template check and the baseline's history.
pub const RECONCILE_BUDGET: Duration = Duration::from_secs(15);

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `budget` for all its queries.
pub async fn within<F: Future>(budget: Duration, work: F) -> F::Output {
    let deadline = Instant::now().checked_add(budget).unwrap_or_else(Instant::now);
    DEADLINE.scope(deadline, work).await
}

/// Awaits `query` until the current budget's deadline, if any.
pub async fn bounded<T>(query: impl Future<Output = Result<T, SourceError>>) -> Result<T, SourceError> {
    let Ok(deadline) = DEADLINE.try_with(|d| *d) else { return query.await };
    let spent = || SourceError::Unavailable("this reconcile's Prometheus time budget is spent".to_string());
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(spent());
    }
    tokio::time::timeout(left, query).await.unwrap_or_else(|_| Err(spent()))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn hanging() -> Result<u8, SourceError> {
        std::future::pending().await
    }

    #[tokio::test]
    async fn queries_end_by_the_deadline_and_fail_at_once_after_it() {
        let started = Instant::now();
        let results = within(Duration::from_millis(200), async {
            let first = bounded(hanging()).await;
            let second = bounded(hanging()).await;
            (first, second, Instant::now())
        })
        .await;
        assert!(matches!(&results.0, Err(SourceError::Unavailable(m)) if m.contains("budget")), "{:?}", results.0);
        assert!(results.1.is_err());
        assert!(results.2 - started < Duration::from_secs(2), "{:?}", results.2 - started);
        assert_eq!(bounded(async { Ok(7) }).await, Ok(7), "no budget outside `within`");
    }
}
