//! `serin lint` across files: a directory, several files, or a `kustomize build` on
//! standard input (`-`). Two candidates on one stable, a stable Service that also selects
//! the canary pods: each problem names both sides, wherever the manifests are split.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const STABLE: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: sark, namespace: production}
spec:
  selector: {matchLabels: {app: sark, version: stable}}
  template:
    metadata: {labels: {app: sark, version: stable}}
    spec: {containers: [{name: sark, image: sark:1.0}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: sark, namespace: production}
spec:
  rules: [{host: api.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: sark, port: {number: 80}}}}]}}]
"#;

/// The stable Service: `SELECTOR` is replaced by its selector.
const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: sark, namespace: production}
spec:
  selector: SELECTOR
  ports: [{port: 80, targetPort: 8000}]
"#;

fn candidate(name: &str, version: &str, extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: production\n  annotations:\n    \
         serin.io/strategy: canary\n    serin.io/stable: sark\n{extra}spec:\n  selector: {{matchLabels: {{app: sark, version: {version}}}}}\n  \
         template:\n    metadata: {{labels: {{app: sark, version: {version}}}}}\n    spec: {{containers: [{{name: sark, image: sark:1.1}}]}}\n"
    )
}

fn serin_lint(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_serin"))
        .arg("lint")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run serin lint");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default().as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn two_candidates_on_one_stable_and_a_broad_stable_service_are_reported_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(manifests.join("candidates")).unwrap();
    write(&manifests, "stable.yaml", STABLE);
    write(&manifests, "service.yaml", &SERVICE.replace("SELECTOR", "{app: sark}"));
    write(&manifests.join("candidates"), "canary.yaml", &candidate("sark-canary", "canary", ""));
    write(&manifests.join("candidates"), "v2.yml", &candidate("sark-v2", "v2", ""));

    let output = serin_lint(&[manifests.to_str().unwrap()], None);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    for needle in [
        "candidates/canary.yaml: Deployment/sark-canary: Deployment production/sark is the stable Deployment of both \
         production/sark-canary and production/sark-v2",
        "Ingress production/sark is the stable Ingress of both production/sark-canary and production/sark-v2",
        "Service production/sark (stable Service of production/sark-canary) selects the canary pods of Deployment \
         production/sark-canary (candidate of production/sark-canary)",
        "Service production/sark (stable Service of production/sark-v2) selects the canary pods of Deployment \
         production/sark-v2",
    ] {
        assert!(report.contains(needle), "missing {needle:?} in\n{report}");
    }

    // The same objects as one `kustomize build` on standard input.
    let all: String = ["stable.yaml", "service.yaml", "candidates/canary.yaml", "candidates/v2.yml"]
        .iter()
        .map(|f| std::fs::read_to_string(manifests.join(f)).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n");
    let piped = serin_lint(&["-"], Some(&all));
    let piped_report = text(&piped);
    assert_eq!(piped.status.code(), Some(1), "{piped_report}");
    assert!(
        piped_report.contains("-: Deployment/sark-canary: Deployment production/sark is the stable Deployment of both"),
        "{piped_report}"
    );
}

#[test]
fn one_candidate_with_narrow_selectors_passes_and_a_broad_candidate_selector_does_not() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "stable.yaml", STABLE);
    write(dir.path(), "service.yaml", &SERVICE.replace("SELECTOR", "{app: sark, version: stable}"));
    write(dir.path(), "canary.yaml", &candidate("sark-canary", "canary", ""));
    let files: Vec<String> = ["stable.yaml", "service.yaml", "canary.yaml"]
        .iter()
        .map(|f| dir.path().join(f).display().to_string())
        .collect();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let clean = serin_lint(&args, None);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));

    // A canary Service whose selector is the app alone: it serves the stable's pods too.
    let broad = "---\napiVersion: v1\nkind: Service\nmetadata: {name: sark-canary, namespace: production}\n\
                 spec: {selector: {app: sark}, ports: [{port: 80, targetPort: 8000}]}\n";
    write(dir.path(), "canary.yaml", &(candidate("sark-canary", "canary", "") + broad));
    let report = text(&serin_lint(&args, None));
    assert!(
        report.contains(
            "Service production/sark-canary (canary Service of production/sark-canary) selects the stable pods of \
             Deployment production/sark (stable of production/sark-canary)"
        ),
        "{report}"
    );
}
