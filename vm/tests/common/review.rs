//! Helpers of the review tests (`review_*.rs`): small scenarios and frame budgets.

#![allow(dead_code)]

use super::{page, Fixture};
use machvm::pmap::FrameAllocator;
use machvm::{Access, FaultOutcome, MapEntry, MapId, NewMemory, Placement, PAGE_SIZE};

/// Placement anywhere, without a mask.
pub const ANY: Placement = Placement::Anywhere { mask: 0 };

/// Allocates `pages` default pages anywhere and writes `first + i` into page `i`.
pub fn written(f: &mut Fixture, map: MapId, pages: u64, first: u8) -> u64 {
    let a = f.vm.allocate(map, ANY, pages, NewMemory::DEFAULT).unwrap().addr();
    for i in 0..pages {
        f.write(map, a + i * PAGE_SIZE, first + i as u8).unwrap();
    }
    a
}

/// The first byte of each of `pages` pages from `a`.
pub fn contents(f: &mut Fixture, map: MapId, a: u64, pages: u64) -> Vec<Result<u8, FaultOutcome>> {
    (0..pages).map(|i| f.read(map, a + i * PAGE_SIZE)).collect()
}

pub fn entries(f: &Fixture, map: MapId) -> Vec<MapEntry> {
    f.vm.map(map).entries().cloned().collect()
}

pub fn free(f: &Fixture) -> u64 {
    f.vm.frames().free_frames()
}

/// Faults pages of the region at `filler` in for writing until only `left` frames are free.
pub fn burn_frames_until(f: &mut Fixture, map: MapId, filler: u64, left: u64) {
    let mut addr = filler;
    while free(f) > left {
        assert_eq!(f.vm.fault(map, addr, Access::Write), FaultOutcome::Resolved, "filler too small");
        addr += PAGE_SIZE;
    }
    assert_eq!(free(f), left);
}

/// A region at a fixed address far from the others, so that it has page tables of its own.
pub fn far_region(f: &mut Fixture, map: MapId, at: u64, pages: u64) -> u64 {
    f.vm.allocate(map, Placement::Fixed(page(at)), pages, NewMemory::DEFAULT).unwrap().addr()
}
