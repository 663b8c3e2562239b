//! A buddy allocator of page ranges: a region of `2^max_order` pages is cut into blocks of
//! `2^order` pages, each aligned to its size; a free block whose buddy (the other half of
//! their parent) is free too merges with it.
//!
//! The free blocks of each order are the set bits of one [`BitTree`], so that taking the
//! lowest free block of an order is O(log₆₄ n) and the allocator never writes into the memory
//! it manages (which may be unmapped while free). Its metadata is fixed: about two bits per
//! page ([`Buddy::words_needed`]), allocated once by the caller.
//!
//! Invariants (checked by [`Buddy::check`]):
//! - free blocks never overlap, at the same order or across orders;
//! - no two free buddies: a free block's buddy is not free at the same order (they would
//!   have merged);
//! - `free_pages` is the sum of the free blocks' sizes.
//!
//! Allocation takes the lowest free block of the smallest order that holds the request, so
//! the region fills from its start. Freeing needs the block's order, which the caller knows
//! (the kernel derives it from the block's layout); freeing a block that is not allocated is
//! a caller bug the allocator does not detect in release builds.

use crate::bittree::{BitTree, TreeShape};

/// Largest region: `2^MAX_ORDER` pages.
pub const MAX_ORDER: u32 = 26;

/// The allocator, over words the caller owns.
pub struct Buddy<'a> {
    words: &'a mut [u64],
    /// Shape and first word of each order's tree.
    trees: [(TreeShape, usize); MAX_ORDER as usize + 1],
    max_order: u32,
    free_pages: u64,
}

impl<'a> Buddy<'a> {
    fn layout(max_order: u32) -> ([(TreeShape, usize); MAX_ORDER as usize + 1], usize) {
        assert!(max_order <= MAX_ORDER, "region larger than 2^{MAX_ORDER} pages");
        let mut trees = [(TreeShape::new(1), 0); MAX_ORDER as usize + 1];
        let mut words = 0;
        for order in 0..=max_order {
            let shape = TreeShape::new(1 << (max_order - order));
            trees[order as usize] = (shape, words);
            words += shape.words();
        }
        (trees, words)
    }

    /// Words of metadata for a region of `2^max_order` pages.
    pub fn words_needed(max_order: u32) -> usize {
        Self::layout(max_order).1
    }

    /// The smallest order whose blocks hold `pages` pages (at least 1).
    pub fn order_for(pages: u64) -> u32 {
        pages.max(1).next_power_of_two().trailing_zeros()
    }

    /// An allocator of a region of `2^max_order` pages, all free, keeping its metadata in
    /// `words` (which it clears).
    ///
    /// # Panics
    ///
    /// If `max_order` passes [`MAX_ORDER`] or `words` is shorter than
    /// [`words_needed`](Self::words_needed).
    pub fn new(words: &'a mut [u64], max_order: u32) -> Self {
        let (trees, needed) = Self::layout(max_order);
        assert!(words.len() >= needed, "buddy metadata too small");
        words[..needed].fill(0);
        let mut buddy = Self { words, trees, max_order, free_pages: 0 };
        buddy.tree(max_order).set(0);
        buddy.free_pages = 1 << max_order;
        buddy
    }

