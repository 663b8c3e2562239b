//! Copy objects: copyin, copyout, copy_overwrite, discard and remap; snapshot semantics in
//! both directions, for both formats, within a map and across maps; virtual copies; and the
//! bug classes this code is known for, with the interleavings a second task could make
//! between calls played deterministically.

mod common;

use common::{page, pages_from, Fixture};
use machvm::{CopyId, Inherit, MapId, NewMemory, Placement, Prot, ProtectTarget, RemapMode, SourceDisposal, VmError, PAGE_SIZE};

const ANY: Placement = Placement::Anywhere { mask: 0 };
const KEEP: SourceDisposal = SourceDisposal::Keep;
const MIB: u64 = 1 << 20;

/// A region of `pages` pages in `map`, byte `i` of page `p` holding `seed + p`.
fn filled(f: &mut Fixture, map: MapId, pages: u64, seed: u8) -> u64 {
    let a = f.vm.allocate(map, ANY, pages, NewMemory::DEFAULT).unwrap().addr();
    for p in 0..pages {
        f.write(map, a + p * PAGE_SIZE, seed.wrapping_add(p as u8)).unwrap();
    }
    a
}

fn bytes(f: &mut Fixture, map: MapId, addr: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    f.vm.read_bytes(map, addr, &mut out).unwrap();
    out
}

#[test]
fn a_buffer_copy_is_a_snapshot_both_ways() {
    let mut f = Fixture::new(256);
    let (a, b) = (f.map(), f.map());
    let src = filled(&mut f, a, 2, 1);
    let copy = f.vm.copyin(a, src + 100, 5000, KEEP).unwrap();
    f.vm.write_bytes(a, src + 100, &[9; 5000]).unwrap();
    let dst = f.vm.copyout(b, copy, ANY).unwrap();
    assert_eq!(dst % PAGE_SIZE, 100, "the source's offset in its page is kept");
    assert_eq!(bytes(&mut f, b, dst, 1), [0], "the copy predates the write");
    assert_eq!(bytes(&mut f, b, dst + PAGE_SIZE - 100, 1), [2], "page 1, byte 0");
    f.vm.write_bytes(b, dst, &[7; 10]).unwrap();
    assert_eq!(bytes(&mut f, a, src + 100, 1), [9], "writes to the copy never reach the source");
    f.check(&[a, b]);
}

#[test]
fn a_virtual_copy_moves_no_page_until_written() {
    let mut f = Fixture::new(1024);
    let (a, b) = (f.map(), f.map());
    let pages = MIB / PAGE_SIZE;
    let src = filled(&mut f, a, pages, 0);
    let before = f.vm.counters();
    let copy = f.vm.copyin(a, src, MIB, KEEP).unwrap();
    let dst = f.vm.copyout(b, copy, ANY).unwrap();
    let after = f.vm.counters();
    assert_eq!((after.cow_faults, after.pages_copied), (before.cow_faults, before.pages_copied), "no page copied by copyin and copyout");
    assert_eq!(bytes(&mut f, b, dst + 5 * PAGE_SIZE, 1), [5], "the copy reads the source's pages");
    f.write(a, src + 3 * PAGE_SIZE, 0xaa).unwrap();
    f.write(b, dst + 4 * PAGE_SIZE, 0xbb).unwrap();
    assert_eq!(f.vm.counters().cow_faults, before.cow_faults + 2, "one copy per page written");
    assert_eq!((bytes(&mut f, b, dst + 3 * PAGE_SIZE, 1), bytes(&mut f, a, src + 4 * PAGE_SIZE, 1)), (vec![3], vec![4]), "snapshots both ways");
    f.check(&[a, b]);
}

#[test]
fn copies_within_one_map_and_moves() {
    let mut f = Fixture::new(256);
    let a = f.map();
    let src = filled(&mut f, a, 8, 10);
    let copy = f.vm.copyin(a, src, 8 * PAGE_SIZE, SourceDisposal::Destroy).unwrap();
    assert!(f.vm.map(a).lookup(src).is_none(), "a move removes the source");
    let dst = f.vm.copyout(a, copy, ANY).unwrap();
    assert_eq!(bytes(&mut f, a, dst + 7 * PAGE_SIZE, 1), [17]);
    assert_eq!(f.vm.copy_size(copy), None, "copyout consumed the copy");
    f.check(&[a]);
}

