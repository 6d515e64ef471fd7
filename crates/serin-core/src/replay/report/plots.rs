//! The report's SVG plots (plotters): the weight with the observed canary share, each
//! metric's canary and baseline with their 95% intervals against the limit, and each
//! test's e-value against its threshold on a log scale. Every value is also a marker, so a
//! short run (two analyses) shows its points rather than a line too short to see; a long
//! one is thinned to bins first (`data::thin`).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::data::{Series, TestTrace, Value, wilson};

pub const CANARY: RGBColor = RGBColor(214, 39, 40);
pub const BASELINE: RGBColor = RGBColor(31, 119, 180);
const LIMIT: RGBColor = RGBColor(110, 110, 110);
const WEIGHT: RGBColor = RGBColor(44, 160, 44);
const PALETTE: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
];
/// Beyond this many points a series is drawn as a line only.
const MAX_MARKERS: usize = 150;
const SIZE: (u32, u32) = (900, 260);

/// A vertical mark across a plot: a decision or a trigger that fired.
#[derive(Debug, Clone)]
pub struct Mark {
    /// In the axis' unit (minutes or hours since the start).
    pub minute: f64,
    pub label: String,
    pub rollback: bool,
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn render(draw: impl FnOnce(&Area) -> Result<(), String>) -> String {
    let mut svg = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|_| draw(&root))
            .and_then(|_| root.present().map_err(|e| e.to_string()))
    };
    match result {
        Ok(()) => svg,
        Err(e) => format!("<p>plot failed: {}</p>", super::words::escape(&e)),
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The time axis: minutes, or hours for a long run (every x of a plot is in its unit).
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    /// The last analysis.
    pub end: f64,
    pub desc: &'static str,
}

impl Axis {
    /// Runs longer than 3 hours are drawn in hours.
    pub fn for_minutes(end: f64) -> (Axis, f64) {
        if end > 180.0 {
            (Axis { end: end / 60.0, desc: "hours since the start" }, 60.0)
        } else {
            (Axis { end, desc: "minutes since the start" }, 1.0)
        }
    }

    /// 0 to a little past the end.
    fn range(&self) -> std::ops::Range<f64> {
        0.0..(self.end * 1.04).max(self.end + 0.25).max(1.0)
    }
}

fn markers(points: &[(f64, f64)]) -> bool {
    points.len() <= MAX_MARKERS
}

/// The canary weight set (steps) and the canary's share of the requests measured (points).
pub fn weight(weights: &[(f64, f64)], share: &[(f64, f64)], marks: &[Mark], x: Axis) -> String {
    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(x.range(), 0.0..105.0)
            .map_err(err)?;
        chart.configure_mesh().x_desc(x.desc).y_desc("% of requests").draw().map_err(err)?;
        draw_marks(&mut chart, marks, 105.0)?;
        chart
            .draw_series(LineSeries::new(weights.iter().copied(), WEIGHT.stroke_width(2)))
            .map_err(err)?
            .label("weight set")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], WEIGHT.stroke_width(2)));
        draw_line(&mut chart, share, CANARY, "canary share measured")?;
        legend(&mut chart)
    })
}

/// One metric series: canary and baseline (95% intervals for ratios) against the limit.
pub fn values(series: &Series, marks: &[Mark], x: Axis) -> String {
    let top = series
        .points
        .iter()
        .flat_map(|p| [p.canary, p.baseline, p.limit, upper(p.canary_counts), upper(p.baseline_counts)])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max)
        .max(1e-9)
        * 1.15;
    let scale = if series.unit == "ratio" { 100.0 } else { 1.0 };
    let label = match series.unit.as_str() {
        "ratio" => format!("{} (%)", series.name),
        "seconds" => format!("{} (s)", series.name),
        _ => series.name.clone(),
    };
    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(x.range(), 0.0..top * scale)
            .map_err(err)?;
        chart.configure_mesh().x_desc(x.desc).y_desc(label).draw().map_err(err)?;
        draw_marks(&mut chart, marks, top * scale)?;
        let pick = |f: fn(&Value) -> Option<f64>| -> Vec<(f64, f64)> {
            series.points.iter().filter_map(|p| f(p).map(|v| (p.minute, v * scale))).collect()
        };
        let limit = pick(|p| p.limit);
        if !limit.is_empty() {
            chart
                .draw_series(DashedLineSeries::new(limit, 6, 4, LIMIT.stroke_width(2)))
                .map_err(err)?
                .label("limit")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], LIMIT.stroke_width(2)));
        }
        for (color, counts) in
            [(BASELINE, (|p: &Value| p.baseline_counts) as fn(&Value) -> _), (CANARY, |p| p.canary_counts)]
        {
            let intervals: Vec<((f64, f64), (f64, f64))> = series
                .points
                .iter()
                .filter_map(|p| {
                    let (lo, hi) = wilson(counts(p)?)?;
                    Some(((p.minute, lo * scale), (p.minute, hi * scale)))
                })
                .collect();
            let bars =
                intervals.iter().map(|&(lo, hi)| PathElement::new(vec![lo, hi], color.mix(0.45).stroke_width(2)));
            chart.draw_series(bars).map_err(err)?;
            let caps = intervals.iter().flat_map(|&(lo, hi)| [lo, hi]).map(|at| {
                EmptyElement::at(at) + PathElement::new(vec![(-5, 0), (5, 0)], color.mix(0.45).stroke_width(2))
            });
            chart.draw_series(caps).map_err(err)?;
        }
        draw_line(&mut chart, &pick(|p| p.baseline), BASELINE, "baseline")?;
        draw_line(&mut chart, &pick(|p| p.canary), CANARY, "canary")?;
        legend(&mut chart)
    })
}

