//! Canary traffic routers. A router owns the route that sends part of the traffic to the
//! candidate; the daemon only asks it for a weight. ingress-nginx (`nginx.rs`) creates a
//! canary Ingress beside the user's; Gateway API (`gateway.rs`, applied by
//! `gateway_apply.rs`) edits the user's HTTPRoute in place, owning only its backendRef and
//! weights. [`Router`] is the one the daemon holds.

pub mod gateway;
pub mod gateway_apply;
pub mod nginx;

use std::future::Future;

use super::K8sError;

pub use gateway_apply::GatewayRouter;
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

/// The router of one rollout: by `serin.io/ingress` or by `serin.io/route`.
pub enum Router {
    // Boxed: both hold Kubernetes API handles and objects.
    Nginx(Box<NginxRouter>),
    Gateway(Box<GatewayRouter>),
}

impl TrafficRouter for Router {
    async fn set_weight(&self, weight: u8) -> Result<(), K8sError> {
        match self {
            Router::Nginx(r) => r.set_weight(weight).await,
            Router::Gateway(r) => r.set_weight(weight).await,
        }
    }

    async fn current_weight(&self) -> Result<Option<u8>, K8sError> {
        match self {
            Router::Nginx(r) => r.current_weight().await,
            Router::Gateway(r) => r.current_weight().await,
        }
    }

    async fn remove(&self) -> Result<(), K8sError> {
        match self {
            Router::Nginx(r) => r.remove().await,
            Router::Gateway(r) => r.remove().await,
        }
    }
}
