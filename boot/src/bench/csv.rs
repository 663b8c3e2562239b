//! The figures as CSV, one row per name (`rows`).

use super::catalog::Comparison;
use super::rows::{rows, Row};
use super::{Linux, Results};
use std::fmt::Write as _;

/// The header: the project's figure, Linux's, their ratio (same work only), where Linux's
/// figure comes from, what Linux does, how the two compare and why a side has no figure.
pub const HEADER: &str = "name,ns_per_op,total_ns,linux_ns,ratio_to_linux,linux_figure,linux_operation,comparison,note";

/// The figures of a sitting as CSV.
pub fn csv(results: &Results) -> String {
    let source = match results.linux {
        Linux::Reference => "reference",
        Linux::Sitting(_) => "this sitting",
    };
    let mut out = format!("{HEADER}\n");
    for row in rows(results) {
        let number = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
        let fields = [
            field(&row.name),
            number(row.machvm.map(|f| f.ns_per_op)),
            number(row.machvm.and_then(|f| f.total_ns)),
            number(row.linux_ns),
            row.ratio().map(|r| format!("{r:.3}")).unwrap_or_default(),
            if row.linux_ns.is_some() { source.to_string() } else { String::new() },
            field(row.comparison().linux_operation().unwrap_or_default()),
            field(&comparison(&row)),
            field(&row.notes.join("; ")),
        ];
        writeln!(out, "{}", fields.join(",")).expect("a String");
    }
    out
}

fn comparison(row: &Row<'_>) -> String {
    match row.comparison() {
        Comparison::Same(_) => "same work".into(),
        Comparison::NotComparable(why, _) => format!("not comparable: {why}"),
        Comparison::MachvmOnly(why) => format!("machvm only: {why}"),
    }
}

/// `text` as a CSV field: quoted when it holds a comma, a quote or a line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Side;

    #[test]
    fn same_work_has_a_ratio_and_other_work_none() {
        let machvm = Side::from_lines(&["copy_1m ns_per_op=10738", "fork_cow ns_per_op=5813 total_ns=95242636", "protect_write/64m ns_per_op=2000000", "new_op ns_per_op=5"]);
        let linux = Side::from_lines(&["copy_1m ns_per_op=2540000", "fork_cow ns_per_op=25250 total_ns=413690000", "protect_write/64m ns_per_op=5000000"]);
        let csv = csv(&Results { machvm, linux: Linux::Sitting(linux) });
        assert!(csv.starts_with(HEADER));
        assert!(csv.contains("\ncopy_1m,10738,,2540000,,this sitting,process_vm_readv of 1 MiB,not comparable: lazy copy vs byte copy,\n"), "{csv}");
        assert!(csv.contains("\nfork_cow,5813,95242636,25250,0.230,this sitting,\"fork, child writes 64 MiB, exit, waitpid; per page\",same work,\n"), "{csv}");
        assert!(csv.contains("\nprotect_write/64m,2000000,,5000000,0.400,this sitting,mprotect RO + mprotect RW + writes,same work,\n"), "{csv}");
        assert!(csv.contains("\nnew_op,5,,,,,,machvm only: not in the catalog"), "{csv}");
    }

    #[test]
    fn reference_figures_say_so() {
        let csv = csv(&Results { machvm: Side::from_lines(&["alloc_free_1p ns_per_op=5680"]), linux: Linux::Reference });
        assert!(csv.contains("\nalloc_free_1p,5680,,28400,0.200,reference,mmap + munmap of one page,same work,\n"), "{csv}");
        assert!(csv.contains("\nprotect/100,,,2632,,reference,"), "{csv}");
    }

    #[test]
    fn fields_are_quoted_when_needed() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a, b"), "\"a, b\"");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
    }
}
