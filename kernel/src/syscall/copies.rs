//! The copy-object calls (`vm_copyin`, `vm_copyout`, `vm_copy_overwrite`, `vm_copy_discard`)
//! and those built on copies (`vm_read`, `vm_write`, `vm_copy`, `vm_remap`).
//!
//! Byte ranges follow the spec's range table: size 0 succeeds and changes nothing (a copy of
//! nothing is the null handle), a wrapping range is `KERN_INVALID_ARGUMENT`, one outside the
//! map `KERN_INVALID_ADDRESS`. A copy handle is used once: a call that succeeds consumes it.

use super::memory::kr;
use super::{caller, target_map, user, with_handles, KernResult};
use crate::task::{self, handles::Handle};
use crate::vm_system;
use machvm_abi::kern::*;
use machvm_abi::vm::*;
use machvm_abi::VmRemapArgs;
use vm::api::{sanitize, RangeError, Sanitized, USER_MAX, USER_MIN};
use vm::{CopyId, Inherit, MapId, Page, Placement, RemapMode, SourceDisposal, PAGE_SIZE};

/// Checks a byte range of a map: `Ok(false)` for size 0.
fn byte_range(address: u64, size: u64) -> Result<bool, kern_return_t> {
    match sanitize(address, size, USER_MIN, USER_MAX) {
        Ok(Sanitized::Empty) => Ok(false),
        Ok(Sanitized::Range(_)) => Ok(true),
        Err(RangeError::Overflow) => Err(KERN_INVALID_ARGUMENT),
        Err(RangeError::OutsideMap) => Err(KERN_INVALID_ADDRESS),
    }
}

/// The copy behind handle `name` (`None` for the null handle).
fn copy_handle(name: u64) -> Result<Option<CopyId>, kern_return_t> {
    match u32::try_from(name).map_err(|_| KERN_INVALID_ARGUMENT)? {
        MACH_PORT_NULL => Ok(None),
        name => match with_handles(|h| h.get(name)) {
            Some(Handle::Copy(id)) => Ok(Some(id)),
            _ => Err(KERN_INVALID_ARGUMENT),
        },
    }
}

/// `vm_copyin(task, address, size, src_destroy, *copy)`.
pub fn vm_copyin(task: u64, address: u64, size: u64, src_destroy: u64, copy_ptr: u64) -> KernResult {
    let map = target_map(task)?;
    user::check_writable_u64(copy_ptr)?;
    if !byte_range(address, size)? {
        return user::write_u64(copy_ptr, u64::from(MACH_PORT_NULL));
    }
    if !task::room_for_handle(caller()) {
        return Err(KERN_RESOURCE_SHORTAGE);
    }
    let (start, end) = (Page::containing(address), Page::containing((address + size).next_multiple_of(PAGE_SIZE)));
    if src_destroy != 0 && map == own_map()? && user::overlaps(copy_ptr, 8, start.addr(), end.addr()) {
        // The move would remove the out-parameter before it could be written.
        return Err(KERN_INVALID_ADDRESS);
    }
    let id = {
        let mut vm = vm_system::lock();
        if src_destroy != 0 {
            vm.check_deallocate(map, start, end).map_err(kr)?;
        }
        vm.copyin(map, address, size, SourceDisposal::Keep).map_err(kr)?
    };
    let name = task::grant(caller(), Handle::Copy(id));
    if let Err(e) = user::write_u64(copy_ptr, u64::from(name)) {
        task::revoke(caller(), name);
        return Err(e);
    }
    if src_destroy != 0 {
        // A move removes the source last, after everything that could fail.
        vm_system::lock().deallocate(map, start, end).expect("checked");
    }
    Ok(())
}

/// The caller's own map.
fn own_map() -> Result<MapId, kern_return_t> {
    task::map_of(caller()).ok_or(KERN_INVALID_TASK)
}

/// `vm_copyout(task, copy, *address)`: places the copy anywhere and consumes the handle;
/// `KERN_NO_SPACE` leaves it valid.
pub fn vm_copyout(task: u64, copy: u64, address_ptr: u64) -> KernResult {
    let map = target_map(task)?;
    let id = copy_handle(copy)?;
    user::check_writable_u64(address_ptr)?;
    let Some(id) = id else { return user::write_u64(address_ptr, 0) };
    let address = vm_system::lock().copyout(map, id, Placement::Anywhere { mask: 0 }).map_err(kr)?;
    task::forget_copy_handle(caller(), copy as u32);
    user::write_u64(address_ptr, address)
}