    fn tree(&mut self, order: u32) -> BitTree<'_> {
        let (shape, start) = self.trees[order as usize];
        BitTree::new(shape, &mut self.words[start..start + shape.words()])
    }

    fn is_free(&mut self, order: u32, block: u64) -> bool {
        self.tree(order).get(block)
    }

    /// Pages in the region.
    pub fn pages(&self) -> u64 {
        1 << self.max_order
    }

    /// Pages in free blocks.
    pub fn free_pages(&self) -> u64 {
        self.free_pages
    }

    /// Takes a block of `2^order` pages; returns its first page, or `None` if no free block
    /// is that large.
    pub fn allocate(&mut self, order: u32) -> Option<u64> {
        let (found, mut block) = (order..=self.max_order).find_map(|k| Some((k, self.tree(k).first()?)))?;
        self.tree(found).clear(block);
        // Split down to the order asked for, freeing the upper half at each step.
        for k in (order..found).rev() {
            block *= 2;
            self.tree(k).set(block + 1);
        }
        self.free_pages -= 1 << order;
        Some(block << order)
    }

    /// Returns the block of `2^order` pages starting at `page` (from
    /// [`allocate`](Self::allocate) with that order), merging it with free buddies.
    pub fn free(&mut self, page: u64, order: u32) {
        debug_assert!(order <= self.max_order && page % (1 << order) == 0 && page < self.pages());
        let (mut block, mut k) = (page >> order, order);
        debug_assert!(!self.is_free(k, block), "block freed twice");
        while k < self.max_order && self.is_free(k, block ^ 1) {
            self.tree(k).clear(block ^ 1);
            block /= 2;
            k += 1;
        }
        self.tree(k).set(block);
        self.free_pages += 1 << order;
    }

    /// Verifies the invariants in the module documentation; O(pages).
    ///
    /// # Panics
    ///
    /// If one does not hold.
    pub fn check(&mut self) {
        let mut covered = 0u64;
        for k in 0..=self.max_order {
            let blocks = 1u64 << (self.max_order - k);
            self.tree(k).check();
            for block in 0..blocks {
                if !self.is_free(k, block) {
                    continue;
                }
                covered += 1 << k;
                assert!(k == self.max_order || !self.is_free(k, block ^ 1), "free buddies at order {k}");
                for up in k + 1..=self.max_order {
                    assert!(!self.is_free(up, block >> (up - k)), "overlapping free blocks");
                }
            }
        }
        assert_eq!(covered, self.free_pages, "free page count");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn orders() {
        assert_eq!(Buddy::order_for(0), 0);
        assert_eq!(Buddy::order_for(1), 0);
        assert_eq!(Buddy::order_for(2), 1);
        assert_eq!(Buddy::order_for(3), 2);
        assert_eq!(Buddy::order_for(4096), 12);
        assert_eq!(Buddy::order_for(4097), 13);
    }

    #[test]
    fn fills_from_the_start_and_merges_back() {
        let mut words = vec![0; Buddy::words_needed(4)];
        let mut b = Buddy::new(&mut words, 4);
        assert_eq!(b.allocate(0), Some(0));
        assert_eq!(b.allocate(1), Some(2));
        assert_eq!(b.allocate(0), Some(1));
        assert_eq!(b.allocate(3), Some(8));
        assert_eq!(b.allocate(3), None);
        assert_eq!(b.free_pages(), 4);
        b.check();
        b.free(0, 0);
        b.free(2, 1);
        b.free(1, 0);
        b.free(8, 3);
        b.check();
        assert_eq!(b.free_pages(), 16);
        assert_eq!(b.allocate(4), Some(0), "everything merged into one block");
    }

    #[test]
    fn metadata_is_about_two_bits_a_page() {
        let words = Buddy::words_needed(20);
        assert!(words * 64 < (2 << 20) + (2 << 20) / 32, "{words} words");
    }

    proptest! {
        #[test]
        fn blocks_are_disjoint_aligned_and_all_come_back(orders in proptest::collection::vec((0u32..6, any::<bool>()), 1..300)) {
            let mut words = vec![0; Buddy::words_needed(10)];
            let mut b = Buddy::new(&mut words, 10);
            let mut live: Vec<(u64, u32)> = Vec::new();
            for (order, free_one) in orders {
                if free_one && !live.is_empty() {
                    let (page, order) = live.swap_remove(order as usize % live.len());
                    b.free(page, order);
                } else if let Some(page) = b.allocate(order) {
                    prop_assert_eq!(page % (1 << order), 0);
                    for &(p, o) in &live {
                        prop_assert!(page + (1 << order) <= p || p + (1 << o) <= page, "overlap");
                    }
                    live.push((page, order));
                }
                let used: u64 = live.iter().map(|&(_, o)| 1u64 << o).sum();
                prop_assert_eq!(b.free_pages(), 1024 - used);
            }
            b.check();
            for (page, order) in live.drain(..) {
                b.free(page, order);
            }
            b.check();
            prop_assert_eq!(b.allocate(10), Some(0));
        }
    }
}
