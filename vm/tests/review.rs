//! Review tests: adversarial copy-on-write, sharing, wiring and out-of-memory scenarios.
//!
//! Each test builds a small scenario (chains of forks, inheritance flips, clipped and
//! shadowed regions, wirings, named entries and frozen objects, copy objects, the shared
//! zero page, tiny frame budgets, the entry limit, extreme arguments), checks what every map
//! reads, and ends with `Fixture::check` (object invariants, map↔pmap consistency, frame
//! accounting). Tests of failing calls also check that the call changed nothing (spec
//! principle 2). A few tests bound the time or the largest single heap allocation of a call
//! whose cost a user controls (the allocator at the end of the file measures the latter).

mod common;

use common::{page, pages_from, Fixture, MAX, MIN};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use vm::pmap::{FrameAllocator, Pmap, Wiring};
use vm::{Access, FaultOutcome, Inherit, MapEntry, MapId, MapMode, NewMemory, Page, Placement, Prot, ProtectTarget, SourceDisposal, VmError, PAGE_SIZE};

const ANY: Placement = Placement::Anywhere { mask: 0 };

/// Allocates `pages` default pages anywhere and writes `first + i` into page `i`.
fn written(f: &mut Fixture, map: MapId, pages: u64, first: u8) -> u64 {
    let a = f.vm.allocate(map, ANY, pages, NewMemory::DEFAULT).unwrap().addr();
    for i in 0..pages {
        f.write(map, a + i * PAGE_SIZE, first + i as u8).unwrap();
    }
    a
}

/// The first byte of each of `pages` pages from `a`.
fn contents(f: &mut Fixture, map: MapId, a: u64, pages: u64) -> Vec<Result<u8, FaultOutcome>> {
    (0..pages).map(|i| f.read(map, a + i * PAGE_SIZE)).collect()
}

fn entries(f: &Fixture, map: MapId) -> Vec<MapEntry> {
    f.vm.map(map).entries().cloned().collect()
}

fn free(f: &Fixture) -> u64 {
    f.vm.frames().free_frames()
}

/// Faults pages of the region at `filler` in for writing until only `left` frames are free.
fn burn_frames_until(f: &mut Fixture, map: MapId, filler: u64, left: u64) {
    let mut addr = filler;
    while free(f) > left {
        assert_eq!(f.vm.fault(map, addr, Access::Write), FaultOutcome::Resolved, "filler too small");
        addr += PAGE_SIZE;
    }
    assert_eq!(free(f), left);
}

/// A region at a fixed address far from the others, so that it has page tables of its own.
fn far_region(f: &mut Fixture, map: MapId, at: u64, pages: u64) -> u64 {
    f.vm.allocate(map, Placement::Fixed(page(at)), pages, NewMemory::DEFAULT).unwrap().addr()
}

// ---------------------------------------------------------------------------------------
// Sharing and copy-on-write
// ---------------------------------------------------------------------------------------

/// A region copied once (copy-on-write with `copier`), then shared with `sharer`: a write by
/// the parent must be seen by the sharer, which had read the page before.
#[test]
fn sharers_of_a_once_copied_region_see_the_parents_writes() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 1, 1);
    let copier = f.vm.fork(p).unwrap();
    let (s, e) = pages_from(a, 1);
    f.vm.inherit(p, s, e, Inherit::Share).unwrap();
    let sharer = f.vm.fork(p).unwrap();
    assert_eq!(f.read(sharer, a), Ok(1));
    f.write(p, a, 2).unwrap();
    assert_eq!(f.read(sharer, a), Ok(2), "the sharer still reads the pre-write page");
    assert_eq!(f.read(copier, a), Ok(1));
    f.check(&[p, copier, sharer]);
}

/// The same, the other way round: the child sharer writes, the parent had read.
#[test]
fn sharers_of_a_once_copied_region_see_the_childs_writes() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 2, 1);
    let copier = f.vm.fork(p).unwrap();
    let (s, e) = pages_from(a, 2);
    f.vm.inherit(p, s, e, Inherit::Share).unwrap();
    let sharer = f.vm.fork(p).unwrap();
    assert_eq!(f.read(p, a + PAGE_SIZE), Ok(2));
    f.write(sharer, a + PAGE_SIZE, 9).unwrap();
    assert_eq!(f.read(p, a + PAGE_SIZE), Ok(9), "the parent still reads the pre-write page");
    assert_eq!(contents(&mut f, copier, a, 2), [Ok(1), Ok(2)]);
    f.check(&[p, copier, sharer]);
}

/// A parent that wired its copy-on-write page for reading, then shared it: the wired
/// translation must follow the sharer's write (or the write must not leave it stale).
#[test]
fn a_read_wired_shared_page_follows_the_sharers_write() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 1, 1);
    let copier = f.vm.fork(p).unwrap();
    let (s, e) = pages_from(a, 1);
    f.vm.wire(p, s, e, Prot::READ).unwrap();
    f.vm.inherit(p, s, e, Inherit::Share).unwrap();
    let sharer = f.vm.fork(p).unwrap();
    f.write(sharer, a, 7).unwrap();
    let faults = f.vm.counters().faults;
    assert_eq!(f.read(p, a), Ok(7), "the parent's wired translation is stale");
    assert_eq!(f.vm.counters().faults, faults, "a page wired for reading faulted on a read");
    assert_eq!(f.read(copier, a), Ok(1));
    f.check(&[p, copier, sharer]);
}

/// SHARE, then COPY, then SHARE again: the sharers see each other, the copy is a snapshot.
#[test]
fn share_copy_share_flips() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = f.vm.allocate(p, ANY, 2, NewMemory { inheritance: Inherit::Share, ..NewMemory::DEFAULT }).unwrap().addr();
    f.write(p, a, 1).unwrap();
    let (s, e) = pages_from(a, 2);
    let sharer1 = f.vm.fork(p).unwrap();
    f.vm.inherit(p, s, e, Inherit::Copy).unwrap();
    let copier = f.vm.fork(p).unwrap();
    f.vm.inherit(p, s, e, Inherit::Share).unwrap();
    let sharer2 = f.vm.fork(p).unwrap();
    f.write(sharer1, a + PAGE_SIZE, 2).unwrap();
    f.write(sharer2, a, 3).unwrap();
    for m in [p, sharer1, sharer2] {
        assert_eq!(contents(&mut f, m, a, 2), [Ok(3), Ok(2)]);
    }
    assert_eq!(contents(&mut f, copier, a, 2), [Ok(1), Ok(0)]);
    f.write(copier, a, 4).unwrap();
    assert_eq!(f.read(p, a), Ok(3));
    f.check(&[p, sharer1, sharer2, copier]);
}

