//! Byte copies between the kernel and a map, through faults and physical memory: the ELF
//! loader's writes, and the base of `vm_read` / `vm_write`.
//!
//! The whole range is checked first (mapped, and allowed for the access by the current
//! protection), so a copy fails before it changes anything, except when physical memory runs
//! out half way.

use crate::fault::FaultOutcome;
use crate::pmap::{PhysMemory, Pmap};
use crate::system::{MapId, Machine, Vm};
use crate::types::Access;
use crate::{VmError, PAGE_SIZE};

impl<M: Machine> Vm<M> {
    /// Copies `data` into `map` at `addr`, as a store by the map's task would.
    ///
    /// # Errors
    ///
    /// - [`VmError::InvalidAddress`]: a byte of the range is not mapped, or the range wraps;
    /// - [`VmError::ProtectionFailure`]: the current protection forbids writing somewhere;
    /// - [`VmError::OutOfMemory`]: a page could not be made (earlier pages are written).
    #[doc(alias = "vm_write")]
    pub fn write_bytes(&mut self, map: MapId, addr: u64, data: &[u8]) -> Result<(), VmError> {
        self.live(map)?;
        self.for_each_chunk(map, addr, data.len(), Access::Write, |vm, frame, offset, at, len| {
            vm.phys.write(frame, offset, &data[at..at + len]);
        })
    }

    /// Copies from `map` at `addr` into `out`, as a load by the map's task would.
    ///
    /// # Errors
    ///
    /// As [`write_bytes`](Self::write_bytes), for reading.
    #[doc(alias = "copyin")]
    pub fn read_bytes(&mut self, map: MapId, addr: u64, out: &mut [u8]) -> Result<(), VmError> {
        self.live(map)?;
        self.for_each_chunk(map, addr, out.len(), Access::Read, |vm, frame, offset, at, len| {
            vm.phys.read(frame, offset, &mut out[at..at + len]);
        })
    }

    /// Copies from `map` at `addr` into `out` through the objects, as [`read_bytes`] but
    /// without faulting anything in: pages nothing holds read as zero. Changes nothing and
    /// allocates nothing, so it cannot run out of memory.
    ///
    /// # Errors
    ///
    /// As [`read_bytes`] (no [`VmError::OutOfMemory`]).
    ///
    /// [`read_bytes`]: Self::read_bytes
    pub fn peek_bytes(&self, map: MapId, addr: u64, out: &mut [u8]) -> Result<(), VmError> {
        self.live(map)?;
        let end = addr.checked_add(out.len() as u64).ok_or(VmError::InvalidAddress)?;
        if out.is_empty() {
            return Ok(());
        }
        self.check_access(map, addr, end, Access::Read)?;
        let mut at = addr;
        while at < end {
            let in_page = (at % PAGE_SIZE) as usize;
            let chunk = (end - at).min(PAGE_SIZE - in_page as u64) as usize;
            let piece = &mut out[(at - addr) as usize..(at - addr) as usize + chunk];
            let entry = self.map(map).lookup(at).expect("checked: mapped");
            match entry.object.and_then(|o| self.find_page(o, entry.object_index(at))) {
                Some((_, frame, _)) => self.phys.read(frame, in_page, piece),
                None => piece.fill(0),
            }
            at += chunk as u64;
        }
        Ok(())
    }

    /// Checks `[addr, addr + len)` for `access`, then calls `f(vm, frame, offset in frame,
    /// offset in the buffer, length)` for each piece within one page, faulting pages in.
    fn for_each_chunk(
        &mut self,
        map: MapId,
        addr: u64,
        len: usize,
        access: Access,
        mut f: impl FnMut(&mut Self, crate::Frame, usize, usize, usize),
    ) -> Result<(), VmError> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len as u64).ok_or(VmError::InvalidAddress)?;
        self.check_access(map, addr, end, access)?;
        let mut at = addr;
        while at < end {
            let in_page = (at % PAGE_SIZE) as usize;
            let chunk = (end - at).min(PAGE_SIZE - in_page as u64) as usize;
            let frame = self.resident_frame(map, at, access)?;
            f(self, frame, in_page, (at - addr) as usize, chunk);
            at += chunk as u64;
        }
        Ok(())
    }

    /// Whether every byte of `[start, end)` is mapped with a current protection that allows
    /// `access`.
    pub(crate) fn check_access(&self, map: MapId, start: u64, end: u64, access: Access) -> Result<(), VmError> {
        let m = self.map(map);
        let mut at = start;
        while at < end {
            let entry = m.lookup(at).ok_or(VmError::InvalidAddress)?;
            if !entry.protection.contains(access.needs()) {
                return Err(VmError::ProtectionFailure);
            }
            if self.device_of(entry).is_some() {
                return Err(VmError::InvalidArgument);
            }
            at = entry.end;
        }
        Ok(())
    }

    /// The frame behind `addr` for `access`, faulting it in (copy-on-write resolved for a
    /// write) if the pmap does not already translate it so.
    fn resident_frame(&mut self, map: MapId, addr: u64, access: Access) -> Result<crate::Frame, VmError> {
        let space = self.map(map).space;
        let usable = |vm: &Self| vm.pmap.extract(space, addr).filter(|t| t.prot.contains(access.needs()));
        if let Some(t) = usable(self) {
            return Ok(t.frame);
        }
        match self.fault(map, addr, access) {
            FaultOutcome::Resolved => usable(self).map(|t| t.frame).ok_or(VmError::OutOfMemory),
            FaultOutcome::OutOfMemory => Err(VmError::OutOfMemory),
            FaultOutcome::ProtectionFailure => Err(VmError::ProtectionFailure),
            FaultOutcome::InvalidAddress => Err(VmError::InvalidAddress),
        }
    }
}
