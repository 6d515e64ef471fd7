//! Which rollout may write the objects two rollouts claim (README, "Lifecycle"). Pure: the
//! daemon builds each rollout's [`Contender`] from what it reads, [`refusals`] decides.
//!
//! - A run in flight keeps its objects: a rollout that would start a run on an object
//!   another run holds is refused, and writes nothing, until that run ends.
//! - A rollout without a run in flight holds nothing: it never refuses another, so an idle
//!   rollout (one that succeeded long ago, or never started) cannot block a new run forever.
//! - Two runs in flight on one object (both started in the same instant, each before it
//!   could see the other's record, or from before serin refused them) are ordered by when
//!   they started, then by name: the later one makes no progress until the earlier ends.
//! - A rollout whose own Services select the other side's pods (its stable Service selects
//!   the canary's pods, its canary Service the stable's) does not start either: the split
//!   would differ from the weight. A run in flight is not stopped by it.
//!
//! ```
//! use std::time::UNIX_EPOCH;
//! use serin_core::target::claims::Claims;
//! use serin_core::target::refusal::{Contender, refusals};
//!
//! let claims = |name: &str| {
//!     let mut c = Claims::new("production", name);
//!     c.object("Deployment", "sark", "stable Deployment");
//!     c
//! };
//! let first = Contender { claims: claims("sark-canary"), running_since: Some(UNIX_EPOCH) };
//! let second = Contender { claims: claims("sark-canary-2"), running_since: None };
//! let refused = refusals(&second, std::slice::from_ref(&first));
//! assert_eq!(refused, ["Deployment production/sark is the stable Deployment of both production/sark-canary \
//!     and production/sark-canary-2: this run waits until the run of production/sark-canary ends"]);
//! assert!(refusals(&first, &[second]).is_empty(), "a newcomer never disturbs a run in flight");
//! ```

use std::time::SystemTime;

use super::claims::{Claims, conflicts, shared};

/// A rollout as the others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contender {
    pub claims: Claims,
    /// When its run in flight started; `None`: no run in flight (or a dry run, which
    /// writes nothing), so it holds nothing.
    pub running_since: Option<SystemTime>,
}

/// Why `me` may not write its objects now, one sentence per rollout in its way, each naming
/// it; empty when it may. `others` may include `me` (it is skipped).
pub fn refusals(me: &Contender, others: &[Contender]) -> Vec<String> {
    let mut found = Vec::new();
    let own = me.claims.name();
    if me.running_since.is_none() {
        for conflict in conflicts(std::slice::from_ref(&me.claims)) {
            found.push(format!("{}: the run does not start while they overlap", conflict.message));
        }
    }
    for other in others {
        let name = other.claims.name();
        let Some(since) = other.running_since else { continue };
        if name == own {
            continue;
        }
        let wait = match me.running_since {
            None => format!("this run waits until the run of {name} ends"),
            Some(mine) if (since, &name) < (mine, &own) => {
                format!("the run of {name} started first: this run makes no progress until it ends")
            }
            Some(_) => continue,
        };
        let objects = shared(&other.claims, &me.claims);
        let Some((first, more)) = objects.split_first() else { continue };
        let also = match more {
            [] => String::new(),
            more => format!(" (and {})", more.iter().map(|m| object_of(m)).collect::<Vec<_>>().join(", ")),
        };
        found.push(format!("{first}{also}: {wait}"));
    }
    found
}

/// "Ingress ns/sark" out of "Ingress ns/sark is the …".
fn object_of(sentence: &str) -> &str {
    sentence.split(" is the ").next().unwrap_or(sentence)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::target::claims::Side;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn canary(name: &str, stable: &str, since: Option<u64>) -> Contender {
        let spec = crate::spec::parse(
            name,
            &BTreeMap::from([
                ("serin.io/strategy".to_string(), "canary".to_string()),
                ("serin.io/stable".to_string(), stable.to_string()),
            ]),
        )
        .unwrap();
        let mut claims = Claims::new("production", name);
        claims.spec_objects(&spec);
        Contender { claims, running_since: since.map(|s| UNIX_EPOCH + Duration::from_secs(s)) }
    }

    #[test]
    fn a_newcomer_on_a_held_stable_waits_naming_the_holder_and_every_shared_object() {
        let holder = canary("sark-canary", "sark", Some(100));
        let newcomer = canary("sark-canary-2", "sark", None);
        let refused = refusals(&newcomer, &[holder.clone(), newcomer.clone()]);
        assert_eq!(
            refused,
            ["Deployment production/sark is the stable Deployment of both production/sark-canary and \
                 production/sark-canary-2 (and Ingress production/sark, Ingress production/sark-canary): this run \
                 waits until the run of production/sark-canary ends"]
        );
        assert_eq!(
            refusals(&holder, std::slice::from_ref(&newcomer)),
            Vec::<String>::new(),
            "the holder is not disturbed"
        );
    }

    #[test]
    fn idle_rollouts_hold_nothing() {
        let idle = canary("sark-canary", "sark", None);
        let newcomer = canary("sark-canary-2", "sark", None);
        assert!(refusals(&newcomer, &[idle]).is_empty());
        let elsewhere = canary("web-canary", "web", Some(1));
        assert!(refusals(&newcomer, &[elsewhere]).is_empty(), "nothing shared");
    }

    #[test]
    fn of_two_runs_in_flight_the_later_one_yields_and_a_tie_goes_by_name() {
        let early = canary("sark-b", "sark", Some(100));
        let late = canary("sark-a", "sark", Some(101));
        assert!(refusals(&early, std::slice::from_ref(&late)).is_empty());
        let held = refusals(&late, std::slice::from_ref(&early));
        assert_eq!(held.len(), 1);
        assert!(
            held[0].ends_with("the run of production/sark-b started first: this run makes no progress until it ends")
        );
        let (a, b) = (canary("sark-a", "sark", Some(100)), canary("sark-b", "sark", Some(100)));
        assert!(refusals(&a, std::slice::from_ref(&b)).is_empty());
        assert_eq!(refusals(&b, &[a]).len(), 1);
    }

    #[test]
    fn own_overlapping_selectors_refuse_a_start_but_not_a_run_in_flight() {
        let mut me = canary("sark-canary", "sark", None);
        me.claims.pods("sark-canary", Side::Canary, labels(&[("app", "sark"), ("version", "canary")]));
        me.claims.pods("sark", Side::Stable, labels(&[("app", "sark"), ("version", "stable")]));
        me.claims.service("sark", Side::Stable, labels(&[("app", "sark")]));
        let refused = refusals(&me, &[]);
        assert_eq!(refused.len(), 1, "{refused:#?}");
        assert!(refused[0].starts_with(
            "Service production/sark (stable Service of production/sark-canary) selects the canary pods of \
             Deployment production/sark-canary"
        ));
        assert!(refused[0].ends_with("the run does not start while they overlap"));
        me.running_since = Some(UNIX_EPOCH);
        assert!(refusals(&me, &[]).is_empty());
    }
}
