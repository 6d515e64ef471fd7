//! Leader election on a `coordination.k8s.io/v1` Lease (`--leader-election`), the
//! algorithm of client-go's `leaderelection` package:
//!
//! - a candidate takes the Lease when it is free or its holder has not renewed it for
//!   `duration`, as measured on the candidate's *own* clock since it last saw the Lease
//!   change (so clocks need not agree, only run at the same rate);
//! - every write is a PUT with the resourceVersion it read, so of two candidates racing
//!   for a free Lease exactly one wins (the other gets 409);
//! - the leader renews every `retry`; when it could not renew for `renew_deadline`
//!   (< `duration`) it steps down before anyone may take over.
//!
//! kube-lease-manager was considered: its exclusion rests on server-side apply's field
//! ownership conflicts, while this rests on resourceVersions, which every API server, and
//! the strict fake the tests use, enforce.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use tokio::sync::watch;

/// The Lease's name (README, "Commands").
pub const LEASE_NAME: &str = "serin-leader";

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub identity: String,
    /// How long a holder's claim lasts without renewal.
    pub duration: Duration,
    /// The leader steps down when it could not renew for this long.
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew.
    pub retry: Duration,
}

impl LeaseConfig {
    /// client-go's proportions (15 s / 10 s / 2 s) scaled to `duration`.
    pub fn new(identity: String, duration: Duration) -> LeaseConfig {
        LeaseConfig { identity, duration, renew_deadline: duration * 2 / 3, retry: duration * 2 / 15 }
    }
}

/// Until when this replica may act: the renew deadline counted from the start of its last
/// successful renewal. A follower may take the Lease only after `duration` (> the renew
/// deadline) without renewals, so a write checked against this never overlaps another
/// leader's. Without leader election the replica may always act.
#[derive(Debug, Clone, Default)]
pub struct Leadership(Option<Arc<RwLock<Option<Instant>>>>);

impl Leadership {
    /// A replica that acts only while it holds the Lease.
    pub fn elected() -> Leadership {
        Leadership(Some(Arc::new(RwLock::new(None))))
    }

    /// Whether a traffic write may be made now.
    pub fn may_act(&self) -> bool {
        match &self.0 {
            None => true,
            Some(until) => until.read().map(|u| u.is_some_and(|u| Instant::now() < u)).unwrap_or(false),
        }
    }

    fn extend_to(&self, until: Option<Instant>) {
        if let Some(lock) = &self.0
            && let Ok(mut current) = lock.write()
        {
            *current = until;
        }
    }
}

/// What a candidate last saw of the Lease, and when (on its own clock).
struct Observed {
    holder_and_renewal: Option<serde_json::Value>,
    at: Instant,
}

pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<Observed>,
    leadership: Leadership,
}

impl Elector {
    /// `leadership` is kept up to date with how long this replica may act.
    pub fn new(api: Api<Lease>, config: LeaseConfig, leadership: Leadership) -> Elector {
        Elector { api, config, observed: None, leadership }
    }

    /// Runs until `leading` is dropped by every receiver or leadership is lost: sends
    /// `true` once leading, then `false` and returns if it could not renew in time.
    pub async fn run(mut self, leading: watch::Sender<bool>) {
        let mut last_renewal: Option<Instant> = None;
        loop {
            if leading.is_closed() {
                return;
            }
            // Each attempt is bounded: kube's client retries throttled and unavailable
            // answers for minutes, and a hung PUT must not outlast the renew deadline.
            let started = Instant::now();
            let budget = match last_renewal {
                Some(renewed) => self.config.renew_deadline.saturating_sub(renewed.elapsed()),
                None => self.config.renew_deadline,
            };
            match tokio::time::timeout(budget, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => {
                    self.leadership.extend_to(Some(started + self.config.renew_deadline));
                    if last_renewal.is_none() {
                        tracing::info!(identity = %self.config.identity, lease = LEASE_NAME, "became the leader");
                        let _ = leading.send(true);
                    }
                    last_renewal = Some(started);
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, lease = LEASE_NAME, "leader election: Lease not written"),
                Err(_) => tracing::warn!(lease = LEASE_NAME, "leader election: the Lease write did not answer in time"),
            }
            if let Some(renewed) = last_renewal
                && renewed.elapsed() >= self.config.renew_deadline
            {
                tracing::error!(
                    lease = LEASE_NAME,
                    "could not renew the Lease within the renew deadline: stepping down"
                );
                self.leadership.extend_to(None);
                let _ = leading.send(false);
                return;
            }
            tokio::time::sleep(self.config.retry).await;
        }
    }

