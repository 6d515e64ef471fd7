//! The `serin` command line (README, "Commands"): `run`, `replay`, `record`, `lint`, and the cluster
//! commands `status`, `promote`, `abort`, `pause`, `resume`, `retry`. Invoked as
//! `kubectl-serin` (a symlink; kubectl runs it for `kubectl serin …`), the same binary
//! answers the cluster commands only.

mod cluster;
mod lint;
mod operate;
mod record;
mod replay;
mod status;
mod status_view;

use std::ffi::OsStr;
use std::io::Write;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::template::Catalog;

#[derive(Debug, Parser)]
#[command(name = "serin", version, about = "Progressive delivery analysis engine for Kubernetes")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The in-cluster daemon: watch annotated Deployments and drive their rollouts.
    Run(RunArgs),
    /// Replay the engine over a recording or a Prometheus' history: what would serin have done?
    Replay(replay::ReplayArgs),
    /// Record every query of a rollout's templates from Prometheus into a recording file.
    Record(record::RecordArgs),
    /// Validate Deployment annotations and analysis templates.
    Lint(lint::LintArgs),
    #[command(flatten)]
    Cluster(ClusterCommand),
}

/// The commands that read or operate rollouts in the cluster, with the caller's
/// credentials: `serin <command>` and `kubectl serin <command>`.
#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Show rollouts: phase, weight, each metric's last verdict with its evidence, the reason.
    Status(status::StatusArgs),
    /// Promote now, skipping the remaining steps or the observation.
    Promote(operate::OperateArgs),
    /// Roll back now (trigger `manual`).
    Abort(operate::OperateArgs),
    /// Hold progress (analysis and rollbacks go on).
    Pause(operate::OperateArgs),
    /// Release a pause.
    Resume(operate::OperateArgs),
    /// Run a rolled-back revision again.
    Retry(operate::OperateArgs),
}

impl ClusterCommand {
    fn run(self) -> Result<ExitCode, CliError> {
        use crate::k8s::operation::Operation;
        match self {
            ClusterCommand::Status(args) => status::run(args),
            ClusterCommand::Promote(args) => operate::run(Operation::Promote, args),
            ClusterCommand::Abort(args) => operate::run(Operation::Abort, args),
            ClusterCommand::Pause(args) => operate::run(Operation::Pause, args),
            ClusterCommand::Resume(args) => operate::run(Operation::Resume, args),
            ClusterCommand::Retry(args) => operate::run(Operation::Retry, args),
        }
    }
}

/// `kubectl serin …`: the cluster commands alone.
#[derive(Debug, Parser)]
#[command(name = "kubectl-serin", bin_name = "kubectl serin", version, about = "serin's rollouts, from kubectl")]
struct Plugin {
    #[command(subcommand)]
    command: ClusterCommand,
}

