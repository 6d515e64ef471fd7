//! `serin record`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::{CliError, catalog, runtime};
use crate::engine;
use crate::source::PrometheusSource;
use crate::target::Target;
use crate::time::{format_duration, parse_instant};

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    #[arg(long)]
    prometheus: String,
    /// The Deployment manifest whose templates' queries are recorded (embedded in the recording).
    #[arg(long)]
    deployment: PathBuf,
    #[arg(long)]
    start: String,
    #[arg(long)]
    end: String,
    /// Resolution of the recording (default 15s).
    #[arg(long, default_value = "15s", value_parser = step)]
    step: Duration,
    /// A directory of extra analysis templates (*.yaml).
    #[arg(long)]
    templates: Option<PathBuf>,
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
}

pub fn run(args: RecordArgs) -> Result<ExitCode, CliError> {
    let target = Target::from_manifest(&args.deployment)?;
    let spec = crate::spec::parse(&target.name, &target.annotations)
        .map_err(|e| CliError(format!("{} annotations are invalid:\n{e}", target.name)))?;
    let analysis = engine::prepare(&spec, &catalog(args.templates.as_deref())?, &target)?;
    let start = parse_instant(&args.start).map_err(|e| CliError(format!("--start: {e}")))?;
    let end = parse_instant(&args.end).map_err(|e| CliError(format!("--end: {e}")))?;
    if start >= end || args.step.is_zero() {
        return Err(CliError("need --start < --end and a non-zero --step".into()));
    }
    let source = PrometheusSource::new(&args.prometheus)?;
    let queries = analysis.queries();
    // The stable's history before the rollout, as the daemon reads it (`engine::history`).
    let history = spec.interval.checked_mul(engine::HISTORY_INTERVALS).and_then(|h| start.checked_sub(h));
    let from = history.unwrap_or(start);
    let mut recording = runtime()?.block_on(crate::source::record(&source, &queries, from, end, args.step))?;
    recording.deployment = Some(target);
    recording.rollout_start = (from < start).then_some(start);
    recording.save(&args.output)?;
    eprintln!(
        "recorded {} queries from {} to {} at {} into {}",
        queries.len(),
        args.start,
        args.end,
        format_duration(args.step),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `--step`: 1 ms to 1 day (a coarser grid records nothing an interval could use).
fn step(text: &str) -> Result<Duration, String> {
    crate::spec::values::duration(text, Duration::from_millis(1), Duration::from_secs(86_400))
}
