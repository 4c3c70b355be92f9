//! The timeline plot: an SVG document of throughput, merge backlog and
//! segments per tenant, the merge throttle rate and RSS, the spiking
//! tenant's admitted rate against its rate limit and its merge throughput,
//! and the quiet tenants' add and search p99 per second against their
//! baseline. Axes are in SI units (`200k`, `1.5M`), and every panel has a
//! legend.

use crate::args::Args;
use crate::quiet::QuietLatency;
use crate::timeline::Sample;
use crate::workload::Phases;
use lucerna::merge::MIB;
use std::fmt::Write as _;

const COLORS: [&str; 8] = [
    "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

/// A named, coloured series of (time, value) points.
type Series<'a> = (String, &'a str, Vec<(f64, f64)>);

/// A dashed horizontal reference line (a baseline) with its label.
type Reference = (String, &'static str, f64);

/// Left edge, width and height of every panel.
const LEFT: f64 = 70.0;
const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 150.0;
/// Vertical space of one panel with its title and legend.
const PANEL_STEP: f64 = 200.0;

/// `v` with an SI prefix and at most three significant digits: `950`,
/// `1.5k`, `213k`, `2M`, `0.25`.
fn si(v: f64) -> String {
    let (scaled, prefix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let digits = match scaled.abs() {
        a if a >= 100.0 || a == 0.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    let text = format!("{scaled:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{prefix}")
}

/// A round step (1, 2 or 5 times a power of ten) for about four ticks up
/// to `max`.
fn tick_step(max: f64) -> f64 {
    let raw = (max / 4.0).max(1e-12);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// One panel of the timeline.
struct Panel<'a> {
    title: &'a str,
    series: Vec<Series<'a>>,
    references: Vec<Reference>,
    /// A logarithmic y axis (latencies, whose outliers would flatten the
    /// rest on a linear one).
    log: bool,
}

/// The y axis of a panel: its ticks and where a value is drawn.
struct Axis {
    ticks: Vec<f64>,
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64>, log: bool) -> Axis {
        let values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
        if log {
            let positive = || values.iter().copied().filter(|&v| v > 0.0);
            let min = positive().fold(f64::INFINITY, f64::min);
            let max = positive().fold(0.0f64, f64::max);
            let (lo, hi) = if max > 0.0 {
                (
                    min.log10().floor(),
                    max.log10().ceil().max(min.log10().floor() + 1.0),
                )
            } else {
                (0.0, 1.0)
            };
            let ticks = (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect();
            return Axis { ticks, lo, hi, log };
        }
        let max = values.iter().copied().fold(0.0f64, f64::max).max(1e-9) * 1.05;
        let step = tick_step(max);
        let hi = step * (max / step).ceil();
        let n = (hi / step).round() as usize;
        let ticks = (0..=n).map(|k| step * k as f64).collect();
        Axis {
            ticks,
            lo: 0.0,
            hi,
            log,
        }
    }

    /// Where `v` lies, 0 (bottom) to 1 (top).
    fn frac(&self, v: f64) -> f64 {
        let f = if self.log {
            (v.max(1e-300).log10() - self.lo) / (self.hi - self.lo)
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        f.clamp(0.0, 1.0)
    }
}

/// Draws `p` at `top`: a polyline per series, dashed reference lines,
/// SI-labelled round ticks, and a legend under the title.
fn panel(svg: &mut String, top: f64, p: &Panel<'_>, t_end: f64, spike: (f64, f64)) {
    let (title, series, references) = (p.title, &p.series, &p.references);
    let axis = Axis::new(
        series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.1))
            .chain(references.iter().map(|r| r.2)),
        p.log,
    );
    let x = |t: f64| LEFT + WIDTH * (t / t_end.max(1e-9)).clamp(0.0, 1.0);
    let y = |v: f64| top + HEIGHT - HEIGHT * axis.frac(v);
    let _ = writeln!(
        svg,
        r##"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{HEIGHT}" fill="#fff4e5"/>"##,
        x(spike.0),
        x(spike.1) - x(spike.0)
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{top:.1}" width="{WIDTH}" height="{HEIGHT}" fill="none" stroke="#888"/>"##
    );
    let scale = if p.log { " (log scale)" } else { "" };
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{:.1}" font-size="13" font-weight="bold">{title}{scale}</text>"#,
        top - 22.0
    );
    legend(svg, top - 8.0, series, references);
    for &v in &axis.ticks {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text><line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            LEFT - 4.0,
            y(v) + 3.0,
            si(v),
            LEFT + WIDTH,
            y(v),
            y(v)
        );
    }
    for k in 0..=((t_end / 10.0).floor() as usize) {
        let t = 10.0 * k as f64;
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="#666">{}s</text>"##,
            x(t),
            top + HEIGHT + 11.0,
            si(t)
        );
    }
    for (name, color, v) in references {
        let _ = writeln!(
            svg,
            r#"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="1" stroke-dasharray="5,4"><title>{name}</title></line>"#,
            LEFT + WIDTH,
            y(*v),
            y(*v)
        );
    }
    for (name, color, pts) in series {
        let pts: String = pts
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"><title>{name}</title></polyline>"#
        );
    }
}

