//! The page-fault handler.
//!
//! A fault runs in four stages, as in UVM's `uvm_fault`:
//!
//! ```text
//!  1. look up    entry containing the address?      no ──▶ InvalidAddress
//!                access within its protection?      no ──▶ ProtectionFailure
//!  2. walk       find the page in the entry's object or down its shadow chain
//!                (and decide whether a frame is needed, and take it, before changing
//!                anything: no frame ──▶ OutOfMemory)
//!  3. resolve    ┌ page in the top object ................ map it
//!                ├ page below, read .................... map it read-only (still shared)
//!                ├ page below, write ................... copy it into the top object (COW)
//!                └ no page anywhere .................... zero-fill a page in the top object
//!                (a read of a page nothing holds maps the shared zero page read-only
//!                instead, with no frame or object made)
//!                a write to a needs-copy entry first gives the entry a private shadow
//!                (or, if nobody else refers to its object, just clears needs-copy)
//!  4. enter      pmap enter with the entry's protection, minus write while the page is
//!                still shared copy-on-write; wired if the entry is
//! ```

mod shared;

use crate::map::MapEntry;
use crate::object::{ObjectId, VmObject};
use crate::pmap::{Pmap, TlbFlush, Wiring};
use crate::system::{MapId, Machine, Vm};
use crate::types::Access;
use crate::{Frame, Page, Prot, VmError, PAGE_SIZE};

/// How a fault ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOutcome {
    /// The page is mapped; the access can be retried.
    Resolved,
    /// The address is mapped, but not for this access.
    ProtectionFailure,
    /// Nothing is mapped at the address.
    InvalidAddress,
    /// A frame (for the page or a page table) could not be had.
    OutOfMemory,
}

/// What a fault is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultKind {
    /// An access by the map's task.
    Access,
    /// Wiring or populating a range, whose frames the caller has counted (see
    /// `Vm::check_frames`). The page is always brought into the entry's own object (copied up
    /// from a backing object even for a read), so that a wired translation never refers to a
    /// page that a later copy-on-write could replace under it.
    Resident,
}

/// What stage 2 decided.
struct Plan {
    /// The page found, with its object and depth, if any.
    found: Option<(ObjectId, Frame, usize)>,
    /// Whether the write goes to a page that must first be made private.
    needs_frame: bool,
    /// Whether the entry's needs-copy can simply be cleared (nobody else sees the object).
    sole_user: bool,
}

impl<M: Machine> Vm<M> {
    /// Resolves a fault at `addr` in `map` for `access` ([`FaultOutcome::InvalidAddress`]
    /// if `map` is not a live map).
    #[doc(alias = "vm_fault")]
    pub fn fault(&mut self, map: MapId, addr: u64, access: Access) -> FaultOutcome {
        if self.live(map).is_err() {
            return FaultOutcome::InvalidAddress;
        }
        self.fault_from(map, addr, access, FaultKind::Access)
    }

    pub(crate) fn fault_from(&mut self, map: MapId, addr: u64, access: Access, kind: FaultKind) -> FaultOutcome {
        let entry = match self.map(map).lookup(addr) {
            None => return FaultOutcome::InvalidAddress,
            Some(e) if !e.protection.contains(access.needs()) => return FaultOutcome::ProtectionFailure,
            Some(e) => e.clone(),
        };
        if let Some(device) = self.device_of(&entry) {
            return self.fault_device(self.map(map).space, &entry, addr, device);
        }
        // A wiring fault resolves like a write (into the entry's own object), but maps with
        // the entry's protection as a read would.
        let write = access == Access::Write || kind == FaultKind::Resident;
        if kind == FaultKind::Resident && self.wire_in_place(map, &entry, addr, access) {
            return FaultOutcome::Resolved;
        }
        let plan = self.plan(&entry, addr, write);
        if !write && plan.found.is_none() && !entry.is_wired() && !entry.is_shared {
            if let Some(outcome) = self.map_zero_page(map, &entry, addr) {
                return outcome;
            }
        }
        let fresh = match plan.needs_frame {
            false => None,
            true => match crate::pmap::FrameAllocator::allocate_frame(&self.frames) {
                Some(frame) => Some(frame),
                None => return FaultOutcome::OutOfMemory,
            },
        };
        let (frame, prot) = self.resolve(map, &entry, addr, write, plan, fresh);
        let wiring = if entry.is_wired() { Wiring::Wired } else { Wiring::Pageable };
        let space = self.map(map).space;
        match self.pmap.enter(space, Page::containing(addr), frame, prot, wiring) {
            Ok(flush) => self.apply(flush),
            Err(_) => return FaultOutcome::OutOfMemory,
        }
        self.counters.faults.add(1);
        FaultOutcome::Resolved
    }

