//! Object lifetimes and shadow chains: releasing references, collapse and bypass.
//!
//! Chains stay short because every time an object's last user goes away it is folded into
//! the object in front of it:
//!
//! - **collapse**: an object whose only reference is its single shadow child is merged into
//!   that child (pages the child lacks move up, the rest are freed) and disappears;
//! - **bypass**: a shadow that no longer needs its backing object (it holds every page of its
//!   window, or the backing object holds none there) skips it.
//!
//! Both rely on this invariant: an object that has shadow children is never written in place
//! (every entry that refers to it has `needs_copy` set), so its contents only grow by zero-fill
//! of pages no object below it holds.

use crate::object::ObjectId;
use crate::pmap::TlbFlush;
use crate::system::{Machine, Vm};

impl<M: Machine> Vm<M> {
    /// Drops one reference to `id`: frees the object at zero (and releases its backing object
    /// in turn), or collapses it into its only child.
    pub(crate) fn release(&mut self, id: ObjectId) {
        let mut flush = TlbFlush::new();
        self.release_into(id, &mut flush);
        self.apply(flush);
    }

    pub(crate) fn release_into(&mut self, id: ObjectId, flush: &mut TlbFlush) {
        let mut next = Some(id);
        while let Some(id) = next.take() {
            let object = self.object_mut(id);
            object.refs -= 1;
            if object.refs == 0 {
                next = self.free_object(id, flush);
            } else if object.refs == 1 && object.children.len() == 1 {
                self.collapse(id, flush);
            }
        }
    }

    /// Frees an unreferenced object's pages; returns its backing object, which loses a
    /// reference.
    fn free_object(&mut self, id: ObjectId, flush: &mut TlbFlush) -> Option<ObjectId> {
        let object = self.objects.remove(id.0).expect("a live object");
        debug_assert!(object.children.is_empty(), "children hold references");
        for frame in object.pages.into_values() {
            self.free_frame(frame, flush);
        }
        let (backing, _) = object.shadow?;
        self.object_mut(backing).children.retain(|&c| c != id);
        Some(backing)
    }

    /// Merges `id`, referenced only by its one shadow child, into that child.
    fn collapse(&mut self, id: ObjectId, flush: &mut TlbFlush) {
        let object = self.objects.remove(id.0).expect("a live object");
        let child = object.children[0];
        let (_, offset) = self.object(child).shadow.expect("a child shadows its parent");
        for (index, frame) in object.pages {
            let target = index.checked_sub(offset).filter(|&i| i < self.object(child).size);
            match target {
                Some(i) if !self.object(child).pages.contains_key(&i) => {
                    self.object_mut(child).pages.insert(i, frame);
                }
                _ => self.free_frame(frame, flush),
            }
        }
        self.object_mut(child).shadow = object.shadow.map(|(g, o)| (g, o + offset));
        if let Some((grand, _)) = object.shadow {
            let children = &mut self.object_mut(grand).children;
            let at = children.iter().position(|&c| c == id).expect("listed as a child");
            children[at] = child;
        }
        self.counters.collapses += 1;
    }

    /// Lets shadow `id` skip its backing object if that object has nothing left to give it.
    pub(crate) fn try_bypass(&mut self, id: ObjectId, flush: &mut TlbFlush) {
        let object = self.object(id);
        let Some((backing, offset)) = object.shadow else { return };
        let size = object.size;
        let hides_all = object.fully_resident();
        let empty_window = !self.object(backing).has_pages_in(offset, size);
        if !hides_all && !empty_window {
            return;
        }
        let next = if hides_all { None } else { self.object(backing).shadow };
        if let Some((grand, grand_offset)) = next {
            self.reference(grand);
            self.object_mut(grand).children.push(id);
            self.object_mut(id).shadow = Some((grand, grand_offset + offset));
        } else {
            self.object_mut(id).shadow = None;
        }
        self.object_mut(backing).children.retain(|&c| c != id);
        self.counters.bypasses += 1;
        self.release_into(backing, flush);
    }

    /// The page at `index` of `id` or of an object below it: the object holding it, its frame,
    /// and its depth (0 = `id` itself).
    pub(crate) fn find_page(&self, id: ObjectId, index: u64) -> Option<(ObjectId, crate::Frame, usize)> {
        let (mut object, mut index, mut depth) = (id, index, 0);
        loop {
            let o = self.object(object);
            if let Some(&frame) = o.pages.get(&index) {
                return Some((object, frame, depth));
            }
            let (backing, offset) = o.shadow?;
            (object, index, depth) = (backing, index + offset, depth + 1);
        }
    }

    /// Length of the shadow chain starting at `id` (1 for an object without shadow).
    pub fn chain_length(&self, id: ObjectId) -> usize {
        let mut length = 1;
        let mut object = self.object(id);
        while let Some((backing, _)) = object.shadow {
            length += 1;
            object = self.object(backing);
        }
        length
    }
}
