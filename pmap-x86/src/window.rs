//! How the pmap reaches physical memory: a window in which frame `f` lives at `base + f`.
//!
//! In a kernel the window is the direct map of physical memory; in host tests it is an arena
//! of simulated frames ([`crate::sim`]).

use machvm::pmap::PhysMemory;
use machvm::{Frame, PAGE_SIZE};
use x86_64::structures::paging::PageTable;

/// A linear window onto physical memory.
///
/// Invariant (the contract of [`DirectMap::new`]): for every frame the kernel's frame
/// allocator hands out, `[base + frame, base + frame + 4096)` is valid for reads and writes.
#[derive(Clone, Copy, Debug)]
pub struct DirectMap {
    base: *mut u8,
}

// SAFETY: the window is only an address; the memory it reaches is shared by design (physical
// memory), and every access through it is serialised by its users (a space's lock or
// exclusive access to the pmap for page tables, frame ownership in the VM layer for data).
unsafe impl Send for DirectMap {}
// SAFETY: as for Send.
unsafe impl Sync for DirectMap {}

impl DirectMap {
    /// A window in which physical address `p` is reached at `base + p`.
    ///
    /// # Safety
    ///
    /// For every frame that will be passed to this window (page tables and data frames from
    /// the kernel's frame allocator), `base + frame.addr()` must point to 4096 bytes of memory
    /// valid for reads and writes for as long as the window is used, and not accessed through
    /// Rust references elsewhere while the window accesses it.
    pub const unsafe fn new(base: *mut u8) -> Self {
        Self { base }
    }

    fn frame_ptr(&self, frame: Frame) -> *mut u8 {
        self.base.wrapping_add(frame.addr() as usize)
    }

    /// The page table held in `frame`.
    ///
    /// # Safety
    ///
    /// `frame` must hold a page table owned by the caller, and no other reference to that
    /// table may be live while the returned one is.
    pub(crate) unsafe fn table<'a>(&self, frame: Frame) -> &'a mut PageTable {
        // SAFETY: by the window's contract the frame is valid, 4096-byte aligned memory
        // (frames are page-aligned and `base` is page-aligned in both window kinds), and the
        // caller guarantees exclusivity.
        unsafe { &mut *self.frame_ptr(frame).cast::<PageTable>() }
    }

    fn check(offset: usize, len: usize) {
        assert!(offset.checked_add(len).is_some_and(|end| end as u64 <= PAGE_SIZE), "access past a frame's end");
    }
}

impl PhysMemory for DirectMap {
    fn read(&self, frame: Frame, offset: usize, out: &mut [u8]) {
        Self::check(offset, out.len());
        // SAFETY: the range lies inside the frame (checked above), which the window's contract
        // makes valid memory; the caller owns the frame, so nothing else writes it meanwhile.
        unsafe {
            core::ptr::copy_nonoverlapping(self.frame_ptr(frame).add(offset), out.as_mut_ptr(), out.len())
        };
    }

    fn write(&self, frame: Frame, offset: usize, data: &[u8]) {
        Self::check(offset, data.len());
        // SAFETY: as in `read`.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), self.frame_ptr(frame).add(offset), data.len()) };
    }

    fn zero(&self, frame: Frame) {
        DirectMap::zero(self, frame);
    }
}

impl DirectMap {
    /// Fills `frame` with zeroes.
    pub fn zero(&self, frame: Frame) {
        // SAFETY: the whole frame is valid memory by the window's contract, owned by the
        // caller.
        unsafe { core::ptr::write_bytes(self.frame_ptr(frame), 0, PAGE_SIZE as usize) };
    }

    /// Copies frame `from` into frame `to`.
    ///
    /// # Panics
    ///
    /// If `from == to` (the copy would alias).
    pub fn copy(&self, from: Frame, to: Frame) {
        assert_ne!(from, to, "copying a frame onto itself");
        // SAFETY: both frames are valid memory by the window's contract, and distinct frames
        // do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(self.frame_ptr(from), self.frame_ptr(to), PAGE_SIZE as usize)
        };
    }
}
