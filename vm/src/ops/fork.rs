//! `task_create` with inherited memory: building a child map from a parent by inheritance.
//!
//! | parent entry | child gets |
//! |---|---|
//! | NONE | nothing |
//! | SHARE | the same object (made first if the entry had none, made private first if it was copy-on-write); both entries become shared |
//! | COPY, private and not wired | the same object, copy-on-write on both sides (`needs_copy`, the parent's mappings lose write) |
//! | COPY, wired, or shared and not frozen, or at the chain limit | an immediate copy: wired memory must not start faulting in the parent, a shared object can change under a lazy copy (a frozen one cannot), and a chain of `MAX_CHAIN_LENGTH` objects must not grow |
//!
//! Wirings are not inherited.
//!
//! # Cost
//!
//! One pass over the parent's entries, O(n) for n entries whatever the map's shape: each
//! parent entry is changed in place, the child's entries come out in address order and are
//! merged with their predecessor as they come (so the child is simplified without lookups)
//! and then built into the child's tree in bulk, and the child's gap index is a copy of the
//! parent's with the NONE entries' ranges freed. The parent is simplified by one more linear
//! pass (inheritance can make neighbours equal, say two views of one object that now both
//! need a copy). Only eager copies, write-protection of resident pages and NONE entries cost
//! more than a constant per entry, each in proportion to its own size.

use crate::map::MapEntry;
use crate::object::{ObjectId, VmObject};
use crate::pmap::{Pmap, SpaceId, TlbFlush};
use crate::system::{MapId, Machine, Vm};
use crate::types::Inherit;
use crate::{Page, PageRange, Prot, VmError};
use alloc::vec::Vec;

impl<M: Machine> Vm<M> {
    /// A new map built from `parent` by inheritance (see the module documentation).
    ///
    /// # Errors
    ///
    /// [`VmError::OutOfMemory`] if the frames for the immediate copies or the child's address
    /// space cannot be had; the parent is then unchanged.
    #[doc(alias("vm_map_fork", "task_create"))]
    pub fn fork(&mut self, parent: MapId) -> Result<MapId, VmError> {
        self.live(parent)?;
        let copies: u64 = self.map(parent).entries().filter(|e| self.needs_eager_copy(e)).map(|e| self.pages_with_data(e).len() as u64).sum();
        let (min, max, space) = (self.map(parent).min, self.map(parent).max, self.map(parent).space);
        let child = self.create_map(min, max)?;
        if let Err(error) = self.check_free(copies) {
            self.destroy_map(child).expect("just made");
            return Err(error);
        }
        // The parent's entries are taken out while each is changed in place: nothing below
        // looks them up (only the parent's address space is used).
        let mut entries = core::mem::take(&mut self.map_mut(parent).entries);
        let mut inherited: Vec<(u64, MapEntry)> = Vec::with_capacity(entries.len());
        let mut holes = Vec::new();
        let mut flush = TlbFlush::new();
        for entry in entries.values_mut() {
            match self.inherit_entry(space, entry, &mut flush) {
                Some(copy) => self.push_merged(&mut inherited, copy),
                None => holes.push((entry.start, entry.end)),
            }
        }
        self.apply(flush);
        let parent_map = self.map_mut(parent);
        parent_map.entries = entries;
        let (gaps, mapped) = (parent_map.gaps.clone(), parent_map.mapped);
        self.merge_neighbours(parent);
        let child_map = self.map_mut(child);
        // In address order, so the tree is built in bulk (no search per entry).
        child_map.entries = inherited.into_iter().collect();
        (child_map.gaps, child_map.mapped) = (gaps, mapped);
        for (start, end) in holes {
            child_map.free_gap(start, end);
        }
        child_map.touch();
        Ok(child)
    }

    /// Appends `entry` to `entries` (in address order), merged into the last one if they can
    /// merge (the merged entry keeps one reference to their object).
    fn push_merged(&mut self, entries: &mut Vec<(u64, MapEntry)>, entry: MapEntry) {
        if let Some((_, last)) = entries.last_mut() {
            if last.can_merge(&entry) {
                last.end = entry.end;
                if let Some(object) = entry.object {
                    self.object_mut(object).refs -= 1;
                }
                return;
            }
        }
        entries.push((entry.start, entry));
    }

    /// The child's entry for one parent entry (of the map translated by `space`), changing
    /// the parent's entry as inheritance needs.
    fn inherit_entry(&mut self, space: SpaceId, entry: &mut MapEntry, flush: &mut TlbFlush) -> Option<MapEntry> {
        let mut child = MapEntry { wired_count: 0, user_wired_count: 0, ..entry.clone() };
        match entry.inheritance {
            Inherit::None => return None,
            Inherit::Share => {
                let object = self.make_shareable(space, entry);
                self.reference(object);
                entry.is_shared = true;
                (child.object, child.offset, child.needs_copy, child.is_shared) = (Some(object), entry.offset, false, true);
            }
            Inherit::Copy if self.needs_eager_copy(entry) => {
                let object = entry.object.expect("an eager copy has an object");
                child.object = Some(self.copy_window(object, (entry.offset, entry.pages())).expect("frames counted"));
                (child.offset, child.needs_copy, child.is_shared) = (0, false, false);
            }
            Inherit::Copy => {
                let Some(object) = entry.object else { return Some(child) };
                self.reference(object);
                if entry.protection.contains(Prot::WRITE) && !entry.needs_copy {
                    let range = PageRange::new(Page::containing(entry.start), Page::containing(entry.end)).expect("ordered");
                    flush.merge(self.pmap.protect(space, range, entry.protection - Prot::WRITE));
                }
                entry.needs_copy = true;
                (child.needs_copy, child.is_shared) = (true, false);
            }
        }
        Some(child)
    }

    /// The object a SHARE entry (or a named or remapped region) hands to a sharer: the
    /// entry's own, created if missing, and made private first if the entry was copy-on-write
    /// (sharing must not share a snapshot).
    pub(crate) fn shareable_object(&mut self, map: MapId, entry: &MapEntry) -> ObjectId {
        let space = self.map(map).space;
        let mut e = self.map(map).lookup(entry.start).expect("present").clone();
        let object = self.make_shareable(space, &mut e);
        *self.map_mut(map).lookup_mut(entry.start).expect("present") = e;
        object
    }

    /// [`shareable_object`](Self::shareable_object) on the entry itself, of the map
    /// translated by `space`.
    fn make_shareable(&mut self, space: SpaceId, e: &mut MapEntry) -> ObjectId {
        if !e.is_shared {
            self.drop_zero_page(space, e.start, e.end);
        }
        let object = match (e.object, e.needs_copy) {
            (None, _) => self.new_object(VmObject::new(e.pages())),
            (Some(o), false) => return o,
            (Some(o), true) => self.new_object(VmObject::shadowing(o, e.offset, e.pages())),
        };
        (e.object, e.offset, e.needs_copy) = (Some(object), 0, false);
        object
    }
}

impl<M: Machine> Vm<M> {
    /// Whether a COPY entry must be copied at once rather than lazily: wired memory (which
    /// must not start faulting in the parent), shared memory that someone may write in
    /// place (a lazy copy would see those writes), and memory whose shadow chain is at its
    /// limit (the parent's next write would lengthen it).
    fn needs_eager_copy(&self, entry: &MapEntry) -> bool {
        entry.inheritance == Inherit::Copy && self.needs_eager_copy_at(entry)
    }
}
