//! Making a range resident at once (`hurd_vm_allocate`'s `map_now`).

use crate::fault::{FaultOutcome, FrameSource};
use crate::pmap::{FrameAllocator, Pmap};
use crate::system::{MapId, Machine, Vm};
use crate::types::Access;
use crate::{Page, PageRange, Prot, VmError, PAGE_SIZE};

impl<M: Machine> Vm<M> {
    /// Faults every page of `[start, end)` in for writing (or reading, where the protection
    /// does not allow writes), with every frame reserved first.
    ///
    /// # Errors
    ///
    /// - [`VmError::InvalidAddress`]: a page of the range is not mapped;
    /// - [`VmError::ProtectionFailure`]: some page allows no access at all;
    /// - [`VmError::OutOfMemory`]: not enough frames (nothing was changed).
    pub fn populate(&mut self, map: MapId, start: Page, end: Page) -> Result<(), VmError> {
        let (start, end) = (start.addr(), end.addr());
        let m = self.map(map);
        if !m.covers(start, end) {
            return Err(VmError::InvalidAddress);
        }
        if m.starts_in(start, end).iter().any(|s| m.entries[s].protection.is_empty()) {
            return Err(VmError::ProtectionFailure);
        }
        let pages = (end - start) / PAGE_SIZE;
        let mut pool = self.reserve(pages as usize)?;
        let range = PageRange::new(Page::containing(start), Page::containing(end)).expect("ordered");
        if self.frames.free_frames() < self.pmap.tables_needed(self.map(map).space, range) {
            pool.into_iter().for_each(|f| self.frames.deallocate_frame(f));
            return Err(VmError::OutOfMemory);
        }
        let mut addr = start;
        let mut outcome = FaultOutcome::Resolved;
        while addr < end && outcome == FaultOutcome::Resolved {
            let prot = self.map(map).lookup(addr).expect("covered").protection;
            let access = if prot.contains(Prot::WRITE) { Access::Write } else if prot.contains(Prot::READ) { Access::Read } else { Access::Execute };
            outcome = self.fault_from(map, addr, access, &mut FrameSource::Reserved(&mut pool));
            addr += PAGE_SIZE;
        }
        pool.into_iter().for_each(|f| self.frames.deallocate_frame(f));
        match outcome {
            FaultOutcome::Resolved => Ok(()),
            _ => Err(VmError::OutOfMemory),
        }
    }
}
