//! A slab of values addressed by generational keys: a slot index, reused after removal, and
//! the generation the value got when it went in.
//!
//! Capacity grown at a peak is given back: free slots at the top are dropped as they appear,
//! and storage (slots and the free list) shrinks once it is less than a quarter used. Slots are
//! reused last-freed first, from a plain stack: no allocation on the hot path, amortised O(1).
//!
//! A key names one value only: generations come from one counter per slab, so a slot that is
//! reused (or dropped from the top and made again) holds a value of another generation, and
//! the old key finds nothing. (The counter is 32 bits: a stale key could name a new value only
//! if the same slot were filled again exactly 2^32 insertions later.)

use alloc::vec::Vec;

/// Below this many slots the storage is never shrunk.
const MIN_CAPACITY: usize = 16;

/// Names one value of a [`Slab`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    index: u32,
    generation: u32,
}

/// A slot: the generation of its value, and the value.
type Slot<T> = Option<(u32, T)>;

/// Values named by generational [`Key`]s.
///
/// Invariants: the last slot, if any, is `Some` (free slots at the top are dropped); every
/// `None` slot's index is in `free`, which may also hold *stale* indices (of slots dropped
/// from the top, or live again), skipped when popped and purged when they outnumber the
/// slots; `live` counts the `Some` slots; no two live values have one generation.
#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
    /// The generation the next value gets.
    generation: u32,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self { slots: Vec::new(), free: Vec::new(), live: 0, generation: 0 }
    }
}

impl<T> Slab<T> {
    /// Stores `value` and returns its key.
    pub fn insert(&mut self, value: T) -> Key {
        self.live += 1;
        let generation = self.generation;
        self.generation = self.generation.wrapping_add(1);
        while let Some(index) = self.free.pop() {
            if let Some(slot @ None) = self.slots.get_mut(index as usize) {
                *slot = Some((generation, value));
                return Key { index, generation };
            }
        }
        self.slots.push(Some((generation, value)));
        Key { index: (self.slots.len() - 1) as u32, generation }
    }

    /// Takes the value out; `None` if the key names no live value.
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.as_ref()?.0 != key.generation {
            return None;
        }
        let (_, value) = slot.take()?;
        self.live -= 1;
        self.free.push(key.index);
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

    /// The value with this key.
    pub fn get(&self, key: Key) -> Option<&T> {
        match self.slots.get(key.index as usize)? {
            Some((generation, value)) if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    /// The value with this key, mutably.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.slots.get_mut(key.index as usize)? {
            Some((generation, value)) if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    /// Number of live values.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Live values with their keys.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, slot)| {
            slot.as_ref().map(|(generation, value)| (Key { index: i as u32, generation: *generation }, value))
        })
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
        let keys: Vec<Key> = (0..10_000).map(|i| slab.insert(i)).collect();
        assert!(slab.capacity() >= 10_000);
        for key in keys {
            assert!(slab.remove(key).is_some());
        }
        assert_eq!(slab.len(), 0);
        assert!(slab.capacity() <= 2 * MIN_CAPACITY, "capacity {}", slab.capacity());
    }

    #[test]
    fn freed_slots_are_reused_and_the_top_is_dropped() {
        let mut slab = Slab::default();
        let keys: Vec<Key> = (0..8).map(|i| slab.insert(i)).collect();
        assert_eq!(keys.iter().map(|k| k.index).collect::<Vec<_>>(), (0..8).collect::<Vec<_>>());
        slab.remove(keys[2]);
        slab.remove(keys[5]);
        assert_eq!(slab.insert(10).index, 5, "the last freed first");
        slab.remove(keys[7]);
        slab.remove(keys[6]);
        assert_eq!(slab.slots.len(), 6, "free slots at the top are dropped");
        assert_eq!(slab.insert(11).index, 2);
        let twelve = slab.insert(12);
        assert_eq!(twelve.index, 6, "stale indices are skipped");
        assert_eq!(slab.get(twelve), Some(&12));
        assert_eq!(slab.len(), 7);
    }

    #[test]
    fn a_key_of_a_removed_value_names_nothing_even_when_its_slot_is_reused() {
        let mut slab = Slab::default();
        let old = slab.insert("old");
        assert_eq!(slab.remove(old), Some("old"));
        let new = slab.insert("new");
        assert_eq!(new.index, old.index, "the slot is reused");
        assert_eq!(slab.get(old), None);
        assert_eq!(slab.get_mut(old), None);
        assert_eq!(slab.remove(old), None);
        assert_eq!(slab.get(new), Some(&"new"));
        // A slot dropped from the top and made again is a new generation too.
        let top = slab.insert("top");
        slab.remove(top);
        let again = slab.insert("again");
        assert_eq!(again.index, top.index);
        assert_eq!(slab.get(top), None);
        assert_eq!(slab.iter().map(|(key, _)| key).collect::<Vec<_>>(), [new, again]);
    }

    #[test]
    fn stale_indices_never_outgrow_the_slots() {
        let mut slab = Slab::default();
        for round in 0..50u32 {
            let keys: Vec<Key> = (0..1000).map(|i| slab.insert(round * 1000 + i)).collect();
            for &key in keys.iter().rev().skip(1) {
                slab.remove(key);
            }
            slab.remove(keys[keys.len() - 1]);
            assert_eq!(slab.len(), 0);
            assert!(slab.free.len() <= 2 * slab.slots.len() + MIN_CAPACITY + 1);
        }
        assert!(slab.capacity() <= 4 * MIN_CAPACITY, "capacity {}", slab.capacity());
    }
}
