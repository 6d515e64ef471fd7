//! `--report FILE.html`: a self-contained page (no scripts, no external assets) that tells
//! what serin decided and why: the outcome in a sentence, the traffic (weight set, canary
//! share measured, requests per step), every decision in words with the evidence of its
//! analysis, the triggers and where they fired, and per metric the canary and baseline
//! against the limit and each test's evidence against its threshold, with how close it came.

mod data;
mod plots;
mod words;

use std::fmt::Write;
use std::time::SystemTime;

use super::{Entry, Replay};
use crate::judge::Judgement;
use crate::time::format_instant;
use data::{MetricTrace, TestTrace, minute};
use plots::{Axis, Mark};
use words::escape;

/// Renders the report page.
pub fn html(replay: &Replay, title: &str) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(title)
    );
    let _ = writeln!(page, "<h1>{}</h1>", escape(title));
    let Some(start) = data::start_of(replay) else {
        page.push_str("<p>No analysis: the recording holds nothing to judge.</p></body></html>\n");
        return page;
    };
    let _ = writeln!(
        page,
        "<p class=\"outcome {}\">{}</p>\n<p class=\"reason\">{}</p>",
        replay.outcome.as_str(),
        escape(&words::headline(replay, start)),
        escape(&replay.reason)
    );
    let end = replay.timeline.last().map(|e| minute(start, e.at)).unwrap_or(1.0);
    let (axis, unit) = Axis::for_minutes(end);
    let mut marks = decision_marks(replay, start);
    marks.iter_mut().for_each(|m| m.minute /= unit);
    traffic(&mut page, replay, start, &marks, (axis, unit));
    decisions(&mut page, replay, start);
    triggers(&mut page, replay, start);
    page.push_str("<h2>Metrics</h2>\n");
    // The analysis that decided, else the last one (after a decision, the canary may serve nothing).
    let deciding = replay.judgements.iter().rfind(|j| Some(j.at) == replay.decided_at).or(replay.judgements.last());
    for mut trace in data::metrics(replay, start) {
        trace.rescale(unit);
        metric(&mut page, &trace, &marks, axis, deciding);
    }
    page.push_str("</body></html>\n");
    page
}

/// Every decision (and each trigger's firing) as a mark on the plots.
fn decision_marks(replay: &Replay, start: SystemTime) -> Vec<Mark> {
    let mut marks: Vec<Mark> = replay
        .timeline
        .iter()
        .filter(|e| e.action != "analysis")
        .map(|e| Mark {
            minute: minute(start, e.at),
            label: format!("{} {}%", e.action, e.weight),
            rollback: e.action == "rollback",
        })
        .collect();
    for t in data::triggers(replay, start) {
        if let Some(fired) = t.fired {
            marks.push(Mark { minute: fired, label: format!("⚑ {} fired", t.trigger), rollback: true });
        }
    }
    marks
}

fn traffic(page: &mut String, replay: &Replay, start: SystemTime, marks: &[Mark], (axis, unit): (Axis, f64)) {
    page.push_str("<h2>Traffic</h2>\n<p>The canary weight serin set, and the canary's share of the requests measured at each analysis.</p>\n");
    let rescale = |points: Vec<(f64, f64)>| points.into_iter().map(|(x, y)| (x / unit, y)).collect::<Vec<_>>();
    let weights = rescale(data::weights(replay, start));
    let share = rescale(data::canary_share(replay, start));
    let _ = writeln!(page, "<figure class=\"plot weight\">{}</figure>", plots::weight(&weights, &share, marks, axis));
    page.push_str("<table class=\"steps\"><tr><th>weight</th><th>judged at</th><th>analyses</th><th>canary requests</th><th>baseline requests</th></tr>\n");
    for step in steps(replay) {
        let _ = writeln!(
            page,
            "<tr><td>{}%</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.0}</td></tr>",
            step.weight,
            judged_at(minute(start, step.from), minute(start, step.to)),
            step.analyses,
            step.canary,
            step.baseline
        );
    }
    page.push_str("</table>\n");
}