/// Part of a region shared, the rest copied, in one fork: the two halves of one object
/// behave independently.
#[test]
fn half_shared_half_copied_object() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 2, 1);
    let (s, e) = pages_from(a, 1);
    f.vm.inherit(p, s, e, Inherit::Share).unwrap();
    let c = f.vm.fork(p).unwrap();
    f.write(c, a + PAGE_SIZE, 20).unwrap();
    f.write(p, a, 10).unwrap();
    f.write(p, a + PAGE_SIZE, 11).unwrap();
    assert_eq!(contents(&mut f, c, a, 2), [Ok(10), Ok(20)]);
    assert_eq!(contents(&mut f, p, a, 2), [Ok(10), Ok(11)]);
    let (s, e) = pages_from(a, 2);
    f.vm.inherit(p, s, e, Inherit::Copy).unwrap();
    let g = f.vm.fork(p).unwrap();
    f.write(c, a, 30).unwrap();
    assert_eq!(contents(&mut f, g, a, 2), [Ok(10), Ok(11)], "the copy is a snapshot");
    assert_eq!(f.read(p, a), Ok(30));
    f.check(&[p, c, g]);
}

// ---------------------------------------------------------------------------------------
// Chains of forks, exits, collapse and bypass
// ---------------------------------------------------------------------------------------

#[test]
fn fork_of_fork_snapshots_are_independent() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 4, 1);
    let c = f.vm.fork(p).unwrap();
    f.write(c, a + PAGE_SIZE, 21).unwrap();
    let g = f.vm.fork(c).unwrap();
    f.write(p, a + 2 * PAGE_SIZE, 13).unwrap();
    f.write(c, a, 31).unwrap();
    f.write(g, a + 3 * PAGE_SIZE, 44).unwrap();
    assert_eq!(contents(&mut f, p, a, 4), [Ok(1), Ok(2), Ok(13), Ok(4)]);
    assert_eq!(contents(&mut f, c, a, 4), [Ok(31), Ok(21), Ok(3), Ok(4)]);
    assert_eq!(contents(&mut f, g, a, 4), [Ok(1), Ok(21), Ok(3), Ok(44)]);
    f.check(&[p, c, g]);
    f.vm.destroy_map(c);
    f.check(&[p, g]);
    f.write(g, a, 50).unwrap();
    f.write(p, a + PAGE_SIZE, 12).unwrap();
    assert_eq!(contents(&mut f, p, a, 4), [Ok(1), Ok(12), Ok(13), Ok(4)]);
    assert_eq!(contents(&mut f, g, a, 4), [Ok(50), Ok(21), Ok(3), Ok(44)]);
    f.check(&[p, g]);
    f.vm.destroy_map(p);
    assert_eq!(contents(&mut f, g, a, 4), [Ok(50), Ok(21), Ok(3), Ok(44)]);
    f.check(&[g]);
    f.vm.destroy_map(g);
    assert_eq!((f.vm.object_count(), f.vm.resident_pages()), (0, 0));
    f.check(&[]);
}

#[test]
fn writes_after_the_parent_exits_stay_private() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 3, 1);
    let c1 = f.vm.fork(p).unwrap();
    let c2 = f.vm.fork(p).unwrap();
    assert_eq!(f.read(c1, a), Ok(1));
    f.vm.destroy_map(p);
    f.check(&[c1, c2]);
    f.write(c1, a, 10).unwrap();
    f.write(c2, a + PAGE_SIZE, 20).unwrap();
    assert_eq!(contents(&mut f, c1, a, 3), [Ok(10), Ok(2), Ok(3)]);
    assert_eq!(contents(&mut f, c2, a, 3), [Ok(1), Ok(20), Ok(3)]);
    f.check(&[c1, c2]);
    f.vm.destroy_map(c2);
    f.write(c1, a + 2 * PAGE_SIZE, 30).unwrap();
    assert_eq!(contents(&mut f, c1, a, 3), [Ok(10), Ok(2), Ok(30)]);
    let object = f.vm.region(c1, a).unwrap().object.unwrap();
    assert_eq!(f.vm.chain_length(object), 1, "the chain collapsed back");
    f.check(&[c1]);
}

#[test]
fn fork_after_partial_writes_sees_each_generation() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 4, 1);
    let c = f.vm.fork(p).unwrap();
    f.write(c, a, 10).unwrap();
    f.write(p, a + PAGE_SIZE, 20).unwrap();
    let g = f.vm.fork(c).unwrap();
    let h = f.vm.fork(p).unwrap();
    f.write(c, a + 2 * PAGE_SIZE, 30).unwrap();
    f.write(h, a, 40).unwrap();
    assert_eq!(contents(&mut f, p, a, 4), [Ok(1), Ok(20), Ok(3), Ok(4)]);
    assert_eq!(contents(&mut f, c, a, 4), [Ok(10), Ok(2), Ok(30), Ok(4)]);
    assert_eq!(contents(&mut f, g, a, 4), [Ok(10), Ok(2), Ok(3), Ok(4)]);
    assert_eq!(contents(&mut f, h, a, 4), [Ok(40), Ok(20), Ok(3), Ok(4)]);
    f.check(&[p, c, g, h]);
    for m in [c, p] {
        f.vm.destroy_map(m);
        f.check(&[]);
    }
    assert_eq!(contents(&mut f, g, a, 4), [Ok(10), Ok(2), Ok(3), Ok(4)]);
    assert_eq!(contents(&mut f, h, a, 4), [Ok(40), Ok(20), Ok(3), Ok(4)]);
    f.check(&[g, h]);
}

/// Reads zero-fill pages into an object shared copy-on-write; later writes on both sides.
#[test]
fn zero_fill_reads_into_a_copied_object() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 1, 1);
    let b = f.vm.allocate(p, Placement::Fixed(page(a + PAGE_SIZE)), 3, NewMemory::DEFAULT).unwrap().addr();
    f.write(p, b, 5).unwrap();
    let c = f.vm.fork(p).unwrap();
    f.write(p, b, 6).unwrap();
    assert_eq!(f.read(c, b + PAGE_SIZE), Ok(0));
    assert_eq!(f.read(p, b + PAGE_SIZE), Ok(0));
    f.write(c, b + PAGE_SIZE, 7).unwrap();
    f.write(p, b + 2 * PAGE_SIZE, 8).unwrap();
    assert_eq!(contents(&mut f, p, b, 3), [Ok(6), Ok(0), Ok(8)]);
    assert_eq!(contents(&mut f, c, b, 3), [Ok(5), Ok(7), Ok(0)]);
    f.check(&[p, c]);
    f.vm.destroy_map(p);
    assert_eq!(contents(&mut f, c, b, 3), [Ok(5), Ok(7), Ok(0)]);
    f.check(&[c]);
}

