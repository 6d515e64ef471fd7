//! `serin lint`: checks manifests and templates the way the daemon would read them, so
//! mistakes surface in CI instead of as an `Invalid` phase in production.
//!
//! A file is YAML, possibly multi-document. Documents of `kind: Deployment` carrying
//! `serin.io/` configuration have their annotations parsed (every error reported), each
//! named template looked up and rendered with the variables the daemon would pass (so an
//! unknown `{{var}}` shows up here). A document with top-level `name:` and `metrics:` is a
//! template and is schema-validated. Other documents (Services, Ingresses…) are ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::Value;

mod across;

use crate::spec::{self, RolloutSpec, Strategy};

#[path = "lint_route.rs"]
mod route;
use crate::target::Target;
use crate::template::{Catalog, Template, TemplateError, render, schema};

/// One problem: where, in which object, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintProblem {
    pub file: String,
    /// `Deployment/<name>`, `template/<name>`, or `-` for the file itself.
    pub object: String,
    pub message: String,
}

impl fmt::Display for LintProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.object, self.message)
    }
}

/// The templates one rolled-out Deployment is analysed with, rendered as the daemon would
/// (what `serin lint --prometheus` checks against a Prometheus).
#[derive(Debug, Clone)]
pub struct Rendered {
    pub file: String,
    /// `Deployment/<name>`.
    pub object: String,
    pub templates: Vec<Template>,
}

/// One input of a lint run: a file's text (or why it could not be read), under the name
/// problems are reported with (`-` for standard input).
#[derive(Debug, Clone)]
pub struct Source {
    pub file: String,
    pub text: Result<String, String>,
}

impl Source {
    pub fn read(path: &Path) -> Source {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"));
        Source { file: path.display().to_string(), text }
    }
}

