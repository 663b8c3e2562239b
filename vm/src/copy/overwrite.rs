//! `vm_map_copy_overwrite`: a copy written over existing memory.
//!
//! The destination must be mapped and writable (current protection) for every byte, checked
//! under the VM lock, which the whole operation holds: no protection change or wiring can
//! come between the check and the writes (the class of XNU's "Landa" and "MacDirtyCow").
//!
//! - **Virtual**: an entry-list copy over a page-aligned destination whose entries are
//!   neither wired nor shared replaces the destination's memory with the copy's pieces,
//!   copy-on-write, keeping the destination's protections and inheritance.
//! - **Physical** otherwise (buffer copies, unaligned destinations, wired or shared
//!   destinations): the bytes are written into the destination's own memory, so memory
//!   shared with others shows the new contents to them and is never re-attached to the
//!   source's object (CVE-2025-43510).

use super::pieces::PieceCursor;
use super::{CopyData, CopyId, CopyPiece, VmMapCopy};
use crate::map::MapEntry;
use crate::pmap::{PhysMemory, Pmap, TlbFlush};
use crate::system::{MapId, Machine, Vm};
use crate::types::Access;
use crate::{Page, PageRange, VmError, PAGE_SIZE};

/// What a copy to be written over memory looks like, for the checks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OverwriteShape {
    /// Its size in bytes.
    pub size: u64,
    /// Whether it is an entry list starting and ending on page boundaries.
    pub aligned_pieces: bool,
    /// Its pieces (at most).
    pub pieces: usize,
    /// Frames to find free beyond a frame per destination page (copies the source may have
    /// to take at once, when the copy is taken after the checks).
    pub extra_frames: u64,
}

/// How a copy is written over memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overwrite {
    /// The pieces replace the destination's entries, copy-on-write.
    Virtual,
    /// The bytes are written into the destination's own memory.
    Physical,
}

impl<M: Machine> Vm<M> {
    /// Writes copy `id` over `map` from `addr` and consumes it.
    ///
    /// # Errors
    ///
    /// - [`VmError::InvalidArgument`]: a dead copy;
    /// - [`VmError::InvalidAddress`]: a destination byte is not mapped, or the range wraps;
    /// - [`VmError::ProtectionFailure`]: a destination byte is not writable;
    /// - [`VmError::OutOfMemory`] / [`VmError::EntryLimit`]: not enough frames or entries.
    ///
    /// Nothing changes on error, and the copy stays valid.
    #[doc(alias("vm_map_copy_overwrite", "vm_copy_overwrite"))]
    pub fn copy_overwrite(&mut self, map: MapId, addr: u64, id: CopyId) -> Result<(), VmError> {
        self.live(map)?;
        let copy = self.copies.get(id.0).ok_or(VmError::InvalidArgument)?;
        let aligned_pieces = matches!(copy.data, CopyData::Entries(_)) && copy.page_offset == 0 && copy.size % PAGE_SIZE == 0;
        let shape = OverwriteShape { size: copy.size, aligned_pieces, pieces: self.piece_count(id), extra_frames: 0 };
        let how = self.check_overwrite(map, addr, shape)?;
        self.overwrite_checked(map, addr, id, how);
        Ok(())
    }

    /// Checks that a copy of `shape` can be written over `map` at `addr`, and how.
    ///
    /// # Errors
    ///
    /// As [`copy_overwrite`](Self::copy_overwrite).
    pub(crate) fn check_overwrite(&self, map: MapId, addr: u64, shape: OverwriteShape) -> Result<Overwrite, VmError> {
        let end = addr.checked_add(shape.size).ok_or(VmError::InvalidAddress)?;
        if shape.size == 0 {
            return Ok(Overwrite::Physical);
        }
        self.check_access(map, addr, end, Access::Write)?;
        let m = self.map(map);
        if shape.aligned_pieces && addr % PAGE_SIZE == 0 && m.overlapping(addr, end).all(|e| !e.is_wired() && !e.is_shared) {
            self.room_for(map, 2 + shape.pieces)?;
            return Ok(Overwrite::Virtual);
        }
        let (start, page_end) = (addr - addr % PAGE_SIZE, end.next_multiple_of(PAGE_SIZE));
        self.check_frames(map, start, page_end, (page_end - start) / PAGE_SIZE + shape.extra_frames)?;
        Ok(Overwrite::Physical)
    }

