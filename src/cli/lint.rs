//! `serin lint`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use super::{CliError, catalog, runtime};
use crate::lint::{LintProblem, Rendered};
use crate::source::PrometheusSource;

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Deployment manifests and analysis templates (YAML): files, directories (every
    /// *.yaml and *.yml under them), or `-` for standard input (`kustomize build … | serin lint -`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// A directory of extra analysis templates (*.yaml).
    #[arg(long)]
    templates: Option<PathBuf>,
    /// Also check each Deployment's rendered templates against this Prometheus: the queries
    /// run, the series exist, the labels the error queries filter on exist, histograms have
    /// `le` up to `+Inf` (what the daemon checks when a run starts).
    #[arg(long)]
    prometheus: Option<String>,
}

pub fn run(args: LintArgs) -> Result<ExitCode, CliError> {
    let catalog = catalog(args.templates.as_deref())?;
    let sources = crate::lint::sources(&args.files, || std::io::read_to_string(std::io::stdin()));
    let (mut problems, rendered) = crate::lint::lint_sources(&sources, &catalog);
    if let Some(url) = &args.prometheus {
        problems.extend(against_prometheus(url, &rendered)?);
    }
    for problem in &problems {
        println!("{problem}");
    }
    if problems.is_empty() {
        eprintln!("{} file(s): no problems", sources.len());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} problem(s)", problems.len());
        Ok(ExitCode::from(1))
    }
}

/// The preflight check of every rendered rollout; an unreachable Prometheus is bad input
/// (exit 2), not a lint problem.
fn against_prometheus(url: &str, rendered: &[Rendered]) -> Result<Vec<LintProblem>, CliError> {
    let source = PrometheusSource::new(url)?;
    let now = SystemTime::now();
    runtime()?.block_on(async {
        let mut problems = Vec::new();
        for rollout in rendered {
            let found = crate::engine::preflight::check(&source, &rollout.templates, now).await?;
            problems.extend(found.into_iter().map(|message| LintProblem {
                file: rollout.file.clone(),
                object: rollout.object.clone(),
                message,
            }));
        }
        Ok(problems)
    })
}
