//! The `serin` command line (spec §4): `run`, `replay`, `record`, `lint`.

mod lint;
mod record;
mod replay;

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
    /// The in-cluster daemon (not built yet).
    Run(RunArgs),
    /// Replay the engine over a recording or a Prometheus' history: what would serin have done?
    Replay(replay::ReplayArgs),
    /// Record every query of a rollout's templates from Prometheus into a recording file.
    Record(record::RecordArgs),
    /// Validate Deployment annotations and analysis templates.
    Lint(lint::LintArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[arg(long)]
    prometheus: Option<String>,
    #[arg(long)]
    templates: Option<PathBuf>,
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: String,
    #[arg(long)]
    namespace: Vec<String>,
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    leader_election: bool,
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
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(_) => Err(CliError(
            "`serin run` (the in-cluster daemon) is not built yet; use `serin replay` to run the engine offline".into(),
        )),
        Command::Replay(args) => replay::run(args),
        Command::Record(args) => record::run(args),
        Command::Lint(args) => lint::run(args),
    };
    match result {
        Ok(code) => code,
        Err(CliError(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The shipped templates plus `--templates DIR`.
fn catalog(dir: Option<&std::path::Path>) -> Result<Catalog, CliError> {
    let catalog = Catalog::builtin();
    Ok(match dir {
        Some(dir) => catalog.with_dir(dir)?,
        None => catalog,
    })
}

/// A current-thread runtime: the CLI's IO is a handful of sequential HTTP calls.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}
