//! Faults that run side by side: the common cases of the fault handler, with the VM shared.
//!
//! A kernel holds its VM lock shared for these (many processors at once, in one map or in
//! several) and exclusively for everything that changes a map or an object's structure.
//! Here only pages are added to objects and translations to the pmap, each under its own
//! lock:
//!
//! ```text
//!  lock order:  VM (shared) → the top object's pages → the pmap (one space) → the frame allocator
//!               (a lower object's pages are locked only to look a page up, never together
//!               with another object's)
//! ```
//!
//! The cases handled (anything else returns `None`, and the kernel retries with the VM
//! exclusive, where [`Vm::fault`] starts over from the map):
//! - the page is in the entry's object: map it;
//! - a read of a page in an object below: map it read-only (still shared);
//! - a read of a page nothing holds, in private memory: map the shared zero page;
//! - a page nothing holds, in an object with no backing object: zero a fresh frame (outside
//!   every lock), then insert it into the object, unless another fault inserted that page
//!   meanwhile (then the fresh frame goes back and that page is mapped).
//!
//! The decision happens under the top object's page lock; a zero-page translation is also
//! entered under it, so that it never replaces the page a write inserted (that fault takes
//! the lock after this one, and enters its page after it); a page of an object is entered
//! after the lock is dropped (faults entering it in any order enter the same frame), which
//! keeps the lock's hold to a lookup or an insertion. Left to the exclusive path: entries with no object yet, writes to needs-copy
//! entries, writes of pages missing from an object with a backing object (a copy-on-write
//! copy, or a zero fill that may let the object bypass its backing object), wiring.

use crate::map::MapEntry;
use crate::object::ObjectId;
use crate::pmap::{FrameAllocator, PhysMemory, Pmap, SpaceId, Wiring};
use crate::system::{MapId, Machine, Vm};
use crate::types::Access;
use crate::{FaultOutcome, Frame, Page, Prot};

/// What a shared fault found below the entry's object.
#[derive(Clone, Copy)]
enum Below {
    /// Nothing: the page is nowhere in the chain.
    Nothing,
    /// A page in an object below the top one.
    Page(Frame),
}

impl<M: Machine> Vm<M> {
    /// Resolves a fault at `addr` in `map` for `access` with the VM shared, if it is one of
    /// the cases this path handles (module docs); `None` when it needs the VM exclusive.
    #[doc(alias = "vm_fault")]
    pub fn fault_shared(&self, map: MapId, addr: u64, access: Access) -> Option<FaultOutcome> {
        let Some(m) = self.maps.get(map.0) else { return Some(FaultOutcome::InvalidAddress) };
        let entry = match m.lookup(addr) {
            None => return Some(FaultOutcome::InvalidAddress),
            Some(e) if !e.protection.contains(access.needs()) => return Some(FaultOutcome::ProtectionFailure),
            Some(e) => e,
        };
        let top = entry.object?;
        if let Some(device) = self.object(top).device {
            return Some(self.fault_device(m.space, entry, addr, device));
        }
        let write = access == Access::Write;
        if write && entry.needs_copy {
            return None;
        }
        let index = entry.object_index(addr);
        let in_top = self.object(top).pages.get(index).is_some();
        // A write of a page the top object lacks, in front of a backing object: a copy up, or
        // a zero fill after which the top object may hide its backing object (bypass): both
        // change the chain. Decided before the chain is walked, so that a copy-on-write fault
        // pays one lookup here before it goes exclusive.
        if write && !in_top && self.object(top).shadow.is_some() {
            return None;
        }
        let below = match self.object(top).shadow {
            Some((backing, offset)) if !in_top => {
                self.find_page(backing, index + offset).map_or(Below::Nothing, |(_, f, _)| Below::Page(f))
            }
            _ => Below::Nothing,
        };
        let zero_page_read = !write && !entry.is_wired() && !entry.is_shared;
        if zero_page_read && self.zero_frame.is_none() {
            // The zero page is taken on first use, which changes the VM.
            return None;
        }
        let fresh = match below {
            Below::Nothing if !in_top && !zero_page_read => Some(self.fresh_zeroed_frame()?),
            _ => None,
        };
        Some(self.settle(m.space, entry, addr, top, below, fresh))
    }

    /// A frame filled with zeroes (outside every lock), or `None` if none is free: the
    /// exclusive path then reports the shortage.
    fn fresh_zeroed_frame(&self) -> Option<Frame> {
        let frame = self.frames.allocate_frame()?;
        self.phys.zero(frame);
        Some(frame)
    }

    /// Under the top object's page lock: decides what `addr` maps (the top object's page, a
    /// page below, the zero page or `fresh`, inserted) and enters it.
    fn settle(&self, space: SpaceId, entry: &MapEntry, addr: u64, top: ObjectId, below: Below, fresh: Option<Frame>) -> FaultOutcome {
        let index = entry.object_index(addr);
        let mut pages = self.object(top).pages.lock();
        let mut prot = entry.protection;
        if entry.needs_copy {
            prot.remove(Prot::WRITE);
        }
        let (frame, unused, zero_page) = match (pages.get(&index).copied(), below, fresh) {
            (Some(frame), _, fresh) => (frame, fresh, false),
            (None, Below::Page(frame), fresh) => {
                prot.remove(Prot::WRITE);
                (frame, fresh, false)
            }
            (None, Below::Nothing, Some(frame)) => {
                pages.insert(index, frame);
                self.resident.add(1);
                self.counters.zero_fill.add(1);
                (frame, None, false)
            }
            (None, Below::Nothing, None) => {
                prot.remove(Prot::WRITE);
                self.counters.zero_page_maps.add(1);
                (self.zero_frame.expect("checked by fault_shared"), None, true)
            }
        };
        // A page of an object is entered after the page lock is dropped: whoever enters it,
        // in whatever order, enters the same frame. The zero page is entered with the lock
        // held, so that it is never entered after a fault that inserted the page (which
        // takes the lock after this one and enters after that).
        if !zero_page {
            drop(pages);
        }
        let outcome = self.enter_translation(space, addr, frame, prot, entry.is_wired());
        if let Some(frame) = unused {
            self.frames.deallocate_frame(frame);
        }
        outcome
    }

    /// Enters `frame` at `addr` of `space` (the pmap locks that space inside) and applies
    /// the flush.
    fn enter_translation(&self, space: SpaceId, addr: u64, frame: Frame, prot: Prot, wired: bool) -> FaultOutcome {
        let wiring = if wired { Wiring::Wired } else { Wiring::Pageable };
        match self.pmap.enter(space, Page::containing(addr), frame, prot, wiring) {
            Ok(flush) => {
                self.pmap.flush(flush);
                self.counters.faults.add(1);
                FaultOutcome::Resolved
            }
            Err(_) => FaultOutcome::OutOfMemory,
        }
    }
}
