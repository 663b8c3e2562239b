//! Unit tests of every map operation, on the simulated x86 pmap.

mod common;

use common::{page, pages_from, Fixture, MAX, MIN};
use machvm::pmap::Pmap;
use machvm::{Behavior, FaultOutcome, Inherit, NewMemory, Placement, Prot, ProtectTarget, VmError, MAX_WIRE_COUNT, PAGE_SIZE};

const ANY: Placement = Placement::Anywhere { mask: 0 };

fn entries(f: &Fixture, map: machvm::MapId) -> usize {
    f.vm.map(map).entries().count()
}

#[test]
fn allocate_anywhere_is_first_fit_from_the_bottom_and_merges() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 2, NewMemory::DEFAULT).unwrap();
    let b = f.vm.allocate(m, ANY, 3, NewMemory::DEFAULT).unwrap();
    assert_eq!(a.addr(), MIN);
    assert_eq!(b.addr(), MIN + 2 * PAGE_SIZE);
    assert_eq!(entries(&f, m), 1, "adjacent identical allocations merge");
    let r = f.vm.region(m, MIN).unwrap();
    assert_eq!((r.start, r.end), (MIN, MIN + 5 * PAGE_SIZE));
    assert_eq!((r.protection, r.max_protection, r.inheritance), (Prot::DEFAULT, Prot::ALL, Inherit::Copy));
    f.check(&[m]);
}

#[test]
fn allocate_anywhere_honours_the_mask() {
    let mut f = Fixture::new(256);
    let m = f.map();
    f.vm.allocate(m, ANY, 1, NewMemory::DEFAULT).unwrap();
    let mask = (1 << 21) - 1;
    let a = f.vm.allocate(m, Placement::Anywhere { mask }, 4, NewMemory::DEFAULT).unwrap();
    assert_eq!(a.addr() & mask, 0);
    assert_eq!(a.addr(), 1 << 21);
    f.check(&[m]);
}

#[test]
fn allocate_fixed_checks_overlap_bounds_and_size() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let (at, _) = pages_from(0x10_0000, 4);
    f.vm.allocate(m, Placement::Fixed(at), 4, NewMemory::DEFAULT).unwrap();
    let overlap = Placement::Fixed(page(0x10_3000));
    assert_eq!(f.vm.allocate(m, overlap, 2, NewMemory::DEFAULT), Err(VmError::NoSpace));
    assert_eq!(f.vm.allocate(m, Placement::Fixed(page(MAX)), 1, NewMemory::DEFAULT), Err(VmError::InvalidAddress));
    assert_eq!(f.vm.allocate(m, Placement::Fixed(page(0)), 1, NewMemory::DEFAULT), Err(VmError::InvalidAddress));
    assert_eq!(f.vm.allocate(m, ANY, 0, NewMemory::DEFAULT), Err(VmError::InvalidArgument));
    assert_eq!(entries(&f, m), 1);
    f.check(&[m]);
}

#[test]
fn allocate_reports_no_space_when_the_map_is_full() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let all = (MAX - MIN) / PAGE_SIZE;
    f.vm.allocate(m, ANY, all, NewMemory::DEFAULT).unwrap();
    assert_eq!(f.vm.allocate(m, ANY, 1, NewMemory::DEFAULT), Err(VmError::NoSpace));
    assert_eq!(f.vm.allocate(m, ANY, u64::MAX, NewMemory::DEFAULT), Err(VmError::NoSpace));
    f.check(&[m]);
}

#[test]
fn memory_is_zero_filled_and_keeps_what_is_written() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 3, NewMemory::DEFAULT).unwrap().addr();
    assert_eq!(f.read(m, a + 5), Ok(0));
    assert_eq!((f.vm.counters().zero_page_maps, f.vm.counters().zero_fill), (1, 0), "a read maps the zero page");
    f.write(m, a + 0x1003, 0xab).unwrap();
    assert_eq!(f.read(m, a + 0x1003), Ok(0xab));
    f.write(m, a + 7, 0xcd).unwrap();
    assert_eq!((f.read(m, a + 5), f.read(m, a + 7)), (Ok(0), Ok(0xcd)), "a write replaces the zero page");
    assert_eq!(f.vm.counters().zero_fill, 2);
    f.check(&[m]);
}

