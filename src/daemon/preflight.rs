//! A run's templates checked against the Prometheus they query before the run moves any
//! traffic ([`crate::engine::preflight`]): a template filtering its errors on a label the
//! metric does not have would read 0% errors forever. A failed check makes the rollout
//! `Invalid` with the reasons; it is checked again at the next look (every minute), so a
//! metric that starts being scraped lets the run start. A Prometheus that cannot answer
//! the check holds the run too, with a status message and a Warning that say so, and is
//! asked again every few seconds.

use std::time::SystemTime;

use crate::engine::{Analysis, preflight};
use crate::k8s::record::{Record, Work};
use crate::rollout::Action;

use super::context::Context;

/// The problems that keep the run `started` from starting; empty when it may start (or
/// when no run starts, or the run starts already over).
///
/// A run that restarts in flight is not held: its first work takes the canary back to
/// weight 0 (its templates were checked when it first started), and holding it would leave
/// the new, unanalysed revision serving the old run's weight. `Err`: Prometheus cannot
/// answer, with the message that says so (no run starts unchecked).
pub async fn problems(
    ctx: &Context,
    analysis: &Analysis,
    started: Option<&Record>,
    now: SystemTime,
) -> Result<Vec<String>, String> {
    let Some(record) = started else { return Ok(Vec::new()) };
    let restarts_in_flight = record.pending.iter().any(|w| matches!(w, Work::Act(Action::SetWeight { weight: 0 })));
    if record.state.phase.is_terminal() || restarts_in_flight {
        return Ok(Vec::new());
    }
    preflight::check(&ctx.source, &analysis.templates, now)
        .await
        .map_err(|e| unreachable_message(ctx.source.inner.url(), &e.to_string()))
}

/// The status message (and Event note) of a run held by an unreachable Prometheus.
pub fn unreachable_message(url: &str, error: &str) -> String {
    format!(
        "Prometheus at {url} unreachable: {error}; the run waits (its templates are checked against \
         Prometheus before any traffic moves)"
    )
}
