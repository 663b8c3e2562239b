//! The frame buffer the boot loader set up, found again by physical address for the
//! privileged tasks that draw into it (`host_framebuffer`, `vm_map_device`).

use crate::boot::PHYS_MAP_BASE;
use bootloader_api::BootInfo;
use machvm_abi::vm::FramebufferInfo;
use x86_64::structures::paging::{OffsetPageTable, PageTable, Translate};
use x86_64::VirtAddr;

static FRAMEBUFFER: spin::Once<FramebufferInfo> = spin::Once::new();

/// Records the frame buffer of `boot_info`, if the boot loader made one: its physical address
/// comes from the boot page table's translation of the address it was mapped at.
pub fn init(boot_info: &BootInfo) {
    let Some(fb) = boot_info.framebuffer.as_ref() else { return };
    let info = fb.info();
    let virt = VirtAddr::from_ptr(fb.buffer().as_ptr());
    let (root, _) = x86_64::registers::control::Cr3::read();
    let table = (PHYS_MAP_BASE + root.start_address().as_u64()) as *mut PageTable;
    // SAFETY: the boot page table is live and mapped through the direct map; it is only read
    // here, before any other processor runs.
    let tables = unsafe { OffsetPageTable::new(&mut *table, VirtAddr::new(PHYS_MAP_BASE)) };
    let Some(phys) = tables.translate_addr(virt) else { return };
    FRAMEBUFFER.call_once(|| FramebufferInfo {
        phys: phys.as_u64(),
        size: info.byte_len as u64,
        width: info.width as u32,
        height: info.height as u32,
        stride: info.stride as u32,
        bytes_per_pixel: info.bytes_per_pixel as u32,
    });
    log::info!("framebuffer: {}x{} at {:#x} ({} bytes)", info.width, info.height, phys.as_u64(), info.byte_len);
}

/// The frame buffer, if there is one.
pub fn get() -> Option<FramebufferInfo> {
    FRAMEBUFFER.get().copied()
}
