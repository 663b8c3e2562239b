//! User-mode tests of `vm_map`, memory entries and `vm_machine_attribute`.

#![no_std]
#![no_main]

use mach::*;

#[path = "../common.rs"]
mod common;
use common::*;

mach::entry!(main);

const PAGE: u64 = 4096;
const KERNEL_PTR: u64 = 0xffff_8000_0000_0000;

fn main() -> i32 {
    mach::test::run(&mach::tests![
        anonymous_vm_map_honours_mask_flags_and_values,
        anywhere_ignores_the_incoming_address_as_vm_allocate_does,
        vm_map_range_rules,
        a_new_memory_entry_is_shared_by_its_mappings,
        a_memory_entry_shares_memory_with_another_task,
        a_copy_mapping_is_a_snapshot,
        memory_entry_errors,
        a_memory_entry_of_a_region,
        machine_attributes,
        garbage_pointers_in_object_calls,
        handle_tables_have_a_limit,
        maps_have_an_entry_limit,
    ])
}


#[allow(clippy::too_many_arguments)]
fn map(address: &mut u64, size: u64, mask: u64, flags: i32, object: mach_port_t, offset: u64, copy: boolean_t, cur: vm_prot_t, max: vm_prot_t) -> kern_return_t {
    vm_map(me(), address, size, mask, flags, object, offset, copy, cur, max, VM_INHERIT_COPY)
}

fn region(address: u64) -> (u64, u64, VmRegionInfo) {
    let (mut a, mut size, mut info) = (address, 0, VmRegionInfo::default());
    assert_eq!(vm_region(me(), &mut a, &mut size, &mut info), KERN_SUCCESS);
    (a, size, info)
}



fn new_entry(pages: u64, prot: vm_prot_t) -> mach_port_t {
    let (mut size, mut handle) = (pages * PAGE, 0);
    assert_eq!(mach_make_memory_entry(me(), &mut size, 0, prot | MAP_MEM_NAMED_CREATE, &mut handle, MACH_PORT_NULL), KERN_SUCCESS);
    assert_eq!(size, pages * PAGE);
    handle
}

fn anonymous_vm_map_honours_mask_flags_and_values() {
    let mut a = 0;
    let mask = (1 << 20) - 1;
    assert_eq!(map(&mut a, 3 * PAGE, mask, VM_FLAGS_ANYWHERE, MACH_PORT_NULL, 0, FALSE, VM_PROT_ALL, VM_PROT_READ), KERN_SUCCESS);
    assert_eq!(a & mask, 0, "aligned to the mask");
    let (start, size, info) = region(a);
    assert_eq!((start, size), (a, 3 * PAGE));
    assert_eq!((info.protection, info.max_protection), (VM_PROT_READ, VM_PROT_READ), "cur reduced to cur & max");
    assert_eq!(peek(a + 5), 0, "zero-filled");
    assert_eq!(vm_deallocate(me(), a, 3 * PAGE), KERN_SUCCESS);
    let mut b = 0x7100_0000 + PAGE;
    assert_eq!(map(&mut b, PAGE, 0xfff_ffff, VM_FLAGS_FIXED, MACH_PORT_NULL, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_ALL), KERN_INVALID_ARGUMENT, "FIXED address with a mask bit");
    assert_eq!(map(&mut b, 0, 0, VM_FLAGS_ANYWHERE, MACH_PORT_NULL, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_ALL), KERN_INVALID_ARGUMENT, "size 0");
    assert_eq!(map(&mut b, PAGE, 0, 4, MACH_PORT_NULL, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_ALL), KERN_INVALID_ARGUMENT, "flags");
    assert_eq!(map(&mut b, PAGE, 0, VM_FLAGS_ANYWHERE, MACH_PORT_NULL, 0, FALSE, 8, VM_PROT_ALL), KERN_INVALID_ARGUMENT, "cur");
    assert_eq!(map(&mut b, PAGE, 0, VM_FLAGS_ANYWHERE, MACH_PORT_NULL, 0, FALSE, VM_PROT_READ, 16), KERN_INVALID_ARGUMENT, "max");
    assert_eq!(vm_map(me(), &mut b, PAGE, 0, VM_FLAGS_ANYWHERE, 0, 0, FALSE, 1, 1, 9), KERN_INVALID_ARGUMENT, "inheritance");
    assert_eq!(b, 0x7100_0000 + PAGE, "unchanged on error");
}