    /// A wiring fault on a page already in the entry's own object and mapped for `access`:
    /// only the translation's wired bit changes. Returns whether that was all there was to do.
    fn wire_in_place(&mut self, map: MapId, entry: &MapEntry, addr: u64, access: Access) -> bool {
        if !entry.is_wired() || entry.needs_copy {
            return false;
        }
        let Some(object) = entry.object else { return false };
        let Some(frame) = self.object(object).pages.get(entry.object_index(addr)) else { return false };
        let space = self.map(map).space;
        let mapped = self.pmap.extract(space, addr).filter(|t| t.frame == frame && t.prot.contains(access.needs()));
        mapped.is_some() && self.pmap.wire(space, Page::containing(addr))
    }

    /// A read of a page nothing holds, in memory no other map shares: maps the shared zero
    /// page read-only (taken on first use), with no frame and no object made. `None` if there
    /// is no zero page to be had (the fault then zero-fills a page of its own). Memory that
    /// becomes shared first loses its zero-page translations (`drop_zero_page`), since a
    /// sharer's write would not replace them.
    fn map_zero_page(&mut self, map: MapId, entry: &MapEntry, addr: u64) -> Option<FaultOutcome> {
        let zero = self.zero_page()?;
        let space = self.map(map).space;
        let outcome = match self.pmap.enter(space, Page::containing(addr), zero, entry.protection - Prot::WRITE, Wiring::Pageable) {
            Ok(flush) => {
                self.apply(flush);
                self.counters.faults.add(1);
                self.counters.zero_page_maps.add(1);
                FaultOutcome::Resolved
            }
            Err(_) => FaultOutcome::OutOfMemory,
        };
        Some(outcome)
    }

    /// The shared zero page, taken (and zeroed) on first use unless [`Vm::reserve_zero_page`]
    /// took it at start-up; `None` when no frame is free.
    fn zero_page(&mut self) -> Option<Frame> {
        if let Some(frame) = self.zero_frame {
            return Some(frame);
        }
        let frame = crate::pmap::FrameAllocator::allocate_frame(&self.frames)?;
        self.pmap.zero_page(frame);
        self.pmap.untrack_frame(frame);
        Some(*self.zero_frame.insert(frame))
    }

    /// Takes the shared zero page now rather than at the first read fault, so that the frames
    /// the VM holds for good are all taken before any map exists (a kernel that compares free
    /// frames before and after its tasks then sees them equal).
    ///
    /// # Errors
    ///
    /// [`VmError::OutOfMemory`] if no frame is free.
    pub fn reserve_zero_page(&mut self) -> Result<(), VmError> {
        self.zero_page().map(|_| ()).ok_or(VmError::OutOfMemory)
    }

    /// Removes the zero-page translations of `[start, end)` in address space `space`: the range is about to be
    /// shared, and a sharer's write would not replace them.
    pub(crate) fn drop_zero_page(&mut self, space: crate::pmap::SpaceId, start: u64, end: u64) {
        let Some(zero) = self.zero_frame else { return };
        let range = crate::PageRange::new(Page::containing(start), Page::containing(end)).expect("ordered");
        let flush = self.pmap.remove_frame_in(space, range, zero);
        self.apply(flush);
    }

