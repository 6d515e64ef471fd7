//! Canary traffic routers. A router owns the route that sends part of the traffic to the
//! candidate; the daemon only asks it for a weight. ingress-nginx (`nginx.rs`) is what
//! serin's users run today; ingress-nginx is retired upstream, and a Gateway API HTTPRoute
//! router is meant to be the second implementation of this trait.

pub mod gateway;
pub mod nginx;

use std::future::Future;

use super::K8sError;

pub use nginx::NginxRouter;

pub trait TrafficRouter {
    /// Sends `weight` percent of the traffic to the canary, creating the route if needed.
    /// Must be idempotent, and a single write when only the weight changes (rollback).
    fn set_weight(&self, weight: u8) -> impl Future<Output = Result<(), K8sError>> + Send;

    /// The weight the route carries now (`None`: no canary route).
    fn current_weight(&self) -> impl Future<Output = Result<Option<u8>, K8sError>> + Send;

    /// Removes the canary route; a missing route is success.
    fn remove(&self) -> impl Future<Output = Result<(), K8sError>> + Send;
}
