//! Named entries and `map_named`: shared mappings, copies (lazy of frozen objects, at once of
//! others), rights, and reference counting.

mod common;

use common::Fixture;
use machvm::{Inherit, MapId, MapMode, NamedId, NewMemory, Placement, Prot, VmError, PAGE_SIZE};

const ANY: Placement = Placement::Anywhere { mask: 0 };

fn memory(protection: Prot, max: Prot) -> NewMemory {
    NewMemory { protection, max_protection: max, inheritance: Inherit::Copy }
}

/// Drops `named` and destroys `maps`, then checks that every object and frame is gone.
fn tear_down(mut f: Fixture, named: &[NamedId], maps: &[MapId]) {
    named.iter().for_each(|&id| f.vm.release_named(id));
    maps.iter().for_each(|&map| f.vm.destroy_map(map).expect("a live map"));
    assert_eq!((f.vm.object_count(), f.free_with_zero_page()), (0, f.baseline), "everything returned");
}

#[test]
fn shared_mappings_of_a_named_entry_see_each_others_writes() {
    let mut f = Fixture::new(256);
    let (a, b) = (f.map(), f.map());
    let id = f.vm.new_named_entry(4, Prot::DEFAULT);
    let x = f.vm.map_named(a, ANY, 4, id, 0, MapMode::Shared, memory(Prot::DEFAULT, Prot::DEFAULT)).unwrap().addr();
    let y = f.vm.map_named(b, ANY, 2, id, 2, MapMode::Shared, memory(Prot::DEFAULT, Prot::DEFAULT)).unwrap().addr();
    f.write(a, x + 2 * PAGE_SIZE, 5).unwrap();
    assert_eq!(f.read(b, y), Ok(5), "window offset 2 of the same object");
    f.write(b, y + PAGE_SIZE + 7, 6).unwrap();
    assert_eq!(f.read(a, x + 3 * PAGE_SIZE + 7), Ok(6));
    assert!(f.vm.region(a, x).unwrap().shared);
    f.check(&[a, b]);
    tear_down(f, &[id], &[a, b]);
}

#[test]
fn a_copy_of_a_writable_object_is_an_immediate_snapshot() {
    let mut f = Fixture::new(256);
    let a = f.map();
    let id = f.vm.new_named_entry(2, Prot::DEFAULT);
    let x = f.vm.map_named(a, ANY, 2, id, 0, MapMode::Shared, memory(Prot::DEFAULT, Prot::DEFAULT)).unwrap().addr();
    f.write(a, x, 1).unwrap();
    let copied = f.vm.counters().pages_copied;
    let c = f.vm.map_named(a, ANY, 2, id, 0, MapMode::Copy, memory(Prot::DEFAULT, Prot::DEFAULT)).unwrap().addr();
    assert_eq!(f.vm.counters().pages_copied, copied + 1, "the one resident page is copied now");
    f.write(a, x, 2).unwrap();
    assert_eq!(f.read(a, c), Ok(1), "later writes to the source never show in the copy");
    f.write(a, c + 1, 3).unwrap();
    assert_eq!(f.read(a, x + 1), Ok(0), "writes to the copy never show in the source");
    f.check(&[a]);
    f.vm.release_named(id);
}

#[test]
fn a_copy_of_a_frozen_object_is_lazy_and_private() {
    let mut f = Fixture::new(256);
    let (a, b) = (f.map(), f.map());
    let data = [7u8; 5000];
    let id = f.vm.new_frozen_entry(3, 100, &data, Prot::READ | Prot::EXECUTE).unwrap();
    let copied = (f.vm.counters().pages_copied, f.vm.counters().cow_faults);
    let x = f.vm.map_named(a, ANY, 3, id, 0, MapMode::Copy, memory(Prot::DEFAULT, Prot::DEFAULT)).unwrap().addr();
    let y = f.vm.map_named(b, ANY, 3, id, 0, MapMode::Shared, memory(Prot::READ, Prot::READ | Prot::EXECUTE)).unwrap().addr();
    assert_eq!((f.vm.counters().pages_copied, f.vm.counters().cow_faults), copied, "nothing copied yet");
    assert_eq!((f.read(a, x + 99), f.read(a, x + 100), f.read(a, x + 5099), f.read(a, x + 5100)), (Ok(0), Ok(7), Ok(7), Ok(0)));
    f.write(a, x + 200, 9).unwrap();
    assert_eq!(f.vm.counters().cow_faults, copied.1 + 1, "the first write copies one page");
    assert_eq!(f.read(b, y + 200), Ok(7), "the frozen object is unchanged");
    f.check(&[a, b]);
    tear_down(f, &[id], &[a, b]);
}

