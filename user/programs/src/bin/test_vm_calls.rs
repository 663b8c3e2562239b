//! User-mode tests of the VM calls: the spec's range table and the errors of each call, with
//! garbage pointers and handles.

#![no_std]
#![no_main]

use mach::*;

#[path = "../common.rs"]
mod common;
use common::*;

mach::entry!(main);

const PAGE: u64 = 4096;
const USER_MAX: u64 = 0x0000_7fff_ffff_f000;
/// A kernel address: never a valid user pointer.
const KERNEL_PTR: u64 = 0xffff_8000_0000_0000;

fn main() -> i32 {
    mach::test::run(&mach::tests![
        allocate_anywhere_and_fixed,
        allocate_checks_values_before_sizes,
        allocate_size_zero,
        allocate_overflow_and_bounds,
        allocate_fixed_overlap_is_no_space,
        bad_pointers_give_invalid_address_and_change_nothing,
        bad_task_handles,
        deallocate_ignores_holes,
        deallocate_range_rules,
        protect_all_or_nothing,
        protect_maximum_only_shrinks,
        inherit_and_behavior_values,
        region_reports_and_finds_next,
        wire_checks_host_and_access,
        wire_stacks_and_unwire_needs_wiring,
        msync_checks_flags,
        unaligned_ranges_cover_every_page,
        memory_is_zero_filled,
        hurd_allocate_errors,
        hurd_allocate_map_now_makes_pages_resident,
        hurd_map_now_without_memory_changes_nothing,
        hurd_deallocate_errors_and_partial_ranges,
        every_range_call_follows_the_range_table,
        hurd_allocate_with_a_garbage_pointer,
    ])
}


fn alloc(pages: u64) -> u64 {
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, pages * PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    a
}

fn region(address: u64) -> Option<(u64, u64, VmRegionInfo)> {
    let (mut a, mut size, mut info) = (address, 0, VmRegionInfo::default());
    (vm_region(me(), &mut a, &mut size, &mut info) == KERN_SUCCESS).then_some((a, size, info))
}

fn allocate_anywhere_and_fixed() {
    let a = alloc(2);
    assert_eq!(a % PAGE, 0);
    let (start, size, info) = region(a).expect("a region");
    assert!(start <= a && a + 2 * PAGE <= start + size);
    assert_eq!((info.protection, info.max_protection, info.inheritance), (VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_COPY));
    let mut fixed = 0x3000_0000;
    assert_eq!(vm_allocate(me(), &mut fixed, 3 * PAGE, VM_FLAGS_FIXED), KERN_SUCCESS);
    assert_eq!(fixed, 0x3000_0000);
    assert_eq!(vm_deallocate(me(), fixed, 3 * PAGE), KERN_SUCCESS);
    assert_eq!(vm_deallocate(me(), a, 2 * PAGE), KERN_SUCCESS);
}

fn allocate_checks_values_before_sizes() {
    let mut a = 0x1234;
    assert_eq!(vm_allocate(me(), &mut a, 0, 7), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_allocate(me(), &mut a, PAGE, -1), KERN_INVALID_ARGUMENT);
    assert_eq!(a, 0x1234, "unchanged on error");
}

fn allocate_size_zero() {
    let mut a = 0x5000;
    assert_eq!(vm_allocate(me(), &mut a, 0, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    assert_eq!(a, 0, "ANYWHERE with size 0 returns address 0");
    let mut f = 0x5000;
    assert_eq!(vm_allocate(me(), &mut f, 0, VM_FLAGS_FIXED), KERN_SUCCESS);
    assert!(region(0x5000).is_none_or(|(s, _, _)| s > 0x5000), "nothing mapped");
}

fn allocate_overflow_and_bounds() {
    let mut a = 0x2000;
    assert_eq!(vm_allocate(me(), &mut a, u64::MAX, VM_FLAGS_FIXED), KERN_INVALID_ADDRESS);
    let mut a = 0xffff_ffff_ffff_f001;
    assert_eq!(vm_allocate(me(), &mut a, 0xffe, VM_FLAGS_FIXED), KERN_INVALID_ADDRESS, "end rounds to 0");
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, u64::MAX - 10, VM_FLAGS_ANYWHERE), KERN_INVALID_ARGUMENT);
    assert_eq!(a, 0);
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, 1 << 62, VM_FLAGS_ANYWHERE), KERN_NO_SPACE);
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, PAGE, VM_FLAGS_FIXED), KERN_INVALID_ADDRESS, "page 0");
    let mut a = USER_MAX;
    assert_eq!(vm_allocate(me(), &mut a, PAGE, VM_FLAGS_FIXED), KERN_INVALID_ADDRESS);
    let mut a = KERNEL_PTR;
    assert_eq!(vm_allocate(me(), &mut a, PAGE, VM_FLAGS_FIXED), KERN_INVALID_ADDRESS);
}

