//! The figures as an SVG chart (a small writer of its own: no plotting dependency): one panel
//! per catalog panel, each row a pair of bars on a log scale (the project, Linux) and the
//! verdict beside them (the ratio and Linux's operation, or why there is no ratio).

use super::catalog::Comparison;
use super::rows::{rows, Row};
use super::{Linux, Results};
use std::fmt::Write as _;

const LABEL_RIGHT: f64 = 262.0;
const LEFT: f64 = 270.0;
const WIDTH: f64 = 440.0;
const VERDICT_X: f64 = LEFT + WIDTH + 12.0;
const CHART_WIDTH: f64 = 1400.0;
const TOP: f64 = 78.0;
const ROW: f64 = 26.0;
const PANEL: f64 = 30.0;
/// The logarithmic axis: 100 ns to 10 s.
const DECADES: (i32, i32) = (2, 10);
const DECADE_LABELS: [&str; 9] = ["100ns", "1us", "10us", "100us", "1ms", "10ms", "100ms", "1s", "10s"];
const MACHVM: &str = "#3a6fb0";
const LINUX: &str = "#8c8c8c";
const LINUX_OTHER_WORK: &str = "#d4d4d4";

fn x_of(ns: u64) -> f64 {
    let log = (ns.max(1) as f64).log10().clamp(DECADES.0 as f64, DECADES.1 as f64);
    LEFT + (log - DECADES.0 as f64) / (DECADES.1 - DECADES.0) as f64 * WIDTH
}

/// The chart's title, which says where the Linux figures come from.
pub fn title(results: &Results) -> String {
    match &results.linux {
        Linux::Reference => "ns per operation under QEMU TCG (log scale): machvm, and Linux 6.1 (Linux: reference figures, not this sitting)".into(),
        Linux::Sitting(side) => {
            let release = side.release.as_deref().unwrap_or("6.1");
            format!("ns per operation under QEMU TCG (log scale): machvm and Linux {release}, same sitting, same machine")
        }
    }
}

/// The figures of a sitting as an SVG chart.
pub fn svg(results: &Results) -> String {
    let rows = rows(results);
    let panels = rows.windows(2).filter(|w| w[0].panel() != w[1].panel()).count() + usize::from(!rows.is_empty());
    let bottom = TOP + PANEL * panels as f64 + ROW * rows.len() as f64;
    let mut out = String::new();
    head(&mut out, results, bottom + 30.0);
    axis(&mut out, bottom);
    let mut y = TOP;
    let mut panel = None;
    for row in &rows {
        if panel != Some(row.panel()) {
            panel = Some(row.panel());
            text(&mut out, 10.0, y + 20.0, "start", "font-weight=\"bold\"", row.panel());
            y += PANEL;
        }
        draw_row(&mut out, y, row);
        y += ROW;
    }
    out.push_str("</svg>\n");
    out
}

fn head(out: &mut String, results: &Results, height: f64) {
    writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{CHART_WIDTH}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    )
    .expect("a String");
    text(out, 10.0, 20.0, "start", "font-size=\"14\"", &title(results));
    let linux = match results.linux {
        Linux::Reference => "Linux (reference figure)",
        Linux::Sitting(_) => "Linux (this sitting)",
    };
    let legend = [(MACHVM, "machvm"), (LINUX, linux), (LINUX_OTHER_WORK, "Linux, different work: no ratio")];
    for (i, (color, label)) in legend.iter().enumerate() {
        let x = 10.0 + 230.0 * i as f64;
        writeln!(out, "<rect x=\"{x}\" y=\"32\" width=\"12\" height=\"10\" fill=\"{color}\"/>").expect("a String");
        text(out, x + 16.0, 41.0, "start", "", label);
    }
    text(out, VERDICT_X, 41.0, "start", "", "machvm ÷ Linux for the same work (below 1: machvm is faster)");
}

