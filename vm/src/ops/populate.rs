//! Making a range resident at once (`hurd_vm_allocate`'s `map_now`).

use crate::fault::{FaultKind, FaultOutcome};
use crate::system::{MapId, Machine, Vm};
use crate::types::Access;
use crate::{Page, VmError, PAGE_SIZE};

impl<M: Machine> Vm<M> {
    /// Faults every page of `[start, end)` in for writing (or reading, where the protection
    /// does not allow writes), with every frame counted first (`check_frames`).
    ///
    /// # Errors
    ///
    /// - [`VmError::InvalidAddress`]: a page of the range is not mapped;
    /// - [`VmError::ProtectionFailure`]: some page allows no access at all;
    /// - [`VmError::OutOfMemory`]: not enough frames (nothing was changed).
    #[doc(alias = "vm_map_wire")]
    pub fn populate(&mut self, map: MapId, start: Page, end: Page) -> Result<(), VmError> {
        self.live(map)?;
        let (start, end) = (start.addr(), end.addr());
        let m = self.map(map);
        if !m.covers(start, end) {
            return Err(VmError::InvalidAddress);
        }
        self.refuse_device(map, start, end)?;
        if m.overlapping(start, end).any(|e| e.protection.is_empty()) {
            return Err(VmError::ProtectionFailure);
        }
        self.check_frames(map, start, end, (end - start) / PAGE_SIZE)?;
        let mut addr = start;
        let mut outcome = FaultOutcome::Resolved;
        while addr < end && outcome == FaultOutcome::Resolved {
            let access = Access::strongest_in(self.map(map).lookup(addr).expect("covered").protection);
            outcome = self.fault_from(map, addr, access, FaultKind::Resident);
            addr += PAGE_SIZE;
        }
        match outcome {
            FaultOutcome::Resolved => Ok(()),
            _ => Err(VmError::OutOfMemory),
        }
    }
}