#[test]
fn copyout_without_room_leaves_the_copy_usable() {
    let mut f = Fixture::new(256);
    let (a, b) = (f.map(), f.map());
    let src = filled(&mut f, a, 4, 1);
    let busy = f.vm.allocate(b, ANY, 1, NewMemory::DEFAULT).unwrap();
    for (addr, len) in [(src, 4 * PAGE_SIZE), (src + 1, 10)] {
        let copy = f.vm.copyin(a, addr, len, KEEP).unwrap();
        assert_eq!(f.vm.copyout(b, copy, Placement::Fixed(busy)), Err(VmError::NoSpace));
        assert_eq!(f.vm.copy_size(copy), Some(len), "still valid");
        let dst = f.vm.copyout(b, copy, ANY).unwrap();
        assert_eq!(bytes(&mut f, b, dst, 1)[0], bytes(&mut f, a, addr, 1)[0]);
    }
    f.check(&[a, b]);
}

#[test]
fn copy_overwrite_writes_existing_memory_byte_granular() {
    let mut f = Fixture::new(256);
    let a = f.map();
    let src = filled(&mut f, a, 1, 5);
    let dst = filled(&mut f, a, 2, 50);
    let copy = f.vm.copyin(a, src, 3, KEEP).unwrap();
    f.vm.copy_overwrite(a, dst + PAGE_SIZE - 1, copy).unwrap();
    assert_eq!(bytes(&mut f, a, dst + PAGE_SIZE - 2, 4), [0, 5, 0, 0], "straddling two pages");
    assert_eq!(f.vm.copy_size(copy), None, "consumed");
    f.check(&[a]);
}

#[test]
fn copy_overwrite_checks_the_whole_destination_first() {
    let mut f = Fixture::new(256);
    let a = f.map();
    let src = filled(&mut f, a, 4, 1);
    let dst = filled(&mut f, a, 4, 100);
    let copy = f.vm.copyin(a, src, 4 * PAGE_SIZE, KEEP).unwrap();
    let (s, e) = pages_from(dst + 3 * PAGE_SIZE, 1);
    f.vm.protect(a, s, e, ProtectTarget::Current, Prot::READ).unwrap();
    assert_eq!(f.vm.copy_overwrite(a, dst, copy), Err(VmError::ProtectionFailure));
    assert_eq!(bytes(&mut f, a, dst, 1), [100], "nothing written");
    f.vm.deallocate(a, s, e).unwrap();
    assert_eq!(f.vm.copy_overwrite(a, dst, copy), Err(VmError::InvalidAddress), "a hole");
    assert_eq!(f.vm.copy_overwrite(a, u64::MAX - 10, copy), Err(VmError::InvalidAddress), "wraps");
    assert_eq!(f.vm.copy_size(copy), Some(4 * PAGE_SIZE), "a failed overwrite keeps the copy");
    f.vm.copy_discard(copy);
    f.check(&[a]);
}

#[test]
fn an_aligned_overwrite_is_virtual_and_keeps_the_destinations_attributes() {
    let mut f = Fixture::new(256);
    let a = f.map();
    let src = filled(&mut f, a, 8, 1);
    let dst = filled(&mut f, a, 8, 100);
    let (s, e) = pages_from(dst, 8);
    f.vm.inherit(a, s, e, Inherit::None).unwrap();
    let copy = f.vm.copyin(a, src, 8 * PAGE_SIZE, KEEP).unwrap();
    let copied = f.vm.counters();
    f.vm.copy_overwrite(a, dst, copy).unwrap();
    assert_eq!(f.vm.counters().pages_copied, copied.pages_copied);
    assert_eq!(f.vm.counters().cow_faults, copied.cow_faults, "no page moved");
    assert_eq!(bytes(&mut f, a, dst + 2 * PAGE_SIZE, 1), [3]);
    assert_eq!(f.vm.region(a, dst).unwrap().inheritance, Inherit::None, "the destination keeps its attributes");
    f.write(a, src + 2 * PAGE_SIZE, 0xee).unwrap();
    assert_eq!(bytes(&mut f, a, dst + 2 * PAGE_SIZE, 1), [3], "the destination is a snapshot");
    f.check(&[a]);
}

