//! latency.svg: end-to-end latency percentiles (p50, p99, p99.9; publish latency where there is
//! no subscriber, i.e. jetstream) against the throughput of each open-loop step, one line per
//! scenario, on a log latency axis.

use super::error::BenchError;
use super::latency::Percentiles;
use super::results::ScenarioResult;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

struct Series {
    label: String,
    /// (accepted events/s, latency percentiles) per open-loop step.
    points: Vec<(f64, Percentiles)>,
}

impl Series {
    fn of(result: &ScenarioResult) -> Option<Series> {
        let publish_only = result.open_loop.iter().all(|s| s.e2e.is_none());
        let points: Vec<(f64, Percentiles)> = result
            .open_loop
            .iter()
            .filter_map(|s| {
                let latency = if publish_only { s.publish } else { s.e2e };
                Some((s.accepted_per_sec, latency?))
            })
            .collect();
        (!points.is_empty()).then(|| Series {
            label: if publish_only {
                format!("{} (publish)", result.name)
            } else {
                result.name.clone()
            },
            points,
        })
    }
}

type Pick = fn(&Percentiles) -> f64;

const PANELS: [(&str, Pick); 3] = [
    ("p50", |p| p.p50_ms),
    ("p99", |p| p.p99_ms),
    ("p99.9", |p| p.p999_ms),
];

/// Draws the chart of every scenario with open-loop steps into `path`.
pub fn draw(scenarios: &[ScenarioResult], path: &Path) -> Result<(), BenchError> {
    let series: Vec<Series> = scenarios.iter().filter_map(Series::of).collect();
    let failed = |detail: String| BenchError::Chart {
        path: path.to_path_buf(),
        detail,
    };
    let root = SVGBackend::new(path, (1560, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
    let panels = root.split_evenly((1, PANELS.len()));
    for (area, (name, pick)) in panels.iter().zip(PANELS) {
        draw_panel(area, name, pick, &series).map_err(failed)?;
    }
    root.present().map_err(|e| failed(e.to_string()))
}

fn draw_panel(
    area: &DrawingArea<SVGBackend, Shift>,
    name: &str,
    pick: Pick,
    series: &[Series],
) -> Result<(), String> {
    let latencies = series
        .iter()
        .flat_map(|s| s.points.iter().map(|(_, p)| pick(p)));
    let (low, high) = padded_range(latencies, 0.001, (0.01, 100.0));
    let rates = series
        .iter()
        .flat_map(|s| s.points.iter().map(|(rate, _)| *rate));
    let (slowest, fastest) = padded_range(rates, 1.0, (100.0, 100_000.0));
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{name} latency (ms) vs accepted events/s (log-log)"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((slowest..fastest).log_scale(), (low..high).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("accepted events/s")
        .y_desc("ms")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = s.points.iter().map(|(rate, p)| (*rate, pick(p))).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|point| Circle::new(point, 3, color.filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// The range of `values` widened for a log axis (never below `floor`); `empty` when there are
/// none.
fn padded_range(values: impl Iterator<Item = f64>, floor: f64, empty: (f64, f64)) -> (f64, f64) {
    let (low, high) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if low > high {
        return empty;
    }
    let low = (low * 0.7).max(floor);
    (low, (high * 1.5).max(low * 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::results::fixtures::{percentiles, phase};
    use crate::bench::results::{PhaseKind, PhaseResult};

    fn step(percent: u32, rate: f64, e2e: Option<f64>) -> PhaseResult {
        let mut step = phase(PhaseKind::Open, Some(percent), 0.5);
        step.target_rate = Some(rate);
        step.accepted_per_sec = rate;
        step.e2e = e2e.map(percentiles);
        step
    }

    #[test]
    fn draws_one_line_per_scenario_with_steps() {
        let mut herald = ScenarioResult::new("herald-durable", "");
        herald.open_loop = vec![step(25, 1000.0, Some(1.0)), step(50, 2000.0, Some(2.0))];
        let mut js = ScenarioResult::new("jetstream", "");
        js.open_loop = vec![step(50, 3000.0, None)];
        let idle = ScenarioResult::new("idle-100-triggers", "");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latency.svg");
        draw(&[herald, js, idle], &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("herald-durable"));
        assert!(svg.contains("jetstream (publish)"));
        assert!(!svg.contains("idle-100-triggers"));
    }

    #[test]
    fn ranges_leave_room_around_the_points() {
        assert_eq!(padded_range([].into_iter(), 1.0, (1.0, 9.0)), (1.0, 9.0));
        let (low, high) = padded_range([10.0, 100.0].into_iter(), 1.0, (1.0, 9.0));
        assert!(low < 10.0 && high > 100.0);
        let (low, high) = padded_range([0.0].into_iter(), 0.001, (1.0, 9.0));
        assert!(low == 0.001 && high > low);
    }

    #[test]
    fn an_empty_run_still_draws_axes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latency.svg");
        draw(&[], &path).unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("p99 latency")
        );
    }
}
