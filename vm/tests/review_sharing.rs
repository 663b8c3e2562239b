//! Review tests: sharing and copy-on-write, chains of forks, clipping of copied regions.
//!
//! Each test builds a small adversarial scenario, checks what every map reads, and ends with
//! `Fixture::check` (object invariants, map↔pmap consistency, frame accounting); tests of
//! failing calls also check that the call changed nothing (spec principle 2).

mod common;

use common::review::*;
use common::{page, pages_from, Fixture};
use machvm::{Access, FaultOutcome, Inherit, NewMemory, Placement, Prot, ProtectTarget, VmError, PAGE_SIZE};

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
    f.vm.destroy_map(c).expect("a live map");
    f.check(&[p, g]);
    f.write(g, a, 50).unwrap();
    f.write(p, a + PAGE_SIZE, 12).unwrap();
    assert_eq!(contents(&mut f, p, a, 4), [Ok(1), Ok(12), Ok(13), Ok(4)]);
    assert_eq!(contents(&mut f, g, a, 4), [Ok(50), Ok(21), Ok(3), Ok(44)]);
    f.check(&[p, g]);
    f.vm.destroy_map(p).expect("a live map");
    assert_eq!(contents(&mut f, g, a, 4), [Ok(50), Ok(21), Ok(3), Ok(44)]);
    f.check(&[g]);
    f.vm.destroy_map(g).expect("a live map");
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
    f.vm.destroy_map(p).expect("a live map");
    f.check(&[c1, c2]);
    f.write(c1, a, 10).unwrap();
    f.write(c2, a + PAGE_SIZE, 20).unwrap();
    assert_eq!(contents(&mut f, c1, a, 3), [Ok(10), Ok(2), Ok(3)]);
    assert_eq!(contents(&mut f, c2, a, 3), [Ok(1), Ok(20), Ok(3)]);
    f.check(&[c1, c2]);
    f.vm.destroy_map(c2).expect("a live map");
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
        f.vm.destroy_map(m).expect("a live map");
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
    f.vm.destroy_map(p).expect("a live map");
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
            f.vm.destroy_map(maps[i]).expect("a live map");
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
    f.vm.destroy_map(c1).expect("a live map");
    f.vm.destroy_map(p).expect("a live map");
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
    f.vm.destroy_map(c).expect("a live map");
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
    f.vm.destroy_map(c).expect("a live map");
    f.check(&[p, d]);
    f.write(d, a + PAGE_SIZE, 21).unwrap();
    f.write(p, a + 3 * PAGE_SIZE, 40).unwrap();
    f.vm.protect(p, s, e, ProtectTarget::Current, Prot::DEFAULT).unwrap();
    f.write(p, a + 2 * PAGE_SIZE, 31).unwrap();
    assert_eq!(contents(&mut f, p, a, 4), [Ok(1), Ok(20), Ok(31), Ok(40)]);
    assert_eq!(contents(&mut f, d, a, 4), [Ok(1), Ok(21), Ok(30), Ok(4)]);
    f.check(&[p, d]);
    f.vm.destroy_map(d).expect("a live map");
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
