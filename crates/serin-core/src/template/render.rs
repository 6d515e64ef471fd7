//! `{{var}}` rendering of a template's queries.
//!
//! Placeholders are `{{ name }}` with optional whitespace; `name` is letters, digits and
//! `_`. Anything else between `{{` and `}}` is an error rather than literal text: PromQL
//! itself never contains `{{`, so a malformed placeholder is always a mistake.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::quote::{self, contexts};
use super::{MetricKind, Template};
use crate::spec::values::is_variable_name;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template}: {message}")]
pub struct RenderError {
    pub template: String,
    pub message: String,
}

/// One `{{ name }}` occurrence: its byte range in the query and the variable name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub span: Range<usize>,
    pub name: String,
}

/// Every placeholder of `query`, or why the query's placeholders are malformed.
pub fn placeholders(query: &str) -> Result<Vec<Placeholder>, String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = query[from..].find("{{").map(|i| i + from) {
        let Some(close) = query[open + 2..].find("}}").map(|i| i + open + 2) else {
            return Err(format!("unclosed {{{{ at byte {open}"));
        };
        let name = query[open + 2..close].trim();
        if !is_variable_name(name) {
            return Err(format!("{{{{{name}}}}} is not a variable name (letters, digits and '_')"));
        }
        out.push(Placeholder { span: open..close + 2, name: name.to_string() });
        from = close + 2;
    }
    Ok(out)
}

/// Every variable any query of `template` mentions.
pub fn referenced_variables(template: &Template) -> BTreeSet<String> {
    template.queries().into_iter().flat_map(|q| placeholders(q).unwrap_or_default()).map(|p| p.name).collect()
}

/// The variables a caller must supply: those referenced that have no argument default.
pub fn required_variables(template: &Template) -> BTreeSet<String> {
    let defaults = defaults(template);
    referenced_variables(template).into_iter().filter(|v| !defaults.contains_key(v)).collect()
}

fn defaults(template: &Template) -> BTreeMap<String, String> {
    template.args.iter().filter_map(|a| a.default.clone().map(|d| (a.name.clone(), d))).collect()
}

