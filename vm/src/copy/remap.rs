//! `vm_remap`: mapping a range of one map into another (or the same), shared or as a copy.

use super::{CopyData, SourceDisposal};
use crate::map::MapEntry;
use crate::system::{MapId, Machine, Vm};
use crate::types::{Inherit, Placement};
use crate::{Page, Prot, VmError, PAGE_SIZE};

/// How `remap` maps the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemapMode {
    /// The same memory: writes show on both sides.
    Shared,
    /// A copy-on-write copy of the source as it is now.
    Copy,
}

/// Where a remapping landed and the rights it has (the intersection over its regions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remapped {
    /// First address.
    pub start: Page,
    /// Current protection common to every region of the mapping.
    pub protection: Prot,
    /// Maximum protection common to every region of the mapping.
    pub max_protection: Prot,
}

impl<M: Machine> Vm<M> {
    /// Maps `[start, end)` of `source` (every page mapped) into `target` at `placement`, with
    /// the source's protections and `inheritance`.
    ///
    /// # Errors
    ///
    /// [`VmError::InvalidAddress`] for a hole in the source; placement errors; for copies, as
    /// [`copyin`](Self::copyin). Nothing changes on error.
    #[doc(alias = "vm_remap")]
    pub fn remap(&mut self, target: MapId, placement: Placement, source: MapId, start: Page, end: Page, mode: RemapMode, inheritance: Inherit) -> Result<Remapped, VmError> {
        self.live(target)?;
        self.live(source)?;
        self.refuse_device(source, start.addr(), end.addr())?;
        let (s, e) = (start.addr(), end.addr());
        if !self.map(source).covers(s, e) {
            return Err(VmError::InvalidAddress);
        }
        let pages = (e - s) / PAGE_SIZE;
        let at = self.place(target, placement, pages)?;
        self.room_for(target, self.map(source).overlapping(s, e).count())?;
        self.room_to_clip(source, s, e)?;
        let entries = match mode {
            RemapMode::Shared => self.share_range(source, s, e),
            RemapMode::Copy => self.copy_range(source, s, e)?,
        };
        let (mut protection, mut max_protection) = (Prot::ALL, Prot::ALL);
        for mut entry in entries {
            protection &= entry.protection;
            max_protection &= entry.max_protection;
            let shift = entry.start - s;
            (entry.start, entry.end) = (at.addr() + shift, at.addr() + shift + (entry.end - entry.start));
            entry.inheritance = inheritance;
            self.insert_entry(target, entry);
        }
        Ok(Remapped { start: at, protection, max_protection })
    }

    /// The entries of `[s, e)` of `source` made shared: each gets an object of its own (a
    /// copy-on-write one first becomes private), and the returned clones refer to it.
    fn share_range(&mut self, source: MapId, s: u64, e: u64) -> alloc::vec::Vec<MapEntry> {
        self.clip(source, s, e);
        let mut shared = alloc::vec::Vec::new();
        for entry in self.entries_in(source, s, e) {
            let object = self.shareable_object(source, &entry);
            self.reference(object);
            let src = self.map_mut(source).lookup_mut(entry.start).expect("present");
            src.is_shared = true;
            let clone = MapEntry { wired_count: 0, user_wired_count: 0, needs_copy: false, is_shared: true, ..src.clone() };
            shared.push(clone);
        }
        self.simplify(source, s, e);
        shared
    }

    /// Entries holding a copy-on-write copy of `[s, e)` of `source` (positions as in the
    /// source).
    fn copy_range(&mut self, source: MapId, s: u64, e: u64) -> Result<alloc::vec::Vec<MapEntry>, VmError> {
        let id = self.copyin_entries(source, s, e, SourceDisposal::Keep)?;
        let copy = self.copies.remove(id.0).expect("just made");
        let CopyData::Entries(pieces) = copy.data else { unreachable!("page copies are entry lists") };
        Ok(pieces.iter().map(|p| super::copyout::piece_entry(s, p)).collect())
    }
}