fn vm_map_range_rules() {
    let mut a = 0x2000;
    assert_eq!(map(&mut a, u64::MAX, 0, VM_FLAGS_FIXED, MACH_PORT_NULL, 0, FALSE, 1, 7), KERN_INVALID_ADDRESS, "overflow, FIXED");
    let mut b = KERNEL_PTR;
    assert_eq!(map(&mut b, PAGE, 0, VM_FLAGS_FIXED, MACH_PORT_NULL, 0, FALSE, 1, 7), KERN_INVALID_ADDRESS);
    let mut c = 0x7200_0000;
    assert_eq!(map(&mut c, 2 * PAGE, 0, VM_FLAGS_FIXED, MACH_PORT_NULL, 0, FALSE, 3, 7), KERN_SUCCESS);
    let mut d = 0x7200_0000 + PAGE;
    assert_eq!(map(&mut d, PAGE, 0, VM_FLAGS_FIXED, MACH_PORT_NULL, 0, FALSE, 3, 7), KERN_NO_SPACE);
    let mut e = 0;
    assert_eq!(map(&mut e, 1 << 47, 0, VM_FLAGS_ANYWHERE, MACH_PORT_NULL, 0, FALSE, 3, 7), KERN_NO_SPACE);
    assert_eq!(vm_deallocate(me(), c, 2 * PAGE), KERN_SUCCESS);
}

fn a_new_memory_entry_is_shared_by_its_mappings() {
    let entry = new_entry(4, VM_PROT_DEFAULT);
    let (mut x, mut y) = (0, 0);
    assert_eq!(map(&mut x, 4 * PAGE, 0, VM_FLAGS_ANYWHERE, entry, 0, FALSE, 3, 3), KERN_SUCCESS);
    assert_eq!(map(&mut y, 2 * PAGE, 0, VM_FLAGS_ANYWHERE, entry, 2 * PAGE, FALSE, 3, 3), KERN_SUCCESS);
    poke(x + 2 * PAGE + 1, 42);
    assert_eq!(peek(y + 1), 42, "both mappings reach one page");
    poke(y + PAGE, 43);
    assert_eq!(peek(x + 3 * PAGE), 43);
    assert_eq!(region(x).2.shared, TRUE);
    assert_eq!(vm_deallocate(me(), x, 4 * PAGE), KERN_SUCCESS);
    assert_eq!(peek(y + 1), 42, "the object lives while mapped");
    assert_eq!(vm_deallocate(me(), y, 2 * PAGE), KERN_SUCCESS);
    assert_eq!(mach_port_deallocate(me(), entry), KERN_SUCCESS);
}

extern "C" fn child_writes_at(a: u64) -> ! {
    let before = peek(a);
    poke(a, before + 1);
    task_exit(i32::from(before))
}

fn a_memory_entry_shares_memory_with_another_task() {
    let entry = new_entry(1, VM_PROT_DEFAULT);
    let mut here = 0;
    assert_eq!(map(&mut here, PAGE, 0, VM_FLAGS_ANYWHERE, entry, 0, FALSE, 3, 3), KERN_SUCCESS);
    poke(here, 10);
    // Mapped into another task through its handle.
    let mut other = 0;
    assert_eq!(task_create(me(), FALSE, &mut other), KERN_SUCCESS);
    let mut there = 0x4000_0000;
    assert_eq!(vm_map(other, &mut there, PAGE, 0, VM_FLAGS_FIXED, entry, 0, FALSE, 3, 3, VM_INHERIT_NONE), KERN_SUCCESS);
    let (mut at, mut size, mut info) = (there, 0, VmRegionInfo::default());
    assert_eq!(vm_region(other, &mut at, &mut size, &mut info), KERN_SUCCESS);
    assert_eq!((at, size, info.shared), (there, PAGE, TRUE));
    assert_eq!(task_terminate(other), KERN_SUCCESS);
    assert_eq!(mach_port_deallocate(me(), other), KERN_SUCCESS);
    // A running child: COPY inheritance of the shared mapping gives it a snapshot, SHARE the
    // same memory.
    let copying = mach::child::spawn(child_writes_at, here).expect("a child");
    assert_eq!(mach::child::wait(copying), Ok(10), "the child read the shared page");
    assert_eq!(peek(here), 10, "COPY inheritance of a shared mapping is a snapshot");
    assert_eq!(vm_inherit(me(), here, PAGE, VM_INHERIT_SHARE), KERN_SUCCESS);
    let sharing = mach::child::spawn(child_writes_at, here).expect("a child");
    assert_eq!(mach::child::wait(sharing), Ok(10));
    assert_eq!(peek(here), 11, "SHARE inheritance of a memory entry's mapping is shared");
    assert_eq!(vm_deallocate(me(), here, PAGE), KERN_SUCCESS);
    assert_eq!(mach_port_deallocate(me(), entry), KERN_SUCCESS);
}

