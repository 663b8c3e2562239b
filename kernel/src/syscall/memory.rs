//! The Mach VM calls on a task's map: `vm_allocate`, `vm_deallocate`, `vm_protect`,
//! `vm_inherit`, `vm_behavior_set`, `vm_msync`, `vm_region`, `vm_wire` and `vm_statistics`.

use super::{target_map, user, with_handles, KernResult};
use crate::task::handles::Handle;
use crate::vm_system;
use machvm_abi::kern::*;
use machvm_abi::vm::*;
use machvm_abi::Sysno;
use vm::api::{sanitize, KernReturn, MapRange, RangeError, Sanitized};
use vm::{Behavior, Inherit, MapId, NewMemory, Page, Placement, Prot, ProtectTarget, VmError, PAGE_SIZE};

/// Runs VM call `call` with the raw arguments `a`.
pub fn call(call: Sysno, a: [u64; 6]) -> KernResult {
    match call {
        Sysno::VmAllocate => vm_allocate(a[0], a[1], a[2], a[3]),
        Sysno::VmDeallocate => vm_deallocate(a[0], a[1], a[2]),
        Sysno::VmProtect => vm_protect(a[0], a[1], a[2], a[3], a[4]),
        Sysno::VmInherit => vm_inherit(a[0], a[1], a[2], a[3]),
        Sysno::VmBehaviorSet => vm_behavior_set(a[0], a[1], a[2], a[3]),
        Sysno::VmMsync => vm_msync(a[0], a[1], a[2], a[3]),
        Sysno::VmRegion => vm_region(a[0], a[1], a[2], a[3]),
        Sysno::VmWire => vm_wire(a[0], a[1], a[2], a[3], a[4]),
        Sysno::VmStatistics => vm_statistics(a[0]),
        _ => Err(KERN_INVALID_ARGUMENT),
    }
}

pub(super) fn kr(error: VmError) -> kern_return_t {
    KernReturn::from(error).code()
}

/// A protection value: only the READ, WRITE and EXECUTE bits.
pub(super) fn prot_value(raw: u64) -> Result<Prot, kern_return_t> {
    u32::try_from(raw).ok().and_then(Prot::from_bits).ok_or(KERN_INVALID_ARGUMENT)
}

/// Fails with `KERN_INVALID_HOST` unless `host` names the privileged host in the caller's
/// table.
pub(super) fn require_host(host: u64) -> KernResult {
    let is_host = u32::try_from(host).ok().is_some_and(|name| with_handles(|h| h.get(name)) == Some(Handle::Host));
    if is_host {
        Ok(())
    } else {
        Err(KERN_INVALID_HOST)
    }
}

/// Sanitizes a range of an existing-memory call: `None` for size 0 (success, no change).
pub(super) fn existing_range(address: u64, size: u64) -> Result<Option<MapRange>, kern_return_t> {
    match sanitize(address, size, vm::api::USER_MIN, vm::api::USER_MAX) {
        Ok(Sanitized::Empty) => Ok(None),
        Ok(Sanitized::Range(r)) => Ok(Some(r)),
        Err(RangeError::Overflow) => Err(KERN_INVALID_ARGUMENT),
        Err(RangeError::OutsideMap) => Err(KERN_INVALID_ADDRESS),
    }
}

/// Runs `op` on the range of the map, under the VM lock.
fn on_range(map: MapId, range: Option<MapRange>, op: impl FnOnce(&mut vm_system::KernelVm, MapId, Page, Page) -> Result<(), VmError>) -> KernResult {
    let Some(range) = range else { return Ok(()) };
    op(&mut vm_system::lock(), map, range.start(), range.end()).map_err(kr)
}

fn vm_allocate(task: u64, address_ptr: u64, size: u64, flags: u64) -> KernResult {
    let map = target_map(task)?;
    let anywhere = match flags {
        f if f == VM_FLAGS_ANYWHERE as u64 => true,
        f if f == VM_FLAGS_FIXED as u64 => false,
        _ => return Err(KERN_INVALID_ARGUMENT),
    };
    let address = user::read_in_out_u64(address_ptr)?;
    if size == 0 {
        return if anywhere { user::write_u64(address_ptr, 0) } else { Ok(()) };
    }
    let placement = if anywhere {
        let rounded = size.checked_next_multiple_of(PAGE_SIZE).ok_or(KERN_INVALID_ARGUMENT)?;
        (Placement::Anywhere { mask: 0 }, rounded / PAGE_SIZE)
    } else {
        let range = existing_range(address, size).map_err(|_| KERN_INVALID_ADDRESS)?.expect("size is not 0");
        (Placement::Fixed(range.start()), range.len_pages())
    };
    let start = vm_system::lock().allocate(map, placement.0, placement.1, NewMemory::DEFAULT).map_err(kr)?;
    report_start(map, address_ptr, start, placement.1)
}

/// Writes `start`, where a call just mapped `pages` pages, to the caller's `address_ptr`; if
/// that write fails, removes those pages again, so that the failed call changes nothing.
pub(super) fn report_start(map: MapId, address_ptr: u64, start: Page, pages: u64) -> KernResult {
    user::write_u64(address_ptr, start.addr()).inspect_err(|_| {
        let end = Page::containing(start.addr() + pages * PAGE_SIZE);
        vm_system::lock().deallocate(map, start, end).expect("just mapped");
    })
}

