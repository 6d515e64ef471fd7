//! What the daemon asked the API server: the fake server records every request it
//! serves; these group them by verb, resource and shape (list, watch, one item), with
//! the answer's code when it was an error, for the report's tables.

use std::collections::BTreeMap;

use crate::fake_apiserver::RecordedRequest;

/// `GET deployments (item)`, `GET ingresses (item) → 404`, `PATCH deployments (item)`,
/// `GET services (watch)`, `POST events.k8s.io/events (list)`…
pub fn category(request: &RecordedRequest) -> String {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", _, rest @ ..] => ("", rest),
        ["apis", group, _, rest @ ..] => (*group, rest),
        _ => return format!("{} {}", request.method, request.path),
    };
    let rest = match rest {
        ["namespaces", _, rest @ ..] if !rest.is_empty() => rest,
        _ => rest,
    };
    let watch = request.query.split('&').any(|p| p == "watch=true" || p == "watch=1");
    let (plural, shape) = match rest {
        [plural] if watch => (*plural, "watch"),
        [plural] => (*plural, "collection"),
        [plural, _] => (*plural, "item"),
        [plural, _, sub] => (*plural, *sub),
        _ => return format!("{} {}", request.method, request.path),
    };
    // Only the group of the two Event APIs matters to a reader.
    let resource = if group == "events.k8s.io" { format!("{group}/{plural}") } else { plural.to_string() };
    let code = if request.status >= 400 { format!(" → {}", request.status) } else { String::new() };
    format!("{} {resource} ({shape}){code}", request.method)
}

/// Requests per category, most frequent first.
pub fn counts(requests: &[RecordedRequest]) -> Vec<(String, usize)> {
    let mut by_category: BTreeMap<String, usize> = BTreeMap::new();
    for request in requests {
        *by_category.entry(category(request)).or_default() += 1;
    }
    let mut counts: Vec<(String, usize)> = by_category.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

/// A markdown table of `counts`, with the count per `per` (e.g. per change) when given.
pub fn table(counts: &[(String, usize)], per: Option<(&str, usize)>) -> String {
    let mut out = match per {
        Some((what, _)) => format!("| request | count | per {what} |\n|---|---:|---:|\n"),
        None => "| request | count |\n|---|---:|\n".to_string(),
    };
    for (category, count) in counts {
        match per {
            Some((_, n)) if n > 0 => {
                out.push_str(&format!("| `{category}` | {count} | {:.2} |\n", *count as f64 / n as f64))
            }
            _ => out.push_str(&format!("| `{category}` | {count} |\n")),
        }
    }
    let total: usize = counts.iter().map(|(_, c)| c).sum();
    match per {
        Some((_, n)) if n > 0 => {
            out.push_str(&format!("| **total** | **{total}** | **{:.2}** |\n", total as f64 / n as f64))
        }
        _ => out.push_str(&format!("| **total** | **{total}** |\n")),
    }
    out
}

/// The daemon's writes of `serin.io/status` to one candidate: (path, revision, when).
pub fn status_writes(requests: &[RecordedRequest]) -> Vec<(&str, String, std::time::Instant)> {
    requests
        .iter()
        .filter(|r| r.method == "PATCH" && r.status < 300 && r.path.contains("/deployments/"))
        .filter_map(|r| {
            let status = r.body.as_ref()?["metadata"]["annotations"]["serin.io/status"].as_str()?;
            let status: serde_json::Value = serde_json::from_str(status).ok()?;
            Some((r.path.as_str(), status["revision"].as_str()?.to_string(), r.at))
        })
        .collect()
}