/// `minute 1`, `minutes 2–14`, or for a long run `2 minutes – 24 h`.
fn judged_at(from: f64, to: f64) -> String {
    if (to - from).abs() < 1e-9 {
        format!("minute {from:.0}")
    } else if to > 180.0 {
        format!("{} – {}", words::span(from), words::span(to))
    } else {
        format!("minutes {from:.0}–{to:.0}")
    }
}

/// Requests judged while one weight was in effect.
struct Step {
    weight: u8,
    from: SystemTime,
    to: SystemTime,
    analyses: usize,
    canary: f64,
    baseline: f64,
}

/// Each analysis belongs to the weight in effect during its interval: the one set before it.
fn steps(replay: &Replay) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut judgements = replay.judgements.iter();
    let mut current = 0;
    for entry in &replay.timeline {
        if entry.action != "analysis" {
            current = entry.weight;
            continue;
        }
        let Some(judgement) = judgements.next() else { break };
        let (canary, baseline) = data::requests(judgement).unwrap_or_default();
        match out.last_mut().filter(|s| s.weight == current) {
            Some(step) => {
                step.analyses += 1;
                step.to = judgement.at;
                step.canary += canary;
                step.baseline += baseline;
            }
            None => {
                out.push(Step { weight: current, from: judgement.at, to: judgement.at, analyses: 1, canary, baseline })
            }
        }
    }
    out
}

fn decisions(page: &mut String, replay: &Replay, start: SystemTime) {
    page.push_str("<h2>Decisions</h2>\n<ol class=\"decisions\">\n");
    let mut before = 0;
    for entry in replay.timeline.iter().filter(|e| e.action != "analysis") {
        let judgement = replay.judgements.iter().find(|j| j.at == entry.at);
        let _ = write!(
            page,
            "<li class=\"{}\"><span class=\"when\">{} · {} in</span> {}",
            escape(&entry.action),
            format_instant(entry.at),
            words::span(minute(start, entry.at)),
            escape(&words::decision(entry, before))
        );
        if let Some(j) = judgement.filter(|_| entry.action != "rollback") {
            let _ = write!(page, "<br><span class=\"evidence\">Analysis: {}.</span>", escape(&words::verdicts(j)));
        }
        evidence_list(page, judgement, entry);
        page.push_str("</li>\n");
        before = entry.weight;
    }
    if replay.timeline.iter().all(|e| e.action == "analysis") {
        page.push_str("<li>No decision: the rollout waited for evidence the whole time.</li>\n");
    }
    page.push_str("</ol>\n");
}

/// The metric reasons of the analysis behind a decision.
fn evidence_list(page: &mut String, judgement: Option<&Judgement>, entry: &Entry) {
    let Some(judgement) = judgement else { return };
    if entry.action == "hold" {
        return;
    }
    page.push_str("<ul class=\"reasons\">");
    for m in &judgement.metrics {
        let _ = write!(page, "<li><b>{}</b> {}: {}</li>", escape(&m.metric), m.verdict.as_str(), escape(&m.reason));
    }
    page.push_str("</ul>");
}

fn triggers(page: &mut String, replay: &Replay, start: SystemTime) {
    let marks = data::triggers(replay, start);
    page.push_str("<h2>Triggers</h2>\n");
    if let Some(t) = replay.trigger.as_deref().filter(|t| !marks.iter().any(|m| m.trigger == *t)) {
        let _ = writeln!(
            page,
            "<p>{} is no template trigger: the metric's own verdict decided (see Decisions).</p>",
            escape(t)
        );
    }
    if marks.is_empty() {
        page.push_str("<p>No template trigger's condition held at any analysis.</p>\n");
        return;
    }
    page.push_str("<table class=\"triggers\"><tr><th>trigger</th><th>metric</th><th>first held</th><th>fired</th><th>evidence</th></tr>\n");
    for t in marks {
        let at = |m: Option<f64>| m.map(words::span).unwrap_or_else(|| "—".into());
        let _ = writeln!(
            page,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if t.fired.is_some() { "fired" } else { "breached" },
            escape(&t.trigger),
            escape(&t.metric),
            at(t.breached),
            at(t.fired),
            escape(&t.reason)
        );
    }
    page.push_str("</table>\n");
}