fn vm_deallocate(task: u64, address: u64, size: u64) -> KernResult {
    let map = target_map(task)?;
    on_range(map, existing_range(address, size)?, deallocate)
}

/// Removes `[start, end)` of `map`. Removing the middle of an entry leaves two entries (more
/// kernel memory), so it is refused as any allocating call is when the heap or the caller's
/// family is short (`limits::heap_allows_call`); any other removal only frees.
pub(super) fn deallocate(vm: &mut vm_system::KernelVm, map: MapId, start: Page, end: Page) -> Result<(), VmError> {
    if vm.deallocate_splits(map, start, end) && !crate::limits::heap_allows_call() {
        return Err(VmError::OutOfMemory);
    }
    vm.deallocate(map, start, end)
}

fn vm_protect(task: u64, address: u64, size: u64, set_maximum: u64, new_protection: u64) -> KernResult {
    let map = target_map(task)?;
    let prot = prot_value(new_protection)?;
    let target = if set_maximum != 0 { ProtectTarget::Maximum } else { ProtectTarget::Current };
    on_range(map, existing_range(address, size)?, |vm, m, s, e| vm.protect(m, s, e, target, prot))
}

fn vm_inherit(task: u64, address: u64, size: u64, new_inheritance: u64) -> KernResult {
    let map = target_map(task)?;
    let inheritance = u32::try_from(new_inheritance).ok().and_then(Inherit::from_raw).ok_or(KERN_INVALID_ARGUMENT)?;
    on_range(map, existing_range(address, size)?, |vm, m, s, e| vm.inherit(m, s, e, inheritance))
}

fn vm_behavior_set(task: u64, address: u64, size: u64, behavior: u64) -> KernResult {
    let map = target_map(task)?;
    let behavior = u32::try_from(behavior).ok().and_then(Behavior::from_raw).ok_or(KERN_INVALID_ARGUMENT)?;
    on_range(map, existing_range(address, size)?, |vm, m, s, e| vm.set_behavior(m, s, e, behavior))
}

/// `vm_msync`: anonymous memory has no backing store, so a mapped range is in sync. The flags
/// must be a valid combination (not both synchronous and asynchronous).
fn vm_msync(task: u64, address: u64, size: u64, flags: u64) -> KernResult {
    let map = target_map(task)?;
    let known = (VM_SYNC_SYNCHRONOUS | VM_SYNC_ASYNCHRONOUS | VM_SYNC_INVALIDATE) as u64;
    let both = (VM_SYNC_SYNCHRONOUS | VM_SYNC_ASYNCHRONOUS) as u64;
    if flags & !known != 0 || flags & both == both {
        return Err(KERN_INVALID_ARGUMENT);
    }
    require_mapped(map, address, size)
}

/// Checks that every page of the range (by the range rules) is mapped: the whole work of
/// calls that have nothing to change in anonymous memory.
pub(super) fn require_mapped(map: MapId, address: u64, size: u64) -> KernResult {
    on_range(map, existing_range(address, size)?, |vm, m, s, e| {
        if vm.map(m).covers(s.addr(), e.addr()) { Ok(()) } else { Err(VmError::InvalidAddress) }
    })
}

/// `vm_region(task, *address, *size, *info)`.
fn vm_region(task: u64, address_ptr: u64, size_ptr: u64, info_ptr: u64) -> KernResult {
    let map = target_map(task)?;
    let address = user::read_u64(address_ptr)?;
    let r = vm_system::read().region(map, address).map_err(kr)?;
    let info = VmRegionInfo {
        protection: r.protection.bits() as vm_prot_t,
        max_protection: r.max_protection.bits() as vm_prot_t,
        inheritance: r.inheritance.raw(),
        shared: u32::from(r.shared),
        user_wired_count: u32::from(r.user_wired_count),
        behavior: r.behavior.raw() as vm_behavior_t,
        offset: r.offset,
    };
    user::write_plain(info_ptr, &info)?;
    user::write_u64(size_ptr, r.end - r.start)?;
    user::write_u64(address_ptr, r.start)
}

/// `vm_wire(host, task, address, size, access)`, with the codes of seed 003.
fn vm_wire(host: u64, task: u64, address: u64, size: u64, access: u64) -> KernResult {
    require_host(host)?;
    let map = target_map(task)?;
    let access = u32::try_from(access).ok().and_then(Prot::from_bits).ok_or(KERN_INVALID_VALUE)?;
    let Some(range) = existing_range(address, size)? else { return Ok(()) };
    let mut vm = vm_system::lock();
    if access.is_empty() {
        return vm.unwire(map, range.start(), range.end()).map_err(kr);
    }
    vm.wire(map, range.start(), range.end(), access).map_err(|e| match e {
        VmError::OutOfMemory | VmError::EntryLimit => KERN_RESOURCE_SHORTAGE,
        _ => KERN_FAILURE,
    })
}

/// `vm_statistics(*stats)`: the VM's counters.
fn vm_statistics(stats_ptr: u64) -> KernResult {
    let stats = {
        let vm = vm_system::lock();
        let (accounts, counters) = (vm.frame_accounts(), vm.counters());
        VmStatistics {
            free_count: accounts.free,
            resident_count: accounts.resident,
            wire_count: accounts.wired,
            page_table_count: accounts.page_tables,
            faults: counters.faults,
            zero_fill_count: counters.zero_fill,
            cow_faults: counters.cow_faults,
            pages_copied: counters.pages_copied,
        }
    };
    user::write_plain(stats_ptr, &stats)
}
