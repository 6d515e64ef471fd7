//! Label and field selectors: the `labelSelector` / `fieldSelector` query strings of
//! list and watch (equality, inequality, existence and set-based forms) and the
//! structured `LabelSelector` of a Deployment (`matchLabels` + `matchExpressions`).

use serde_json::{Map, Value};

use super::object::{field_value, labels};
use super::resources::Resource;
use super::status::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
    Gt(i64),
    Lt(i64),
}

#[derive(Debug, Clone)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    fn matches(&self, value: Option<&str>) -> bool {
        let number = || value.and_then(|v| v.parse::<i64>().ok());
        match &self.op {
            Op::In(values) => value.is_some_and(|v| values.iter().any(|x| x == v)),
            // As in apimachinery: an absent key satisfies `!=` and `notin`.
            Op::NotIn(values) => value.is_none_or(|v| values.iter().all(|x| x != v)),
            Op::Exists => value.is_some(),
            Op::NotExists => value.is_none(),
            Op::Gt(n) => number().is_some_and(|v| v > *n),
            Op::Lt(n) => number().is_some_and(|v| v < *n),
        }
    }
}

/// The selectors of one list or watch request; the default selects everything.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    labels: Vec<Requirement>,
    /// (field path, wanted value, equal?)
    fields: Vec<(String, String, bool)>,
}

impl Selector {
    pub fn parse(res: &Resource, label: Option<&str>, field: Option<&str>) -> Result<Selector, ApiError> {
        let labels = match label {
            Some(text) if !text.trim().is_empty() => split_top_level(text)
                .into_iter()
                .map(|part| parse_requirement(part.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|why| ApiError::bad_request(format!("unable to parse requirement: {why}")))?,
            _ => Vec::new(),
        };
        let fields = match field {
            Some(text) if !text.trim().is_empty() => {
                text.split(',').map(|part| parse_field(res, part.trim())).collect::<Result<Vec<_>, _>>()?
            }
            _ => Vec::new(),
        };
        Ok(Selector { labels, fields })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = labels(obj);
        self.labels.iter().all(|r| r.matches(labels.get(&r.key).and_then(Value::as_str)))
            && self.fields.iter().all(|(path, want, equal)| (field_value(obj, path) == *want) == *equal)
    }
}

/// Splits at commas outside parentheses: `a in (x,y),b` is two requirements.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(text: &str) -> Result<Requirement, String> {
    let req = |key: &str, op| -> Result<Requirement, String> { Ok(Requirement { key: check_key(key)?, op }) };
    if let Some(key) = text.strip_prefix('!') {
        return req(key.trim(), Op::NotExists);
    }
    for (token, equal) in [("!=", false), ("==", true), ("=", true)] {
        if let Some((key, value)) = text.split_once(token) {
            let values = vec![check_value(value.trim())?];
            return req(key.trim(), if equal { Op::In(values) } else { Op::NotIn(values) });
        }
    }
    for (token, greater) in [(">", true), ("<", false)] {
        if let Some((key, value)) = text.split_once(token) {
            let n = value.trim().parse::<i64>().map_err(|_| format!("{text:?}: expected an integer"))?;
            return req(key.trim(), if greater { Op::Gt(n) } else { Op::Lt(n) });
        }
    }
    let mut words = text.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("").trim();
    if rest.is_empty() {
        return req(key, Op::Exists);
    }
    let (negated, list) = match (rest.strip_prefix("notin"), rest.strip_prefix("in")) {
        (Some(list), _) => (true, list),
        (None, Some(list)) => (false, list),
        _ => return Err(format!("{text:?}: expected one of: in, notin, =, ==, !=, gt, lt")),
    };
    let list = list.trim();
    let inner = list.strip_prefix('(').and_then(|l| l.strip_suffix(')'));
    let inner = inner.ok_or_else(|| format!("{text:?}: expected a parenthesised list of values"))?;
    let values = inner.split(',').map(|v| check_value(v.trim())).collect::<Result<Vec<_>, _>>()?;
    req(key, if negated { Op::NotIn(values) } else { Op::In(values) })
}

/// A qualified name (label keys, event controllers): an optional DNS prefix and `/`,
/// then up to 63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
pub fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
    let alnum_ends = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphanumeric()) && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let prefix_ok = !key.contains('/')
        || (!prefix.is_empty()
            && prefix.len() <= 253
            && prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c)));
    prefix_ok
        && name.len() <= 63
        && alnum_ends(name)
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn check_key(key: &str) -> Result<String, String> {
    if is_qualified_name(key) { Ok(key.to_string()) } else { Err(format!("key {key:?}: not a valid label key")) }
}

fn check_value(value: &str) -> Result<String, String> {
    let ok = value.len() <= 63 && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok { Ok(value.to_string()) } else { Err(format!("value {value:?}: not a valid label value")) }
}

fn parse_field(res: &Resource, text: &str) -> Result<(String, String, bool), ApiError> {
    let parsed = [("!=", false), ("==", true), ("=", true)]
        .into_iter()
        .find_map(|(token, equal)| text.split_once(token).map(|(k, v)| (k.trim(), v.trim(), equal)));
    let Some((path, value, equal)) = parsed else {
        return Err(ApiError::bad_request(format!("invalid selector: {text:?}; can't understand {text:?}")));
    };
    let known = ["metadata.name", "metadata.namespace"].contains(&path) || res.fields.contains(&path);
    if !known {
        let message = format!("{path:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"");
        return Err(ApiError::bad_request(message));
    }
    Ok((path.to_string(), value.to_string(), equal))
}

/// Whether a structured `LabelSelector` selects these labels. Unknown operators select
/// nothing, as the server would have refused them at validation.
pub fn label_selector_matches(selector: &Value, labels: &Map<String, Value>) -> bool {
    let get = |key: &str| labels.get(key).and_then(Value::as_str);
    let match_labels = selector.get("matchLabels").and_then(Value::as_object).cloned().unwrap_or_default();
    let labels_ok = match_labels.iter().all(|(k, v)| get(k).is_some() && get(k) == v.as_str());
    let expressions = selector.get("matchExpressions").and_then(Value::as_array).cloned().unwrap_or_default();
    labels_ok
        && expressions.iter().all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let values: Vec<String> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let op = match e.get("operator").and_then(Value::as_str) {
                Some("In") => Op::In(values),
                Some("NotIn") => Op::NotIn(values),
                Some("Exists") => Op::Exists,
                Some("DoesNotExist") => Op::NotExists,
                _ => return false,
            };
            Requirement { key: key.to_string(), op }.matches(get(key))
        })
}
