//! Device memory (`Vm::map_device`): frames the VM maps but does not own. Faults map the
//! device's frames with its caching; nothing is ever allocated, copied or freed for them;
//! fork shares them; every operation that would copy, wire, name or read them through the
//! kernel refuses and changes nothing.

mod common;

use common::{pages_from, Fixture};
use machvm::pmap::{Cache, Pmap};
use machvm::{Access, FaultOutcome, Frame, Inherit, NewMemory, Placement, Prot, ProtectTarget, SourceDisposal, VmError, PAGE_SIZE};

const ANY: Placement = Placement::Anywhere { mask: 0 };
/// Far above the simulated memory: a frame buffer's place.
const BASE: u64 = 0xfd00_0000;

fn device(f: &mut Fixture, pages: u64, cache: Cache) -> (machvm::MapId, u64) {
    let m = f.map();
    let at = f.vm.map_device(m, ANY, Frame::containing(BASE), pages, Prot::DEFAULT, cache).unwrap().addr();
    (m, at)
}

fn translation(f: &Fixture, map: machvm::MapId, addr: u64) -> Option<machvm::pmap::Translation> {
    f.vm.pmap().extract(f.vm.space(map), addr)
}

#[test]
fn faults_map_the_device_frames_with_their_caching_and_take_no_frame() {
    let mut f = Fixture::new(256);
    let free = f.vm.frame_accounts().free;
    let (m, at) = device(&mut f, 8, Cache::WriteCombining);
    for (i, access) in [(0, Access::Write), (5, Access::Read)] {
        assert_eq!(f.vm.fault(m, at + i * PAGE_SIZE, access), FaultOutcome::Resolved);
        let t = translation(&f, m, at + i * PAGE_SIZE).expect("mapped");
        assert_eq!((t.frame, t.cache), (Frame::containing(BASE + i * PAGE_SIZE), Cache::WriteCombining));
        assert!(t.prot.contains(Prot::WRITE));
    }
    assert_eq!(f.vm.fault_shared(m, at + 7 * PAGE_SIZE, Access::Write), Some(FaultOutcome::Resolved), "shared faults too");
    assert_eq!(f.vm.frame_accounts().resident, 0, "no page was made");
    f.check(&[m]);
    let tables = f.vm.frame_accounts().page_tables;
    assert_eq!(f.vm.frame_accounts().free + tables, free, "only page tables were taken");
    f.vm.destroy_map(m).unwrap();
    assert_eq!(f.vm.frame_accounts().free, free, "and given back; no device frame was freed");
}

#[test]
fn protection_changes_keep_the_caching() {
    let mut f = Fixture::new(256);
    let (m, at) = device(&mut f, 2, Cache::Uncached);
    assert_eq!(f.vm.fault(m, at, Access::Write), FaultOutcome::Resolved);
    let (s, e) = pages_from(at, 2);
    f.vm.protect(m, s, e, ProtectTarget::Current, Prot::READ).unwrap();
    let t = translation(&f, m, at).expect("still mapped, read-only");
    assert_eq!((t.prot.contains(Prot::WRITE), t.cache), (false, Cache::Uncached));
    assert_eq!(f.vm.fault(m, at, Access::Write), FaultOutcome::ProtectionFailure);
    f.vm.protect(m, s, e, ProtectTarget::Current, Prot::DEFAULT).unwrap();
    let t = translation(&f, m, at).expect("raised in place");
    assert_eq!((t.prot.contains(Prot::WRITE), t.cache), (true, Cache::Uncached));
    f.check(&[m]);
}

#[test]
fn fork_shares_device_memory() {
    let mut f = Fixture::new(256);
    let (m, at) = device(&mut f, 2, Cache::WriteCombining);
    let child = f.vm.fork(m).unwrap();
    assert_eq!(f.vm.fault(child, at + PAGE_SIZE, Access::Write), FaultOutcome::Resolved);
    let t = translation(&f, child, at + PAGE_SIZE).expect("mapped in the child");
    assert_eq!((t.frame, t.cache), (Frame::containing(BASE + PAGE_SIZE), Cache::WriteCombining));
    let (s, e) = pages_from(at, 2);
    f.vm.inherit(m, s, e, Inherit::None).unwrap();
    let second = f.vm.fork(m).unwrap();
    assert!(f.vm.map(second).lookup(at).is_none(), "not inherited");
    f.check(&[m, child, second]);
}

#[test]
fn operations_that_would_copy_wire_name_or_read_device_memory_refuse() {
    let mut f = Fixture::new(256);
    let (m, at) = device(&mut f, 2, Cache::Uncached);
    let ram = f.vm.allocate(m, ANY, 2, NewMemory::DEFAULT).unwrap().addr();
    let (s, e) = pages_from(at, 2);
    let before: Vec<_> = f.vm.map(m).entries().cloned().collect();
    let invalid = Err(VmError::InvalidArgument);
    assert_eq!(f.vm.copyin(m, at, PAGE_SIZE, SourceDisposal::Keep).map(|_| ()), invalid);
    assert_eq!(f.vm.copyin(m, at, 2 * PAGE_SIZE, SourceDisposal::Destroy).map(|_| ()), invalid);
    assert_eq!(f.vm.copy_between(m, at, PAGE_SIZE, m, ram), invalid, "as a source");
    assert_eq!(f.vm.copy_between(m, ram, PAGE_SIZE, m, at), invalid, "as a target");
    assert_eq!(f.vm.read_into(m, at, PAGE_SIZE, m).map(|_| ()), invalid);
    assert_eq!(f.vm.write_bytes(m, at, &[1]), invalid);
    assert_eq!(f.vm.read_bytes(m, at, &mut [0]), invalid);
    assert_eq!(f.vm.wire(m, s, e, Prot::READ), invalid);
    assert_eq!(f.vm.populate(m, s, e), invalid);
    assert_eq!(f.vm.make_named_entry(m, s, e, Prot::READ).map(|_| ()), invalid);
    assert_eq!(f.vm.inherit(m, s, e, Inherit::Copy), invalid);
    let remapped = f.vm.remap(m, ANY, m, s, e, machvm::RemapMode::Shared, Inherit::Share);
    assert_eq!(remapped.map(|_| ()), invalid);
    assert_eq!(f.vm.map(m).entries().cloned().collect::<Vec<_>>(), before, "nothing changed");
    f.check(&[m]);
}

#[test]
fn a_device_range_must_exist_and_hold_a_page() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let map = |f: &mut Fixture, base: u64, pages: u64| f.vm.map_device(m, ANY, Frame::containing(base), pages, Prot::READ, Cache::Uncached);
    assert_eq!(map(&mut f, BASE, 0), Err(VmError::InvalidArgument));
    assert_eq!(map(&mut f, (1 << 52) - PAGE_SIZE, 2), Err(VmError::InvalidArgument), "past 52-bit physical addresses");
    assert!(map(&mut f, (1 << 52) - PAGE_SIZE, 1).is_ok(), "the last frame");
    f.check(&[m]);
}
