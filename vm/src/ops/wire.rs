//! `vm_wire`: wiring and unwiring user memory.

use crate::fault::FaultOutcome;
use crate::map::MAX_WIRE_COUNT;
use crate::pmap::Pmap;
use crate::system::{MapId, Machine, Vm};
use crate::types::Access;
use crate::{Page, PageRange, Prot, VmError, PAGE_SIZE};

impl<M: Machine> Vm<M> {
    /// Wires `[start, end)` for `access` (not empty): every page is made resident and mapped
    /// for `access` (a write access resolves copy-on-write first) and stays so until unwired.
    /// Wirings stack.
    ///
    /// # Errors
    ///
    /// - [`VmError::InvalidAddress`]: a page of the range is not mapped;
    /// - [`VmError::ProtectionFailure`]: `access` is not allowed by some entry's protection;
    /// - [`VmError::WireCountOverflow`]: a page is already wired `MAX_WIRE_COUNT` times;
    /// - [`VmError::OutOfMemory`]: not enough frames (reserved before any change).
    #[doc(alias = "vm_wire")]
    pub fn wire(&mut self, map: MapId, start: Page, end: Page, access: Prot) -> Result<(), VmError> {
        self.live(map)?;
        let (start, end) = (start.addr(), end.addr());
        self.check_wire(map, start, end, access)?;
        self.refuse_device(map, start, end)?;
        self.room_to_clip(map, start, end)?;
        self.check_frames(map, start, end, self.frames_to_wire(map, start, end))?;
        self.clip(map, start, end);
        self.adjust_user_wiring(map, start, end, 1);
        let outcome = self.fault_range(map, start, end, Access::strongest_in(access));
        if outcome != FaultOutcome::Resolved {
            // Unreachable while frames are taken only under the VM lock (`check_frames`);
            // should a port break that rule, undo the wiring rather than leave it half done.
            self.adjust_user_wiring(map, start, end, -1);
            self.simplify(map, start, end);
            return Err(VmError::OutOfMemory);
        }
        self.simplify(map, start, end);
        Ok(())
    }

    /// Removes one user wiring from every page of `[start, end)`.
    ///
    /// # Errors
    ///
    /// [`VmError::InvalidArgument`] if some page of the range is not mapped or not wired by the
    /// user (nothing changes).
    #[doc(alias = "vm_wire")]
    pub fn unwire(&mut self, map: MapId, start: Page, end: Page) -> Result<(), VmError> {
        self.live(map)?;
        let (start, end) = (start.addr(), end.addr());
        let m = self.map(map);
        let all_wired = m.covers(start, end) && m.overlapping(start, end).all(|e| e.user_wired_count > 0);
        if !all_wired {
            return Err(VmError::InvalidArgument);
        }
        self.room_to_clip(map, start, end)?;
        self.clip(map, start, end);
        self.adjust_user_wiring(map, start, end, -1);
        self.simplify(map, start, end);
        Ok(())
    }

    fn check_wire(&self, map: MapId, start: u64, end: u64, access: Prot) -> Result<(), VmError> {
        let m = self.map(map);
        if !m.covers(start, end) {
            return Err(VmError::InvalidAddress);
        }
        if m.overlapping(start, end).any(|e| !e.protection.contains(access)) {
            return Err(VmError::ProtectionFailure);
        }
        if m.overlapping(start, end).any(|e| e.user_wired_count == MAX_WIRE_COUNT) {
            return Err(VmError::WireCountOverflow);
        }
        Ok(())
    }

    /// An upper bound of the data frames that wiring `[start, end)` takes: one for every page
    /// not already in its entry's own object (wiring copies shared pages up, see
    /// `FaultKind::Resident`). Costs the entries and resident pages of the range, not its size.
    fn frames_to_wire(&self, map: MapId, start: u64, end: u64) -> u64 {
        let m = self.map(map);
        let mut needed = (end - start) / PAGE_SIZE;
        for e in m.overlapping(start, end) {
            let Some(object) = e.object else { continue };
            let o = self.object(object);
            if e.needs_copy && o.refs > 1 {
                continue;
            }
            let (from, to) = (e.object_index(e.start.max(start)), e.object_index(e.end.min(end) - PAGE_SIZE) + 1);
            needed -= o.pages.lock().range(from..to).count() as u64;
        }
        needed
    }

    /// Adds `delta` (±1) to the user wiring of the entries of `[start, end)` (already clipped),
    /// and makes the mappings of entries that stop being wired pageable.
    fn adjust_user_wiring(&mut self, map: MapId, start: u64, end: u64, delta: i32) {
        let space = self.map(map).space;
        for entry_start in self.map(map).starts_in(start, end) {
            let entry = self.map_mut(map).entries.get_mut(&entry_start).expect("listed");
            let count = i32::from(entry.user_wired_count) + delta;
            entry.user_wired_count = u16::try_from(count).expect("checked against MAX_WIRE_COUNT");
            if !entry.is_wired() {
                let range = PageRange::new(Page::containing(entry.start), Page::containing(entry.end)).expect("ordered");
                self.pmap.unwire(space, range);
            }
        }
    }
}

