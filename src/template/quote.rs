//! Variable values are data, not PromQL: what a `{{var}}` may turn into depends on where
//! it stands in the query (`analysis-templates/README.md`, "Variables").
//!
//! - inside a string literal (`ns="{{namespace}}"`): escaped as PromQL (Go) string
//!   escaping wants — `\` and the quote get a backslash — so a value such as
//!   `x"}) or vector(1) #` stays one label value and cannot end the matcher; a line break
//!   or another control character is refused (no label value holds one);
//! - anywhere else (`by ({{label}})`, `[{{interval}}]`): only a name, number or duration
//!   (letters, digits, `_`, `:`, `.`), which cannot open or close a selector, an
//!   expression or a comment;
//! - an argument its template declares `raw: true` is pasted as written, wherever it is:
//!   the template's author chose to hand that part of the query to the Deployment.

use std::ops::Range;

/// Where a placeholder stands in a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Inside `"…"` or `'…'` (the quote character).
    Quoted(char),
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
            (Context::Quoted(_), _) if escaped => {
                escaped = false;
                state
            }
            (Context::Quoted(_), '\\') => {
                escaped = true;
                state
            }
            (Context::Quoted(q), c) if c == q => Context::Bare,
            (Context::Backticked, '`') => Context::Bare,
            (Context::Bare, '"' | '\'') => Context::Quoted(c),
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
        Context::Quoted(quote) => {
            let mut out = String::with_capacity(value.len() + 2);
            for c in value.chars() {
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
        let q = r#"sum by ({{l}}) (x{a="{{v}}",b='{{w}}',c=~`{{r}}`,d="\"{{e}}"}[{{interval}}])"#;
        assert_eq!(contexts_of(q), vec![Bare, Quoted('"'), Quoted('\''), Backticked, Quoted('"'), Bare]);
        // A placeholder's own text is opaque: `{{a}}"` closes the string, not the value.
        assert_eq!(contexts_of(r#"x{a="{{a}}"} + {{b}}"#), vec![Quoted('"'), Bare]);
    }

    #[test]
    fn quoted_values_are_escaped_and_cannot_end_the_matcher() {
        let out = substitute(Context::Quoted('"'), "port", r#"x"}) or vector(1) #"#, false).unwrap();
        assert_eq!(out, r#"x\"}) or vector(1) #"#);
        assert_eq!(substitute(Context::Quoted('"'), "p", r"a\d", false).unwrap(), r"a\\d");
        assert_eq!(substitute(Context::Quoted('\''), "p", r#"it's "x""#, false).unwrap(), r#"it\'s "x""#);
        let e = substitute(Context::Quoted('"'), "port", "80\n) or vector(1)", false).unwrap_err();
        assert!(e.starts_with("{{port}} = ") && e.contains("one line"), "{e}");
        assert!(substitute(Context::Backticked, "r", "a`b", false).is_err());
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
