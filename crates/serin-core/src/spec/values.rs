//! Parsers for single annotation values. Each returns `Err(expected)`: the text that ends
//! "… is invalid: expected <this>" in a [`SpecError`](super::SpecError), so every message
//! says what a good value looks like.

use std::time::Duration;

use super::OnInconclusive;

/// The longest `interval`, `progress-deadline`, `step-min` and `step-max`: one analysis
/// step longer than a week is a misconfiguration, and the bound keeps every sum of an
/// instant and a configured duration far from overflow.
pub const MAX_STEP: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest blue-green `observe` and `keep-previous`.
pub const MAX_HOLD: Duration = Duration::from_secs(30 * 24 * 3600);

/// A humantime duration (`30s`, `5m`, `1h30m`) in `min..=max`.
pub fn duration(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let at_least =
        if min.is_zero() { String::new() } else { format!(" of at least {}", humantime::format_duration(min)) };
    let expected =
        || format!("a duration{at_least} and at most {} such as 30s, 5m or 1h30m", humantime::format_duration(max));
    match humantime::parse_duration(text) {
        Ok(d) if d >= min && d <= max => Ok(d),
        _ => Err(expected()),
    }
}

/// Exactly `true` or `false`: Kubernetes annotation values are strings, and accepting
/// `yes`/`1` would make `serin.io/dry-run: "no"` ambiguous.
pub fn boolean(text: &str) -> Result<bool, String> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("true or false".into()),
    }
}

/// Canary weights: comma-separated percentages (`10,25,50,100`, `%` allowed), each in
/// 1..=100, strictly increasing.
pub fn steps(text: &str) -> Result<Vec<u8>, String> {
    const EXPECTED: &str = "comma-separated weights in percent, strictly increasing, each 1..=100 (e.g. 10,25,50,100)";
    let mut out: Vec<u8> = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let number = part.strip_suffix('%').unwrap_or(part).trim();
        let weight: u8 = match number.parse() {
            Ok(w) if (1..=100).contains(&w) => w,
            _ => return Err(EXPECTED.into()),
        };
        if out.last().is_some_and(|last| *last >= weight) {
            return Err(EXPECTED.into());
        }
        out.push(weight);
    }
    Ok(out)
}

pub fn on_inconclusive(text: &str) -> Result<OnInconclusive, String> {
    match text {
        "hold" => Ok(OnInconclusive::Hold),
        "advance" => Ok(OnInconclusive::Advance),
        "rollback" => Ok(OnInconclusive::Rollback),
        _ => Err("hold, advance or rollback".into()),
    }
}

/// A Kubernetes object name (DNS-1123 subdomain): lowercase alphanumerics, `-` and `.`,
/// starting and ending alphanumeric, at most 253 characters.
pub fn object_name(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 253
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(text.to_string())
    } else {
        Err("a Kubernetes object name (lowercase letters, digits, '-' and '.')".into())
    }
}

/// An HTTP header or cookie name: a non-empty RFC 7230 token without separators.
fn token(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// `Name` or `Name=value`.
pub fn header(text: &str) -> Result<(String, Option<String>), String> {
    const EXPECTED: &str = "a header name, optionally with a value: Name or Name=value";
    match text.split_once('=') {
        None if token(text) => Ok((text.to_string(), None)),
        Some((name, value)) if token(name.trim()) && !value.trim().is_empty() => {
            Ok((name.trim().to_string(), Some(value.trim().to_string())))
        }
        _ => Err(EXPECTED.into()),
    }
}

pub fn cookie(text: &str) -> Result<String, String> {
    if token(text) { Ok(text.to_string()) } else { Err("a cookie name (letters, digits, '-', '_')".into()) }
}

/// A label key: optional DNS prefix and `/`, then a name of alphanumerics, `-`, `_`, `.`.
pub fn label_key(text: &str) -> Result<String, String> {
    let name = text.rsplit_once('/').map_or(text, |(_, n)| n);
    let prefix_ok = text.rsplit_once('/').is_none_or(|(p, _)| object_name(p).is_ok());
    let ok = prefix_ok
        && !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok { Ok(text.to_string()) } else { Err("a label key such as version or example.com/slot".into()) }
}

/// Comma-separated HTTP paths, each starting with `/` and without spaces.
pub fn smoke_paths(text: &str) -> Result<Vec<String>, String> {
    let paths: Vec<String> = text.split(',').map(|p| p.trim().to_string()).collect();
    if paths.iter().all(|p| p.starts_with('/') && !p.contains(char::is_whitespace)) {
        Ok(paths)
    } else {
        Err("comma-separated HTTP paths, each starting with / (e.g. /health,/ready)".into())
    }
}

/// Comma-separated template names, none empty, no duplicates.
pub fn template_names(text: &str) -> Result<Vec<String>, String> {
    const EXPECTED: &str = "comma-separated analysis template names (e.g. nginx-canary)";
    let mut names: Vec<String> = Vec::new();
    for name in text.split(',').map(str::trim) {
        if name.is_empty() || name.contains(char::is_whitespace) || names.iter().any(|n| n == name) {
            return Err(EXPECTED.into());
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// A template variable name: what `{{name}}` may hold (letters, digits, `_`).
pub fn is_variable_name(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
