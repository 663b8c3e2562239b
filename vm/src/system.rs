//! The VM system: every map and object, with the pmap and the physical memory under them.
//!
//! # Locking
//!
//! A [`Vm`] is one value; a kernel keeps it behind one readers-writer lock (the VM lock):
//!
//! - **shared** for page faults: [`Vm::fault_shared`] (`&self`) resolves the common cases,
//!   with many processors in it at once, in one map or several. Inside, it locks an object's
//!   resident pages ([`object::Pages`](crate::object::Pages)) for a short section, and calls
//!   the pmap's `&self` methods, which lock one address space inside (so faults in different
//!   maps do not meet there); it returns `None` for the cases that change a map or an
//!   object's structure;
//! - **exclusive** for everything else: every operation taking `&mut self`, [`Vm::fault`]
//!   included (a kernel calls it when `fault_shared` declined, and it starts over from the
//!   map, so nothing seen under the shared lock is trusted after it was dropped).
//!
//! Lock order: **VM lock → an object's pages → the pmap (inside its `&self` methods: one
//! address space, then a frame's reverse map) → the frame allocator**; a lower
//! object's pages are locked only to look one page up, never with another object's held.
//! Under the exclusive lock nothing inside is locked (`get_mut`). Code that must drop the VM
//! lock in the middle of an operation (to wait, or to copy from user memory) re-checks the
//! map's [`version`](crate::map::VmMap::version) when it takes the lock again.
//!
//! The internal locks spin ([`sync`](crate::sync)); a kernel whose TLB shootdowns wait for
//! other processors' acknowledgements installs a wait hook ([`sync::set_wait_hook`]) that
//! serves them while it spins. The protocol is model-checked with `loom`
//! (`tests/loom.rs`): faults racing each other, `protect`, `deallocate`, copies and
//! copy-on-write.

use crate::map::VmMap;
use crate::object::{ObjectId, VmObject};
use crate::pmap::{FrameAllocator, PhysMemory, Pmap, SpaceId, TlbFlush};
use crate::slab::Slab;
use crate::sync::Counter;
use crate::{Frame, VmError};

/// What the VM layer needs from the machine and the kernel.
pub trait Machine {
    /// The page tables.
    type Pmap: Pmap;
    /// The supply of physical frames.
    type Frames: FrameAllocator;
    /// Byte access to frames.
    type Phys: PhysMemory;
}

/// The most entries a map may hold unless [`Vm::set_entry_limit`] says otherwise.
pub const DEFAULT_ENTRY_LIMIT: usize = 1 << 16;

/// Identifies a map in a [`Vm`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
///
/// Only [`Vm::create_map`] makes one, and it names that map only: once the map is destroyed,
/// the id names nothing, even after its slot holds another map (the operations then fail
/// with [`VmError::InvalidArgument`]).
pub struct MapId(pub(crate) crate::slab::Key);

/// Event counters (`vm_stat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmCounters {
    /// Faults resolved.
    pub faults: u64,
    /// Pages zero-filled by faults.
    pub zero_fill: u64,
    /// Pages copied by copy-on-write faults.
    pub cow_faults: u64,
    /// Pages copied outside faults (eager copies of wired or shared memory at fork).
    pub pages_copied: u64,
    /// Shadow objects merged into their only user.
    pub collapses: u64,
    /// Shadow links skipped over an object that had nothing to contribute.
    pub bypasses: u64,
    /// Read faults resolved by mapping the shared zero page.
    pub zero_page_maps: u64,
    /// Pieces of copy objects visited while writing copies over existing memory
    /// (`copy_overwrite`): a work count, linear in the pieces, pages and entries involved.
    pub piece_visits: u64,
    /// Slots of shadow-children lists visited while linking and unlinking shadow objects: a
    /// work count, one per link or unlink.
    pub child_list_visits: u64,
}

/// Event counters as the VM keeps them: bumped by faults running side by side.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub faults: Counter,
    pub zero_fill: Counter,
    pub cow_faults: Counter,
    pub pages_copied: Counter,
    pub collapses: Counter,
    pub bypasses: Counter,
    pub zero_page_maps: Counter,
    pub piece_visits: Counter,
    pub child_list_visits: Counter,
}

