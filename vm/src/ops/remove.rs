//! `vm_deallocate`: removing memory.

use crate::pmap::Pmap;
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
    #[doc(alias = "vm_deallocate")]
    pub fn deallocate(&mut self, map: MapId, start: Page, end: Page) -> Result<(), VmError> {
        self.live(map)?;
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
        self.live(map)?;
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
        self.try_map(map).and_then(|m| m.lookup(s)).is_some_and(|entry| entry.start < s && e < entry.end)
    }

    /// Removes the entries of `[start, end)` (clipping those that straddle it), their
    /// translations (in one walk of the range's page tables), and their object references.
    pub(crate) fn remove_range(&mut self, map: MapId, start: u64, end: u64) {
        self.clip(map, start, end);
        let mut released = Vec::new();
        let m = self.map_mut(map);
        while let Some(entry_start) = m.entries.range(start..end).next().map(|(&s, _)| s) {
            let entry = m.entries.remove(&entry_start).expect("found");
            m.free_gap(entry.start, entry.end);
            released.extend(entry.object);
        }
        m.touch();
        let space = m.space;
        let range = PageRange::new(Page::containing(start), Page::containing(end)).expect("ordered");
        let mut flush = self.pmap.remove(space, range);
        for object in released {
            self.release_into(object, &mut flush);
        }
        self.apply(flush);
    }
}
