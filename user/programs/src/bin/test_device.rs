//! User-mode tests of device memory for drivers: `vm_map_device` and `host_framebuffer`,
//! on the boot frame buffer QEMU's VGA device provides.

#![no_std]
#![no_main]

use mach::*;

#[path = "../common.rs"]
mod common;
use common::*;

mach::entry!(main);

const PAGE: u64 = 4096;
/// A kernel address: never a valid user pointer.
const KERNEL_PTR: u64 = 0xffff_8000_0000_0000;
/// Usable RAM on every machine the tests run on (the kernel's own memory lies above it).
const RAM: u64 = 0x10_0000;
const WC: i32 = VM_FLAGS_ANYWHERE | VM_DEVICE_WRITE_COMBINING;
const UC: i32 = VM_FLAGS_ANYWHERE | VM_DEVICE_UNCACHED;

fn main() -> i32 {
    mach::test::run(&mach::tests![
        the_frame_buffer_is_reported_to_the_host_only,
        two_mappings_of_the_frame_buffer_see_one_memory,
        memory_is_never_mapped_as_a_device,
        bad_arguments_are_refused_and_map_nothing,
        tasks_without_the_host_are_refused,
        device_memory_is_never_copied_wired_or_named,
        fork_shares_device_memory,
    ])
}

fn framebuffer() -> FramebufferInfo {
    let mut fb = FramebufferInfo::default();
    assert_eq!(host_framebuffer(mach_host_priv(), &mut fb), KERN_SUCCESS);
    fb
}

fn map(phys: u64, size: u64, flags: i32) -> Result<u64, kern_return_t> {
    let mut at = 0;
    match vm_map_device(mach_host_priv(), me(), &mut at, size, phys, flags) {
        KERN_SUCCESS => Ok(at),
        kr => Err(kr),
    }
}

fn regions() -> u64 {
    let mut info = TaskBasicInfo::default();
    assert_eq!(task_info(me(), &mut info), KERN_SUCCESS);
    info.region_count
}

fn the_frame_buffer_is_reported_to_the_host_only() {
    let fb = framebuffer();
    assert!(fb.phys % PAGE == 0 && fb.size >= u64::from(fb.stride * fb.height * fb.bytes_per_pixel));
    let mut other = FramebufferInfo::default();
    assert_eq!(host_framebuffer(me(), &mut other), KERN_INVALID_HOST);
    for bad in [0, KERNEL_PTR, u64::MAX - 3] {
        let args = [u64::from(mach_host_priv()), bad, 0, 0, 0, 0];
        // SAFETY: the kernel checks the pointer; nothing here reads or writes through it.
        assert_eq!(unsafe { raw::syscall(raw::Sysno::HostFramebuffer, args) } as i32, KERN_INVALID_ADDRESS, "{bad:#x}");
    }
}

fn two_mappings_of_the_frame_buffer_see_one_memory() {
    let fb = framebuffer();
    let (wc, uc) = (map(fb.phys, fb.size, WC).unwrap(), map(fb.phys, fb.size, UC).unwrap());
    assert_ne!(wc, uc);
    for (i, offset) in [0, PAGE + 7, fb.size - 1].into_iter().enumerate() {
        poke(wc + offset, 0x5a ^ i as u8);
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        assert_eq!(peek(uc + offset), 0x5a ^ i as u8, "offset {offset:#x}");
        poke(uc + offset, 0xa5);
        assert_eq!(peek(wc + offset), 0xa5);
    }
    let (mut address, mut size, mut info) = (wc, 0, VmRegionInfo::default());
    assert_eq!(vm_region(me(), &mut address, &mut size, &mut info), KERN_SUCCESS);
    assert_eq!((address, size.div_ceil(PAGE)), (wc, fb.size.div_ceil(PAGE)));
    assert_eq!((info.protection, info.max_protection), (VM_PROT_READ | VM_PROT_WRITE, VM_PROT_READ | VM_PROT_WRITE));
    assert_eq!(vm_deallocate(me(), wc, fb.size), KERN_SUCCESS);
    assert_eq!(vm_deallocate(me(), uc, fb.size), KERN_SUCCESS);
}

fn memory_is_never_mapped_as_a_device() {
    let before = regions();
    assert_eq!(map(RAM, PAGE, UC), Err(KERN_INVALID_ADDRESS), "usable memory");
    assert_eq!(map(0, 16 * PAGE, UC), Err(KERN_INVALID_ADDRESS), "low memory");
    assert_eq!(map(RAM - PAGE, 2 * PAGE, UC), Err(KERN_INVALID_ADDRESS), "a range reaching into memory");
    assert_eq!(map(0xfee0_0000, PAGE, UC), Err(KERN_INVALID_ADDRESS), "the local APIC, the kernel's own");
    let fb = framebuffer();
    assert_eq!(map(u64::MAX & !(PAGE - 1), PAGE, UC), Err(KERN_INVALID_ADDRESS), "past the address space");
    assert_eq!(map(1 << 52, PAGE, UC), Err(KERN_INVALID_ADDRESS), "past 52-bit physical addresses");
    assert_eq!(map(fb.phys, u64::MAX - PAGE, UC), Err(KERN_INVALID_ADDRESS), "a size that wraps");
    assert_eq!(map(fb.phys, u64::MAX, UC), Err(KERN_INVALID_ADDRESS), "a size whose page count overflows");
    assert_eq!(regions(), before, "nothing was mapped");
}