/// `vm_copy_overwrite(task, address, copy)`: writes the copy over existing memory and consumes
/// the handle.
pub fn vm_copy_overwrite(task: u64, address: u64, copy: u64) -> KernResult {
    let map = target_map(task)?;
    let Some(id) = copy_handle(copy)? else { return Ok(()) };
    let size = vm_system::lock().copy_size(id).unwrap_or(0);
    if byte_range(address, size)? {
        vm_system::lock().copy_overwrite(map, address, id).map_err(kr)?;
    } else {
        vm_system::lock().copy_discard(id);
    }
    task::forget_copy_handle(caller(), copy as u32);
    Ok(())
}

/// `vm_copy_discard(copy)`.
pub fn vm_copy_discard(copy: u64) -> KernResult {
    if copy_handle(copy)?.is_some() {
        task::revoke(caller(), copy as u32);
    }
    Ok(())
}

/// `vm_read(task, address, size, *data, *data_count)`: a copy of the task's range in new
/// memory of the caller.
pub fn vm_read(task: u64, address: u64, size: u64, data_ptr: u64, count_ptr: u64) -> KernResult {
    let source = target_map(task)?;
    let me = own_map()?;
    user::check_writable_u64(data_ptr)?;
    user::check_writable_u64(count_ptr)?;
    if !byte_range(address, size)? {
        return user::write_u64(data_ptr, 0).and_then(|()| user::write_u64(count_ptr, 0));
    }
    let placed = vm_system::lock().read_into(source, address, size, me).map_err(kr)?;
    user::write_u64(data_ptr, placed).and_then(|()| user::write_u64(count_ptr, size))
}

/// `vm_write(task, address, data, data_count)`: the caller's bytes over the task's memory.
pub fn vm_write(task: u64, address: u64, data: u64, count: u64) -> KernResult {
    let target = target_map(task)?;
    let me = own_map()?;
    overwrite_from(me, data, count, target, address)
}

/// `vm_copy(task, source, count, dest)`: within one task, as if through a temporary.
pub fn vm_copy(task: u64, source: u64, count: u64, dest: u64) -> KernResult {
    let map = target_map(task)?;
    overwrite_from(map, source, count, map, dest)
}

/// Copies `count` bytes at `from` in `source` over `to` in `target`.
fn overwrite_from(source: MapId, from: u64, count: u64, target: MapId, to: u64) -> KernResult {
    let source_nonempty = byte_range(from, count)?;
    if !byte_range(to, count)? || !source_nonempty {
        return Ok(());
    }
    vm_system::lock().copy_between(source, from, count, target, to).map_err(kr)
}

/// `vm_remap(*args)`: the source range mapped into the target, shared or copied; the
/// protections common to the new mapping come back in the block.
pub fn vm_remap(args_ptr: u64) -> KernResult {
    let mut args: VmRemapArgs = user::read_in_out(args_ptr)?;
    let target = target_map(args.target_task.into())?;
    let source = target_map(args.src_task.into())?;
    let inheritance = Inherit::from_raw(args.inheritance).ok_or(KERN_INVALID_ARGUMENT)?;
    let anywhere = match args.flags {
        VM_FLAGS_ANYWHERE => true,
        VM_FLAGS_FIXED => false,
        _ => return Err(KERN_INVALID_ARGUMENT),
    };
    if args.reserved != 0 || args.size == 0 || (!anywhere && args.target_address & args.mask != 0) {
        return Err(KERN_INVALID_ARGUMENT);
    }
    let src = match sanitize(args.src_address, args.size, USER_MIN, USER_MAX) {
        Ok(Sanitized::Range(r)) => r,
        Ok(Sanitized::Empty) | Err(RangeError::Overflow) => return Err(KERN_INVALID_ARGUMENT),
        Err(RangeError::OutsideMap) => return Err(KERN_INVALID_ADDRESS),
    };
    let placement = if anywhere {
        Placement::Anywhere { mask: args.mask }
    } else {
        match sanitize(args.target_address, src.len_pages() * PAGE_SIZE, USER_MIN, USER_MAX) {
            Ok(Sanitized::Range(r)) if args.target_address % PAGE_SIZE == 0 => Placement::Fixed(r.start()),
            _ => return Err(KERN_INVALID_ADDRESS),
        }
    };
    let mode = if args.copy != 0 { RemapMode::Copy } else { RemapMode::Shared };
    let remapped = vm_system::lock().remap(target, placement, source, src.start(), src.end(), mode, inheritance).map_err(kr)?;
    args.target_address = remapped.start.addr() + args.src_address % PAGE_SIZE;
    args.cur_protection = remapped.protection.bits() as vm_prot_t;
    args.max_protection = remapped.max_protection.bits() as vm_prot_t;
    user::write_plain(args_ptr, &args)
}