fn metric(page: &mut String, trace: &MetricTrace, marks: &[Mark], axis: Axis, last: Option<&Judgement>) {
    let _ = writeln!(
        page,
        "<section class=\"metric\" id=\"metric-{}\"><h3>{}</h3>",
        escape(&trace.metric),
        escape(&trace.metric)
    );
    if let Some(m) = last.and_then(|j| j.metrics.iter().find(|m| m.metric == trace.metric)) {
        let _ = writeln!(page, "<p>Verdict: <b>{}</b> — {}</p>", m.verdict.as_str(), escape(&m.reason));
        if let Some(forecast) = &m.forecast {
            let _ = writeln!(page, "<p class=\"forecast\">Forecast: {}.</p>", escape(&forecast.text()));
        }
    }
    for series in &trace.series {
        // The latest reading of each (the baseline may be frozen once the canary takes all traffic).
        let latest = |f: fn(&data::Value) -> Option<f64>| series.points.iter().rev().find_map(f);
        let last = latest(|p| p.canary).map(|c| (c, latest(|p| p.baseline), latest(|p| p.limit)));
        let summary = last
            .map(|(c, b, l)| {
                let v = |x: Option<f64>| x.map(|x| words::value(&series.unit, x)).unwrap_or_else(|| "n/a".into());
                format!(": canary {} vs baseline {}, limit {}", words::value(&series.unit, c), v(b), v(l))
            })
            .unwrap_or_else(|| ": no canary reading".into());
        let _ = writeln!(
            page,
            "<h4>{}{}</h4><figure class=\"plot values\" data-series=\"{}\">{}</figure>",
            escape(&series.name),
            escape(&summary),
            escape(&series.name),
            plots::values(series, marks, axis)
        );
    }
    let shown = shown_tests(&trace.tests);
    if shown.is_empty() {
        page.push_str("</section>\n");
        return;
    }
    page.push_str("<h4>Evidence against each threshold</h4>\n<table class=\"tests\"><tr><th>test</th><th>toward</th><th>how close</th><th></th></tr>\n");
    for test in &trace.tests {
        let fraction = test.last().map(|e| words::fraction(e, test.threshold)).unwrap_or(0.0);
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><span class=\"bar {}\"><span style=\"width:{:.0}%\"></span></span></td></tr>",
            escape(&test.name),
            if test.rollback { "rollback" } else { "pass" },
            escape(&words::closeness(test)),
            if test.rollback { "toward-rollback" } else { "toward-pass" },
            100.0 * fraction
        );
    }
    page.push_str("</table>\n");
    let _ =
        writeln!(page, "<figure class=\"plot evidence\">{}</figure></section>", plots::evidence(&shown, marks, axis));
}

/// The tests worth a line: per limit, the rollback test and the pass rule (or, without a
/// combined pass rule, every pass test).
fn shown_tests(tests: &[TestTrace]) -> Vec<&TestTrace> {
    let prefix = |t: &TestTrace| t.name.split(": ").next().unwrap_or_default().to_string();
    tests
        .iter()
        .filter(|t| {
            let combined = tests.iter().any(|o| prefix(o) == prefix(t) && o.name.contains(": pass ("));
            t.rollback || !combined || t.name.contains(": pass (")
        })
        .collect()
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:960px;color:#222;line-height:1.4}\
h2{margin-top:1.6em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:left;vertical-align:top}\
.outcome{font-size:1.3em;font-weight:bold}.outcome.rolled_back{color:#c00}.outcome.promoted{color:#080}\
.outcome.paused{color:#a60}.reason{color:#444}.when{color:#666;font-size:13px}\
ol.decisions li{margin:.4em 0}li.rollback{color:#a00}.evidence{font-size:13px;color:#555}\
ul.reasons{font-size:12px;color:#555;margin:.2em 0}figure{margin:.5em 0}\
.bar{display:inline-block;width:160px;height:10px;background:#eee;border:1px solid #ccc}\
.bar span{display:block;height:100%}.toward-rollback span{background:#d62728}.toward-pass span{background:#2ca02c}\
tr.fired td{color:#a00}.forecast{color:#555}";