#[test]
fn deallocate_removes_ignores_holes_and_frees_frames() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 4, NewMemory::DEFAULT).unwrap().addr();
    for i in 0..4 {
        f.write(m, a + i * PAGE_SIZE, 1).unwrap();
    }
    let (s, e) = pages_from(a + PAGE_SIZE, 2);
    f.vm.deallocate(m, s, e).unwrap();
    assert_eq!(entries(&f, m), 2, "the entry was clipped around the hole");
    assert_eq!(f.read(m, a + PAGE_SIZE), Err(FaultOutcome::InvalidAddress));
    f.check(&[m]);
    let (s, e) = pages_from(a, 16);
    f.vm.deallocate(m, s, e).unwrap();
    assert_eq!(entries(&f, m), 0);
    assert_eq!(f.vm.resident_pages(), 0);
    f.check(&[m]);
}

#[test]
fn deallocate_outside_the_map_changes_nothing() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 1, NewMemory::DEFAULT).unwrap();
    assert_eq!(f.vm.deallocate(m, page(0), page(MIN + PAGE_SIZE)), Err(VmError::InvalidAddress));
    assert_eq!(f.vm.deallocate(m, a, page(MAX + PAGE_SIZE)), Err(VmError::InvalidAddress));
    assert_eq!(entries(&f, m), 1);
}

#[test]
fn protect_checks_everything_before_changing_anything() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 4, NewMemory::DEFAULT).unwrap().addr();
    let (s, e) = pages_from(a + PAGE_SIZE, 1);
    f.vm.protect(m, s, e, ProtectTarget::Maximum, Prot::READ).unwrap();
    assert_eq!(entries(&f, m), 3);
    let before: Vec<_> = f.vm.map(m).entries().cloned().collect();
    let (s, e) = pages_from(a, 4);
    // Some entry's maximum is below READ|WRITE: nothing at all changes.
    assert_eq!(f.vm.protect(m, s, e, ProtectTarget::Current, Prot::DEFAULT), Err(VmError::ProtectionFailure));
    // A hole: nothing changes.
    let (s2, e2) = pages_from(a, 5);
    assert_eq!(f.vm.protect(m, s2, e2, ProtectTarget::Current, Prot::READ), Err(VmError::InvalidAddress));
    // Raising a maximum fails.
    assert_eq!(f.vm.protect(m, s, e, ProtectTarget::Maximum, Prot::ALL), Err(VmError::ProtectionFailure));
    assert_eq!(f.vm.map(m).entries().cloned().collect::<Vec<_>>(), before);
    f.check(&[m]);
}

#[test]
fn protect_current_and_maximum() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 2, NewMemory::DEFAULT).unwrap().addr();
    f.write(m, a, 7).unwrap();
    let (s, e) = pages_from(a, 2);
    f.vm.protect(m, s, e, ProtectTarget::Current, Prot::READ).unwrap();
    assert_eq!(f.write(m, a, 8), Err(FaultOutcome::ProtectionFailure));
    assert_eq!(f.read(m, a), Ok(7));
    f.check(&[m]);
    f.vm.protect(m, s, e, ProtectTarget::Current, Prot::ALL).unwrap();
    f.write(m, a, 9).unwrap();
    f.vm.protect(m, s, e, ProtectTarget::Maximum, Prot::READ).unwrap();
    let r = f.vm.region(m, a).unwrap();
    assert_eq!((r.protection, r.max_protection), (Prot::READ, Prot::READ));
    assert_eq!(f.write(m, a, 1), Err(FaultOutcome::ProtectionFailure));
    f.vm.protect(m, s, e, ProtectTarget::Current, Prot::NONE).unwrap();
    assert_eq!(f.read(m, a), Err(FaultOutcome::ProtectionFailure));
    assert!(f.vm.pmap().extract(f.vm.space(m), a).is_none(), "no access: no translation");
    f.check(&[m]);
}

#[test]
fn inherit_and_behavior_are_stored_and_need_every_page_mapped() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 3, NewMemory::DEFAULT).unwrap().addr();
    let (s, e) = pages_from(a + PAGE_SIZE, 1);
    f.vm.inherit(m, s, e, Inherit::Share).unwrap();
    f.vm.set_behavior(m, s, e, Behavior::Sequential).unwrap();
    let r = f.vm.region(m, a + PAGE_SIZE).unwrap();
    assert_eq!((r.inheritance, r.behavior), (Inherit::Share, Behavior::Sequential));
    assert_eq!(entries(&f, m), 3);
    let (s, e) = pages_from(a, 4);
    assert_eq!(f.vm.inherit(m, s, e, Inherit::None), Err(VmError::InvalidAddress));
    assert_eq!(f.vm.set_behavior(m, s, e, Behavior::Random), Err(VmError::InvalidAddress));
    assert_eq!(entries(&f, m), 3);
    let (s, e) = pages_from(a + PAGE_SIZE, 1);
    f.vm.inherit(m, s, e, Inherit::Copy).unwrap();
    f.vm.set_behavior(m, s, e, Behavior::Default).unwrap();
    assert_eq!(entries(&f, m), 1, "back to identical attributes: merged");
    f.check(&[m]);
}

