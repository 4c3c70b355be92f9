//! The timeline plot: an SVG document of throughput, merge backlog and
//! segments per tenant, the merge throttle rate and RSS, and the spiking
//! tenant's admitted rate against its rate limit and its merge throughput.

use crate::args::Args;
use crate::timeline::Sample;
use crate::workload::Phases;
use lucerna::merge::MIB;
use std::fmt::Write as _;

const COLORS: [&str; 8] = [
    "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

/// A named, coloured series of (time, value) points.
type Series<'a> = (String, &'a str, Vec<(f64, f64)>);

/// One panel of the timeline: a polyline per series.
fn panel(
    svg: &mut String,
    top: f64,
    title: &str,
    unit: &str,
    series: &[Series<'_>],
    t_end: f64,
    spike: (f64, f64),
) {
    const LEFT: f64 = 70.0;
    const WIDTH: f64 = 860.0;
    const HEIGHT: f64 = 150.0;
    let ymax = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.1;
    let x = |t: f64| LEFT + WIDTH * (t / t_end.max(1e-9)).clamp(0.0, 1.0);
    let y = |v: f64| top + HEIGHT - HEIGHT * (v / ymax).clamp(0.0, 1.0);
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
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{:.1}" font-size="13" font-weight="bold">{title}</text>"#,
        top - 6.0
    );
    for k in 0..=4 {
        let v = ymax * k as f64 / 4.0;
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{:.1}{unit}</text><line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            LEFT - 4.0,
            y(v) + 3.0,
            v,
            LEFT + WIDTH,
            y(v),
            y(v)
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

/// The timeline as a self-contained SVG document.
pub(crate) fn plot_svg(samples: &[Sample], phases: Phases, args: &Args) -> String {
    let n = samples.first().map_or(0, |s| s.docs_per_s.len());
    let t_end = phases.end;
    let spike = (phases.baseline_end, phases.end);
    let mut svg = String::new();
    let height = 40.0 + 5.0 * 190.0 + 40.0;
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="960" height="{height}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="white"/><text x="70" y="22" font-size="15">Spike scenario: {} tenants, base {} docs/s, tenant 0 x{} in the shaded window (red = tenant 0)</text>"##,
        args.tenants, args.rate, args.spike
    );
    let per_tenant = |f: &dyn Fn(&Sample, usize) -> f64| -> Vec<Series<'_>> {
        (0..n)
            .map(|i| {
                (
                    format!("tenant {i}"),
                    COLORS[i % COLORS.len()],
                    samples.iter().map(|s| (s.t, f(s, i))).collect(),
                )
            })
            .collect()
    };
    panel(
        &mut svg,
        60.0,
        "throughput per tenant (docs/s)",
        "",
        &per_tenant(&|s, i| s.docs_per_s[i]),
        t_end,
        spike,
    );
    panel(
        &mut svg,
        250.0,
        "merge backlog per tenant (MiB)",
        "",
        &per_tenant(&|s, i| s.backlog_bytes[i] as f64 / MIB as f64),
        t_end,
        spike,
    );
    panel(
        &mut svg,
        440.0,
        "segments per tenant",
        "",
        &per_tenant(&|s, i| s.segments[i] as f64),
        t_end,
        spike,
    );
    let throttle: Vec<(f64, f64)> = samples.iter().map(|s| (s.t, s.throttle_mb_per_s)).collect();
    let rss: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (s.t, s.rss_bytes as f64 / MIB as f64))
        .collect();
    panel(
        &mut svg,
        630.0,
        "merge throttle (MiB/s, shared by all tenants: black) and process RSS (MiB: grey)",
        "",
        &[
            ("throttle MiB/s".to_string(), "#000000", throttle),
            ("RSS MiB".to_string(), "#999999", rss),
        ],
        t_end,
        spike,
    );
    panel(
        &mut svg,
        820.0,
        "tenant 0, docs/s: admitted (red), its rate limit (orange), merge throughput (black, 3 s mean)",
        "",
        &spiking_rates(samples),
        t_end,
        spike,
    );
    let _ = writeln!(
        svg,
        r#"<text x="70" y="{:.1}" font-size="11">time (s), 0 to {:.0}; spike window shaded</text>"#,
        820.0 + 150.0 + 20.0,
        t_end
    );
    svg.push_str("</svg>\n");
    svg
}