/// The sources of `serin lint`'s arguments: a file; a directory, for every `*.yaml` and
/// `*.yml` under it (sorted, recursively); `-`, for standard input (`kustomize build … |
/// serin lint -`).
pub fn sources(args: &[PathBuf], stdin: impl FnOnce() -> std::io::Result<String>) -> Vec<Source> {
    let mut stdin = Some(stdin);
    let mut out = Vec::new();
    for arg in args {
        if arg.as_os_str() == "-" {
            let text = stdin.take().map_or(Ok(String::new()), |read| read()).map_err(|e| format!("cannot read: {e}"));
            out.push(Source { file: "-".into(), text });
        } else if arg.is_dir() {
            let mut files = Vec::new();
            yaml_files(arg, &mut files);
            if files.is_empty() {
                out.push(Source { file: arg.display().to_string(), text: Err("no *.yaml or *.yml file".into()) });
            }
            out.extend(files.iter().map(|f| Source::read(f)));
        } else {
            out.push(Source::read(arg));
        }
    }
    out
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Lints every file, after adding the valid templates found among them to `catalog`, so
/// a Deployment may name a template defined in another file of the same run.
pub fn lint_paths<P: AsRef<Path>>(paths: &[P], catalog: &Catalog) -> Vec<LintProblem> {
    let sources: Vec<Source> = paths.iter().map(|p| Source::read(p.as_ref())).collect();
    lint_sources(&sources, catalog).0
}

/// Lints every source (as [`lint_paths`]), then the rollouts of all of them together (an
/// object shared by two rollouts, a Service selecting the other side's pods:
/// [`crate::target::claims`]); also returns the rendered templates of every Deployment
/// that lints clean.
pub fn lint_sources(sources: &[Source], catalog: &Catalog) -> (Vec<LintProblem>, Vec<Rendered>) {
    let mut catalog = catalog.clone();
    for source in sources {
        if let Ok(text) = &source.text {
            add_templates(text, &source.file, &mut catalog);
        }
    }
    let mut rendered = Vec::new();
    let mut all = Vec::new();
    let mut problems: Vec<LintProblem> =
        sources.iter().flat_map(|s| lint_source(s, &catalog, &mut rendered, &mut all)).collect();
    problems.extend(across::problems(&all));
    (problems, rendered)
}

/// Lints one file against `catalog` plus the templates the file itself defines.
pub fn lint_path(path: &Path, catalog: &Catalog) -> Vec<LintProblem> {
    lint_source(&Source::read(path), catalog, &mut Vec::new(), &mut Vec::new())
}

/// Lints one source; its documents are added to `all` (with the file's name).
fn lint_source(
    source: &Source,
    catalog: &Catalog,
    rendered: &mut Vec<Rendered>,
    all: &mut Vec<(String, Value)>,
) -> Vec<LintProblem> {
    let file = source.file.clone();
    let problem =
        |object: &str, message: String| LintProblem { file: file.clone(), object: object.to_string(), message };
    let text = match &source.text {
        Ok(text) => text,
        Err(e) => return vec![problem("-", e.clone())],
    };
    let documents = match documents(text) {
        Ok(docs) => docs,
        Err(message) => return vec![problem("-", format!("invalid YAML: {message}"))],
    };
    let mut catalog = catalog.clone();
    add_templates(text, &file, &mut catalog);

    let mut problems = Vec::new();
    for doc in &documents {
        if is_deployment(doc) {
            let (object, messages, templates) = lint_deployment(doc, &catalog);
            if messages.is_empty() && !templates.is_empty() {
                rendered.push(Rendered { file: file.clone(), object: object.clone(), templates });
            }
            problems.extend(messages.into_iter().map(|m| problem(&object, m)));
        } else if is_template(doc) {
            let name = doc.get("name").and_then(Value::as_str).unwrap_or("?");
            if let Err(e) = schema::from_value(doc.clone(), &file) {
                problems.push(problem(&format!("template/{name}"), template_message(e)));
            }
        }
        all.push((file.clone(), doc.clone()));
    }
    problems.extend(route::problems(&documents).into_iter().map(|(object, message)| problem(&object, message)));
    problems
}

/// The variables the daemon renders this rollout's templates with ([`crate::engine::variables`]).
/// Blue-green's `previous_slot` is read from the Service at run time, so a placeholder
/// stands in for it here unless `serin.io/arg.previous_slot` gives one.
pub fn rollout_variables(
    namespace: &str,
    deployment: &str,
    spec: &RolloutSpec,
    candidate_slot: Option<&str>,
) -> BTreeMap<String, String> {
    let mut pod_labels = BTreeMap::new();
    if let (Strategy::BlueGreen(b), Some(slot)) = (&spec.strategy, candidate_slot) {
        pod_labels.insert(b.slot_label.clone(), slot.to_string());
    }
    let target = Target {
        namespace: namespace.to_string(),
        name: deployment.to_string(),
        annotations: BTreeMap::new(),
        pod_labels,
    };
    let mut vars = crate::engine::variables(spec, &target);
    if matches!(spec.strategy, Strategy::BlueGreen(_)) {
        vars.entry("previous_slot".to_string()).or_insert_with(|| "previous".to_string());
    }
    vars
}

/// Parses every document; the first syntax error ends the file (what follows a YAML
/// error cannot be trusted), reported with its line.
fn documents(text: &str) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    for de in serde_yaml_ng::Deserializer::from_str(text) {
        match Value::deserialize(de) {
            Ok(Value::Null) => {}
            Ok(v) => docs.push(v),
            Err(e) => return Err(schema::yaml_message(&e)),
        }
    }
    Ok(docs)
}

fn add_templates(text: &str, file: &str, catalog: &mut Catalog) {
    for doc in documents(text).unwrap_or_default() {
        if !is_template(&doc) {
            continue;
        }
        if let Ok(t) = schema::from_value(doc, file) {
            catalog.insert(t);
        }
    }
}

fn is_deployment(doc: &Value) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some("Deployment")
}

fn is_template(doc: &Value) -> bool {
    doc.get("kind").is_none() && doc.get("name").is_some() && doc.get("metrics").is_some()
}

fn template_message(e: TemplateError) -> String {
    match e {
        TemplateError::Invalid { message, .. } => message,
        other => other.to_string(),
    }
}

