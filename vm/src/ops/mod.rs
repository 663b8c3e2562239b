//! The map operations, one per file. Each checks everything first and changes nothing on
//! error; then clips the entries at the range boundaries, applies the change, and simplifies
//! the map around the range.

mod allocate;
pub(crate) mod device;
mod attributes;
mod bytes;
mod fork;
mod frames;
mod named;
mod populate;
mod protect;
mod region;
mod remove;
mod wire;

pub use allocate::NewMemory;
pub use named::{MapMode, NamedEntry, NamedId};
pub use region::RegionInfo;

use crate::system::{MapId, Machine, Vm};

impl<M: Machine> Vm<M> {
    /// Splits entries so that entries start at `start` and at `end`.
    pub(crate) fn clip(&mut self, map: MapId, start: u64, end: u64) {
        for addr in [start, end] {
            if let Some(object) = self.map_mut(map).clip_at(addr) {
                self.reference(object);
            }
        }
    }

    /// Merges mergeable neighbours from the entry before `start` to the entry at `end`: one
    /// descent to the entry at `end`, then a walk backwards to the first entry that starts
    /// below `start` (usually no pair merges, and nothing more is done).
    pub(crate) fn simplify(&mut self, map: MapId, start: u64, end: u64) {
        let mut boundaries = alloc::vec::Vec::new();
        let mut after: Option<&crate::map::MapEntry> = None;
        for (_, entry) in self.map(map).entries.range(..=end).rev() {
            if let Some(next) = after.filter(|next| entry.can_merge(next)) {
                boundaries.push(next.start);
            }
            if entry.start < start {
                break;
            }
            after = Some(entry);
        }
        self.merge_at_boundaries(map, boundaries);
    }

    /// Merges every pair of neighbours of `map` that can merge, in one pass.
    pub(crate) fn merge_neighbours(&mut self, map: MapId) {
        let mut boundaries = alloc::vec::Vec::new();
        let mut previous: Option<&crate::map::MapEntry> = None;
        for entry in self.map(map).entries.values() {
            if previous.is_some_and(|p| p.can_merge(entry)) {
                boundaries.push(entry.start);
            }
            previous = Some(entry);
        }
        self.merge_at_boundaries(map, boundaries);
    }

    /// Merges the entries meeting at each of `boundaries` (in any order); each merge drops
    /// one reference to the object the two halves shared.
    fn merge_at_boundaries(&mut self, map: MapId, boundaries: alloc::vec::Vec<u64>) {
        for boundary in boundaries {
            if let Some(Some(object)) = self.map_mut(map).merge_at(boundary) {
                self.object_mut(object).refs -= 1;
            }
        }
        self.map_mut(map).touch();
    }

    /// Whether `[start, end)` lies inside the map's bounds.
    pub(crate) fn in_bounds(&self, map: MapId, start: u64, end: u64) -> bool {
        let m = self.map(map);
        m.min <= start && start < end && end <= m.max
    }
}
