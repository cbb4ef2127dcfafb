//! Inline SVG charts, drawn on the server: no script, no library, nothing fetched. A chart is
//! a few dozen elements in the page, readable without CSS, with a `<title>` per point so a
//! browser shows the figure on hover.

use maud::{html, Markup};

/// One series: labelled points in order (a day, its value).
pub struct Series<'a> {
    pub label: &'a str,
    pub points: Vec<(String, f64)>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 30.0;

/// A line chart of one series, the y axis from 0 to its maximum, `unit` formatting values.
pub fn line(series: &Series<'_>, unit: fn(f64) -> String) -> Markup {
    let n = series.points.len();
    let max = series
        .points
        .iter()
        .map(|p| p.1)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let x = |i: usize| {
        if n <= 1 {
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0
        } else {
            LEFT + (WIDTH - LEFT - RIGHT) * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v / max);
    let path: Vec<String> = series
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.1)))
        .collect();
    let first = series.points.first().map(|p| p.0.as_str()).unwrap_or("");
    let last = series.points.last().map(|p| p.0.as_str()).unwrap_or("");
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img"
            aria-label=(format!("{}: {} points", series.label, n)) data-points=(n) {
            title { (series.label) }
            line.axis x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH - RIGHT) y2=(HEIGHT - BOTTOM) {}
            line.axis x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(HEIGHT - BOTTOM) {}
            text.tick x=(LEFT - 6.0) y=(TOP + 4.0) text-anchor="end" { (unit(max)) }
            text.tick x=(LEFT - 6.0) y=(HEIGHT - BOTTOM) text-anchor="end" { (unit(0.0)) }
            text.tick x=(LEFT) y=(HEIGHT - 8.0) text-anchor="start" { (first) }
            text.tick x=(WIDTH - RIGHT) y=(HEIGHT - 8.0) text-anchor="end" { (last) }
            @if n > 1 {
                polyline.series points=(path.join(" ")) {}
            }
            @for (i, (label, value)) in series.points.iter().enumerate() {
                circle.point cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(*value))) r="3"
                    data-label=(label) data-value=(value) {
                    title { (label) ": " (unit(*value)) }
                }
            }
        }
    }
}

/// Horizontal bars, one per labelled value, scaled to the largest.
pub fn bars(items: &[(String, f64)], unit: fn(f64) -> String) -> Markup {
    let row = 22.0;
    let height = row * items.len().max(1) as f64;
    let label_width = 220.0;
    let max = items.iter().map(|i| i.1).fold(0.0_f64, f64::max).max(1.0);
    html! {
        svg.chart.bars viewBox=(format!("0 0 {WIDTH} {height}")) role="img"
            aria-label=(format!("{} bars", items.len())) {
            @for (i, (label, value)) in items.iter().enumerate() {
                @let top = row * i as f64;
                @let length = (WIDTH - label_width - 90.0) * value / max;
                text.tick x=(label_width - 6.0) y=(top + 15.0) text-anchor="end" { (label) }
                rect.bar x=(label_width) y=(top + 4.0) width=(format!("{length:.1}")) height="14"
                    data-label=(label) data-value=(value) {
                    title { (label) ": " (unit(*value)) }
                }
                text.tick x=(label_width + length + 6.0) y=(top + 15.0) { (unit(*value)) }
            }
        }
    }
}

/// 1536 → "1.5 kB", as pg_size_pretty writes sizes.
pub fn bytes(value: f64) -> String {
    crate::ui::human::pg_size(value.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_one_point_per_value_and_its_extremes_labelled() {
        let series = Series {
            label: "public.users",
            points: vec![
                ("2026-11-01".into(), 1024.0),
                ("2026-11-02".into(), 2048.0),
                ("2026-11-03".into(), 4096.0),
            ],
        };
        let svg = line(&series, bytes).into_string();
        assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
        assert!(svg.contains("data-points=\"3\""));
        assert!(svg.contains("4.0 kB") && svg.contains("2026-11-01") && svg.contains("2026-11-03"));
        assert!(svg.contains("<polyline"));
        // One point: no line, still a dot; no NaN from dividing by zero.
        let one = Series {
            label: "t",
            points: vec![("d".into(), 0.0)],
        };
        let svg = line(&one, bytes).into_string();
        assert!(!svg.contains("NaN") && !svg.contains("<polyline"), "{svg}");
    }

    #[test]
    fn bars_scale_to_the_largest_and_escape_labels() {
        let svg = bars(&[("a<b".into(), 10.0), ("c".into(), 5.0)], |v| {
            format!("{v}")
        })
        .into_string();
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2);
    }
}