#[test]
fn many_generations_then_exits_in_every_order() {
    for order in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]] {
        let mut f = Fixture::new(512);
        let root = f.map();
        let a = written(&mut f, root, 2, 1);
        let mut maps = vec![root];
        for gen in 0..3u8 {
            let child = f.vm.fork(*maps.last().unwrap()).unwrap();
            f.write(child, a + u64::from(gen % 2) * PAGE_SIZE, 10 + gen).unwrap();
            maps.push(child);
        }
        let expected: Vec<_> = maps.iter().map(|&m| contents(&mut f, m, a, 2)).collect();
        for &i in &order {
            f.vm.destroy_map(maps[i]);
            for (j, &m) in maps.iter().enumerate() {
                if !order[..=order.iter().position(|&k| k == i).unwrap()].contains(&j) {
                    assert_eq!(contents(&mut f, m, a, 2), expected[j], "order {order:?}, map {j}");
                }
            }
            f.check(&[]);
        }
        assert_eq!((f.vm.object_count(), f.vm.resident_pages()), (0, 0));
    }
}

/// A child that dropped the first page has a window at an offset in the shared object; its
/// shadow skips (bypasses) a middle object with nothing in that window, and the chain
/// collapses as the others exit.
#[test]
fn bypass_and_collapse_with_offset_windows() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 4, 1);
    let c1 = f.vm.fork(p).unwrap();
    f.write(p, a, 10).unwrap();
    let c2 = f.vm.fork(p).unwrap();
    let (s, e) = pages_from(a, 1);
    f.vm.deallocate(c2, s, e).unwrap();
    f.write(c2, a + 3 * PAGE_SIZE, 43).unwrap();
    assert_eq!(f.read(c2, a + PAGE_SIZE), Ok(2));
    f.write(p, a + PAGE_SIZE, 12).unwrap();
    f.write(c1, a + 2 * PAGE_SIZE, 33).unwrap();
    assert_eq!(contents(&mut f, p, a, 4), [Ok(10), Ok(12), Ok(3), Ok(4)]);
    assert_eq!(contents(&mut f, c1, a, 4), [Ok(1), Ok(2), Ok(33), Ok(4)]);
    assert_eq!(contents(&mut f, c2, a + PAGE_SIZE, 3), [Ok(2), Ok(3), Ok(43)]);
    f.check(&[p, c1, c2]);
    f.vm.destroy_map(c1);
    f.vm.destroy_map(p);
    assert_eq!(contents(&mut f, c2, a + PAGE_SIZE, 3), [Ok(2), Ok(3), Ok(43)]);
    let object = f.vm.region(c2, a + PAGE_SIZE).unwrap().object.unwrap();
    assert_eq!(f.vm.chain_length(object), 1);
    f.check(&[c2]);
}

/// Copy-on-write of memory without read access (write-only and execute-only protections).
#[test]
fn copy_on_write_without_read_access() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 2, 1);
    let c = f.vm.fork(p).unwrap();
    let (s, e) = pages_from(a, 1);
    f.vm.protect(c, s, e, ProtectTarget::Current, Prot::WRITE).unwrap();
    let (s2, e2) = pages_from(a + PAGE_SIZE, 1);
    f.vm.protect(c, s2, e2, ProtectTarget::Current, Prot::EXECUTE).unwrap();
    assert_eq!(f.vm.fault(c, a, Access::Read), FaultOutcome::ProtectionFailure);
    assert_eq!(f.vm.fault(c, a, Access::Write), FaultOutcome::Resolved);
    assert_eq!(f.vm.fault(c, a + PAGE_SIZE, Access::Execute), FaultOutcome::Resolved);
    assert_eq!(f.vm.fault(c, a + PAGE_SIZE, Access::Write), FaultOutcome::ProtectionFailure);
    f.check(&[p, c]);
    f.write(p, a + PAGE_SIZE, 20).unwrap();
    f.vm.protect(c, s, e2, ProtectTarget::Current, Prot::DEFAULT).unwrap();
    assert_eq!(contents(&mut f, c, a, 2), [Ok(1), Ok(2)]);
    f.check(&[p, c]);
}

// ---------------------------------------------------------------------------------------
// Named entries and frozen objects
// ---------------------------------------------------------------------------------------

/// A shared read-only mapping of a frozen object (an executable's text), wired; another
/// mapping copies the object lazily and shares its copy: the copy-up of a page must not
/// take the wired translation of the frozen page away.
#[test]
fn a_wired_mapping_of_a_frozen_object_survives_a_copy_up_elsewhere() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let text = f.vm.new_frozen_entry(1, 0, &[7], Prot::READ | Prot::EXECUTE).unwrap();
    let rx = NewMemory { protection: Prot::READ | Prot::EXECUTE, max_protection: Prot::READ | Prot::EXECUTE, inheritance: Inherit::Copy };
    let a = f.vm.map_named(m, ANY, 1, text, 0, MapMode::Shared, rx).unwrap();
    f.vm.wire(m, a, page(a.addr() + PAGE_SIZE), Prot::READ).unwrap();
    let b = f.vm.map_named(m, ANY, 1, text, 0, MapMode::Copy, NewMemory::DEFAULT).unwrap();
    let data = f.vm.make_named_entry(m, b, page(b.addr() + PAGE_SIZE), Prot::DEFAULT).unwrap();
    f.write(m, b.addr(), 9).unwrap();
    let t = f.vm.pmap().extract(f.vm.space(m), a.addr());
    assert!(t.is_some_and(|t| t.wiring == Wiring::Wired), "the wired translation of the frozen page is gone: {t:?}");
    let faults = f.vm.counters().faults;
    assert_eq!(f.read(m, a.addr()), Ok(7));
    assert_eq!(f.vm.counters().faults, faults, "a wired page faulted");
    f.vm.release_named(data);
    f.vm.release_named(text);
    f.check(&[m]);
}

/// Copies of a frozen object are private and lazy; shared mappings never change it; the
/// object outlives its named entry while mapped.
#[test]
fn frozen_object_copies_shares_and_forks() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let text = f.vm.new_frozen_entry(2, 10, &[1, 2], Prot::READ | Prot::EXECUTE).unwrap();
    let rx = NewMemory { protection: Prot::READ | Prot::EXECUTE, max_protection: Prot::READ | Prot::EXECUTE, inheritance: Inherit::Share };
    let shared = f.vm.map_named(m, ANY, 2, text, 0, MapMode::Shared, rx).unwrap().addr();
    let copy = f.vm.map_named(m, ANY, 2, text, 0, MapMode::Copy, NewMemory::DEFAULT).unwrap().addr();
    f.vm.release_named(text);
    assert_eq!(f.write(m, shared, 5), Err(FaultOutcome::ProtectionFailure));
    let c = f.vm.fork(m).unwrap();
    f.write(m, copy + 10, 3).unwrap();
    f.write(c, copy + PAGE_SIZE, 4).unwrap();
    assert_eq!([f.read(m, shared + 10), f.read(c, shared + 10), f.read(c, copy + 10)], [Ok(1), Ok(1), Ok(1)]);
    assert_eq!([f.read(m, copy + 10), f.read(m, copy + PAGE_SIZE)], [Ok(3), Ok(0)]);
    assert_eq!(f.read(c, copy + PAGE_SIZE), Ok(4));
    f.check(&[m, c]);
    f.vm.destroy_map(m);
    assert_eq!([f.read(c, shared + 10), f.read(c, shared + 11)], [Ok(1), Ok(2)]);
    f.check(&[c]);
    f.vm.destroy_map(c);
    assert_eq!((f.vm.object_count(), f.vm.resident_pages()), (0, 0));
}

