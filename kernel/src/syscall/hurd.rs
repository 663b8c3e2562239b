//! The Hurd's calls on the caller's own map (seed 004), with errno results.

use super::{caller, user};
use crate::task;
use crate::vm_system;
use machvm_abi::kern::{EEXIST, EINVAL, ENOMEM, ENOSPC, VM_HERE, VM_ZEROFILL};
use vm::api::{USER_MAX, USER_MIN};
use vm::{NewMemory, Page, Placement, VmError, PAGE_SIZE};

/// An errno result: 0 for success.
pub type Errno = i32;

fn errno(result: Result<(), Errno>) -> i64 {
    i64::from(result.err().unwrap_or(0))
}

/// `hurd_vm_allocate(*address, size, flags, map_now)`.
pub fn hurd_vm_allocate(address_ptr: u64, size: u64, flags: u64, map_now: u64) -> i64 {
    errno(allocate(address_ptr, size, flags, map_now != 0))
}

fn allocate(address_ptr: u64, size: u64, flags: u64, map_now: bool) -> Result<(), Errno> {
    if flags & !(VM_HERE | VM_ZEROFILL) != 0 || size % PAGE_SIZE != 0 {
        return Err(EINVAL);
    }
    let address = user::read_in_out_u64(address_ptr).map_err(|_| EINVAL)?;
    if size == 0 {
        return Ok(());
    }
    let map = task::map_of(caller()).ok_or(EINVAL)?;
    let pages = size / PAGE_SIZE;
    let placement = if flags & VM_HERE != 0 {
        let end = address.checked_add(size).ok_or(EINVAL)?;
        if address % PAGE_SIZE != 0 || address < USER_MIN || end > USER_MAX {
            return Err(EINVAL);
        }
        Placement::Fixed(Page::containing(address))
    } else {
        Placement::Anywhere { mask: 0 }
    };
    let start = {
        let mut vm = vm_system::lock();
        let start = vm.allocate(map, placement, pages, NewMemory::DEFAULT).map_err(|e| match e {
            VmError::NoSpace if flags & VM_HERE != 0 => EEXIST,
            VmError::NoSpace => ENOSPC,
            VmError::OutOfMemory | VmError::EntryLimit => ENOMEM,
            _ => EINVAL,
        })?;
        let end = Page::containing(start.addr() + size);
        if map_now && vm.populate(map, start, end).is_err() {
            vm.deallocate(map, start, end).expect("just allocated");
            return Err(ENOMEM);
        }
        start
    };
    super::memory::report_start(map, address_ptr, start, pages).map_err(|_| EINVAL)
}

/// `hurd_vm_deallocate(address, size)`.
pub fn hurd_vm_deallocate(address: u64, size: u64) -> i64 {
    errno(deallocate(address, size))
}

fn deallocate(address: u64, size: u64) -> Result<(), Errno> {
    let end = address.checked_add(size).ok_or(EINVAL)?;
    if address % PAGE_SIZE != 0 || size % PAGE_SIZE != 0 || address < USER_MIN || end > USER_MAX {
        return Err(EINVAL);
    }
    if size == 0 {
        return Ok(());
    }
    let map = task::map_of(caller()).ok_or(EINVAL)?;
    match super::memory::deallocate(&mut vm_system::lock(), map, Page::containing(address), Page::containing(end)) {
        Ok(()) => Ok(()),
        Err(VmError::OutOfMemory) => Err(ENOMEM),
        Err(_) => Err(EINVAL),
    }
}
