//! Device memory for user-space drivers: `vm_map_device` maps a physical range that is not
//! memory (a frame buffer, a device's registers) into a task, write-combining or uncached;
//! `host_framebuffer` tells where the boot frame buffer is. Both need the privileged host.

use super::memory::{existing_range, kr, report_start, require_host};
use super::{target_map, user, KernResult};
use crate::vm_system;
use machvm_abi::kern::*;
use machvm_abi::vm::*;
use vm::pmap::Cache;
use vm::{Frame, Placement, Prot, PAGE_SIZE};

/// Physical addresses stop below this: 52 bits, the most x86_64 has.
const PHYS_LIMIT: u64 = 1 << 52;

/// `vm_map_device(host_priv, task, *address, size, phys, flags)`.
///
/// - `KERN_INVALID_HOST`: `host_priv` is not the privileged host;
/// - `KERN_INVALID_ARGUMENT`: flags other than one placement and one caching, a size of 0, a
///   physical address not page-aligned;
/// - `KERN_INVALID_TASK`: `task` names no task;
/// - `KERN_INVALID_ADDRESS`: the physical range passes 2^52, or holds memory (RAM the kernel
///   or its allocator uses: never mapped this way) or the local APIC's registers (the
///   kernel's own: a task writing them could stop every processor), or a fixed range is
///   outside the map;
/// - `KERN_NO_SPACE`: no room (anywhere) or the fixed range is in use.
///
/// The mapping is readable and writable (never executable), inherited shared; nothing is
/// mapped if anything fails.
pub fn vm_map_device(host: u64, task: u64, address_ptr: u64, size: u64, phys: u64, flags: u64) -> KernResult {
    require_host(host)?;
    let (anywhere, cache) = device_flags(flags)?;
    if size == 0 || phys % PAGE_SIZE != 0 {
        return Err(KERN_INVALID_ARGUMENT);
    }
    let map = target_map(task)?;
    let pages = size.div_ceil(PAGE_SIZE);
    let end = pages.checked_mul(PAGE_SIZE).and_then(|bytes| phys.checked_add(bytes));
    let end = end.filter(|&end| end <= PHYS_LIMIT).ok_or(KERN_INVALID_ADDRESS)?;
    let apic = crate::arch::apic::physical_base().is_some_and(|base| phys < base + PAGE_SIZE && base < end);
    if !crate::memory::is_device_range(phys, end) || apic {
        return Err(KERN_INVALID_ADDRESS);
    }
    let address = user::read_in_out_u64(address_ptr)?;
    let placement = if anywhere {
        Placement::Anywhere { mask: 0 }
    } else {
        let range = existing_range(address, size).map_err(|_| KERN_INVALID_ADDRESS)?.expect("size is not 0");
        Placement::Fixed(range.start())
    };
    let prot = Prot::READ | Prot::WRITE;
    let start = vm_system::lock().map_device(map, placement, Frame::containing(phys), pages, prot, cache).map_err(kr)?;
    report_start(map, address_ptr, start, pages)?;
    log::debug!("vm_map_device: {pages} pages at {phys:#x} mapped at {:#x} ({cache:?})", start.addr());
    Ok(())
}

/// The placement (anywhere?) and caching that `flags` ask for.
fn device_flags(flags: u64) -> Result<(bool, Cache), kern_return_t> {
    let flags = u32::try_from(flags).map_err(|_| KERN_INVALID_ARGUMENT)?;
    let (wc, uc) = (VM_DEVICE_WRITE_COMBINING as u32, VM_DEVICE_UNCACHED as u32);
    let cache = match flags & (wc | uc) {
        c if c == wc => Cache::WriteCombining,
        c if c == uc => Cache::Uncached,
        _ => return Err(KERN_INVALID_ARGUMENT),
    };
    match flags & !(wc | uc) {
        f if f == VM_FLAGS_ANYWHERE as u32 => Ok((true, cache)),
        f if f == VM_FLAGS_FIXED as u32 => Ok((false, cache)),
        _ => Err(KERN_INVALID_ARGUMENT),
    }
}

/// `host_framebuffer(host_priv, *info)`: `KERN_INVALID_HOST`, or `KERN_NOT_SUPPORTED` when
/// the boot loader made no frame buffer.
pub fn host_framebuffer(host: u64, info_ptr: u64) -> KernResult {
    require_host(host)?;
    let info = crate::framebuffer::get().ok_or(KERN_NOT_SUPPORTED)?;
    user::write_plain(info_ptr, &info)
}