/// The object name, every problem of one Deployment document, and its rendered templates.
fn lint_deployment(doc: &Value, catalog: &Catalog) -> (String, Vec<String>, Vec<Template>) {
    let metadata = doc.get("metadata");
    let field = |key: &str| metadata.and_then(|m| m.get(key)).and_then(Value::as_str);
    let Some(name) = field("name") else {
        return ("Deployment/?".into(), vec!["metadata.name is missing".into()], Vec::new());
    };
    let object = format!("Deployment/{name}");
    let namespace = field("namespace").unwrap_or("default");
    let mut problems = Vec::new();

    let mut annotations = BTreeMap::new();
    if let Some(Value::Mapping(map)) = metadata.and_then(|m| m.get("annotations")) {
        for (k, v) in map {
            let Some(key) = k.as_str() else { continue };
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            if !matches!(v, Value::String(_)) && key.starts_with(spec::PREFIX) {
                problems.push(format!("annotation {key}: value must be a string: quote it (\"{value}\")"));
            }
            annotations.insert(key.to_string(), value);
        }
    }
    if spec::annotations::configuration_keys(&annotations).is_empty() {
        return (object, problems, Vec::new());
    }
    let spec = match spec::parse(name, &annotations) {
        Ok(spec) => spec,
        Err(errors) => {
            problems.extend(errors.0.iter().map(ToString::to_string));
            return (object, problems, Vec::new());
        }
    };

    let mut candidate_slot = None;
    if let Strategy::BlueGreen(b) = &spec.strategy {
        let labels = doc.get("spec").and_then(|s| s.get("template")).and_then(|t| t.get("metadata"));
        candidate_slot =
            labels.and_then(|m| m.get("labels")).and_then(|l| l.get(&b.slot_label)).and_then(Value::as_str);
        if candidate_slot.is_none() {
            problems.push(format!(
                "spec.template.metadata.labels has no {:?} label (serin.io/slot-label): serin cannot tell the slots apart",
                b.slot_label
            ));
        }
    }
    let vars = rollout_variables(namespace, name, &spec, candidate_slot);
    let mut templates = Vec::new();
    for template in &spec.analysis {
        match catalog.get(template).map(|t| render(t, &vars)) {
            Ok(Ok(rendered)) => templates.push(rendered),
            Ok(Err(e)) => problems.push(format!("serin.io/analysis: {e}")),
            Err(e) => problems.push(format!("serin.io/analysis: {e}")),
        }
    }
    (object, problems, templates)
}

