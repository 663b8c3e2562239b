//! The map: entries ordered by address, the index of free gaps, bounds and version.

use super::entry::MapEntry;
use super::gaps::GapTree;
use crate::addr::PAGE_SIZE;
use crate::object::ObjectId;
use crate::pmap::SpaceId;
use alloc::collections::BTreeMap;

/// A task's address space (seed 000's `vm_map`).
///
/// Invariants (checked by `Vm::check_invariants`):
/// - entries are disjoint, lie inside `[min, max)`, and are keyed by their start;
/// - `gaps` holds exactly the maximal free ranges of `[min, max)` between entries;
/// - no two adjacent entries could be merged (the map is simplified after every change);
/// - `version` grows with every change, so code that dropped the VM lock can tell whether
///   the map changed meanwhile.
#[derive(Debug)]
pub struct VmMap {
    pub(crate) entries: BTreeMap<u64, MapEntry>,
    pub(crate) gaps: GapTree,
    /// Lowest address of the map.
    pub(crate) min: u64,
    /// First address past the map.
    pub(crate) max: u64,
    /// The pmap address space translating this map.
    pub(crate) space: SpaceId,
    pub(crate) version: u64,
    /// Bytes covered by entries: the map's span less its free gaps (kept by `take_gap` and
    /// `free_gap`, through which every entry enters and leaves free space).
    pub(crate) mapped: u64,
}

impl VmMap {
    /// An empty map over `[min, max)` translated by `space`.
    pub fn new(space: SpaceId, min: u64, max: u64) -> Self {
        let mut gaps = GapTree::new();
        gaps.insert(min, max);
        Self { entries: BTreeMap::new(), gaps, min, max, space, version: 0, mapped: 0 }
    }

    /// Number of entries, in O(1).
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// Bytes covered by entries (the map's virtual size), in O(1).
    pub fn mapped_bytes(&self) -> u64 {
        self.mapped
    }

    /// Lowest address of the map (`map min`).
    pub fn min(&self) -> u64 {
        self.min
    }

    /// First address past the map (`map max`).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The pmap address space of the map.
    pub fn space(&self) -> SpaceId {
        self.space
    }

    /// The map's version: it changes whenever the map does.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Entries in address order.
    pub fn entries(&self) -> impl Iterator<Item = &MapEntry> {
        self.entries.values()
    }

    /// Marks a change.
    pub(crate) fn touch(&mut self) {
        self.version += 1;
    }

    /// The entry containing `addr` (O(log n)).
    pub fn lookup(&self, addr: u64) -> Option<&MapEntry> {
        self.entries.range(..=addr).next_back().map(|(_, e)| e).filter(|e| addr < e.end)
    }

    pub(crate) fn lookup_mut(&mut self, addr: u64) -> Option<&mut MapEntry> {
        self.entries.range_mut(..=addr).next_back().map(|(_, e)| e).filter(|e| addr < e.end)
    }

    /// The first entry ending above `addr` (containing it or after it).
    pub fn lookup_at_or_after(&self, addr: u64) -> Option<&MapEntry> {
        self.lookup(addr).or_else(|| self.entries.range(addr..).next().map(|(_, e)| e))
    }

    /// Starts of the entries overlapping `[start, end)`, in order.
    pub(crate) fn starts_in(&self, start: u64, end: u64) -> alloc::vec::Vec<u64> {
        self.overlapping(start, end).map(|e| e.start).collect()
    }

    /// The entries overlapping `[start, end)`, in order (without allocating).
    pub(crate) fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &MapEntry> {
        let first = self.lookup(start).map_or(start, |e| e.start);
        self.entries.range(first..end).map(|(_, e)| e)
    }

    /// The entry starting at or after `at` and before `end`, mutably: a cursor for changing
    /// the entries of a clipped range one by one without allocating. At the range's end it
    /// answers without searching the tree.
    pub(crate) fn next_mut(&mut self, at: u64, end: u64) -> Option<&mut MapEntry> {
        if at >= end {
            return None;
        }
        self.entries.range_mut(at..end).next().map(|(_, e)| e)
    }

    /// Whether every page of `[start, end)` is mapped.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.lookup(at) {
                Some(entry) => at = entry.end,
                None => return false,
            }
        }
        true
    }

    /// Splits the entry containing `addr` so that an entry starts at `addr`. Returns the
    /// object that gained a reference (the new entry's), if any.
    pub(crate) fn clip_at(&mut self, addr: u64) -> Option<ObjectId> {
        let entry = self.lookup_mut(addr).filter(|e| e.start != addr)?;
        let tail = entry.split_at(addr);
        let object = tail.object;
        self.entries.insert(addr, tail);
        object
    }

    /// Merges the entry ending at `addr` with the one starting there, if they can merge.
    /// Returns the object whose reference the merge dropped, if any: `Some(None)` for a merge
    /// of entries without object.
    pub(crate) fn merge_at(&mut self, addr: u64) -> Option<Option<ObjectId>> {
        let next = self.entries.get(&addr)?;
        let prev = self.entries.range(..addr).next_back().map(|(_, e)| e)?;
        if !prev.can_merge(next) {
            return None;
        }
        let next = self.entries.remove(&addr).expect("present");
        let prev = self.lookup_mut(addr - PAGE_SIZE).expect("present");
        prev.end = next.end;
        Some(next.object)
    }

    /// Takes `[start, end)`, which must lie inside one gap, out of the free gaps.
    pub(crate) fn take_gap(&mut self, start: u64, end: u64) {
        let (gap_start, gap_end) = self.gaps.containing(start).expect("the range is free");
        assert!(end <= gap_end, "the range lies inside one gap");
        match (gap_start < start, end < gap_end) {
            (false, false) => {
                self.gaps.remove(gap_start);
            }
            (false, true) => self.gaps.resize_within(gap_start, end, gap_end),
            (true, false) => self.gaps.resize_within(gap_start, gap_start, start),
            (true, true) => {
                self.gaps.resize_within(gap_start, gap_start, start);
                self.gaps.insert(end, gap_end);
            }
        }
        self.mapped += end - start;
    }

    /// Returns `[start, end)` (no longer covered by any entry) to the free gaps, merging with
    /// the gaps around it.
    pub(crate) fn free_gap(&mut self, start: u64, end: u64) {
        self.mapped -= end - start;
        let before = (start > self.min).then(|| self.gaps.containing(start - 1)).flatten();
        let after = self.gaps.containing(end).map(|(_, after_end)| after_end);
        match (before, after) {
            (None, None) => self.gaps.insert(start, end),
            (None, Some(after_end)) => self.gaps.resize_within(end, start, after_end),
            (Some((before_start, _)), None) => self.gaps.resize_within(before_start, before_start, end),
            (Some((before_start, _)), Some(after_end)) => {
                self.gaps.remove(end);
                self.gaps.resize_within(before_start, before_start, after_end);
            }
        }
    }

    /// Whether `[start, end)` is inside the map and entirely free.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        self.gaps.containing(start).is_some_and(|(_, gap_end)| end <= gap_end)
    }
}
