//! What each benchmark name measures and what Linux does for it: the same work (named), or
//! different work (said why, and drawn without a ratio), or nothing (no Linux counterpart).
//! The chart's panels and row order follow this table.

/// How a figure compares with Linux's figure of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// The same work; Linux does it with this.
    Same(&'static str),
    /// Different work: why, and what Linux does.
    NotComparable(&'static str, &'static str),
    /// No Linux counterpart: why.
    MachvmOnly(&'static str),
}

impl Comparison {
    /// What Linux does, if it does anything.
    pub fn linux_operation(self) -> Option<&'static str> {
        match self {
            Self::Same(operation) | Self::NotComparable(_, operation) => Some(operation),
            Self::MachvmOnly(_) => None,
        }
    }
}

/// One operation, or one series of sizes (`SERIES/SIZE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Series {
    /// The name, or for a series the part before the first `/`.
    pub key: &'static str,
    /// Whether the names are `KEY/...` (a series) rather than `KEY`.
    pub sized: bool,
    /// The chart panel it is drawn in.
    pub panel: &'static str,
    /// How it compares with Linux.
    pub comparison: Comparison,
    /// The programs' `# GROUP: ...` notes about a size apply to the series of that group.
    pub group: &'static str,
}

/// The panel of the single operations.
pub const SINGLE: &str = "Single operations (1 GiB guests)";
const PROTECT: &str = "protect/N: vm_protect flipping one page READ <-> READ|WRITE among N untouched one-page regions, per call (a random region; protect_fixed: the middle one)";
const CREATE: &str = "create/N, teardown/N: N one-page FIXED allocations, then one deallocation of them all, per region";
const FORK: &str = "fork_exit_1m/E, fork_exit_64m/E: spawn + wait of a child that exits at once, with 1 MiB (64 MiB) touched and E - 1 one-page regions";
const SPLIT: &str = "fork_split/E, exit_wait/E: the same with 1 MiB, timed apart (until the spawn returns; then the wait)";
const FAULT: &str = "fault_zero/SIZE: first writes to a fresh region, per page";
const DEALLOC: &str = "dealloc_touched/SIZE (per page), dealloc_untouched/SIZE (per call): deallocating a region";
const CYCLE: &str = "protect_write/64m: protect to READ, back to READ|WRITE, then a write to every page of a touched 64 MiB region: the whole cycle, and its parts";
/// The panel of the multiprocessor series (`bench_smp`, `boot/linux/smp.c`).
pub const SMP: &str = "2 CPUs: first writes to 64 MiB by 1 or 2 threads (or 2 tasks), wall-clock per page; one page lowered to READ, per call, alone or while a thread reads it";

const LAZY: &str = "lazy copy vs byte copy";
const WORST: &str = "worst-case check, no Linux counterpart";

const fn single(key: &'static str, comparison: Comparison) -> Series {
    Series { key, sized: false, panel: SINGLE, comparison, group: "" }
}

const fn sized(key: &'static str, panel: &'static str, comparison: Comparison, group: &'static str) -> Series {
    Series { key, sized: true, panel, comparison, group }
}

/// Every known name, in chart order.
pub const CATALOG: [Series; 35] = [
    single("alloc_free_1p", Comparison::Same("mmap + munmap of one page")),
    single("alloc_touch_free_1p", Comparison::Same("mmap, one write, munmap")),
    single("fault_zero", Comparison::Same("first write per page of 64 MiB, 4 KiB faults")),
    single("fault_read_zero", Comparison::Same("first read per page of 64 MiB")),
    single("protect_toggle", Comparison::Same("mprotect RO, RW of a touched page")),
    single("protect_large", Comparison::Same("mprotect RO, RW of 64 MiB touched")),
    single("wire_unwire", Comparison::Same("mlock + munlock of 1 MiB touched, per pair")),
    single("fork_cow", Comparison::Same("fork, child writes 64 MiB, exit, waitpid; per page")),
    single("fork_exit", Comparison::Same("fork + _exit + waitpid, 64 MiB touched")),
    single("many_regions", Comparison::Same("mprotect flipping a random one of 10 000 regions")),
    single("copy_64k", Comparison::NotComparable(LAZY, "process_vm_readv of 64 KiB")),
    single("copy_1m", Comparison::NotComparable(LAZY, "process_vm_readv of 1 MiB")),
    single("read_1m", Comparison::NotComparable(LAZY, "process_vm_readv of 1 MiB from a child")),
    sized("worst_copy_unaligned", SINGLE, Comparison::MachvmOnly(WORST), ""),
    sized("worst_fixed_order", SINGLE, Comparison::MachvmOnly(WORST), ""),
    sized("worst_copy_chain", SINGLE, Comparison::MachvmOnly(WORST), ""),
    sized("protect", PROTECT, Comparison::Same("mprotect"), "protect"),
    sized("protect_fixed", PROTECT, Comparison::Same("mprotect"), "protect"),
    sized("create", CREATE, Comparison::Same("mmap MAP_FIXED_NOREPLACE"), "protect"),
    sized("teardown", CREATE, Comparison::Same("one munmap"), "protect"),
    sized("fork_exit_1m", FORK, Comparison::Same("fork + _exit + waitpid"), "fork_exit_1m"),
    sized("fork_exit_64m", FORK, Comparison::Same("fork + _exit + waitpid"), "fork_exit_64m"),
    sized("fork_split", SPLIT, Comparison::Same("until fork returns"), "fork_exit_1m"),
    sized("exit_wait", SPLIT, Comparison::Same("waitpid"), "fork_exit_1m"),
    sized("fault_zero", FAULT, Comparison::Same("first writes, 4 KiB faults"), ""),
    sized("dealloc_touched", DEALLOC, Comparison::Same("munmap"), ""),
    sized("dealloc_untouched", DEALLOC, Comparison::Same("munmap"), ""),
    sized("protect_write", CYCLE, Comparison::Same("mprotect RO + mprotect RW + writes"), ""),
    sized("protect_write_down", CYCLE, Comparison::Same("mprotect RO"), ""),
    sized("protect_write_up", CYCLE, Comparison::Same("mprotect RW (the touched pages are made writable at once on both sides)"), ""),
    sized("protect_write_writes", CYCLE, Comparison::Same("writes after mprotect RW"), ""),
    sized("fault_zero_threads", SMP, Comparison::Same("first writes to 64 MiB by 1 or 2 pthreads, 4 KiB faults"), ""),
    sized("fault_zero_tasks", SMP, Comparison::Same("first writes to 32 MiB in each of two processes"), ""),
    sized("protect_lower", SMP, Comparison::Same("mprotect RO of a touched page, one thread"), ""),
    sized("shootdown", SMP, Comparison::Same("mprotect RO of a touched page another thread reads (IPI round)"), ""),
];

