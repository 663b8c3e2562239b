//! Review tests: named entries, frozen objects, the shared zero page, copy objects.
//!
//! Each test builds a small adversarial scenario, checks what every map reads, and ends with
//! `Fixture::check` (object invariants, map↔pmap consistency, frame accounting); tests of
//! failing calls also check that the call changed nothing (spec principle 2).

mod common;

mod alloc_probe;
use alloc_probe::largest_allocation;
use common::review::*;
use common::{page, pages_from, Fixture};
use machvm::pmap::{Pmap, Wiring};
use machvm::{Access, FaultOutcome, Inherit, MapMode, NewMemory, Placement, Prot, SourceDisposal, VmError, PAGE_SIZE};

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
    f.vm.destroy_map(m).expect("a live map");
    assert_eq!([f.read(c, shared + 10), f.read(c, shared + 11)], [Ok(1), Ok(2)]);
    f.check(&[c]);
    f.vm.destroy_map(c).expect("a live map");
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
/// `mach_make_memory_entry` object) copies only the pages that hold data: none here, among
/// 2^24 (a user can ask for 2^35; visiting every index would hold the VM lock for minutes).
#[test]
fn a_copy_mapping_of_a_huge_untouched_named_entry_copies_nothing() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let n = 1 << 24;
    let named = f.vm.new_named_entry(n, Prot::DEFAULT);
    let copied = f.vm.counters().pages_copied;
    let memory = NewMemory { max_protection: Prot::DEFAULT, ..NewMemory::DEFAULT };
    f.vm.map_named(m, ANY, n, named, 0, MapMode::Copy, memory).unwrap();
    assert_eq!(f.vm.counters().pages_copied, copied);
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

/// The zero page's mappings are not kept in the pmap's reverse map (a list per frame):
/// removing each would otherwise search a list of every zero-page mapping in the system
/// (quadratic in total, 2^15 of them here).
#[test]
fn zero_page_mappings_stay_out_of_the_reverse_map() {
    let mut f = Fixture::new(512);
    let m = f.map();
    let n = 1 << 15;
    let a = f.vm.allocate(m, ANY, n, NewMemory::DEFAULT).unwrap().addr();
    for i in 0..n {
        assert_eq!(f.vm.fault(m, a + i * PAGE_SIZE, Access::Read), FaultOutcome::Resolved);
    }
    let zero = f.vm.pmap().extract(f.vm.space(m), a).expect("mapped").frame;
    assert!(f.vm.pmap().mappings_of(zero).is_empty(), "no reverse-map entries for the zero page");
    let (s, e) = pages_from(a, n);
    f.vm.deallocate(m, s, e).unwrap();
    f.check(&[m]);
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
