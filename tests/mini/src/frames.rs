//! The physical frames: a free list built from the boot loader's memory map, and the heap.

use alloc::vec::Vec;
use bootloader_api::info::{MemoryRegionKind, MemoryRegions};
use linked_list_allocator::LockedHeap;
use machvm::pmap::FrameAllocator;
use machvm::Frame;

/// The most frames handed to the VM (enough for the test, small enough to list quickly).
const MAX_FRAMES: usize = 16 * 1024;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// The heap's memory: a static array, enough for the VM's maps, objects and this free list.
static mut HEAP_SPACE: [u8; 2 << 20] = [0; 2 << 20];

static FREE: spin::Mutex<Vec<Frame>> = spin::Mutex::new(Vec::new());

/// The frame allocator the VM and its pmap share.
#[derive(Clone, Copy, Debug)]
pub struct MiniFrames;

impl FrameAllocator for MiniFrames {
    fn allocate_frame(&self) -> Option<Frame> {
        FREE.lock().pop()
    }

    fn deallocate_frame(&self, frame: Frame) {
        FREE.lock().push(frame);
    }

    fn free_frames(&self) -> u64 {
        FREE.lock().len() as u64
    }
}

/// One past the highest frame number handed to the VM (the pmap keeps metadata below it).
pub fn limit() -> u64 {
    FREE.lock().iter().map(|f| f.number() + 1).max().unwrap_or(0)
}

/// Sets up the heap, then lists the usable frames (frame 0 aside).
pub fn init(regions: &MemoryRegions) {
    // SAFETY: runs once, before anything allocates; the array is used by the heap alone.
    unsafe { HEAP.lock().init(core::ptr::addr_of_mut!(HEAP_SPACE).cast(), 2 << 20) };
    let mut free = FREE.lock();
    let usable = regions.iter().filter(|r| r.kind == MemoryRegionKind::Usable);
    for region in usable {
        let first = region.start.div_ceil(4096).max(1);
        let end = region.end / 4096;
        let room = MAX_FRAMES - free.len();
        free.extend((first..end).map(|n| Frame::containing(n * 4096)).take(room));
    }
}
