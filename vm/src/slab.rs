//! A slab of values addressed by small integer ids, reused after removal.
//!
//! Capacity grown at a peak is given back: the lowest free id is reused first, so live values
//! gather at the bottom; free slots at the top are dropped as they appear, and the storage
//! shrinks once it is less than a quarter used. Every operation is O(log n).

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// Below this many slots the storage is never shrunk.
const MIN_CAPACITY: usize = 16;

/// Values indexed by `u32` ids.
///
/// Invariants: `free` holds exactly the indices of the `None` slots; the last slot, if any,
/// is `Some` (free slots at the top are dropped).
#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<Option<T>>,
    free: BTreeSet<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self { slots: Vec::new(), free: BTreeSet::new() }
    }
}

impl<T> Slab<T> {
    /// Stores `value` and returns its id.
    pub fn insert(&mut self, value: T) -> u32 {
        match self.free.pop_first() {
            Some(id) => {
                self.slots[id as usize] = Some(value);
                id
            }
            None => {
                self.slots.push(Some(value));
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Takes the value out; `None` if the id is not live.
    pub fn remove(&mut self, id: u32) -> Option<T> {
        let value = self.slots.get_mut(id as usize)?.take()?;
        self.free.insert(id);
        self.trim();
        Some(value)
    }

    /// Drops the free slots at the top and gives back storage left mostly unused.
    fn trim(&mut self) {
        while let Some(None) = self.slots.last() {
            self.slots.pop();
            self.free.remove(&(self.slots.len() as u32));
        }
        if self.slots.capacity() > MIN_CAPACITY && self.slots.len() < self.slots.capacity() / 4 {
            self.slots.shrink_to((self.slots.len() * 2).max(MIN_CAPACITY));
        }
    }

    /// Slots allocated (live or free), for tests of the give-back.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
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
        self.slots.len() - self.free.len()
    }

    /// Live values with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, v)| v.as_ref().map(|v| (i as u32, v)))
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
        assert!(slab.capacity() <= MIN_CAPACITY, "capacity {}", slab.capacity());
    }

    #[test]
    fn the_lowest_free_id_is_reused_and_the_top_is_dropped() {
        let mut slab = Slab::default();
        for i in 0..8 {
            assert_eq!(slab.insert(i), i);
        }
        slab.remove(2);
        slab.remove(5);
        assert_eq!(slab.insert(10), 2);
        slab.remove(7);
        slab.remove(6);
        assert_eq!(slab.slots.len(), 5, "free slots at the top are dropped");
        assert_eq!(slab.free.iter().copied().collect::<Vec<_>>(), [], "5 was at the top once 6 and 7 went");
        assert_eq!(slab.insert(11), 5);
        assert_eq!(slab.get(2), Some(&10));
        assert_eq!(slab.remove(9), None);
    }
}
