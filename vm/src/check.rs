//! Invariant checks and frame accounting of the VM system.

use crate::map::VmMap;
use crate::object::ObjectId;
use crate::pmap::{FrameAllocator, PhysMemory, Pmap, Wiring};
use crate::system::{MapId, Machine, Vm};
use crate::{Prot, PAGE_SIZE};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

/// Where every frame the VM knows of is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameAccounts {
    /// Free in the allocator.
    pub free: u64,
    /// Held by objects (resident pages).
    pub resident: u64,
    /// Resident pages mapped wired.
    pub wired: u64,
    /// Page tables.
    pub page_tables: u64,
    /// The shared zero page (0 or 1).
    pub zero_page: u64,
}

impl FrameAccounts {
    /// Frames free, resident, in page tables or the zero page (wired pages are resident).
    pub fn total(&self) -> u64 {
        self.free + self.resident + self.page_tables + self.zero_page
    }
}

impl<M: Machine> Vm<M> {
    /// The frame accounts.
    pub fn frame_accounts(&self) -> FrameAccounts {
        let pmap = self.pmap.counts();
        FrameAccounts {
            free: self.frames.free_frames(),
            resident: self.resident.get(),
            wired: pmap.wired,
            page_tables: pmap.table_frames,
            zero_page: u64::from(self.zero_frame.is_some()),
        }
    }

    /// Verifies the invariants of every map and object (see `VmMap`, `MapEntry` and
    /// `VmObject`), and that the resident count matches the objects' pages.
    ///
    /// # Panics
    ///
    /// If one does not hold.
    pub fn check_invariants(&self) {
        let mut refs: BTreeMap<ObjectId, u32> = BTreeMap::new();
        for (_, map) in self.maps.iter() {
            self.check_map(map);
            for object in map.entries().filter_map(|e| e.object) {
                *refs.entry(object).or_default() += 1;
            }
        }
        let mut frames = BTreeSet::new();
        let mut resident = 0;
        for (id, object) in self.objects.iter() {
            let id = ObjectId(id);
            let children = self.objects.iter().filter(|(_, o)| o.shadow.is_some_and(|(b, _)| b == id));
            let mut listed = object.children.clone();
            let mut found: Vec<ObjectId> = children.map(|(c, _)| ObjectId(c)).collect();
            listed.sort();
            found.sort();
            assert_eq!(listed, found, "{id:?}: children list");
            let expected = refs.get(&id).copied().unwrap_or(0) + found.len() as u32 + self.external_refs(id);
            assert_eq!(object.refs, expected, "{id:?}: reference count");
            let pages = object.pages.lock();
            assert!(pages.keys().all(|&i| i < object.size), "{id:?}: page beyond its size");
            if object.device.is_some() {
                assert!(pages.is_empty() && object.shadow.is_none() && object.children.is_empty(), "{id:?}: device memory with pages or a chain");
            }
            for frame in pages.values() {
                assert!(frames.insert(*frame), "{frame:?} in two objects");
            }
            resident += pages.len() as u64;
        }
        assert_eq!(resident, self.resident.get(), "resident page count");
        for (_, named) in self.named.iter() {
            let object = self.object(named.object);
            assert!(named.offset + named.size <= object.size, "named entry beyond its object");
            assert!(!object.frozen || !named.protection.contains(Prot::WRITE), "a named entry writes a frozen object");
        }
        for (_, map) in self.maps.iter() {
            for e in map.entries().filter(|e| e.object.is_some_and(|o| self.object(o).frozen)) {
                assert!(e.needs_copy || !e.max_protection.contains(Prot::WRITE), "{e:?} writes a frozen object in place");
            }
        }
    }

    /// References held outside maps and shadows (named entries, copy objects).
    fn external_refs(&self, id: ObjectId) -> u32 {
        let named = self.named.iter().filter(|(_, n)| n.object == id).count();
        let copies: usize = self.copies.iter().map(|(_, c)| c.objects().filter(|&o| o == id).count()).sum();
        (named + copies) as u32
    }

    fn check_map(&self, map: &VmMap) {
        let mut expected_gaps = Vec::new();
        let mut at = map.min;
        let mut previous: Option<&crate::map::MapEntry> = None;
        for (&start, e) in &map.entries {
            assert_eq!(start, e.start, "entry keyed by its start");
            assert!(e.start < e.end && e.start % PAGE_SIZE == 0 && e.end % PAGE_SIZE == 0, "entry {e:?}");
            assert!(map.min <= e.start && e.end <= map.max, "entry outside the map");
            assert!(e.protection.difference(e.max_protection).is_empty(), "protection above maximum");
            assert!(!e.needs_copy || e.object.is_some(), "needs_copy without an object");
            if let Some(object) = e.object {
                assert!(e.offset + e.pages() <= self.object(object).size, "entry beyond its object");
            }
            if self.device_of(e).is_some() {
                let shared = !e.needs_copy && e.is_shared && e.inheritance != crate::Inherit::Copy;
                assert!(shared && !e.is_wired(), "device memory in a copy-on-write, copied or wired entry: {e:?}");
            }
            assert!(at <= e.start, "entries overlap");
            if at < e.start {
                expected_gaps.push((at, e.start));
            }
            if let Some(p) = previous {
                assert!(!p.can_merge(e), "unmerged neighbours at {:#x}", e.start);
            }
            at = e.end;
            previous = Some(e);
        }
        if at < map.max {
            expected_gaps.push((at, map.max));
        }
        map.gaps.check_invariants();
        assert_eq!(map.gaps.iter().collect::<Vec<_>>(), expected_gaps, "gap index");
        let mapped: u64 = map.entries.values().map(|e| e.end - e.start).sum();
        assert_eq!(map.mapped_bytes(), mapped, "mapped bytes");
    }

