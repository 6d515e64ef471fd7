//! Whitespace-insensitive query keys.
//!
//! A recording is keyed by the rendered query text. If a template is re-indented between
//! `serin record` and `serin replay`, the exact text no longer matches although the query
//! is the same; this key lets the lookup fall back to a match that ignores layout.

/// Removes layout whitespace outside string literals: runs of whitespace become one space
/// between two word characters (`sum by`, `x offset 5m`) and vanish elsewhere
/// (`sum by (le) (` ≡ `sum by(le)(`). Quoted text is kept verbatim.
pub(crate) fn normalize(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let mut pending_space = false;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in query.chars() {
        if let Some(q) = quote {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space && out.chars().next_back().is_some_and(is_word) && is_word(c) {
            out.push(' ');
        }
        pending_space = false;
        if matches!(c, '"' | '\'' | '`') {
            quote = Some(c);
        }
        out.push(c);
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '.')
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn layout_does_not_matter() {
        let a = "sum by (le) (\n    increase(x_bucket{canary=\"true\"}[1m])\n)";
        let b = "sum by(le)(increase(x_bucket{canary=\"true\"}[1m]))";
        assert_eq!(normalize(a), normalize(b));
        assert_eq!(normalize(a), b);
    }

    #[test]
    fn words_stay_apart_and_strings_stay_verbatim() {
        assert_eq!(normalize("a  or\tb"), "a or b");
        assert_eq!(normalize("x offset   5m"), "x offset 5m");
        assert_eq!(normalize("x{path=\"/a  b\"}"), "x{path=\"/a  b\"}");
        assert_eq!(normalize("x{p='a \\' b'} "), "x{p='a \\' b'}");
        assert_ne!(normalize("x{p=\"a b\"}"), normalize("x{p=\"ab\"}"));
    }
}
