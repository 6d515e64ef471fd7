//! `serin status` (also `kubectl serin status`): the rollouts as the cluster holds them,
//! read with the caller's credentials; `--watch` follows one until it ends. What is
//! printed is decided in `status_view`; this file reads the cluster and keeps time.
//!
//! Exit codes (README "serin in CI"): 0 Succeeded (without `--watch`: any rollout read
//! that is neither RolledBack nor Invalid), 1 RolledBack or Invalid (or, watched, deleted
//! or opted out), 2 bad input or cluster unreachable, 3 `--timeout` reached while the
//! watched rollout was still under way or paused.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::time::Instant;

use super::cluster::{Cluster, ClusterArgs, RolloutRef, check_namespace, parse_rollout};
use super::status_view::{self, RolloutStatus};
use super::{CliError, OutputFormat, emit, runtime};

/// `--watch --timeout` ran out while the rollout was still under way.
const TIMED_OUT: u8 = 3;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The rollout: NAMESPACE/NAME (or NAME, in -n's namespace). Without it, every rollout
    /// (Deployment with serin.io/strategy) of the namespace.
    rollout: Option<String>,
    /// Namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long, conflicts_with_all = ["namespace", "rollout"])]
    all_namespaces: bool,
    /// Follow the rollout until it ends (Succeeded, RolledBack or Invalid).
    #[arg(short = 'w', long, requires = "rollout")]
    watch: bool,
    /// Give up after this long (e.g. 45m): exit 3 if the watched rollout is still under
    /// way; without --watch, the longest wait for the cluster's answer.
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: OutputFormat,
    #[command(flatten)]
    cluster: ClusterArgs,
}

pub fn run(args: StatusArgs) -> Result<ExitCode, CliError> {
    if let Some(ns) = &args.namespace {
        check_namespace(ns)?;
    }
    let deadline = args.timeout.map(|t| Instant::now() + t);
    runtime()?.block_on(async {
        let cluster = args.cluster.connect().await?;
        let flag = args.namespace.as_deref();
        let Some(text) = &args.rollout else {
            let namespace = (!args.all_namespaces).then(|| flag.unwrap_or(cluster.default_namespace()).to_string());
            let list = within(deadline, list(&cluster, namespace.as_deref())).await?;
            return Ok(print(&Read::List(list), args.output));
        };
        let target = parse_rollout(text, flag, cluster.default_namespace())?;
        let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &target.namespace);
        let status = within(deadline, read(&cluster, &api, &target)).await?;
        if !args.watch {
            return Ok(print(&Read::One(Box::new(status)), args.output));
        }
        watch(&api, &target, status, args.output, deadline.zip(args.timeout)).await
    })
}

/// `--watch`: shows `status`, then every change, until the rollout ends or `timeout`
/// (its deadline and its length) runs out.
async fn watch(
    api: &Api<Deployment>,
    target: &RolloutRef,
    status: RolloutStatus,
    output: OutputFormat,
    timeout: Option<(Instant, Duration)>,
) -> Result<ExitCode, CliError> {
    let mut printer = Printer::new(output);
    printer.show(&status);
    if let Some(code) = status_view::watch_outcome(&status) {
        return Ok(ExitCode::from(code));
    }
    let followed = follow(api, target, &mut printer);
    let Some((deadline, length)) = timeout else { return followed.await };
    match tokio::time::timeout_at(deadline, followed).await {
        Ok(outcome) => outcome,
        Err(_) => {
            let phase = printer.last_phase.unwrap_or("not started");
            eprintln!("serin: timed out after {}: {target} is still {phase}", humantime::format_duration(length));
            Ok(ExitCode::from(TIMED_OUT))
        }
    }
}

/// `future`, or an error once `deadline` passes: an unanswered read is an unreachable cluster.
async fn within<T>(
    deadline: Option<Instant>,
    future: impl Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    match deadline {
        None => future.await,
        Some(deadline) => tokio::time::timeout_at(deadline, future)
            .await
            .unwrap_or_else(|_| Err(CliError("the Kubernetes API did not answer within --timeout".into()))),
    }
}

async fn read(cluster: &Cluster, api: &Api<Deployment>, target: &RolloutRef) -> Result<RolloutStatus, CliError> {
    let found = api.get_opt(&target.name).await.map_err(|e| cluster.error(&e))?;
    let deployment = found.ok_or_else(|| CliError(format!("no Deployment {target}")))?;
    RolloutStatus::of(&deployment)
        .ok_or_else(|| CliError(format!("{target} is not a rollout: it has no serin.io/strategy annotation")))
}

