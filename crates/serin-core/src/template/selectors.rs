//! The vector selectors of a rendered PromQL query (`metric{label op "value", …}`), found
//! by a small lexer rather than a full parser: enough to know which series a query reads
//! and which labels it filters on, so a template can be checked against the Prometheus
//! it will query (`crate::engine::preflight`). Whether the query parses at all is left to
//! Prometheus itself.

/// A label matcher's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// `label op "value"`, the value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub label: String,
    pub op: MatchOp,
    pub value: String,
}

impl Matcher {
    /// Whether a series *without* this label passes the matcher (an absent label reads as
    /// ""): if it does not, filtering on a label the series lack selects nothing.
    pub fn matches_empty(&self) -> bool {
        match self.op {
            MatchOp::Equal => self.value.is_empty(),
            MatchOp::NotEqual => !self.value.is_empty(),
            MatchOp::Regex => full_regex(&self.value).is_some_and(|r| r.is_match("")),
            MatchOp::NotRegex => !full_regex(&self.value).is_some_and(|r| r.is_match("")),
        }
    }
}

/// PromQL regexes are anchored at both ends.
fn full_regex(pattern: &str) -> Option<regex::Regex> {
    regex::Regex::new(&format!("^(?:{pattern})$")).ok()
}

/// One vector selector as written in the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The metric name before the braces, if any.
    pub metric: Option<String>,
    pub matchers: Vec<Matcher>,
    /// The selector's text in the query, e.g. `up{job="x"}`.
    pub text: String,
}

impl Selector {
    /// The metric name, from before the braces or from a `__name__="…"` matcher.
    pub fn name(&self) -> Option<&str> {
        self.metric.as_deref().or_else(|| {
            self.matchers.iter().find(|m| m.label == "__name__" && m.op == MatchOp::Equal).map(|m| m.value.as_str())
        })
    }
}

/// Words that are not metric names where an identifier may stand: operators, and the
/// aggregations (which may be followed by `by (…)` before their parenthesis).
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "inf",
    "nan",
    "atan2",
    "start",
    "end",
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "limitk",
    "limit_ratio",
];
/// Words followed by a parenthesised list of label names, not of expressions.
const LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// Every vector selector of `query`, in order of appearance. Text that cannot be a
/// selector (functions, keywords, numbers, durations, strings, label lists) is skipped;
/// a query too broken to lex yields what was found before the break.
pub fn selectors(query: &str) -> Vec<Selector> {
    let bytes = query.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            i = skip_string(bytes, i);
        } else if c == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if c == b'[' {
            // A range or subquery: durations only.
            while i < bytes.len() && bytes[i] != b']' {
                i += 1;
            }
            i += 1;
        } else if c == b'{' {
            let Some((matchers, end)) = matchers(query, i) else { break };
            out.push(Selector { metric: None, matchers, text: query[i..end].to_string() });
            i = end;
        } else if c.is_ascii_digit() || c == b'.' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'.' | b'_')) {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < bytes.len() && is_ident_char(bytes[i]) {
                i += 1;
            }
            let word = &query[start..i];
            let next = skip_space(bytes, i);
            let lower = word.to_ascii_lowercase();
            if LABEL_LISTS.contains(&lower.as_str()) {
                if bytes.get(next) == Some(&b'(') {
                    i = skip_parens(bytes, next);
                }
            } else if bytes.get(next) == Some(&b'(') || KEYWORDS.contains(&lower.as_str()) {
                // A function or an aggregation, or an operator word.
            } else if bytes.get(next) == Some(&b'{') {
                let Some((matchers, end)) = matchers(query, next) else { break };
                out.push(Selector { metric: Some(word.to_string()), matchers, text: query[start..end].to_string() });
                i = end;
            } else {
                out.push(Selector { metric: Some(word.to_string()), matchers: Vec::new(), text: word.to_string() });
            }
        } else {
            i += 1;
        }
    }
    out
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