/// A legend on one line: a swatch and the name of every series (solid)
/// and reference (dashed).
fn legend(svg: &mut String, y: f64, series: &[Series<'_>], references: &[Reference]) {
    let mut x = LEFT;
    let items = series
        .iter()
        .map(|s| (s.0.as_str(), s.1, ""))
        .chain(references.iter().map(|r| (r.0.as_str(), r.1, "5,4")));
    for (name, color, dash) in items {
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{:.1}" y="{y:.1}" font-size="11">{name}</text>"#,
            x + 18.0,
            y - 4.0,
            y - 4.0,
            x + 22.0
        );
        x += 34.0 + 6.5 * name.chars().count() as f64;
    }
}

/// Tenant 0's admitted documents per second, its rate limit (document
/// bytes per second over the mean bytes of its documents; absent while
/// unlimited) and its merge throughput (bytes its merges wrote per second,
/// over its segment bytes per document; a 3-second trailing mean, since
/// merges finish in lumps).
fn spiking_rates(samples: &[Sample]) -> Vec<Series<'static>> {
    let mut admitted = Vec::new();
    let mut limit = Vec::new();
    let mut merged = Vec::new();
    for (k, s) in samples.iter().enumerate() {
        let Some(&docs) = s.docs_per_s.first() else {
            continue;
        };
        admitted.push((s.t, docs));
        let acked = s.acked[0].max(1) as f64;
        let doc_bytes = s.admitted_bytes[0] as f64 / acked;
        if s.rate_bytes_per_s[0].is_finite() && doc_bytes > 0.0 {
            limit.push((s.t, s.rate_bytes_per_s[0] / doc_bytes));
        }
        let segment_bytes = s.flushed_bytes[0] as f64 / acked;
        let back = &samples[k.saturating_sub(3)];
        let span = s.t - back.t;
        if span > 0.0 && segment_bytes > 0.0 {
            let bytes = s.merged_bytes[0].saturating_sub(back.merged_bytes[0]) as f64;
            merged.push((s.t, bytes / span / segment_bytes));
        }
    }
    vec![
        ("admitted".to_string(), "#d62728", admitted),
        ("rate limit".to_string(), "#ff7f0e", limit),
        ("merge throughput".to_string(), "#000000", merged),
    ]
}