/// A named entry of a copy-on-write region names what the task sees; mappings of it share
/// later writes both ways; the sibling that holds the other copy sees none of them.
#[test]
fn named_entry_of_a_copied_region_then_fork() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 2, 1);
    let c = f.vm.fork(p).unwrap();
    let (s, e) = pages_from(a, 2);
    let n = f.vm.make_named_entry(p, s, e, Prot::DEFAULT).unwrap();
    let q = f.map();
    let rw = NewMemory { max_protection: Prot::DEFAULT, ..NewMemory::DEFAULT };
    let b = f.vm.map_named(q, ANY, 2, n, 0, MapMode::Shared, rw).unwrap().addr();
    assert_eq!(f.read(q, b + PAGE_SIZE), Ok(2));
    f.write(p, a + PAGE_SIZE, 20).unwrap();
    f.write(q, b, 10).unwrap();
    assert_eq!(contents(&mut f, q, b, 2), [Ok(10), Ok(20)]);
    assert_eq!(contents(&mut f, p, a, 2), [Ok(10), Ok(20)]);
    assert_eq!(contents(&mut f, c, a, 2), [Ok(1), Ok(2)]);
    let g = f.vm.fork(p).unwrap();
    f.write(q, b, 11).unwrap();
    assert_eq!(contents(&mut f, g, a, 2), [Ok(10), Ok(20)], "a fork's copy of shared memory is a snapshot");
    assert_eq!(f.read(p, a), Ok(11));
    f.vm.release_named(n);
    f.check(&[p, c, q, g]);
}

/// A copy mapping of a huge untouched named entry (a `vm_map` with copy TRUE of a
/// `mach_make_memory_entry` object) must not cost time in proportion to its size: the copy
/// visits the pages that hold data, not every index (2^24 here; a user can ask for 2^35).
#[test]
fn a_copy_mapping_of_a_huge_untouched_named_entry_is_fast() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let n = 1 << 24;
    let named = f.vm.new_named_entry(n, Prot::DEFAULT);
    let started = std::time::Instant::now();
    let memory = NewMemory { max_protection: Prot::DEFAULT, ..NewMemory::DEFAULT };
    f.vm.map_named(m, ANY, n, named, 0, MapMode::Copy, memory).unwrap();
    assert!(started.elapsed() < std::time::Duration::from_millis(200), "took {:?}", started.elapsed());
    f.vm.release_named(named);
    f.check(&[m]);
}

// ---------------------------------------------------------------------------------------
// The shared zero page
// ---------------------------------------------------------------------------------------

/// A lazy copy of a frozen object reads an untouched page (the shared zero page); then the
/// shared mapping of the same object is wired, which zero-fills that page into the object.
/// The copy's zero-page translation now lies over data (`check_translations`: "zero page
/// over data"), though the data is zeroes.
#[test]
fn a_zero_page_read_of_a_frozen_copy_then_wiring_of_the_shared_mapping() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let text = f.vm.new_frozen_entry(2, 0, &[7], Prot::READ | Prot::EXECUTE).unwrap();
    let rx = NewMemory { protection: Prot::READ | Prot::EXECUTE, max_protection: Prot::READ | Prot::EXECUTE, inheritance: Inherit::Copy };
    let shared = f.vm.map_named(m, ANY, 2, text, 0, MapMode::Shared, rx).unwrap().addr();
    let copy = f.vm.map_named(m, ANY, 2, text, 0, MapMode::Copy, NewMemory::DEFAULT).unwrap().addr();
    assert_eq!(f.read(m, copy + PAGE_SIZE), Ok(0));
    f.vm.wire(m, page(shared + PAGE_SIZE), page(shared + 2 * PAGE_SIZE), Prot::READ).unwrap();
    assert_eq!(f.read(m, copy + PAGE_SIZE), Ok(0));
    f.vm.release_named(text);
    f.check(&[m]);
}

/// Reads of untouched memory map the one shared zero page, so the pmap's reverse map of
/// that frame (kept on the kernel heap) grows with every such page of every task. A fault
/// must allocate little at once (the kernel lets faults run on a small heap reserve), and
/// making memory shared must not copy that whole list.
#[test]
fn zero_page_reads_allocate_little_at_once() {
    let mut f = Fixture::new(512);
    let m = f.map();
    let n = 1 << 16;
    let a = f.vm.allocate(m, ANY, n, NewMemory::DEFAULT).unwrap().addr();
    let mut largest = 0;
    for i in 0..n {
        let (outcome, bytes) = largest_allocation(|| f.vm.fault(m, a + i * PAGE_SIZE, Access::Read));
        assert_eq!(outcome, FaultOutcome::Resolved);
        largest = largest.max(bytes);
    }
    assert!(largest < 64 << 10, "a read fault allocated {largest} bytes at once");
    let b = f.vm.allocate(m, ANY, 1, NewMemory::DEFAULT).unwrap();
    let (named, bytes) = largest_allocation(|| f.vm.make_named_entry(m, b, page(b.addr() + PAGE_SIZE), Prot::DEFAULT));
    assert!(bytes < 64 << 10, "sharing one page allocated {bytes} bytes at once");
    f.vm.release_named(named.unwrap());
    f.check(&[m]);
}

/// Removing zero-page translations must not cost in proportion to every zero-page mapping
/// in the system each (2^15 of them here: quadratic in total).
#[test]
fn removing_zero_page_mappings_is_not_quadratic() {
    let mut f = Fixture::new(512);
    let m = f.map();
    let n = 1 << 15;
    let a = f.vm.allocate(m, ANY, n, NewMemory::DEFAULT).unwrap().addr();
    for i in 0..n {
        assert_eq!(f.vm.fault(m, a + i * PAGE_SIZE, Access::Read), FaultOutcome::Resolved);
    }
    let (s, e) = pages_from(a, n);
    let started = std::time::Instant::now();
    f.vm.deallocate(m, s, e).unwrap();
    assert!(started.elapsed() < std::time::Duration::from_millis(500), "took {:?}", started.elapsed());
    f.check(&[m]);
}

// ---------------------------------------------------------------------------------------
// Clipping, deallocation and protection of copied regions
// ---------------------------------------------------------------------------------------

