//! Frames for operations that must not fail half way: counting them before the first
//! change, taking them, and copying pages into a new object.
//!
//! Every frame is taken under the VM lock, so frames found free before an operation stay
//! free for it: an operation that checks its needs first cannot run out later.

use crate::object::{ObjectId, VmObject};
use crate::pmap::{FrameAllocator, Pmap};
use crate::system::{MapId, Machine, Vm};
use crate::{Frame, Page, PageRange, VmError};
use alloc::vec::Vec;

impl<M: Machine> Vm<M> {
    /// Fails with [`VmError::OutOfMemory`] unless `data` data frames and the page tables of
    /// `[start, end)` are free. Every frame is taken under the VM lock, so what this finds
    /// free stays free for the rest of the operation: faults after it cannot run out.
    pub(crate) fn check_frames(&self, map: MapId, start: u64, end: u64, data: u64) -> Result<(), VmError> {
        // The data frames first: a huge range fails here without walking its tables.
        self.check_free(data)?;
        let range = PageRange::new(Page::containing(start), Page::containing(end)).expect("ordered");
        self.check_free(data.saturating_add(self.pmap.tables_needed(self.map(map).space, range)))
    }

    /// Takes `count` frames, or none (failing before it allocates anything if fewer are free).
    pub(crate) fn reserve(&mut self, count: usize) -> Result<Vec<Frame>, VmError> {
        self.check_free(count as u64)?;
        let mut pool = Vec::with_capacity(count);
        for _ in 0..count {
            match self.frames.allocate_frame() {
                Some(frame) => pool.push(frame),
                None => {
                    pool.into_iter().for_each(|f| self.frames.deallocate_frame(f));
                    return Err(VmError::OutOfMemory);
                }
            }
        }
        Ok(pool)
    }

    /// A new object holding a copy of `(first page, pages)` of `object` (and what lies below
    /// it), with every frame reserved first. Walks the chain once, not once per page.
    pub(crate) fn copy_window(&mut self, object: ObjectId, (first, pages): (u64, u64)) -> Result<ObjectId, VmError> {
        let found = self.window_frames(object, first, pages);
        let pool = self.reserve(found.len())?;
        let mut copy = VmObject::new(pages);
        for ((index, source), frame) in found.into_iter().zip(pool) {
            self.pmap.copy_page(source, frame);
            copy.pages.map().insert(index, frame);
            self.resident.add(1);
            self.counters.pages_copied.add(1);
        }
        Ok(self.new_object(copy))
    }

    /// Fails with [`VmError::OutOfMemory`] unless `count` frames are free.
    pub(crate) fn check_free(&self, count: u64) -> Result<(), VmError> {
        if count > self.frames.free_frames() {
            return Err(VmError::OutOfMemory);
        }
        Ok(())
    }
}