fn skip_space(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The index after the string starting at `i` (its quote).
fn skip_string(bytes: &[u8], i: usize) -> usize {
    let quote = bytes[i];
    let mut j = i + 1;
    while j < bytes.len() && bytes[j] != quote {
        if bytes[j] == b'\\' && quote != b'`' {
            j += 1;
        }
        j += 1;
    }
    j + 1
}

/// The index after the parenthesised group starting at `i`.
fn skip_parens(bytes: &[u8], i: usize) -> usize {
    let mut depth = 0;
    let mut j = i;
    while j < bytes.len() {
        match bytes[j] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    j
}

/// The matchers of the braces opening at `open`, and the index after the closing brace.
fn matchers(query: &str, open: usize) -> Option<(Vec<Matcher>, usize)> {
    let bytes = query.as_bytes();
    let mut out = Vec::new();
    let mut i = open + 1;
    loop {
        i = skip_space(bytes, i);
        match bytes.get(i)? {
            b'}' => return Some((out, i + 1)),
            b',' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let start = i;
        while i < bytes.len() && is_ident_char(bytes[i]) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let label = query[start..i].to_string();
        i = skip_space(bytes, i);
        let op = match (bytes.get(i)?, bytes.get(i + 1)) {
            (b'=', Some(b'~')) => MatchOp::Regex,
            (b'!', Some(b'~')) => MatchOp::NotRegex,
            (b'!', Some(b'=')) => MatchOp::NotEqual,
            (b'=', _) => MatchOp::Equal,
            _ => return None,
        };
        i = skip_space(bytes, i + if op == MatchOp::Equal { 1 } else { 2 });
        if !matches!(bytes.get(i)?, b'"' | b'\'' | b'`') {
            return None;
        }
        let end = skip_string(bytes, i);
        // An unterminated string ends the selector (and the lexing).
        let value = unquote(query.get(i..end)?);
        out.push(Matcher { label, op, value });
        i = end;
    }
}

/// A PromQL string literal's value (the common escapes; others kept as written).
fn unquote(literal: &str) -> String {
    // Both quotes are ASCII: the slice is on character boundaries.
    let inner = &literal[1..literal.len() - 1];
    if literal.starts_with('`') {
        return inner.to_string();
    }
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(query: &str) -> Vec<String> {
        selectors(query).iter().map(|s| s.text.clone()).collect()
    }

    #[test]
    fn finds_the_selectors_of_a_shipped_query() {
        let q = r#"sum by (le) ((m_bucket{namespace="p",ingress="sark",canary!=""} - last_over_time(m_bucket{namespace="p",ingress="sark",canary!=""}[1h] offset 60s)) >= 0 or m_bucket{namespace="p",ingress="sark",canary!=""})"#;
        let found = selectors(q);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().all(|s| s.name() == Some("m_bucket")));
        assert_eq!(found[0].text, r#"m_bucket{namespace="p",ingress="sark",canary!=""}"#);
        assert_eq!(found[0].matchers[2], Matcher { label: "canary".into(), op: MatchOp::NotEqual, value: "".into() });
    }

    #[test]
    fn skips_functions_keywords_strings_and_label_lists() {
        assert_eq!(names(r#"sum(rate(a[5m])) by (job) / on(job) group_left(x) b"#), ["a", "b"]);
        assert_eq!(names(r#"sum without (x) (a) > bool count by (y) (b)"#), ["a", "b"]);
        assert_eq!(names(r#"label_replace(up, "dst", "$1", "src", "(.*)") and bool 1e3"#), ["up"]);
        assert_eq!(names(r#"{__name__="up",job=~"a|b"}"#), [r#"{__name__="up",job=~"a|b"}"#]);
        assert_eq!(selectors(r#"{__name__="up"}"#)[0].name(), Some("up"));
        assert_eq!(names(r#"x{a="}{b=\"c\""} offset 5m"#), [r#"x{a="}{b=\"c\""}"#]);
        assert_eq!(selectors(r#"x{a="q\"}"}"#)[0].matchers[0].value, "q\"}");
        assert!(names("sum(").is_empty());
        assert_eq!(names("x{a=}"), Vec::<String>::new());
        assert_eq!(names("x{a=\"é"), Vec::<String>::new());
    }

    #[test]
    fn which_matchers_pass_an_absent_label() {
        let m = |op, value: &str| Matcher { label: "status".into(), op, value: value.into() };
        assert!(!m(MatchOp::Regex, "5..").matches_empty());
        assert!(m(MatchOp::Regex, ".*").matches_empty());
        assert!(!m(MatchOp::Equal, "500").matches_empty());
        assert!(m(MatchOp::Equal, "").matches_empty());
        assert!(!m(MatchOp::NotEqual, "").matches_empty());
        assert!(m(MatchOp::NotEqual, "200").matches_empty());
        assert!(m(MatchOp::NotRegex, "2..").matches_empty());
        assert!(!m(MatchOp::NotRegex, ".*").matches_empty());
    }
}
