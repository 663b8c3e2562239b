//! `vm_allocate`: new zero-fill memory.

use crate::map::MapEntry;
use crate::system::{MapId, Machine, Vm};
use crate::types::{Inherit, Placement};
use crate::{Page, Prot, VmError, PAGE_SIZE};

/// The attributes of new memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewMemory {
    /// Current protection.
    pub protection: Prot,
    /// Maximum protection (the current one is reduced to fit inside it).
    pub max_protection: Prot,
    /// Inheritance.
    pub inheritance: Inherit,
}

impl NewMemory {
    /// What `vm_allocate` gives: read-write, maximum all, inherited as a copy.
    pub const DEFAULT: Self =
        Self { protection: Prot::DEFAULT, max_protection: Prot::ALL, inheritance: Inherit::Copy };
}

impl<M: Machine> Vm<M> {
    /// Maps `pages` pages of new zero-fill memory and returns where.
    ///
    /// # Errors
    ///
    /// - [`VmError::InvalidArgument`]: `pages` is 0;
    /// - [`VmError::NoSpace`]: no free range fits (anywhere), or the fixed range is in use;
    /// - [`VmError::InvalidAddress`]: the fixed range is not inside the map.
    #[doc(alias = "vm_allocate")]
    pub fn allocate(&mut self, map: MapId, placement: Placement, pages: u64, memory: NewMemory) -> Result<Page, VmError> {
        self.live(map)?;
        let start = self.place(map, placement, pages)?;
        self.room_for(map, 1)?;
        let end = start.addr() + pages * PAGE_SIZE;
        let protection = memory.protection & memory.max_protection;
        let entry = MapEntry::anonymous(start.addr(), end, protection, memory.max_protection, memory.inheritance);
        self.insert_entry(map, entry);
        Ok(start)
    }

    /// Finds (anywhere) or checks (fixed) the range for `pages` new pages.
    pub(crate) fn place(&self, map: MapId, placement: Placement, pages: u64) -> Result<Page, VmError> {
        if pages == 0 {
            return Err(VmError::InvalidArgument);
        }
        let m = self.map(map);
        match placement {
            Placement::Anywhere { mask } => {
                let size = pages.checked_mul(PAGE_SIZE).ok_or(VmError::NoSpace)?;
                let start = m.gaps.first_fit(size, mask | (PAGE_SIZE - 1), m.min, m.max);
                start.and_then(Page::from_aligned).ok_or(VmError::NoSpace)
            }
            Placement::Fixed(start) => {
                let end = start.checked_add(pages).ok_or(VmError::InvalidAddress)?;
                if !self.in_bounds(map, start.addr(), end.addr()) {
                    return Err(VmError::InvalidAddress);
                }
                if !m.is_free(start.addr(), end.addr()) {
                    return Err(VmError::NoSpace);
                }
                Ok(start)
            }
        }
    }

    /// Puts `entry` into a free range of the map (which the caller checked) and simplifies.
    pub(crate) fn insert_entry(&mut self, map: MapId, entry: MapEntry) {
        let (start, end) = (entry.start, entry.end);
        let m = self.map_mut(map);
        m.take_gap(start, end);
        m.entries.insert(start, entry);
        self.simplify(map, start, end);
    }
}
