//! `serin run`: the in-cluster daemon (README: "Commands", "The HTTP API").
//!
//! ```text
//! HTTP server (every replica) ── probes, /metrics, API reads from a metadata cache,
//!                                 API writes as annotations on the candidate
//! leader election (optional) ──► controllers (leader only) ──► reconcile per candidate
//! ```
//!
//! Files: `controller` (what triggers a reconcile), `reconcile` (one reconcile, the
//! pipeline), `run_start` (when a run starts), `resolve` (the objects a rollout names),
//! `execute` (doing the work), `release` (restoring traffic on opt-out or deletion),
//! `command` (operator commands), `plan` (pure timing and work rules), `leader` (the
//! Lease), `context` (what reconciles share), `claims` (objects shared between rollouts).

mod claims;
pub mod command;
mod contain;
mod context;
mod controller;
mod drift;
mod execute;
pub mod leader;
mod not_started;
mod preflight;
mod reconcile;
mod release;
mod remember;
mod resolve;
mod route_gate;
mod snapshot;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use tokio::sync::watch;

pub use context::{Context, Error};

use crate::judge::JudgeConfig;
use crate::k8s::events::EventSink;
use crate::server::{self, ApiToken, RolloutIndex, ServerState};
use crate::source::PrometheusSource;
use crate::telemetry::{Instrumented, Metrics};
use crate::template::Catalog;
use leader::{Elector, Leadership, LeaseConfig};

/// `serin run`'s configuration.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub prometheus: String,
    pub catalog: Catalog,
    /// Namespaces to watch; empty = all.
    pub namespaces: Vec<String>,
    pub dry_run: bool,
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
    /// `SERIN_API_TOKEN`; without it the mutating routes answer 403.
    pub api_token: Option<String>,
    /// `--leader-election`: act only while holding the Lease `serin-leader`.
    pub leader_election: Option<LeaseConfig>,
    /// `--notify` URLs (README, "Notifications").
    pub notify: crate::notify::Targets,
}

/// Runs until SIGTERM or SIGINT, or until leadership is lost (an error: the process
/// exits, and a restarted pod comes back as a follower).
pub async fn run(config: RunConfig) -> anyhow::Result<()> {
    let client = Client::try_default().await.map_err(|e| anyhow::anyhow!("connecting to Kubernetes: {e}"))?;
    let metrics = Arc::new(Metrics::new());
    let source = Instrumented { inner: PrometheusSource::new(&config.prometheus)?, metrics: metrics.clone() };
    let context = Arc::new(Context {
        client: client.clone(),
        source,
        catalog: config.catalog,
        judge: JudgeConfig::default(),
        events: EventSink::new(client.clone()),
        http: crate::k8s::smoke::client()?,
        dry_run: config.dry_run,
        notifier: crate::notify::Notifier::start(&config.notify, Default::default(), metrics.clone())
            .map_err(anyhow::Error::msg)?,
        metrics: metrics.clone(),
        leadership: if config.leader_election.is_some() { Leadership::elected() } else { Leadership::default() },
        peers: Default::default(),
    });
    tracing::info!(
        prometheus = %config.prometheus,
        namespaces = ?config.namespaces,
        dry_run = config.dry_run,
        leader_election = config.leader_election.is_some(),
        "serin daemon starting"
    );
    let scopes: Vec<Option<String>> =
        if config.namespaces.is_empty() { vec![None] } else { config.namespaces.into_iter().map(Some).collect() };
    let stopping = stop_on_signal();

    let (rollouts, synced) = RolloutIndex::watch(&client, &scopes);
    let ready = Arc::new(AtomicBool::new(false));
    let ready_flag = ready.clone();
    tokio::spawn(async move {
        synced.await;
        ready_flag.store(true, Ordering::Release);
        tracing::info!("rollout caches synced: ready");
    });
    let listener = server::listen::bind(config.listen)?;
    tracing::info!(address = %listener.local_addr()?, "HTTP server listening");
    let state = ServerState {
        rollouts,
        metrics: metrics.clone(),
        token: ApiToken::new(config.api_token),
        client: client.clone(),
        ready,
    };
    let server = tokio::spawn(server::serve(listener, state, stopped(stopping.clone())));

    let outcome = match config.leader_election {
        None => {
            metrics.set_leader(true);
            run_controllers(&client, &scopes, &context, &stopping).await;
            Ok(())
        }
        Some(lease) => lead(&client, lease, &scopes, &context, &stopping).await,
    };
    metrics.set_leader(false);
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "HTTP server failed"),
        Err(_) => tracing::warn!("HTTP server did not stop within 5 s"),
        _ => {}
    }
    tracing::info!("serin daemon stopped");
    outcome
}

/// Waits for the Lease, drives the rollouts while holding it, and gives it up on shutdown.
async fn lead(
    client: &Client,
    lease: LeaseConfig,
    scopes: &[Option<String>],
    context: &Arc<Context>,
    stopping: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let leases: Api<Lease> = Api::default_namespaced(client.clone());
    let identity = lease.identity.clone();
    tracing::info!(identity, namespace = client.default_namespace(), "waiting for the Lease serin-leader");
    let (leading_tx, mut leading) = watch::channel(false);
    let elector = tokio::spawn(Elector::new(leases.clone(), lease, context.leadership.clone()).run(leading_tx));
    tokio::select! {
        got = leading.wait_for(|l| *l) => if got.is_err() { anyhow::bail!("leader election ended before leading") },
        _ = stopped(stopping.clone()) => {
            elector.abort();
            return Ok(());
        }
    }
    context.metrics.set_leader(true);
    let lost = async move {
        let _ = leading.wait_for(|l| !*l).await;
    };
    tokio::select! {
        _ = run_controllers(client, scopes, context, stopping) => {
            elector.abort();
            Elector::release(&leases, &identity).await;
            Ok(())
        }
        _ = lost => {
            context.metrics.set_leader(false);
            anyhow::bail!("lost the Lease serin-leader: exiting so that only the new leader acts")
        }
    }
}

async fn run_controllers(
    client: &Client,
    scopes: &[Option<String>],
    context: &Arc<Context>,
    stopping: &watch::Receiver<bool>,
) {
    let controllers = scopes.iter().map(|namespace| {
        controller::run(client.clone(), namespace.clone(), context.clone(), stopped(stopping.clone()))
    });
    // kube's graceful shutdown waits for the watches as well as the reconciles in flight:
    // before the caches have synced (an API server that does not answer), forever. Every
    // reconcile is write-ahead, so cutting one short loses nothing.
    let grace = async {
        stopped(stopping.clone()).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        _ = futures::future::join_all(controllers) => {}
        _ = grace => tracing::warn!("the controllers did not stop within {SHUTDOWN_GRACE:?} of the signal: stopping anyway"),
    }
}

/// How long the reconciles in flight may finish after SIGTERM or SIGINT.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// A flag set on SIGTERM or SIGINT.
fn stop_on_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
        tracing::info!("signal received: stopping");
        let _ = tx.send(true);
    });
    rx
}

/// Resolves once `stopping` is set.
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}

/// `serin run`'s entry from the CLI: a multi-threaded runtime around [`run`].
pub fn main(config: RunConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let outcome = runtime.block_on(run(config));
    // Dropping the runtime would wait for every blocking task (a DNS lookup of a host that
    // does not answer, say); the process is ending anyway.
    runtime.shutdown_timeout(Duration::from_secs(1));
    outcome
}
