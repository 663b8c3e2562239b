//! Physical memory: the boot memory map, the frame allocator and the kernel heap.
//!
//! All of physical memory is mapped at [`PHYS_MAP_BASE`]; the kernel reaches any frame through
//! [`phys_to_virt`]. The heap is a contiguous run of frames taken from the largest usable
//! region before the frame allocator exists; the allocator then owns every other usable frame
//! at or above 1 MiB (the first megabyte holds firmware data and is never handed out).
//! Kernel stacks live in an area of their own, each above a guard page ([`kstack`]).

pub mod frames;
pub mod heap;
pub mod kstack;

use crate::boot::PHYS_MAP_BASE;
use crate::sync::IrqMutex;
use alloc::vec::Vec;
use bootloader_api::info::MemoryRegionKind;
use bootloader_api::BootInfo;
use core::fmt;
use core::ops::Range;
use frames::FrameAllocator;
use spin::Once;
use x86_64::structures::paging::PhysFrame;
use x86_64::{PhysAddr, VirtAddr};

const FRAME_SIZE: u64 = 4096;
const LOW_MEMORY_END: u64 = 1 << 20;
const MIN_HEAP: u64 = 4 << 20;
const MAX_HEAP: u64 = 64 << 20;

static FRAMES: IrqMutex<Option<FrameAllocator>> = IrqMutex::new(None);
static LAYOUT: Once<Layout> = Once::new();

/// What boot found: the usable physical memory and where the kernel's own pieces are.
#[derive(Debug)]
pub struct Layout {
    /// Usable physical ranges from the boot memory map, sorted, clipped to start at 1 MiB.
    pub usable: Vec<Range<u64>>,
    /// Physical range of the kernel heap.
    pub heap: Range<u64>,
    /// Virtual range of the boot CPU's kernel stack (the guard page lies just below it).
    pub kernel_stack: Range<u64>,
}

/// A snapshot of the physical memory counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    /// Usable frames managed by the frame allocator.
    pub usable_frames: u64,
    /// Of those, frames currently free.
    pub free_frames: u64,
    /// Frames holding the kernel heap (outside the allocator).
    pub heap_frames: u64,
}

impl fmt::Display for MemoryStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} frames usable ({} MiB), {} free, {} in the kernel heap",
            self.usable_frames,
            self.usable_frames * FRAME_SIZE >> 20,
            self.free_frames,
            self.heap_frames
        )
    }
}

/// Virtual address at which the kernel reaches physical address `addr`.
pub fn phys_to_virt(addr: PhysAddr) -> VirtAddr {
    VirtAddr::new(PHYS_MAP_BASE + addr.as_u64())
}

/// Sets up the heap and the frame allocator from the boot memory map.
///
/// # Panics
///
/// If the bootloader did not map physical memory where [`crate::boot::BOOTLOADER_CONFIG`]
/// asked, or no usable region can hold the minimum heap.
pub fn init(boot_info: &'static BootInfo) {
    let offset = boot_info.physical_memory_offset.into_option();
    assert_eq!(offset, Some(PHYS_MAP_BASE), "physical memory is not mapped at PHYS_MAP_BASE");
    let usable = || {
        boot_info
            .memory_regions
            .iter()
            .filter(|r| r.kind == MemoryRegionKind::Usable)
            .map(|r| r.start.max(LOW_MEMORY_END).next_multiple_of(FRAME_SIZE)..r.end)
            .filter(|r| r.end.saturating_sub(r.start) >= FRAME_SIZE)
    };
    let heap = choose_heap(usable()).expect("no usable region can hold the kernel heap");
    // SAFETY: `heap` is usable RAM that the frame allocator will never hand out (it is reserved
    // below), mapped writable through the physical-memory mapping; this runs once, at boot.
    unsafe {
        let start = phys_to_virt(PhysAddr::new(heap.start)).as_mut_ptr();
        heap::init(start, (heap.end - heap.start) as usize);
    }
    let mut regions: Vec<Range<u64>> = usable().collect();
    regions.sort_by_key(|r| r.start);
    let mut allocator = FrameAllocator::new(&regions);
    allocator.reserve(heap.clone());
    *FRAMES.lock() = Some(allocator);
    let stack = boot_info.kernel_stack_bottom..boot_info.kernel_stack_bottom + boot_info.kernel_stack_len;
    LAYOUT.call_once(|| Layout { usable: regions, heap, kernel_stack: stack });
}

/// The heap's physical range: a sixteenth of usable memory, within [`MIN_HEAP`, `MAX_HEAP`],
/// from the start of the largest usable region.
fn choose_heap(usable: impl Iterator<Item = Range<u64>> + Clone) -> Option<Range<u64>> {
    let total: u64 = usable.clone().map(|r| r.end - r.start).sum();
    let wanted = (total / 16).clamp(MIN_HEAP, MAX_HEAP) & !(FRAME_SIZE - 1);
    let largest = usable.max_by_key(|r| r.end - r.start)?;
    let size = wanted.min((largest.end - largest.start) & !(FRAME_SIZE - 1));
    (size >= MIN_HEAP).then(|| largest.start..largest.start + size)
}

/// The layout found at boot.
///
/// # Panics
///
/// If called before [`init`].
pub fn layout() -> &'static Layout {
    LAYOUT.get().expect("memory::init has run")
}

fn with_frames<R>(f: impl FnOnce(&mut FrameAllocator) -> R) -> R {
    f(FRAMES.lock().as_mut().expect("memory::init has run"))
}

/// Allocates one physical frame; `None` when memory is exhausted.
pub fn allocate_frame() -> Option<PhysFrame> {
    with_frames(FrameAllocator::allocate)
}

/// Returns a frame obtained from [`allocate_frame`].
///
/// # Panics
///
/// On a double free (see [`FrameAllocator::deallocate`]).
pub fn deallocate_frame(frame: PhysFrame) {
    with_frames(|frames| frames.deallocate(frame));
}

/// The current physical memory counters.
pub fn stats() -> MemoryStats {
    let heap = &layout().heap;
    with_frames(|frames| MemoryStats {
        usable_frames: frames.usable_frames(),
        free_frames: frames.free_frames(),
        heap_frames: (heap.end - heap.start) / FRAME_SIZE,
    })
}

/// Checks the frame allocator's invariants.
///
/// # Panics
///
/// If one does not hold.
pub fn check() {
    with_frames(|frames| frames.check());
}