fn upper(counts: Option<crate::judge::evidence::Events>) -> Option<f64> {
    wilson(counts?).map(|(_, hi)| hi)
}

/// Each test's e-value over time against its threshold (dashed), log scale.
pub fn evidence(tests: &[&TestTrace], marks: &[Mark], x: Axis) -> String {
    let values = tests.iter().flat_map(|t| t.points.iter().map(|p| p.1).chain([t.threshold]));
    let (lo, hi) = values.fold((1.0_f64, 1.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = ((lo / 3.0).max(1e-12), (hi * 10.0).min(1e300));
    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(x.range(), (lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x.desc)
            .y_desc("e-value (log)")
            .y_label_formatter(&|v| crate::judge::format::e_value(v.ln()))
            .draw()
            .map_err(err)?;
        draw_marks(&mut chart, marks, hi)?;
        for (i, test) in tests.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let span = [(0.0, test.threshold), (x.range().end, test.threshold)];
            chart.draw_series(DashedLineSeries::new(span, 6, 4, color.mix(0.8).stroke_width(1))).map_err(err)?;
            draw_line(&mut chart, &test.points, color, &test.name)?;
        }
        legend(&mut chart)
    })
}

type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>;

/// A line through `points`, and a marker on each unless there are many.
fn draw_line<Y: Ranged<ValueType = f64>>(
    chart: &mut Chart<'_, '_, Y>,
    points: &[(f64, f64)],
    color: RGBColor,
    name: &str,
) -> Result<(), String> {
    if points.is_empty() {
        return Ok(());
    }
    chart
        .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
        .map_err(err)?
        .label(name)
        .legend(move |(x, y)| Circle::new((x + 8, y), 3, color.filled()));
    if markers(points) || points.len() == 1 {
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(err)?;
    }
    Ok(())
}

/// Decisions as vertical lines, labelled (stacked when several share a minute) unless
/// there are too many to read; rollbacks and fired triggers are always labelled.
fn draw_marks<Y: Ranged<ValueType = f64>>(
    chart: &mut Chart<'_, '_, Y>,
    marks: &[Mark],
    top: f64,
) -> Result<(), String> {
    let x_end = chart.x_range().end;
    let bottom = chart.y_range().start;
    let mut groups: Vec<(f64, Vec<&Mark>)> = Vec::new();
    for mark in marks {
        match groups.iter_mut().find(|(m, _)| (m - mark.minute).abs() < 1e-9) {
            Some((_, group)) => group.push(mark),
            None => groups.push((mark.minute, vec![mark])),
        }
    }
    let labelled = groups.len() <= 12;
    for (minute, group) in &groups {
        let rollback = group.iter().any(|m| m.rollback);
        let color = if rollback { CANARY } else { RGBColor(120, 120, 120) };
        let line = PathElement::new(vec![(*minute, bottom), (*minute, top)], color.mix(0.6).stroke_width(1));
        chart.draw_series(std::iter::once(line)).map_err(err)?;
        let right = *minute > 0.6 * x_end;
        let (dx, pos) = if right { (-4, HPos::Right) } else { (4, HPos::Left) };
        let shown = group.iter().filter(|m| labelled || m.rollback);
        for (row, mark) in shown.enumerate() {
            let style = ("sans-serif", 11).into_font().color(&color).pos(Pos::new(pos, VPos::Top));
            let text =
                EmptyElement::at((*minute, top)) + Text::new(mark.label.clone(), (dx, 2 + 13 * row as i32), style);
            chart.draw_series(std::iter::once(text)).map_err(err)?;
        }
    }
    Ok(())
}

/// Below the decision labels along the top.
fn legend<'a, Y: Ranged<ValueType = f64>>(chart: &mut Chart<'a, 'a, Y>) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::Coordinate(8, 44))
        .border_style(BLACK.mix(0.3))
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(err)
}
