//! Review tests: the entry limit and arguments a user can pass.
//!
//! Each test builds a small adversarial scenario, checks what every map reads, and ends with
//! `Fixture::check` (object invariants, map↔pmap consistency, frame accounting); tests of
//! failing calls also check that the call changed nothing (spec principle 2).

mod common;

use common::review::*;
use common::{page, pages_from, Fixture, MAX, MIN};
use machvm::{Access, FaultOutcome, Inherit, NewMemory, Page, Placement, Prot, ProtectTarget, VmError, PAGE_SIZE};

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