fn a_copy_mapping_is_a_snapshot() {
    let entry = new_entry(2, VM_PROT_DEFAULT);
    let mut shared = 0;
    assert_eq!(map(&mut shared, 2 * PAGE, 0, VM_FLAGS_ANYWHERE, entry, 0, FALSE, 3, 3), KERN_SUCCESS);
    poke(shared, 1);
    let mut copy = 0;
    assert_eq!(map(&mut copy, 2 * PAGE, 0, VM_FLAGS_ANYWHERE, entry, 0, TRUE, 3, 3), KERN_SUCCESS);
    poke(shared, 2);
    assert_eq!(peek(copy), 1, "later writes to the object never show in the copy");
    poke(copy + PAGE, 3);
    assert_eq!(peek(shared + PAGE), 0, "writes to the copy never show in the object");
    assert_eq!(region(copy).2.shared, FALSE);
    assert_eq!(vm_deallocate(me(), shared, 2 * PAGE), KERN_SUCCESS);
    assert_eq!(vm_deallocate(me(), copy, 2 * PAGE), KERN_SUCCESS);
    assert_eq!(mach_port_deallocate(me(), entry), KERN_SUCCESS);
}

fn memory_entry_errors() {
    let ro = new_entry(2, VM_PROT_READ);
    let mut a = 0;
    assert_eq!(map(&mut a, PAGE, 0, VM_FLAGS_ANYWHERE, 77, 0, FALSE, 1, 1), KERN_INVALID_OBJECT, "unknown handle");
    assert_eq!(map(&mut a, PAGE, 0, VM_FLAGS_ANYWHERE, me(), 0, FALSE, 1, 1), KERN_INVALID_OBJECT, "a task handle");
    assert_eq!(map(&mut a, 2 * PAGE, 0, VM_FLAGS_ANYWHERE, ro, PAGE, FALSE, 1, 1), KERN_INVALID_ARGUMENT, "past the end");
    assert_eq!(map(&mut a, PAGE, 0, VM_FLAGS_ANYWHERE, ro, 100, FALSE, 1, 1), KERN_INVALID_ARGUMENT, "unaligned offset");
    assert_eq!(map(&mut a, PAGE, 0, VM_FLAGS_ANYWHERE, ro, 0, FALSE, 1, 3), KERN_PROTECTION_FAILURE, "max above the entry");
    assert_eq!(a, 0);
    let (mut size, mut handle) = (0, 0);
    assert_eq!(mach_make_memory_entry(me(), &mut size, 0, VM_PROT_READ | MAP_MEM_NAMED_CREATE, &mut handle, MACH_PORT_NULL), KERN_INVALID_ARGUMENT, "size 0");
    let mut huge = u64::MAX - 5;
    assert_eq!(mach_make_memory_entry(me(), &mut huge, 0, VM_PROT_READ | MAP_MEM_NAMED_CREATE, &mut handle, MACH_PORT_NULL), KERN_INVALID_ARGUMENT, "rounds past 2^64");
    let mut odd = PAGE + 1;
    assert_eq!(mach_make_memory_entry(me(), &mut odd, 0, 8 | MAP_MEM_NAMED_CREATE, &mut handle, MACH_PORT_NULL), KERN_INVALID_ARGUMENT, "permission");
    assert_eq!(mach_make_memory_entry(me(), &mut odd, 0, VM_PROT_READ | MAP_MEM_NAMED_CREATE, &mut handle, MACH_PORT_NULL), KERN_SUCCESS);
    assert_eq!(odd, 2 * PAGE, "the size is rounded to pages");
    let mut sub_size = PAGE;
    let mut sub = 0;
    assert_eq!(mach_make_memory_entry(me(), &mut sub_size, PAGE, VM_PROT_DEFAULT, &mut sub, ro), KERN_PROTECTION_FAILURE, "more than the parent");
    assert_eq!(mach_make_memory_entry(me(), &mut sub_size, PAGE, VM_PROT_READ, &mut sub, ro), KERN_SUCCESS);
    for h in [ro, handle, sub] {
        assert_eq!(mach_port_deallocate(me(), h), KERN_SUCCESS);
    }
}