    /// Stage 2: find the page and decide whether a new frame is needed.
    fn plan(&self, entry: &MapEntry, addr: u64, write: bool) -> Plan {
        let Some(top) = entry.object else {
            return Plan { found: None, needs_frame: true, sole_user: false };
        };
        let found = self.find_page(top, entry.object_index(addr));
        let sole_user = self.object(top).refs == 1;
        let shadowing = write && entry.needs_copy && !sole_user;
        let needs_frame = match found {
            None => true,
            Some((_, _, depth)) => write && (depth > 0 || shadowing),
        };
        Plan { found, needs_frame, sole_user }
    }

    /// Stage 3: make the page the access needs; returns its frame and the rights to map.
    fn resolve(&mut self, map: MapId, entry: &MapEntry, addr: u64, write: bool, plan: Plan, fresh: Option<Frame>) -> (Frame, Prot) {
        let top = if write { self.private_object(map, entry, plan.sole_user) } else { self.object_for(map, entry) };
        let entry = self.map(map).lookup(addr).expect("the entry is still there").clone();
        let index = entry.object_index(addr);
        let mut prot = entry.protection;
        if entry.needs_copy {
            prot.remove(Prot::WRITE);
        }
        let Some(frame) = fresh else {
            let (_, frame, depth) = plan.found.expect("no frame needed: the page exists");
            if depth > 0 {
                prot.remove(Prot::WRITE);
            }
            return (frame, prot);
        };
        let mut flush = TlbFlush::new();
        match plan.found {
            Some((_, source, _)) => {
                self.pmap.copy_page(source, frame);
                self.counters.cow_faults.add(1);
                if self.object(top).refs > 1 {
                    // Other maps share `top` and may translate this index to the page below,
                    // which `top` now hides: drop those translations (a fault rebuilds them).
                    // Wired translations of the page below stay: none goes through `top`
                    // (wiring copies pages up into the entry's own object).
                    flush.merge(self.pmap.page_remove_pageable(source));
                }
            }
            None => {
                self.pmap.zero_page(frame);
                self.counters.zero_fill.add(1);
            }
        }
        self.object_mut(top).pages.map().insert(index, frame);
        self.resident.add(1);
        self.try_bypass(top, &mut flush);
        self.apply(flush);
        (frame, prot)
    }

    /// The entry's object, created (zero-fill, the size of the entry) if it has none.
    fn object_for(&mut self, map: MapId, entry: &MapEntry) -> ObjectId {
        if let Some(object) = entry.object {
            return object;
        }
        let object = self.new_object(VmObject::new(entry.pages()));
        let e = self.map_mut(map).lookup_mut(entry.start).expect("the entry is still there");
        e.object = Some(object);
        e.offset = 0;
        object
    }

    /// The entry's object made private for a write: a needs-copy entry gets a shadow of its
    /// own (or, as the object's sole user, simply drops needs-copy).
    fn private_object(&mut self, map: MapId, entry: &MapEntry, sole_user: bool) -> ObjectId {
        let object = self.object_for(map, entry);
        if !entry.needs_copy {
            return object;
        }
        let map_ref = self.map_mut(map);
        map_ref.touch();
        if sole_user {
            map_ref.lookup_mut(entry.start).expect("present").needs_copy = false;
            // Written in place from now on: no longer frozen.
            self.object_mut(object).frozen = false;
            return object;
        }
        let shadow = self.new_object(VmObject::shadowing(object, entry.offset, entry.pages()));
        let e = self.map_mut(map).lookup_mut(entry.start).expect("present");
        e.object = Some(shadow);
        e.offset = 0;
        e.needs_copy = false;
        shadow
    }

    /// Faults in every page of `[start, end)` of `map` for `access` (used by wiring and
    /// `map_now` allocation). Stops at the first failure.
    pub(crate) fn fault_range(&mut self, map: MapId, start: u64, end: u64, access: Access) -> FaultOutcome {
        let mut addr = start;
        while addr < end {
            let outcome = self.fault_from(map, addr, access, FaultKind::Resident);
            if outcome != FaultOutcome::Resolved {
                return outcome;
            }
            addr += PAGE_SIZE;
        }
        FaultOutcome::Resolved
    }
}