/// The VM system.
pub struct Vm<M: Machine> {
    /// The pmap. Faults that run side by side ([`Vm::fault_shared`]) call its `&self`
    /// methods, which lock inside, per address space.
    pub(crate) pmap: M::Pmap,
    pub(crate) frames: M::Frames,
    pub(crate) phys: M::Phys,
    pub(crate) maps: Slab<VmMap>,
    pub(crate) objects: Slab<VmObject>,
    /// Named entries (memory-entry handles), each holding a reference to its object.
    pub(crate) named: Slab<crate::ops::NamedEntry>,
    /// Copy objects, each holding references to the objects of its pieces.
    pub(crate) copies: Slab<crate::copy::VmMapCopy>,
    /// Frames held in objects.
    pub(crate) resident: Counter,
    /// The most entries one map may hold.
    pub(crate) entry_limit: usize,
    /// The shared zero page, mapped read-only for reads of pages nothing holds (taken at
    /// start-up by `reserve_zero_page`, or else on first use; kept for good).
    pub(crate) zero_frame: Option<Frame>,
    pub(crate) counters: Counters,
}

impl<M: Machine> Vm<M> {
    /// A VM system over these parts.
    pub fn new(pmap: M::Pmap, frames: M::Frames, phys: M::Phys) -> Self {
        Self {
            pmap,
            frames,
            phys,
            maps: Slab::default(),
            objects: Slab::default(),
            named: Slab::default(),
            copies: Slab::default(),
            resident: Counter::default(),
            entry_limit: DEFAULT_ENTRY_LIMIT,
            zero_frame: None,
            counters: Counters::default(),
        }
    }

    /// The pmap: its `&self` methods (reading, `enter`, `flush`, `activate`) may be called
    /// with the VM shared, from several processors at once.
    pub fn pmap(&self) -> &M::Pmap {
        &self.pmap
    }

    /// The pmap, mutably, through exclusive access to the VM.
    pub fn pmap_mut(&mut self) -> &mut M::Pmap {
        &mut self.pmap
    }

    /// Byte access to physical memory.
    pub fn phys(&self) -> &M::Phys {
        &self.phys
    }

    /// The frame allocator.
    pub fn frames(&self) -> &M::Frames {
        &self.frames
    }

    /// Event counters.
    #[doc(alias = "vm_statistics")]
    pub fn counters(&self) -> VmCounters {
        let c = &self.counters;
        VmCounters {
            faults: c.faults.get(),
            zero_fill: c.zero_fill.get(),
            cow_faults: c.cow_faults.get(),
            pages_copied: c.pages_copied.get(),
            collapses: c.collapses.get(),
            bypasses: c.bypasses.get(),
            zero_page_maps: c.zero_page_maps.get(),
            piece_visits: c.piece_visits.get(),
            child_list_visits: c.child_list_visits.get(),
        }
    }

    /// Sets the most entries one map may hold. A kernel sizes it so that its heap can hold
    /// the entries of every map (and a fork's copy of the largest): an operation that could
    /// pass it fails with [`VmError::EntryLimit`] before changing anything.
    pub fn set_entry_limit(&mut self, limit: usize) {
        self.entry_limit = limit.max(3);
    }

    /// Fails with [`VmError::EntryLimit`] unless `map` has room for the entries clipping at
    /// `start` and `end` would add (one for each boundary strictly inside an entry).
    pub(crate) fn room_to_clip(&self, map: MapId, start: u64, end: u64) -> Result<(), VmError> {
        let m = self.map(map);
        let inside = |addr: u64| m.lookup(addr).is_some_and(|e| e.start < addr);
        self.room_for(map, usize::from(inside(start)) + usize::from(inside(end)))
    }

    /// Fails with [`VmError::EntryLimit`] unless `map` has room for `extra` more entries.
    pub(crate) fn room_for(&self, map: MapId, extra: usize) -> Result<(), VmError> {
        if self.map(map).entries.len() + extra > self.entry_limit {
            Err(VmError::EntryLimit)
        } else {
            Ok(())
        }
    }