/// Tests on the fixtures in `tests/lint_fixtures/`.
#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lint_fixtures").join(name)
    }

    fn messages(problems: &[LintProblem]) -> String {
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn good_manifests_pass() {
        let catalog = Catalog::builtin();
        for name in ["sark-canary.yaml", "sark-green.yaml", "queue-template.yaml"] {
            let problems = lint_path(&fixture(name), &catalog);
            assert!(problems.is_empty(), "{name}:\n{}", messages(&problems));
        }
    }

    #[test]
    fn an_http_route_serin_cannot_split_is_reported() {
        let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/examples/gateway-api.yaml");
        assert!(lint_path(&example, &Catalog::builtin()).is_empty());
        let text = std::fs::read_to_string(&example).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            messages(&lint_path(&path, &Catalog::builtin()))
        };
        let mixed =
            text.replace("- {name: sark, port: 80}", "- {name: sark, port: 80}\n        - {name: legacy, port: 80}");
        let said = write("mixed.yaml", mixed);
        assert!(
            said.contains(
                "Deployment/sark-canary: serin.io/route: HTTPRoute \"sark\" rule 0 also sends traffic to legacy"
            ),
            "{said}"
        );
        let elsewhere = text.replace("- {name: sark, port: 80}", "- {name: sark-v1, port: 80}");
        let said = write("elsewhere.yaml", elsewhere);
        assert!(said.contains("no rule sending traffic to the stable Service"), "{said}");
        let both = text.replace("serin.io/route: sark", "serin.io/route: sark\n    serin.io/ingress: sark");
        assert!(write("both.yaml", both).contains("not both"));
    }

    #[test]
    fn bad_canary_reports_every_problem() {
        let paths = [fixture("bad-canary.yaml"), fixture("queue-template.yaml")];
        let problems = lint_paths(&paths, &Catalog::builtin());
        let text = messages(&problems);
        let first: Vec<&LintProblem> = problems.iter().filter(|p| p.object == "Deployment/sark-canary").collect();
        assert_eq!(first.len(), 5, "{text}");
        for needle in [
            "serin.io/steps: \"10,50,25\" is invalid",
            "serin.io/interval: \"fast\"",
            "did you mean serin.io/steps?",
            "serin.io/observe applies to blue-green only",
            "serin.io/dry-run: \"yes\"",
            "Deployment/sark-api-canary: serin.io/analysis: unknown analysis template \"no-such-template\"",
            "Deployment/sark-worker-canary: serin.io/analysis: template queue-depth: unknown variable queue",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(text.contains("bad-canary.yaml: Deployment/sark-canary: "), "{text}");
        assert_eq!(problems.len(), 7, "{text}");
    }

    #[test]
    fn templates_of_the_same_run_are_known_only_through_lint_paths() {
        let alone = lint_path(&fixture("bad-canary.yaml"), &Catalog::builtin());
        assert!(messages(&alone).contains("unknown analysis template \"queue-depth\""));
    }

    #[test]
    fn broken_template_is_validated() {
        let problems = lint_path(&fixture("broken-template.yaml"), &Catalog::builtin());
        assert_eq!(problems.len(), 1, "{}", messages(&problems));
        let p = &problems[0];
        assert_eq!(p.object, "template/broken");
        for needle in
            ["ratio.max 200%: out of range", "histogram.max.p95x", "unknown metric \"latncy\"", "a query is empty"]
        {
            assert!(p.message.contains(needle), "missing {needle:?} in {}", p.message);
        }
    }

    #[test]
    fn unparseable_yaml_is_one_problem_with_the_line() {
        let problems = lint_path(&fixture("not-yaml.yaml"), &Catalog::builtin());
        assert_eq!(problems.len(), 1, "{}", messages(&problems));
        assert!(problems[0].message.contains("line"), "{}", problems[0]);
    }

    #[test]
    fn missing_file_is_a_problem() {
        let problems = lint_path(&fixture("does-not-exist.yaml"), &Catalog::builtin());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("cannot read"));
    }

    #[test]
    fn blue_green_without_the_slot_label_and_non_string_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("green.yaml");
        let text = std::fs::read_to_string(fixture("sark-green.yaml")).unwrap();
        let text =
            text.replace("serin.io/slot-label: version", "serin.io/slot-label: slot\n    serin.io/paused: false");
        std::fs::write(&path, text).unwrap();
        let text = messages(&lint_path(&path, &Catalog::builtin()));
        assert!(text.contains("no \"slot\" label"), "{text}");
        assert!(text.contains("unknown variable candidate_slot"), "{text}");
        assert!(text.contains("serin.io/paused: value must be a string"), "{text}");
    }

    #[test]
    fn daemon_variables_for_canary() {
        let annotations = [("serin.io/strategy", "canary"), ("serin.io/arg.port", "8080")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let spec = crate::spec::parse("sark-canary", &annotations).unwrap();
        let vars = rollout_variables("production", "sark-canary", &spec, None);
        let get = |k: &str| vars.get(k).map(String::as_str);
        assert_eq!(get("stable"), Some("sark"));
        assert_eq!(get("ingress"), Some("sark"));
        assert_eq!(get("canary_service"), Some("sark-canary"));
        assert_eq!(get("interval"), Some("60s"));
        assert_eq!(get("port"), Some("8080"));
        let rendered = render(Catalog::builtin().get("nginx-canary").unwrap(), &vars).unwrap();
        assert!(rendered.queries()[0].contains(r#"namespace="production",ingress="sark",canary!="""#));
    }
}
