//! The reference model of the VM's observable behaviour, page by page: which pages of each map
//! are mapped, with which protection, maximum, inheritance, behaviour and user wiring, and what
//! each page holds (byte for byte). Pages refer to *cells* (page contents); pages that share
//! memory (SHARE inheritance, shared mappings, named entries) refer to the same cell, and every
//! copy (COW or not) makes new cells. Each operation checks its arguments in the order the VM
//! documents, returns the result the VM must give, and changes the model only on success.
//!
//! Addresses are kept as page numbers (`vpn = address / PAGE_SIZE`), so that no range end near
//! 2^64 can wrap. The model is sparse: it costs the pages mapped, not the size of the map.
//!
//! Used by the property test (`tests/model.rs`) and the fuzz harness (`tests/fuzzing/`). Copy
//! objects, named entries and `remap` are in `model/copies.rs`.

#![allow(dead_code)]

mod copies;

use std::collections::BTreeMap;
use machvm::{Behavior, FaultOutcome, Inherit, NewMemory, Prot, VmError, MAX_WIRE_COUNT, PAGE_SIZE};

/// Page numbers (addresses divided by the page size).
pub type Vpn = u64;
/// Index of a cell in [`Model::cells`].
pub type CellId = usize;

const PAGE: usize = PAGE_SIZE as usize;

/// What the model knows of one mapped page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageState {
    pub prot: Prot,
    pub max: Prot,
    pub inherit: Inherit,
    pub behavior: Behavior,
    pub wired: u16,
    pub cell: CellId,
}

impl PageState {
    /// A page of new memory with `memory`'s attributes, showing `cell`.
    pub fn new_memory(memory: &NewMemory, cell: CellId) -> Self {
        PageState {
            prot: memory.protection & memory.max_protection,
            max: memory.max_protection,
            inherit: memory.inheritance,
            behavior: Behavior::Default,
            wired: 0,
            cell,
        }
    }
}

/// A snapshot taken by `copyin`.
#[derive(Clone, Debug)]
pub struct ModelCopy {
    pub size: u64,
    pub page_offset: u64,
    pub data: CopyData,
}

#[derive(Clone, Debug)]
pub enum CopyData {
    /// The bytes (copies shorter than `BUFFER_THRESHOLD`).
    Buffer(Vec<u8>),
    /// The pages, each with its source's protection and maximum and a private cell.
    Pages(Vec<(Prot, Prot, CellId)>),
}

/// A named entry: a window of cells and the rights it grants.
#[derive(Clone, Debug)]
pub struct ModelNamed {
    pub cells: Vec<CellId>,
    pub protection: Prot,
}

/// Where new memory goes, as the model sees it.
#[derive(Clone, Copy, Debug)]
pub enum Where {
    /// The lowest free range whose start is aligned by `mask | (PAGE_SIZE - 1)` (a mask of the
    /// form `2^k - 1`).
    Lowest { mask: u64 },
    /// Exactly here (an address, page-aligned).
    Fixed(u64),
    /// Exactly where the VM placed it (for masks without an exact model: the caller checked
    /// that the address is allowed, see [`Model::placement_allowed`]).
    At(u64),
    /// Nowhere: the VM found no place (for masks without an exact model).
    Unplaceable,
}

/// The model of a VM system: maps (in creation order of the caller's choosing), cells,
/// named entries.
pub struct Model {
    pub min: Vpn,
    pub max: Vpn,
    pub maps: Vec<BTreeMap<Vpn, PageState>>,
    /// Page contents; `None` is a page of zeros. Cells are never freed (runs are short).
    pub cells: Vec<Option<Box<[u8; PAGE]>>>,
}

/// The pages `[floor(addr), ceil(addr + len))` a byte range touches, as page numbers; `None`
/// if `addr + len` wraps.
pub fn byte_pages(addr: u64, len: u64) -> Option<(Vpn, Vpn)> {
    let end = addr.checked_add(len)?;
    Some((addr / PAGE_SIZE, end / PAGE_SIZE + u64::from(end % PAGE_SIZE != 0)))
}

/// `[addr, addr + len)` cut at page boundaries: `(address, length)` pieces.
fn page_chunks(addr: u64, len: u64) -> impl Iterator<Item = (u64, usize)> {
    let end = addr + len;
    let mut at = addr;
    std::iter::from_fn(move || {
        (at < end).then(|| {
            let n = (end - at).min(PAGE_SIZE - at % PAGE_SIZE);
            let piece = (at, n as usize);
            at += n;
            piece
        })
    })
}

