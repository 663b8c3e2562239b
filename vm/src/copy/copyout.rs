//! `vm_map_copyout`: placing a copy in new memory.

use super::{CopyData, CopyId, CopyPiece};
use crate::map::MapEntry;
use crate::ops::NewMemory;
use crate::system::{MapId, Machine, Vm};
use crate::types::{Inherit, Placement};
use crate::{Page, VmError, PAGE_SIZE};

impl<M: Machine> Vm<M> {
    /// Places copy `id` in new memory of `map` at `placement` and consumes it; returns the
    /// address of its first byte (a buffer copy keeps its source's offset within the page).
    /// An empty copy is consumed and gives address 0.
    ///
    /// # Errors
    ///
    /// [`VmError::InvalidArgument`] for a dead copy; placement errors ([`VmError::NoSpace`]...),
    /// [`VmError::EntryLimit`] or [`VmError::OutOfMemory`] (a buffer copy's frames are counted
    /// first): the copy stays valid and the map unchanged.
    #[doc(alias("vm_map_copyout", "vm_copyout"))]
    pub fn copyout(&mut self, map: MapId, id: CopyId, placement: Placement) -> Result<u64, VmError> {
        self.live(map)?;
        let copy = self.copies.get(id.0).ok_or(VmError::InvalidArgument)?;
        if copy.size == 0 {
            self.copies.remove(id.0);
            return Ok(0);
        }
        let pages = (copy.page_offset + copy.size).div_ceil(PAGE_SIZE);
        let (pieces, buffer) = match &copy.data {
            CopyData::Entries(pieces) => (pieces.len(), false),
            CopyData::Buffer(_) => (1, true),
        };
        let start = self.check_copyout(map, placement, pages, pieces, buffer)?;
        Ok(self.copyout_at(map, id, start))
    }

    /// Where a copy of `pages` pages in (at most) `pieces` pieces would be placed in `map`,
    /// once everything its placement needs is checked: room for the entries, and for a
    /// `buffer` copy the frames it is written into.
    ///
    /// # Errors
    ///
    /// As [`copyout`](Self::copyout).
    pub(crate) fn check_copyout(&self, map: MapId, placement: Placement, pages: u64, pieces: usize, buffer: bool) -> Result<Page, VmError> {
        let start = self.place(map, placement, pages)?;
        self.room_for(map, pieces)?;
        if buffer {
            self.check_frames(map, start.addr(), start.addr() + pages * PAGE_SIZE, pages)?;
        }
        Ok(start)
    }

    /// Places live copy `id` at `start`, as [`check_copyout`](Self::check_copyout) found it
    /// can be, and consumes it; returns the address of its first byte.
    pub(crate) fn copyout_at(&mut self, map: MapId, id: CopyId, start: Page) -> u64 {
        let copy = self.copies.remove(id.0).expect("checked: a live copy");
        let address = start.addr() + copy.page_offset;
        match copy.data {
            CopyData::Entries(pieces) => {
                for piece in pieces {
                    self.insert_entry(map, piece_entry(start.addr(), &piece));
                }
            }
            CopyData::Buffer(data) => {
                let pages = (copy.page_offset + copy.size).div_ceil(PAGE_SIZE);
                self.allocate(map, Placement::Fixed(start), pages, NewMemory::DEFAULT).expect("placed");
                self.write_bytes(map, address, &data).expect("frames counted, memory writable");
            }
        }
        address
    }
}

/// The map entry for `piece` of a copy placed at `base`; it takes over the piece's reference.
pub(crate) fn piece_entry(base: u64, piece: &CopyPiece) -> MapEntry {
    let start = base + piece.offset * PAGE_SIZE;
    let mut entry = MapEntry::anonymous(start, start + piece.pages * PAGE_SIZE, piece.protection, piece.max_protection, Inherit::Copy);
    (entry.object, entry.offset, entry.needs_copy) = (piece.object, piece.object_offset, piece.object.is_some());
    entry
}
