//! User-mode tests of the copy calls: `vm_copyin`/`vm_copyout`/`vm_copy_overwrite`/
//! `vm_copy_discard`, `vm_read`, `vm_write`, `vm_copy` and `vm_remap`.

#![no_std]
#![no_main]

use mach::*;

#[path = "../common.rs"]
mod common;
use common::*;

mach::entry!(main);

const PAGE: u64 = 4096;
const MIB: u64 = 1 << 20;
const KERNEL_PTR: u64 = 0xffff_8000_0000_0000;

fn main() -> i32 {
    mach::test::run(&mach::tests![
        copies_are_snapshots_both_ways_in_both_formats,
        a_virtual_copy_moves_no_page_until_written,
        copy_handles_are_used_once,
        a_move_removes_the_source,
        copyout_without_room_keeps_the_handle,
        vm_copy_overlapping_is_as_if_through_a_temporary,
        read_and_write_another_task,
        copy_errors_follow_the_spec,
        remap_shared_and_copied,
        an_overwrite_never_lands_in_read_only_memory,
        garbage_pointers_in_copy_calls,
    ])
}


fn alloc(pages: u64) -> u64 {
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, pages * PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    a
}

fn free(a: u64, pages: u64) {
    assert_eq!(vm_deallocate(me(), a, pages * PAGE), KERN_SUCCESS);
}



/// Fills the first byte of every page of `[a, a + pages)` with `seed + page`.
fn fill(a: u64, pages: u64, seed: u8) {
    for p in 0..pages {
        poke(a + p * PAGE, seed.wrapping_add(p as u8));
    }
}

fn stats() -> VmStatistics {
    let mut s = VmStatistics::default();
    assert_eq!(vm_statistics(&mut s), KERN_SUCCESS);
    s
}

fn copyin(a: u64, size: u64) -> mach_port_t {
    let mut copy = 0;
    assert_eq!(vm_copyin(me(), a, size, FALSE, &mut copy), KERN_SUCCESS);
    copy
}

fn copies_are_snapshots_both_ways_in_both_formats() {
    let src = alloc(256);
    fill(src, 256, 1);
    for (offset, size) in [(100, 50), (0, MIB), (7, 40 * PAGE)] {
        let copy = copyin(src + offset, size);
        poke(src + offset, 0xee);
        let mut dst = 0;
        assert_eq!(vm_copyout(me(), copy, &mut dst), KERN_SUCCESS);
        assert_eq!(dst % PAGE, offset % PAGE, "the offset in the page is kept");
        assert_eq!(peek(dst), if offset == 0 { 1 } else { 0 }, "the copy predates the write");
        poke(dst, 0xdd);
        assert_eq!(peek(src + offset), 0xee, "writes to the copy never reach the source");
        free(dst - dst % PAGE, (size + offset % PAGE).div_ceil(PAGE));
        fill(src, 256, 1);
    }
    free(src, 256);
}

fn a_virtual_copy_moves_no_page_until_written() {
    let src = alloc(256);
    fill(src, 256, 1);
    let dst = alloc(256);
    fill(dst, 256, 100);
    let before = stats();
    assert_eq!(vm_copy(me(), src, MIB, dst), KERN_SUCCESS);
    let after = stats();
    assert_eq!((after.cow_faults, after.pages_copied), (before.cow_faults, before.pages_copied), "1 MiB copied without moving a page");
    assert_eq!(peek(dst + 9 * PAGE), 10);
    for p in 0..8 {
        poke(dst + p * PAGE + 1, 7);
    }
    assert_eq!(stats().cow_faults, after.cow_faults + 8, "one page copied per page written");
    assert_eq!(peek(src + 1), 0);
    free(src, 256);
    free(dst, 256);
}

