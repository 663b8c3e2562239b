//! `vm_protect`: changing the current or maximum protection.

use crate::object::ObjectId;
use crate::pmap::{Pmap, SpaceId, TlbFlush};
use crate::system::{MapId, Machine, Vm};
use crate::types::ProtectTarget;
use crate::{Page, PageRange, Prot, VmError, PAGE_SIZE};

impl<M: Machine> Vm<M> {
    /// Sets the current or maximum protection of `[start, end)`.
    ///
    /// # Errors
    ///
    /// - [`VmError::InvalidAddress`]: a page of the range is not mapped;
    /// - [`VmError::ProtectionFailure`]: `prot` exceeds some entry's maximum (for the current
    ///   protection), or would raise some entry's maximum.
    ///
    /// Nothing changes on error.
    #[doc(alias = "vm_protect")]
    pub fn protect(&mut self, map: MapId, start: Page, end: Page, target: ProtectTarget, prot: Prot) -> Result<(), VmError> {
        self.live(map)?;
        let (start, end) = (start.addr(), end.addr());
        let m = self.map(map);
        let unchanged = |e: &crate::map::MapEntry| match target {
            ProtectTarget::Current => e.protection == prot,
            ProtectTarget::Maximum => e.max_protection == prot,
        };
        // The common case, a range inside one entry, is checked with one lookup.
        let within = m.lookup(start).filter(|e| end <= e.end);
        let exact = within.is_some_and(|e| e.start == start && e.end == end);
        match within {
            Some(e) if !prot.difference(e.max_protection).is_empty() => return Err(VmError::ProtectionFailure),
            Some(e) if unchanged(e) => return Ok(()),
            Some(_) => {}
            None => {
                if !m.covers(start, end) {
                    return Err(VmError::InvalidAddress);
                }
                if m.overlapping(start, end).any(|e| !prot.difference(e.max_protection).is_empty()) {
                    return Err(VmError::ProtectionFailure);
                }
                if m.overlapping(start, end).all(unchanged) {
                    return Ok(());
                }
            }
        }
        if !exact {
            self.room_to_clip(map, start, end)?;
            self.clip(map, start, end);
        }
        let space = self.map(map).space;
        let mut flush = TlbFlush::new();
        let mut at = start;
        while let Some(entry) = self.map_mut(map).next_mut(at, end) {
            at = entry.end;
            let old = entry.protection;
            match target {
                ProtectTarget::Current => entry.protection = prot,
                ProtectTarget::Maximum => {
                    entry.max_protection = prot;
                    entry.protection &= prot;
                }
            }
            let new = entry.protection;
            let raised = !new.difference(old).is_empty();
            let window = (!entry.needs_copy).then_some(entry.object).flatten().map(|o| (o, entry.start, entry.offset));
            let range = PageRange::new(Page::containing(entry.start), Page::containing(entry.end)).expect("ordered");
            if !old.difference(new).is_empty() {
                flush.merge(self.pmap.protect(space, range, new));
            }
            if let Some(window) = window.filter(|_| raised) {
                self.raise_resident(space, range, new, window);
            }
        }
        self.apply(flush);
        self.simplify(map, start, end);
        Ok(())
    }
}

impl<M: Machine> Vm<M> {
    /// Raises to `prot` the translations of `range` that map the pages of the entry's own
    /// object, `(object, entry start, object offset)`: what a fault would map with `prot`,
    /// given that the entry is not copy-on-write (every entry of an object with shadow
    /// children is, so these pages belong to this entry's object alone to write). Pages of
    /// objects below, and the shared zero page, keep their rights and still fault. One walk of
    /// the range's page tables merged with one pass over the object's resident pages there:
    /// linear in the translations and pages of the range. An object with no backing object
    /// needs no pass: every translation of the range but the zero page's maps one of its
    /// pages.
    fn raise_resident(&mut self, space: SpaceId, range: PageRange, prot: Prot, (object, start, offset): (ObjectId, u64, u64)) {
        let Self { pmap, objects, zero_frame, .. } = self;
        let object = objects.get(object.0).expect("a live object");
        if object.shadow.is_none() {
            pmap.raise(space, range, prot, &mut |_, frame| Some(frame) != *zero_frame);
            return;
        }
        let pages = object.pages.lock();
        let mut resident = pages.range(offset..offset + range.len_pages()).peekable();
        pmap.raise(space, range, prot, &mut |page, frame| {
            let index = offset + (page.addr() - start) / PAGE_SIZE;
            while resident.next_if(|(&i, _)| i < index).is_some() {}
            resident.peek().is_some_and(|(&i, &f)| i == index && f == frame)
        });
    }
}
