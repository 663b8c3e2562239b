//! Physical memory: the boot memory map, the frame allocator, the frame budget and the kernel
//! heap.
//!
//! All of physical memory is mapped at [`PHYS_MAP_BASE`]; the kernel reaches any frame through
//! [`phys_to_virt`]. At boot, the metadata of the frame allocator (its bitmap) and of the
//! heap's large blocks (a buddy allocator's bit trees, page-table counters) is carved from the
//! start of the largest usable region; the frame allocator then owns every other usable frame
//! at or above 1 MiB (the first megabyte holds firmware data and is never handed out). The
//! heap ([`heap`]) takes its frames from the allocator as it grows and gives them back as it
//! shrinks. Kernel stacks live in an area of their own, each above a guard page ([`kstack`]).
//!
//! # Who may take a frame
//!
//! Two ways in, one rule ([`kalloc::budget`]):
//!
//! - [`allocate_frame`], for everything a task's calls and faults make the kernel take (the
//!   VM's pages and page tables through `pmap::KernelFrames`, kernel stacks): refused while
//!   no more than the *floor* are free, so that the heap always finds the frames the calls in
//!   progress need. [`available_frames`] is what it may still take;
//! - the heap's own (`allocate_heap_frame`), which may take any free frame, the reserve
//!   included.
//!
//! The floor is `max(ratchet, keep − heap frames)`: while the heap is small, the kernel keeps
//! `keep` frames (heap and free together, `limits::kernel_keep`) and the heap's growth is
//! invisible to tasks; past that, the VM side still leaves `reserve` frames
//! (`limits::heap_reserve`), or half of them for a page fault ([`fault_starts`]), so that
//! faults go on once calls have filled the heap up to the reserve. Within one VM operation
//! (one hold of the VM lock, which calls [`operation_starts`]) the heap's growth comes out of
//! the reserve, so frames the VM has counted stay available to it for the rest of the
//! operation.

pub mod cache;
pub mod frames;
pub mod heap;
pub mod kstack;

use crate::boot::PHYS_MAP_BASE;
use crate::sync::Mutex;
use alloc::vec::Vec;
use bootloader_api::info::MemoryRegionKind;
use bootloader_api::BootInfo;
use core::fmt;
use core::ops::Range;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use frames::FrameAllocator;
use kalloc::budget::FrameBudget;
use spin::Once;
use x86_64::structures::paging::PhysFrame;
use x86_64::{PhysAddr, VirtAddr};

/// Bytes in a frame.
pub const FRAME_SIZE: u64 = 4096;
const LOW_MEMORY_END: u64 = 1 << 20;

/// The frame allocator and the budget that splits its free frames.
struct Frames {
    allocator: FrameAllocator,
    budget: FrameBudget,
}

static FRAMES: Mutex<Option<Frames>> = Mutex::new(None);
static LAYOUT: Once<Layout> = Once::new();
/// Bytes of usable memory (fixed at boot), readable without a lock.
static USABLE_BYTES: AtomicU64 = AtomicU64::new(0);

/// What boot found: the usable physical memory and where the kernel's own pieces are.
#[derive(Debug)]
pub struct Layout {
    /// Usable physical ranges from the boot memory map, sorted, clipped to start at 1 MiB.
    pub usable: Vec<Range<u64>>,
    /// Physical range of the allocators' metadata (frame bitmap, the heap's large-block
    /// allocator), taken at boot and never freed.
    pub metadata: Range<u64>,
    /// Virtual range of the boot CPU's kernel stack (the guard page lies just below it).
    pub kernel_stack: Range<u64>,
    /// Physical start of [`LOW_PAGES`] usable pages below 640 KiB for the processors'
    /// start-up code (`arch::smp`), if the memory map has them.
    pub low_pages: Option<u64>,
    /// Every physical range of memory (usable, or holding the kernel and what the boot loader
    /// left), sorted: what device mappings must never reach.
    pub ram: Vec<Range<u64>>,
}

