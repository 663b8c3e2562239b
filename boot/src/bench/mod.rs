//! The benchmark figures: read from the consoles of the project's programs (`bench`, then
//! `bench_scale`) and of the Linux guest (`boot/linux/`), matched name by name with what
//! Linux does for the same work (`catalog`), and written as CSV and as an SVG chart.

pub mod catalog;
mod csv;
pub mod reference;
pub mod rows;
pub mod sitting;
mod svg;

pub use csv::csv;
pub use svg::svg;

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

/// A size a program could not measure: `# GROUP: TEXT`, where TEXT names the size as the
/// number before `entries` (`# protect: map took 16380 of 100000 entries`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The series (or group of series, `catalog::Series::group`) it concerns.
    pub group: String,
    /// The size it concerns (regions or entries).
    pub size: u64,
    /// What happened.
    pub text: String,
}

/// Reads a `# GROUP: ... N entries ...` line.
pub fn parse_note(line: &str) -> Option<Note> {
    let (group, text) = line.strip_prefix("# ")?.split_once(": ")?;
    if group.is_empty() || !group.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return None;
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "entries")?;
    let size = words[..at].last()?.parse().ok()?;
    Some(Note { group: group.to_string(), size, text: text.to_string() })
}

/// What one side's programs printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Side {
    /// Figures, in the order printed.
    pub figures: Vec<Figure>,
    /// Sizes that could not be measured.
    pub notes: Vec<Note>,
    /// The kernel release, for a Linux side (`# linux release=R`).
    pub release: Option<String>,
}

impl Side {
    /// Takes in one console line (anything else than a figure, a note or a release is ignored).
    pub fn observe(&mut self, line: &str) {
        if let Some(release) = line.strip_prefix("# linux release=") {
            self.release = Some(release.trim().to_string());
        }
        self.figures.extend(parse_line(line));
        self.notes.extend(parse_note(line));
    }

    /// The figure named `name`.
    pub fn figure(&self, name: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.name == name)
    }

    /// The side these console lines make (for tests: a sitting observes lines as they come).
    #[cfg(test)]
    pub fn from_lines(lines: &[&str]) -> Self {
        let mut side = Self::default();
        lines.iter().for_each(|line| side.observe(line));
        side
    }
}

/// Where the Linux figures come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linux {
    /// `reference`: kept in the source, from earlier sittings.
    Reference,
    /// Linux booted in this sitting, on the same machine.
    Sitting(Side),
}

/// A sitting's figures, both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Results {
    /// The project's kernel.
    pub machvm: Side,
    /// Linux.
    pub linux: Linux,
}

impl Results {
    /// Linux's figure for `name`, and whether it was measured in this sitting.
    pub fn linux_ns(&self, name: &str) -> Option<u64> {
        match &self.linux {
            Linux::Reference => reference::ns(name),
            Linux::Sitting(side) => side.figure(name).map(|f| f.ns_per_op),
        }
    }
}

/// Writes `latest.csv` and `latest.svg` into `dir`.
///
/// # Errors
///
/// If a file cannot be written.
pub fn write(dir: &Path, results: &Results) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("latest.csv"), csv(results))?;
    std::fs::write(dir.join("latest.svg"), svg(results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_are_read_and_others_ignored() {
        let f = parse_line("fork_cow ns_per_op=19184 total_ns=314321621").unwrap();
        assert_eq!((f.name.as_str(), f.ns_per_op, f.total_ns), ("fork_cow", 19184, Some(314321621)));
        assert_eq!(parse_line("copy_1m ns_per_op=12").unwrap().total_ns, None);
        assert_eq!(parse_line("protect/1000000 ns_per_op=2500").unwrap().name, "protect/1000000");
        for other in ["done", "tsc_hz=3000", "[INFO ] x", "a ns_per_op=x", "a ns_per_op=1 extra", "a ns_per_op=1 total_ns=2 more", "a ns_per_op=-1", "a ns_per_op=99999999999999999999999"] {
            assert_eq!(parse_line(other), None, "{other}");
        }
    }

    #[test]
    fn notes_name_their_group_and_size() {
        let note = parse_note("# protect: map took 16380 of 100000 entries").unwrap();
        assert_eq!((note.group.as_str(), note.size, note.text.as_str()), ("protect", 100000, "map took 16380 of 100000 entries"));
        let linux = parse_note("# fork_exit_1m: map took 65520 of 100000 entries (Cannot allocate memory)").unwrap();
        assert_eq!((linux.group.as_str(), linux.size), ("fork_exit_1m", 100000));
        let spawn = parse_note("# fork_split: spawn refused with 10000 entries (kern_return 6)").unwrap();
        assert_eq!(spawn.size, 10000);
        for other in ["# linux release=6.1.0-57-amd64", "# vm.max_map_count=2097152 transparent_hugepage=always", "# : 1 entries", "# Protect: map took 1 of 2 entries", "# protect: entries", "protect: map took 1 of 2 entries", "# protect: map took 1 of x entries"] {
            assert_eq!(parse_note(other), None, "{other}");
        }
    }

    #[test]
    fn a_side_keeps_figures_notes_and_release() {
        let side = Side::from_lines(&["", "# linux release=6.1.0-57-amd64", "protect/100 ns_per_op=2632", "# protect: map took 5 of 1000000 entries", "done"]);
        assert_eq!(side.release.as_deref(), Some("6.1.0-57-amd64"));
        assert_eq!(side.figure("protect/100").map(|f| f.ns_per_op), Some(2632));
        assert_eq!(side.notes.len(), 1);
    }
}
