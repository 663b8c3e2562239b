//! Matching the two sides: one row per name either side printed (or a note names), in the
//! catalog's order, with the comparison the catalog gives it.

use super::catalog::{self, Comparison, Series};
use super::{Figure, Linux, Note, Results, Side};

/// The panel of names the catalog does not know.
pub const OTHER: &str = "Other figures";
const UNKNOWN: &str = "not in the catalog (boot/src/bench/catalog.rs): no Linux counterpart";

/// One row of the chart and the CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    /// The figure's name.
    pub name: String,
    /// Its catalog entry.
    pub series: Option<&'static Series>,
    /// The project's figure.
    pub machvm: Option<&'a Figure>,
    /// Linux's figure of the same name.
    pub linux_ns: Option<u64>,
    /// Why a side has no figure (`machvm: map took 16380 of 100000 entries`).
    pub notes: Vec<String>,
}

impl Row<'_> {
    /// How the two figures compare.
    pub fn comparison(&self) -> Comparison {
        self.series.map_or(Comparison::MachvmOnly(UNKNOWN), |s| s.comparison)
    }

    /// The chart panel the row is drawn in.
    pub fn panel(&self) -> &'static str {
        self.series.map_or(OTHER, |s| s.panel)
    }

    /// The project's time ÷ Linux's, for the same work only.
    pub fn ratio(&self) -> Option<f64> {
        let (Comparison::Same(_), Some(machvm), Some(linux)) = (self.comparison(), self.machvm, self.linux_ns) else {
            return None;
        };
        (linux > 0).then(|| machvm.ns_per_op as f64 / linux as f64)
    }

    /// What the chart writes beside the bars: the ratio and Linux's operation, or why there
    /// is no ratio, then the notes.
    pub fn verdict(&self) -> String {
        let mut text = match (self.comparison(), self.ratio()) {
            (Comparison::Same(op), Some(ratio)) => format!("{} · Linux: {op}", ratio_text(ratio)),
            (Comparison::Same(op), None) => format!("{} · Linux: {op}", self.missing()),
            (Comparison::NotComparable(why, op), _) => format!("not comparable: {why} · Linux: {op}"),
            (Comparison::MachvmOnly(why), _) => why.to_string(),
        };
        for note in &self.notes {
            text.push_str(" · ");
            text.push_str(note);
        }
        text
    }

    fn missing(&self) -> &'static str {
        match (self.machvm, self.linux_ns) {
            (None, None) => "no figure on either side",
            (None, Some(_)) => "no machvm figure",
            _ => "no Linux figure",
        }
    }
}

/// A ratio as the chart writes it: `0.27x`, `1.4x`, `12x`.
pub fn ratio_text(ratio: f64) -> String {
    match ratio {
        r if r >= 10.0 => format!("{r:.0}x"),
        r if r >= 1.0 => format!("{r:.1}x"),
        r => format!("{r:.2}x"),
    }
}

/// The rows of a sitting, in the catalog's order (sizes ascending), unknown names last.
pub fn rows(results: &Results) -> Vec<Row<'_>> {
    let mut names: Vec<String> = Vec::new();
    let linux_side = match &results.linux {
        Linux::Sitting(side) => Some(side),
        Linux::Reference => None,
    };
    let mut add = |name: &str| {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    };
    results.machvm.figures.iter().for_each(|f| add(&f.name));
    match linux_side {
        Some(side) => side.figures.iter().for_each(|f| add(&f.name)),
        None => super::reference::names().for_each(&mut add),
    }
    let notes = results.machvm.notes.iter().chain(linux_side.into_iter().flat_map(|s| s.notes.iter()));
    notes.flat_map(noted_names).for_each(|n| add(&n));
    let order = |name: &str| (catalog::lookup(name).map_or(usize::MAX, |(i, _)| i), catalog::size_of(name));
    names.sort_by_key(|name| order(name));
    names.into_iter().map(|name| row(results, linux_side, name)).collect()
}

/// The names of the series a note is about, at its size.
fn noted_names(note: &Note) -> Vec<String> {
    catalog::of_group(&note.group).map(|s| format!("{}/{}", s.key, note.size)).collect()
}