/// A snapshot of the physical memory counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    /// Usable frames managed by the frame allocator (the metadata's included).
    pub usable_frames: u64,
    /// Frames the VM side may still take ([`available_frames`]): free frames less the floor.
    pub free_frames: u64,
    /// Frames free in the allocator, the floor included.
    pub pool_frames: u64,
    /// Frames the kernel heap holds (slabs, large blocks and their page tables).
    pub heap_frames: u64,
    /// Frames of the allocators' metadata, taken at boot.
    pub metadata_frames: u64,
}

impl MemoryStats {
    /// Frames that are free or in the heap: all but the metadata and what tasks, page tables
    /// and kernel stacks hold. Constant while no task memory, page table or stack changes,
    /// whatever the heap does (the kernel's frame check at shutdown compares it).
    pub fn free_or_heap(&self) -> u64 {
        self.pool_frames + self.heap_frames
    }
}

impl fmt::Display for MemoryStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} frames usable ({} MiB), {} free ({} for tasks), {} in the kernel heap, {} of metadata",
            self.usable_frames,
            self.usable_frames * FRAME_SIZE >> 20,
            self.pool_frames,
            self.free_frames,
            self.heap_frames,
            self.metadata_frames
        )
    }
}

/// Virtual address at which the kernel reaches physical address `addr`.
pub fn phys_to_virt(addr: PhysAddr) -> VirtAddr {
    VirtAddr::new(PHYS_MAP_BASE + addr.as_u64())
}

/// Physical address of `addr`, an address of the direct map.
pub fn virt_to_phys(addr: VirtAddr) -> PhysAddr {
    PhysAddr::new(addr.as_u64() - PHYS_MAP_BASE)
}

/// Sets up the frame allocator, the frame budget and the heap from the boot memory map.
///
/// # Panics
///
/// If the bootloader did not map physical memory where [`crate::boot::BOOTLOADER_CONFIG`]
/// asked, or no usable region can hold the allocators' metadata.
pub fn init(boot_info: &'static BootInfo) {
    let offset = boot_info.physical_memory_offset.into_option();
    assert_eq!(offset, Some(PHYS_MAP_BASE), "physical memory is not mapped at PHYS_MAP_BASE");
    let usable = || {
        boot_info
            .memory_regions
            .iter()
            .filter(|r| r.kind == MemoryRegionKind::Usable)
            .map(|r| r.start.max(LOW_MEMORY_END).next_multiple_of(FRAME_SIZE)..r.end & !(FRAME_SIZE - 1))
            .filter(|r| r.end > r.start)
    };
    let end = usable().map(|r| r.end).max().unwrap_or(0);
    let usable_frames: u64 = usable().map(|r| (r.end - r.start) / FRAME_SIZE).sum();
    let frame_words = FrameAllocator::words_for(end);
    let words = frame_words + heap::metadata_words(usable_frames);
    let metadata = carve(usable(), words as u64 * 8).expect("no usable region can hold the allocators' metadata");
    // SAFETY: `metadata` is usable RAM, mapped writable through the direct map, that the frame
    // allocator never hands out (it is reserved below); this runs once, at boot, so nothing
    // else refers to it, and it is used as words for the rest of the kernel's life.
    let words: &'static mut [u64] =
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(PhysAddr::new(metadata.start)).as_mut_ptr(), words) };
    let (frame_words, heap_words) = words.split_at_mut(frame_words);
    let mut allocator = FrameAllocator::new(frame_words, usable());
    allocator.reserve(metadata.clone());
    USABLE_BYTES.store(allocator.usable_frames() * FRAME_SIZE, Ordering::Relaxed);
    let reserve = crate::limits::heap_reserve() as u64 / FRAME_SIZE;
    let keep = crate::limits::kernel_keep() as u64 / FRAME_SIZE;
    *FRAMES.lock() = Some(Frames { allocator, budget: FrameBudget::new(reserve, keep) });
    heap::init(heap_words, usable_frames);
    let mut regions: Vec<Range<u64>> = usable().collect();
    regions.sort_by_key(|r| r.start);
    let stack = boot_info.kernel_stack_bottom..boot_info.kernel_stack_bottom + boot_info.kernel_stack_len;
    let low = low_pages(boot_info);
    let mut ram: Vec<Range<u64>> = boot_info
        .memory_regions
        .iter()
        .filter(|r| matches!(r.kind, MemoryRegionKind::Usable | MemoryRegionKind::Bootloader))
        .map(|r| r.start..r.end)
        .collect();
    ram.sort_by_key(|r| r.start);
    LAYOUT.call_once(|| Layout { usable: regions, metadata, kernel_stack: stack, low_pages: low, ram });
}

