//! What the cluster commands (`status`, `promote`, `abort`, `pause`, `resume`, `retry`)
//! share: the Kubernetes client, built like `kubectl`'s and `serin run`'s (`--kubeconfig`,
//! else `$KUBECONFIG` or `~/.kube/config`, else the in-cluster service account), and the
//! `NAMESPACE/NAME` argument, checked before any request so a typo is exit 2 at once.

use kube::config::{Config, KubeConfigOptions, Kubeconfig};

use super::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
}

/// A client for the cluster, and where it points (for error messages).
pub struct Cluster {
    pub client: kube::Client,
    url: String,
}

impl Cluster {
    /// A failed request, with its causes: kube's top-level message alone ("client error
    /// (Connect)") does not say that the connection was refused, nor to where.
    pub fn error(&self, error: &kube::Error) -> CliError {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text = format!("{text}: {cause_text}");
            }
            source = cause.source();
        }
        let what =
            if matches!(error, kube::Error::Api(_)) { "the Kubernetes API" } else { "cannot reach the Kubernetes API" };
        CliError(format!("{what} at {}: {text}", self.url))
    }

    pub fn default_namespace(&self) -> &str {
        self.client.default_namespace()
    }
}

impl ClusterArgs {
    /// A client for the cluster. No request is made yet: an unreachable cluster shows at
    /// the first read.
    pub async fn connect(&self) -> Result<Cluster, CliError> {
        let options = KubeConfigOptions { context: self.context.clone(), ..KubeConfigOptions::default() };
        let config = match (&self.kubeconfig, &self.context) {
            (Some(path), _) => {
                let kubeconfig =
                    Kubeconfig::read_from(path).map_err(|e| CliError(format!("kubeconfig {}: {e}", path.display())))?;
                Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(|e| CliError(e.to_string()))?
            }
            (None, Some(_)) => Config::from_kubeconfig(&options).await.map_err(|e| CliError(e.to_string()))?,
            (None, None) => Config::infer().await.map_err(|e| CliError(format!("no Kubernetes configuration: {e}")))?,
        };
        let url = config.cluster_url.to_string();
        Ok(Cluster { client: kube::Client::try_from(config)?, url })
    }
}

/// A rollout named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutRef {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for RolloutRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Parses `NAMESPACE/NAME`, or `NAME` in the namespace `-n` gave (`flag`), else in
/// `default` (the kubeconfig context's). Both parts must be names Kubernetes accepts: a
/// namespace is a DNS label, a Deployment a DNS subdomain.
pub fn parse_rollout(text: &str, flag: Option<&str>, default: &str) -> Result<RolloutRef, CliError> {
    let malformed = |why: &str| CliError(format!("{text:?} is not NAMESPACE/NAME: {why}"));
    let (ns, name) = match text.split_once('/') {
        Some((ns, name)) => {
            if let Some(flag) = flag.filter(|flag| *flag != ns) {
                return Err(CliError(format!("{text:?} names namespace {ns:?} but -n says {flag:?}")));
            }
            (ns, name)
        }
        None => (flag.unwrap_or(default), text),
    };
    if name.contains('/') {
        return Err(malformed("more than one '/'"));
    }
    check_name(ns, 63, false).map_err(|why| malformed(&format!("namespace {why}")))?;
    check_name(name, 253, true).map_err(|why| malformed(&format!("name {why}")))?;
    Ok(RolloutRef { namespace: ns.into(), name: name.into() })
}

/// A namespace name (DNS-1123 label), as `-n` takes it.
pub fn check_namespace(text: &str) -> Result<(), CliError> {
    check_name(text, 63, false).map_err(|why| CliError(format!("namespace {text:?} {why}")))
}

/// DNS-1123: lower-case alphanumerics and '-' (and '.' in a subdomain), starting and
/// ending with an alphanumeric.
fn check_name(text: &str, max: usize, dots: bool) -> Result<(), String> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if text.is_empty() {
        return Err("is empty".into());
    }
    if text.len() > max {
        return Err(format!("is longer than {max} characters"));
    }
    if let Some(bad) = text.chars().find(|&c| !(alnum(c) || c == '-' || (dots && c == '.'))) {
        return Err(format!("contains {bad:?} (only a-z, 0-9, '-'{})", if dots { ", '.'" } else { "" }));
    }
    if !text.starts_with(alnum) || !text.ends_with(alnum) {
        return Err("must start and end with a letter or digit".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str, flag: Option<&str>) -> Result<String, String> {
        parse_rollout(text, flag, "default").map(|r| r.to_string()).map_err(|e| e.0)
    }

    #[test]
    fn names_with_or_without_their_namespace() {
        assert_eq!(parsed("production/sark-canary", None), Ok("production/sark-canary".into()));
        assert_eq!(parsed("sark-canary", Some("staging")), Ok("staging/sark-canary".into()));
        assert_eq!(parsed("production/api.v2", Some("production")), Ok("production/api.v2".into()));
    }

    #[test]
    fn malformed_names_say_what_is_wrong() {
        for (text, expected) in [
            ("production/", "name is empty"),
            ("/sark", "namespace is empty"),
            ("a/b/c", "more than one '/'"),
            ("Production/sark", "namespace contains 'P'"),
            ("prod.eu/sark", "namespace contains '.'"),
            ("production/sark_canary", "name contains '_'"),
            ("production/-sark", "must start and end"),
        ] {
            let error = parsed(text, None).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
        assert_eq!(parsed("sark", None), Ok("default/sark".into()), "the context's namespace");
        assert!(parsed("production/sark", Some("staging")).unwrap_err().contains("-n says"));
        assert!(parsed(&format!("production/{}", "a".repeat(254)), None).unwrap_err().contains("longer than 253"));
        assert!(check_namespace("prod_1").is_err() && check_namespace("prod-1").is_ok());
    }
}