fn bad_arguments_are_refused_and_map_nothing() {
    let fb = framebuffer();
    let before = regions();
    assert_eq!(map(fb.phys, 0, UC), Err(KERN_INVALID_ARGUMENT), "size 0");
    assert_eq!(map(fb.phys + 1, PAGE, UC), Err(KERN_INVALID_ARGUMENT), "unaligned");
    assert_eq!(map(fb.phys, PAGE, VM_FLAGS_ANYWHERE), Err(KERN_INVALID_ARGUMENT), "no caching");
    assert_eq!(map(fb.phys, PAGE, WC | UC), Err(KERN_INVALID_ARGUMENT), "two cachings");
    assert_eq!(map(fb.phys, PAGE, UC | 0x8000), Err(KERN_INVALID_ARGUMENT), "unknown bits");
    let mut at = 0;
    assert_eq!(vm_map_device(me(), me(), &mut at, PAGE, fb.phys, UC), KERN_INVALID_HOST);
    assert_eq!(vm_map_device(mach_host_priv(), 77, &mut at, PAGE, fb.phys, UC), KERN_INVALID_TASK);
    let args = [u64::from(mach_host_priv()), u64::from(me()), KERNEL_PTR, PAGE, fb.phys, UC as u64];
    // SAFETY: the kernel checks the address pointer; nothing here uses it.
    assert_eq!(unsafe { raw::syscall(raw::Sysno::VmMapDevice, args) } as i32, KERN_INVALID_ADDRESS, "a bad address pointer");
    let fixed = alloc(1);
    at = fixed;
    assert_eq!(vm_map_device(mach_host_priv(), me(), &mut at, PAGE, fb.phys, VM_FLAGS_FIXED | VM_DEVICE_UNCACHED), KERN_NO_SPACE);
    assert_eq!(regions(), before + 1, "nothing was mapped but the test's page");
    assert_eq!(vm_deallocate(me(), fixed, PAGE), KERN_SUCCESS);
    assert_eq!(vm_map_device(mach_host_priv(), me(), &mut at, PAGE, fb.phys, VM_FLAGS_FIXED | VM_DEVICE_UNCACHED), KERN_SUCCESS);
    assert_eq!(at, fixed, "a fixed mapping where asked");
    assert_eq!(vm_deallocate(me(), fixed, PAGE), KERN_SUCCESS);
}

extern "C" fn try_to_map(phys: u64) -> ! {
    let mut at = 0;
    task_exit(vm_map_device(INIT_HOST_PRIV, mach_task_self(), &mut at, PAGE, phys, UC))
}

fn tasks_without_the_host_are_refused() {
    assert_eq!(run_child(try_to_map, framebuffer().phys), KERN_INVALID_HOST);
}

fn device_memory_is_never_copied_wired_or_named() {
    let fb = framebuffer();
    let at = map(fb.phys, 2 * PAGE, UC).unwrap();
    let target = alloc(2);
    let (mut data, mut count) = (0, 0);
    assert_eq!(vm_read(me(), at, PAGE, &mut data, &mut count), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_copy(me(), at, PAGE, target), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_copy(me(), target, PAGE, at), KERN_INVALID_ARGUMENT, "as the target");
    let mut copy = 0;
    assert_eq!(vm_copyin(me(), at, PAGE, FALSE, &mut copy), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_wire(mach_host_priv(), me(), at, PAGE, VM_PROT_READ), KERN_FAILURE);
    assert_eq!(vm_inherit(me(), at, PAGE, VM_INHERIT_COPY), KERN_INVALID_ARGUMENT);
    let (mut size, mut entry) = (PAGE, 0);
    assert_eq!(mach_make_memory_entry(me(), &mut size, at, VM_PROT_READ, &mut entry, 0), KERN_INVALID_ARGUMENT);
    poke(at, 0x11);
    assert_eq!(peek(at), 0x11, "the mapping still works");
    assert_eq!(vm_deallocate(me(), at, 2 * PAGE), KERN_SUCCESS);
    assert_eq!(vm_deallocate(me(), target, 2 * PAGE), KERN_SUCCESS);
}

extern "C" fn read_back(at: u64) -> ! {
    task_exit(i32::from(peek(at)))
}

fn fork_shares_device_memory() {
    let fb = framebuffer();
    let at = map(fb.phys, PAGE, UC).unwrap();
    poke(at + 5, 0x42);
    assert_eq!(run_child(read_back, at + 5), 0x42, "the child sees the device memory");
    assert_eq!(vm_deallocate(me(), at, PAGE), KERN_SUCCESS);
}

fn alloc(pages: u64) -> u64 {
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, pages * PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    a
}
