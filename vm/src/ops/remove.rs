//! `vm_deallocate`: removing memory.

use crate::pmap::{Pmap, TlbFlush};
use crate::system::{MapId, Machine, Vm};
use crate::{Page, PageRange, VmError};
use alloc::vec::Vec;

impl<M: Machine> Vm<M> {
    /// Removes every mapping in `[start, end)`; holes are ignored. Wired memory is unwired and
    /// removed.
    ///
    /// # Errors
    ///
    /// [`VmError::InvalidAddress`] if the range is not inside the map, or
    /// [`VmError::EntryLimit`] if it is the middle of an entry of a full map (nothing is
    /// removed).
    pub fn deallocate(&mut self, map: MapId, start: Page, end: Page) -> Result<(), VmError> {
        self.check_deallocate(map, start, end)?;
        self.remove_range(map, start.addr(), end.addr());
        Ok(())
    }

    /// Whether [`deallocate`](Self::deallocate) of the range would succeed (for callers that
    /// must know before they change anything else).
    ///
    /// # Errors
    ///
    /// As [`deallocate`](Self::deallocate).
    pub fn check_deallocate(&self, map: MapId, start: Page, end: Page) -> Result<(), VmError> {
        let (s, e) = (start.addr(), end.addr());
        if !self.in_bounds(map, s, e) {
            return Err(VmError::InvalidAddress);
        }
        if self.deallocate_splits(map, start, end) {
            self.room_for(map, 1)?;
        }
        Ok(())
    }

    /// Whether removing `[start, end)` takes the middle out of one entry, leaving two (one
    /// entry more: a caller that bounds kernel memory counts it as an allocation).
    pub fn deallocate_splits(&self, map: MapId, start: Page, end: Page) -> bool {
        let (s, e) = (start.addr(), end.addr());
        self.map(map).lookup(s).is_some_and(|entry| entry.start < s && e < entry.end)
    }

    /// Removes the entries of `[start, end)` (clipping those that straddle it), their
    /// translations, and their object references.
    pub(crate) fn remove_range(&mut self, map: MapId, start: u64, end: u64) {
        self.clip(map, start, end);
        let space = self.map(map).space;
        let mut flush = TlbFlush::new();
        let mut released = Vec::new();
        for entry_start in self.map(map).starts_in(start, end) {
            let m = self.map_mut(map);
            let entry = m.entries.remove(&entry_start).expect("listed");
            m.free_gap(entry.start, entry.end);
            let range = PageRange::new(Page::containing(entry.start), Page::containing(entry.end)).expect("ordered");
            flush.merge(self.pmap.remove(space, range));
            released.extend(entry.object);
        }
        self.map_mut(map).touch();
        self.apply(flush);
        for object in released {
            self.release(object);
        }
    }
}