#[test]
fn deallocating_part_of_a_region_sharing_an_object_with_a_sibling_entry() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 4, 1);
    let (s, e) = pages_from(a + PAGE_SIZE, 2);
    f.vm.protect(p, s, e, ProtectTarget::Current, Prot::READ).unwrap();
    let c = f.vm.fork(p).unwrap();
    f.vm.deallocate(p, s, e).unwrap();
    assert_eq!(contents(&mut f, c, a, 4), [Ok(1), Ok(2), Ok(3), Ok(4)]);
    f.write(p, a, 10).unwrap();
    f.write(c, a + 3 * PAGE_SIZE, 40).unwrap();
    assert_eq!(contents(&mut f, p, a, 4), [Ok(10), Err(FaultOutcome::InvalidAddress), Err(FaultOutcome::InvalidAddress), Ok(4)]);
    assert_eq!(contents(&mut f, c, a, 4), [Ok(1), Ok(2), Ok(3), Ok(40)]);
    f.check(&[p, c]);
    f.vm.destroy_map(c);
    f.write(p, a + 3 * PAGE_SIZE, 41).unwrap();
    assert_eq!(contents(&mut f, p, a, 4), [Ok(10), Err(FaultOutcome::InvalidAddress), Err(FaultOutcome::InvalidAddress), Ok(41)]);
    f.check(&[p]);
}

#[test]
fn clipping_in_the_middle_of_a_shadowed_region() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 4, 1);
    let c = f.vm.fork(p).unwrap();
    f.write(p, a + PAGE_SIZE, 20).unwrap();
    f.write(p, a + 2 * PAGE_SIZE, 30).unwrap();
    let (s, e) = pages_from(a + 2 * PAGE_SIZE, 1);
    f.vm.protect(p, s, e, ProtectTarget::Current, Prot::READ).unwrap();
    let d = f.vm.fork(p).unwrap();
    f.vm.destroy_map(c);
    f.check(&[p, d]);
    f.write(d, a + PAGE_SIZE, 21).unwrap();
    f.write(p, a + 3 * PAGE_SIZE, 40).unwrap();
    f.vm.protect(p, s, e, ProtectTarget::Current, Prot::DEFAULT).unwrap();
    f.write(p, a + 2 * PAGE_SIZE, 31).unwrap();
    assert_eq!(contents(&mut f, p, a, 4), [Ok(1), Ok(20), Ok(31), Ok(40)]);
    assert_eq!(contents(&mut f, d, a, 4), [Ok(1), Ok(21), Ok(30), Ok(4)]);
    f.check(&[p, d]);
    f.vm.destroy_map(d);
    assert_eq!(contents(&mut f, p, a, 4), [Ok(1), Ok(20), Ok(31), Ok(40)]);
    f.check(&[p]);
}

#[test]
fn raising_write_on_a_needs_copy_entry_keeps_the_copy() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 2, 1);
    let (s, e) = pages_from(a, 2);
    f.vm.protect(p, s, e, ProtectTarget::Current, Prot::READ).unwrap();
    let c = f.vm.fork(p).unwrap();
    assert_eq!(f.write(c, a, 9), Err(FaultOutcome::ProtectionFailure));
    f.vm.protect(p, s, e, ProtectTarget::Current, Prot::DEFAULT).unwrap();
    f.vm.protect(c, s, e, ProtectTarget::Current, Prot::ALL).unwrap();
    f.write(p, a, 10).unwrap();
    f.write(c, a + PAGE_SIZE, 20).unwrap();
    assert_eq!(contents(&mut f, p, a, 2), [Ok(10), Ok(2)]);
    assert_eq!(contents(&mut f, c, a, 2), [Ok(1), Ok(20)]);
    f.check(&[p, c]);
}

#[test]
fn lowering_the_maximum_of_a_copied_region_drops_write_in_both_directions() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 1, 1);
    let c = f.vm.fork(p).unwrap();
    let (s, e) = pages_from(a, 1);
    f.vm.protect(c, s, e, ProtectTarget::Maximum, Prot::READ).unwrap();
    assert_eq!(f.write(c, a, 2), Err(FaultOutcome::ProtectionFailure));
    assert_eq!(f.vm.protect(c, s, e, ProtectTarget::Current, Prot::DEFAULT), Err(VmError::ProtectionFailure));
    f.write(p, a, 3).unwrap();
    assert_eq!(f.read(c, a), Ok(1));
    f.check(&[p, c]);
}

// ---------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------

#[test]
fn read_wired_copy_on_write_region_then_fork_then_write() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 2, 1);
    let c = f.vm.fork(p).unwrap();
    let (s, e) = pages_from(a, 2);
    f.vm.wire(p, s, e, Prot::READ).unwrap();
    f.check(&[p, c]);
    let d = f.vm.fork(p).unwrap();
    f.write(p, a, 10).unwrap();
    f.write(c, a + PAGE_SIZE, 20).unwrap();
    assert_eq!(contents(&mut f, p, a, 2), [Ok(10), Ok(2)]);
    assert_eq!(contents(&mut f, c, a, 2), [Ok(1), Ok(20)]);
    assert_eq!(contents(&mut f, d, a, 2), [Ok(1), Ok(2)]);
    f.check(&[p, c, d]);
    f.vm.unwire(p, s, e).unwrap();
    f.check(&[p, c, d]);
    assert_eq!(f.vm.frame_accounts().wired, 0);
}

#[test]
fn write_wired_copy_on_write_region_is_resolved_at_wiring() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 3, 1);
    let c = f.vm.fork(p).unwrap();
    let (s, e) = pages_from(a + PAGE_SIZE, 1);
    f.vm.wire(c, s, e, Prot::DEFAULT).unwrap();
    let faults = f.vm.counters().faults;
    f.write(c, a + PAGE_SIZE, 20).unwrap();
    assert_eq!(f.vm.counters().faults, faults, "a write-wired page takes no fault");
    let d = f.vm.fork(c).unwrap();
    f.write(c, a + PAGE_SIZE, 21).unwrap();
    assert_eq!(contents(&mut f, p, a, 3), [Ok(1), Ok(2), Ok(3)]);
    assert_eq!(contents(&mut f, c, a, 3), [Ok(1), Ok(21), Ok(3)]);
    assert_eq!(contents(&mut f, d, a, 3), [Ok(1), Ok(20), Ok(3)]);
    f.check(&[p, c, d]);
    f.vm.unwire(c, s, e).unwrap();
    f.vm.destroy_map(p);
    f.write(d, a, 9).unwrap();
    assert_eq!(contents(&mut f, c, a, 3), [Ok(1), Ok(21), Ok(3)]);
    f.check(&[c, d]);
}

