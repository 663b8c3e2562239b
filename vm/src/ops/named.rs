//! Named memory entries (seed 000's `vm_named_entry`) and mapping them (`vm_map`).
//!
//! A named entry is a window `[offset, offset + size)` (in pages) of an object with the
//! rights it grants. It holds a reference to the object. Mapping it shared makes a map entry
//! on the same object; mapping it as a copy makes a copy-on-write snapshot: lazy
//! (`needs_copy`) if the object is frozen, at once otherwise (a shared object written in
//! place would change under a lazy copy).

use crate::map::MapEntry;
use crate::object::{ObjectId, VmObject};
use crate::ops::NewMemory;
use crate::system::{MapId, Machine, Vm};
use crate::types::Placement;
use crate::{Frame, Page, Prot, VmError, PAGE_SIZE};

/// Identifies a named entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
///
/// Generational: once the entry is released, the id names nothing (calls fail with
/// [`VmError::InvalidArgument`](crate::VmError::InvalidArgument)), even after its slot holds
/// another entry.
pub struct NamedId(pub(crate) crate::slab::Key);

/// A window of an object and the rights it grants.
///
/// Invariant: `offset + size <= object size`; holds one reference to `object`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamedEntry {
    /// The object.
    pub object: ObjectId,
    /// First page of the window in the object.
    pub offset: u64,
    /// Pages in the window.
    pub size: u64,
    /// Rights granted to mappings of it.
    pub protection: Prot,
}

/// How `map_named` maps a named entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapMode {
    /// Shared with every other mapping of the object.
    Shared,
    /// A copy-on-write copy of the window as it is now.
    Copy,
}

impl<M: Machine> Vm<M> {
    /// The named entry `id`.
    ///
    /// # Errors
    ///
    /// [`VmError::InvalidArgument`] if `id` is not live.
    pub fn named(&self, id: NamedId) -> Result<NamedEntry, VmError> {
        self.named.get(id.0).copied().ok_or(VmError::InvalidArgument)
    }

    /// A named entry over a new zero-fill object of `pages` pages.
    pub fn new_named_entry(&mut self, pages: u64, protection: Prot) -> NamedId {
        let object = self.new_object(VmObject::new(pages));
        NamedId(self.named.insert(NamedEntry { object, offset: 0, size: pages, protection }))
    }

    /// A named entry over a new *frozen* object of `pages` pages whose contents are `data`
    /// from byte `at` of the object on (the rest zero): an executable's segment. The entry
    /// grants `protection`, which must not include write.
    ///
    /// # Errors
    ///
    /// [`VmError::OutOfMemory`] if the pages cannot be had (nothing is left behind);
    /// [`VmError::InvalidArgument`] if `protection` includes write or `data` does not fit.
    pub fn new_frozen_entry(&mut self, pages: u64, at: u64, data: &[u8], protection: Prot) -> Result<NamedId, VmError> {
        let end = at.checked_add(data.len() as u64).ok_or(VmError::InvalidArgument)?;
        if protection.contains(Prot::WRITE) || end > pages.saturating_mul(PAGE_SIZE) {
            return Err(VmError::InvalidArgument);
        }
        let first = at / PAGE_SIZE;
        let count = if data.is_empty() { 0 } else { end.div_ceil(PAGE_SIZE) - first };
        let pool = self.reserve(count as usize)?;
        let mut object = VmObject::new(pages);
        object.frozen = true;
        for (i, frame) in pool.into_iter().enumerate() {
            self.fill_page(frame, (first + i as u64) * PAGE_SIZE, at, data);
            object.pages.map().insert(first + i as u64, frame);
            self.resident.add(1);
        }
        let object = self.new_object(object);
        Ok(NamedId(self.named.insert(NamedEntry { object, offset: 0, size: pages, protection })))
    }

    /// Zeroes `frame` (object bytes from `page_start`) and copies in the part of `data` (object
    /// bytes from `at`) that falls in it.
    fn fill_page(&mut self, frame: Frame, page_start: u64, at: u64, data: &[u8]) {
        use crate::pmap::{PhysMemory, Pmap};
        self.pmap.zero_page(frame);
        let from = at.max(page_start);
        let to = (at + data.len() as u64).min(page_start + PAGE_SIZE);
        if from < to {
            let bytes = &data[(from - at) as usize..(to - at) as usize];
            self.phys.write(frame, (from - page_start) as usize, bytes);
        }
    }