fn copy_handles_are_used_once() {
    let src = alloc(1);
    let copy = copyin(src, 100);
    let mut dst = 0;
    assert_eq!(vm_copyout(me(), copy, &mut dst), KERN_SUCCESS);
    assert_eq!(vm_copyout(me(), copy, &mut dst), KERN_INVALID_ARGUMENT, "consumed");
    assert_eq!(vm_copy_overwrite(me(), src, copy), KERN_INVALID_ARGUMENT);
    let other = copyin(src, 100);
    assert_eq!(vm_copy_discard(other), KERN_SUCCESS);
    assert_eq!(vm_copy_discard(other), KERN_INVALID_ARGUMENT, "discarded");
    assert_eq!(vm_copy_discard(me()), KERN_INVALID_ARGUMENT, "not a copy");
    assert_eq!(vm_copy_discard(MACH_PORT_NULL), KERN_SUCCESS, "the null copy");
    let mut none = 5;
    assert_eq!(vm_copyin(me(), src, 0, FALSE, &mut none), KERN_SUCCESS);
    assert_eq!(none, MACH_PORT_NULL, "an empty copy is the null handle");
    free(src, 1);
    free(dst - dst % PAGE, 1);
}

fn a_move_removes_the_source() {
    let src = alloc(8);
    fill(src, 8, 40);
    let mut copy = 0;
    assert_eq!(vm_copyin(me(), src, 8 * PAGE, TRUE, &mut copy), KERN_SUCCESS);
    let (mut at, mut size, mut info) = (src, 0, VmRegionInfo::default());
    let gone = vm_region(me(), &mut at, &mut size, &mut info) != KERN_SUCCESS || at >= src + 8 * PAGE;
    assert!(gone, "the source range is unmapped");
    let mut dst = 0;
    assert_eq!(vm_copyout(me(), copy, &mut dst), KERN_SUCCESS);
    assert_eq!(peek(dst + 7 * PAGE), 47);
    free(dst, 8);
}

fn copyout_without_room_keeps_the_handle() {
    let src = alloc(256);
    let copy = copyin(src, MIB);
    // Fill the address space: the largest free ranges first, down to 1 MiB.
    let mut taken = [(0u64, 0u64); 64];
    let (mut n, mut size) = (0, 1u64 << 46);
    while size >= MIB && n < taken.len() {
        let mut a = 0;
        if vm_allocate(me(), &mut a, size, VM_FLAGS_ANYWHERE) == KERN_SUCCESS {
            taken[n] = (a, size);
            n += 1;
        } else {
            size /= 2;
        }
    }
    let mut dst = 0;
    assert_eq!(vm_copyout(me(), copy, &mut dst), KERN_NO_SPACE);
    assert_eq!(dst, 0);
    let (last, last_size) = taken[n - 1];
    assert_eq!(vm_deallocate(me(), last, last_size), KERN_SUCCESS);
    assert_eq!(vm_copyout(me(), copy, &mut dst), KERN_SUCCESS, "the handle stayed valid");
    for &(a, s) in &taken[..n - 1] {
        assert_eq!(vm_deallocate(me(), a, s), KERN_SUCCESS);
    }
    free(dst, 256);
    free(src, 256);
}

fn vm_copy_overlapping_is_as_if_through_a_temporary() {
    let a = alloc(2);
    for i in 0..100u64 {
        poke(a + i, i as u8);
    }
    assert_eq!(vm_copy(me(), a, 60, a + 10), KERN_SUCCESS);
    assert_eq!((peek(a + 10), peek(a + 69), peek(a + 9)), (0, 59, 9));
    assert_eq!(vm_copy(me(), a + 20, 30, a + 5), KERN_SUCCESS);
    assert_eq!((peek(a + 5), peek(a + 34)), (10, 39));
    free(a, 2);
}

extern "C" fn child_checks_written(a: u64) -> ! {
    let mut spins = 0u64;
    while peek(a) != 0x5a && spins < 50_000_000 {
        spins += 1;
        core::hint::spin_loop();
    }
    poke(a + 1, 0x77);
    let mut spins = 0u64;
    while peek(a + 2) != 1 && spins < 50_000_000 {
        spins += 1;
        core::hint::spin_loop();
    }
    task_exit(i32::from(peek(a)))
}

