//! The kernel's physical map: `pmap-x86` over the direct map and the frame allocator.
//!
//! The VM's frames (tasks' pages, page tables) come from `memory::allocate_frame`, which
//! leaves the kernel heap its reserve (`memory`'s frame budget): the VM sees only the frames
//! it may take.

use crate::boot::PHYS_MAP_BASE;
use crate::memory;
use pmap_x86::{DirectMap, HardwareMmu, Invalidate, Mmu, X86Pmap};
use vm::pmap::FrameAllocator;
use vm::Frame;
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::PhysFrame;
use x86_64::PhysAddr;

/// The frame allocator as the VM layer sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelFrames;

impl FrameAllocator for KernelFrames {
    fn allocate_frame(&self) -> Option<Frame> {
        memory::allocate_frame().map(|f| Frame::containing(f.start_address().as_u64()))
    }

    fn deallocate_frame(&self, frame: Frame) {
        memory::deallocate_frame(physical(frame));
    }

    fn deallocate_frames(&self, frames: &[Frame]) {
        memory::deallocate_frames(frames.iter().map(|&frame| physical(frame)));
    }

    fn free_frames(&self) -> u64 {
        memory::available_frames()
    }
}

fn physical(frame: Frame) -> PhysFrame {
    PhysFrame::containing_address(PhysAddr::new(frame.addr()))
}

/// The MMU of whichever processor runs the pmap's code: the local operations are
/// [`HardwareMmu`]'s, shootdowns go through `arch::tlb`.
#[derive(Debug)]
pub struct KernelMmu(HardwareMmu);

impl Mmu for KernelMmu {
    fn invalidate_page(&self, addr: u64) {
        self.0.invalidate_page(addr);
    }

    fn invalidate_all(&self) {
        self.0.invalidate_all();
    }

    fn switch_to(&self, root: Frame, pcid: u16, keep_cached: bool) {
        self.0.switch_to(root, pcid, keep_cached);
    }

    fn has_pcid(&self) -> bool {
        self.0.has_pcid()
    }

    fn has_no_execute(&self) -> bool {
        self.0.has_no_execute()
    }

    fn cpu(&self) -> usize {
        crate::arch::percpu::index()
    }

    fn shootdown(&self, cpus: u64, what: Invalidate<'_>) {
        crate::arch::tlb::shootdown_user(cpus, what);
    }
}

/// The kernel's pmap type.
pub type KernelPmap = X86Pmap<KernelFrames, KernelMmu>;

/// The window through which the kernel reaches physical memory.
pub fn direct_map() -> DirectMap {
    // SAFETY: the bootloader maps all of physical memory at PHYS_MAP_BASE, read-write, for the
    // kernel's whole life (`boot::BOOTLOADER_CONFIG`); frames are used through the window only
    // by their owners.
    unsafe { DirectMap::new(PHYS_MAP_BASE as *mut u8) }
}

/// Builds the pmap over the boot page table's kernel half. Runs once, after `memory::init`
/// and `arch::init`; the VM system (`vm_system::init`) owns the result.
pub fn build() -> KernelPmap {
    let (boot_root, _) = Cr3::read();
    let kernel_root = Frame::containing(boot_root.start_address().as_u64());
    let limit = memory::layout().usable.iter().map(|r| r.end).max().unwrap_or(0).div_ceil(4096);
    // SAFETY: this runs once at boot in ring 0, while CR3 still holds the boot table (PCID 0),
    // and from now on only this pmap writes CR3.
    let mmu = KernelMmu(unsafe { HardwareMmu::new(true) });
    log::info!("pmap: PCIDs {}", if mmu.has_pcid() { "on" } else { "off (not offered by the CPU)" });
    X86Pmap::new(direct_map(), KernelFrames, mmu, kernel_root, limit)
}

/// Locks the VM system exclusively and gives its pmap (the pmap is owned by the VM system).
///
/// # Panics
///
/// If called before `vm_system::init`.
pub fn lock() -> PmapGuard {
    PmapGuard(crate::vm_system::lock())
}

/// The pmap, reached through the VM system held exclusively.
pub struct PmapGuard(crate::vm_system::VmGuard);

impl core::ops::Deref for PmapGuard {
    type Target = KernelPmap;
    fn deref(&self) -> &KernelPmap {
        self.0.pmap()
    }
}

impl core::ops::DerefMut for PmapGuard {
    fn deref_mut(&mut self) -> &mut KernelPmap {
        self.0.pmap_mut()
    }
}

/// Runs `f` on the pmap with the VM system shared (the scheduler loading an address space):
/// the pmap locks inside what it changes.
pub fn with_shared<R>(f: impl FnOnce(&KernelPmap) -> R) -> R {
    f(crate::vm_system::read().pmap())
}