fn allocate_fixed_overlap_is_no_space() {
    let a = alloc(2);
    let mut b = a + PAGE;
    assert_eq!(vm_allocate(me(), &mut b, 2 * PAGE, VM_FLAGS_FIXED), KERN_NO_SPACE);
    assert_eq!(b, a + PAGE);
    assert_eq!(vm_deallocate(me(), a, 2 * PAGE), KERN_SUCCESS);
}

fn bad_pointers_give_invalid_address_and_change_nothing() {
    for bad in [0, 8, KERNEL_PTR, u64::MAX - 3, USER_MAX - 4] {
        assert_eq!(raw_allocate(bad), KERN_INVALID_ADDRESS, "vm_allocate address pointer {bad:#x}");
        assert_eq!(console_write_raw(bad, 16), KERN_INVALID_ADDRESS, "console_write {bad:#x}");
    }
    let before = region(0).map(|r| r.0);
    let a = alloc(1);
    assert_eq!(vm_protect(me(), a, PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
    assert_eq!(raw_allocate(a), KERN_INVALID_ADDRESS, "a read-only out-parameter");
    assert_eq!(vm_deallocate(me(), a, PAGE), KERN_SUCCESS);
    assert_eq!(region(0).map(|r| r.0), before, "no memory left behind");
}

/// `vm_allocate` ANYWHERE with the address out-parameter at a raw address.
fn raw_allocate(address_ptr: u64) -> kern_return_t {
    let args = [u64::from(me()), address_ptr, PAGE, VM_FLAGS_ANYWHERE as u64, 0, 0];
    // SAFETY: the pointer is deliberately bad or read-only; the kernel checks it and this
    // task's own memory is not written through it.
    unsafe { mach::raw::syscall(mach::raw::Sysno::VmAllocate, args) as kern_return_t }
}

fn console_write_raw(ptr: u64, len: u64) -> kern_return_t {
    // SAFETY: the kernel only reads through the pointer, checking it.
    unsafe { mach::raw::syscall(mach::raw::Sysno::ConsoleWrite, [ptr, len, 0, 0, 0, 0]) as kern_return_t }
}

fn bad_task_handles() {
    let mut a = 0;
    for task in [0, 77, u32::MAX, mach_host_priv()] {
        assert_eq!(vm_allocate(task, &mut a, PAGE, VM_FLAGS_ANYWHERE), KERN_INVALID_TASK);
        assert_eq!(vm_deallocate(task, 0x1000, PAGE), KERN_INVALID_TASK);
        assert_eq!(vm_protect(task, 0x1000, PAGE, FALSE, VM_PROT_READ), KERN_INVALID_TASK);
    }
}

fn deallocate_ignores_holes() {
    let a = alloc(3);
    assert_eq!(vm_deallocate(me(), a + PAGE, PAGE), KERN_SUCCESS);
    assert_eq!(vm_deallocate(me(), a, 3 * PAGE), KERN_SUCCESS, "holes are ignored");
    assert_eq!(vm_deallocate(me(), 0x7000_0000_0000, 16 * PAGE), KERN_SUCCESS, "unmapped range");
}

fn deallocate_range_rules() {
    assert_eq!(vm_deallocate(me(), KERNEL_PTR, 0), KERN_SUCCESS, "size 0");
    assert_eq!(vm_deallocate(me(), 0x2000, u64::MAX), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_deallocate(me(), 0, PAGE), KERN_INVALID_ADDRESS);
    assert_eq!(vm_deallocate(me(), USER_MAX - PAGE, 2 * PAGE), KERN_INVALID_ADDRESS);
}

fn protect_all_or_nothing() {
    let a = alloc(2);
    assert_eq!(vm_deallocate(me(), a + PAGE, PAGE), KERN_SUCCESS);
    assert_eq!(vm_protect(me(), a, 2 * PAGE, FALSE, VM_PROT_READ), KERN_INVALID_ADDRESS, "a hole");
    assert_eq!(region(a).unwrap().2.protection, VM_PROT_DEFAULT, "nothing changed");
    assert_eq!(vm_protect(me(), a, PAGE, FALSE, 8), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_protect(me(), a, 0, FALSE, 8), KERN_INVALID_ARGUMENT, "values before sizes");
    assert_eq!(vm_deallocate(me(), a, PAGE), KERN_SUCCESS);
}

fn protect_maximum_only_shrinks() {
    let a = alloc(1);
    assert_eq!(vm_protect(me(), a, PAGE, TRUE, VM_PROT_READ), KERN_SUCCESS);
    let info = region(a).unwrap().2;
    assert_eq!((info.protection, info.max_protection), (VM_PROT_READ, VM_PROT_READ));
    assert_eq!(vm_protect(me(), a, PAGE, TRUE, VM_PROT_ALL), KERN_PROTECTION_FAILURE);
    assert_eq!(vm_protect(me(), a, PAGE, FALSE, VM_PROT_DEFAULT), KERN_PROTECTION_FAILURE);
    assert_eq!(vm_deallocate(me(), a, PAGE), KERN_SUCCESS);
}

fn inherit_and_behavior_values() {
    let a = alloc(1);
    assert_eq!(vm_inherit(me(), a, PAGE, 3), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_inherit(me(), a, PAGE, VM_INHERIT_NONE), KERN_SUCCESS);
    assert_eq!(region(a).unwrap().2.inheritance, VM_INHERIT_NONE);
    assert_eq!(vm_behavior_set(me(), a, PAGE, 3), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_behavior_set(me(), a, PAGE, VM_BEHAVIOR_SEQUENTIAL), KERN_SUCCESS);
    assert_eq!(region(a).unwrap().2.behavior, VM_BEHAVIOR_SEQUENTIAL);
    assert_eq!(vm_deallocate(me(), a, PAGE), KERN_SUCCESS);
    assert_eq!(vm_inherit(me(), a, PAGE, VM_INHERIT_SHARE), KERN_INVALID_ADDRESS);
}

fn region_reports_and_finds_next() {
    let mut a = 0x4000_0000;
    assert_eq!(vm_allocate(me(), &mut a, PAGE, VM_FLAGS_FIXED), KERN_SUCCESS);
    let (start, size, _) = region(0x3fff_0000).expect("the next region");
    assert_eq!((start, size), (0x4000_0000, PAGE));
    assert_eq!(vm_deallocate(me(), a, PAGE), KERN_SUCCESS);
    let (mut top, mut size, mut info) = (USER_MAX, 0, VmRegionInfo::default());
    assert_eq!(vm_region(me(), &mut top, &mut size, &mut info), KERN_NO_SPACE);
}

fn wire_checks_host_and_access() {
    let a = alloc(2);
    assert_eq!(vm_wire(me(), me(), a, PAGE, VM_PROT_READ), KERN_INVALID_HOST);
    assert_eq!(vm_wire(mach_host_priv(), 77, a, PAGE, VM_PROT_READ), KERN_INVALID_TASK);
    assert_eq!(vm_wire(mach_host_priv(), me(), a, PAGE, 8), KERN_INVALID_VALUE);
    assert_eq!(vm_protect(me(), a + PAGE, PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
    assert_eq!(vm_wire(mach_host_priv(), me(), a, 2 * PAGE, VM_PROT_WRITE), KERN_FAILURE, "not writable");
    assert_eq!(region(a).unwrap().2.user_wired_count, 0, "nothing wired");
    assert_eq!(vm_deallocate(me(), a + PAGE, PAGE), KERN_SUCCESS);
    assert_eq!(vm_wire(mach_host_priv(), me(), a, 2 * PAGE, VM_PROT_READ), KERN_FAILURE, "a hole");
    assert_eq!(vm_deallocate(me(), a, PAGE), KERN_SUCCESS);
}

fn wire_stacks_and_unwire_needs_wiring() {
    let a = alloc(1);
    let host = mach_host_priv();
    assert_eq!(vm_wire(host, me(), a, PAGE, VM_PROT_NONE), KERN_INVALID_ARGUMENT, "not wired");
    assert_eq!(vm_wire(host, me(), a, PAGE, VM_PROT_DEFAULT), KERN_SUCCESS);
    assert_eq!(vm_wire(host, me(), a, PAGE, VM_PROT_READ), KERN_SUCCESS);
    assert_eq!(region(a).unwrap().2.user_wired_count, 2);
    assert_eq!(vm_wire(host, me(), a, PAGE, VM_PROT_NONE), KERN_SUCCESS);
    assert_eq!(vm_wire(host, me(), a, PAGE, VM_PROT_NONE), KERN_SUCCESS);
    assert_eq!(vm_wire(host, me(), a, PAGE, VM_PROT_NONE), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_deallocate(me(), a, PAGE), KERN_SUCCESS);
}

fn msync_checks_flags() {
    let a = alloc(1);
    assert_eq!(vm_msync(me(), a, PAGE, VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
    assert_eq!(vm_msync(me(), a, PAGE, VM_SYNC_SYNCHRONOUS | VM_SYNC_ASYNCHRONOUS), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_msync(me(), a, PAGE, 0x100), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_deallocate(me(), a, PAGE), KERN_SUCCESS);
    assert_eq!(vm_msync(me(), a, PAGE, VM_SYNC_SYNCHRONOUS), KERN_INVALID_ADDRESS);
}

fn unaligned_ranges_cover_every_page() {
    let a = alloc(3);
    assert_eq!(vm_protect(me(), a + PAGE - 1, 2, FALSE, VM_PROT_READ), KERN_SUCCESS);
    assert_eq!(region(a).unwrap().1, 2 * PAGE, "both touched pages changed");
    assert_eq!(region(a).unwrap().2.protection, VM_PROT_READ);
    assert_eq!(vm_deallocate(me(), a + 1, 1), KERN_SUCCESS);
    assert_eq!(region(a).unwrap().0, a + PAGE, "the touched page is gone");
    assert_eq!(vm_deallocate(me(), a, 3 * PAGE), KERN_SUCCESS);
}

fn memory_is_zero_filled() {
    let a = alloc(4);
    let p = a as *mut u64;
    for i in 0..(4 * PAGE / 8) as usize {
        // SAFETY: 4 pages at `a` were just allocated read-write.
        assert_eq!(unsafe { p.add(i).read() }, 0);
    }
    // SAFETY: as above.
    unsafe { p.write(0xfeed) };
    // SAFETY: as above.
    assert_eq!(unsafe { p.read() }, 0xfeed);
    assert_eq!(vm_deallocate(me(), a, 4 * PAGE), KERN_SUCCESS);
}

fn hurd_allocate_errors() {
    let mut a = 0x6000_0000;
    assert_eq!(hurd_vm_allocate(&mut a, PAGE + 1, VM_HERE, false), EINVAL, "size not a page multiple");
    assert_eq!(hurd_vm_allocate(&mut a, PAGE, 0x80, false), EINVAL, "unknown flag");
    let mut unaligned = 0x6000_0010;
    assert_eq!(hurd_vm_allocate(&mut unaligned, PAGE, VM_HERE, false), EINVAL);
    let mut zero = 0;
    assert_eq!(hurd_vm_allocate(&mut zero, PAGE, VM_HERE, false), EINVAL, "page 0");
    let mut high = USER_MAX;
    assert_eq!(hurd_vm_allocate(&mut high, PAGE, VM_HERE, false), EINVAL);
    assert_eq!(hurd_vm_allocate(&mut a, 2 * PAGE, VM_HERE | VM_ZEROFILL, false), 0);
    assert_eq!(a, 0x6000_0000);
    let mut b = a + PAGE;
    assert_eq!(hurd_vm_allocate(&mut b, PAGE, VM_HERE, false), EEXIST, "in use");
    let mut huge = 0;
    assert_eq!(hurd_vm_allocate(&mut huge, 1 << 47, 0, false), ENOSPC);
    assert_eq!(hurd_vm_deallocate(a, 2 * PAGE), 0);
}

fn resident() -> u64 {
    let mut info = TaskBasicInfo::default();
    assert_eq!(task_info(me(), &mut info), KERN_SUCCESS);
    info.resident_count
}

fn hurd_allocate_map_now_makes_pages_resident() {
    let before = resident();
    let mut a = 0;
    assert_eq!(hurd_vm_allocate(&mut a, 16 * PAGE, VM_ZEROFILL, true), 0);
    assert_eq!(resident(), before + 16, "every page mapped before the call returned");
    let mut info = TaskBasicInfo::default();
    assert_eq!(task_info(me(), &mut info), KERN_SUCCESS);
    let faults = info.faults;
    for page in 0..16 {
        // SAFETY: the 16 pages were just allocated read-write.
        assert_eq!(unsafe { ((a + page * PAGE) as *const u64).read_volatile() }, 0);
    }
    assert_eq!(task_info(me(), &mut info), KERN_SUCCESS);
    assert_eq!(info.faults, faults, "no fault on pages mapped at once");
    assert_eq!(hurd_vm_deallocate(a, 16 * PAGE), 0);
}

fn hurd_map_now_without_memory_changes_nothing() {
    let first = region(0).map(|r| r.0);
    let mut a = 0;
    assert_eq!(hurd_vm_allocate(&mut a, 8 << 30, 0, true), ENOMEM, "8 GiB on a smaller machine");
    assert_eq!(a, 0, "unchanged");
    assert_eq!(region(0).map(|r| r.0), first, "nothing mapped");
}

fn hurd_deallocate_errors_and_partial_ranges() {
    let mut a = 0;
    assert_eq!(hurd_vm_allocate(&mut a, 4 * PAGE, 0, false), 0);
    assert_eq!(hurd_vm_deallocate(a + 1, PAGE), EINVAL, "unaligned address");
    assert_eq!(hurd_vm_deallocate(a, PAGE + 1), EINVAL, "size not a page multiple");
    assert_eq!(hurd_vm_deallocate(0, PAGE), EINVAL);
    assert_eq!(hurd_vm_deallocate(a + PAGE, PAGE), 0, "part of a region");
    assert_eq!(hurd_vm_deallocate(a, 4 * PAGE), 0, "holes are ignored");
    assert!(region(a).is_none_or(|(s, _, _)| s >= a + 4 * PAGE));
}

/// One range call with the range under test (values valid, the range the only variable).
type RangeCall = (&'static str, fn(u64, u64) -> kern_return_t);

fn range_calls() -> [RangeCall; 8] {
    [
        ("vm_deallocate", |a, s| vm_deallocate(me(), a, s)),
        ("vm_protect", |a, s| vm_protect(me(), a, s, FALSE, VM_PROT_READ)),
        ("vm_inherit", |a, s| vm_inherit(me(), a, s, VM_INHERIT_SHARE)),
        ("vm_behavior_set", |a, s| vm_behavior_set(me(), a, s, VM_BEHAVIOR_RANDOM)),
        ("vm_msync", |a, s| vm_msync(me(), a, s, VM_SYNC_SYNCHRONOUS)),
        ("vm_wire", |a, s| vm_wire(mach_host_priv(), me(), a, s, VM_PROT_READ)),
        ("vm_unwire", |a, s| vm_wire(mach_host_priv(), me(), a, s, VM_PROT_NONE)),
        ("vm_machine_attribute", |a, s| vm_machine_attribute(me(), a, s, MATTR_CACHE, &mut { MATTR_VAL_CACHE_FLUSH })),
    ]
}

/// The spec's range table, row by row, for every call that takes an address and a size.
fn every_range_call_follows_the_range_table() {
    for (name, call) in range_calls() {
        assert_eq!(call(KERNEL_PTR, 0), KERN_SUCCESS, "{name}: size 0 succeeds and changes nothing");
        assert_eq!(call(0x2000, u64::MAX), KERN_INVALID_ARGUMENT, "{name}: start + size overflows");
        assert_eq!(call(0xffff_ffff_ffff_f001, 0xffe), KERN_INVALID_ARGUMENT, "{name}: the rounded end wraps to 0");
        assert_eq!(call(0, PAGE), KERN_INVALID_ADDRESS, "{name}: page 0 is outside the map");
        assert_eq!(call(USER_MAX - PAGE, PAGE + 1), KERN_INVALID_ADDRESS, "{name}: past the top of the map");
    }
    // Unaligned starts are truncated and ends rounded up: every touched page is affected.
    let a = alloc(2);
    assert_eq!(vm_wire(mach_host_priv(), me(), a + PAGE - 1, 2, VM_PROT_READ), KERN_SUCCESS);
    assert_eq!(region(a).unwrap().2.user_wired_count, 1);
    assert_eq!(region(a).unwrap().1, 2 * PAGE, "both pages wired, one region");
    assert_eq!(vm_wire(mach_host_priv(), me(), a + 5, 2 * PAGE - 10, VM_PROT_NONE), KERN_SUCCESS);
    assert_eq!(vm_inherit(me(), a + PAGE + 1, 1, VM_INHERIT_NONE), KERN_SUCCESS);
    assert_eq!(region(a + PAGE).unwrap().2.inheritance, VM_INHERIT_NONE);
    assert_eq!(region(a).unwrap().1, PAGE, "only the touched page changed");
    assert_eq!(vm_deallocate(me(), a, 2 * PAGE), KERN_SUCCESS);
    // Holes: KERN_INVALID_ADDRESS for calls on existing memory (vm_wire: KERN_FAILURE; unwire:
    // KERN_INVALID_ARGUMENT, not wired; vm_machine_attribute: KERN_INVALID_ARGUMENT, "not a
    // valid address range in task", seed 003), success for vm_deallocate.
    let b = alloc(3);
    assert_eq!(vm_deallocate(me(), b + PAGE, PAGE), KERN_SUCCESS);
    for (name, call) in range_calls() {
        let expected = match name {
            "vm_deallocate" => continue,
            "vm_wire" => KERN_FAILURE,
            "vm_unwire" | "vm_machine_attribute" => KERN_INVALID_ARGUMENT,
            _ => KERN_INVALID_ADDRESS,
        };
        assert_eq!(call(b, 3 * PAGE), expected, "{name}: a hole in the range");
    }
    assert_eq!(region(b).unwrap().2, VmRegionInfo { protection: VM_PROT_DEFAULT, max_protection: VM_PROT_ALL, inheritance: VM_INHERIT_COPY, ..VmRegionInfo::default() }, "nothing changed");
    assert_eq!(vm_deallocate(me(), b, 3 * PAGE), KERN_SUCCESS, "holes are ignored");
}

fn hurd_allocate_with_a_garbage_pointer() {
    for bad in [0u64, 8, KERNEL_PTR, u64::MAX - 3] {
        // SAFETY: the pointer is deliberately bad; the kernel checks it.
        let errno = unsafe { mach::raw::syscall(mach::raw::Sysno::HurdVmAllocate, [bad, PAGE, 0, 0, 0, 0]) } as i32;
        assert_eq!(errno, EINVAL, "address pointer {bad:#x}");
    }
}