/// XNU "Landa" (CVE-2023-41974) and "MacDirtyCow" (CVE-2022-46689): the destination turns
/// read-only, or is a read-only copy-on-write mapping, between the copyin and the overwrite.
/// The write must never land in memory that is read-only at the time of the write.
#[test]
fn an_overwrite_never_lands_in_memory_made_read_only_meanwhile() {
    let mut f = Fixture::new(256);
    let (a, other) = (f.map(), f.map());
    let src = filled(&mut f, a, 4, 1);
    let dst = filled(&mut f, other, 4, 100);
    let copy = f.vm.copyin(a, src, 4 * PAGE_SIZE, KEEP).unwrap();
    // The "second task" flips the destination to read-only between the two calls.
    let (s, e) = pages_from(dst, 4);
    f.vm.protect(other, s, e, ProtectTarget::Current, Prot::READ).unwrap();
    assert_eq!(f.vm.copy_overwrite(other, dst, copy), Err(VmError::ProtectionFailure));
    assert_eq!(bytes(&mut f, other, dst, 1), [100]);
    // A read-only copy-on-write mapping of a frozen object (a program's text).
    let text = f.vm.new_frozen_entry(4, 0, &[42; 100], Prot::READ | Prot::EXECUTE).unwrap();
    let rx = NewMemory { protection: Prot::READ | Prot::EXECUTE, max_protection: Prot::READ | Prot::EXECUTE, inheritance: Inherit::Copy };
    let t = f.vm.map_named(other, ANY, 4, text, 0, machvm::MapMode::Copy, rx).unwrap().addr();
    assert_eq!(f.vm.copy_overwrite(other, t, copy), Err(VmError::ProtectionFailure));
    let shared = f.vm.map_named(a, ANY, 4, text, 0, machvm::MapMode::Shared, rx).unwrap().addr();
    assert_eq!(bytes(&mut f, a, shared, 1), [42], "the frozen object was never written");
    f.vm.copy_discard(copy);
    f.vm.release_named(text);
    f.check(&[a, other]);
}

/// The destination gets wired between the copyin and the overwrite: the overwrite writes
/// the wired pages in place (they keep their frames and never fault).
#[test]
fn an_overwrite_of_wired_memory_writes_it_in_place() {
    let mut f = Fixture::new(256);
    let a = f.map();
    let src = filled(&mut f, a, 4, 1);
    let dst = filled(&mut f, a, 4, 100);
    let copy = f.vm.copyin(a, src, 4 * PAGE_SIZE, KEEP).unwrap();
    let (s, e) = pages_from(dst, 4);
    f.vm.wire(a, s, e, Prot::DEFAULT).unwrap();
    let frame = machvm::pmap::Pmap::extract(&*f.vm.pmap(), f.vm.space(a), dst).unwrap().frame;
    f.vm.copy_overwrite(a, dst, copy).unwrap();
    let after = machvm::pmap::Pmap::extract(&*f.vm.pmap(), f.vm.space(a), dst).unwrap();
    assert_eq!((after.frame, after.wiring), (frame, machvm::pmap::Wiring::Wired), "same wired frame");
    assert_eq!(bytes(&mut f, a, dst + PAGE_SIZE, 1), [2]);
    f.check(&[a]);
}

