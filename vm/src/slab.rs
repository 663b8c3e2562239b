//! A slab of values addressed by small integer ids, reused after removal.
//!
//! Capacity grown at a peak is given back: free slots at the top are dropped as they appear,
//! and storage (slots and the free list) shrinks once it is less than a quarter used. Ids are
//! reused last-freed first, from a plain stack: no allocation on the hot path, amortised O(1).

use alloc::vec::Vec;

/// Below this many slots the storage is never shrunk.
const MIN_CAPACITY: usize = 16;

/// Values indexed by `u32` ids.
///
/// Invariants: the last slot, if any, is `Some` (free slots at the top are dropped); every
/// `None` slot's index is in `free`, which may also hold *stale* ids (of slots dropped from
/// the top, or live again), skipped when popped and purged when they outnumber the slots;
/// `live` counts the `Some` slots.
#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
    live: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self { slots: Vec::new(), free: Vec::new(), live: 0 }
    }
}

impl<T> Slab<T> {
    /// Stores `value` and returns its id.
    pub fn insert(&mut self, value: T) -> u32 {
        self.live += 1;
        while let Some(id) = self.free.pop() {
            if let Some(slot @ None) = self.slots.get_mut(id as usize) {
                *slot = Some(value);
                return id;
            }
        }
        self.slots.push(Some(value));
        (self.slots.len() - 1) as u32
    }

    /// Takes the value out; `None` if the id is not live.
    pub fn remove(&mut self, id: u32) -> Option<T> {
        let value = self.slots.get_mut(id as usize)?.take()?;
        self.live -= 1;
        self.free.push(id);
        self.trim();
        Some(value)
    }

    /// Drops the free slots at the top, purges stale ids once they outnumber the slots, and
    /// gives back storage left mostly unused.
    fn trim(&mut self) {
        while let Some(None) = self.slots.last() {
            self.slots.pop();
        }
        if self.free.len() > 2 * self.slots.len() + MIN_CAPACITY {
            let slots = &self.slots;
            self.free.retain(|&id| matches!(slots.get(id as usize), Some(None)));
            self.free.sort_unstable();
            self.free.dedup();
        }
        shrink(&mut self.slots);
        shrink(&mut self.free);
    }

    /// Slots allocated (live or free), for tests of the give-back.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.slots.capacity() + self.free.capacity()
    }

    /// The value with this id.
    pub fn get(&self, id: u32) -> Option<&T> {
        self.slots.get(id as usize)?.as_ref()
    }

    /// The value with this id, mutably.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.slots.get_mut(id as usize)?.as_mut()
    }

    /// Number of live values.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Live values with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, v)| v.as_ref().map(|v| (i as u32, v)))
    }
}

/// Gives back most of `v`'s storage once it is less than a quarter used.
fn shrink<E>(v: &mut Vec<E>) {
    if v.capacity() > MIN_CAPACITY && v.len() < v.capacity() / 4 {
        v.shrink_to((v.len() * 2).max(MIN_CAPACITY));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_grown_at_a_peak_is_given_back() {
        let mut slab = Slab::default();
        let ids: Vec<u32> = (0..10_000).map(|i| slab.insert(i)).collect();
        assert!(slab.capacity() >= 10_000);
        for id in ids {
            assert!(slab.remove(id).is_some());
        }
        assert_eq!(slab.len(), 0);
        assert!(slab.capacity() <= 2 * MIN_CAPACITY, "capacity {}", slab.capacity());
    }

    #[test]
    fn freed_ids_are_reused_and_the_top_is_dropped() {
        let mut slab = Slab::default();
        for i in 0..8 {
            assert_eq!(slab.insert(i), i);
        }
        slab.remove(2);
        slab.remove(5);
        assert_eq!(slab.insert(10), 5, "the last freed first");
        slab.remove(7);
        slab.remove(6);
        assert_eq!(slab.slots.len(), 6, "free slots at the top are dropped");
        assert_eq!(slab.insert(11), 2);
        assert_eq!(slab.insert(12), 6, "stale ids are skipped");
        assert_eq!((slab.get(2), slab.get(5), slab.get(6)), (Some(&11), Some(&10), Some(&12)));
        assert_eq!(slab.remove(9), None);
        assert_eq!(slab.len(), 7);
    }

    #[test]
    fn stale_ids_never_outgrow_the_slots() {
        let mut slab = Slab::default();
        for round in 0..50u32 {
            let ids: Vec<u32> = (0..1000).map(|i| slab.insert(round * 1000 + i)).collect();
            for &id in ids.iter().rev().skip(1) {
                slab.remove(id);
            }
            slab.remove(ids[ids.len() - 1]);
            assert_eq!(slab.len(), 0);
            assert!(slab.free.len() <= 2 * slab.slots.len() + MIN_CAPACITY + 1);
        }
        assert!(slab.capacity() <= 4 * MIN_CAPACITY, "capacity {}", slab.capacity());
    }
}