    /// Writes copy `id` over `map` at `addr` as [`check_overwrite`](Self::check_overwrite)
    /// found it can be, and consumes it.
    pub(crate) fn overwrite_checked(&mut self, map: MapId, addr: u64, id: CopyId, how: Overwrite) {
        let copy = self.copies.remove(id.0).expect("checked: a live copy");
        match how {
            Overwrite::Virtual => self.overwrite_virtual(map, addr, copy),
            Overwrite::Physical => {
                self.overwrite_physical(map, addr, &copy).expect("checked: mapped, writable, frames free");
                self.release_copy(copy);
            }
        }
    }

    fn piece_count(&self, id: CopyId) -> usize {
        match &self.copies.get(id.0).expect("live").data {
            CopyData::Entries(pieces) => pieces.len(),
            CopyData::Buffer(_) => 1,
        }
    }

    /// Drops the references a copy holds.
    fn release_copy(&mut self, copy: VmMapCopy) {
        for object in copy.objects() {
            self.release(object);
        }
    }

    /// Replaces `[addr, addr + copy.size)` with the copy's pieces, keeping each destination
    /// entry's attributes.
    fn overwrite_virtual(&mut self, map: MapId, addr: u64, copy: VmMapCopy) {
        let end = addr + copy.size;
        let CopyData::Entries(pieces) = &copy.data else { unreachable!("checked: an entry list") };
        self.clip(map, addr, end);
        let space = self.map(map).space;
        let mut flush = TlbFlush::new();
        let targets = self.entries_in(map, addr, end);
        for target in &targets {
            self.map_mut(map).entries.remove(&target.start);
            let range = PageRange::new(Page::containing(target.start), Page::containing(target.end)).expect("ordered");
            flush.merge(self.pmap.remove(space, range));
        }
        self.apply(flush);
        // Targets and pieces both run in address order: one pass over each.
        let mut cursor = PieceCursor::new(pieces);
        for target in &targets {
            let (first, last) = ((target.start - addr) / PAGE_SIZE, (target.end - addr) / PAGE_SIZE);
            for piece in cursor.overlapping(first, last) {
                self.place_piece(map, addr, piece, target);
            }
            if let Some(object) = target.object {
                self.release(object);
            }
        }
        self.counters.piece_visits.add(cursor.visits());
        self.release_copy(copy);
        self.simplify(map, addr, end);
    }

    /// Maps the part of `piece` (of a copy placed at `base`) that falls inside `target`'s
    /// range, with `target`'s attributes; takes a reference of its own on the piece's object.
    fn place_piece(&mut self, map: MapId, base: u64, piece: &CopyPiece, target: &MapEntry) {
        let (p_start, p_end) = (base + piece.offset * PAGE_SIZE, base + (piece.offset + piece.pages) * PAGE_SIZE);
        let (start, end) = (p_start.max(target.start), p_end.min(target.end));
        if start >= end {
            return;
        }
        let mut entry = MapEntry { start, end, wired_count: 0, user_wired_count: 0, is_shared: false, ..target.clone() };
        entry.object = piece.object;
        entry.offset = piece.object_offset + (start - p_start) / PAGE_SIZE;
        entry.needs_copy = piece.object.is_some();
        if let Some(object) = piece.object {
            self.reference(object);
        }
        self.map_mut(map).entries.insert(start, entry);
    }

    /// Writes the copy's bytes into the destination's own memory, a page at a time.
    fn overwrite_physical(&mut self, map: MapId, addr: u64, copy: &VmMapCopy) -> Result<(), VmError> {
        match &copy.data {
            CopyData::Buffer(data) => self.write_bytes(map, addr, data),
            CopyData::Entries(pieces) => {
                let mut page = [0u8; PAGE_SIZE as usize];
                // Pages are read in increasing order: the cursor passes each piece once.
                let mut cursor = PieceCursor::new(pieces);
                let mut at = 0;
                let mut written = Ok(());
                while at < copy.size && written.is_ok() {
                    let source = copy.page_offset + at;
                    let (index, in_page) = (source / PAGE_SIZE, (source % PAGE_SIZE) as usize);
                    let piece = cursor.piece_at(index);
                    self.read_piece_page(piece, index - piece.offset, &mut page);
                    let chunk = (PAGE_SIZE as usize - in_page).min((copy.size - at) as usize);
                    written = self.write_bytes(map, addr + at, &page[in_page..in_page + chunk]);
                    at += chunk as u64;
                }
                self.counters.piece_visits.add(cursor.visits());
                written
            }
        }
    }

    /// The contents of page `i` of `piece` (zero where nothing holds it).
    fn read_piece_page(&self, piece: &CopyPiece, i: u64, out: &mut [u8]) {
        match piece.object.and_then(|o| self.find_page(o, piece.object_offset + i)) {
            Some((_, frame, _)) => self.phys.read(frame, 0, out),
            None => out.fill(0),
        }
    }
}
