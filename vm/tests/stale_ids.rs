//! Generational ids: an id of a destroyed map, a released entry or a consumed copy names
//! nothing, even once its slot holds a newer one. Every call with it fails and changes
//! nothing; none reaches the newer value.

mod common;

use common::{pages_from, Fixture};
use machvm::{Access, FaultOutcome, Inherit, NewMemory, Placement, Prot, ProtectTarget, SourceDisposal, VmError};

const ANY: Placement = Placement::Anywhere { mask: 0 };

#[test]
fn a_destroyed_maps_id_names_nothing_though_its_slot_holds_a_new_map() {
    let mut f = Fixture::new(256);
    let old = f.map();
    f.vm.destroy_map(old).unwrap();
    let new = f.map();
    let a = f.vm.allocate(new, ANY, 2, NewMemory::DEFAULT).unwrap().addr();
    f.write(new, a, 7).unwrap();
    let (s, e) = pages_from(a, 2);
    let before = f.vm.map(new).entries().count();

    let invalid = Err(VmError::InvalidArgument);
    assert_eq!(f.vm.allocate(old, ANY, 1, NewMemory::DEFAULT).map(|_| ()), invalid);
    assert_eq!(f.vm.deallocate(old, s, e), invalid);
    assert_eq!(f.vm.protect(old, s, e, ProtectTarget::Current, Prot::NONE), invalid);
    assert_eq!(f.vm.inherit(old, s, e, Inherit::Share), invalid);
    assert_eq!(f.vm.wire(old, s, e, Prot::READ), invalid);
    assert_eq!(f.vm.region(old, a).map(|_| ()), invalid);
    assert_eq!(f.vm.fork(old).map(|_| ()), invalid);
    assert_eq!(f.vm.copyin(old, a, 4096, SourceDisposal::Keep).map(|_| ()), invalid);
    assert_eq!(f.vm.copy_between(old, a, 4096, new, a), invalid);
    assert_eq!(f.vm.copy_between(new, a, 4096, old, a), invalid);
    assert_eq!(f.vm.write_bytes(old, a, &[1]), invalid);
    assert_eq!(f.vm.fault(old, a, Access::Write), FaultOutcome::InvalidAddress);
    assert_eq!(f.vm.fault_shared(old, a, Access::Read), Some(FaultOutcome::InvalidAddress));
    assert!(f.vm.try_map(old).is_none());
    assert!(!f.vm.deallocate_splits(old, s, e));
    assert_eq!(f.vm.destroy_map(old), invalid, "destroyed once only");

    assert_eq!(f.vm.map(new).entries().count(), before, "the new map is untouched");
    assert_eq!(f.read(new, a), Ok(7));
    f.check(&[new]);
}

#[test]
fn released_entries_and_consumed_copies_name_nothing_once_their_slots_are_reused() {
    let mut f = Fixture::new(256);
    let m = f.map();
    let a = f.vm.allocate(m, ANY, 1, NewMemory::DEFAULT).unwrap().addr();
    f.write(m, a, 9).unwrap();

    let old_entry = f.vm.new_named_entry(1, Prot::DEFAULT);
    f.vm.release_named(old_entry);
    let new_entry = f.vm.new_named_entry(1, Prot::DEFAULT);
    assert_eq!(f.vm.sub_named_entry(old_entry, 0, 1, Prot::READ), Err(VmError::InvalidArgument));
    let mapped = f.vm.map_named(m, ANY, 1, old_entry, 0, machvm::MapMode::Shared, NewMemory::DEFAULT);
    assert_eq!(mapped.map(|_| ()), Err(VmError::InvalidArgument));
    f.vm.release_named(old_entry);
    assert!(f.vm.sub_named_entry(new_entry, 0, 1, Prot::READ).is_ok(), "releasing the old id left the new entry");

    let old_copy = f.vm.copyin(m, a, 1, SourceDisposal::Keep).unwrap();
    f.vm.copy_discard(old_copy);
    let new_copy = f.vm.copyin(m, a, 1, SourceDisposal::Keep).unwrap();
    assert_eq!(f.vm.copyout(m, old_copy, ANY), Err(VmError::InvalidArgument));
    assert_eq!(f.vm.copy_overwrite(m, a, old_copy), Err(VmError::InvalidArgument));
    assert_eq!(f.vm.copy_size(old_copy), None);
    f.vm.copy_discard(old_copy);
    assert_eq!(f.vm.copy_size(new_copy), Some(1), "discarding the old id left the new copy");
}