/// The kubectl plugin's file name (kubectl runs `kubectl-serin` for `kubectl serin`).
fn is_plugin(argv0: &OsStr) -> bool {
    let name = std::path::Path::new(argv0).file_name().and_then(OsStr::to_str).unwrap_or_default();
    name.strip_suffix(".exe").unwrap_or(name) == "kubectl-serin"
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Prometheus base URL, e.g. http://prometheus.monitoring:9090.
    #[arg(long, env = "SERIN_PROMETHEUS")]
    prometheus: String,
    /// Directory of extra analysis templates (*.yaml), added to the shipped ones.
    #[arg(long, env = "SERIN_TEMPLATES")]
    templates: Option<PathBuf>,
    /// Namespace to watch (repeatable); all namespaces when absent.
    #[arg(long)]
    namespace: Vec<String>,
    /// Analyse and record decisions ("would …") without changing traffic or workloads.
    #[arg(long)]
    dry_run: bool,
    /// Address of the HTTP server (probes, /metrics, the API, the page).
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: std::net::SocketAddr,
    /// Act only while holding the Lease `serin-leader` in the daemon's namespace.
    #[arg(long)]
    leader_election: bool,
    /// How long the leader's claim on the Lease lasts without renewal.
    #[arg(long, default_value = "15s", value_parser = lease_duration)]
    lease_duration: std::time::Duration,
    /// Webhook URL told of every rollout transition (repeatable; Slack incoming webhooks
    /// get a message). Added to those in $SERIN_NOTIFY (separated by commas, spaces or
    /// newlines), which is where a Secret puts them: URLs are credentials.
    #[arg(long)]
    notify: Vec<String>,
    /// Log format: JSON in a cluster, human-readable elsewhere, unless set.
    #[arg(long, value_enum, default_value = "auto")]
    log_format: crate::telemetry::LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

/// A failure the user can act on, printed as `error: …` with exit code 2.
#[derive(Debug)]
pub struct CliError(pub String);

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(e.to_string())
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let command = if is_plugin(&argv0) { Command::Cluster(Plugin::parse().command) } else { Cli::parse().command };
    let result = match command {
        Command::Run(args) => run(args),
        Command::Replay(args) => replay::run(args),
        Command::Record(args) => record::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Cluster(command) => command.run(),
    };
    match result {
        Ok(code) => code,
        Err(CliError(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    crate::telemetry::init_logging(args.log_format);
    let leader_election =
        args.leader_election.then(|| crate::daemon::leader::LeaseConfig::new(identity(), args.lease_duration));
    let config = crate::daemon::RunConfig {
        prometheus: args.prometheus,
        catalog: catalog(args.templates.as_deref())?,
        namespaces: args.namespace,
        dry_run: args.dry_run,
        listen: args.listen,
        api_token: std::env::var("SERIN_API_TOKEN").ok(),
        leader_election,
        notify: notify_targets(&args.notify),
    };
    crate::daemon::main(config).map_err(|e| CliError(format!("{e:#}")))?;
    Ok(ExitCode::SUCCESS)
}

/// `--notify` values, then `$SERIN_NOTIFY`'s.
fn notify_targets(flags: &[String]) -> crate::notify::Targets {
    let from_env = std::env::var("SERIN_NOTIFY").unwrap_or_default();
    crate::notify::Targets::parse(flags.iter().map(String::as_str).chain([from_env.as_str()]))
}

/// This replica's name in the Lease: the pod's name (downward API `POD_NAME`), else the
/// host name, with the process id so two daemons on one host differ.
fn identity() -> String {
    std::env::var("POD_NAME").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "serin".into());
        format!("{}-{}", host.trim(), std::process::id())
    })
}

/// The shipped templates plus `--templates DIR`.
fn catalog(dir: Option<&std::path::Path>) -> Result<Catalog, CliError> {
    let catalog = Catalog::builtin();
    Ok(match dir {
        Some(dir) => catalog.with_dir(dir)?,
        None => catalog,
    })
}

/// Writes lines to stdout; a closed pipe (`| head`) is not worth a panic.
fn emit(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

/// A current-thread runtime: the CLI's IO is a handful of sequential HTTP calls.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// `--lease-duration`: 1 s to 1 h (the renew deadline and retry period are fractions of it).
fn lease_duration(text: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    crate::spec::values::duration(text, Duration::from_secs(1), Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_plugin_is_recognised_by_its_file_name() {
        for name in ["kubectl-serin", "/usr/local/bin/kubectl-serin", "kubectl-serin.exe"] {
            assert!(is_plugin(OsStr::new(name)), "{name}");
        }
        assert!(!is_plugin(OsStr::new("/usr/bin/serin")));
        assert!(!is_plugin(OsStr::new("kubectl-serinx")));
    }

    #[test]
    fn both_command_lines_are_well_formed() {
        Cli::command().debug_assert();
        Plugin::command().debug_assert();
        let plugin = Plugin::try_parse_from(["kubectl-serin", "abort", "production/sark-canary"]).unwrap();
        assert!(matches!(plugin.command, ClusterCommand::Abort(_)));
        assert!(Plugin::try_parse_from(["kubectl-serin", "run", "--prometheus", "x"]).is_err(), "no daemon");
        let cli = Cli::try_parse_from(["serin", "status", "-A", "-o", "json"]).unwrap();
        assert!(matches!(cli.command, Command::Cluster(ClusterCommand::Status(_))));
        assert!(Cli::try_parse_from(["serin", "status", "--watch"]).is_err(), "--watch needs a rollout");
        assert!(Cli::try_parse_from(["serin", "status", "-A", "ns/name"]).is_err());
    }
}
