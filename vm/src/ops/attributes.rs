//! `vm_inherit` and `vm_behavior_set`: attributes that only the map holds.

use crate::map::MapEntry;
use crate::system::{MapId, Machine, Vm};
use crate::types::{Behavior, Inherit};
use crate::{Page, VmError};

impl<M: Machine> Vm<M> {
    /// Sets the inheritance of `[start, end)`.
    ///
    /// # Errors
    ///
    /// [`VmError::InvalidAddress`] if a page of the range is not mapped (nothing changes).
    #[doc(alias = "vm_inherit")]
    pub fn inherit(&mut self, map: MapId, start: Page, end: Page, inheritance: Inherit) -> Result<(), VmError> {
        self.live(map)?;
        if inheritance == Inherit::Copy && self.in_bounds(map, start.addr(), end.addr()) {
            // Device memory is shared or not inherited, never copied.
            self.refuse_device(map, start.addr(), end.addr())?;
        }
        self.set_attribute(map, start, end, |e| e.inheritance = inheritance)
    }

    /// Stores the access-pattern hint of `[start, end)`.
    ///
    /// # Errors
    ///
    /// [`VmError::InvalidAddress`] if a page of the range is not mapped (nothing changes).
    #[doc(alias = "vm_behavior_set")]
    pub fn set_behavior(&mut self, map: MapId, start: Page, end: Page, behavior: Behavior) -> Result<(), VmError> {
        self.live(map)?;
        self.set_attribute(map, start, end, |e| e.behavior = behavior)
    }

    fn set_attribute(&mut self, map: MapId, start: Page, end: Page, set: impl Fn(&mut MapEntry)) -> Result<(), VmError> {
        let (start, end) = (start.addr(), end.addr());
        if !self.map(map).covers(start, end) {
            return Err(VmError::InvalidAddress);
        }
        self.room_to_clip(map, start, end)?;
        self.clip(map, start, end);
        let mut at = start;
        while let Some(entry) = self.map_mut(map).next_mut(at, end) {
            at = entry.end;
            set(entry);
        }
        self.simplify(map, start, end);
        Ok(())
    }
}
