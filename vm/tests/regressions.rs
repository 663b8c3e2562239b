//! Regression tests for bug classes other kernels have had in this code.

mod common;

use common::{page, Fixture, MAX, MIN};
use machvm::api::{sanitize, Sanitized};
use machvm::pmap::Pmap;
use machvm::{NewMemory, Placement, Prot, VmError, PAGE_SIZE};

/// GNU Mach (2018): aligning a candidate address up with a large mask wrapped around and the
/// search returned an address below the map's minimum.
#[test]
fn an_alignment_mask_never_wraps_below_the_map() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let huge = Placement::Anywhere { mask: u64::MAX >> 1 };
    assert_eq!(f.vm.allocate(m, huge, 1, NewMemory::DEFAULT), Err(VmError::NoSpace));
    let top = Placement::Anywhere { mask: u64::MAX };
    assert_eq!(f.vm.allocate(m, top, 1, NewMemory::DEFAULT), Err(VmError::NoSpace));
    let big = Placement::Anywhere { mask: (1 << 46) - 1 };
    let at = f.vm.allocate(m, big, 1, NewMemory::DEFAULT).unwrap();
    assert_eq!(at.addr(), 1 << 46);
    assert!(f.vm.map(m).entries().all(|e| e.start >= MIN && e.end <= MAX));
    f.check(&[m]);
}

/// XNU "Smith" (CVE-2023-32434): `start + size` overflowing in a rounding step produced a
/// tiny range; every such input must be refused, and sizes near 2^64 must not wrap.
#[test]
fn sizes_near_two_to_the_sixty_four_never_wrap() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let last = page(0xffff_ffff_ffff_f000);
    assert_eq!(f.vm.allocate(m, Placement::Fixed(last), 2, NewMemory::DEFAULT), Err(VmError::InvalidAddress));
    assert_eq!(f.vm.allocate(m, Placement::Fixed(page(MIN)), u64::MAX / PAGE_SIZE, NewMemory::DEFAULT), Err(VmError::InvalidAddress));
    assert_eq!(f.vm.allocate(m, Placement::Anywhere { mask: 0 }, u64::MAX, NewMemory::DEFAULT), Err(VmError::NoSpace));
    for (address, size) in [(0x1000, u64::MAX), (u64::MAX - 0xffe, 0xfff), (0xffff_ffff_ffff_f001, 0xffe)] {
        assert!(sanitize(address, size, MIN, MAX).is_err(), "({address:#x}, {size:#x}) accepted");
    }
    assert_eq!(f.vm.map(m).entries().count(), 0);
    f.check(&[m]);
}

/// XNU "PhysPuppet" (CVE-2023-23536): an unaligned size produced an entry with an unaligned
/// end, and a translation survived deallocation.
#[test]
fn unaligned_sizes_cover_whole_pages_and_leave_nothing_behind() {
    let mut f = Fixture::new(64);
    let m = f.map();
    let Ok(Sanitized::Range(range)) = sanitize(0x10_0001, 0x1fff, MIN, MAX) else { panic!("a range") };
    assert_eq!((range.start().addr(), range.end().addr()), (0x10_0000, 0x10_2000));
    f.vm.allocate(m, Placement::Fixed(range.start()), range.len_pages(), NewMemory::DEFAULT).unwrap();
    f.write(m, 0x10_1fff, 1).unwrap();
    f.write(m, 0x10_0000, 1).unwrap();
    assert!(f.vm.map(m).entries().all(|e| e.end % PAGE_SIZE == 0));
    f.vm.deallocate(m, range.start(), range.end()).unwrap();
    let space = f.vm.space(m);
    for addr in [0x10_0000, 0x10_1000, 0x10_1fff] {
        assert!(f.vm.pmap().extract(space, addr).is_none(), "{addr:#x} still translated");
    }
    assert_eq!(f.vm.resident_pages(), 0);
    f.check(&[m]);
}

/// FreeBSD-SA-21:08: after a copy-on-write write, another mapping of the old page kept a
/// writable translation, through which the "copy" could still be changed.
#[test]
fn after_a_cow_write_no_mapping_of_the_old_page_is_writable() {
    let mut f = Fixture::new(128);
    let parent = f.map();
    let a = f.vm.allocate(parent, Placement::Anywhere { mask: 0 }, 1, NewMemory::DEFAULT).unwrap().addr();
    f.write(parent, a, 1).unwrap();
    let child = f.vm.fork(parent).unwrap();
    let sibling = f.vm.fork(parent).unwrap();
    assert_eq!(f.read(child, a), Ok(1));
    assert_eq!(f.read(sibling, a), Ok(1));
    let (ps, cs, ss) = (f.vm.space(parent), f.vm.space(child), f.vm.space(sibling));
    let old = f.vm.pmap().extract(cs, a).unwrap().frame;
    f.write(parent, a, 2).unwrap();
    let new = f.vm.pmap().extract(ps, a).unwrap();
    assert_ne!(new.frame, old);
    for space in [cs, ss] {
        let t = f.vm.pmap().extract(space, a).unwrap();
        assert_eq!(t.frame, old);
        assert!(!t.prot.contains(Prot::WRITE), "the old page is still writable somewhere");
    }
    f.write(child, a, 3).unwrap();
    assert_eq!(f.read(sibling, a), Ok(1));
    assert_eq!(f.read(parent, a), Ok(2));
    f.check(&[parent, child, sibling]);
}
