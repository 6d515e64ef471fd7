//! `--report FILE.html`: a self-contained page (no external assets) with one plot per
//! metric series — canary vs baseline vs limit over time — and every decision marked.

use std::collections::BTreeMap;
use std::fmt::Write;

use plotters::prelude::*;

use super::{Entry, Replay};
use crate::time::{format_instant, unix_seconds};

/// One plotted instant: (unix seconds, canary, baseline, limit).
type Point = (f64, Option<f64>, Option<f64>, Option<f64>);
type Points = Vec<Point>;
/// A plotted line: its legend, colour, and which value of a [`Point`] it draws.
type Line = (&'static str, RGBColor, fn(&Point) -> Option<f64>);

/// Renders the report page.
pub fn html(replay: &Replay, title: &str) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(title)
    );
    let _ = writeln!(page, "<h1>{}</h1>", escape(title));
    let decided = replay.decided_at.map(|t| format!(" at {}", format_instant(t))).unwrap_or_default();
    let by = replay.trigger.as_deref().map(|t| format!(" by <b>{}</b>", escape(t))).unwrap_or_default();
    let _ = writeln!(
        page,
        "<p class=\"outcome {}\">outcome: <b>{}</b>{decided}{by}</p><p>{}</p>",
        replay.outcome.as_str(),
        replay.outcome.as_str(),
        escape(&replay.reason)
    );
    let decisions: Vec<&Entry> = replay.timeline.iter().filter(|e| e.action != "analysis").collect();
    page.push_str("<h2>Decisions</h2><table><tr><th>time</th><th>action</th><th>weight</th><th>detail</th></tr>\n");
    for e in &decisions {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}%</td><td>{}</td></tr>",
            format_instant(e.at),
            e.action,
            e.weight,
            escape(&e.detail.to_string())
        );
    }
    page.push_str("</table>\n<h2>Metrics</h2>\n");
    for ((metric, series), points) in collect_series(replay) {
        let _ = writeln!(page, "<h3>{} — {}</h3>", escape(&metric), escape(&series));
        page.push_str(&plot(&points, &decisions, &series));
    }
    page.push_str("</body></html>\n");
    page
}

/// Groups every judgement's plot points by (metric, series name), in time order.
fn collect_series(replay: &Replay) -> BTreeMap<(String, String), Points> {
    let mut out: BTreeMap<(String, String), Points> = BTreeMap::new();
    for judgement in &replay.judgements {
        let t = unix_seconds(judgement.at);
        for m in &judgement.metrics {
            for p in &m.evidence.series {
                let key = (m.metric.clone(), format!("{} ({})", p.name, p.unit));
                out.entry(key).or_default().push((t, p.canary, p.baseline, p.limit));
            }
        }
    }
    out
}

fn plot(points: &Points, decisions: &[&Entry], label: &str) -> String {
    let mut svg = String::new();
    if let Err(e) = draw(&mut svg, points, decisions, label) {
        return format!("<p>plot failed: {}</p>", escape(&e));
    }
    svg
}

fn draw(svg: &mut String, points: &Points, decisions: &[&Entry], label: &str) -> Result<(), String> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else { return Ok(()) };
    let values = points.iter().flat_map(|&(_, c, b, l)| [c, b, l]).flatten().filter(|v| v.is_finite());
    let top = values.fold(0.0_f64, f64::max).max(1e-9) * 1.15;
    let (t0, t1) = (first.0, last.0.max(first.0 + 1.0));
    let root = SVGBackend::with_string(svg, (900, 300)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..(t1 - t0) / 60.0, 0.0..top)
        .map_err(|e| e.to_string())?;
    chart.configure_mesh().x_desc("minutes since start").y_desc(label).draw().map_err(|e| e.to_string())?;
    let arms: [Line; 3] = [
        ("canary", RGBColor(214, 39, 40), |p| p.1),
        ("baseline", RGBColor(31, 119, 180), |p| p.2),
        ("limit", RGBColor(90, 90, 90), |p| p.3),
    ];
    for (name, color, pick) in arms {
        let line: Vec<(f64, f64)> =
            points.iter().filter_map(|p| pick(p).filter(|v| v.is_finite()).map(|v| ((p.0 - t0) / 60.0, v))).collect();
        if line.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    for d in decisions {
        let x = (unix_seconds(d.at) - t0) / 60.0;
        let color = if d.action == "rollback" { RED } else { RGBColor(44, 160, 44) };
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(x, 0.0), (x, top)], color.stroke_width(1))))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{} {}%", d.action, d.weight),
                (x, top * 0.95),
                ("sans-serif", 11).into_font(),
            )))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:left}\
.outcome.rolled_back b{color:#c00}.outcome.promoted b{color:#080}.outcome.paused b{color:#a60}";