fn read_and_write_another_task() {
    let shared = alloc(1);
    let child = mach::child::spawn(child_checks_written, shared).expect("a child");
    let data = alloc(1);
    poke(data, 0x5a);
    assert_eq!(vm_write(child, shared, data, 1), KERN_SUCCESS, "into the child's copy");
    assert_eq!(peek(shared), 0, "not into the parent's");
    let mut spins = 0u64;
    let (mut got, mut count) = (0, 0);
    loop {
        assert_eq!(vm_read(child, shared, 3, &mut got, &mut count), KERN_SUCCESS);
        if peek(got + 1) == 0x77 || spins > 10_000_000 {
            break;
        }
        assert_eq!(vm_deallocate(me(), got - got % PAGE, PAGE), KERN_SUCCESS);
        spins += 1;
    }
    assert_eq!((count, peek(got), peek(got + 1)), (3, 0x5a, 0x77), "read what the child wrote");
    poke(data + 2, 1);
    assert_eq!(vm_write(child, shared + 2, data + 2, 1), KERN_SUCCESS);
    assert_eq!(mach::child::wait(child), Ok(0x5a));
    free(got - got % PAGE, 1);
    free(data, 1);
    free(shared, 1);
}

fn copy_errors_follow_the_spec() {
    let a = alloc(3);
    let mut copy = 0;
    assert_eq!(vm_copyin(me(), a, u64::MAX, FALSE, &mut copy), KERN_INVALID_ARGUMENT, "wraps");
    assert_eq!(vm_copyin(me(), 0, PAGE, FALSE, &mut copy), KERN_INVALID_ADDRESS, "outside the map");
    assert_eq!(vm_copyin(me(), 77, 0, 7, &mut copy), KERN_SUCCESS, "size 0");
    assert_eq!(vm_deallocate(me(), a + PAGE, PAGE), KERN_SUCCESS);
    assert_eq!(vm_copyin(me(), a, 3 * PAGE, FALSE, &mut copy), KERN_INVALID_ADDRESS, "a hole");
    assert_eq!(vm_copy(me(), a, 3 * PAGE, a + 10 * PAGE), KERN_INVALID_ADDRESS);
    let mut b = a + PAGE;
    assert_eq!(vm_allocate(me(), &mut b, PAGE, VM_FLAGS_FIXED), KERN_SUCCESS);
    assert_eq!(vm_protect(me(), b, PAGE, FALSE, VM_PROT_NONE), KERN_SUCCESS);
    assert_eq!(vm_copyin(me(), a, 3 * PAGE, FALSE, &mut copy), KERN_PROTECTION_FAILURE, "not readable");
    assert_eq!(vm_protect(me(), b, PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
    poke(a, 9);
    assert_eq!(vm_copy(me(), a, 10, b), KERN_PROTECTION_FAILURE, "not writable");
    assert_eq!(peek(b), 0, "nothing written");
    let mut data = 0;
    let mut count = 0;
    assert_eq!(vm_read(77, a, 10, &mut data, &mut count), KERN_INVALID_TASK);
    assert_eq!(vm_write(me(), a, 0, 10), KERN_INVALID_ADDRESS, "bad source");
    assert_eq!(vm_read(me(), a, 0, &mut data, &mut count), KERN_SUCCESS);
    assert_eq!((data, count), (0, 0));
    free(a, 3);
}

fn remap_shared_and_copied() {
    let src = alloc(4);
    fill(src, 4, 1);
    let (mut shared, mut cur, mut max) = (0, 0, 0);
    assert_eq!(vm_remap(me(), &mut shared, 4 * PAGE, 0, VM_FLAGS_ANYWHERE, me(), src, FALSE, &mut cur, &mut max, VM_INHERIT_SHARE), KERN_SUCCESS);
    assert_eq!((cur, max), (VM_PROT_DEFAULT, VM_PROT_ALL));
    let (mut copied, mut c2, mut m2) = (0, 0, 0);
    assert_eq!(vm_remap(me(), &mut copied, 4 * PAGE, 0, VM_FLAGS_ANYWHERE, me(), src, TRUE, &mut c2, &mut m2, VM_INHERIT_COPY), KERN_SUCCESS);
    poke(src + PAGE, 0x44);
    assert_eq!((peek(shared + PAGE), peek(copied + PAGE)), (0x44, 2));
    poke(shared, 0x45);
    assert_eq!(peek(src), 0x45);
    let mut bad = 0;
    assert_eq!(vm_remap(me(), &mut bad, 0, 0, VM_FLAGS_ANYWHERE, me(), src, FALSE, &mut cur, &mut max, VM_INHERIT_SHARE), KERN_INVALID_ARGUMENT, "size 0");
    assert_eq!(vm_remap(me(), &mut bad, PAGE, 0, VM_FLAGS_ANYWHERE, 77, src, FALSE, &mut cur, &mut max, VM_INHERIT_SHARE), KERN_INVALID_TASK);
    assert_eq!(vm_remap(me(), &mut bad, PAGE, 0, VM_FLAGS_ANYWHERE, me(), src, FALSE, &mut cur, &mut max, 5), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_remap(me(), &mut bad, PAGE, 0, VM_FLAGS_ANYWHERE, me(), 0x7700_0000_0000, FALSE, &mut cur, &mut max, 0), KERN_INVALID_ADDRESS);
    for a in [src, shared, copied] {
        free(a, 4);
    }
}

extern "C" fn child_flips_protection(a: u64) -> ! {
    let me = mach_task_self();
    let mut bad = 0;
    for _ in 0..200 {
        assert_eq!(vm_protect(me, a, PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
        let before = peek(a);
        for _ in 0..2000 {
            core::hint::spin_loop();
        }
        if peek(a) != before {
            bad += 1;
        }
        assert_eq!(vm_protect(me, a, PAGE, FALSE, VM_PROT_DEFAULT), KERN_SUCCESS);
    }
    task_exit(bad)
}

/// A second task flips its page between read-only and writable while the parent writes it
/// through `vm_copy_overwrite`: no write may land while the page is read-only.
fn an_overwrite_never_lands_in_read_only_memory() {
    let target = alloc(1);
    let child = mach::child::spawn(child_flips_protection, target).expect("a child");
    let src = alloc(1);
    let (mut landed, mut refused) = (0, 0);
    let mut info = TaskBasicInfo::default();
    for round in 0..2000u32 {
        poke(src, round as u8);
        let copy = copyin(src, 1);
        match vm_copy_overwrite(child, target, copy) {
            KERN_SUCCESS => landed += 1,
            KERN_PROTECTION_FAILURE => {
                refused += 1;
                assert_eq!(vm_copy_discard(copy), KERN_SUCCESS, "a refused overwrite keeps the copy");
            }
            KERN_INVALID_TASK => break,
            other => panic!("vm_copy_overwrite: {other}"),
        }
        if task_info(child, &mut info) != KERN_SUCCESS {
            break;
        }
    }
    assert!(landed + refused > 0);
    assert_eq!(mach::child::wait(child), Ok(0), "no write landed in read-only memory");
    free(src, 1);
    free(target, 1);
}

fn raw(call: mach::raw::Sysno, args: [u64; 6]) -> kern_return_t {
    // SAFETY: the pointers are deliberately bad; the kernel checks them.
    unsafe { mach::raw::syscall(call, args) as kern_return_t }
}

fn garbage_pointers_in_copy_calls() {
    use mach::raw::Sysno;
    let a = alloc(1);
    let ro = alloc(1);
    assert_eq!(vm_protect(me(), ro, PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
    for bad in [0, 8, KERNEL_PTR, u64::MAX - 3, ro] {
        assert_eq!(raw(Sysno::VmCopyin, [me().into(), a, 10, 0, bad, 0]), KERN_INVALID_ADDRESS);
        assert_eq!(raw(Sysno::VmRead, [me().into(), a, 10, bad, a + 8, 0]), KERN_INVALID_ADDRESS);
        assert_eq!(raw(Sysno::VmRead, [me().into(), a, 10, a, bad, 0]), KERN_INVALID_ADDRESS);
        assert_eq!(raw(Sysno::VmRemap, [bad, 0, 0, 0, 0, 0]), KERN_INVALID_ADDRESS);
        let copy = copyin(a, 10);
        assert_eq!(raw(Sysno::VmCopyout, [me().into(), copy.into(), bad, 0, 0, 0]), KERN_INVALID_ADDRESS);
        assert_eq!(vm_copy_discard(copy), KERN_SUCCESS, "a failed copyout keeps the copy");
    }
    let mut copy = 0;
    assert_eq!(vm_copyin(me(), a, 10, TRUE, &mut copy), KERN_SUCCESS);
    assert_eq!(vm_copy_discard(copy), KERN_SUCCESS);
    free(ro, 1);
}