    /// Verifies that the pmap is a faithful cache of map `id`: every translation inside an
    /// entry maps the page a fault would find, with no more rights than the entry (and without
    /// write while the page is shared copy-on-write), wired exactly when the entry is, and the
    /// space holds no other translation. Costs what is resident, not the size of the map.
    ///
    /// # Panics
    ///
    /// If not.
    pub fn check_translations(&self, id: MapId) {
        let map = self.map(id);
        let (mut seen, mut wired) = (0, 0);
        for e in map.entries() {
            if let Some(device) = self.device_of(e) {
                seen += self.check_device_translations(map.space, e, device);
                continue;
            }
            for index in self.pages_with_data(e) {
                let addr = e.start + (index - e.offset) * PAGE_SIZE;
                let Some(t) = self.pmap.extract(map.space, addr).filter(|t| Some(t.frame) != self.zero_frame) else {
                    continue; // unmapped, or the zero page (checked below)
                };
                assert!(!e.protection.is_empty(), "{addr:#x} mapped in an entry with no access");
                let (_, frame, depth) = self.find_page(e.object.expect("has data"), index).expect("has data");
                assert_eq!(t.frame, frame, "{addr:#x} maps a stale frame");
                let allowed = Prot::READ | e.protection;
                assert!(t.prot.difference(allowed).is_empty(), "{addr:#x} mapped with more than its protection");
                if e.needs_copy || depth > 0 {
                    assert!(!t.prot.contains(Prot::WRITE), "{addr:#x} writable while shared copy-on-write");
                }
                assert_eq!(t.wiring == Wiring::Wired, e.is_wired(), "{addr:#x}: wiring");
                seen += 1;
                wired += u64::from(t.wiring == Wiring::Wired);
            }
        }
        if let Some(zero) = self.zero_frame {
            let all = crate::PageRange::new(crate::Page::containing(map.min), crate::Page::containing(map.max)).expect("ordered");
            for (page, t) in self.pmap.translations_in(map.space, all) {
                if t.frame != zero {
                    continue;
                }
                let addr = page.addr();
                let e = map.lookup(addr).unwrap_or_else(|| panic!("{addr:#x}: zero page outside any entry"));
                // A page may appear under a zero-page translation only by a zero fill (a frozen
                // object's shared mapping faulted or wired): what the task sees is unchanged.
                if let Some((_, frame, _)) = e.object.and_then(|o| self.find_page(o, e.object_index(addr))) {
                    let mut bytes = [0u8; PAGE_SIZE as usize];
                    self.phys.read(frame, 0, &mut bytes);
                    assert!(bytes.iter().all(|&b| b == 0), "{addr:#x}: zero page over data");
                }
                assert!(!t.prot.contains(Prot::WRITE) && t.wiring == Wiring::Pageable, "{addr:#x}: zero page writable or wired");
                assert!(!e.protection.is_empty(), "{addr:#x}: zero page in an entry with no access");
                seen += 1;
            }
        }
        let counts = self.pmap.space_counts(map.space);
        assert_eq!(counts.resident, seen, "translations outside the pages of the map's entries");
        assert_eq!(counts.wired, wired, "wired translations");
    }

    /// Checks the translations of device entry `e`: each maps its page's device frame, with
    /// the device's caching and no more than the entry's protection. Returns their number.
    fn check_device_translations(&self, space: crate::pmap::SpaceId, e: &crate::map::MapEntry, device: crate::ops::device::Device) -> u64 {
        let range = crate::PageRange::new(crate::Page::containing(e.start), crate::Page::containing(e.end)).expect("ordered");
        let translations = self.pmap.translations_in(space, range);
        for (page, t) in &translations {
            let addr = page.addr();
            let frame = crate::Frame::containing(device.base.addr() + e.object_index(addr) * PAGE_SIZE);
            assert_eq!((t.frame, t.cache), (frame, device.cache), "{addr:#x}: not its device frame");
            assert!(t.prot.difference(Prot::READ | e.protection).is_empty(), "{addr:#x} mapped with more than its protection");
            assert_eq!(t.wiring, Wiring::Pageable, "{addr:#x}: device memory is never wired");
        }
        translations.len() as u64
    }

    /// Object page indices (in the entry's object) of `entry`'s window that hold data in its
    /// object or an object below it, in order.
    pub(crate) fn pages_with_data(&self, entry: &crate::map::MapEntry) -> BTreeSet<u64> {
        match entry.object {
            Some(top) => self.window_pages_with_data(top, entry.offset, entry.pages()),
            None => BTreeSet::new(),
        }
    }

    /// Page indices (in `top`) of `[first, first + pages)` that hold data in `top` or an object
    /// below it, in order. Costs the resident pages of the window, not its size.
    pub(crate) fn window_pages_with_data(&self, top: ObjectId, first: u64, pages: u64) -> BTreeSet<u64> {
        let mut found = BTreeSet::new();
        let (mut object, mut shift) = (Some(top), 0u64);
        while let Some(id) = object {
            let o = self.object(id);
            let from = first + shift;
            for (&index, _) in o.pages.lock().range(from..from.saturating_add(pages)) {
                found.insert(index - shift);
            }
            object = o.shadow.map(|(backing, offset)| {
                shift += offset;
                backing
            });
        }
        found
    }
}
