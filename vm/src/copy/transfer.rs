//! The calls built from a copy taken and used at once (`vm_copy`, `vm_write`, `vm_read`),
//! all-or-nothing.
//!
//! Taking an entry-list copy clips the source's entries at the copied range and marks them
//! copy-on-write; a copy discarded after a later step failed would leave those marks behind
//! (and an entry more on each side). So every check of the later step comes first, against
//! the largest copy the source range can give (one piece per source entry), and the copy is
//! taken only when the whole call can no longer fail.

use super::overwrite::OverwriteShape;
use super::{CopyId, SourceDisposal, BUFFER_THRESHOLD};
use crate::system::{MapId, Machine, Vm};
use crate::types::{Access, Placement};
use crate::{VmError, PAGE_SIZE};

/// Entries clipping adds to a map at the two ends of a range.
const CLIP_ENTRIES: usize = 2;

impl<M: Machine> Vm<M> {
    /// Copies `len` bytes at `from` in `source` over `to` in `target`, as if through a
    /// temporary (the two ranges may overlap in one map).
    ///
    /// # Errors
    ///
    /// As [`copyin`](Self::copyin) for the source, then as
    /// [`copy_overwrite`](Self::copy_overwrite) for the target; nothing changes on error.
    #[doc(alias = "vm_copy")]
    #[doc(alias = "vm_write")]
    pub fn copy_between(&mut self, source: MapId, from: u64, len: u64, target: MapId, to: u64) -> Result<(), VmError> {
        self.live(source)?;
        self.live(target)?;
        if len == 0 {
            return Ok(());
        }
        let from_end = from.checked_add(len).ok_or(VmError::InvalidAddress)?;
        self.check_access(source, from, from_end, Access::Read)?;
        let aligned_pieces = len >= BUFFER_THRESHOLD && from % PAGE_SIZE == 0 && len % PAGE_SIZE == 0;
        let clipped_here = if source == target { CLIP_ENTRIES } else { 0 };
        let source_pages = (from_end.next_multiple_of(PAGE_SIZE) - (from - from % PAGE_SIZE)) / PAGE_SIZE;
        let pieces = self.source_pieces(source, from, from_end) + clipped_here;
        let shape = OverwriteShape { size: len, aligned_pieces, pieces, extra_frames: source_pages };
        let how = self.check_overwrite(target, to, shape)?;
        let id = self.copyin(source, from, len, SourceDisposal::Keep)?;
        self.overwrite_checked(target, to, id, how);
        Ok(())
    }

    /// Copies `len` bytes at `from` in `source` into new memory of `target`, placed anywhere;
    /// returns the address of the first byte (0 for `len` 0).
    ///
    /// # Errors
    ///
    /// As [`copyin`](Self::copyin) for the source, then as [`copyout`](Self::copyout) for the
    /// target; nothing changes on error.
    #[doc(alias = "vm_read")]
    pub fn read_into(&mut self, source: MapId, from: u64, len: u64, target: MapId) -> Result<u64, VmError> {
        self.live(source)?;
        self.live(target)?;
        if len == 0 {
            return Ok(0);
        }
        let from_end = from.checked_add(len).ok_or(VmError::InvalidAddress)?;
        self.check_access(source, from, from_end, Access::Read)?;
        let pages = (from % PAGE_SIZE + len).div_ceil(PAGE_SIZE);
        let buffer = len < BUFFER_THRESHOLD;
        let clipped_here = if source == target { CLIP_ENTRIES } else { 0 };
        let pieces = if buffer { 1 } else { self.source_pieces(source, from, from_end) + clipped_here };
        let start = self.check_copyout(target, Placement::Anywhere { mask: 0 }, pages, pieces, buffer)?;
        let id: CopyId = self.copyin(source, from, len, SourceDisposal::Keep)?;
        Ok(self.copyout_at(target, id, start))
    }

    /// The most pieces a copy of `[from, end)` of `map` can have: one per entry it overlaps.
    fn source_pieces(&self, map: MapId, from: u64, end: u64) -> usize {
        let (start, end) = (from - from % PAGE_SIZE, end.next_multiple_of(PAGE_SIZE));
        self.map(map).overlapping(start, end).count()
    }
}