fn a_memory_entry_of_a_region() {
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, 3 * PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    poke(a + PAGE, 5);
    let (mut size, mut entry) = (PAGE, 0);
    assert_eq!(mach_make_memory_entry(me(), &mut size, a + PAGE, VM_PROT_DEFAULT, &mut entry, MACH_PORT_NULL), KERN_SUCCESS);
    let mut alias = 0;
    assert_eq!(map(&mut alias, PAGE, 0, VM_FLAGS_ANYWHERE, entry, 0, FALSE, 3, 3), KERN_SUCCESS);
    assert_eq!(peek(alias), 5, "the entry names the region's memory");
    poke(alias, 6);
    assert_eq!(peek(a + PAGE), 6, "and shares it");
    let mut unmapped = PAGE;
    let mut none = 0;
    assert_eq!(mach_make_memory_entry(me(), &mut unmapped, 0x7700_0000_0000, VM_PROT_READ, &mut none, MACH_PORT_NULL), KERN_INVALID_ADDRESS);
    assert_eq!(vm_deallocate(me(), a, 3 * PAGE), KERN_SUCCESS);
    assert_eq!(peek(alias), 6);
    assert_eq!(vm_deallocate(me(), alias, PAGE), KERN_SUCCESS);
    assert_eq!(mach_port_deallocate(me(), entry), KERN_SUCCESS);
}

fn machine_attributes() {
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    let mut value = MATTR_VAL_GET;
    assert_eq!(vm_machine_attribute(me(), a, PAGE, MATTR_CACHE, &mut value), KERN_SUCCESS);
    assert_eq!(value, MATTR_VAL_ON);
    for flush in [MATTR_VAL_CACHE_FLUSH, MATTR_VAL_ICACHE_FLUSH, MATTR_VAL_DCACHE_FLUSH] {
        let mut v = flush;
        assert_eq!(vm_machine_attribute(me(), a, PAGE, MATTR_CACHE, &mut v), KERN_SUCCESS);
    }
    let mut off = MATTR_VAL_OFF;
    assert_eq!(vm_machine_attribute(me(), a, PAGE, MATTR_CACHE, &mut off), KERN_INVALID_ARGUMENT);
    let mut get = MATTR_VAL_GET;
    assert_eq!(vm_machine_attribute(me(), a, PAGE, MATTR_MIGRATE, &mut get), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_machine_attribute(me(), a, PAGE, MATTR_REPLICATE, &mut get), KERN_INVALID_ARGUMENT);
    assert_eq!(vm_deallocate(me(), a, PAGE), KERN_SUCCESS);
    assert_eq!(vm_machine_attribute(me(), a, PAGE, MATTR_CACHE, &mut get), KERN_INVALID_ARGUMENT, "an unmapped page (seed 003)");
    assert_eq!(vm_machine_attribute(me(), 0, PAGE, MATTR_CACHE, &mut get), KERN_INVALID_ADDRESS, "outside the map");
}

fn raw(call: mach::raw::Sysno, args: [u64; 6]) -> kern_return_t {
    // SAFETY: the pointers are deliberately bad; the kernel checks them.
    unsafe { mach::raw::syscall(call, args) as kern_return_t }
}