    /// One attempt: `Ok(true)` when this candidate holds the Lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = micro_time(SystemTime::now());
        let Some(mut lease) = self.api.get_opt(LEASE_NAME).await? else {
            let fresh: Lease = serde_json::from_value(json!({
                "metadata": {"name": LEASE_NAME},
                "spec": self.claim(&now, 0),
            }))
            .expect("a valid Lease");
            return won(self.api.create(&PostParams::default(), &fresh).await);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let mine = holder.as_deref() == Some(self.config.identity.as_str());
        if !mine && holder.is_some() && !self.expired(&lease) {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let mut claim = self.claim(&now, transitions);
        if mine {
            claim["acquireTime"] = serde_json::to_value(&spec.acquire_time).expect("a MicroTime serialises");
        }
        lease.spec = Some(serde_json::from_value(claim).expect("a valid LeaseSpec"));
        won(self.api.replace(LEASE_NAME, &PostParams::default(), &lease).await)
    }

    fn claim(&self, now: &str, transitions: i32) -> serde_json::Value {
        json!({
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": self.config.duration.as_secs().max(1),
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": transitions,
        })
    }

    /// Whether the holder has let `duration` pass, on this candidate's clock, since the
    /// Lease last changed.
    fn expired(&mut self, lease: &Lease) -> bool {
        let spec = lease.spec.as_ref();
        let current = spec.map(|s| json!([s.holder_identity, s.renew_time, s.lease_duration_seconds]));
        let changed = self.observed.as_ref().is_none_or(|o| o.holder_and_renewal != current);
        if changed {
            self.observed = Some(Observed { holder_and_renewal: current, at: Instant::now() });
        }
        let duration = spec
            .and_then(|s| s.lease_duration_seconds)
            .map_or(self.config.duration, |s| Duration::from_secs(u64::try_from(s).unwrap_or(0)));
        self.observed.as_ref().is_some_and(|o| o.at.elapsed() >= duration)
    }

    /// Gives the Lease up (on shutdown), so a follower need not wait for it to expire.
    pub async fn release(api: &Api<Lease>, identity: &str) {
        let Ok(Some(mut lease)) = api.get_opt(LEASE_NAME).await else { return };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(identity) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        match api.replace(LEASE_NAME, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!(lease = LEASE_NAME, "released the Lease"),
            Err(e) => tracing::warn!(error = %e, lease = LEASE_NAME, "could not release the Lease"),
        }
    }
}

/// A write of the Lease: won (`true`), lost to another candidate's write (409: `false`),
/// or failed.
fn won(written: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
    match written {
        Ok(_) => Ok(true),
        Err(e) if crate::k8s::is_conflict_error(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A Kubernetes MicroTime: RFC 3339 with microseconds, UTC.
fn micro_time(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_follow_client_go_proportions() {
        let config = LeaseConfig::new("a".into(), Duration::from_secs(15));
        assert_eq!(config.renew_deadline, Duration::from_secs(10));
        assert_eq!(config.retry, Duration::from_secs(2));
    }

    #[test]
    fn leadership_lasts_until_its_deadline() {
        assert!(Leadership::default().may_act(), "without election a replica always acts");
        let elected = Leadership::elected();
        assert!(!elected.may_act(), "not before the Lease is held");
        elected.extend_to(Some(Instant::now() + Duration::from_secs(60)));
        assert!(elected.clone().may_act());
        elected.extend_to(Some(Instant::now() - Duration::from_millis(1)));
        assert!(!elected.may_act(), "no write once the renew deadline passed");
    }

    #[test]
    fn micro_time_has_microseconds() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_763_604_000_123_456);
        assert_eq!(micro_time(t), "2025-11-20T02:00:00.123456Z");
    }
}
