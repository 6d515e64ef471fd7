//! `serin replay`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use super::{CliError, OutputFormat, catalog, runtime};
use crate::engine;
use crate::judge::JudgeConfig;
use crate::replay::{self, Replay, output};
use crate::source::{MetricSource, PrometheusSource, Recording, RecordingSource};
use crate::spec::RolloutSpec;
use crate::target::Target;
use crate::time::parse_instant;

/// The recording `serin replay` uses when given no input: a canary whose error rate
/// regresses from 0.5% to 8%.
const DEFAULT_RECORDING: &str = include_str!("../../simulations/recordings/error-regression.json");

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A recording file (README, "Commands"). Without it and without --prometheus, a shipped recording is replayed.
    #[arg(long, conflicts_with = "prometheus")]
    recording: Option<PathBuf>,
    /// Evaluate the queries against this Prometheus' history (needs --start and --end).
    #[arg(long, requires_all = ["start", "end"])]
    prometheus: Option<String>,
    /// Start of the replayed range: RFC 3339 or Unix seconds.
    #[arg(long)]
    start: Option<String>,
    /// End of the replayed range: RFC 3339 or Unix seconds.
    #[arg(long)]
    end: Option<String>,
    /// A Deployment manifest whose serin.io annotations configure the rollout.
    #[arg(long)]
    deployment: Option<PathBuf>,
    /// Override an annotation: key=value (key with or without the serin.io/ prefix). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// A directory of extra analysis templates (*.yaml).
    #[arg(long)]
    templates: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    output: OutputFormat,
    /// Write a self-contained HTML page with one plot per metric.
    #[arg(long)]
    report: Option<PathBuf>,
}

pub fn run(args: ReplayArgs) -> Result<ExitCode, CliError> {
    let input = match (&args.recording, &args.prometheus) {
        (Some(path), _) => Input::Recording(Recording::load(path)?),
        (None, None) => Input::Recording(serde_json::from_str::<Recording>(DEFAULT_RECORDING)?),
        (None, Some(url)) => {
            let range = (instant(args.start.as_deref(), "--start")?, instant(args.end.as_deref(), "--end")?);
            if range.0 >= range.1 {
                return Err(CliError("--start must be before --end".into()));
            }
            Input::Prometheus(PrometheusSource::new(url)?, range)
        }
    };
    let embedded = match &input {
        Input::Recording(r) => r.deployment.clone(),
        Input::Prometheus(..) => None,
    };
    let mut target = match (&args.deployment, embedded) {
        (Some(path), _) => Target::from_manifest(path)?,
        (None, Some(embedded)) => embedded,
        (None, None) => {
            return Err(CliError(
                "give the rollout's Deployment with --deployment FILE (its serin.io annotations configure the replay)"
                    .into(),
            ));
        }
    };
    target.apply_sets(&args.sets)?;
    let spec = crate::spec::parse(&target.name, &target.annotations)
        .map_err(|e| CliError(format!("{} annotations are invalid:\n{e}", target.name)))?;
    let analysis = engine::prepare(&spec, &catalog(args.templates.as_deref())?, &target)?;
    let title = format!("serin replay: {}/{} ({})", target.namespace, target.name, spec.strategy_name());
    let replay = match input {
        Input::Recording(recording) => {
            let range = (recording.rollout_start(), recording.end);
            replay_with(&RecordingSource::new(recording), &spec, &analysis, range)?
        }
        Input::Prometheus(source, range) => replay_with(&source, &spec, &analysis, range)?,
    };
    if let Some(path) = &args.report {
        std::fs::write(path, replay::report::html(&replay, &title))
            .map_err(|e| CliError(format!("writing {}: {e}", path.display())))?;
    }
    match args.output {
        OutputFormat::Json => println!("{}", output::json(&replay)),
        OutputFormat::Table => print!("{}", output::table(&replay, &title)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the replayed metrics come from.
enum Input {
    Recording(Recording),
    Prometheus(PrometheusSource, (SystemTime, SystemTime)),
}

fn replay_with<S: MetricSource>(
    source: &S,
    spec: &RolloutSpec,
    analysis: &engine::Analysis,
    range: (SystemTime, SystemTime),
) -> Result<Replay, CliError> {
    let config = JudgeConfig::default();
    Ok(runtime()?.block_on(replay::run(source, spec, analysis, range, &config, |_| {})))
}

fn instant(text: Option<&str>, flag: &str) -> Result<SystemTime, CliError> {
    let text = text.ok_or_else(|| CliError(format!("{flag} is required with --prometheus")))?;
    parse_instant(text).map_err(|e| CliError(format!("{flag}: {e}")))
}