#[test]
fn region_finds_the_containing_or_next_region() {
    let mut f = Fixture::new(256);
    let m = f.map();
    assert_eq!(f.vm.region(m, 0), Err(VmError::NoSpace));
    let a = f.vm.allocate(m, Placement::Fixed(page(0x40_0000)), 2, NewMemory::DEFAULT).unwrap();
    assert_eq!(f.vm.region(m, 0x1000).unwrap().start, a.addr());
    assert_eq!(f.vm.region(m, a.addr() + 0x1fff).unwrap().start, a.addr());
    assert_eq!(f.vm.region(m, a.addr() + 0x2000), Err(VmError::NoSpace));
}

#[test]
fn wire_makes_pages_resident_and_stacks() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 4, NewMemory::DEFAULT).unwrap().addr();
    let (s, e) = pages_from(a, 4);
    f.vm.wire(m, s, e, Prot::DEFAULT).unwrap();
    f.vm.wire(m, s, e, Prot::READ).unwrap();
    assert_eq!(f.vm.resident_pages(), 4);
    assert_eq!(f.vm.frame_accounts().wired, 4);
    let faults = f.vm.counters().faults;
    for i in 0..4 {
        f.write(m, a + i * PAGE_SIZE, 3).unwrap();
    }
    assert_eq!(f.vm.counters().faults, faults, "wired memory takes no faults");
    f.vm.unwire(m, s, e).unwrap();
    assert_eq!(f.vm.frame_accounts().wired, 4, "still wired once");
    f.vm.unwire(m, s, e).unwrap();
    assert_eq!(f.vm.frame_accounts().wired, 0);
    assert_eq!(f.vm.unwire(m, s, e), Err(VmError::InvalidArgument));
    f.check(&[m]);
}

#[test]
fn wire_refuses_holes_protection_and_overflow_without_change() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 2, NewMemory::DEFAULT).unwrap().addr();
    let (s, e) = pages_from(a, 3);
    assert_eq!(f.vm.wire(m, s, e, Prot::READ), Err(VmError::InvalidAddress));
    let (s, e) = pages_from(a, 2);
    assert_eq!(f.vm.wire(m, s, e, Prot::EXECUTE), Err(VmError::ProtectionFailure));
    assert_eq!(f.vm.resident_pages(), 0);
    let (s1, e1) = pages_from(a, 1);
    for _ in 0..MAX_WIRE_COUNT {
        f.vm.wire(m, s1, e1, Prot::READ).unwrap();
    }
    assert_eq!(f.vm.wire(m, s, e, Prot::READ), Err(VmError::WireCountOverflow));
    assert_eq!(f.vm.region(m, a + PAGE_SIZE).unwrap().user_wired_count, 0);
    f.check(&[m]);
}

#[test]
fn wire_without_enough_memory_changes_nothing() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 100, NewMemory::DEFAULT).unwrap().addr();
    let (s, e) = pages_from(a, 100);
    let free = f.vm.frame_accounts().free;
    assert_eq!(f.vm.wire(m, s, e, Prot::DEFAULT), Err(VmError::OutOfMemory));
    assert_eq!(f.vm.frame_accounts().free, free);
    assert_eq!(f.vm.resident_pages(), 0);
    assert_eq!(entries(&f, m), 1);
    f.check(&[m]);
}

#[test]
fn faults_report_what_went_wrong() {
    let mut f = Fixture::new(40);
    let m = f.map();
    assert_eq!(f.vm.fault(m, 0x5000, machvm::Access::Read), FaultOutcome::InvalidAddress);
    let a = f.vm.allocate(m, ANY, 64, NewMemory { protection: Prot::READ, ..NewMemory::DEFAULT }).unwrap().addr();
    assert_eq!(f.vm.fault(m, a, machvm::Access::Write), FaultOutcome::ProtectionFailure);
    assert_eq!(f.vm.fault(m, a, machvm::Access::Execute), FaultOutcome::ProtectionFailure);
    let mut outcome = FaultOutcome::Resolved;
    let (s, e) = pages_from(a, 64);
    f.vm.protect(m, s, e, ProtectTarget::Current, Prot::DEFAULT).unwrap();
    for i in 0..64 {
        outcome = f.vm.fault(m, a + i * PAGE_SIZE, machvm::Access::Write);
        if outcome != FaultOutcome::Resolved {
            break;
        }
    }
    assert_eq!(outcome, FaultOutcome::OutOfMemory);
    f.check(&[m]);
}