/// Every opted-in Deployment of `namespace` (all namespaces: `None`), by namespace and name.
async fn list(cluster: &Cluster, namespace: Option<&str>) -> Result<Vec<RolloutStatus>, CliError> {
    let api: Api<Deployment> = crate::k8s::scoped_api(&cluster.client, namespace);
    let deployments = api.list(&Default::default()).await.map_err(|e| cluster.error(&e))?;
    let mut rollouts: Vec<RolloutStatus> = deployments.items.iter().filter_map(RolloutStatus::of).collect();
    rollouts.sort_by_key(RolloutStatus::key);
    Ok(rollouts)
}

/// A read without `--watch`: one rollout (`NS/NAME`) or a list (`-n`, `-A`), which in
/// JSON is `{"items": […]}` however many it holds, as the API's list is.
enum Read {
    One(Box<RolloutStatus>),
    List(Vec<RolloutStatus>),
}

fn print(read: &Read, output: OutputFormat) -> ExitCode {
    let rollouts = match read {
        Read::One(status) => std::slice::from_ref(status.as_ref()),
        Read::List(list) => list.as_slice(),
    };
    match (output, read) {
        (OutputFormat::Table, _) if rollouts.is_empty() => {
            emit(&["no rollouts (Deployments with serin.io/strategy)".into()])
        }
        (OutputFormat::Table, _) => emit(&status_view::table(rollouts)),
        (OutputFormat::Json, Read::One(status)) => emit(&[pretty(&status_view::json(status))]),
        (OutputFormat::Json, Read::List(list)) => emit(&[pretty(&status_view::json_list(list))]),
    }
    let failed = rollouts.iter().any(status_view::has_failed);
    ExitCode::from(u8::from(failed))
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("a status always serialises")
}

/// Watches the one Deployment until its rollout ends; the exit code.
async fn follow(api: &Api<Deployment>, target: &RolloutRef, printer: &mut Printer) -> Result<ExitCode, CliError> {
    let config = watcher::Config::default().fields(&format!("metadata.name={}", target.name));
    let mut events = std::pin::pin!(watcher(api.clone(), config).default_backoff());
    while let Some(event) = events.next().await {
        let deployment = match event {
            Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) => d,
            Ok(watcher::Event::Delete(_)) => return gone(target, "the Deployment was deleted"),
            Ok(watcher::Event::Init | watcher::Event::InitDone) => continue,
            // The watch restarts by itself (with backoff); the deadline bounds the wait.
            Err(e) => {
                eprintln!("serin: watching {target}: {e}; retrying");
                continue;
            }
        };
        let Some(status) = RolloutStatus::of(&deployment) else {
            return gone(target, "serin.io/strategy was removed");
        };
        printer.show(&status);
        if let Some(code) = status_view::watch_outcome(&status) {
            return Ok(ExitCode::from(code));
        }
    }
    Err(CliError(format!("the watch of {target} ended")))
}

fn gone(target: &RolloutRef, why: &str) -> Result<ExitCode, CliError> {
    eprintln!("serin: {target} is no longer a rollout: {why}");
    Ok(ExitCode::from(1))
}

/// Prints each change of the watched rollout: redrawn on a cleared terminal (as `watch`
/// does: long evidence lines wrap, so moving the cursor back over them would miscount),
/// one line per change otherwise (CI logs), one JSON object per line with `-o json`.
struct Printer {
    output: OutputFormat,
    terminal: bool,
    /// The block last shown: an unchanged rollout prints nothing.
    shown: Vec<String>,
    last_phase: Option<&'static str>,
}

impl Printer {
    fn new(output: OutputFormat) -> Printer {
        let terminal = std::io::stdout().is_terminal();
        Printer { output, terminal, shown: Vec::new(), last_phase: None }
    }

    fn show(&mut self, status: &RolloutStatus) {
        let block = status_view::block(status);
        if block == self.shown {
            return;
        }
        self.last_phase = status.phase().map(crate::rollout::Phase::as_str);
        match self.output {
            OutputFormat::Json => {
                let line = serde_json::to_string(&status_view::json(status)).expect("a status always serialises");
                emit(&[line]);
            }
            OutputFormat::Table if self.terminal => {
                // Cursor home and clear the screen before the block.
                let mut lines = block.clone();
                lines[0].insert_str(0, "\x1b[H\x1b[2J");
                emit(&lines);
            }
            OutputFormat::Table => emit(&[status_view::watch_line(status, SystemTime::now())]),
        }
        self.shown = block;
    }
}