#[test]
fn rights_windows_and_frozen_rules_are_checked() {
    let mut f = Fixture::new(256);
    let a = f.map();
    let ro = f.vm.new_named_entry(2, Prot::READ);
    let rw = memory(Prot::DEFAULT, Prot::DEFAULT);
    assert_eq!(f.vm.map_named(a, ANY, 2, ro, 0, MapMode::Shared, rw), Err(VmError::ProtectionFailure));
    assert!(f.vm.map_named(a, ANY, 2, ro, 0, MapMode::Copy, rw).is_ok(), "a private copy may be written");
    assert_eq!(f.vm.map_named(a, ANY, 3, ro, 0, MapMode::Shared, memory(Prot::READ, Prot::READ)), Err(VmError::InvalidArgument));
    assert_eq!(f.vm.map_named(a, ANY, 0, ro, 0, MapMode::Shared, memory(Prot::READ, Prot::READ)), Err(VmError::InvalidArgument));
    assert_eq!(f.vm.new_frozen_entry(1, 0, b"x", Prot::DEFAULT), Err(VmError::InvalidArgument), "frozen means not writable");
    assert_eq!(f.vm.new_frozen_entry(1, 4095, b"xy", Prot::READ), Err(VmError::InvalidArgument), "data past the end");
    assert_eq!(f.vm.sub_named_entry(ro, 1, 2, Prot::READ), Err(VmError::InvalidArgument));
    assert_eq!(f.vm.sub_named_entry(ro, 1, 1, Prot::DEFAULT), Err(VmError::ProtectionFailure));
    let sub = f.vm.sub_named_entry(ro, 1, 1, Prot::READ).unwrap();
    f.check(&[a]);
    tear_down(f, &[ro, sub], &[a]);
}

#[test]
fn a_named_entry_of_a_region_shares_what_the_task_sees() {
    let mut f = Fixture::new(256);
    let (a, b) = (f.map(), f.map());
    let x = f.vm.allocate(a, ANY, 4, NewMemory::DEFAULT).unwrap().addr();
    f.write(a, x + PAGE_SIZE, 4).unwrap();
    let child = f.vm.fork(a).unwrap();
    let (s, e) = common::pages_from(x + PAGE_SIZE, 2);
    let id = f.vm.make_named_entry(a, s, e, Prot::DEFAULT).unwrap();
    let y = f.vm.map_named(b, ANY, 2, id, 0, MapMode::Shared, memory(Prot::DEFAULT, Prot::DEFAULT)).unwrap().addr();
    assert_eq!(f.read(b, y), Ok(4));
    f.write(b, y, 5).unwrap();
    assert_eq!(f.read(a, x + PAGE_SIZE), Ok(5), "the region and the mapping share memory");
    assert_eq!(f.read(child, x + PAGE_SIZE), Ok(4), "the fork's copy keeps its snapshot");
    let all = f.vm.make_named_entry(a, s, e, Prot::ALL).expect("the region's maximum is rwx");
    f.vm.release_named(all);
    let (s2, e2) = common::pages_from(x + 3 * PAGE_SIZE, 2);
    assert_eq!(f.vm.make_named_entry(a, s2, e2, Prot::READ), Err(VmError::InvalidAddress));
    f.check(&[a, b, child]);
}
