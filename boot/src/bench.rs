//! The benchmark suite's figures: read from the console, written as CSV and as an SVG chart
//! next to the Linux figures of `PERF-TARGETS` (Linux 6.1 in the same QEMU, TCG).

use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// One operation's figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// The operation's name.
    pub name: String,
    /// Median nanoseconds per operation.
    pub ns_per_op: u64,
    /// For `fork_cow`: the whole fork, writes and exit.
    pub total_ns: Option<u64>,
}

/// Linux 6.1 under TCG, ns per operation (`PERF-TARGETS`; ranges as their middle).
pub const LINUX_NS: [(&str, u64); 11] = [
    ("alloc_free_1p", 35_400),
    ("alloc_touch_free_1p", 211_000),
    ("fault_zero", 15_000),
    ("fault_read_zero", 3_145),
    ("protect_toggle", 6_000),
    ("protect_large", 817_000),
    ("wire_unwire", 303_600),
    ("fork_cow", 27_400),
    ("fork_exit", 4_080_000),
    ("many_regions", 5_140),
    ("copy_1m", 2_920_000),
];

/// The Linux figure for `name`, if `PERF-TARGETS` has one.
pub fn linux_ns(name: &str) -> Option<u64> {
    LINUX_NS.iter().find(|(n, _)| *n == name).map(|&(_, ns)| ns)
}

/// Reads a `NAME ns_per_op=X [total_ns=Y]` line.
pub fn parse_line(line: &str) -> Option<Figure> {
    let mut words = line.split_whitespace();
    let name = words.next()?.to_string();
    let ns_per_op = words.next()?.strip_prefix("ns_per_op=")?.parse().ok()?;
    let total_ns = match words.next() {
        None => None,
        Some(word) => Some(word.strip_prefix("total_ns=")?.parse().ok()?),
    };
    words.next().is_none().then_some(Figure { name, ns_per_op, total_ns })
}

/// The figures as CSV: `name,ns_per_op,total_ns,linux_ns,ratio_to_linux`.
pub fn csv(figures: &[Figure]) -> String {
    let mut out = String::from("name,ns_per_op,total_ns,linux_ns,ratio_to_linux\n");
    for f in figures {
        let linux = linux_ns(&f.name);
        let ratio = linux.map(|l| format!("{:.3}", f.ns_per_op as f64 / l as f64)).unwrap_or_default();
        let total = f.total_ns.map(|t| t.to_string()).unwrap_or_default();
        let linux = linux.map(|l| l.to_string()).unwrap_or_default();
        writeln!(out, "{},{},{total},{linux},{ratio}", f.name, f.ns_per_op).expect("a String");
    }
    out
}

const ROW: f64 = 34.0;
const LEFT: f64 = 170.0;
const WIDTH: f64 = 560.0;
const TOP: f64 = 40.0;
/// The chart's logarithmic axis: 100 ns to 10 s.
const DECADES: (i32, i32) = (2, 10);

fn x_of(ns: u64) -> f64 {
    let log = (ns.max(1) as f64).log10().clamp(DECADES.0 as f64, DECADES.1 as f64);
    LEFT + (log - DECADES.0 as f64) / (DECADES.1 - DECADES.0) as f64 * WIDTH
}

/// The figures as an SVG bar chart (log scale), each next to the Linux figure.
pub fn svg(figures: &[Figure]) -> String {
    let height = TOP + ROW * figures.len() as f64 + 50.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">ns per operation under QEMU TCG (log scale): machvm (blue) and Linux 6.1 (grey)</text>\n",
        w = LEFT + WIDTH + 40.0
    );
    for decade in DECADES.0..=DECADES.1 {
        let x = x_of(10u64.pow(decade as u32));
        let label = ["100ns", "1us", "10us", "100us", "1ms", "10ms", "100ms", "1s", "10s"][(decade - DECADES.0) as usize];
        let bottom = height - 35.0;
        writeln!(out, "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>", bottom + 15.0).expect("a String");
    }
    for (i, f) in figures.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        writeln!(out, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>", LEFT - 8.0, y + 14.0, f.name).expect("a String");
        bar(&mut out, y + 2.0, f.ns_per_op, "#3a6fb0");
        if let Some(linux) = linux_ns(&f.name) {
            bar(&mut out, y + 15.0, linux, "#aaaaaa");
        }
    }
    out.push_str("</svg>\n");
    out
}

fn bar(out: &mut String, y: f64, ns: u64, color: &str) {
    let width = (x_of(ns) - LEFT).max(1.0);
    writeln!(out, "<rect x=\"{LEFT}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"11\" fill=\"{color}\"><title>{ns} ns</title></rect>").expect("a String");
}

/// Writes `latest.csv` and `latest.svg` into `dir`.
///
/// # Errors
///
/// If a file cannot be written.
pub fn write(dir: &Path, figures: &[Figure]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("latest.csv"), csv(figures))?;
    std::fs::write(dir.join("latest.svg"), svg(figures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_are_read_and_others_ignored() {
        let f = parse_line("fork_cow ns_per_op=19184 total_ns=314321621").unwrap();
        assert_eq!((f.name.as_str(), f.ns_per_op, f.total_ns), ("fork_cow", 19184, Some(314321621)));
        assert_eq!(parse_line("copy_1m ns_per_op=12").unwrap().total_ns, None);
        for other in ["done", "tsc_hz=3000", "[INFO ] x", "a ns_per_op=x", "a ns_per_op=1 extra", "a ns_per_op=1 total_ns=2 more"] {
            assert_eq!(parse_line(other), None, "{other}");
        }
    }

    #[test]
    fn csv_and_svg_carry_every_figure() {
        let figures = vec![
            Figure { name: "copy_1m".into(), ns_per_op: 2_920, total_ns: None },
            Figure { name: "new_op".into(), ns_per_op: 5, total_ns: Some(9) },
        ];
        let csv = csv(&figures);
        assert!(csv.contains("copy_1m,2920,,2920000,0.001\n"), "{csv}");
        assert!(csv.contains("new_op,5,9,,\n"), "{csv}");
        let svg = svg(&figures);
        assert!(svg.contains(">copy_1m<") && svg.contains(">new_op<") && svg.contains("<title>2920000 ns</title>"));
        assert!(x_of(1) >= LEFT && x_of(u64::MAX) <= LEFT + WIDTH, "bars stay on the chart");
    }
}