#[test]
fn wired_pages_are_not_wired_in_the_child_and_unwire_after_fork() {
    let mut f = Fixture::new(256);
    let p = f.map();
    let a = written(&mut f, p, 2, 1);
    let (s, e) = pages_from(a, 2);
    f.vm.wire(p, s, e, Prot::DEFAULT).unwrap();
    let c = f.vm.fork(p).unwrap();
    assert_eq!(f.vm.unwire(c, s, e), Err(VmError::InvalidArgument));
    f.vm.unwire(p, s, e).unwrap();
    let g = f.vm.fork(p).unwrap();
    f.write(p, a, 10).unwrap();
    assert_eq!(contents(&mut f, c, a, 2), [Ok(1), Ok(2)]);
    assert_eq!(contents(&mut f, g, a, 2), [Ok(1), Ok(2)]);
    assert_eq!(f.vm.frame_accounts().wired, 0);
    f.check(&[p, c, g]);
}

/// Wiring for execute must work on memory whose current protection is execute only
/// (spec: `access` must be allowed by the current protection, nothing more).
#[test]
fn wiring_execute_only_memory_for_execute_succeeds() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let memory = NewMemory { protection: Prot::EXECUTE, ..NewMemory::DEFAULT };
    let a = f.vm.allocate(m, ANY, 1, memory).unwrap().addr();
    let (s, e) = pages_from(a, 1);
    assert_eq!(f.vm.wire(m, s, e, Prot::EXECUTE), Ok(()));
    assert_eq!(f.vm.frame_accounts().wired, 1);
    f.check(&[m]);
}

/// Wiring an execute-only page after a readable one: if it fails, nothing may have changed.
#[test]
fn wiring_that_fails_on_a_later_entry_changes_nothing() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let rx = NewMemory { protection: Prot::READ | Prot::EXECUTE, ..NewMemory::DEFAULT };
    let a = f.vm.allocate(m, ANY, 1, rx).unwrap().addr();
    let x = NewMemory { protection: Prot::EXECUTE, ..NewMemory::DEFAULT };
    f.vm.allocate(m, Placement::Fixed(page(a + PAGE_SIZE)), 1, x).unwrap();
    let (s, e) = pages_from(a, 2);
    let (before, resident) = (entries(&f, m), f.vm.resident_pages());
    if f.vm.wire(m, s, e, Prot::EXECUTE).is_err() {
        assert_eq!(entries(&f, m), before, "a failed wire changed the map");
        assert_eq!(f.vm.resident_pages(), resident, "a failed wire made pages resident");
    }
    f.check(&[m]);
}

/// Write-wiring a copy-on-write page whose page tables do not exist yet, with one frame left:
/// the frame for the copy is reserved, the page tables are not. The call must fail without
/// changing anything (spec principle 2), or succeed.
#[test]
fn wire_short_of_page_tables_changes_nothing() {
    let mut f = Fixture::new(64);
    let p = f.map();
    let y = far_region(&mut f, p, 0x100_0000_0000, 1);
    f.write(p, y, 1).unwrap();
    let c = f.vm.fork(p).unwrap();
    let filler = far_region(&mut f, p, 0x200_0000_0000, 64);
    burn_frames_until(&mut f, p, filler, 1);
    let (before, resident) = (entries(&f, c), f.vm.resident_pages());
    let (s, e) = pages_from(y, 1);
    let result = f.vm.wire(c, s, e, Prot::DEFAULT);
    if result.is_err() {
        assert_eq!(result, Err(VmError::OutOfMemory));
        assert_eq!(entries(&f, c), before, "a failed wire changed the child's map");
        assert_eq!(f.vm.resident_pages(), resident, "a failed wire kept a copied page");
        assert_eq!(free(&f), 1);
    }
    f.check(&[p, c]);
}

/// The same with a fresh zero-fill region: a failed wire must not leave the region split or
/// with a new object.
#[test]
fn wire_of_a_sub_range_short_of_page_tables_changes_nothing() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let y = far_region(&mut f, m, 0x100_0000_0000, 3);
    let filler = far_region(&mut f, m, 0x200_0000_0000, 64);
    burn_frames_until(&mut f, m, filler, 1);
    let before = entries(&f, m);
    let (s, e) = pages_from(y + PAGE_SIZE, 1);
    if f.vm.wire(m, s, e, Prot::DEFAULT).is_err() {
        assert_eq!(entries(&f, m), before, "a failed wire changed the map");
    }
    f.check(&[m]);
}

#[test]
fn wire_without_frames_for_copies_changes_nothing() {
    let mut f = Fixture::new(64);
    let p = f.map();
    let a = written(&mut f, p, 4, 1);
    let c = f.vm.fork(p).unwrap();
    let filler = far_region(&mut f, p, 0x200_0000_0000, 64);
    burn_frames_until(&mut f, p, filler, 3);
    let before = (entries(&f, p), entries(&f, c), f.vm.resident_pages());
    let (s, e) = pages_from(a, 4);
    assert_eq!(f.vm.wire(c, s, e, Prot::DEFAULT), Err(VmError::OutOfMemory));
    assert_eq!((entries(&f, p), entries(&f, c), f.vm.resident_pages()), before);
    assert_eq!(free(&f), 3);
    f.check(&[p, c]);
    f.vm.destroy_map(c);
    f.vm.wire(p, s, e, Prot::DEFAULT).unwrap();
    f.check(&[p]);
}

/// Wiring or populating a huge lazily allocated range with few frames must fail at once:
/// the checks before the first change must not cost time in proportion to the range. A user
/// can pass the whole map (2^35 pages, 2^26 page-table spans of 2 MiB).
#[test]
fn wiring_or_populating_the_whole_map_fails_fast() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let n = (MAX - MIN) / PAGE_SIZE;
    let a = f.vm.allocate(m, ANY, n, NewMemory::DEFAULT).unwrap().addr();
    let (s, e) = pages_from(a, n);
    let started = std::time::Instant::now();
    assert_eq!(f.vm.wire(m, s, e, Prot::READ), Err(VmError::OutOfMemory));
    assert!(started.elapsed() < std::time::Duration::from_millis(500), "wire took {:?}", started.elapsed());
    let started = std::time::Instant::now();
    assert_eq!(f.vm.populate(m, s, e), Err(VmError::OutOfMemory));
    assert!(started.elapsed() < std::time::Duration::from_millis(500), "populate took {:?}", started.elapsed());
    f.check(&[m]);
}

/// Populating (`map_now`) or wiring a huge range with few frames must not allocate kernel
/// heap in proportion to the range: the kernel heap cannot hold a `Vec` of 2^26 frames, and
/// an allocation failure there is a kernel panic caused by a user's argument.
#[test]
fn populating_or_wiring_a_huge_range_allocates_little() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let n = 1 << 22;
    let a = f.vm.allocate(m, ANY, n, NewMemory::DEFAULT).unwrap().addr();
    let (s, e) = pages_from(a, n);
    let (result, largest) = largest_allocation(|| f.vm.populate(m, s, e));
    assert_eq!(result, Err(VmError::OutOfMemory));
    assert!(largest < 1 << 20, "populate allocated {largest} bytes at once");
    let (result, largest) = largest_allocation(|| f.vm.wire(m, s, e, Prot::READ));
    assert_eq!(result, Err(VmError::OutOfMemory));
    assert!(largest < 1 << 20, "wire allocated {largest} bytes at once");
    f.check(&[m]);
}