/// The spec's range rule (`machvm::api::sanitize`), computed independently: `Ok(None)` for size 0,
/// `Ok(Some((start, end)))` as page numbers, `Err(())` for a range that wraps or leaves the map.
pub fn sanitize(address: u64, size: u64, min: u64, max: u64) -> Result<Option<(Vpn, Vpn)>, ()> {
    if size == 0 {
        return Ok(None);
    }
    let end = address.checked_add(size).ok_or(())?;
    // The end rounded up to a page must not pass 2^64.
    let end_page = end / PAGE_SIZE + u64::from(end % PAGE_SIZE != 0);
    if end_page > u64::MAX / PAGE_SIZE {
        return Err(());
    }
    let start_page = address / PAGE_SIZE;
    if start_page < min / PAGE_SIZE || end_page > max / PAGE_SIZE {
        return Err(());
    }
    Ok(Some((start_page, end_page)))
}

impl Model {
    /// A model with one empty map over `[min, max)` (page-aligned addresses).
    pub fn new(min: u64, max: u64) -> Self {
        Self { min: min / PAGE_SIZE, max: max / PAGE_SIZE, maps: vec![BTreeMap::new()], cells: Vec::new() }
    }

    // ----- cells ------------------------------------------------------------------------

    pub fn new_cell(&mut self) -> CellId {
        self.cells.push(None);
        self.cells.len() - 1
    }

    /// A new cell holding what `cell` holds now.
    pub fn copy_cell(&mut self, cell: CellId) -> CellId {
        let contents = self.cells[cell].clone();
        self.cells.push(contents);
        self.cells.len() - 1
    }

    pub fn byte(&self, cell: CellId, offset: usize) -> u8 {
        self.cells[cell].as_ref().map_or(0, |c| c[offset])
    }

    pub fn set_byte(&mut self, cell: CellId, offset: usize, byte: u8) {
        self.cells[cell].get_or_insert_with(|| Box::new([0; PAGE]))[offset] = byte;
    }

    /// The whole page of `cell`, or `None` if it is all zeros as far as the model knows.
    pub fn page_bytes(&self, cell: CellId) -> Option<&[u8; PAGE]> {
        self.cells[cell].as_deref()
    }

    // ----- queries ----------------------------------------------------------------------

    pub fn page(&self, map: usize, vpn: Vpn) -> Option<&PageState> {
        self.maps[map].get(&vpn)
    }

    /// Pages mapped in all maps.
    pub fn total_pages(&self) -> usize {
        self.maps.iter().map(BTreeMap::len).sum()
    }

    /// Walks `[start, end)` in address order: the first page not mapped gives
    /// `InvalidAddress`, the first without `need` gives `ProtectionFailure` (as the VM's access
    /// check, which walks entries from the start).
    pub fn check_range(&self, map: usize, start: Vpn, end: Vpn, need: Prot) -> Result<(), VmError> {
        let mut at = start;
        for (&vpn, state) in self.maps[map].range(start..end) {
            if vpn != at {
                return Err(VmError::InvalidAddress);
            }
            if !state.prot.contains(need) {
                return Err(VmError::ProtectionFailure);
            }
            at = vpn + 1;
        }
        if at < end {
            Err(VmError::InvalidAddress)
        } else {
            Ok(())
        }
    }

    /// Whether every page of `[start, end)` is mapped.
    pub fn covers(&self, map: usize, start: Vpn, end: Vpn) -> bool {
        self.check_range(map, start, end, Prot::NONE).is_ok()
    }

    fn any_mapped(&self, map: usize, start: Vpn, end: Vpn) -> bool {
        self.maps[map].range(start..end).next().is_some()
    }

    fn states(&self, map: usize, start: Vpn, end: Vpn) -> impl Iterator<Item = &PageState> {
        self.maps[map].range(start..end).map(|(_, s)| s)
    }

    fn for_each_page(&mut self, map: usize, start: Vpn, end: Vpn, mut f: impl FnMut(&mut PageState)) {
        for (_, state) in self.maps[map].range_mut(start..end) {
            f(state);
        }
    }

    // ----- placement --------------------------------------------------------------------

    /// Where `pages` new pages go (the checks of the VM's `place`), as a page number.
    pub fn place(&self, map: usize, at: Where, pages: u64) -> Result<Vpn, VmError> {
        if pages == 0 {
            return Err(VmError::InvalidArgument);
        }
        match at {
            Where::Lowest { mask } => {
                pages.checked_mul(PAGE_SIZE).ok_or(VmError::NoSpace)?;
                self.lowest_fit(map, pages, mask | (PAGE_SIZE - 1)).ok_or(VmError::NoSpace)
            }
            Where::Fixed(addr) => {
                let start = addr / PAGE_SIZE;
                let end = start.checked_add(pages).filter(|&e| e <= u64::MAX / PAGE_SIZE).ok_or(VmError::InvalidAddress)?;
                if start < self.min || end > self.max {
                    return Err(VmError::InvalidAddress);
                }
                if self.any_mapped(map, start, end) {
                    return Err(VmError::NoSpace);
                }
                Ok(start)
            }
            Where::At(addr) => Ok(addr / PAGE_SIZE),
            Where::Unplaceable => Err(VmError::NoSpace),
        }
    }

