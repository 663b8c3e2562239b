//! `vm_region`: describing a region.

use crate::object::ObjectId;
use crate::system::{MapId, Machine, Vm};
use crate::types::{Behavior, Inherit};
use crate::{Prot, VmError, PAGE_SIZE};

/// One region (one map entry, the map being simplified) as `vm_region` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    /// First address.
    pub start: u64,
    /// First address past the region.
    pub end: u64,
    /// Current protection.
    pub protection: Prot,
    /// Maximum protection.
    pub max_protection: Prot,
    /// Inheritance.
    pub inheritance: Inherit,
    /// Whether the memory is shared with another map.
    pub shared: bool,
    /// The object behind the region (`None` until first touched).
    pub object: Option<ObjectId>,
    /// Byte offset of the region in its object.
    pub offset: u64,
    /// User wirings of the region.
    pub user_wired_count: u16,
    /// Access-pattern hint.
    pub behavior: Behavior,
}

impl<M: Machine> Vm<M> {
    /// The region containing `addr`, or else the first one above it.
    ///
    /// # Errors
    ///
    /// [`VmError::NoSpace`] if there is none at or above `addr`.
    #[doc(alias = "vm_region")]
    pub fn region(&self, map: MapId, addr: u64) -> Result<RegionInfo, VmError> {
        self.live(map)?;
        let e = self.map(map).lookup_at_or_after(addr).ok_or(VmError::NoSpace)?;
        Ok(RegionInfo {
            start: e.start,
            end: e.end,
            protection: e.protection,
            max_protection: e.max_protection,
            inheritance: e.inheritance,
            shared: e.is_shared,
            object: e.object,
            offset: e.offset * PAGE_SIZE,
            user_wired_count: e.user_wired_count,
            behavior: e.behavior,
        })
    }
}
