//! `serin lint`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CliError, catalog};

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// Deployment manifests and analysis templates (YAML).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// A directory of extra analysis templates (*.yaml).
    #[arg(long)]
    templates: Option<PathBuf>,
}

pub fn run(args: LintArgs) -> Result<ExitCode, CliError> {
    let catalog = catalog(args.templates.as_deref())?;
    let problems = crate::lint::lint_paths(&args.files, &catalog);
    for problem in &problems {
        println!("{problem}");
    }
    if problems.is_empty() {
        eprintln!("{} file(s): no problems", args.files.len());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} problem(s)", problems.len());
        Ok(ExitCode::from(1))
    }
}
