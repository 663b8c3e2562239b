//! The model of copy objects, named entries and `remap`.

use super::{byte_pages, page_chunks, CellId, CopyData, Model, ModelCopy, ModelNamed, PageState, Vpn, Where};
use machvm::{Behavior, Inherit, NewMemory, Prot, VmError, BUFFER_THRESHOLD, PAGE_SIZE};

impl Model {
    // ----- copy objects -----------------------------------------------------------------

    /// `copyin` of `len` bytes at `addr`; with `destroy`, the pages touched are removed.
    pub fn copyin(&mut self, map: usize, addr: u64, len: u64, destroy: bool) -> Result<ModelCopy, VmError> {
        let (start, end) = byte_pages(addr, len).ok_or(VmError::InvalidAddress)?;
        if end > u64::MAX / PAGE_SIZE {
            return Err(VmError::InvalidAddress); // the end rounded up to a page wraps
        }
        if len > 0 {
            self.check_range(map, start, end, Prot::READ)?;
        }
        let data = if len < BUFFER_THRESHOLD {
            CopyData::Buffer(self.bytes_of(map, addr, len))
        } else {
            let pages: Vec<(Prot, Prot, CellId)> = (start..end).map(|v| self.maps[map][&v].clone()).collect::<Vec<_>>().into_iter().map(|s| (s.prot, s.max, self.copy_cell(s.cell))).collect();
            CopyData::Pages(pages)
        };
        if destroy && len > 0 {
            for vpn in start..end {
                self.maps[map].remove(&vpn);
            }
        }
        Ok(ModelCopy { size: len, page_offset: addr % PAGE_SIZE, data })
    }

    /// Pages a copy takes when placed.
    pub fn copy_pages(copy: &ModelCopy) -> u64 {
        (copy.page_offset + copy.size).div_ceil(PAGE_SIZE)
    }

    /// `copyout`: on success the copy is consumed (the caller drops it) and the address of its
    /// first byte is returned (0 for an empty copy).
    pub fn copyout(&mut self, map: usize, copy: &ModelCopy, at: Where) -> Result<u64, VmError> {
        if copy.size == 0 {
            return Ok(0);
        }
        let pages = Self::copy_pages(copy);
        let start = self.place(map, at, pages)?;
        let address = start * PAGE_SIZE + copy.page_offset;
        match &copy.data {
            CopyData::Pages(pieces) => {
                let states = pieces
                    .iter()
                    .map(|&(prot, max, cell)| PageState { prot, max, inherit: Inherit::Copy, behavior: Behavior::Default, wired: 0, cell })
                    .collect();
                self.insert_pages(map, start, states);
            }
            CopyData::Buffer(data) => {
                self.allocate(map, Where::At(start * PAGE_SIZE), pages, NewMemory::DEFAULT).expect("placed");
                self.put_bytes(map, address, data);
            }
        }
        Ok(address)
    }

    /// The bytes of a copy, in order.
    pub fn copy_bytes(&self, copy: &ModelCopy) -> Vec<u8> {
        match &copy.data {
            CopyData::Buffer(data) => data.clone(),
            CopyData::Pages(pages) => {
                let mut out = Vec::with_capacity(copy.size as usize);
                for (at, n) in page_chunks(copy.page_offset, copy.size) {
                    let offset = (at % PAGE_SIZE) as usize;
                    match &self.cells[pages[(at / PAGE_SIZE) as usize].2] {
                        Some(page) => out.extend_from_slice(&page[offset..offset + n]),
                        None => out.resize(out.len() + n, 0),
                    }
                }
                out
            }
        }
    }

    /// `copy_overwrite` at `addr`: the copy's bytes written into the destination's own
    /// memory (for memory nobody else sees, a virtual copy is the same thing). On success the
    /// copy is consumed.
    pub fn copy_overwrite(&mut self, map: usize, addr: u64, copy: &ModelCopy) -> Result<(), VmError> {
        let (start, end) = byte_pages(addr, copy.size).ok_or(VmError::InvalidAddress)?;
        if copy.size > 0 {
            self.check_range(map, start, end, Prot::WRITE)?;
        }
        let data = self.copy_bytes(copy);
        self.put_bytes(map, addr, &data);
        Ok(())
    }

    // ----- named entries ----------------------------------------------------------------

    pub fn new_named(&mut self, pages: u64, protection: Prot) -> ModelNamed {
        ModelNamed { cells: (0..pages).map(|_| self.new_cell()).collect(), protection }
    }