    /// The lowest `start` with `start * PAGE_SIZE` aligned by `mask` (of the form `2^k - 1`,
    /// page bits set) such that `[start, start + pages)` is free and inside the map.
    fn lowest_fit(&self, map: usize, pages: u64, mask: u64) -> Option<Vpn> {
        let mut from = self.min * PAGE_SIZE;
        loop {
            let start = from.checked_add(mask)? & !mask;
            let end = (start / PAGE_SIZE).checked_add(pages)?;
            if end > self.max {
                return None;
            }
            match self.maps[map].range(start / PAGE_SIZE..end).next_back() {
                // Every start from here up to that page overlaps it.
                Some((&busy, _)) => from = (busy + 1) * PAGE_SIZE,
                None => return Some(start / PAGE_SIZE),
            }
        }
    }

    /// Whether the VM may place `pages` pages at `addr` for an alignment mask of any form: the
    /// start has no bit of the mask, and the range is inside the map and free.
    pub fn placement_allowed(&self, map: usize, addr: u64, mask: u64, pages: u64) -> bool {
        let start = addr / PAGE_SIZE;
        let aligned = addr & (mask | (PAGE_SIZE - 1)) == 0;
        let end = start.checked_add(pages);
        aligned && end.is_some_and(|end| start >= self.min && end <= self.max && !self.any_mapped(map, start, end))
    }

    fn insert_pages(&mut self, map: usize, start: Vpn, states: Vec<PageState>) {
        for (i, state) in states.into_iter().enumerate() {
            let previous = self.maps[map].insert(start + i as u64, state);
            assert!(previous.is_none(), "model: placed over a mapped page");
        }
    }

    // ----- map operations ---------------------------------------------------------------

    /// `allocate`: returns the first page.
    pub fn allocate(&mut self, map: usize, at: Where, pages: u64, memory: NewMemory) -> Result<Vpn, VmError> {
        let start = self.place(map, at, pages)?;
        let states = (0..pages)
            .map(|_| PageState::new_memory(&memory, self.new_cell()))
            .collect();
        self.insert_pages(map, start, states);
        Ok(start)
    }

    /// `deallocate` of the pages `[start, end)`.
    pub fn deallocate(&mut self, map: usize, start: Vpn, end: Vpn) -> Result<(), VmError> {
        if !(self.min <= start && start < end && end <= self.max) {
            return Err(VmError::InvalidAddress);
        }
        let doomed: Vec<Vpn> = self.maps[map].range(start..end).map(|(&v, _)| v).collect();
        for vpn in doomed {
            self.maps[map].remove(&vpn);
        }
        Ok(())
    }

    /// `protect` of the current (`maximum == false`) or maximum protection.
    pub fn protect(&mut self, map: usize, start: Vpn, end: Vpn, maximum: bool, prot: Prot) -> Result<(), VmError> {
        if !self.covers(map, start, end) {
            return Err(VmError::InvalidAddress);
        }
        if self.states(map, start, end).any(|s| !s.max.contains(prot)) {
            return Err(VmError::ProtectionFailure);
        }
        self.for_each_page(map, start, end, |s| {
            if maximum {
                s.max = prot;
                s.prot &= prot;
            } else {
                s.prot = prot;
            }
        });
        Ok(())
    }

    pub fn inherit(&mut self, map: usize, start: Vpn, end: Vpn, inherit: Inherit) -> Result<(), VmError> {
        if !self.covers(map, start, end) {
            return Err(VmError::InvalidAddress);
        }
        self.for_each_page(map, start, end, |s| s.inherit = inherit);
        Ok(())
    }

    pub fn behavior(&mut self, map: usize, start: Vpn, end: Vpn, behavior: Behavior) -> Result<(), VmError> {
        if !self.covers(map, start, end) {
            return Err(VmError::InvalidAddress);
        }
        self.for_each_page(map, start, end, |s| s.behavior = behavior);
        Ok(())
    }

    /// `wire` for `access` (not empty).
    pub fn wire(&mut self, map: usize, start: Vpn, end: Vpn, access: Prot) -> Result<(), VmError> {
        if !self.covers(map, start, end) {
            return Err(VmError::InvalidAddress);
        }
        if self.states(map, start, end).any(|s| !s.prot.contains(access)) {
            return Err(VmError::ProtectionFailure);
        }
        if self.states(map, start, end).any(|s| s.wired == MAX_WIRE_COUNT) {
            return Err(VmError::WireCountOverflow);
        }
        self.for_each_page(map, start, end, |s| s.wired += 1);
        Ok(())
    }

