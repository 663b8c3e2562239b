//! The map operations, one per file. Each checks everything first and changes nothing on
//! error; then clips the entries at the range boundaries, applies the change, and simplifies
//! the map around the range.

mod allocate;
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

    /// Merges mergeable neighbours from the entry before `start` to the entry at `end`.
    pub(crate) fn simplify(&mut self, map: MapId, start: u64, end: u64) {
        use core::ops::Bound::{Excluded, Included};
        let mut at = self.map(map).lookup(start.saturating_sub(1)).map_or(start, |e| e.start);
        loop {
            let next = self.map(map).entries.range((Excluded(at), Included(end))).next().map(|(&s, _)| s);
            let Some(boundary) = next else { break };
            match self.map_mut(map).merge_at(boundary) {
                // Both halves referred to the object; the merged entry keeps one reference.
                Some(Some(object)) => self.object_mut(object).refs -= 1,
                Some(None) => {}
                None => at = boundary,
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
