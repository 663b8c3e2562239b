//! `vm_map`, `mach_make_memory_entry` and `vm_machine_attribute`.

use super::memory::{existing_range, kr, prot_value, require_mapped};
use super::{caller, target_map, user, with_handles, KernResult};
use crate::task::{self, handles::Handle};
use crate::vm_system;
use machvm_abi::kern::*;
use machvm_abi::vm::*;
use machvm_abi::VmMapArgs;
use vm::api::{sanitize, RangeError, Sanitized, USER_MAX, USER_MIN};
use vm::{Inherit, MapMode, NamedId, NewMemory, Placement, PAGE_SIZE};

/// The named entry behind memory-entry handle `name`.
fn named_entry(name: u32) -> Result<NamedId, kern_return_t> {
    match with_handles(|h| h.get(name)) {
        Some(Handle::MemoryEntry(id)) => Ok(id),
        _ => Err(KERN_INVALID_OBJECT),
    }
}

/// `vm_map(*args)`, seed 002's call with the spec's results.
pub fn vm_map(args_ptr: u64) -> KernResult {
    let mut args: VmMapArgs = user::read_in_out(args_ptr)?;
    let map = target_map(args.target_task.into())?;
    let memory = map_values(&args)?;
    let anywhere = match args.flags {
        VM_FLAGS_ANYWHERE => true,
        VM_FLAGS_FIXED => false,
        _ => return Err(KERN_INVALID_ARGUMENT),
    };
    if args.reserved != 0 || args.size == 0 || args.offset % PAGE_SIZE != 0 {
        return Err(KERN_INVALID_ARGUMENT);
    }
    let object = match args.object {
        MACH_PORT_NULL => None,
        name => Some(named_entry(name)?),
    };
    let (placement, pages) = if anywhere {
        let rounded = args.size.checked_next_multiple_of(PAGE_SIZE).ok_or(KERN_INVALID_ARGUMENT)?;
        (Placement::Anywhere { mask: args.mask }, rounded / PAGE_SIZE)
    } else {
        if args.address & args.mask != 0 {
            return Err(KERN_INVALID_ARGUMENT);
        }
        let range = match sanitize(args.address, args.size, USER_MIN, USER_MAX) {
            Ok(Sanitized::Range(r)) => r,
            _ => return Err(KERN_INVALID_ADDRESS),
        };
        (Placement::Fixed(range.start()), range.len_pages())
    };
    let mode = if args.copy != 0 { MapMode::Copy } else { MapMode::Shared };
    let start = {
        let mut vm = vm_system::lock();
        match object {
            None => vm.allocate(map, placement, pages, memory),
            Some(id) => vm.map_named(map, placement, pages, id, args.offset / PAGE_SIZE, mode, memory),
        }
        .map_err(kr)?
    };
    args.address = start.addr();
    user::write_plain(args_ptr, &args)
}

/// The protections and inheritance of a `vm_map`: values checked, current reduced to fit
/// the maximum.
fn map_values(args: &VmMapArgs) -> Result<NewMemory, kern_return_t> {
    let cur = prot_value(args.cur_protection as u32 as u64)?;
    let max = prot_value(args.max_protection as u32 as u64)?;
    let inheritance = Inherit::from_raw(args.inheritance).ok_or(KERN_INVALID_ARGUMENT)?;
    Ok(NewMemory { protection: cur & max, max_protection: max, inheritance })
}

/// `mach_make_memory_entry(task, *size, offset, permission, *handle, parent)`: a named entry
/// for `[offset, offset + size)` of the task's map, of a parent entry's window, or (with
/// `MAP_MEM_NAMED_CREATE`) over a new anonymous object.
pub fn mach_make_memory_entry(task_name: u64, size_ptr: u64, offset: u64, permission: u64, handle_ptr: u64, parent: u64) -> KernResult {
    let map = target_map(task_name)?;
    let create = permission & MAP_MEM_NAMED_CREATE as u64 != 0;
    let prot = prot_value(permission & !(MAP_MEM_NAMED_CREATE as u64))?;
    let size = user::read_in_out_u64(size_ptr)?;
    user::check_writable_u64(handle_ptr)?;
    let parent = u32::try_from(parent).map_err(|_| KERN_INVALID_ARGUMENT)?;
    let rounded = size.checked_next_multiple_of(PAGE_SIZE).filter(|&s| s != 0).ok_or(KERN_INVALID_ARGUMENT)?;
    if !task::room_for_handle(caller()) {
        return Err(KERN_RESOURCE_SHORTAGE);
    }
    let id = if create {
        vm_system::lock().new_named_entry(rounded / PAGE_SIZE, prot)
    } else if parent != MACH_PORT_NULL {
        let parent = named_entry(parent)?;
        if offset % PAGE_SIZE != 0 {
            return Err(KERN_INVALID_ARGUMENT);
        }
        vm_system::lock().sub_named_entry(parent, offset / PAGE_SIZE, rounded / PAGE_SIZE, prot).map_err(kr)?
    } else {
        let range = match sanitize(offset, size, USER_MIN, USER_MAX) {
            Ok(Sanitized::Range(r)) => r,
            Ok(Sanitized::Empty) | Err(RangeError::Overflow) => return Err(KERN_INVALID_ARGUMENT),
            Err(RangeError::OutsideMap) => return Err(KERN_INVALID_ADDRESS),
        };
        vm_system::lock().make_named_entry(map, range.start(), range.end(), prot).map_err(kr)?
    };
    let name = task::grant(caller(), Handle::MemoryEntry(id));
    let written = user::write_u64(size_ptr, rounded).and_then(|()| user::write_u64(handle_ptr, u64::from(name)));
    written.inspect_err(|_| {
        task::revoke(caller(), name);
    })
}

/// `vm_machine_attribute(task, address, size, attribute, *value)`: x86 caches are coherent
/// and always on, so `MATTR_CACHE` reads back `MATTR_VAL_ON` and the flushes have nothing to
/// do; every other attribute or value is `KERN_INVALID_ARGUMENT`.
pub fn vm_machine_attribute(task_name: u64, address: u64, size: u64, attribute: u64, value_ptr: u64) -> KernResult {
    let map = target_map(task_name)?;
    if attribute != u64::from(MATTR_CACHE) {
        return Err(KERN_INVALID_ARGUMENT);
    }
    let value = user::read_in_out_u64(value_ptr)? as i32;
    if ![MATTR_VAL_GET, MATTR_VAL_CACHE_FLUSH, MATTR_VAL_ICACHE_FLUSH, MATTR_VAL_DCACHE_FLUSH].contains(&value) {
        return Err(KERN_INVALID_ARGUMENT);
    }
    // A range with an unmapped page is "not a valid address range in task" (seed 003):
    // KERN_INVALID_ARGUMENT, unlike vm_protect; a range outside the map follows the range
    // table (KERN_INVALID_ADDRESS).
    existing_range(address, size)?;
    require_mapped(map, address, size).map_err(|_| KERN_INVALID_ARGUMENT)?;
    if value == MATTR_VAL_GET {
        user::write_u64(value_ptr, MATTR_VAL_ON as u32 as u64)?;
    }
    Ok(())
}