/// The catalog position and entry of `name`.
pub fn lookup(name: &str) -> Option<(usize, &'static Series)> {
    CATALOG.iter().enumerate().find(|(_, s)| {
        if s.sized {
            name.strip_prefix(s.key).is_some_and(|rest| rest.starts_with('/'))
        } else {
            name == s.key
        }
    })
}

/// The size a name ends with (`protect/1000` → 1000, `fault_zero/4m` → 4 MiB), for ordering;
/// 0 if none.
pub fn size_of(name: &str) -> u64 {
    let Some((_, last)) = name.rsplit_once('/') else { return 0 };
    let (digits, scale) = match last.strip_suffix('m') {
        Some(digits) => (digits, 1 << 20),
        None => (last, 1),
    };
    digits.parse::<u64>().map_or(0, |n| n.saturating_mul(scale))
}

/// The series a `# GROUP: ...` note applies to.
pub fn of_group(group: &str) -> impl Iterator<Item = &'static Series> + '_ {
    CATALOG.iter().filter(move |s| s.sized && (s.group == group || s.key == group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_find_their_entry() {
        assert_eq!(lookup("fault_zero").map(|(_, s)| s.panel), Some(SINGLE));
        assert_eq!(lookup("fault_zero/4m").map(|(_, s)| s.panel), Some(FAULT));
        assert_eq!(lookup("protect/1000").map(|(_, s)| s.key), Some("protect"));
        assert_eq!(lookup("protect_fixed/1000").map(|(_, s)| s.key), Some("protect_fixed"));
        assert_eq!(lookup("protect_write_down/64m").map(|(_, s)| s.key), Some("protect_write_down"));
        assert_eq!(lookup("worst_copy_chain/hostile/64").map(|(_, s)| s.key), Some("worst_copy_chain"));
        for unknown in ["protect", "protectx/1", "fault_zero4m", "", "/"] {
            assert_eq!(lookup(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn the_multiprocessor_series_share_a_panel_and_compare_with_linux() {
        for name in ["fault_zero_threads/1", "fault_zero_threads/2", "fault_zero_tasks/2", "protect_lower/1", "shootdown/2"] {
            let (_, series) = lookup(name).unwrap_or_else(|| panic!("{name} is in the catalog"));
            assert_eq!(series.panel, SMP, "{name}");
            assert!(matches!(series.comparison, Comparison::Same(_)), "{name}");
        }
        assert_eq!(lookup("fault_zero/64m").map(|(_, s)| s.key), Some("fault_zero"), "not taken for fault_zero_threads");
        assert!(size_of("fault_zero_threads/1") < size_of("fault_zero_threads/2"));
    }

    #[test]
    fn lazy_copies_are_not_comparable() {
        for name in ["copy_64k", "copy_1m", "read_1m"] {
            let (_, series) = lookup(name).unwrap();
            assert!(matches!(series.comparison, Comparison::NotComparable(LAZY, op) if op.starts_with("process_vm_readv")), "{name}");
        }
    }

    #[test]
    fn sizes_order_numerically() {
        assert_eq!(size_of("protect/1000000"), 1_000_000);
        assert_eq!(size_of("fault_zero/512m"), 512 << 20);
        assert!(size_of("fault_zero/4m") < size_of("fault_zero/64m"));
        assert_eq!(size_of("alloc_free_1p"), 0);
        assert_eq!(size_of("x/99999999999999999999m"), 0);
        assert_eq!(size_of("x/18446744073709551615m"), u64::MAX);
    }

    #[test]
    fn notes_reach_their_group() {
        let keys = |g| of_group(g).map(|s| s.key).collect::<Vec<_>>();
        assert_eq!(keys("protect"), ["protect", "protect_fixed", "create", "teardown"]);
        assert_eq!(keys("fork_exit_1m"), ["fork_exit_1m", "fork_split", "exit_wait"]);
        assert_eq!(keys("fork_split"), ["fork_split"]);
        assert!(keys("alloc_free_1p").is_empty());
    }
}
