//! Variable values are data, not PromQL: what a `{{var}}` may turn into depends on where
//! it stands in the query (`analysis-templates/README.md`, "Variables").
//!
//! - inside a string literal (`ns="{{namespace}}"`): escaped as PromQL (Go) string
//!   escaping wants — `\` and the quote get a backslash — so a value such as
//!   `x"}) or vector(1) #` stays one label value and cannot end the matcher; a line break
//!   or another control character is refused (no label value holds one). In a regex
//!   matcher (`=~"…"`, `!~"…"`) the value is matched literally: its regex metacharacters
//!   are escaped first, so `.*` cannot widen the selector to every value;
//! - anywhere else (`by ({{label}})`, `[{{interval}}]`): only a name, number or duration
//!   (letters, digits, `_`, `:`, `.`), which cannot open or close a selector, an
//!   expression or a comment;
//! - an argument its template declares `raw: true` is pasted as written, wherever it is:
//!   the template's author chose to hand that part of the query to the Deployment.

use std::ops::Range;

/// Where a placeholder stands in a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Inside `"…"` or `'…'` (the quote character), a regex matcher's or not.
    Quoted { quote: char, regex: bool },
    /// Inside a `` `…` `` raw string: no escapes exist there.
    Backticked,
    /// Outside any string literal.
    Bare,
}

/// The context of each placeholder of `query` (`spans`, in order, as
/// [`placeholders`](super::render::placeholders) found them). Placeholders are opaque: a
/// quote in a value never changes the context of the text after it.
pub fn contexts(query: &str, spans: &[Range<usize>]) -> Vec<Context> {
    let mut out = Vec::with_capacity(spans.len());
    let mut state = Context::Bare;
    let mut escaped = false;
    let mut spans = spans.iter().peekable();
    let mut chars = query.char_indices();
    while let Some((i, c)) = chars.next() {
        if let Some(span) = spans.next_if(|s| s.start == i) {
            out.push(state);
            // Skip the placeholder's text; its closing `}}` is never a quote.
            chars.by_ref().take_while(|(j, _)| *j + 1 < span.end).for_each(drop);
            escaped = false;
            continue;
        }
        state = match (state, c) {
            (Context::Quoted { .. }, _) if escaped => {
                escaped = false;
                state
            }
            (Context::Quoted { .. }, '\\') => {
                escaped = true;
                state
            }
            (Context::Quoted { quote, .. }, c) if c == quote => Context::Bare,
            (Context::Backticked, '`') => Context::Bare,
            (Context::Bare, '"' | '\'') => {
                let before = query[..i].trim_end();
                Context::Quoted { quote: c, regex: before.ends_with("=~") || before.ends_with("!~") }
            }
            (Context::Bare, '`') => Context::Backticked,
            (state, _) => state,
        };
    }
    out
}

/// The text that replaces `{{name}}` holding `value` in `context`, or why `value` cannot
/// stand there (a message naming the variable).
pub fn substitute(context: Context, name: &str, value: &str, raw: bool) -> Result<String, String> {
    if raw {
        return Ok(value.to_string());
    }
    let refused = |why: &str| format!("{{{{{name}}}}} = {value:?}: {why}");
    if context != Context::Bare && value.chars().any(char::is_control) {
        return Err(refused("a label value must be one line without control characters"));
    }
    match context {
        Context::Quoted { quote, regex } => {
            let literal = if regex { quote_regex(value) } else { value.to_string() };
            let mut out = String::with_capacity(literal.len() + 2);
            for c in literal.chars() {
                if c == '\\' || c == quote {
                    out.push('\\');
                }
                out.push(c);
            }
            Ok(out)
        }
        Context::Backticked if value.contains('`') => Err(refused("a backtick cannot stand inside a `…` string")),
        Context::Backticked => Ok(value.to_string()),
        Context::Bare if is_bare_token(value) => Ok(value.to_string()),
        Context::Bare => Err(refused(
            "outside a quoted label value only a name, number or duration may stand \
             (letters, digits, '_', ':', '.'); a template can declare the argument `raw: true` to take PromQL",
        )),
    }
}

/// `value` as an RE2 pattern matching exactly itself (Go's `regexp.QuoteMeta`).
fn quote_regex(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A label or metric name, a number or a duration: nothing PromQL could read as syntax.
fn is_bare_token(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || "_:.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::render::placeholders;

    fn contexts_of(query: &str) -> Vec<Context> {
        let spans: Vec<Range<usize>> = placeholders(query).unwrap().into_iter().map(|p| p.span).collect();
        contexts(query, &spans)
    }

    #[test]
    fn contexts_follow_quotes_escapes_and_raw_strings() {
        use Context::*;
        let q = r#"sum by ({{l}}) (x{a="{{v}}",b='{{w}}',c=~`{{r}}`,d!~ "\"{{e}}"}[{{interval}}])"#;
        let plain = |quote| Quoted { quote, regex: false };
        let regex = Quoted { quote: '"', regex: true };
        assert_eq!(contexts_of(q), vec![Bare, plain('"'), plain('\''), Backticked, regex, Bare]);
        // A placeholder's own text is opaque: `{{a}}"` closes the string, not the value.
        assert_eq!(contexts_of(r#"x{a="{{a}}"} + {{b}}"#), vec![plain('"'), Bare]);
    }

    #[test]
    fn quoted_values_are_escaped_and_cannot_end_the_matcher() {
        let double = Context::Quoted { quote: '"', regex: false };
        let out = substitute(double, "port", r#"x"}) or vector(1) #"#, false).unwrap();
        assert_eq!(out, r#"x\"}) or vector(1) #"#);
        assert_eq!(substitute(double, "p", r"a\d", false).unwrap(), r"a\\d");
        let single = Context::Quoted { quote: '\'', regex: false };
        assert_eq!(substitute(single, "p", r#"it's "x""#, false).unwrap(), r#"it\'s "x""#);
        let e = substitute(double, "port", "80\n) or vector(1)", false).unwrap_err();
        assert!(e.starts_with("{{port}} = ") && e.contains("one line"), "{e}");
        assert!(substitute(Context::Backticked, "r", "a`b", false).is_err());
    }

    #[test]
    fn a_value_in_a_regex_matcher_matches_only_itself() {
        let regex = Context::Quoted { quote: '"', regex: true };
        // `.*` would match every ingress; escaped, it matches an ingress named ".*" only.
        assert_eq!(substitute(regex, "ingress", ".*", false).unwrap(), r"\\.\\*");
        assert_eq!(substitute(regex, "ingress", "sark", false).unwrap(), "sark");
        assert_eq!(substitute(regex, "paths", "/api/.*", true).unwrap(), "/api/.*", "raw: a regex on purpose");
    }

    #[test]
    fn bare_values_are_names_numbers_or_durations_unless_raw() {
        for ok in ["60s", "version", "0.5", "job:rate5m"] {
            assert_eq!(substitute(Context::Bare, "v", ok, false).unwrap(), ok);
        }
        for bad in [r#"x"}) or vector(1) #"#, "le) or vector(1", "a b", "", "example.com/slot"] {
            let e = substitute(Context::Bare, "selector", bad, false).unwrap_err();
            assert!(e.starts_with("{{selector}} = ") && e.contains("raw: true"), "{e}");
        }
        let raw = r#"job="sark",app=~"s.*""#;
        assert_eq!(substitute(Context::Bare, "selector", raw, true).unwrap(), raw);
    }
}
