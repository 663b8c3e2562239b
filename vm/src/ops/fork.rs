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

use crate::map::MapEntry;
use crate::object::{ObjectId, VmObject};
use crate::pmap::{Pmap, TlbFlush};
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
    pub fn fork(&mut self, parent: MapId) -> Result<MapId, VmError> {
        let entries: Vec<MapEntry> = self.map(parent).entries().cloned().collect();
        let copies: u64 = entries.iter().filter(|e| self.needs_eager_copy(e)).map(|e| self.pages_with_data(e).len() as u64).sum();
        let (min, max) = (self.map(parent).min, self.map(parent).max);
        let child = self.create_map(min, max)?;
        if let Err(error) = self.check_free(copies) {
            self.destroy_map(child);
            return Err(error);
        }
        let mut flush = TlbFlush::new();
        for entry in entries {
            if let Some(copy) = self.inherit_entry(parent, &entry, &mut flush) {
                self.insert_entry(child, copy);
            }
        }
        self.apply(flush);
        self.simplify(parent, min, max);
        Ok(child)
    }

    /// The child's entry for one parent entry, changing the parent's entry as inheritance needs.
    fn inherit_entry(&mut self, parent: MapId, entry: &MapEntry, flush: &mut TlbFlush) -> Option<MapEntry> {
        let mut child = MapEntry { wired_count: 0, user_wired_count: 0, ..entry.clone() };
        match entry.inheritance {
            Inherit::None => return None,
            Inherit::Share => {
                let object = self.shareable_object(parent, entry);
                self.reference(object);
                let e = self.map_mut(parent).lookup_mut(entry.start).expect("present");
                e.is_shared = true;
                (child.object, child.offset, child.needs_copy, child.is_shared) = (Some(object), e.offset, false, true);
            }
            Inherit::Copy if self.needs_eager_copy(entry) => {
                let object = entry.object.expect("an eager copy has an object");
                child.object = Some(self.copy_window(object, (entry.offset, entry.pages())).expect("frames counted"));
                (child.offset, child.needs_copy, child.is_shared) = (0, false, false);
            }
            Inherit::Copy => {
                let Some(object) = entry.object else { return Some(child) };
                self.reference(object);
                self.map_mut(parent).lookup_mut(entry.start).expect("present").needs_copy = true;
                if entry.protection.contains(Prot::WRITE) && !entry.needs_copy {
                    let space = self.map(parent).space;
                    let range = PageRange::new(Page::containing(entry.start), Page::containing(entry.end)).expect("ordered");
                    flush.merge(self.pmap.protect(space, range, entry.protection - Prot::WRITE));
                }
                (child.needs_copy, child.is_shared) = (true, false);
            }
        }
        Some(child)
    }

    /// The object a SHARE entry hands to the child: the entry's own, created if missing, and
    /// made private first if the entry was copy-on-write (sharing must not share a snapshot).
    pub(crate) fn shareable_object(&mut self, parent: MapId, entry: &MapEntry) -> ObjectId {
        let e = self.map(parent).lookup(entry.start).expect("present").clone();
        if !e.is_shared {
            self.drop_zero_page(parent, e.start, e.end);
        }
        let object = match (e.object, e.needs_copy) {
            (None, _) => self.new_object(VmObject::new(e.pages())),
            (Some(o), false) => return o,
            (Some(o), true) => self.new_object(VmObject::shadowing(o, e.offset, e.pages())),
        };
        let e = self.map_mut(parent).lookup_mut(entry.start).expect("present");
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