/// CVE-2025-43510: an overwrite whose destination is shared must write the shared memory,
/// not attach the destination to the source's object.
#[test]
fn an_overwrite_of_shared_memory_writes_what_the_sharers_see() {
    let mut f = Fixture::new(256);
    let a = f.map();
    let src = filled(&mut f, a, 4, 1);
    let dst = filled(&mut f, a, 4, 100);
    let (s, e) = pages_from(dst, 4);
    f.vm.inherit(a, s, e, Inherit::Share).unwrap();
    let sharer = f.vm.fork(a).unwrap();
    let copy = f.vm.copyin(a, src, 4 * PAGE_SIZE, KEEP).unwrap();
    f.vm.copy_overwrite(a, dst, copy).unwrap();
    assert_eq!(bytes(&mut f, sharer, dst + PAGE_SIZE, 1), [2], "the sharer sees the new contents");
    f.write(a, src + PAGE_SIZE, 0x55).unwrap();
    assert_eq!(bytes(&mut f, sharer, dst + PAGE_SIZE, 1), [2], "not attached to the source");
    f.write(sharer, dst, 0x66).unwrap();
    assert_eq!(bytes(&mut f, a, dst, 1), [0x66], "still shared");
    assert_eq!(bytes(&mut f, a, src, 1), [1]);
    f.check(&[a, sharer]);
}

/// XNU "Smith" (CVE-2023-32434): lengths that wrap never pass the checks.
#[test]
fn overflowing_lengths_are_refused() {
    let mut f = Fixture::new(64);
    let a = f.map();
    let src = filled(&mut f, a, 1, 1);
    assert_eq!(f.vm.copyin(a, src, u64::MAX, KEEP), Err(VmError::InvalidAddress));
    assert_eq!(f.vm.copyin(a, u64::MAX - PAGE_SIZE + 2, PAGE_SIZE - 2, KEEP), Err(VmError::InvalidAddress), "rounds up past 2^64");
    assert_eq!(f.vm.copyin(a, src, 0, KEEP).map(|c| f.vm.copy_size(c)), Ok(Some(0)), "an empty copy");
    f.check(&[a]);
}

fn round_trip(f: &mut Fixture, a: MapId, src: u64, len: u64) -> CopyId {
    f.vm.copyin(a, src, len, KEEP).unwrap()
}

#[test]
fn ten_thousand_copy_then_discard_rounds_leak_nothing() {
    let mut f = Fixture::new(256);
    let a = f.map();
    let src = filled(&mut f, a, 8, 1);
    let (objects, resident, free) = (f.vm.object_count(), f.vm.resident_pages(), f.vm.frame_accounts().free);
    for round in 0..10_000u64 {
        let len = if round % 2 == 0 { 8 * PAGE_SIZE } else { 100 };
        let copy = round_trip(&mut f, a, src, len);
        if round % 3 == 0 {
            f.write(a, src, round as u8).unwrap();
        }
        f.vm.copy_discard(copy);
    }
    assert_eq!((f.vm.object_count(), f.vm.resident_pages(), f.vm.frame_accounts().free), (objects, resident, free));
    f.check(&[a]);
}

#[test]
fn remap_shares_or_copies() {
    let mut f = Fixture::new(256);
    let (a, b) = (f.map(), f.map());
    let src = filled(&mut f, a, 4, 1);
    let (s, e) = pages_from(src, 4);
    let shared = f.vm.remap(b, ANY, a, s, e, RemapMode::Shared, Inherit::Share).unwrap();
    let copied = f.vm.remap(b, ANY, a, s, e, RemapMode::Copy, Inherit::Copy).unwrap();
    assert_eq!((shared.protection, shared.max_protection), (Prot::DEFAULT, Prot::ALL));
    f.write(a, src + PAGE_SIZE, 0x77).unwrap();
    assert_eq!(bytes(&mut f, b, shared.start.addr() + PAGE_SIZE, 1), [0x77], "shared both ways");
    assert_eq!(bytes(&mut f, b, copied.start.addr() + PAGE_SIZE, 1), [2], "a snapshot");
    f.write(b, shared.start.addr(), 0x78).unwrap();
    assert_eq!(bytes(&mut f, a, src, 1), [0x78]);
    assert_eq!(f.vm.remap(b, ANY, a, page(src + 8 * PAGE_SIZE), page(src + 9 * PAGE_SIZE), RemapMode::Shared, Inherit::Copy), Err(VmError::InvalidAddress));
    f.check(&[a, b]);
}