// ---------------------------------------------------------------------------------------
// Running out of memory in fork and faults
// ---------------------------------------------------------------------------------------

/// A fork whose eager copies (wired memory) do not fit, or whose child space does not, with
/// `left` frames free, changes nothing.
fn fork_short_of_frames(left: u64) {
    let mut f = Fixture::new(64);
    let p = f.map();
    let a = written(&mut f, p, 4, 1);
    let b = written(&mut f, p, 2, 10);
    let (s, e) = pages_from(a, 4);
    f.vm.wire(p, s, e, Prot::READ).unwrap();
    let filler = far_region(&mut f, p, 0x200_0000_0000, 64);
    burn_frames_until(&mut f, p, filler, left);
    let before = (entries(&f, p), f.vm.object_count(), f.vm.resident_pages(), free(&f));
    assert_eq!(f.vm.fork(p), Err(VmError::OutOfMemory), "{left} frames left");
    assert_eq!((entries(&f, p), f.vm.object_count(), f.vm.resident_pages(), free(&f)), before);
    let space = f.vm.space(p);
    assert!(f.vm.pmap().extract(space, b).unwrap().prot.contains(Prot::WRITE), "the parent lost write");
    f.check(&[p]);
}

#[test]
fn fork_without_frames_for_eager_copies_changes_nothing() {
    fork_short_of_frames(3);
}

#[test]
fn fork_with_frames_for_the_copies_only_changes_nothing() {
    fork_short_of_frames(4);
}

/// A fork that cannot get a frame for the child's top-level table changes nothing.
#[test]
fn fork_without_a_frame_for_the_child_space_changes_nothing() {
    let mut f = Fixture::new(64);
    let p = f.map();
    let a = written(&mut f, p, 2, 1);
    let filler = far_region(&mut f, p, 0x200_0000_0000, 64);
    burn_frames_until(&mut f, p, filler, 0);
    let before = entries(&f, p);
    assert_eq!(f.vm.fork(p), Err(VmError::OutOfMemory));
    assert_eq!(entries(&f, p), before);
    f.write(p, a, 5).unwrap();
    f.check(&[p]);
}

/// A copy-on-write fault without a frame fails, and the copy stays intact.
#[test]
fn copy_on_write_fault_without_frames_leaves_both_sides_intact() {
    let mut f = Fixture::new(64);
    let p = f.map();
    let a = written(&mut f, p, 2, 1);
    let c = f.vm.fork(p).unwrap();
    // The child's reads need page tables: let it read first, while frames remain.
    assert_eq!(contents(&mut f, c, a, 2), [Ok(1), Ok(2)]);
    let filler = far_region(&mut f, p, 0x200_0000_0000, 64);
    burn_frames_until(&mut f, p, filler, 0);
    assert_eq!(f.write(c, a, 9), Err(FaultOutcome::OutOfMemory));
    assert_eq!(f.write(p, a, 9), Err(FaultOutcome::OutOfMemory));
    assert_eq!(contents(&mut f, p, a, 2), [Ok(1), Ok(2)]);
    assert_eq!(contents(&mut f, c, a, 2), [Ok(1), Ok(2)]);
    f.check(&[p, c]);
    f.vm.destroy_map(c);
    f.write(p, a, 9).unwrap();
    f.check(&[p]);
}

// ---------------------------------------------------------------------------------------
// Copy objects
// ---------------------------------------------------------------------------------------

/// A buffer copy placed (FIXED) between two untouched regions, failing half way for lack of
/// frames: the call must change nothing (spec principle 2). The new memory merges with its
/// untouched neighbours, the first page's fault gives the merged entry an object, and
/// removing the middle again leaves that object (and the page) with the neighbours.
#[test]
fn a_buffer_copyout_short_of_frames_leaves_its_neighbours_alone() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let src = far_region(&mut f, m, 0x10_0000, 2);
    f.write(m, src, 1).unwrap();
    f.write(m, src + PAGE_SIZE, 2).unwrap();
    far_region(&mut f, m, 0x10_4000, 1);
    far_region(&mut f, m, 0x10_7000, 1);
    let copy = f.vm.copyin(m, src, 2 * PAGE_SIZE, SourceDisposal::Keep).unwrap();
    let filler = far_region(&mut f, m, 0x200_0000_0000, 64);
    burn_frames_until(&mut f, m, filler, 1);
    let (before, resident) = (entries(&f, m), f.vm.resident_pages());
    assert_eq!(f.vm.copyout(m, copy, Placement::Fixed(page(0x10_5000))), Err(VmError::OutOfMemory));
    assert_eq!(f.vm.copy_size(copy), Some(2 * PAGE_SIZE), "the copy stays valid");
    assert_eq!(entries(&f, m), before, "the failed copyout changed the map");
    assert_eq!(f.vm.resident_pages(), resident, "the failed copyout kept a page");
    f.vm.copy_discard(copy);
    f.check(&[m]);
}

/// A small (buffer) copy of untouched memory, short of frames: the read faults of the copy
/// zero-fill pages one by one, and when one fails the others stay behind. Nothing may change
/// on error (copyin's contract, spec principle 2).
#[test]
fn a_buffer_copyin_short_of_frames_changes_nothing() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let a = far_region(&mut f, m, 0x10_0000, 3);
    far_region(&mut f, m, 0x10_8000, 1);
    f.write(m, 0x10_8000, 1).unwrap();
    let filler = far_region(&mut f, m, 0x200_0000_0000, 64);
    burn_frames_until(&mut f, m, filler, 1);
    let (before, resident) = (entries(&f, m), f.vm.resident_pages());
    let result = f.vm.copyin(m, a, 3 * PAGE_SIZE, SourceDisposal::Keep);
    if result.is_err() {
        assert_eq!(result, Err(VmError::OutOfMemory));
        assert_eq!(entries(&f, m), before, "the failed copyin changed the map");
        assert_eq!(f.vm.resident_pages(), resident, "the failed copyin kept pages");
    }
    f.check(&[m]);
}