    /// Number of live objects.
    pub fn object_count(&self) -> usize {
        self.objects.len()
    }

    /// Frames held by objects (resident pages).
    pub fn resident_pages(&self) -> u64 {
        self.resident.get()
    }

    /// A new empty map over `[min, max)`.
    ///
    /// # Errors
    ///
    /// [`VmError::OutOfMemory`] if the pmap has no frame for the address space.
    #[doc(alias = "vm_map_create")]
    pub fn create_map(&mut self, min: u64, max: u64) -> Result<MapId, VmError> {
        let space = self.pmap.create().map_err(|_| VmError::OutOfMemory)?;
        Ok(MapId(self.maps.insert(VmMap::new(space, min, max))))
    }

    /// Fails with [`VmError::InvalidArgument`] unless `id` names a live map: every public
    /// operation taking a map checks it first, so a stale id is an error, never another map.
    pub(crate) fn live(&self, id: MapId) -> Result<(), VmError> {
        self.maps.get(id.0).map(|_| ()).ok_or(VmError::InvalidArgument)
    }

    /// The map `id`, if it is live.
    pub fn try_map(&self, id: MapId) -> Option<&VmMap> {
        self.maps.get(id.0)
    }

    /// The map `id`.
    ///
    /// # Panics
    ///
    /// If `id` is not a live map ([`try_map`](Self::try_map) does not panic).
    pub fn map(&self, id: MapId) -> &VmMap {
        self.maps.get(id.0).expect("a live map")
    }

    pub(crate) fn map_mut(&mut self, id: MapId) -> &mut VmMap {
        self.maps.get_mut(id.0).expect("a live map")
    }

    pub(crate) fn object(&self, id: ObjectId) -> &VmObject {
        self.objects.get(id.0).expect("a live object")
    }

    pub(crate) fn object_mut(&mut self, id: ObjectId) -> &mut VmObject {
        self.objects.get_mut(id.0).expect("a live object")
    }

    pub(crate) fn new_object(&mut self, object: VmObject) -> ObjectId {
        let id = ObjectId(self.objects.insert(object));
        if let Some((backing, _)) = self.object(id).shadow {
            self.link_child(backing, id);
        }
        debug_assert!(self.chain_length(id) <= crate::object::MAX_CHAIN_LENGTH, "a shadow chain past the limit");
        id
    }

    /// Takes one more reference to `id`.
    pub(crate) fn reference(&mut self, id: ObjectId) {
        self.object_mut(id).refs += 1;
    }

    /// Applies `flush` through the pmap.
    pub(crate) fn apply(&mut self, flush: TlbFlush) {
        self.pmap.flush(flush);
    }

    /// Removes every mapping of `frame` and frees it once the TLB is clean.
    pub(crate) fn free_frame(&mut self, frame: Frame, flush: &mut TlbFlush) {
        flush.merge(self.pmap.page_protect(frame, crate::Prot::NONE));
        flush.release_after(frame);
        self.resident.sub(1);
    }

    /// Destroys map `id`: every entry is removed and the address space released. The space
    /// must not be active.
    ///
    /// O(n) for n entries: the address space is torn down in one walk of its page tables,
    /// then each entry's object loses its reference; no entry is looked up or unlinked one by
    /// one.
    ///
    /// # Errors
    ///
    /// [`VmError::InvalidArgument`] if `id` is not a live map (nothing changes).
    #[doc(alias = "vm_map_destroy")]
    pub fn destroy_map(&mut self, id: MapId) -> Result<(), VmError> {
        let map = self.maps.remove(id.0).ok_or(VmError::InvalidArgument)?;
        let flush = self.pmap.destroy(map.space);
        self.apply(flush);
        let mut flush = TlbFlush::new();
        for object in map.entries.into_values().filter_map(|e| e.object) {
            self.release_into(object, &mut flush);
        }
        self.apply(flush);
        Ok(())
    }

    /// The pmap space of map `id`.
    ///
    /// # Panics
    ///
    /// If `id` is not a live map.
    pub fn space(&self, id: MapId) -> SpaceId {
        self.map(id).space
    }
}