#[test]
fn a_large_unaligned_copy_is_virtual_and_keeps_its_offset() {
    let mut f = Fixture::new(256);
    let (a, b) = (f.map(), f.map());
    let src = filled(&mut f, a, 8, 1);
    let copied = f.vm.counters();
    let copy = f.vm.copyin(a, src + 10, 5 * PAGE_SIZE, KEEP).unwrap();
    let dst = f.vm.copyout(b, copy, ANY).unwrap();
    assert_eq!(f.vm.counters().pages_copied, copied.pages_copied, "virtual");
    assert_eq!(dst % PAGE_SIZE, 10);
    assert_eq!(bytes(&mut f, b, dst + PAGE_SIZE - 10, 1), [2]);
    let back = f.vm.copyin(b, dst, 5 * PAGE_SIZE, KEEP).unwrap();
    let target = filled(&mut f, a, 8, 100);
    f.vm.copy_overwrite(a, target + 3, back).unwrap();
    assert_eq!(bytes(&mut f, a, target + 3 + PAGE_SIZE - 10, 1), [2], "overwrite of an unaligned entry-list copy");
    assert_eq!(bytes(&mut f, a, target + 2, 1), [0], "the byte before is untouched (page 0 held 100 at byte 0 only)");
    assert_eq!(bytes(&mut f, a, target, 1), [100]);
    f.check(&[a, b]);
}

/// A `vm_copy` whose target fails after the source could have been clipped for the copy
/// changes nothing: every check comes before the copy is taken.
#[test]
fn a_failed_copy_between_clips_nothing() {
    let mut f = Fixture::new(512);
    let map = f.map();
    let a = filled(&mut f, map, 32, 1);
    let entries = f.vm.map(map).entries().count();
    let unmapped = 0x7100_0000_0000;
    assert_eq!(f.vm.copy_between(map, a + 0x503, 0xd000, map, unmapped), Err(VmError::InvalidAddress));
    let read_only = filled(&mut f, map, 16, 2);
    f.vm.protect(map, page(read_only + 4 * PAGE_SIZE), page(read_only + 5 * PAGE_SIZE), ProtectTarget::Current, Prot::READ).expect("mapped");
    let entries_now = f.vm.map(map).entries().count();
    assert_eq!(f.vm.copy_between(map, a + 0x200, 0xa000, map, read_only + 0x93), Err(VmError::ProtectionFailure));
    assert_eq!(f.vm.map(map).entries().count(), entries_now, "no entry clipped");
    assert!(entries_now <= entries + 3);
    assert!(f.vm.map(map).entries().all(|e| !e.needs_copy), "the source was not marked for a copy");
    f.vm.check_invariants();
}

/// A `vm_read` whose placement fails changes nothing either.
#[test]
fn a_failed_read_into_clips_nothing() {
    let mut f = Fixture::new(512);
    let (source, target) = (f.map(), f.map());
    let a = filled(&mut f, source, 32, 1);
    let entries = f.vm.map(source).entries().count();
    for i in 0..3 {
        f.vm.allocate(target, Placement::Fixed(page(0x10_0000 + 2 * i * PAGE_SIZE)), 1, NewMemory::DEFAULT).expect("room");
    }
    // The source may clip to 3 entries; the target, at 3 already, has no room for a piece.
    f.vm.set_entry_limit(3);
    assert_eq!(f.vm.read_into(source, a + PAGE_SIZE, 8 * PAGE_SIZE, target), Err(VmError::EntryLimit));
    assert_eq!(f.vm.map(source).entries().count(), entries, "no entry clipped");
    assert!(f.vm.map(source).entries().all(|e| !e.needs_copy));
    f.vm.set_entry_limit(1 << 16);
    let at = f.vm.read_into(source, a + PAGE_SIZE, 8 * PAGE_SIZE, target).expect("room now");
    assert_eq!(bytes(&mut f, target, at, 8), bytes(&mut f, source, a + PAGE_SIZE, 8));
    f.vm.check_invariants();
}