/// Overwriting a range with a copy of itself (and of an overlapping range) gives the old
/// contents, virtual or physical, and the copy source's other mappings are untouched.
#[test]
fn copy_overwrite_of_overlapping_ranges_acts_through_a_temporary() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = written(&mut f, m, 8, 1);
    let c = f.vm.fork(m).unwrap();
    let copy = f.vm.copyin(m, a, 6 * PAGE_SIZE, SourceDisposal::Keep).unwrap();
    f.write(m, a, 50).unwrap();
    f.vm.copy_overwrite(m, a + 2 * PAGE_SIZE, copy).unwrap();
    assert_eq!(contents(&mut f, m, a, 8), [Ok(50), Ok(2), Ok(1), Ok(2), Ok(3), Ok(4), Ok(5), Ok(6)]);
    let copy = f.vm.copyin(m, a + 1, 5 * PAGE_SIZE, SourceDisposal::Keep).unwrap();
    f.vm.copy_overwrite(m, a + 1 + PAGE_SIZE, copy).unwrap();
    assert_eq!(contents(&mut f, m, a, 8), [Ok(50), Ok(2), Ok(2), Ok(1), Ok(2), Ok(3), Ok(4), Ok(6)]);
    assert_eq!(contents(&mut f, c, a, 8), [Ok(1), Ok(2), Ok(3), Ok(4), Ok(5), Ok(6), Ok(7), Ok(8)]);
    f.check(&[m, c]);
}

// ---------------------------------------------------------------------------------------
// The entry limit
// ---------------------------------------------------------------------------------------

/// A map at its entry limit: calls that split no entry add none, so they must not fail with
/// `EntryLimit` (in particular, a task must still be able to unwire what it wired).
#[test]
fn at_the_entry_limit_whole_entry_calls_still_work() {
    let mut f = Fixture::new(256);
    let m = f.map();
    f.vm.set_entry_limit(3);
    let a = f.vm.allocate(m, ANY, 2, NewMemory::DEFAULT).unwrap().addr();
    f.vm.allocate(m, ANY, 1, NewMemory { protection: Prot::NONE, ..NewMemory::DEFAULT }).unwrap();
    let b = f.vm.allocate(m, ANY, 1, NewMemory::DEFAULT).unwrap().addr();
    assert_eq!(entries(&f, m).len(), 3);
    let (s, e) = pages_from(b, 1);
    assert_eq!(f.vm.wire(m, s, e, Prot::READ), Ok(()));
    assert_eq!(f.vm.unwire(m, s, e), Ok(()));
    let (s, e) = pages_from(a, 2);
    assert_eq!(f.vm.protect(m, s, e, ProtectTarget::Current, Prot::READ), Ok(()));
    assert_eq!(f.vm.inherit(m, s, e, Inherit::Share), Ok(()));
    f.check(&[m]);
}

// ---------------------------------------------------------------------------------------
// Arguments a user can pass
// ---------------------------------------------------------------------------------------

/// Faults and region lookups at any address return an outcome, never panic.
#[test]
fn faults_and_regions_at_any_address() {
    let mut f = Fixture::new(64);
    let m = f.map();
    f.vm.allocate(m, Placement::Fixed(page(MAX - PAGE_SIZE)), 1, NewMemory::DEFAULT).unwrap();
    for addr in [0, 1, MIN - 1, MAX, MAX + 1, 0x8000_0000_0000, u64::MAX, u64::MAX - PAGE_SIZE] {
        for access in [Access::Read, Access::Write, Access::Execute] {
            assert_eq!(f.vm.fault(m, addr, access), FaultOutcome::InvalidAddress, "{addr:#x}");
        }
        let _ = f.vm.region(m, addr);
    }
    assert_eq!(f.write(m, MAX - 1, 3), Ok(()));
    assert_eq!(f.vm.region(m, u64::MAX), Err(VmError::NoSpace));
    f.check(&[m]);
}

/// Every operation on the first and last page of the user map.
#[test]
fn operations_at_the_edges_of_the_map() {
    let mut f = Fixture::new(64);
    let m = f.map();
    for at in [MIN, MAX - PAGE_SIZE] {
        let (s, e) = pages_from(at, 1);
        assert_eq!(f.vm.protect(m, s, e, ProtectTarget::Current, Prot::READ), Err(VmError::InvalidAddress));
        assert_eq!(f.vm.inherit(m, s, e, Inherit::Share), Err(VmError::InvalidAddress));
        assert_eq!(f.vm.wire(m, s, e, Prot::READ), Err(VmError::InvalidAddress));
        assert_eq!(f.vm.unwire(m, s, e), Err(VmError::InvalidArgument));
        assert_eq!(f.vm.deallocate(m, s, e), Ok(()));
        f.vm.allocate(m, Placement::Fixed(s), 1, NewMemory::DEFAULT).unwrap();
        f.vm.wire(m, s, e, Prot::DEFAULT).unwrap();
        f.vm.protect(m, s, e, ProtectTarget::Maximum, Prot::READ).unwrap();
        f.vm.inherit(m, s, e, Inherit::Share).unwrap();
        f.vm.unwire(m, s, e).unwrap();
    }
    let c = f.vm.fork(m).unwrap();
    f.check(&[m, c]);
    let whole = (page(MIN), page(MAX));
    assert_eq!(f.vm.protect(m, whole.0, whole.1, ProtectTarget::Current, Prot::READ), Err(VmError::InvalidAddress));
    f.vm.deallocate(m, whole.0, whole.1).unwrap();
    assert_eq!(f.vm.map(m).entries().count(), 0);
    f.check(&[m, c]);
}

/// Ranges that leave the map are refused by every range operation.
#[test]
fn ranges_leaving_the_map_are_refused() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let top = page(MAX - PAGE_SIZE);
    f.vm.allocate(m, Placement::Fixed(top), 1, NewMemory::DEFAULT).unwrap();
    let beyond = Page::from_aligned(MAX + PAGE_SIZE).unwrap();
    assert_eq!(f.vm.deallocate(m, top, beyond), Err(VmError::InvalidAddress));
    assert_eq!(f.vm.protect(m, top, beyond, ProtectTarget::Current, Prot::READ), Err(VmError::InvalidAddress));
    assert_eq!(f.vm.inherit(m, top, beyond, Inherit::None), Err(VmError::InvalidAddress));
    assert_eq!(f.vm.wire(m, top, beyond, Prot::READ), Err(VmError::InvalidAddress));
    assert_eq!(f.vm.allocate(m, Placement::Fixed(page(MAX)), 1, NewMemory::DEFAULT), Err(VmError::InvalidAddress));
    assert_eq!(f.vm.map(m).entries().count(), 1);
    f.check(&[m]);
}

// ---------------------------------------------------------------------------------------
// Measuring heap allocations
// ---------------------------------------------------------------------------------------

thread_local! {
    /// The largest single allocation of this thread while tracking, if tracking.
    static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The system allocator, recording the largest allocation of threads that track.
struct Tracking;

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().map(|n| n.max(size))));
}

// SAFETY: every call is forwarded unchanged to the system allocator; `note` only updates a
// thread-local `Cell` (const-initialised, no destructor, no allocation).
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Runs `f` and returns its result with the largest single allocation it made.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(Some(0)));
    let result = f();
    let largest = LARGEST.with(|l| l.replace(None)).unwrap_or(0);
    (result, largest)
}