fn garbage_pointers_in_object_calls() {
    use mach::raw::Sysno;
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    for bad in [0, 8, KERNEL_PTR, u64::MAX - 3] {
        assert_eq!(raw(Sysno::VmMap, [bad, 0, 0, 0, 0, 0]), KERN_INVALID_ADDRESS);
        let create = (VM_PROT_READ | MAP_MEM_NAMED_CREATE) as u64;
        assert_eq!(raw(Sysno::MachMakeMemoryEntry, [me().into(), bad, 0, create, a, 0]), KERN_INVALID_ADDRESS);
        assert_eq!(raw(Sysno::MachMakeMemoryEntry, [me().into(), a, 0, create, bad, 0]), KERN_INVALID_ADDRESS);
        assert_eq!(raw(Sysno::VmMachineAttribute, [me().into(), a, PAGE, MATTR_CACHE.into(), bad, 0]), KERN_INVALID_ADDRESS);
    }
    assert_eq!(mach_port_deallocate(me(), 3), KERN_INVALID_ARGUMENT, "no memory entry left behind");
    assert_eq!(vm_deallocate(me(), a, PAGE), KERN_SUCCESS);
}

fn handle_tables_have_a_limit() {
    let mut handles = [0u32; 4096];
    let mut made = 0;
    loop {
        let (mut size, mut handle) = (PAGE, 0);
        let kr = mach_make_memory_entry(me(), &mut size, 0, VM_PROT_READ | MAP_MEM_NAMED_CREATE, &mut handle, MACH_PORT_NULL);
        if kr != KERN_SUCCESS {
            assert_eq!(kr, KERN_RESOURCE_SHORTAGE);
            break;
        }
        assert!(made < handles.len(), "the table grows without limit");
        handles[made] = handle;
        made += 1;
    }
    assert!(made > 4000, "the limit is generous ({made})");
    for &h in &handles[..made] {
        assert_eq!(mach_port_deallocate(me(), h), KERN_SUCCESS);
    }
}

fn maps_have_an_entry_limit() {
    const BASE: u64 = 0x10_0000_0000;
    let mut made = 0u64;
    loop {
        // Every other page, so that no two regions merge.
        let mut a = BASE + made * 2 * PAGE;
        let kr = vm_allocate(me(), &mut a, PAGE, VM_FLAGS_FIXED);
        if kr != KERN_SUCCESS {
            assert_eq!(kr, KERN_RESOURCE_SHORTAGE);
            break;
        }
        made += 1;
        assert!(made < 1 << 20, "the map grows without limit");
    }
    assert!(made >= 1000, "the limit is generous ({made})");
    assert_eq!(vm_deallocate(me(), BASE, made * 2 * PAGE), KERN_SUCCESS);
    let mut a = BASE;
    assert_eq!(vm_allocate(me(), &mut a, PAGE, VM_FLAGS_FIXED), KERN_SUCCESS, "room again");
    assert_eq!(vm_deallocate(me(), a, PAGE), KERN_SUCCESS);
}

/// `vm_map` ANYWHERE places memory as `vm_allocate` ANYWHERE does: first fit from the bottom,
/// whatever address comes in (even the top of the map, or one in use).
fn anywhere_ignores_the_incoming_address_as_vm_allocate_does() {
    for incoming in [0, 0x7fff_ffff_e000, 0x7fff_ffff_f000, u64::MAX, 0x1234_5678_9000] {
        let mut by_allocate = incoming;
        assert_eq!(vm_allocate(me(), &mut by_allocate, 2 * PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
        assert_eq!(vm_deallocate(me(), by_allocate, 2 * PAGE), KERN_SUCCESS);
        let mut by_map = incoming;
        let kr = map(&mut by_map, 2 * PAGE, 0, VM_FLAGS_ANYWHERE, MACH_PORT_NULL, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_ALL);
        assert_eq!(kr, KERN_SUCCESS, "incoming {incoming:#x}");
        assert_eq!(by_map, by_allocate, "the same first fit for incoming {incoming:#x}");
        assert_eq!(vm_deallocate(me(), by_map, 2 * PAGE), KERN_SUCCESS);
    }
}