    /// `new_frozen_entry`: `data` from byte `at` of `pages` zero pages.
    pub fn new_frozen(&mut self, pages: u64, at: u64, data: &[u8], protection: Prot) -> Result<ModelNamed, VmError> {
        let end = at.checked_add(data.len() as u64).ok_or(VmError::InvalidArgument)?;
        if protection.contains(Prot::WRITE) || end > pages.saturating_mul(PAGE_SIZE) {
            return Err(VmError::InvalidArgument);
        }
        let named = self.new_named(pages, protection);
        for (i, &b) in data.iter().enumerate() {
            let a = at + i as u64;
            self.set_byte(named.cells[(a / PAGE_SIZE) as usize], (a % PAGE_SIZE) as usize, b);
        }
        Ok(named)
    }

    /// `make_named_entry` for `[start, end)`; `entry_end` is the end (page number) of the VM
    /// entry holding `start`, which the model cannot know (entry boundaries depend on objects).
    pub fn make_named(&self, map: usize, start: Vpn, end: Vpn, protection: Prot, entry_end: Option<Vpn>) -> Result<ModelNamed, VmError> {
        let first = self.page(map, start).ok_or(VmError::InvalidAddress)?;
        let entry_end = entry_end.expect("a mapped page lies in an entry");
        if end > entry_end {
            return Err(if self.covers(map, start, end) { VmError::InvalidArgument } else { VmError::InvalidAddress });
        }
        if !first.max.contains(protection) {
            return Err(VmError::ProtectionFailure);
        }
        Ok(ModelNamed { cells: (start..end).map(|v| self.maps[map][&v].cell).collect(), protection })
    }

    pub fn sub_named(parent: Option<&ModelNamed>, offset: u64, pages: u64, protection: Prot) -> Result<ModelNamed, VmError> {
        let p = parent.ok_or(VmError::InvalidArgument)?;
        let end = offset.checked_add(pages).filter(|&e| e <= p.cells.len() as u64).ok_or(VmError::InvalidArgument)?;
        if !p.protection.contains(protection) {
            return Err(VmError::ProtectionFailure);
        }
        Ok(ModelNamed { cells: p.cells[offset as usize..end as usize].to_vec(), protection })
    }

    /// `map_named`, shared or as a copy; returns the first page.
    pub fn map_named(&mut self, map: usize, at: Where, pages: u64, named: Option<&ModelNamed>, offset: u64, copy: bool, memory: NewMemory) -> Result<Vpn, VmError> {
        let named = named.ok_or(VmError::InvalidArgument)?;
        let window_end = offset.checked_add(pages).filter(|&e| e <= named.cells.len() as u64);
        if pages == 0 || window_end.is_none() {
            return Err(VmError::InvalidArgument);
        }
        let granted = match copy {
            false => named.protection,
            true if named.protection.contains(Prot::READ) => named.protection | Prot::WRITE,
            true => Prot::NONE,
        };
        if !granted.contains(memory.max_protection) {
            return Err(VmError::ProtectionFailure);
        }
        let start = self.place(map, at, pages)?;
        let window = named.cells[offset as usize..(offset + pages) as usize].to_vec();
        let states = window
            .into_iter()
            .map(|cell| PageState::new_memory(&memory, if copy { self.copy_cell(cell) } else { cell }))
            .collect();
        self.insert_pages(map, start, states);
        Ok(start)
    }

    // ----- remap ------------------------------------------------------------------------

    /// `remap` of `[start, end)` of `source` into `target`; returns the first page and the
    /// protection and maximum common to the range.
    #[allow(clippy::too_many_arguments)]
    pub fn remap(&mut self, target: usize, at: Where, source: usize, start: Vpn, end: Vpn, copy: bool, inherit: Inherit) -> Result<(Vpn, Prot, Prot), VmError> {
        if !self.covers(source, start, end) {
            return Err(VmError::InvalidAddress);
        }
        let first = self.place(target, at, end - start)?;
        if copy {
            self.check_range(source, start, end, Prot::READ)?;
        }
        let sources: Vec<PageState> = self.states(source, start, end).cloned().collect();
        let (mut prot, mut max) = (Prot::ALL, Prot::ALL);
        let mut states = Vec::with_capacity(sources.len());
        for s in sources {
            prot &= s.prot;
            max &= s.max;
            let (cell, behavior) = if copy { (self.copy_cell(s.cell), Behavior::Default) } else { (s.cell, s.behavior) };
            states.push(PageState { inherit, behavior, wired: 0, cell, ..s });
        }
        self.insert_pages(target, first, states);
        Ok((first, prot, max))
    }
}