/// Whether the physical range `[start, end)` holds no memory (`Layout::ram`): device memory,
/// which a privileged task may map (`vm_map_device`), never a frame the allocator owns.
pub fn is_device_range(start: u64, end: u64) -> bool {
    layout().ram.iter().all(|r| r.end <= start || end <= r.start)
}

/// Pages of low memory the processors' start-up code needs ([`Layout::low_pages`]).
pub const LOW_PAGES: u64 = 4;

/// The first [`LOW_PAGES`] usable pages in a row between 4 KiB and 640 KiB, where a
/// processor's start-up IPI can point (the frame allocator never hands out memory below
/// 1 MiB).
fn low_pages(boot_info: &BootInfo) -> Option<u64> {
    const REAL_MODE_END: u64 = 0xa_0000;
    boot_info.memory_regions.iter().filter(|r| r.kind == MemoryRegionKind::Usable).find_map(|r| {
        let start = r.start.max(FRAME_SIZE).next_multiple_of(FRAME_SIZE);
        let end = r.end.min(REAL_MODE_END) & !(FRAME_SIZE - 1);
        (end >= start + LOW_PAGES * FRAME_SIZE).then_some(start)
    })
}

/// `bytes` (rounded up to whole frames) from the start of the largest usable region.
fn carve(usable: impl Iterator<Item = Range<u64>>, bytes: u64) -> Option<Range<u64>> {
    let largest = usable.max_by_key(|r| r.end - r.start)?;
    let size = bytes.next_multiple_of(FRAME_SIZE);
    (largest.end - largest.start >= size).then(|| largest.start..largest.start + size)
}

/// The layout found at boot.
///
/// # Panics
///
/// If called before [`init`].
pub fn layout() -> &'static Layout {
    LAYOUT.get().expect("memory::init has run")
}

/// Bytes of usable memory: the base of every limit proportional to memory (`limits`).
pub fn usable_bytes() -> usize {
    USABLE_BYTES.load(Ordering::Relaxed) as usize
}

/// The frame allocator's free count as of its last change, readable without the lock
/// (every system call's gate asks, through `heap::available_bytes`).
static POOL: AtomicU64 = AtomicU64::new(0);

fn with_frames<R>(f: impl FnOnce(&mut Frames) -> R) -> R {
    let mut frames = FRAMES.lock();
    let frames = frames.as_mut().expect("memory::init has run");
    let result = f(frames);
    POOL.store(frames.allocator.free_frames(), Ordering::Relaxed);
    result
}

/// Allocates one physical frame for the VM side (tasks' memory, page tables, kernel stacks);
/// `None` when no more than the floor are free (see the module documentation). Through the
/// running processor's cache ([`cache`]).
pub fn allocate_frame() -> Option<PhysFrame> {
    cache::allocate(|push, wanted| {
        with_frames(|f| {
            let grant = f.budget.available(f.allocator.free_frames()).min(wanted as u64);
            for _ in 0..grant {
                push(f.allocator.allocate().expect("the budget counts free frames"));
            }
        })
    })
}

/// Returns a frame obtained from [`allocate_frame`] (to the running processor's cache).
///
/// # Panics
///
/// On a double free (see [`FrameAllocator::deallocate`]), when the frame reaches the
/// allocator.
pub fn deallocate_frame(frame: PhysFrame) {
    cache::deallocate(frame, |spilled| with_frames(|f| spilled.for_each(|frame| f.allocator.deallocate(frame))));
}

/// Frames [`deallocate_frames`] returns under one hold of the lock: few enough that
/// interrupts stay off only briefly.
const RELEASE_BATCH: usize = 256;

