//! `vm_map_copyin`: taking a snapshot of a range.

use super::{CopyData, CopyId, CopyPiece, SourceDisposal, VmMapCopy, BUFFER_THRESHOLD};
use crate::map::MapEntry;
use crate::pmap::{Pmap, TlbFlush};
use crate::system::{MapId, Machine, Vm};
use crate::types::Access;
use crate::{Page, PageRange, Prot, VmError, PAGE_SIZE};
use alloc::vec::Vec;

impl<M: Machine> Vm<M> {
    /// Takes a copy of the `len` bytes of `map` at `addr` (every byte mapped and readable);
    /// with [`SourceDisposal::Destroy`] the pages of the range are then removed (a move).
    ///
    /// # Errors
    ///
    /// - [`VmError::InvalidAddress`]: a byte is not mapped, or the range wraps;
    /// - [`VmError::ProtectionFailure`]: a byte is not readable;
    /// - [`VmError::OutOfMemory`] / [`VmError::EntryLimit`]: not enough frames for the copies
    ///   made at once, or no room for the entries. Nothing changes on error.
    #[doc(alias("vm_map_copyin", "vm_copyin"))]
    pub fn copyin(&mut self, map: MapId, addr: u64, len: u64, disposal: SourceDisposal) -> Result<CopyId, VmError> {
        self.live(map)?;
        let end = addr.checked_add(len).ok_or(VmError::InvalidAddress)?;
        let (page_start, page_end) = (addr - addr % PAGE_SIZE, end.checked_next_multiple_of(PAGE_SIZE).ok_or(VmError::InvalidAddress)?);
        if len > 0 {
            self.check_access(map, addr, end, Access::Read)?;
        }
        if disposal == SourceDisposal::Destroy && len > 0 && page_start < page_end {
            self.room_for(map, 1)?;
        }
        let copy = if len < BUFFER_THRESHOLD {
            let mut data = alloc::vec![0; len as usize];
            self.peek_bytes(map, addr, &mut data)?;
            VmMapCopy { data: CopyData::Buffer(data), size: len, page_offset: addr % PAGE_SIZE }
        } else {
            let pieces = self.copy_entries(map, page_start, page_end)?;
            VmMapCopy { data: CopyData::Entries(pieces), size: len, page_offset: addr % PAGE_SIZE }
        };
        if disposal == SourceDisposal::Destroy && len > 0 {
            self.remove_range(map, page_start, page_end);
        }
        Ok(CopyId(self.copies.insert(copy)))
    }

    /// An entry-list copy of the page-aligned `[start, end)` (every byte mapped and readable),
    /// whatever its size.
    pub(crate) fn copyin_entries(&mut self, map: MapId, start: u64, end: u64, disposal: SourceDisposal) -> Result<CopyId, VmError> {
        self.check_access(map, start, end, Access::Read)?;
        let pieces = self.copy_entries(map, start, end)?;
        if disposal == SourceDisposal::Destroy {
            self.remove_range(map, start, end);
        }
        let copy = VmMapCopy { data: CopyData::Entries(pieces), size: end - start, page_offset: 0 };
        Ok(CopyId(self.copies.insert(copy)))
    }

    /// The pieces of a copy of `[start, end)` (page-aligned, mapped, readable): each source
    /// entry's object shared copy-on-write, or copied at once where a lazy copy could change.
    fn copy_entries(&mut self, map: MapId, start: u64, end: u64) -> Result<Vec<CopyPiece>, VmError> {
        self.room_to_clip(map, start, end)?;
        let eager: u64 = self.entries_in(map, start, end).iter().filter(|e| self.needs_eager_copy_at(e)).map(|e| self.pages_with_data(e).len() as u64).sum();
        self.check_free(eager)?;
        self.clip(map, start, end);
        let mut flush = TlbFlush::new();
        let mut pieces = Vec::new();
        for entry in self.entries_in(map, start, end) {
            pieces.push(self.copy_piece(map, &entry, start, &mut flush)?);
        }
        self.apply(flush);
        self.simplify(map, start, end);
        Ok(pieces)
    }

    /// Clones of the entries of `[start, end)` (which must be clipped to it for exact pieces).
    pub(crate) fn entries_in(&self, map: MapId, start: u64, end: u64) -> Vec<MapEntry> {
        let m = self.map(map);
        m.overlapping(start, end).cloned().collect()
    }

    /// Whether copying `entry` must copy its pages now: wired, shared and not frozen, or at
    /// the end of a shadow chain of [`MAX_CHAIN_LENGTH`] objects (a lazy copy would let the
    /// next write make the chain longer).
    ///
    /// [`MAX_CHAIN_LENGTH`]: crate::object::MAX_CHAIN_LENGTH
    pub(crate) fn needs_eager_copy_at(&self, entry: &MapEntry) -> bool {
        entry.object.is_some_and(|o| entry.is_wired() || (entry.is_shared && !self.object(o).frozen) || self.chain_at_limit(o))
    }

    /// The piece for one source entry, making the entry copy-on-write if it is shared lazily.
    fn copy_piece(&mut self, map: MapId, entry: &MapEntry, start: u64, flush: &mut TlbFlush) -> Result<CopyPiece, VmError> {
        let pages = entry.pages();
        let mut piece = CopyPiece {
            offset: (entry.start - start) / PAGE_SIZE,
            pages,
            object: entry.object,
            object_offset: entry.offset,
            protection: entry.protection,
            max_protection: entry.max_protection,
        };
        let Some(object) = entry.object else { return Ok(piece) };
        if self.needs_eager_copy_at(entry) {
            piece.object = Some(self.copy_window(object, (entry.offset, pages))?);
            piece.object_offset = 0;
            return Ok(piece);
        }
        self.reference(object);
        let e = self.map_mut(map).lookup_mut(entry.start).expect("present");
        e.needs_copy = true;
        if entry.protection.contains(Prot::WRITE) && !entry.needs_copy {
            let space = self.map(map).space;
            let range = PageRange::new(Page::containing(entry.start), Page::containing(entry.end)).expect("ordered");
            flush.merge(self.pmap.protect(space, range, entry.protection - Prot::WRITE));
        }
        Ok(piece)
    }

    /// Drops copy `id` and the references it holds.
    #[doc(alias = "vm_map_copy_discard")]
    pub fn copy_discard(&mut self, id: CopyId) {
        if let Some(copy) = self.copies.remove(id.0) {
            for object in copy.objects() {
                self.release(object);
            }
        }
    }

    /// The size in bytes of copy `id`, if it exists.
    pub fn copy_size(&self, id: CopyId) -> Option<u64> {
        self.copies.get(id.0).map(|c| c.size)
    }
}