fn axis(out: &mut String, bottom: f64) {
    for decade in DECADES.0..=DECADES.1 {
        let x = x_of(10u64.pow(decade as u32));
        let label = DECADE_LABELS[(decade - DECADES.0) as usize];
        writeln!(out, "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"#e2e2e2\"/>").expect("a String");
        text(out, x, TOP - 6.0, "middle", "font-size=\"10\"", label);
        text(out, x, bottom + 14.0, "middle", "font-size=\"10\"", label);
    }
}

fn draw_row(out: &mut String, y: f64, row: &Row<'_>) {
    text(out, LABEL_RIGHT, y + 16.0, "end", "", &row.name);
    if let Some(f) = row.machvm {
        bar(out, y + 3.0, f.ns_per_op, MACHVM, "machvm");
    }
    if let Some(ns) = row.linux_ns {
        let color = if matches!(row.comparison(), Comparison::Same(_)) { LINUX } else { LINUX_OTHER_WORK };
        bar(out, y + 13.0, ns, color, "Linux");
    }
    let color = match row.ratio() {
        Some(r) if r > 1.0 => "fill=\"#b03030\"",
        Some(_) => "fill=\"#2a7a2a\"",
        None => "fill=\"#555555\"",
    };
    text(out, VERDICT_X, y + 16.0, "start", color, &row.verdict());
}

fn bar(out: &mut String, y: f64, ns: u64, color: &str, who: &str) {
    let width = (x_of(ns) - LEFT).max(1.0);
    writeln!(
        out,
        "<rect x=\"{LEFT}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"9\" fill=\"{color}\"><title>{who}: {ns} ns</title></rect>"
    )
    .expect("a String");
}

fn text(out: &mut String, x: f64, y: f64, anchor: &str, attributes: &str, content: &str) {
    writeln!(out, "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" {attributes}>{}</text>", escape(content)).expect("a String");
}

/// `text` with XML's special characters escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Side;

    fn machvm() -> Side {
        Side::from_lines(&["copy_1m ns_per_op=10738", "fault_zero ns_per_op=4029", "protect/100 ns_per_op=5264", "# protect: map took 16380 of 100000 entries"])
    }

    #[test]
    fn the_title_says_where_linux_figures_come_from() {
        let reference = svg(&Results { machvm: machvm(), linux: Linux::Reference });
        assert!(reference.contains("Linux: reference figures, not this sitting"));
        let linux = Side::from_lines(&["# linux release=6.1.0-57-amd64", "fault_zero ns_per_op=8058"]);
        let sitting = svg(&Results { machvm: machvm(), linux: Linux::Sitting(linux) });
        assert!(sitting.contains("Linux 6.1.0-57-amd64, same sitting") && !sitting.contains("reference figures"));
    }

    #[test]
    fn rows_show_ratios_labels_notes_and_panels() {
        let svg = svg(&Results { machvm: machvm(), linux: Linux::Reference });
        assert!(svg.contains(">0.34x · Linux: first write per page of 64 MiB, 4 KiB faults<"), "{svg}");
        assert!(svg.contains(">not comparable: lazy copy vs byte copy · Linux: process_vm_readv of 1 MiB<"));
        assert!(svg.contains(">2.0x · Linux: mprotect<"), "slower shows as a ratio above 1");
        assert!(svg.contains("no machvm figure · Linux: mprotect · machvm: map took 16380 of 100000 entries"));
        assert!(svg.contains(">Single operations (1 GiB guests)<") && svg.contains(">protect/N: vm_protect flipping"));
        assert!(svg.contains("<title>machvm: 10738 ns</title>") && svg.contains("<title>Linux: 2540000 ns</title>"));
        assert!(svg.ends_with("</svg>\n"));
    }

    #[test]
    fn text_is_escaped_and_bars_stay_on_the_chart() {
        let linux = Side::from_lines(&["# linux release=<6&\"7\">"]);
        let svg = svg(&Results { machvm: machvm(), linux: Linux::Sitting(linux) });
        assert!(svg.contains("Linux &lt;6&amp;&quot;7&quot;&gt;, same sitting"));
        assert!(x_of(0) >= LEFT && x_of(u64::MAX) <= LEFT + WIDTH);
    }
}