fn row<'a>(results: &'a Results, linux_side: Option<&Side>, name: String) -> Row<'a> {
    let series = catalog::lookup(&name).map(|(_, s)| s);
    let mut notes = notes_for(&name, series, "machvm", &results.machvm);
    if let Some(side) = linux_side {
        notes.extend(notes_for(&name, series, "Linux", side));
    }
    Row { machvm: results.machvm.figure(&name), linux_ns: results.linux_ns(&name), series, notes, name }
}

fn notes_for(name: &str, series: Option<&Series>, who: &str, side: &Side) -> Vec<String> {
    let Some(series) = series.filter(|s| s.sized) else { return Vec::new() };
    let size = catalog::size_of(name);
    side.notes
        .iter()
        .filter(|n| n.size == size && catalog::of_group(&n.group).any(|s| s.key == series.key))
        .map(|n| format!("{who}: {}", n.text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(linux: Linux) -> Results {
        let machvm = Side::from_lines(&[
            "worst_fixed_order/benign/4096 ns_per_op=9",
            "protect/1000 ns_per_op=1000",
            "protect/100 ns_per_op=500",
            "copy_1m ns_per_op=10738",
            "fault_zero ns_per_op=4029",
            "# protect: map took 16380 of 100000 entries",
            "mystery ns_per_op=1",
        ]);
        Results { machvm, linux }
    }

    fn find<'a>(rows: &'a [Row<'a>], name: &str) -> &'a Row<'a> {
        rows.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no row {name}"))
    }

    #[test]
    fn rows_follow_the_catalog_and_sizes() {
        let linux = Side::from_lines(&["protect/100 ns_per_op=250", "protect/100000 ns_per_op=400", "fault_zero ns_per_op=8058"]);
        let results = results(Linux::Sitting(linux));
        let rows = rows(&results);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names[..4], ["fault_zero", "copy_1m", "worst_fixed_order/benign/4096", "protect/100"]);
        assert!(names.windows(2).any(|w| w == ["protect/1000", "protect/100000"]), "{names:?}");
        assert_eq!(names.last(), Some(&"mystery"));
    }

    #[test]
    fn same_work_has_a_ratio_and_the_linux_operation() {
        let linux = Side::from_lines(&["fault_zero ns_per_op=8058", "copy_1m ns_per_op=2540000"]);
        let results = results(Linux::Sitting(linux));
        let rows = rows(&results);
        let fault = find(&rows, "fault_zero");
        assert_eq!(fault.ratio(), Some(0.5));
        assert!(fault.verdict().starts_with("0.50x · Linux: first write per page of 64 MiB"), "{}", fault.verdict());
        let copy = find(&rows, "copy_1m");
        assert_eq!(copy.ratio(), None);
        assert!(copy.verdict().starts_with("not comparable: lazy copy vs byte copy"), "{}", copy.verdict());
        assert_eq!(find(&rows, "mystery").ratio(), None);
    }

    #[test]
    fn refused_sizes_carry_the_note_on_every_series_of_the_group() {
        let linux = Side::from_lines(&["protect/100000 ns_per_op=3921", "create/100000 ns_per_op=24229"]);
        let results = results(Linux::Sitting(linux));
        let rows = rows(&results);
        for name in ["protect/100000", "protect_fixed/100000", "create/100000", "teardown/100000"] {
            let row = find(&rows, name);
            assert_eq!(row.notes, ["machvm: map took 16380 of 100000 entries"], "{name}");
            assert!(row.machvm.is_none() && row.ratio().is_none());
        }
        assert!(find(&rows, "protect/100000").verdict().contains("no machvm figure"));
        assert!(find(&rows, "protect/100").notes.is_empty());
    }

    #[test]
    fn reference_figures_fill_the_linux_side() {
        let results = results(Linux::Reference);
        let rows = rows(&results);
        assert_eq!(find(&rows, "protect/100").linux_ns, Some(2_632));
        assert_eq!(find(&rows, "fault_zero").linux_ns, Some(11_800));
        assert_eq!(find(&rows, "fault_zero/64m").machvm, None);
    }

    #[test]
    fn ratios_are_written_with_sensible_precision() {
        assert_eq!(ratio_text(0.2689), "0.27x");
        assert_eq!(ratio_text(1.44), "1.4x");
        assert_eq!(ratio_text(12.4), "12x");
    }
}