/// Returns many frames obtained from [`allocate_frame`], [`RELEASE_BATCH`] per hold of the
/// lock rather than one (a removal of touched memory frees a frame per page).
///
/// # Panics
///
/// On a double free (see [`FrameAllocator::deallocate`]).
pub fn deallocate_frames(mut frames: impl Iterator<Item = PhysFrame>) {
    let mut more = true;
    while more {
        with_frames(|f| {
            more = frames.by_ref().take(RELEASE_BATCH).map(|frame| f.allocator.deallocate(frame)).count() == RELEASE_BATCH;
        });
    }
}

/// Allocates one zeroed frame for the heap, which may take the last one; `None` when none is
/// free.
///
/// Zeroed, outside the frame lock: the heap never sees what a task or the boot code left in
/// a frame, and a whole-page write is also what makes the frame cheap to write afterwards
/// under an emulator that translates code (QEMU's TCG keeps the translations of code a frame
/// once held — the boot loader's, an ended task's — and sends every later write to that
/// frame through a slow path until writes have covered them: measured, about 3 000 cycles a
/// store against 10, which made every slab operation on such a frame cost microseconds).
fn allocate_heap_frame() -> Option<PhysFrame> {
    let frame = with_frames(|f| {
        let frame = f.allocator.allocate()?;
        f.budget.heap_took();
        AT_FAULT_LEVEL.store(false, Ordering::Relaxed);
        Some(frame)
    });
    let frame = frame.or_else(|| {
        let frame = cache::steal()?;
        with_frames(|f| f.budget.heap_took());
        AT_FAULT_LEVEL.store(false, Ordering::Relaxed);
        Some(frame)
    })?;
    // SAFETY: the frame was just allocated, so nothing else uses it; it is mapped writable
    // through the direct map.
    unsafe { core::ptr::write_bytes(phys_to_virt(frame.start_address()).as_mut_ptr::<u8>(), 0, FRAME_SIZE as usize) };
    Some(frame)
}

/// Returns a frame obtained from [`allocate_heap_frame`].
fn deallocate_heap_frame(frame: PhysFrame) {
    with_frames(|f| {
        f.allocator.deallocate(frame);
        f.budget.heap_gave();
    });
}

/// Whether the budget's ratchet stands at the fault level, untouched since a fault set it:
/// then [`fault_starts`] has nothing to do and takes no lock (faults on several processors
/// would otherwise meet at the frame lock on every fault).
static AT_FAULT_LEVEL: AtomicBool = AtomicBool::new(false);

/// A VM operation starts (the VM lock was taken): the whole reserve stands again, and the
/// heap's growth until the next call comes out of it.
pub fn operation_starts() {
    with_frames(|f| {
        f.budget.operation_starts();
        AT_FAULT_LEVEL.store(false, Ordering::Relaxed);
    });
}

/// The VM operation just started is a page fault: the VM side may take frames down to half
/// the reserve (the fault gate's level, `limits::heap_allows_fault`).
pub fn fault_starts() {
    if AT_FAULT_LEVEL.load(Ordering::Relaxed) {
        return;
    }
    with_frames(|f| {
        f.budget.fault_starts();
        AT_FAULT_LEVEL.store(true, Ordering::Relaxed);
    });
}

/// Frames the VM side may take now (the processors' caches included).
pub fn available_frames() -> u64 {
    with_frames(|f| f.budget.available(f.allocator.free_frames())) + cache::cached()
}

/// Frames free in the allocator and the processors' caches (the heap may take all of them).
pub fn pool_frames() -> u64 {
    POOL.load(Ordering::Relaxed) + cache::cached()
}

/// The current physical memory counters.
pub fn stats() -> MemoryStats {
    let metadata = &layout().metadata;
    let cached = cache::cached();
    with_frames(|f| MemoryStats {
        usable_frames: f.allocator.usable_frames(),
        free_frames: f.budget.available(f.allocator.free_frames()) + cached,
        pool_frames: f.allocator.free_frames() + cached,
        heap_frames: f.budget.heap_frames(),
        metadata_frames: (metadata.end - metadata.start) / FRAME_SIZE,
    })
}

/// Checks the frame allocator's and the heap's invariants.
///
/// # Panics
///
/// If one does not hold.
pub fn check() {
    with_frames(|f| f.allocator.check());
    heap::check();
}