#[test]
fn destroying_a_map_returns_every_frame() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 8, NewMemory::DEFAULT).unwrap().addr();
    for i in 0..8 {
        f.write(m, a + i * PAGE_SIZE, 1).unwrap();
    }
    f.vm.destroy_map(m).expect("a live map");
    assert_eq!(f.vm.object_count(), 0);
    assert_eq!(f.free_with_zero_page(), f.baseline);
    f.check(&[]);
}

#[test]
fn the_entry_limit_is_checked_before_any_change() {
    let mut f = Fixture::new(256);
    let m = f.map();
    f.vm.set_entry_limit(3);
    let gap = NewMemory { protection: Prot::NONE, ..NewMemory::DEFAULT };
    let a = f.vm.allocate(m, ANY, 3, NewMemory::DEFAULT).unwrap().addr();
    f.vm.allocate(m, ANY, 1, gap).unwrap();
    f.vm.allocate(m, ANY, 1, NewMemory::DEFAULT).unwrap();
    assert_eq!(entries(&f, m), 3);
    let before: Vec<_> = f.vm.map(m).entries().cloned().collect();
    let (s, e) = pages_from(a + PAGE_SIZE, 1);
    assert_eq!(f.vm.protect(m, s, e, ProtectTarget::Current, Prot::READ), Err(VmError::EntryLimit), "a split in the middle");
    assert_eq!(f.vm.deallocate(m, s, e), Err(VmError::EntryLimit));
    assert_eq!(f.vm.map(m).entries().cloned().collect::<Vec<_>>(), before, "nothing changed");
    assert_eq!(f.vm.allocate(m, ANY, 1, gap), Err(VmError::EntryLimit));
    let (s, e) = pages_from(a, 3);
    f.vm.deallocate(m, s, e).unwrap();
    f.check(&[m]);
}

/// Raising the protection upgrades the translations of pages the entry's own object holds
/// (a write then needs no fault), and only those: a page still shared copy-on-write with a
/// child, a page below in the chain and the shared zero page keep their rights and fault.
#[test]
fn raising_a_protection_upgrades_resident_private_pages_only() {
    let mut f = Fixture::new(512);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 4, NewMemory::DEFAULT).unwrap().addr();
    for p in 0..2 {
        f.write(m, a + p * PAGE_SIZE, 1).unwrap();
    }
    assert_eq!(f.read(m, a + 2 * PAGE_SIZE), Ok(0), "page 2 reads the zero page");
    let (s, e) = pages_from(a, 4);
    let writable = |f: &Fixture, addr: u64| f.vm.pmap().extract(f.vm.space(m), addr).map(|t| t.prot.contains(Prot::WRITE));
    f.vm.protect(m, s, e, ProtectTarget::Current, Prot::READ).unwrap();
    assert_eq!(writable(&f, a), Some(false));
    f.vm.protect(m, s, e, ProtectTarget::Current, Prot::DEFAULT).unwrap();
    let faults = f.vm.counters().faults;
    assert_eq!((writable(&f, a), writable(&f, a + PAGE_SIZE)), (Some(true), Some(true)), "resident private pages raised");
    assert_eq!(writable(&f, a + 2 * PAGE_SIZE), Some(false), "the zero page stays read-only");
    assert_eq!(writable(&f, a + 3 * PAGE_SIZE), None, "an unmapped page stays unmapped");
    f.write(m, a, 2).unwrap();
    assert_eq!(f.vm.counters().faults, faults, "a write to a raised page takes no fault");
    f.check(&[m]);

    // After a fork, both pages are shared copy-on-write: raising must not make them writable.
    let child = f.vm.fork(m).unwrap();
    f.vm.protect(m, s, e, ProtectTarget::Current, Prot::READ).unwrap();
    f.vm.protect(m, s, e, ProtectTarget::Current, Prot::DEFAULT).unwrap();
    assert_eq!(writable(&f, a), Some(false), "copy-on-write pages still fault");
    f.write(m, a, 3).unwrap();
    assert_eq!(f.read(child, a), Ok(2), "the child keeps its copy");
    // The parent's written page is now private; its other page is still below in the chain.
    f.vm.protect(m, s, e, ProtectTarget::Current, Prot::READ).unwrap();
    f.vm.protect(m, s, e, ProtectTarget::Current, Prot::DEFAULT).unwrap();
    assert_eq!(writable(&f, a), Some(true), "the private copy is raised");
    assert_ne!(writable(&f, a + PAGE_SIZE), Some(true), "a page below in the chain is not");
    f.write(m, a + PAGE_SIZE, 4).unwrap();
    assert_eq!(f.read(child, a + PAGE_SIZE), Ok(1), "and the child still sees its copy");
    f.check(&[m, child]);
}
