//! Gateway API routing between decisions (README, "Gateway API routing"): a step counts
//! only once the gateway took it, and serin's part of the route is kept in place.
//!
//! Before each analysis step of a canary on an HTTPRoute, the route is read:
//! - serin's backendRef is gone or carries another weight (a GitOps tool re-applied the
//!   route as written, someone edited it): the weight serin set is applied again on what
//!   the other writer left (their edits stay), with a Warning; the step waits for the
//!   gateway as after any weight change;
//! - the gateway has not yet answered the route's generation in `status.parents` (every
//!   parent `Accepted=True`, `ResolvedRefs=True`): no analysis tick and no step clock, the
//!   step's time starts once it has;
//! - a parent refused it: a Warning names the parent, condition, reason and message; a
//!   refusal lasting past progress-deadline rolls back (weight 0, serin's part removed).
//!
//! Pure decisions are in `k8s::router::gateway` (`split`, `acceptance`); this file applies.

use std::time::SystemTime;

use crate::k8s::K8sError;
use crate::k8s::events::Notice;
use crate::k8s::record::{Record, Work};
use crate::k8s::router::Route;
use crate::k8s::router::gateway::{self, Acceptance, Split};
use crate::k8s::router::gateway_apply::{http_routes, read_route};
use crate::rollout::{Action, Phase};
use crate::spec::{RolloutSpec, Routing, Strategy};
use crate::time::format_duration;

use super::context::Apis;
use super::resolve::World;

const REFUSED: &str = "route-refused";

/// [`holds`] for the run on record, unless work is still pending (it goes first).
pub async fn check(
    apis: &Apis,
    world: &World,
    spec: &RolloutSpec,
    stored: &mut Option<Record>,
    notices: &mut Vec<Notice>,
    now: SystemTime,
) -> Result<bool, K8sError> {
    match stored.as_mut().filter(|r| r.pending.is_empty()) {
        Some(record) => holds(apis, world, spec, record, notices, now).await,
        None => Ok(false),
    }
}

/// True when the step must wait (the record says why); false to analyse as usual.
pub async fn holds(
    apis: &Apis,
    world: &World,
    spec: &RolloutSpec,
    record: &mut Record,
    notices: &mut Vec<Notice>,
    now: SystemTime,
) -> Result<bool, K8sError> {
    let (World::Canary(canary), Strategy::Canary(canary_spec)) = (world, &spec.strategy) else { return Ok(false) };
    let Route::Gateway { name, canary: route_canary } = &canary.route else { return Ok(false) };
    if record.state.phase != Phase::Progressing || record.dry_run || record.state.weight == 0 {
        record.route_waiting_since = None;
        return Ok(false);
    }
    let namespace = apis.deployments.namespace().unwrap_or_default();
    let Some(route) = read_route(&http_routes(apis.client.clone(), namespace), name).await? else {
        return Ok(false);
    };
    let weight = record.state.weight;
    let expected = match canary_spec.routing {
        Routing::Weight => Split::Weight(weight),
        _ => Split::Weight(100),
    };
    let found = gateway::split(&route, route_canary);
    if found != expected {
        canary.route.router(&apis.client, namespace).set_weight(weight).await?;
        let what = match found {
            Split::Absent => "no longer carries serin's backendRef".to_string(),
            Split::Partial => "carries serin's backendRef in only some of its stable rules".to_string(),
            Split::Weight(w) => format!("sends {w}% to the canary"),
        };
        notices.push(Notice::warning(
            "RouteChanged",
            format!(
                "HTTPRoute {name} {what} (another writer changed it): canary weight {weight}% applied again, \
                 their edits kept; the step waits for the gateway to take it"
            ),
        ));
        wait(record, now, format!("HTTPRoute {name} re-split at {weight}%: waiting for the gateway"));
        return Ok(true);
    }
    match gateway::acceptance(&route) {
        Acceptance::Accepted => {
            if record.route_waiting_since.take().is_some() {
                // The step's clock and its first analysis window start now.
                record.state.step_started = now;
                record.analysed_at = Some(now);
                notices.push(Notice::normal(
                    "RouteAccepted",
                    format!("the gateway took HTTPRoute {name} at canary weight {weight}%: the step starts"),
                ));
            }
            Ok(false)
        }
        Acceptance::Pending(why) => {
            wait(record, now, format!("waiting for the gateway to take canary weight {weight}%: {why}"));
            Ok(true)
        }
        Acceptance::Refused { parent, condition, reason, message } => {
            let note = format!(
                "{parent} refused HTTPRoute {name} at canary weight {weight}%: {condition} ({reason}): {message}"
            );
            if record.state.reason != note {
                notices.push(Notice::warning("RouteRefused", note.clone()));
            }
            wait(record, now, note.clone());
            let since = record.route_waiting_since.unwrap_or(now);
            if now.duration_since(since).unwrap_or_default() >= spec.progress_deadline {
                roll_back(record, spec, notices, now, &note);
            }
            Ok(true)
        }
    }
}

/// No analysis and no step clock until the gateway answers.
fn wait(record: &mut Record, now: SystemTime, reason: String) {
    record.route_waiting_since.get_or_insert(now);
    record.state.step_started = now;
    record.analysed_at = Some(now);
    record.state.updated = now;
    record.state.reason = reason;
}

fn roll_back(record: &mut Record, spec: &RolloutSpec, notices: &mut Vec<Notice>, now: SystemTime, refusal: &str) {
    let reason = format!(
        "the gateway refused the route for longer than progress-deadline {}: {refusal}",
        format_duration(spec.progress_deadline)
    );
    record.state.phase = Phase::RolledBack;
    record.state.trigger = Some(REFUSED.into());
    record.state.decided_at = Some(now);
    record.state.weight = 0;
    record.state.reason = reason.clone();
    record.route_waiting_since = None;
    record.pending =
        vec![Work::Act(Action::Rollback { trigger: REFUSED.into(), reason: reason.clone() }), Work::RemoveCanary];
    notices.push(Notice::warning("RolledBack", reason));
}