/// The quiet tenants' add p99 and search p99 per second, each with its
/// baseline and twice the baseline (the goal's bound) as references.
fn quiet_panels(quiet: &QuietLatency) -> [(Vec<Series<'static>>, Vec<Reference>); 2] {
    let one = |name: &str, pts: &[(f64, f64)], base: Option<f64>| {
        let series = vec![(format!("{name} p99, per second"), "#1f77b4", pts.to_vec())];
        let refs = base
            .map(|b| {
                vec![
                    (format!("baseline {}µs", si(b)), "#2ca02c", b),
                    (format!("2× baseline {}µs", si(2.0 * b)), "#d62728", 2.0 * b),
                ]
            })
            .unwrap_or_default();
        (series, refs)
    };
    [
        one("add", &quiet.add, quiet.add_baseline),
        one("search", &quiet.search, quiet.search_baseline),
    ]
}

/// The timeline as a self-contained SVG document.
pub(crate) fn plot_svg(
    samples: &[Sample],
    quiet: &QuietLatency,
    phases: Phases,
    args: &Args,
) -> String {
    let n = samples.first().map_or(0, |s| s.docs_per_s.len());
    let t_end = phases.end;
    let spike = (phases.baseline_end, phases.end);
    let per_tenant = |f: &dyn Fn(&Sample, usize) -> f64| -> Vec<Series<'_>> {
        (0..n)
            .map(|i| {
                let role = if i == 0 { "spiking" } else { "quiet" };
                (
                    format!("tenant {i} ({role})"),
                    COLORS[i % COLORS.len()],
                    samples.iter().map(|s| (s.t, f(s, i))).collect(),
                )
            })
            .collect()
    };
    let throttle: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (s.t, s.throttle_mib_per_s))
        .collect();
    let rss: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (s.t, s.rss_bytes as f64 / MIB as f64))
        .collect();
    let [(add, add_refs), (search, search_refs)] = quiet_panels(quiet);
    let linear = |title, series| Panel {
        title,
        series,
        references: vec![],
        log: false,
    };
    let panels = [
        linear(
            "throughput per tenant (documents/s)",
            per_tenant(&|s, i| s.docs_per_s[i]),
        ),
        Panel {
            title: "quiet tenants: add latency p99 per second (µs) against their baseline",
            series: add,
            references: add_refs,
            log: true,
        },
        Panel {
            title: "quiet tenants: search latency p99 per second (µs) against their baseline",
            series: search,
            references: search_refs,
            log: true,
        },
        linear(
            "merge backlog per tenant (MiB)",
            per_tenant(&|s, i| s.backlog_bytes[i] as f64 / MIB as f64),
        ),
        linear(
            "segments per tenant",
            per_tenant(&|s, i| s.segments[i] as f64),
        ),
        linear(
            "merge throttle (MiB/s, shared by all tenants) and process RSS (MiB)",
            vec![
                ("throttle, MiB/s".to_string(), "#000000", throttle),
                ("RSS, MiB".to_string(), "#999999", rss),
            ],
        ),
        linear(
            "tenant 0 (spiking), documents/s: admitted, its rate limit, what its merges absorb",
            spiking_rates(samples),
        ),
    ];
    let mut svg = String::new();
    let height = 60.0 + panels.len() as f64 * PANEL_STEP + 20.0;
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="960" height="{height}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="22" font-size="15">Spike scenario: {} tenants at {} documents/s each; tenant 0 ×{} in the shaded window ({}–{} s)</text>"##,
        args.tenants,
        si(args.rate),
        args.spike,
        si(spike.0),
        si(spike.1)
    );
    for (k, p) in panels.iter().enumerate() {
        panel(&mut svg, 80.0 + k as f64 * PANEL_STEP, p, t_end, spike);
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_labels() {
        assert_eq!(si(0.0), "0");
        assert_eq!(si(0.25), "0.25");
        assert_eq!(si(950.0), "950");
        assert_eq!(si(1500.0), "1.5k");
        assert_eq!(si(213_287.3), "213k");
        assert_eq!(si(2_000_000.0), "2M");
        assert_eq!(si(12.5), "12.5");
    }

    #[test]
    fn round_ticks() {
        assert_eq!(tick_step(213_287.3), 100_000.0);
        assert_eq!(tick_step(40.0), 10.0);
        assert_eq!(tick_step(7.0), 2.0);
        assert_eq!(tick_step(0.9), 0.5);
    }
}