    pub fn unwire(&mut self, map: usize, start: Vpn, end: Vpn) -> Result<(), VmError> {
        if !self.covers(map, start, end) || self.states(map, start, end).any(|s| s.wired == 0) {
            return Err(VmError::InvalidArgument);
        }
        self.for_each_page(map, start, end, |s| s.wired -= 1);
        Ok(())
    }

    /// `populate`: changes nothing the model sees.
    pub fn populate(&self, map: usize, start: Vpn, end: Vpn) -> Result<(), VmError> {
        if !self.covers(map, start, end) {
            return Err(VmError::InvalidAddress);
        }
        if self.states(map, start, end).any(|s| s.prot.is_empty()) {
            return Err(VmError::ProtectionFailure);
        }
        Ok(())
    }

    /// What a fault for an access needing `need` at `addr` must answer.
    pub fn fault(&self, map: usize, addr: u64, need: Prot) -> FaultOutcome {
        match self.page(map, addr / PAGE_SIZE) {
            None => FaultOutcome::InvalidAddress,
            Some(s) if !s.prot.contains(need) => FaultOutcome::ProtectionFailure,
            Some(_) => FaultOutcome::Resolved,
        }
    }

    /// A user load of the byte at `addr`.
    pub fn read(&self, map: usize, addr: u64) -> Result<u8, FaultOutcome> {
        match self.fault(map, addr, Prot::READ) {
            FaultOutcome::Resolved => Ok(self.byte(self.maps[map][&(addr / PAGE_SIZE)].cell, (addr % PAGE_SIZE) as usize)),
            other => Err(other),
        }
    }

    /// A user store of `byte` at `addr`.
    pub fn write(&mut self, map: usize, addr: u64, byte: u8) -> Result<(), FaultOutcome> {
        match self.fault(map, addr, Prot::WRITE) {
            FaultOutcome::Resolved => {
                let cell = self.maps[map][&(addr / PAGE_SIZE)].cell;
                self.set_byte(cell, (addr % PAGE_SIZE) as usize, byte);
                Ok(())
            }
            other => Err(other),
        }
    }

    /// The bytes `[addr, addr + len)` of `map`, which the caller checked are mapped.
    fn bytes_of(&self, map: usize, addr: u64, len: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(len as usize);
        for (a, n) in page_chunks(addr, len) {
            let offset = (a % PAGE_SIZE) as usize;
            match &self.cells[self.maps[map][&(a / PAGE_SIZE)].cell] {
                Some(page) => out.extend_from_slice(&page[offset..offset + n]),
                None => out.resize(out.len() + n, 0),
            }
        }
        out
    }

    fn put_bytes(&mut self, map: usize, addr: u64, data: &[u8]) {
        let mut done = 0;
        for (a, n) in page_chunks(addr, data.len() as u64) {
            let (cell, offset) = (self.maps[map][&(a / PAGE_SIZE)].cell, (a % PAGE_SIZE) as usize);
            let page = self.cells[cell].get_or_insert_with(|| Box::new([0; PAGE]));
            page[offset..offset + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
    }

    /// `read_bytes` / `peek_bytes` of `len` bytes.
    pub fn read_bytes(&self, map: usize, addr: u64, len: u64) -> Result<Vec<u8>, VmError> {
        let (start, end) = byte_pages(addr, len).ok_or(VmError::InvalidAddress)?;
        if len == 0 {
            return Ok(Vec::new());
        }
        self.check_range(map, start, end, Prot::READ)?;
        Ok(self.bytes_of(map, addr, len))
    }

    /// `write_bytes`.
    pub fn write_bytes(&mut self, map: usize, addr: u64, data: &[u8]) -> Result<(), VmError> {
        let (start, end) = byte_pages(addr, data.len() as u64).ok_or(VmError::InvalidAddress)?;
        if data.is_empty() {
            return Ok(());
        }
        self.check_range(map, start, end, Prot::WRITE)?;
        self.put_bytes(map, addr, data);
        Ok(())
    }

    /// `fork`: adds the child's map (last) and returns its index.
    pub fn fork(&mut self, map: usize) -> usize {
        let parent: Vec<(Vpn, PageState)> = self.maps[map].iter().map(|(&v, s)| (v, s.clone())).collect();
        let mut child = BTreeMap::new();
        for (vpn, s) in parent {
            let cell = match s.inherit {
                Inherit::None => continue,
                Inherit::Share => s.cell,
                Inherit::Copy => self.copy_cell(s.cell),
            };
            child.insert(vpn, PageState { wired: 0, cell, ..s });
        }
        self.maps.push(child);
        self.maps.len() - 1
    }

    /// A map's exit.
    pub fn exit(&mut self, map: usize) {
        self.maps.remove(map);
    }
}
