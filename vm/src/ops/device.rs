//! Device memory: physical ranges (a frame buffer, registers) that a map shows but the VM
//! does not own. A device entry's object stands for the frames `base..base + size` and holds
//! no page: a fault maps `base + index` with the object's caching, nothing is ever copied,
//! zero-filled or freed. So that no operation can turn device memory into ordinary memory or
//! read it through the kernel's cached mappings, a device entry is shared with children at
//! fork (or not inherited), and the operations that would copy it, wire it, read or write it
//! from the kernel, or name it for another map refuse it with [`VmError::InvalidArgument`].

use crate::map::MapEntry;
use crate::object::VmObject;
use crate::pmap::{Cache, Pmap, SpaceId};
use crate::system::{MapId, Machine, Vm};
use crate::types::{Inherit, Placement};
use crate::{FaultOutcome, Frame, Page, Prot, VmError, PAGE_SIZE};

/// The physical range an object stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// The first frame.
    pub base: Frame,
    /// How accesses are cached.
    pub cache: Cache,
}

/// Frame numbers stop below this: 52-bit physical addresses, the most x86_64 has.
const FRAME_LIMIT: u64 = 1 << 40;

impl<M: Machine> Vm<M> {
    /// Maps the `pages` frames from `base` (device memory: the caller checks that the frame
    /// allocator never hands them out) into `map` with protection and maximum `prot`, cached
    /// as `cache`, inherited shared. Translations are made by faults, one page at a time.
    ///
    /// # Errors
    ///
    /// - [`VmError::InvalidArgument`]: `pages` is 0, or the range passes the physical
    ///   address space;
    /// - as [`allocate`](Self::allocate) for the placement.
    #[doc(alias = "vm_map_device")]
    pub fn map_device(&mut self, map: MapId, placement: Placement, base: Frame, pages: u64, prot: Prot, cache: Cache) -> Result<Page, VmError> {
        self.live(map)?;
        if base.number().checked_add(pages).is_none_or(|end| end > FRAME_LIMIT) {
            return Err(VmError::InvalidArgument);
        }
        let start = self.place(map, placement, pages)?;
        self.room_for(map, 1)?;
        let object = self.new_object(VmObject { device: Some(Device { base, cache }), ..VmObject::new(pages) });
        let end = start.addr() + pages * PAGE_SIZE;
        let mut entry = MapEntry::anonymous(start.addr(), end, prot, prot, Inherit::Share);
        entry.object = Some(object);
        entry.is_shared = true;
        self.insert_entry(map, entry);
        Ok(start)
    }

    /// The device behind `entry`, if it maps device memory.
    pub(crate) fn device_of(&self, entry: &MapEntry) -> Option<Device> {
        entry.object.and_then(|o| self.object(o).device)
    }

    /// Fails with [`VmError::InvalidArgument`] if `[start, end)` of `map` holds device memory.
    pub(crate) fn refuse_device(&self, map: MapId, start: u64, end: u64) -> Result<(), VmError> {
        match self.map(map).overlapping(start, end).any(|e| self.device_of(e).is_some()) {
            true => Err(VmError::InvalidArgument),
            false => Ok(()),
        }
    }

    /// Resolves a fault at `addr` of `entry` (device memory, whose protection allows the
    /// access): maps the device's frame there.
    pub(crate) fn fault_device(&self, space: SpaceId, entry: &MapEntry, addr: u64, device: Device) -> FaultOutcome {
        let frame = Frame::containing(device.base.addr() + entry.object_index(addr) * PAGE_SIZE);
        match self.pmap.enter_device(space, Page::containing(addr), frame, entry.protection, device.cache) {
            Ok(flush) => {
                self.pmap.flush(flush);
                self.counters.faults.add(1);
                FaultOutcome::Resolved
            }
            Err(_) => FaultOutcome::OutOfMemory,
        }
    }
}
