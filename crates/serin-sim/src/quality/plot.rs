//! One SVG per case, one line per algorithm against total traffic (log scale): on the left
//! the mean canary requests exposed before the decision (log scale), on the right the share
//! of runs rolled back — exposure alone would reward rolling back everything at once.
//! People read a plot faster than a table.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::figures::{Figures, of_cell};
use super::grid::{Case, CellRuns, Contender};

/// Floor of the exposure axis: a mean exposure below it is drawn on it.
const MIN_EXPOSURE: f64 = 0.1;

/// One algorithm's points (total req/s, value).
type Line = (Contender, Vec<(f64, f64)>);

/// A line's colour and width per contender (serin thickest).
fn style(who: Contender) -> (RGBColor, u32) {
    match who {
        Contender::Serin => (RGBColor(214, 39, 40), 3),
        Contender::SerinEvery(_) => (RGBColor(227, 119, 194), 2),
        Contender::Oracle => (RGBColor(40, 40, 40), 2),
        Contender::Flagger(1) => (RGBColor(31, 119, 180), 2),
        Contender::Flagger(_) => (RGBColor(23, 190, 207), 2),
        Contender::Argo(0) => (RGBColor(255, 127, 14), 2),
        Contender::Argo(_) => (RGBColor(188, 189, 34), 2),
        Contender::Kayenta => (RGBColor(148, 103, 189), 2),
    }
}

/// The SVG of `case`, from the cells of that case in `cells`.
pub fn svg(case: &Case, cells: &[CellRuns], contenders: &[Contender]) -> Result<String, String> {
    let mine: Vec<&CellRuns> = cells.iter().filter(|c| c.cell.case.name == case.name).collect();
    let lines = |value: &dyn Fn(&Figures) -> f64| -> Vec<Line> {
        let points = |who| -> Vec<(f64, f64)> {
            mine.iter().filter_map(|c| of_cell(c, contenders, who).map(|f| (c.cell.rate, value(&f)))).collect()
        };
        contenders.iter().map(|&who| (who, points(who))).collect()
    };
    let exposure = lines(&|f| f.canary_requests.max(MIN_EXPOSURE));
    let rolled_back = lines(&|f| 100.0 * f.p_rollback());
    let rates = mine.iter().map(|c| c.cell.rate);
    let (lo, hi) = (rates.clone().fold(f64::MAX, f64::min), rates.fold(0.0, f64::max));
    let x = (lo.min(hi) * 0.7..hi.max(lo) * 1.4).log_scale();
    let top = exposure.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)).fold(1.0, f64::max) * 3.0;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1200, 470)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let root = root.titled(case.title, ("sans-serif", 20)).map_err(|e| e.to_string())?;
        let (left, right) = root.split_horizontally(640);
        let y_exposure = (MIN_EXPOSURE..top).log_scale();
        panel(&left, x.clone(), y_exposure, "canary requests before the decision (mean)", &exposure, true)?;
        panel(&right, x, 0.0..105.0, "rolled back (% of runs)", &rolled_back, false)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// One chart of `lines` on `area`, with the legend when `legend`.
fn panel<X, Y>(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    x: X,
    y: Y,
    y_desc: &str,
    lines: &[Line],
    legend: bool,
) -> Result<(), String>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("total traffic (requests/s)")
        .y_desc(y_desc)
        .x_label_formatter(&|v| format!("{v}"))
        .y_label_formatter(&|v| format!("{v}"))
        .draw()
        .map_err(|e| e.to_string())?;
    for (who, points) in lines {
        let (color, width) = style(*who);
        let series =
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(width))).map_err(|e| e.to_string())?;
        if legend {
            series
                .label(who.label())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width)));
        }
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled()))).map_err(|e| e.to_string())?;
    }
    if legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