/// Fills every `{{var}}` of every query from `vars` (built-in variables and `arg.*`
/// values, by plain name) and the template's argument defaults (`vars` win). An unknown
/// variable is an error that lists every unknown one and every known one. Values are
/// data: escaped inside string literals, refused where they could change the query's
/// meaning, unless the template declares the argument `raw` (see [`quote`]).
pub fn render(template: &Template, vars: &BTreeMap<String, String>) -> Result<Template, RenderError> {
    let mut known = defaults(template);
    known.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    let raw: BTreeSet<&str> = template.args.iter().filter(|a| a.raw).map(|a| a.name.as_str()).collect();

    let mut unknown = BTreeSet::new();
    let mut malformed = Vec::new();
    let mut fill = |query: &str| -> String {
        match placeholders(query) {
            Ok(found) => {
                let spans: Vec<Range<usize>> = found.iter().map(|p| p.span.clone()).collect();
                let mut out = String::with_capacity(query.len());
                let mut last = 0;
                for (p, context) in found.into_iter().zip(contexts(query, &spans)) {
                    out.push_str(&query[last..p.span.start]);
                    let substituted = known
                        .get(&p.name)
                        .map(|v| quote::substitute(context, &p.name, v, raw.contains(p.name.as_str())));
                    match substituted {
                        Some(Ok(text)) => out.push_str(&text),
                        Some(Err(refused)) => {
                            if !malformed.contains(&refused) {
                                malformed.push(refused);
                            }
                            out.push_str(&query[p.span.clone()]);
                        }
                        None => {
                            unknown.insert(p.name.clone());
                            out.push_str(&query[p.span.clone()]);
                        }
                    }
                    last = p.span.end;
                }
                out.push_str(&query[last..]);
                out
            }
            Err(e) => {
                malformed.push(e);
                query.to_string()
            }
        }
    };

    let mut rendered = template.clone();
    for metric in &mut rendered.metrics {
        match &mut metric.kind {
            MetricKind::Ratio(r) => {
                for q in std::iter::once(&mut r.canary).chain(r.baseline.as_mut()) {
                    q.bad = fill(&q.bad);
                    q.total = fill(&q.total);
                }
            }
            MetricKind::Histogram(h) => {
                h.canary = fill(&h.canary);
                if let Some(b) = &mut h.baseline {
                    *b = fill(b);
                }
            }
            MetricKind::Value(v) => v.query = fill(&v.query),
        }
    }

    let mut problems = malformed;
    if !unknown.is_empty() {
        let unknown: Vec<&str> = unknown.iter().map(String::as_str).collect();
        let known: Vec<&str> = known.keys().map(String::as_str).collect();
        problems.push(format!(
            "unknown variable{} {} (known: {}); pass a value with serin.io/arg.<name> or give the argument a default",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.join(", "),
            if known.is_empty() { "none".to_string() } else { known.join(", ") },
        ));
    }
    if problems.is_empty() {
        Ok(rendered)
    } else {
        Err(RenderError { template: template.name.clone(), message: problems.join("; ") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{ArgDef, Metric, ValueMetric};

    fn template(query: &str, args: &[(&str, Option<&str>)]) -> Template {
        Template {
            name: "t".into(),
            description: String::new(),
            args: args
                .iter()
                .map(|(n, d)| ArgDef {
                    name: n.to_string(),
                    default: d.map(str::to_string),
                    description: String::new(),
                    raw: false,
                })
                .collect(),
            metrics: vec![Metric {
                name: "m".into(),
                kind: MetricKind::Value(ValueMetric { query: query.into(), min: None, max: Some(1.0) }),
                min_requests: 0,
            }],
            triggers: vec![],
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn fills_with_and_without_spaces_and_vars_beat_defaults() {
        let t =
            template(r#"x{ns="{{namespace}}",p="{{ port }}",q="{{port}}"}[{{ interval }}]"#, &[("port", Some("80"))]);
        let r = render(&t, &vars(&[("namespace", "prod"), ("interval", "60s")])).unwrap();
        assert_eq!(r.queries(), vec![r#"x{ns="prod",p="80",q="80"}[60s]"#]);
        let r = render(&t, &vars(&[("namespace", "prod"), ("interval", "60s"), ("port", "8080")])).unwrap();
        assert_eq!(r.queries(), vec![r#"x{ns="prod",p="8080",q="8080"}[60s]"#]);
    }

    #[test]
    fn unknown_variables_are_all_listed_with_the_known_ones() {
        let t = template("{{a}} {{b}} {{ c }}", &[("c", Some("1"))]);
        let e = render(&t, &vars(&[("namespace", "prod")])).unwrap_err();
        assert!(e.message.contains("unknown variables a, b (known: c, namespace)"), "{e}");
    }

    #[test]
    fn malformed_placeholders() {
        assert!(placeholders("{{ a-b }}").is_err());
        assert!(placeholders("x {{ a").is_err());
        assert_eq!(placeholders("sum(x{a=\"{}\"})").unwrap(), vec![]);
    }

    #[test]
    fn required_excludes_defaults() {
        let t = template("{{namespace}} {{port}} {{slot}}", &[("port", Some("80")), ("slot", None)]);
        let required: Vec<String> = required_variables(&t).into_iter().collect();
        assert_eq!(required, vec!["namespace", "slot"]);
        assert_eq!(referenced_variables(&t).len(), 3);
    }

    #[test]
    fn an_argument_cannot_change_the_querys_meaning() {
        let hostile = r#"x"}) or vector(1) #"#;
        let t = template(r#"sum(x{namespace="{{namespace}}",port="{{port}}"})"#, &[("port", Some("80"))]);
        let r = render(&t, &vars(&[("namespace", "prod"), ("port", hostile)])).unwrap();
        assert_eq!(r.queries(), vec![r#"sum(x{namespace="prod",port="x\"}) or vector(1) #"})"#]);

        let t = template(r#"sum by ({{label}}) (x{namespace="{{namespace}}"})"#, &[("label", Some("code"))]);
        let e = render(&t, &vars(&[("namespace", "prod"), ("label", hostile)])).unwrap_err();
        assert!(e.message.starts_with("{{label}} = ") && e.message.contains("raw: true"), "{e}");
        // Built-in variables are checked the same way.
        let r = render(&t, &vars(&[("namespace", "prod\"}) or vector(1) #")])).unwrap();
        assert_eq!(r.queries(), vec![r#"sum by (code) (x{namespace="prod\"}) or vector(1) #"})"#]);
        let t = template(r#"x{a="b"}[{{interval}}]"#, &[]);
        let e = render(&t, &vars(&[("interval", "1m]) or vector(1) #")])).unwrap_err();
        assert!(e.message.starts_with("{{interval}} = "), "{e}");
    }

    #[test]
    fn a_raw_argument_is_pasted_as_written() {
        let mut t =
            template(r#"sum(x{namespace="{{namespace}}",{{selector}}})"#, &[("selector", Some(r#"job=~".+""#))]);
        let r = render(&t, &vars(&[("namespace", "prod")]));
        assert!(r.unwrap_err().message.contains("{{selector}}"), "a matcher list is PromQL: refused unless raw");
        t.args[0].raw = true;
        let r = render(&t, &vars(&[("namespace", "prod"), ("selector", r#"job="sark""#)])).unwrap();
        assert_eq!(r.queries(), vec![r#"sum(x{namespace="prod",job="sark"})"#]);
    }
}
