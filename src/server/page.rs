//! `GET /`: one self-contained HTML page of the rollouts (no scripts, no external assets,
//! so it works behind `kubectl port-forward` and in an air-gapped cluster). It reloads
//! itself every 10 s.

use std::fmt::Write;

use crate::rollout::Phase;

use super::rollouts::RolloutView;

const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2330;background:#f7f8fa}
h1{font-size:1.4rem;margin:0 0 .2rem}p.sub{color:#5b6475;margin:0 0 1.2rem}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 3px #0002}
th,td{text-align:left;padding:.55rem .7rem;border-bottom:1px solid #e5e8ee;vertical-align:top}
th{background:#eef1f5;font-weight:600;font-size:.8rem;text-transform:uppercase;letter-spacing:.03em}
.phase{display:inline-block;padding:.1rem .5rem;border-radius:1rem;font-weight:600;font-size:.8rem}
.Progressing,.Promoting,.Pending{background:#dbe9ff;color:#174ea6}.Succeeded{background:#d9f2e1;color:#146c2e}
.RolledBack,.Invalid{background:#fde1df;color:#a50e0e}.Paused,.none{background:#fff1cc;color:#7a5300}
.bar{width:8rem;height:.6rem;background:#e5e8ee;border-radius:.3rem;overflow:hidden;margin-top:.2rem}
.bar span{display:block;height:100%;background:#3b74d9}
ul{margin:0;padding-left:1rem}li.pass{color:#146c2e}li.fail,li.error{color:#a50e0e}li.inconclusive{color:#7a5300}
code{font-size:.8rem;color:#5b6475}.reason{max-width:18rem}.empty{padding:2rem;text-align:center;color:#5b6475}
";

/// The page listing `rollouts`.
pub fn render(rollouts: &[RolloutView]) -> String {
    let mut html = String::with_capacity(4096 + rollouts.len() * 1024);
    html.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta http-equiv=\"refresh\" content=\"10\"><title>serin: rollouts</title>");
    let _ = write!(html, "<style>{STYLE}</style></head><body><h1>serin rollouts</h1>");
    let _ = write!(
        html,
        "<p class=\"sub\">{} rollout{} · JSON at <code>/api/v1/rollouts</code> · reloads every 10 s</p>",
        rollouts.len(),
        if rollouts.len() == 1 { "" } else { "s" }
    );
    html.push_str("<table><thead><tr><th>Rollout</th><th>Strategy</th><th>Phase</th><th>Weight</th>");
    html.push_str("<th>Last verdicts</th><th>Why</th></tr></thead><tbody>");
    if rollouts.is_empty() {
        html.push_str("<tr><td colspan=\"6\" class=\"empty\">No rollouts yet: annotate a Deployment with ");
        html.push_str("<code>serin.io/strategy: canary</code> or <code>blue-green</code>.</td></tr>");
    }
    for rollout in rollouts {
        row(&mut html, rollout);
    }
    html.push_str("</tbody></table></body></html>");
    html
}

fn row(html: &mut String, r: &RolloutView) {
    let phase = r.phase.map_or("none", Phase::as_str);
    let _ = write!(
        html,
        "<tr data-rollout=\"{ns}/{name}\"><td><strong>{name}</strong><br><code>{ns}</code>{rev}</td>",
        ns = escape(&r.namespace),
        name = escape(&r.name),
        rev = r.revision.as_deref().map(|rev| format!("<br><code>rev {}</code>", escape(rev))).unwrap_or_default(),
    );
    let _ = write!(html, "<td>{}</td>", escape(&r.strategy));
    let shown = if phase == "none" { "not started" } else { phase };
    let _ = write!(html, "<td><span class=\"phase {phase}\">{shown}</span>");
    if let Some(command) = &r.pending_command {
        let _ = write!(html, "<br><code>command pending: {}</code>", escape(command));
    }
    html.push_str("</td>");
    match r.weight {
        Some(weight) => {
            let _ = write!(html, "<td>{weight}%<div class=\"bar\"><span style=\"width:{weight}%\"></span></div></td>");
        }
        None => html.push_str("<td>–</td>"),
    }
    html.push_str("<td><ul>");
    for m in r.verdicts() {
        let class = m.verdict.as_str();
        // The reason starts with the metric's name, already shown in bold.
        let reason = m.reason.strip_prefix(&format!("{}: ", m.metric)).unwrap_or(&m.reason);
        let _ = write!(
            html,
            "<li class=\"{class}\"><strong>{}</strong> {class}: {}</li>",
            escape(&m.metric),
            escape(reason)
        );
    }
    html.push_str("</ul></td>");
    let trigger = r.trigger.as_deref().map(|t| format!(" <code>trigger {}</code>", escape(t))).unwrap_or_default();
    // The full reason repeats every verdict; the cell shows its start, the tooltip all of it.
    let reason = r.reason.as_deref().unwrap_or("");
    let short = shortened(reason, WHY_CHARS);
    let _ = write!(html, "<td class=\"reason\" title=\"{}\">{}{trigger}</td></tr>", escape(reason), escape(&short));
}

/// Characters of the reason shown in the "Why" column.
const WHY_CHARS: usize = 160;

fn shortened(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Text into HTML: annotations are user input.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn user_text_is_escaped_and_an_empty_list_says_what_to_do() {
        let annotations = BTreeMap::from([("serin.io/strategy".to_string(), "<script>x</script>".to_string())]);
        let view = RolloutView::from_annotations("ns", "a&b", &annotations).unwrap();
        let html = render(&[view]);
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "{html}");
        assert!(html.contains("a&amp;b"));
        assert!(render(&[]).contains("No rollouts yet"));
    }
}
