//! The YAML schema of a template file (documented field by field in
//! `analysis-templates/README.md`). Deserialisation is strict (`deny_unknown_fields`) so a
//! misspelt key fails loudly instead of silently dropping a limit; [`validate`](super::validate)
//! then turns the document into the domain types.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Template, TemplateError, TriggerAction, validate};

/// A template file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TemplateDoc {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Argument name → definition; `serin.io/arg.<name>` overrides the default.
    #[serde(default)]
    pub args: BTreeMap<String, ArgDoc>,
    pub metrics: Vec<MetricDoc>,
    #[serde(default)]
    pub triggers: Vec<TriggerDoc>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ArgDoc {
    /// A string, number or boolean; kept as text since it is pasted into PromQL.
    #[serde(default)]
    pub default: Option<Scalar>,
    #[serde(default)]
    pub description: String,
    /// The value is PromQL pasted as written (e.g. extra label matchers), not a value
    /// escaped as data: only for arguments the template means to hand over whole.
    #[serde(default)]
    pub raw: bool,
}

/// A metric: a name and exactly one of `ratio`, `histogram`, `value`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MetricDoc {
    pub name: String,
    #[serde(default)]
    pub min_requests: Option<u64>,
    #[serde(default)]
    pub ratio: Option<RatioDoc>,
    #[serde(default)]
    pub histogram: Option<HistogramDoc>,
    #[serde(default)]
    pub value: Option<ValueDoc>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RatioDoc {
    pub canary: RatioQueriesDoc,
    #[serde(default)]
    pub baseline: Option<RatioQueriesDoc>,
    /// `1%` or `0.01`.
    pub max: Scalar,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RatioQueriesDoc {
    pub bad: String,
    pub total: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HistogramDoc {
    pub canary: String,
    #[serde(default)]
    pub baseline: Option<String>,
    /// `p95: 500ms` (a number is seconds).
    pub max: BTreeMap<String, Scalar>,
    /// The unit of the buckets' `le` label: `s` (default) or `ms`.
    #[serde(default)]
    pub le_unit: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ValueDoc {
    pub query: String,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

/// A trigger: exactly one condition among `above`, `outage`, `out-of-range`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TriggerDoc {
    pub name: String,
    pub metric: String,
    /// Ratio metric: `5%`; histogram metric: `{p99: 2s}`.
    #[serde(default)]
    pub above: Option<Above>,
    /// Ratio metric: the canary serves nothing but errors.
    #[serde(default)]
    pub outage: Option<bool>,
    /// Value metric: outside its `min`/`max`.
    #[serde(default)]
    pub out_of_range: Option<bool>,
    /// How long the condition must hold (`5m`); absent = at once.
    #[serde(default, rename = "for")]
    pub for_duration: Option<String>,
    pub action: TriggerAction,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Above {
    Quantiles(BTreeMap<String, Scalar>),
    Rate(Scalar),
}

/// A YAML scalar as written: `1%` is a string, `0.01` a number, `true` a boolean.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Number(f64),
    Text(String),
}

impl Scalar {
    /// The scalar as text (how an argument default is pasted into PromQL).
    pub fn as_text(&self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Number(n) => n.to_string(),
            Scalar::Text(t) => t.clone(),
        }
    }
}

/// Parses one template file's text; `origin` (a file name) prefixes syntax errors.
pub fn parse(text: &str, origin: &str) -> Result<Template, TemplateError> {
    let doc: TemplateDoc = serde_yaml_ng::from_str(text)
        .map_err(|e| TemplateError::Invalid { name: origin.to_string(), message: yaml_message(&e) })?;
    validate::validate(doc)
}

/// Validates an already-parsed YAML document (one document of a multi-document file).
pub fn from_value(value: serde_yaml_ng::Value, origin: &str) -> Result<Template, TemplateError> {
    let doc: TemplateDoc = serde_yaml_ng::from_value(value)
        .map_err(|e| TemplateError::Invalid { name: origin.to_string(), message: yaml_message(&e) })?;
    validate::validate(doc)
}

/// serde_yaml's message, with the line when it knows it.
pub fn yaml_message(e: &serde_yaml_ng::Error) -> String {
    match e.location() {
        Some(l) if !e.to_string().contains("line ") => format!("line {}: {e}", l.line()),
        _ => e.to_string(),
    }
}
