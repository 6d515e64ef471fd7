//! Rendering and checking serin's own install manifests (`deploy/`): `kubectl kustomize`,
//! `kubernetes-validate`, `promtool`, and small helpers over the rendered objects.
//! The tools come from scripts/install-test-deps.sh.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::Value;

/// The Kubernetes version the manifests are validated against (k8s-openapi's too).
pub const KUBERNETES_VERSION: &str = "1.33";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a tool, failing the test with how to install it when it is missing.
pub fn run(program: &str, args: &[&str], cwd: &Path) -> Output {
    match Command::new(program).args(args).current_dir(cwd).output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("`{program}` is not installed: run scripts/install-test-deps.sh")
        }
        Err(e) => panic!("running {program}: {e}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `kubectl kustomize <dir>` (relative to `root`): its stdout, failing on an error and on
/// any warning (a deprecated field such as commonLabels warns on stderr).
pub fn render_at(root: &Path, dir: &str) -> String {
    let output = run("kubectl", &["kustomize", dir], root);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "kubectl kustomize {dir} failed ({}):\n{stderr}", output.status);
    let lower = stderr.to_ascii_lowercase();
    assert!(!lower.contains("warn") && !lower.contains("deprecat"), "kubectl kustomize {dir} warned:\n{stderr}");
    text(&output.stdout)
}

pub fn render(dir: &str) -> String {
    render_at(&repo(), dir)
}

/// Every non-empty document of a YAML stream.
pub fn docs(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("valid YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The one object of `kind` named `name`.
pub fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind && o["metadata"]["name"] == name).collect();
    assert_eq!(found.len(), 1, "expected one {kind} {name}, found {}", found.len());
    found[0]
}

pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// Custom resources (prometheus-operator's): not in the Kubernetes schemas.
pub fn is_custom(object: &Value) -> bool {
    object["apiVersion"].as_str().is_some_and(|v| v.starts_with("monitoring.coreos.com/"))
}

/// Validates `objects` (none custom) with kubernetes-validate in strict mode (unknown
/// fields are errors) against [`KUBERNETES_VERSION`]; every object must have been
/// validated against a schema (an unknown kind or apiVersion only warns there).
pub fn kubernetes_validate(objects: &[Value], label: &str) {
    assert!(!objects.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{label}.yaml"));
    let stream: Vec<String> = objects.iter().map(|o| serde_yaml_ng::to_string(o).unwrap()).collect();
    std::fs::write(&file, stream.join("---\n")).unwrap();
    let file = file.to_str().unwrap();
    let args = ["--strict", "--kubernetes-version", KUBERNETES_VERSION, file];
    // The console script, or the module where the scripts directory is not on PATH.
    let output = match Command::new("kubernetes-validate").args(args).output() {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let module_args: Vec<&str> = ["-m", "kubernetes_validate"].into_iter().chain(args).collect();
            run("python3", &module_args, dir.path())
        }
        other => other.expect("run kubernetes-validate"),
    };
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    let report = format!("kubernetes-validate on {label}:\n{stdout}{stderr}");
    assert!(
        !stderr.contains("No module named"),
        "kubernetes-validate is not installed: run scripts/install-test-deps.sh"
    );
    assert!(output.status.success(), "{report}");
    assert!(!stdout.contains("WARN") && !stdout.contains("ERROR"), "{report}");
    let passed = stdout.lines().filter(|l| l.starts_with("INFO") && l.contains(" passed ")).count();
    assert_eq!(passed, objects.len(), "every object must be checked against a schema; {report}");
}

/// Runs `promtool` with `args` in `dir`, failing with its output.
pub fn promtool(args: &[&str], dir: &Path) {
    let output = run("promtool", args, dir);
    assert!(
        output.status.success(),
        "promtool {} failed:\n{}{}",
        args.join(" "),
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Whether a LabelSelector (`matchLabels` and `matchExpressions`) selects `labels`.
pub fn selects(selector: &Value, labels: &Value) -> bool {
    let label = |key: &str| labels[key].as_str();
    let match_labels = selector["matchLabels"].as_object().into_iter().flatten().all(|(k, v)| label(k) == v.as_str());
    let expressions = selector["matchExpressions"].as_array().into_iter().flatten().all(|e| {
        let values: Vec<&str> = e["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let key = e["key"].as_str().unwrap_or_default();
        match e["operator"].as_str() {
            Some("In") => label(key).is_some_and(|v| values.contains(&v)),
            Some("NotIn") => label(key).is_none_or(|v| !values.contains(&v)),
            Some("Exists") => label(key).is_some(),
            Some("DoesNotExist") => label(key).is_none(),
            other => panic!("unknown selector operator {other:?}"),
        }
    });
    let empty = selector["matchLabels"].as_object().is_none_or(|m| m.is_empty())
        && selector["matchExpressions"].as_array().is_none_or(|m| m.is_empty());
    !empty && match_labels && expressions
}

/// The metric names a PromQL expression reads. Label matchers (`{…}`), ranges (`[…]`),
/// strings, numbers and durations, Grafana variables (`$x`, `${x}`), function and
/// aggregation names (followed by `(`), keywords and grouping label lists are skipped.
/// (A selector by `{__name__="…"}` alone is not seen: none is used here.)
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 12] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "atan2",
    ];
    // Aggregations may be followed by `by (…)` rather than `(`.
    const AGGREGATIONS: [&str; 14] = [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let skip_until = |mut i: usize, close: char| {
        while i < chars.len() && chars[i] != close {
            i += 1;
        }
        i + 1
    };
    let next_non_space = |mut i: usize| {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        chars.get(i).copied()
    };
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_until(i + 1, c),
            '{' => i = skip_until(i + 1, '}'),
            '[' => i = skip_until(i + 1, ']'),
            '$' if chars.get(i + 1) == Some(&'{') => i = skip_until(i + 2, '}'),
            '$' => {
                i += 1;
                while i < chars.len() && ident(chars[i]) {
                    i += 1;
                }
            }
            c if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if ident(c) => {
                let start = i;
                while i < chars.len() && ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let before_paren = next_non_space(i) == Some('(');
                if KEYWORDS.contains(&word.as_str()) {
                    if before_paren && !matches!(word.as_str(), "and" | "or" | "unless" | "atan2" | "bool" | "offset") {
                        i = skip_until(i, ')'); // a grouping label list: by (le)
                    }
                } else if !before_paren
                    && !AGGREGATIONS.contains(&word.as_str())
                    && !word.eq_ignore_ascii_case("inf")
                    && !word.eq_ignore_ascii_case("nan")
                {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}
