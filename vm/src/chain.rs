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
//!
//! Neither can fold an object that others still refer to (a copy of each round of a
//! copy-and-write loop keeps one), so chains are also bounded outright: a lazy copy is taken
//! only of an object whose chain is shorter than [`MAX_CHAIN_LENGTH`], and a longer one is
//! copied at once. Every walk of a chain here is a loop, never a recursion.

use crate::object::{ObjectId, MAX_CHAIN_LENGTH};
use crate::pmap::TlbFlush;
use crate::system::{Machine, Vm};
use crate::Frame;
use alloc::collections::BTreeMap;

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
        let mut object = self.objects.remove(id.0).expect("a live object");
        debug_assert!(object.children.is_empty(), "children hold references");
        for frame in object.pages.take().into_values() {
            self.free_frame(frame, flush);
        }
        let (backing, _) = object.shadow?;
        self.unlink_slot(backing, object.child_slot);
        Some(backing)
    }

    /// Merges `id`, referenced only by its one shadow child, into that child.
    fn collapse(&mut self, id: ObjectId, flush: &mut TlbFlush) {
        let mut object = self.objects.remove(id.0).expect("a live object");
        let child = object.children[0];
        let (_, offset) = self.object(child).shadow.expect("a child shadows its parent");
        for (index, frame) in object.pages.take() {
            let target = index.checked_sub(offset).filter(|&i| i < self.object(child).size);
            match target {
                Some(i) if self.object(child).pages.get(i).is_none() => {
                    self.object_mut(child).pages.map().insert(i, frame);
                }
                _ => self.free_frame(frame, flush),
            }
        }
        self.object_mut(child).shadow = object.shadow.map(|(g, o)| (g, o + offset));
        if let Some((grand, _)) = object.shadow {
            // The child takes the collapsed object's place among the grandparent's children.
            let slot = object.child_slot;
            debug_assert_eq!(self.object(grand).children[slot], id, "child slot");
            self.object_mut(grand).children[slot] = child;
            self.object_mut(child).child_slot = slot;
            self.counters.child_list_visits.add(1);
        }
        self.counters.collapses.add(1);
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
        self.unlink_slot(backing, self.object(id).child_slot);
        if let Some((grand, grand_offset)) = next {
            self.reference(grand);
            self.link_child(grand, id);
            self.object_mut(id).shadow = Some((grand, grand_offset + offset));
        } else {
            self.object_mut(id).shadow = None;
        }
        self.counters.bypasses.add(1);
        self.release_into(backing, flush);
    }

    /// Lists `child` among the shadows of `backing` (one slot visited).
    pub(crate) fn link_child(&mut self, backing: ObjectId, child: ObjectId) {
        let children = &mut self.object_mut(backing).children;
        let slot = children.len();
        children.push(child);
        self.object_mut(child).child_slot = slot;
        self.counters.child_list_visits.add(1);
    }

    /// Removes the child at `slot` from the shadows of `backing`: the last child moves into
    /// the slot (one or two slots visited, whatever the number of children).
    fn unlink_slot(&mut self, backing: ObjectId, slot: usize) {
        let children = &mut self.object_mut(backing).children;
        children.swap_remove(slot);
        let moved = children.get(slot).copied();
        self.counters.child_list_visits.add(1);
        if let Some(moved) = moved {
            self.object_mut(moved).child_slot = slot;
            self.counters.child_list_visits.add(1);
        }
    }

    /// The page at `index` of `id` or of an object below it: the object holding it, its frame,
    /// and its depth (0 = `id` itself).
    pub(crate) fn find_page(&self, id: ObjectId, index: u64) -> Option<(ObjectId, Frame, usize)> {
        let (mut object, mut index, mut depth) = (id, index, 0);
        loop {
            let o = self.object(object);
            if let Some(frame) = o.pages.get(index) {
                return Some((object, frame, depth));
            }
            let (backing, offset) = o.shadow?;
            (object, index, depth) = (backing, index + offset, depth + 1);
        }
    }

    /// The frames of the window `[first, first + pages)` of `top` that `top` or an object
    /// below it holds, by page of the window, each the one a fault would find (the highest in
    /// the chain). One pass down the chain: costs its length and the resident pages of the
    /// window at each level, not a walk of the chain per page.
    pub(crate) fn window_frames(&self, top: ObjectId, first: u64, pages: u64) -> BTreeMap<u64, Frame> {
        let mut found = BTreeMap::new();
        let (mut object, mut shift) = (Some(top), first);
        while let Some(id) = object {
            let o = self.object(id);
            for (&index, &frame) in o.pages.lock().range(shift..shift.saturating_add(pages)) {
                found.entry(index - shift).or_insert(frame);
            }
            object = o.shadow.map(|(backing, offset)| {
                shift += offset;
                backing
            });
        }
        found
    }

    /// Whether the shadow chain starting at `id` is [`MAX_CHAIN_LENGTH`] objects long (walks
    /// at most that many). A copy of such an object is made at once rather than lazily, so
    /// that no write can put a shadow in front of it (see [`MAX_CHAIN_LENGTH`]).
    pub(crate) fn chain_at_limit(&self, id: ObjectId) -> bool {
        let mut object = self.object(id);
        for _ in 1..MAX_CHAIN_LENGTH {
            match object.shadow {
                Some((backing, _)) => object = self.object(backing),
                None => return false,
            }
        }
        true
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