    /// A named entry for `[start, end)` of `map`, which must lie inside one map entry, granting
    /// `protection`. The region becomes shared (a copy-on-write region is first given a
    /// private object, so the entry names what the task sees).
    ///
    /// # Errors
    ///
    /// - [`VmError::InvalidAddress`]: the range is not mapped;
    /// - [`VmError::InvalidArgument`]: it spans more than one map entry;
    /// - [`VmError::ProtectionFailure`]: `protection` exceeds the region's maximum.
    #[doc(alias = "mach_make_memory_entry")]
    pub fn make_named_entry(&mut self, map: MapId, start: Page, end: Page, protection: Prot) -> Result<NamedId, VmError> {
        self.live(map)?;
        let entry = self.map(map).lookup(start.addr()).ok_or(VmError::InvalidAddress)?.clone();
        if end.addr() > entry.end {
            let covered = self.map(map).covers(start.addr(), end.addr());
            return Err(if covered { VmError::InvalidArgument } else { VmError::InvalidAddress });
        }
        if !protection.difference(entry.max_protection).is_empty() {
            return Err(VmError::ProtectionFailure);
        }
        self.refuse_device(map, start.addr(), end.addr())?;
        let object = self.shareable_object(map, &entry);
        self.reference(object);
        let e = self.map_mut(map).lookup_mut(start.addr()).expect("present");
        e.is_shared = true;
        let offset = e.offset + (start.addr() - e.start) / PAGE_SIZE;
        self.simplify(map, entry.start, entry.end);
        let size = (end.addr() - start.addr()) / PAGE_SIZE;
        Ok(NamedId(self.named.insert(NamedEntry { object, offset, size, protection })))
    }

    /// A named entry for a sub-window of `parent`: `pages` pages from page `offset` of it,
    /// granting `protection`, which must be within the parent's.
    ///
    /// # Errors
    ///
    /// [`VmError::InvalidArgument`] for a window outside the parent or a dead parent;
    /// [`VmError::ProtectionFailure`] for rights the parent does not grant.
    #[doc(alias = "mach_make_memory_entry")]
    pub fn sub_named_entry(&mut self, parent: NamedId, offset: u64, pages: u64, protection: Prot) -> Result<NamedId, VmError> {
        let p = self.named(parent)?;
        if offset.checked_add(pages).is_none_or(|end| end > p.size) {
            return Err(VmError::InvalidArgument);
        }
        if !protection.difference(p.protection).is_empty() {
            return Err(VmError::ProtectionFailure);
        }
        self.reference(p.object);
        Ok(NamedId(self.named.insert(NamedEntry { object: p.object, offset: p.offset + offset, size: pages, protection })))
    }

    /// Drops the named entry `id` (and its reference to the object).
    #[doc(alias = "mach_port_deallocate")]
    pub fn release_named(&mut self, id: NamedId) {
        if let Some(entry) = self.named.remove(id.0) {
            self.release(entry.object);
        }
    }

    /// Maps `pages` pages of named entry `id` from its page `offset` at `placement`, shared or
    /// as a copy, with `memory`'s protections (current reduced to fit the maximum) and
    /// inheritance.
    ///
    /// # Errors
    ///
    /// - [`VmError::InvalidArgument`]: `pages` is 0, `id` is dead, or the window passes the
    ///   entry's end;
    /// - [`VmError::ProtectionFailure`]: the maximum asks for rights the entry does not grant
    ///   (a copy may add write: it is private; it needs read);
    /// - placement errors as [`allocate`](Self::allocate); [`VmError::OutOfMemory`] for an
    ///   immediate copy that does not fit. Nothing changes on error.
    #[doc(alias = "vm_map")]
    pub fn map_named(&mut self, map: MapId, placement: Placement, pages: u64, id: NamedId, offset: u64, mode: MapMode, memory: NewMemory) -> Result<Page, VmError> {
        self.live(map)?;
        let named = self.named(id)?;
        if pages == 0 || offset.checked_add(pages).is_none_or(|end| end > named.size) {
            return Err(VmError::InvalidArgument);
        }
        let granted = match mode {
            MapMode::Shared => named.protection,
            MapMode::Copy if named.protection.contains(Prot::READ) => named.protection | Prot::WRITE,
            MapMode::Copy => Prot::NONE,
        };
        if !memory.max_protection.difference(granted).is_empty() {
            return Err(VmError::ProtectionFailure);
        }
        let start = self.place(map, placement, pages)?;
        self.room_for(map, 1)?;
        let window = (named.offset + offset, pages);
        let (object, object_offset, needs_copy) = match mode {
            MapMode::Shared => (named.object, window.0, false),
            MapMode::Copy if self.object(named.object).frozen => (named.object, window.0, true),
            MapMode::Copy => (self.copy_window(named.object, window)?, 0, false),
        };
        if object == named.object {
            self.reference(object);
        }
        let mut entry = MapEntry::anonymous(start.addr(), start.addr() + pages * PAGE_SIZE, memory.protection & memory.max_protection, memory.max_protection, memory.inheritance);
        (entry.object, entry.offset, entry.needs_copy, entry.is_shared) = (Some(object), object_offset, needs_copy, mode == MapMode::Shared);
        self.insert_entry(map, entry);
        Ok(start)
    }
}
