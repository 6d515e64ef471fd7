//! [`SimSource`]: the simulated world behind the [`MetricSource`] trait, so the engine
//! runs against a simulation exactly as it runs against Prometheus.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::source::{MetricSource, Sample, SourceError};

use super::answer::QueryRole;
use super::world::World;

/// Answers rendered queries from a [`World`], advancing it to each query's instant.
///
/// The world sits behind a `std::sync::Mutex` because the trait's futures must be
/// `Send`; no lock is held across an await (the answer is computed synchronously).
#[derive(Debug)]
pub struct SimSource {
    world: Mutex<World>,
    roles: BTreeMap<String, QueryRole>,
    /// The `increase` window every query stands for (the rendered `{{interval}}`).
    window: Duration,
}

impl SimSource {
    pub fn new(world: World, roles: BTreeMap<String, QueryRole>, window: Duration) -> SimSource {
        SimSource { world: Mutex::new(world), roles, window }
    }

    /// The canary weight for traffic from the next tick on (what the rollout just set).
    pub fn set_weight(&self, weight: u8) {
        self.lock().set_weight(weight);
    }

    pub fn roles(&self) -> &BTreeMap<String, QueryRole> {
        &self.roles
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Runs `f` on the world (to inspect ticks, advance, or export).
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.lock())
    }

    pub fn into_world(self) -> World {
        self.world.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A panic elsewhere while holding the lock leaves the world consistent (every
    /// mutation is a push or a plain store), so a poisoned lock is simply taken over.
    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl MetricSource for SimSource {
    async fn query(&self, promql: &str, at: SystemTime) -> Result<Vec<Sample>, SourceError> {
        let role = role_of(&self.roles, promql)?;
        Ok(self.lock().answer(role, at, self.window))
    }
}

/// The role of a rendered query; a query the simulation was not told about is rejected,
/// as Prometheus rejects a query it cannot parse.
fn role_of(roles: &BTreeMap<String, QueryRole>, promql: &str) -> Result<QueryRole, SourceError> {
    roles
        .get(promql)
        .copied()
        .ok_or_else(|| SourceError::BadQuery(format!("the simulation does not know this query: {promql}")))
}

/// A borrowed, read-only [`World`] behind the [`MetricSource`] trait: it answers from the
/// ticks generated so far and never advances the world. The decision-quality benchmark
/// owns its world (every algorithm under test sees the same one) and lends it to serin's
/// engine for each analysis tick through this.
#[derive(Debug, Clone, Copy)]
pub struct WorldSource<'a> {
    pub world: &'a World,
    pub roles: &'a BTreeMap<String, QueryRole>,
    /// The `increase` window every query stands for (the rendered `{{interval}}`).
    pub window: Duration,
}

impl MetricSource for WorldSource<'_> {
    async fn query(&self, promql: &str, at: SystemTime) -> Result<Vec<Sample>, SourceError> {
        let role = role_of(self.roles, promql)?;
        Ok(self.world.answer_generated(role, at, self.window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::answer::Measure;
    use crate::sim::world::Arm;
    use crate::sim::world::tests::scenario;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn answers_known_queries_and_rejects_others() {
        let roles = BTreeMap::from([(
            "canary_total".to_string(),
            QueryRole { arm: Arm::Canary, measure: Measure::Total, form: crate::sim::Form::Delta },
        )]);
        let world = World::new(&scenario(""), None);
        let start = world.start();
        let source = SimSource::new(world, roles, Duration::from_secs(60));
        source.set_weight(50);
        let at = start + Duration::from_secs(300);
        let fut = source.query("canary_total", at);
        assert_send(&fut);
        let answer = block_on(fut).unwrap();
        assert!(answer[0].value > 0.0);
        assert_eq!(source.with_world(|w| w.now()), at);
        assert!(matches!(block_on(source.query("up", at)), Err(SourceError::BadQuery(_))));
    }
}
