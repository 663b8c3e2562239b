//! Review tests: wiring, and running out of memory in wiring, fork and faults.
//!
//! Each test builds a small adversarial scenario, checks what every map reads, and ends with
//! `Fixture::check` (object invariants, map↔pmap consistency, frame accounting); tests of
//! failing calls also check that the call changed nothing (spec principle 2).

mod common;

mod alloc_probe;
use alloc_probe::largest_allocation;
use common::review::*;
use common::{page, pages_from, Fixture, MAX, MIN};
use machvm::pmap::Pmap;
use machvm::{FaultOutcome, NewMemory, Placement, Prot, VmError, PAGE_SIZE};

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
    f.vm.destroy_map(p).expect("a live map");
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
    f.vm.destroy_map(c).expect("a live map");
    f.vm.wire(p, s, e, Prot::DEFAULT).unwrap();
    f.check(&[p]);
}

/// Wiring or populating the whole map (2^35 pages, 2^26 page-table spans of 2 MiB) with few
/// frames fails before any change; the checks cost the entries and tables present, not the
/// range (a walk of the range would hold the VM lock for minutes).
#[test]
fn wiring_or_populating_the_whole_map_fails_first() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let n = (MAX - MIN) / PAGE_SIZE;
    let a = f.vm.allocate(m, ANY, n, NewMemory::DEFAULT).unwrap().addr();
    let (s, e) = pages_from(a, n);
    let before = entries(&f, m);
    assert_eq!(f.vm.wire(m, s, e, Prot::READ), Err(VmError::OutOfMemory));
    assert_eq!(f.vm.populate(m, s, e), Err(VmError::OutOfMemory));
    assert_eq!(entries(&f, m), before, "nothing changed");
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
    f.vm.destroy_map(c).expect("a live map");
    f.write(p, a, 9).unwrap();
    f.check(&[p]);
}
