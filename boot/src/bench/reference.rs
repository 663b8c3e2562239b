//! Linux figures from earlier sittings, for the chart of a `bench` run that does not boot Linux
//! itself (`--with-linux` does). Debian's Linux 6.1 (6.1.0-57) under QEMU TCG, `-cpu max`, one
//! CPU, on the machine the project is measured on, with `/work/shared/linux-baseline/`'s
//! program. The chart says these figures are not from its sitting: TCG figures move by up to
//! 2x between runs and machines.

/// The suite (1 GiB guests), from `PERF-TARGETS.md` (medians of 3 rounds). Only rows whose
/// work matches the project's: the 16 MiB `protect_large` figure of an older table and the
/// per-call `wire_unwire` figure were different work, and no figure exists for
/// `protect_toggle`.
pub const SUITE: [(&str, u64); 11] = [
    ("alloc_free_1p", 28_400),
    ("alloc_touch_free_1p", 161_500),
    ("fault_zero", 11_800),
    ("fault_read_zero", 2_517),
    // Per mlock + munlock pair, as the project's figure is per wire + unwire pair.
    ("wire_unwire", 604_500),
    // The whole (413 690 000 ns) per page of 64 MiB, as the project's figure.
    ("fork_cow", 25_250),
    ("fork_exit", 10_090_000),
    // One page that really changes, among 10 000 untouched regions, random region.
    ("many_regions", 2_924),
    // Byte copies (process_vm_readv): not comparable with lazy copies, kept as figures.
    ("copy_64k", 155_800),
    ("copy_1m", 2_540_000),
    ("read_1m", 2_700_000),
];

/// The scaling series (2 GiB guest, `run-linux.sh -o scale`, one sitting). No figures at
/// 1 000 000 regions or 100 000 entries in a fork (that sitting's `max_map_count` was lower),
/// nor for `protect_fixed`.
pub const SCALE: [(&str, u64); 36] = [
    ("protect/100", 2_632),
    ("protect/1000", 2_578),
    ("protect/10000", 2_931),
    ("protect/100000", 3_921),
    ("create/100", 43_023),
    ("create/1000", 17_237),
    ("create/10000", 19_449),
    ("create/100000", 24_229),
    ("teardown/100", 29_059),
    ("teardown/1000", 4_897),
    ("teardown/10000", 4_875),
    ("teardown/100000", 5_644),
    ("fault_zero/4m", 13_397),
    ("fault_zero/64m", 12_154),
    ("fault_zero/512m", 12_700),
    ("fork_exit_1m/1", 3_532_897),
    ("fork_exit_1m/100", 3_032_981),
    ("fork_exit_1m/10000", 54_197_714),
    ("fork_exit_64m/1", 9_414_485),
    ("fork_exit_64m/100", 9_587_352),
    ("fork_exit_64m/10000", 76_030_330),
    ("fork_split/1", 757_489),
    ("fork_split/100", 1_043_245),
    ("fork_split/10000", 47_334_752),
    ("exit_wait/1", 1_298_936),
    ("exit_wait/100", 1_635_067),
    ("exit_wait/10000", 10_465_050),
    ("dealloc_untouched/64m", 32_749),
    ("dealloc_untouched/1024m", 17_346),
    // Per page: 1 635 057, 21 114 396 and 101 049 977 ns per call over 1 024, 16 384 and
    // 65 536 pages.
    ("dealloc_touched/4m", 1_597),
    ("dealloc_touched/64m", 1_289),
    ("dealloc_touched/256m", 1_542),
    // The sum of the parts' medians below (that sitting printed no whole cycle).
    ("protect_write/64m", 5_391_868),
    ("protect_write_down/64m", 1_364_103),
    ("protect_write_up/64m", 1_846_974),
    ("protect_write_writes/64m", 2_180_791),
];

/// The reference figure for `name`, if there is one.
pub fn ns(name: &str) -> Option<u64> {
    SUITE.iter().chain(SCALE.iter()).find(|(n, _)| *n == name).map(|&(_, ns)| ns)
}

/// The names that have a reference figure, suite first.
pub fn names() -> impl Iterator<Item = &'static str> {
    SUITE.iter().chain(SCALE.iter()).map(|&(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_found_by_name() {
        assert_eq!(ns("protect/100"), Some(2_632));
        assert_eq!(ns("fork_cow"), Some(25_250));
        assert_eq!(ns("protect/1000000"), None);
        assert_eq!(ns("protect_large"), None, "the 16 MiB figure is not the project's 64 MiB work");
        assert_eq!(ns("protect_toggle"), None);
        assert_eq!(names().count(), 11 + 36);
    }

    #[test]
    fn the_whole_cycle_is_the_sum_of_its_parts() {
        let part = |n| ns(n).unwrap();
        let parts = part("protect_write_down/64m") + part("protect_write_up/64m") + part("protect_write_writes/64m");
        assert_eq!(part("protect_write/64m"), parts);
    }
}
